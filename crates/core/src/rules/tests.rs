use super::*;
use crate::config::Target;
use crate::ids::TeamId;
use jiff::civil::date;
use proptest::prelude::*;
use serde_json::{Value, json};

/// The rules of the issue, in the shape the configuration stores them.
fn issue_rules() -> Vec<RuleSpec> {
    serde_json::from_value(json!([
        {
            "id": "breach-indicator",
            "exception": true,
            "when": r#"event.custom_details.category == "data_breach""#,
            "then": {"priority": "P1", "start_level": 3,
                     "notify": [{"team": "legal"}, {"team": "security"}]},
            "owner": "carol",
            "review_by": "2027-03-01"
        },
        {
            "id": "regulated-path",
            "exception": true,
            "when": r#"service.data_classification in ["pii", "regulated"] && event.severity == "critical""#,
            "then": {"notify": [{"team": "compliance"}]}
        },
        {
            "id": "big-outage",
            "when": "event.custom_details.downtime_minutes >= 15 || event.custom_details.affected_users > 1000 || event.custom_details.failure_rate > 0.05",
            "then": {"priority": "P1", "start_level": 2}
        },
        {
            "id": "revenue-impact",
            "when": "service.revenue_per_hour * (event.custom_details.degraded_fraction ?? 0.0) > 10000",
            "then": {"priority": "P2"}
        },
        {
            "id": "noise",
            "when": r#"event.severity == "info""#,
            "then": {"suppress": true}
        }
    ]))
    .expect("the issue's rules deserialize")
}

fn payments_api() -> Value {
    json!({
        "id": "payments-api",
        "tier": 1,
        "data_classification": "pii",
        "customer_segment": "enterprise",
        "revenue_per_hour": 120000
    })
}

fn internal_tool() -> Value {
    json!({"id": "wiki", "tier": 3, "data_classification": "internal"})
}

fn event(severity: &str, custom_details: Value) -> Value {
    json!({
        "summary": "something happened",
        "source": "db1.example.com",
        "severity": severity,
        "labels": {"team": "payments", "env": "prod"},
        "custom_details": custom_details,
        "timestamp": "2026-03-01T12:00:00Z",
        "dedup_key": "k1"
    })
}

fn now() -> jiff::Timestamp {
    "2026-03-01T12:00:05Z".parse().expect("valid timestamp")
}

fn decide(event: &Value, service: &Value) -> Decision {
    let rules = compile(&issue_rules()).expect("the issue's rules compile");
    rules.evaluate(event, service, now())
}

fn matched(decision: &Decision) -> Vec<&str> {
    decision.matched.iter().map(|m| m.rule.as_str()).collect()
}

fn team(id: &str) -> Target {
    Target::team(TeamId::parse(id).expect("valid team id"))
}

fn rule(id: &str, when: &str, then: Value) -> RuleSpec {
    serde_json::from_value(json!({"id": id, "when": when, "then": then})).expect("valid rule")
}

fn only_error(rules: &[RuleSpec]) -> RuleError {
    let mut errors = compile(rules).expect_err("refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.remove(0)
}

// --- the issue's examples ---

#[test]
fn breach_indicator_pages_legal_and_security_at_p1_from_level_three() {
    let d = decide(
        &event("warning", json!({"category": "data_breach"})),
        &internal_tool(),
    );
    assert_eq!(matched(&d), ["breach-indicator"]);
    assert_eq!(d.priority, Some(Priority::P1));
    assert_eq!(d.start_level, Some(3));
    assert_eq!(d.notify, [team("legal"), team("security")]);
    assert!(!d.suppressed);
    assert!(d.errors.is_empty());
}

#[test]
fn breach_indicator_ignores_other_categories() {
    let d = decide(
        &event("warning", json!({"category": "disk"})),
        &internal_tool(),
    );
    assert!(d.matched.is_empty());
    assert_eq!(d, Decision::default());
}

#[test]
fn regulated_path_adds_compliance_for_critical_events_on_pii_services() {
    let d = decide(&event("critical", json!({})), &payments_api());
    assert_eq!(matched(&d), ["regulated-path"]);
    assert_eq!(d.notify, [team("compliance")]);
    assert_eq!(d.priority, None);
    assert!(d.matched[0].exception);
}

#[test]
fn regulated_path_ignores_warnings_and_internal_services() {
    assert!(
        decide(&event("warning", json!({})), &payments_api())
            .matched
            .is_empty()
    );
    assert!(
        decide(&event("critical", json!({})), &internal_tool())
            .matched
            .is_empty()
    );
}

#[test]
fn big_outage_matches_on_any_single_threshold() {
    for details in [
        json!({"downtime_minutes": 15}),
        json!({"affected_users": 1001}),
        json!({"failure_rate": 0.06}),
        json!({"downtime_minutes": 1, "affected_users": 5, "failure_rate": 0.051}),
    ] {
        let d = decide(&event("error", details.clone()), &internal_tool());
        assert_eq!(matched(&d), ["big-outage"], "{details}");
        assert_eq!((d.priority, d.start_level), (Some(Priority::P1), Some(2)));
        assert!(d.errors.is_empty(), "{details}: {:?}", d.errors);
    }
}

#[test]
fn big_outage_does_not_match_below_every_threshold() {
    let details = json!({"downtime_minutes": 14.5, "affected_users": 1000, "failure_rate": 0.05});
    let d = decide(&event("error", details), &internal_tool());
    assert!(d.matched.is_empty());
    assert!(d.errors.is_empty(), "{:?}", d.errors);
}

#[test]
fn revenue_impact_uses_the_degraded_fraction_when_present() {
    let d = decide(
        &event("error", json!({"degraded_fraction": 0.1})),
        &payments_api(),
    );
    assert_eq!(matched(&d), ["revenue-impact"]);
    assert_eq!(d.priority, Some(Priority::P2));
    let small = decide(
        &event("error", json!({"degraded_fraction": 0.05})),
        &payments_api(),
    );
    assert!(small.matched.is_empty());
}

#[test]
fn revenue_impact_defaults_a_missing_degraded_fraction_to_zero() {
    let d = decide(&event("error", json!({})), &payments_api());
    assert!(d.matched.is_empty());
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let when = compile_expression(
        "service.revenue_per_hour * (event.custom_details.degraded_fraction ?? 0.0)",
    )
    .expect("compiles");
    let service = payments_api();
    for (details, expected) in [
        (json!({}), "0"),
        (json!({"degraded_fraction": 0.5}), "60000"),
    ] {
        let e = event("error", details);
        let value = when.eval_string(&[("event", &e), ("service", &service)]);
        assert_eq!(value, Ok(Some(expected.to_owned())));
    }
}

#[test]
fn coalesce_treats_null_and_missing_parents_as_absent() {
    let when = compile_expression("event.custom_details.a.b ?? 7").expect("compiles");
    for e in [
        json!({}),
        json!({"custom_details": null}),
        json!({"custom_details": {"a": null}}),
        json!({"custom_details": {"a": {"b": null}}}),
        json!({"custom_details": "a string has no fields"}),
    ] {
        assert_eq!(
            when.eval_string(&[("event", &e)]),
            Ok(Some("7".into())),
            "{e}"
        );
    }
    let e = json!({"custom_details": {"a": {"b": 3}}});
    assert_eq!(when.eval_string(&[("event", &e)]), Ok(Some("3".into())));
}

#[test]
fn coalesce_chains_take_the_first_present_value() {
    let when = compile_expression(r#"event.a ?? event.labels["b"] ?? "none""#).expect("compiles");
    let e = json!({"labels": {"b": "from b"}});
    assert_eq!(
        when.eval_string(&[("event", &e)]),
        Ok(Some("from b".into()))
    );
    let e = json!({"a": "from a", "labels": {}});
    assert_eq!(
        when.eval_string(&[("event", &e)]),
        Ok(Some("from a".into()))
    );
    let e = json!({});
    assert_eq!(when.eval_string(&[("event", &e)]), Ok(Some("none".into())));
}

#[test]
fn coalesce_with_an_integer_default_works_in_arithmetic() {
    let rules = compile(&[rule(
        "revenue",
        "service.revenue_per_hour * (event.custom_details.degraded_fraction ?? 0) > 10000",
        json!({"priority": "P2"}),
    )])
    .expect("compiles");
    let without = rules.evaluate(&event("error", json!({})), &payments_api(), now());
    assert_eq!(without, Decision::default());
    let with = rules.evaluate(
        &event("error", json!({"degraded_fraction": 0.1})),
        &payments_api(),
        now(),
    );
    assert_eq!(matched(&with), ["revenue"]);
}

#[test]
fn coalesce_follows_paths_of_any_depth() {
    let when = compile_expression(r#"event.a.b.c.d.e["f"].g.h.i.j ?? "deep""#).expect("compiles");
    let e = json!({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": "found"}}}}}}}}}});
    assert_eq!(when.eval_string(&[("event", &e)]), Ok(Some("found".into())));
    let e = json!({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {}}}}}}}}});
    assert_eq!(when.eval_string(&[("event", &e)]), Ok(Some("deep".into())));
    let lists = compile_expression("event.hosts[1].name ?? event.hosts[0].name").expect("compiles");
    let e = json!({"hosts": [{"name": "db1"}]});
    assert_eq!(lists.eval_string(&[("event", &e)]), Ok(Some("db1".into())));
}

#[test]
fn noise_suppresses_info_events() {
    let d = decide(&event("info", json!({})), &internal_tool());
    assert_eq!(matched(&d), ["noise"]);
    assert!(d.suppressed);
}

// --- merging ---

#[test]
fn missing_fields_do_not_match_and_record_no_error() {
    let bare = json!({"summary": "no severity, no details"});
    let d = decide(&bare, &json!({}));
    assert_eq!(d, Decision::default());
}

#[test]
fn null_fields_do_not_match_and_record_no_error() {
    let details = json!({"downtime_minutes": null, "category": null, "degraded_fraction": null});
    let d = decide(&event("error", details), &payments_api());
    assert_eq!(d, Decision::default());
}

#[test]
fn exception_beats_suppress() {
    let d = decide(
        &event("info", json!({"category": "data_breach"})),
        &internal_tool(),
    );
    assert_eq!(matched(&d), ["breach-indicator", "noise"]);
    assert!(!d.suppressed);
    assert_eq!(d.priority, Some(Priority::P1));
}

#[test]
fn exception_rules_are_evaluated_first_whatever_their_place() {
    let rules = compile(&[
        rule("plain", "true", json!({})),
        RuleSpec {
            exception: true,
            ..rule("exceptional", "true", json!({}))
        },
    ])
    .expect("compiles");
    let d = rules.evaluate(&json!({}), &json!({}), now());
    assert_eq!(matched(&d), ["exceptional", "plain"]);
}

#[test]
fn most_urgent_priority_and_highest_start_level_win() {
    // big-outage (P1, level 2) and revenue-impact (P2) both match
    let details = json!({"downtime_minutes": 30, "degraded_fraction": 0.5});
    let d = decide(&event("error", details), &payments_api());
    assert_eq!(matched(&d), ["big-outage", "revenue-impact"]);
    assert_eq!(d.priority, Some(Priority::P1));
    assert_eq!(d.start_level, Some(2));

    let rules = compile(&[
        rule("low", "true", json!({"priority": "P4", "start_level": 3})),
        rule("high", "true", json!({"priority": "P2", "start_level": 1})),
        rule("none", "true", json!({})),
    ])
    .expect("compiles");
    let d = rules.evaluate(&json!({}), &json!({}), now());
    assert_eq!((d.priority, d.start_level), (Some(Priority::P2), Some(3)));
}

#[test]
fn notify_targets_are_unioned_without_duplicates() {
    // breach-indicator pages legal+security, regulated-path compliance
    let d = decide(
        &event("critical", json!({"category": "data_breach"})),
        &payments_api(),
    );
    assert_eq!(matched(&d), ["breach-indicator", "regulated-path"]);
    assert_eq!(
        d.notify,
        [team("legal"), team("security"), team("compliance")]
    );

    let rules = compile(&[
        rule(
            "a",
            "true",
            json!({"notify": [{"team": "legal"}, {"user": "bob"}]}),
        ),
        rule(
            "b",
            "true",
            json!({"notify": [{"user": "bob"}, {"team": "legal"}]}),
        ),
        rule(
            "c",
            "true",
            json!({"notify": [{"team": "legal", "region": "eu"}]}),
        ),
    ])
    .expect("compiles");
    let d = rules.evaluate(&json!({}), &json!({}), now());
    let shown: Vec<String> = d.notify.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["team legal", "user bob", "team legal region=eu"]);
}

#[test]
fn runtime_type_error_is_recorded_and_the_rule_skipped() {
    let details = json!({
        "downtime_minutes": "a lot",
        "affected_users": 3,
        "failure_rate": 0.01,
        "degraded_fraction": 0.5
    });
    let d = decide(&event("error", details), &payments_api());
    assert_eq!(
        matched(&d),
        ["revenue-impact"],
        "the other rules still apply"
    );
    assert_eq!(d.errors.len(), 1, "{:?}", d.errors);
    assert_eq!(d.errors[0].0, "big-outage");
    assert!(d.errors[0].1.contains("_>=_"), "{}", d.errors[0].1);
}

#[test]
fn a_condition_giving_no_boolean_at_run_time_is_recorded() {
    let rules = compile(&[rule("odd", "event.summary", json!({}))]).expect("compiles");
    let d = rules.evaluate(&json!({"summary": "text"}), &json!({}), now());
    assert!(d.matched.is_empty());
    assert_eq!(
        d.errors,
        [(
            "odd".to_owned(),
            "gives a string, not true or false".to_owned()
        )]
    );
}

#[test]
fn the_decision_records_what_each_rule_decided() {
    let d = decide(
        &event("info", json!({"category": "data_breach"})),
        &internal_tool(),
    );
    let recorded = serde_json::to_value(&d).expect("serializes");
    assert_eq!(
        recorded["matched"],
        json!([
            {"rule": "breach-indicator", "exception": true, "decided": {
                "priority": "P1", "start_level": 3,
                "notify": [{"team": "legal"}, {"team": "security"}]}},
            {"rule": "noise", "exception": false, "decided": {"suppress": true}}
        ])
    );
    assert_eq!(recorded["suppressed"], json!(false));
}

// --- what rules can read ---

#[test]
fn json_integers_and_doubles_mix_in_comparisons_and_arithmetic() {
    let e = json!({"custom_details": {"users": 600, "rate": 0.5, "hosts": ["a", "b"]}, "labels": {"x": "y"}});
    let s = json!({"tier": 1, "revenue_per_hour": 1000.0});
    for condition in [
        "event.custom_details.users * 2 > 1000",
        "event.custom_details.users * 2 == 1200",
        "2 * event.custom_details.users - 1 == 1199",
        "event.custom_details.users / 4 == 150",
        "event.custom_details.users + event.custom_details.rate == 600.5",
        "event.custom_details.rate * 2 == 1",
        "service.tier == 1",
        "service.tier in [1, 2]",
        "service.revenue_per_hour == 1000",
        "size(event.custom_details.hosts) + 1 == 3",
        "size(event.labels) * 2 == 2",
        "int(service.tier) % 2 == 1",
    ] {
        let when = compile_expression(condition).expect("compiles");
        let value = when.eval_bool(&[("event", &e), ("service", &s)]);
        assert_eq!(value, Ok(Some(true)), "{condition}");
    }
}

#[test]
fn labels_lists_and_macros_are_readable() {
    let e = event("error", json!({"hosts": ["db1", "db2"]}));
    for condition in [
        r#"event.labels["team"] == "payments""#,
        r#""env" in event.labels"#,
        r#"has(event.labels.env) && !has(event.labels.region)"#,
        r#"event.custom_details.hosts.exists(h, h.startsWith("db"))"#,
        r#"event.source.endsWith(".example.com")"#,
    ] {
        let when = compile_expression(condition).expect("compiles");
        assert_eq!(
            when.eval_bool(&[("event", &e)]),
            Ok(Some(true)),
            "{condition}"
        );
    }
}

#[test]
fn now_is_an_rfc3339_utc_string() {
    let rules = compile(&[rule(
        "recent",
        r#"now == "2026-03-01T12:00:05Z" && event.timestamp < now"#,
        json!({"priority": "P3"}),
    )])
    .expect("compiles");
    let d = rules.evaluate(&event("error", json!({})), &json!({}), now());
    assert_eq!(matched(&d), ["recent"]);
}

// --- generic-webhook mapping ---

#[test]
fn webhook_mapping_reads_the_body() {
    let summary = compile_expression("body.title").expect("compiles");
    let action =
        compile_expression(r#"body.state == "ok" ? "resolve" : "trigger""#).expect("compiles");
    let body = json!({"title": "CPU high", "state": "alerting", "count": 3, "ratio": 0.25});
    let vars = [("body", &body)];
    assert_eq!(summary.eval_string(&vars), Ok(Some("CPU high".into())));
    assert_eq!(action.eval_string(&vars), Ok(Some("trigger".into())));
    let ok = json!({"state": "ok"});
    assert_eq!(
        action.eval_string(&[("body", &ok)]),
        Ok(Some("resolve".into()))
    );
    assert_eq!(summary.eval_string(&[("body", &ok)]), Ok(None), "absent");
    let null = json!({"title": null});
    assert_eq!(summary.eval_string(&[("body", &null)]), Ok(None), "null");
    for (expr, expected) in [
        ("body.count", "3"),
        ("body.ratio", "0.25"),
        ("body.count > 2", "true"),
    ] {
        let e = compile_expression(expr).expect("compiles");
        assert_eq!(e.eval_string(&vars), Ok(Some(expected.into())), "{expr}");
    }
    let list = compile_expression("[body.title]").expect("compiles");
    assert_eq!(
        list.eval_string(&vars),
        Err("gives a list, not a string".into())
    );
    assert_eq!(summary.variables().collect::<Vec<_>>(), ["body"]);
    assert!(summary.check_variables(&["body"]).is_ok());
}

#[test]
fn an_undeclared_variable_is_an_error_not_an_absence() {
    let e = compile_expression("body.title").expect("compiles");
    let err = e.eval_string(&[]).expect_err("no body");
    assert!(err.contains("body"), "{err}");
}

// --- compiling ---

#[test]
fn syntax_errors_name_the_rule_and_the_position() {
    let rules = [
        rule("fine", "true", json!({})),
        rule("broken", r#"event.severity == "critical" &&"#, json!({})),
    ];
    let e = only_error(&rules);
    assert_eq!((e.rule.as_str(), e.index), ("broken", 1));
    assert_eq!(e.position, Some((1, 32)));
    assert!(
        e.to_string()
            .starts_with("rules[1] `broken`, when at 1:32: "),
        "{e}"
    );
}

#[test]
fn syntax_error_positions_count_lines_and_survive_the_coalesce_rewrite() {
    let e = only_error(&[rule(
        "multi",
        "(event.custom_details.x ?? 0) > 1 &&\n  event.severity = \"critical\"",
        json!({}),
    )]);
    assert_eq!(e.position, Some((2, 18)), "{e}");
}

#[test]
fn unknown_variables_are_refused_with_their_position() {
    let e = only_error(&[rule(
        "typo",
        r#"event.severity == "x" || evnt.x > 1"#,
        json!({}),
    )]);
    assert_eq!(e.position, Some((1, 26)));
    assert!(e.message.contains("`evnt`"), "{}", e.message);
}

#[test]
fn comprehension_variables_are_not_unknown() {
    let r = rule(
        "hosts",
        "event.custom_details.hosts.all(h, h != \"db1\")",
        json!({}),
    );
    assert!(compile(&[r]).is_ok());
}

#[test]
fn coalesce_needs_a_field_path_on_its_left() {
    let e = only_error(&[rule("c", "(event.x + 1) ?? 0 > 1", json!({}))]);
    assert_eq!(e.position, Some((1, 1)), "{e}");
    assert!(e.message.contains("field path"), "{}", e.message);
    let e = only_error(&[rule("d", "1 > ?? 2", json!({}))]);
    assert_eq!(e.position, Some((1, 5)), "{e}");
}

#[test]
fn conditions_that_cannot_be_true_or_false_are_refused() {
    for when in ["1 + 2", r#""yes""#, "size(event.labels)", "[true]"] {
        let e = only_error(&[rule("not-a-condition", when, json!({}))]);
        assert!(e.message.contains("true or false"), "{when}: {e}");
    }
}

#[test]
fn bad_ids_level_zero_and_suppressing_exceptions_are_all_reported() {
    let mut exception = rule("breach", "true", json!({"suppress": true}));
    exception.exception = true;
    let errors = compile(&[
        rule("a", "true", json!({})),
        rule("a", "true", json!({"start_level": 0})),
        rule(" ", "true", json!({})),
        exception,
        rule("b", "event.", json!({})),
    ])
    .expect_err("refused");
    let summary: Vec<(usize, &str)> = errors
        .iter()
        .map(|e| (e.index, e.message.as_str()))
        .collect();
    assert_eq!(summary.len(), 5, "{summary:?}");
    assert_eq!(summary[0], (1, "the id is already used by rules[0]"));
    assert_eq!(summary[1], (1, "start_level counts from 1"));
    assert_eq!(summary[2], (2, "a rule needs an id"));
    assert_eq!(summary[3].0, 3);
    assert_eq!(summary[4].0, 4);
}

#[test]
fn rule_specs_round_trip_through_json() {
    let rules = issue_rules();
    assert_eq!(rules[0].review_by, Some(date(2027, 3, 1)));
    assert_eq!(rules[0].owner.as_deref(), Some("carol"));
    let stored = serde_json::to_value(&rules).expect("serializes");
    assert_eq!(
        stored[4],
        json!({"id": "noise", "when": "event.severity == \"info\"", "then": {"suppress": true}})
    );
    let back: Vec<RuleSpec> = serde_json::from_value(stored).expect("deserializes");
    assert_eq!(back, rules);
}

#[test]
fn p1_is_the_most_urgent_and_compares_greatest() {
    assert!(Priority::P1 > Priority::P2 && Priority::P4 > Priority::P5);
    assert_eq!(
        [Priority::P3, Priority::P1, Priority::P2].iter().max(),
        Some(&Priority::P1)
    );
    assert_eq!("P2".parse::<Priority>(), Ok(Priority::P2));
    assert!("p2".parse::<Priority>().is_err());
    assert_eq!(serde_json::to_value(Priority::P5).ok(), Some(json!("P5")));
}

// --- review dates ---

fn reviewed(id: &str, by: Option<jiff::civil::Date>) -> RuleSpec {
    RuleSpec {
        review_by: by,
        ..rule(id, "true", json!({}))
    }
}

#[test]
fn overdue_reviews_are_listed_soonest_first() {
    let rules = [
        reviewed("later", Some(date(2026, 2, 1))),
        reviewed("never", None),
        reviewed("today", Some(date(2026, 3, 1))),
        reviewed("earlier", Some(date(2025, 12, 1))),
    ];
    let due: Vec<&str> = due_for_review(&rules, date(2026, 3, 1), None)
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(due, ["earlier", "later"], "due today is not yet overdue");
}

#[test]
fn reviews_due_within_n_days_include_overdue_ones() {
    let rules = [
        reviewed("in-30-days", Some(date(2026, 3, 31))),
        reviewed("in-31-days", Some(date(2026, 4, 1))),
        reviewed("overdue", Some(date(2026, 1, 1))),
        reviewed("never", None),
    ];
    let due: Vec<&str> = due_for_review(&rules, date(2026, 3, 1), Some(30))
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(due, ["overdue", "in-30-days"]);
    assert_eq!(
        due_for_review(&rules, date(2026, 3, 1), Some(u32::MAX)).len(),
        3
    );
}

// --- robustness ---

#[test]
fn compiled_rules_are_shared_across_threads() {
    let rules = compile(&issue_rules()).expect("compiles");
    let breach = event("info", json!({"category": "data_breach"}));
    let decisions: Vec<Decision> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| s.spawn(|| rules.evaluate(&breach, &payments_api(), now())))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("no panic"))
            .collect()
    });
    assert_eq!(decisions[0], decisions[1]);
    assert_eq!(decisions[0].priority, Some(Priority::P1));
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop_oneof![
            Just("data_breach".to_owned()),
            Just("info".to_owned()),
            Just("critical".to_owned()),
            "[a-z_]{0,8}",
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("custom_details".to_owned()),
            Just("severity".to_owned()),
            Just("category".to_owned()),
            Just("downtime_minutes".to_owned()),
            Just("affected_users".to_owned()),
            Just("failure_rate".to_owned()),
            Just("degraded_fraction".to_owned()),
            Just("labels".to_owned()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn evaluation_never_panics_on_arbitrary_json_events(
        event in arbitrary_json(),
        service in arbitrary_json(),
    ) {
        let rules = compile(&issue_rules()).expect("compiles");
        let d = rules.evaluate(&event, &service, now());
        // whatever the input, the outcome stays consistent
        prop_assert!(d.matched.len() + d.errors.len() <= rules.len());
        prop_assert!(!d.suppressed || d.matched.iter().all(|m| !m.exception));
    }

    #[test]
    fn compiling_and_evaluating_never_panic_on_arbitrary_text(text in prop_oneof![
        "[ -~\n]{0,40}",
        // mostly well-formed pieces, to reach past the parser's first error
        r#"(event|\.x|\.\?y|\?\?|\(|\)|\[|\]|"s"|'t'|r"u"|1|2\.5|-|!| |\?|:|==|&&|in|,|\{|\}){0,24}"#,
    ]) {
        if let Ok(expr) = compile_expression(&text) {
            let e = event("error", json!({"x": [1, {"y": null}], "y": "s"}));
            let _ = expr.eval_bool(&[("event", &e)]);
            let _ = expr.eval_string(&[("event", &e)]);
        }
    }
}
