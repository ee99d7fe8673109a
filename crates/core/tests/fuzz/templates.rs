//! Message templates (minijinja, `core::templates::{compile, render}`):
//! arbitrary text, generated templates, mutated ones, rendered for every
//! audience over incidents whose title and details come from events.

use crate::inputs::{self, config, timed};
use escalator_core::Timestamp;
use escalator_core::engine::{Incident, Status};
use escalator_core::ids::{DedupKey, IncidentId, PolicyId, ServiceId};
use escalator_core::templates::{
    Audience, Facts, MAX_SUBJECT, MAX_TEXT, TemplateSpec, compile, render,
};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A value only responder templates may ever show.
pub const SECRET: &str = "hunter2-must-not-leak";

pub const SEEDS: &[&str] = &[
    "{% if priority %}[{{ priority }}] {% endif %}#{{ id }} {{ title }} ({{ service.id }}, {{ status }})",
    "{{ status | capitalize }}: {{ title }} affecting {{ service.name or service.id }}{% if update %} {{ update }}{% endif %}",
    "{% for k, v in custom_details|items %}{{ k }}={{ v }}{% if not loop.last %}, {% endif %}{% endfor %}",
    "{% set n = details.labels|length %}{{ n }} labels{% macro m(x) %}<{{ x|upper }}>{% endmacro %}{{ m(title) }}",
    "{% filter upper %}{{ url }}{% endfilter %}{% raw %}{{ not }}{% endraw %}{#- note -#}",
    "{{ created_at }} {{ alert_count }} {{ dedup_key|replace('-', ' ')|title }} {{ details|tojson }}",
    "{% with x = level * 2 %}{{ x }}{% endwith %}{{ range(3)|join(',') }}{{ [1, 2]|map('string')|list }}",
];

const VARIABLES: &[&str] = &[
    "id",
    "title",
    "summary",
    "service",
    "service.id",
    "service.name",
    "impact.priority",
    "priority",
    "status",
    "level",
    "round",
    "url",
    "event",
    "update",
    "next_update_at",
    "dedup_key",
    "alert_count",
    "created_at",
    "acknowledged_by",
    "details",
    "details.source",
    "custom_details",
    "custom_details.password",
    "custom_details.nested.a",
    "loop",
    "undefined_thing",
    "debug()",
    "range(5)",
    "namespace()",
];

const FILTERS: &[&str] = &[
    "safe",
    "escape",
    "upper",
    "lower",
    "title",
    "capitalize",
    "replace('a', 'bb')",
    "length",
    "dictsort",
    "items",
    "reverse",
    "trim",
    "join(', ')",
    "split",
    "lines",
    "default('x')",
    "abs",
    "int",
    "float",
    "sum",
    "round(2)",
    "first",
    "last",
    "min",
    "max",
    "sort",
    "list",
    "string",
    "bool",
    "slice(3)",
    "batch(2)",
    "tojson",
    "indent(4)",
    "urlencode",
    "unique",
    "pprint",
    "format(1, 2)",
    "map('upper')",
    "select('odd')",
    "attr('id')",
];

/// One template from a small Jinja grammar: output of variables through
/// filters, every statement, whitespace control, comments, raw blocks.
pub fn template() -> impl Strategy<Value = String> {
    let literal = proptest::sample::select(vec![
        "1",
        "-1",
        "0",
        "1.5",
        "1e308",
        "9223372036854775807",
        "'x'",
        "\"é\\n\"",
        "none",
        "true",
        "[1, 'a', none]",
        "{'k': 'v'}",
        "(1, 2)",
    ]);
    let expr = (
        prop_oneof![proptest::sample::select(VARIABLES), literal],
        proptest::collection::vec(proptest::sample::select(FILTERS), 0..2),
        proptest::sample::select(vec![
            "",
            "",
            "",
            "",
            "",
            "",
            " ~ title",
            " + 1",
            " * 3",
            " // 0",
            " % 0",
            " is defined",
            " in [1]",
            " ~ details",
        ]),
    )
        .prop_map(|(v, filters, tail)| {
            let mut s = format!("{v}{tail}");
            for f in filters {
                s = format!("({s})|{f}");
            }
            s
        });
    let text = prop_oneof![
        6 => proptest::sample::select(vec!["", " ", "x", "\n", "{", "}", "%", "#", "é"]).prop_map(str::to_owned),
        1 => inputs::odd_string(),
    ];
    let leaf = prop_oneof![
        expr.clone().prop_map(|e| format!("{{{{ {e} }}}}")),
        expr.clone().prop_map(|e| format!("{{{{- {e} -}}}}")),
        text,
        Just("{# comment #}".to_owned()),
        Just("{% raw %}{{ x }}{% endraw %}".to_owned()),
        expr.clone()
            .prop_map(|e| format!("{{% set x = {e} %}}{{{{ x }}}}")),
    ];
    leaf.prop_recursive(4, 32, 3, move |inner| {
        let body = proptest::collection::vec(inner, 1..4).prop_map(|v| v.concat());
        prop_oneof![
            4 => (expr.clone(), body.clone(), body.clone())
                .prop_map(|(c, a, b)| format!("{{% if {c} %}}{a}{{% else %}}{b}{{% endif %}}")),
            4 => (expr.clone(), body.clone())
                .prop_map(|(c, a)| format!("{{% for x in {c} %}}{a}{{{{ loop.index }}}}{{% endfor %}}")),
            2 => body.clone().prop_map(|a| format!("{{% filter upper %}}{a}{{% endfilter %}}")),
            2 => (expr.clone(), body.clone()).prop_map(|(e, a)| format!("{{% with y = {e} %}}{a}{{% endwith %}}")),
            // Macros are not compiled in (minijinja without `macros`): refused.
            1 => body.clone().prop_map(|a| format!("{{% macro m() %}}{a}{{% endmacro %}}{{% call m() %}}x{{% endcall %}}")),
            2 => body.prop_map(|a| format!("{{% for x in range(3) recursive %}}{a}{{% if x < 2 %}}{{{{ loop([x + 1]) }}}}{{% endif %}}{{% endfor %}}")),
        ]
    })
}

fn incident(title: String, status: Status) -> Incident {
    let t: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
    Incident {
        id: IncidentId(4821),
        service: ServiceId::parse("checkout").unwrap(),
        policy: PolicyId::parse("web").unwrap(),
        dedup_key: DedupKey::parse("disk-full-db1").unwrap(),
        group_key: None,
        title,
        priority: None,
        status,
        level: 2,
        round: 1,
        level_started_at: t,
        next_escalation_at: None,
        alert_count: 1,
        created_at: t,
        updated_at: t,
        acknowledged_at: None,
        acknowledged_by: Some("user:alice (slack)".into()),
        resolved_at: None,
        resolved_by: None,
    }
}

/// Compiles and renders `subject`/`text` for `audience` over an incident
/// with `title` and `details` from an event: compile never panics, render
/// stays within its fuel and its size caps, and no audience but responders
/// ever sees a detail.
pub fn check(
    audience: Audience,
    subject: &str,
    text: &str,
    title: String,
    details: &Value,
) -> Result<(), TestCaseError> {
    let spec = TemplateSpec {
        id: "fuzz".into(),
        audience,
        level: None,
        subject: subject.to_owned(),
        text: text.to_owned(),
    };
    if timed("templates::compile", || compile(&spec)).is_err() {
        return Ok(());
    }
    let incident = incident(title, Status::Triggered);
    let facts = Facts {
        incident: &incident,
        service_name: Some("Checkout"),
        details,
        url: "https://esc.example/i/4821",
        level: 2,
        round: 1,
        event: "update",
        update: Some("Working on it"),
        next_update_at: None,
    };
    match timed("templates::render", || render(&spec, &facts)) {
        Ok(r) => {
            prop_assert!(r.subject.len() <= MAX_SUBJECT);
            prop_assert!(!r.subject.contains(['\r', '\n']));
            prop_assert!(r.text.len() <= MAX_TEXT);
            if !audience.sees_details() {
                prop_assert!(
                    !r.subject.contains(SECRET) && !r.text.contains(SECRET),
                    "a {audience} template showed a detail"
                );
            }
        }
        Err(e) => prop_assert!(e.part == "subject" || e.part == "text"),
    }
    Ok(())
}

fn audience() -> impl Strategy<Value = Audience> {
    proptest::sample::select(Audience::ALL.to_vec())
}

fn details() -> impl Strategy<Value = Value> {
    inputs::json().prop_map(|v| {
        json!({"source": "db-1", "labels": {"env": "prod"}, "custom_details":
            {"password": SECRET, "nested": {"a": [SECRET]}, "random": v}})
    })
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn arbitrary_text_compiles_or_is_refused(
        audience in audience(),
        text in inputs::odd_string(),
        title in inputs::odd_string(),
        details in details(),
    ) {
        check(audience, &text, &text, title, &details)?;
    }

    #[test]
    fn generated_templates_render_within_fuel_and_size_and_redact(
        audience in audience(),
        subject in template(),
        text in template(),
        title in inputs::odd_string(),
        details in details(),
    ) {
        check(audience, &subject, &text, title, &details)?;
    }

    #[test]
    fn mutated_templates_render_or_are_refused(
        audience in audience(),
        text in inputs::mutated_text(SEEDS),
        title in inputs::odd_string(),
        details in details(),
    ) {
        check(audience, &text, &text, title, &details)?;
    }
}

/// Renders `text` for stakeholders over a plain incident (used by the
/// regression tests).
pub fn render_text(text: &str) -> Result<String, escalator_core::templates::TemplateError> {
    let incident = incident("Checkout latency high".into(), Status::Triggered);
    let details = json!({});
    let facts = Facts {
        incident: &incident,
        service_name: None,
        details: &details,
        url: "https://esc.example/i/4821",
        level: 1,
        round: 1,
        event: "page",
        update: None,
        next_update_at: None,
    };
    let spec = TemplateSpec {
        id: "t".into(),
        audience: Audience::Stakeholder,
        level: None,
        subject: "s".into(),
        text: text.to_owned(),
    };
    render(&spec, &facts).map(|r| r.text)
}
