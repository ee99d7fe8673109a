//! The Events API v2 body (`core::events_v2::parse`), from bytes as the
//! server reads them (`serde_json::from_slice`, then `parse`).

use crate::inputs::{self, config, timed};
use escalator_core::events_v2::{Event, EventAction, MAX_SUMMARY_CHARS, parse};
use proptest::prelude::*;
use serde_json::{Value, json};

pub const KEY: &str = "0123456789abcdef0123456789abcdef";

/// The fields the format knows, for generated and duplicated keys.
pub const FIELDS: &[&str] = &[
    "routing_key",
    "event_action",
    "dedup_key",
    "payload",
    "summary",
    "source",
    "severity",
    "timestamp",
    "component",
    "group",
    "class",
    "custom_details",
    "client",
    "client_url",
    "links",
    "images",
    "href",
    "src",
    "text",
    "alt",
];

/// Valid bodies in the shapes PagerDuty documents and clients send.
pub const SEEDS: &[&str] = &[
    r#"{"routing_key":"0123456789abcdef0123456789abcdef","event_action":"trigger","dedup_key":"disk-1","payload":{"summary":"Disk full on db-1","source":"db-1","severity":"critical","timestamp":"2024-05-01T12:00:00.000+0000","component":"postgres","group":"prod","class":"disk","custom_details":{"free":"0%","nested":{"a":[1,2.5,null,true]}}},"client":"Grafana","client_url":"https://grafana/d/1","links":[{"href":"https://grafana/d/1","text":"dashboard"}],"images":[{"src":"https://img/1.png","href":"https://img","alt":"graph"}]}"#,
    r#"{"routing_key":"0123456789abcdef0123456789abcdef","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"info"}}"#,
    r#"{"routing_key":"0123456789abcdef0123456789abcdef","event_action":"acknowledge","dedup_key":"disk-1"}"#,
    r#"{"routing_key":"0123456789abcdef0123456789abcdef","event_action":"resolve","dedup_key":"disk-1","payload":null}"#,
];

/// Whether a message names the field it is about, as the API promises.
fn names_a_field(message: &str) -> bool {
    if message == "body must be a JSON object" {
        return true;
    }
    let Some(rest) = message.strip_prefix('\'') else {
        return false;
    };
    let Some((field, _)) = rest.split_once('\'') else {
        return false;
    };
    let base: String = field
        .split('.')
        .map(|part| part.split('[').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(".");
    [
        "routing_key",
        "event_action",
        "dedup_key",
        "payload",
        "payload.summary",
        "payload.source",
        "payload.severity",
        "payload.timestamp",
        "payload.component",
        "payload.group",
        "payload.class",
        "client",
        "client_url",
        "links.href",
        "images.src",
        "links",
        "images",
    ]
    .contains(&base.as_str())
}

/// An accepted event as JSON again, as a client would have sent it.
pub fn to_json(e: &Event) -> Value {
    let mut v = json!({
        "routing_key": e.routing_key.as_str(),
        "event_action": match e.action {
            EventAction::Trigger => "trigger",
            EventAction::Acknowledge => "acknowledge",
            EventAction::Resolve => "resolve",
        },
        "links": e.links,
        "images": e.images,
    });
    if let Some(k) = &e.dedup_key {
        v["dedup_key"] = json!(k.as_str());
    }
    if let Some(c) = &e.client {
        v["client"] = json!(c);
    }
    if let Some(c) = &e.client_url {
        v["client_url"] = json!(c);
    }
    if let Some(p) = &e.payload {
        v["payload"] = json!({
            "summary": p.summary, "source": p.source, "severity": p.severity.as_str(),
            "timestamp": p.timestamp, "component": p.component, "group": p.group,
            "class": p.class, "custom_details": p.custom_details,
        });
    }
    v
}

/// What every parse must satisfy, accepted or refused.
pub fn check(body: &Value) -> Result<(), TestCaseError> {
    let got = timed("events_v2::parse", || parse(body));
    match got {
        Ok(e) => {
            prop_assert_eq!(Some(e.routing_key.as_str()), body["routing_key"].as_str());
            let trigger = e.action == EventAction::Trigger;
            prop_assert_eq!(trigger, e.payload.is_some());
            if !trigger && e.dedup_key.is_none() {
                // Known: `"dedup_key": null` passes for an acknowledge or a
                // resolve (`regressions::a_null_dedup_key_cannot_acknowledge`).
                prop_assert!(crate::regressions::KNOWN_NULL_DEDUP_KEY_ACCEPTED);
                prop_assert!(body.get("dedup_key").is_some_and(Value::is_null));
                return Ok(());
            }
            if let Some(p) = &e.payload {
                prop_assert!(p.summary.chars().count() <= MAX_SUMMARY_CHARS);
                if p.summary.trim().is_empty() {
                    // Known: blanks longer than what is kept, then text, are
                    // cut to a blank summary (`regressions::a_summary_cut_to_blanks_is_refused`).
                    prop_assert!(
                        crate::regressions::KNOWN_SUMMARY_CUT_TO_BLANKS,
                        "blank summary accepted"
                    );
                    let sent = body["payload"]["summary"].as_str().unwrap_or_default();
                    prop_assert!(
                        sent.chars()
                            .take(MAX_SUMMARY_CHARS)
                            .all(char::is_whitespace)
                    );
                    return Ok(());
                }
                prop_assert!(!p.source.trim().is_empty());
            }
            // Re-serialised and parsed again, an event is the same event.
            let again = to_json(&e);
            prop_assert_eq!(parse(&again), Ok(e), "{}", again);
        }
        Err(errors) => {
            if errors.is_empty() && crate::regressions::KNOWN_NULL_ROUTING_KEY_UNNAMED {
                // Known: `"routing_key": null` is refused with no message
                // (`regressions::a_null_routing_key_is_named`).
                prop_assert!(body.get("routing_key").is_some_and(Value::is_null));
                return Ok(());
            }
            prop_assert!(!errors.is_empty(), "refused without a reason");
            for m in &errors {
                prop_assert!(names_a_field(m), "{m:?} names no field");
            }
        }
    }
    Ok(())
}

/// From bytes, as the server does: a body that is not JSON never reaches `parse`.
pub fn check_bytes(bytes: &[u8]) -> Result<(), TestCaseError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => check(&v),
        Err(_) => Ok(()),
    }
}

/// A body with each field valid, missing, or of a random value.
fn shaped() -> impl Strategy<Value = Value> {
    let field = |valid: Value| {
        prop_oneof![
            3 => Just(Some(valid)),
            1 => Just(None),
            1 => inputs::leaf().prop_map(Some),
            1 => inputs::json().prop_map(Some),
        ]
    };
    let action = prop_oneof![
        Just(json!("trigger")),
        Just(json!("acknowledge")),
        Just(json!("resolve"))
    ];
    let severity = proptest::sample::select(vec!["critical", "error", "warning", "info"]);
    let summary = prop_oneof![
        3 => inputs::odd_string(),
        // Blank runs longer than what is kept, then text.
        1 => (proptest::sample::select(vec![' ', '\t', '\n', '\u{a0}', '\u{3000}']), 1000usize..1100, inputs::odd_string())
            .prop_map(|(c, n, tail)| format!("{}{tail}", c.to_string().repeat(n))),
    ];
    (
        (
            field(json!(KEY)),
            action.prop_flat_map(field),
            inputs::odd_string().prop_flat_map(move |k| field(json!(k))),
        ),
        (
            summary.prop_flat_map(move |s| field(json!(s))),
            inputs::odd_string().prop_flat_map(move |s| field(json!(s))),
            severity.prop_flat_map(move |s| field(json!(s))),
            inputs::json().prop_flat_map(field),
        ),
        (
            field(json!([{"href": "https://x", "text": "t"}])),
            field(json!([{"src": "https://x/i.png"}])),
        ),
    )
        .prop_map(
            |((rk, action, dedup), (summary, source, severity, details), (links, images))| {
                let mut payload = serde_json::Map::new();
                for (k, v) in [
                    ("summary", summary),
                    ("source", source),
                    ("severity", severity),
                    ("custom_details", details),
                ] {
                    if let Some(v) = v {
                        payload.insert(k.into(), v);
                    }
                }
                let mut body = serde_json::Map::new();
                for (k, v) in [
                    ("routing_key", rk),
                    ("event_action", action),
                    ("dedup_key", dedup),
                    ("links", links),
                    ("images", images),
                    ("payload", Some(Value::Object(payload))),
                ] {
                    if let Some(v) = v {
                        body.insert(k.into(), v);
                    }
                }
                Value::Object(body)
            },
        )
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn arbitrary_bytes_are_refused_or_accepted_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check_bytes(&bytes)?;
    }

    #[test]
    fn arbitrary_json_values_are_checked(body in inputs::json_with_keys(FIELDS)) {
        check(&body)?;
    }

    #[test]
    fn nearly_valid_events_are_checked_and_round_trip(body in shaped()) {
        check(&body)?;
    }

    #[test]
    fn mutated_documented_events_are_checked(bytes in inputs::mutated(SEEDS)) {
        check_bytes(&bytes)?;
    }

    #[test]
    fn a_node_of_another_type_is_named(body in proptest::sample::select(SEEDS)
        .prop_flat_map(|s| inputs::swap_types(serde_json::from_str(s).unwrap())))
    {
        check(&body)?;
    }

    #[test]
    fn a_repeated_key_is_read_as_its_last_value(
        seed in proptest::sample::select(SEEDS),
        key in proptest::sample::select(FIELDS),
        value in inputs::leaf(),
    ) {
        let text = inputs::with_duplicate_key(seed, key, &value);
        let body: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&body[key], &value);
        check(&body)?;
    }

    #[test]
    fn deep_nesting_is_refused_by_the_json_reader_or_checked(
        deep in inputs::deeply_nested_text(),
        at_top in any::<bool>(),
    ) {
        let text = if at_top {
            deep
        } else {
            format!(r#"{{"routing_key":"{KEY}","event_action":"trigger","payload":{{"summary":"s","source":"x","severity":"info","custom_details":{deep}}}}}"#)
        };
        check_bytes(text.as_bytes())?;
    }

    #[test]
    fn large_bodies_are_checked(n in 0usize..20_000, item in inputs::leaf(), huge in inputs::huge_string()) {
        let body = json!({"routing_key": KEY, "event_action": "trigger",
            "links": vec![json!({"href": "h", "x": item.clone()}); n % 2_000],
            "dedup_key": huge.clone(), "client": huge.clone(),
            "payload": {"summary": huge.clone(), "source": huge, "severity": "info",
                        "custom_details": vec![item; n % 5_000]}});
        check(&body)?;
    }
}
