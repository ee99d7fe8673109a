//! CEL: rule conditions (`rules::compile` then `evaluate`) and the generic
//! webhook's mappings (`compile_expression`, then `eval_string` over `body`).
//! Expressions come from the configuration; the values they read (events,
//! webhook bodies) from anyone who holds an integration key.

use crate::inputs::{self, config, timed};
use escalator_core::rules::{RuleSpec, Then, compile, compile_expression};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Conditions and mappings as people write them.
pub const SEEDS: &[&str] = &[
    r#"event.custom_details.category == "data_breach""#,
    r#"service.data_classification in ["pii", "regulated"] && event.severity == "critical" && service.tier <= 2"#,
    "event.custom_details.downtime_minutes >= 5 || event.custom_details.affected_users > 100 || event.custom_details.failure_rate > 0.05",
    "(event.custom_details.revenue_loss_per_hour ?? service.revenue_per_hour ?? 0) * 2 > 10000",
    r#"event.severity == "info" && (event.custom_details.users ?? 0) < 10"#,
    r#"has(event.labels.team) && event.labels.team.startsWith("pay") && size(event.summary) > 3"#,
    r#"event.labels.exists(k, k == "env" && event.labels[k] == "prod")"#,
    r#"now >= "2026-01-01T00:00:00Z" && event.summary.matches("(?i)disk|memory")"#,
    r#"[1, 2, 3].map(x, x * 2).filter(x, x > 2).size() == 2"#,
    r#"{"a": 1}["a"] == 1 ? true : false"#,
    "body.title",
    r#"body.state == "ok" ? "resolve" : "trigger""#,
    r#"body.level ?? "error""#,
    r#"string(body.id) + "-" + string(body.count ?? 0)"#,
    r#"body.alerts[0].labels.alertname"#,
];

/// The fields an event has, for generated events and paths.
const EVENT_KEYS: &[&str] = &[
    "summary",
    "source",
    "severity",
    "labels",
    "custom_details",
    "timestamp",
    "dedup_key",
    "team",
    "env",
    "category",
    "users",
    "tier",
    "a",
    "0",
];

/// One expression from a small CEL grammar: literals at the edges (integer
/// limits, huge doubles, escapes, bytes), paths into the variables, every
/// operator, macros, `??`, calls of the standard functions.
pub fn expression() -> impl Strategy<Value = String> {
    let literal = proptest::sample::select(vec![
        "0",
        "1",
        "-1",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "18446744073709551615u",
        "18446744073709551616u",
        "0x7fffffffffffffff",
        "0xffffffffffffffffu",
        "1e308",
        "1.7976931348623157e308",
        "-0.0",
        "5e-324",
        "1e999",
        "0.0 / 0.0",
        "1.0 / 0.0",
        r#""""#,
        r#""a\u0000b""#,
        r#""\U0010ffff""#,
        r#""\377\x00""#,
        r#""é日💩""#,
        r#"r"\d+""#,
        "'''x\ny'''",
        r#"b"\xff\x00""#,
        "true",
        "null",
        "[]",
        "{}",
        r#"duration("1h")"#,
        r#""(?i)a+""#,
        r#""((a+)+)+$""#,
        r#""[""#,
    ])
    .prop_map(str::to_owned);
    let path = (
        proptest::sample::select(vec!["event", "service", "now", "body", "x", "unknown"]),
        proptest::collection::vec(proptest::sample::select(EVENT_KEYS), 0..4),
        any::<bool>(),
    )
        .prop_map(|(root, keys, index)| {
            let mut s = root.to_owned();
            for k in keys {
                if index || k.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                    s.push_str(&format!("[{k:?}]"));
                } else {
                    s.push('.');
                    s.push_str(k);
                }
            }
            s
        });
    let leaf = prop_oneof![literal, path];
    leaf.prop_recursive(5, 48, 4, |inner| {
        let binary = proptest::sample::select(vec![
            "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "&&", "||", "in", "??",
        ]);
        let method = proptest::sample::select(vec![
            "contains",
            "startsWith",
            "endsWith",
            "matches",
            "size",
            "exists",
            "all",
            "exists_one",
            "map",
            "filter",
        ]);
        let function = proptest::sample::select(vec![
            "size",
            "int",
            "uint",
            "double",
            "string",
            "bytes",
            "bool",
            "type",
            "has",
            "dyn",
            "duration",
            "timestamp",
            "max",
            "min",
            "matches",
            "unknown_fn",
        ]);
        prop_oneof![
            (inner.clone(), binary, inner.clone()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("{c} ? {a} : {b}")),
            inner.clone().prop_map(|a| format!("({a})")),
            inner.clone().prop_map(|a| format!("!{a}")),
            inner.clone().prop_map(|a| format!("-{a}")),
            (inner.clone(), inner.clone()).prop_map(|(a, i)| format!("{a}[{i}]")),
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(", "))),
            proptest::collection::vec((inner.clone(), inner.clone()), 0..3).prop_map(|kv| {
                let kv: Vec<_> = kv.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", kv.join(", "))
            }),
            (inner.clone(), method, inner.clone()).prop_map(|(a, m, b)| {
                if ["exists", "all", "exists_one", "map", "filter"].contains(&m) {
                    format!("{a}.{m}(x, {b})")
                } else {
                    format!("{a}.{m}({b})")
                }
            }),
            (function, proptest::collection::vec(inner, 0..3))
                .prop_map(|(f, args)| format!("{f}({})", args.join(", "))),
        ]
    })
}

/// An event as the rules see it, with random fields.
fn event() -> impl Strategy<Value = Value> {
    inputs::json_with_keys(EVENT_KEYS).prop_map(|v| match v {
        Value::Object(_) => v,
        other => json!({"summary": "s", "severity": "critical", "custom_details": other, "labels": {"env": "prod"}}),
    })
}

fn service() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(
            json!({"id": "api", "name": "API", "tier": 1, "data_classification": "pii",
                     "customer_segment": "enterprise", "revenue_per_hour": 12000.5})
        ),
        inputs::json_with_keys(&["id", "tier", "data_classification", "revenue_per_hour"]),
    ]
}

/// Compiles `when` as a rule and, when it compiles, evaluates it. A rule
/// never fails an event: errors are recorded in the decision.
pub fn check_rule(when: &str, event: &Value, service: &Value) -> Result<(), TestCaseError> {
    let spec = RuleSpec {
        id: "fuzz".into(),
        exception: false,
        when: when.to_owned(),
        then: Then {
            suppress: true,
            ..Then::default()
        },
        owner: None,
        review_by: None,
    };
    let compiled = timed("rules::compile", || compile(std::slice::from_ref(&spec)));
    match compiled {
        Ok(rules) => {
            let now = jiff::Timestamp::from_second(1_700_000_000).unwrap();
            let d = timed("rules evaluate", || rules.evaluate(event, service, now));
            prop_assert!(d.matched.len() + d.errors.len() <= 1);
            prop_assert_eq!(d.suppressed, d.matched.len() == 1);
        }
        Err(errors) => {
            prop_assert!(!errors.is_empty());
            for e in &errors {
                prop_assert!(!e.message.is_empty());
                if let Some((line, column)) = e.position {
                    let lines: Vec<&str> = when.split('\n').collect();
                    prop_assert!(line >= 1 && line <= lines.len(), "{e:?} in {when:?}");
                    let width = lines[line - 1].chars().count();
                    prop_assert!(column >= 1 && column <= width + 1, "{e:?} in {when:?}");
                }
            }
        }
    }
    Ok(())
}

/// Compiles `expr` as a mapping over `body` and, when it compiles, reads a
/// string from `body`, as the generic webhook does.
pub fn check_mapping(expr: &str, body: &Value) -> Result<(), TestCaseError> {
    let Ok(compiled) = timed("compile_expression", || compile_expression(expr)) else {
        return Ok(());
    };
    if compiled.check_variables(&["body"]).is_err() {
        return Ok(());
    }
    let vars = [("body", body)];
    let _ = timed("eval_string", || compiled.eval_string(&vars));
    let _ = timed("eval_bool", || compiled.eval_bool(&vars));
    Ok(())
}

/// Expressions too long to write by hand: `n` repetitions of one shape.
#[derive(Clone, Copy, Debug)]
pub enum Long {
    /// `1 + 1 + … + 1`
    Sum,
    /// `a && a && …`
    And,
    /// `a ?? a ?? …`
    Coalesce,
    /// `event.a.a.a…`
    Path,
    /// `event["a"]["a"]…`
    Index,
    /// `((((1))))`
    Parens,
    /// `!!!!true`
    Not,
    /// `----1`
    Negate,
    /// `[[[[1]]]]`
    Lists,
    /// `c ? 1 : c ? 1 : …`
    Ternary,
    /// `"a" + "a" + …`, a long string built at run time
    Concat,
    /// `[1, 1, 1, …]`, flat
    WideList,
}

impl Long {
    pub const ALL: [Long; 12] = [
        Long::Sum,
        Long::And,
        Long::Coalesce,
        Long::Path,
        Long::Index,
        Long::Parens,
        Long::Not,
        Long::Negate,
        Long::Lists,
        Long::Ternary,
        Long::Concat,
        Long::WideList,
    ];

    pub fn text(self, n: usize) -> String {
        let n = n.max(1);
        match self {
            Long::Sum => format!("{} > 0", vec!["1"; n].join(" + ")),
            Long::And => vec!["event.a == 1"; n].join(" && "),
            Long::Coalesce => format!("({}) == 1", vec!["event.a"; n].join(" ?? ")),
            Long::Path => format!("event{} == 1", ".a".repeat(n)),
            Long::Index => format!("event{} == 1", "[\"a\"]".repeat(n)),
            Long::Parens => format!("{}1{} == 1", "(".repeat(n), ")".repeat(n)),
            Long::Not => format!("{}true", "!".repeat(n)),
            Long::Negate => format!("{}1 == 1", "-".repeat(n)),
            Long::Lists => format!("size({}1{}) == 1", "[".repeat(n), "]".repeat(n)),
            Long::Ternary => format!("{}true", "event.a == 1 ? true : ".repeat(n)),
            Long::Concat => format!("size({}) > 0", vec!["\"a\""; n].join(" + ")),
            Long::WideList => format!("size([{}]) > 0", vec!["1"; n].join(", ")),
        }
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn arbitrary_text_compiles_or_is_refused_with_a_position_inside_it(
        when in inputs::odd_string(),
        event in event(),
        service in service(),
    ) {
        check_rule(&when, &event, &service)?;
    }

    #[test]
    fn generated_conditions_compile_and_evaluate_without_failing_the_event(
        when in expression(),
        event in event(),
        service in service(),
    ) {
        check_rule(&when, &event, &service)?;
    }

    #[test]
    fn mutated_conditions_compile_or_are_refused(
        when in inputs::mutated_text(SEEDS),
        event in event(),
        service in service(),
    ) {
        check_rule(&when, &event, &service)?;
    }

    #[test]
    fn mappings_read_any_body(
        expr in prop_oneof![expression(), proptest::sample::select(SEEDS).prop_map(str::to_owned), inputs::mutated_text(SEEDS)],
        body in prop_oneof![inputs::json_with_keys(EVENT_KEYS), inputs::deeply_nested_text()
            .prop_map(|t| serde_json::from_str::<Value>(&t).unwrap_or(Value::Null))],
    ) {
        check_mapping(&expr.replace("event", "body"), &body)?;
    }

    #[test]
    fn long_expressions_are_refused_or_evaluated_never_overflow_the_stack(
        shape in proptest::sample::select(Long::ALL.to_vec()),
        n in 1usize..400,
    ) {
        // Known: deeper chains abort the process
        // (`regressions::cel_long_chains_are_refused_or_evaluated`).
        let n = if crate::regressions::KNOWN_DEEP_CEL_OVERFLOWS {
            n % crate::regressions::SAFE_CHAIN
        } else {
            n
        };
        let when = shape.text(n);
        check_rule(&when, &json!({"a": 1}), &json!({}))?;
    }
}
