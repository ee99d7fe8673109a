//! Every input the fuzzers found that crashed a parser or broke one of its
//! promises, as a named test. A finding whose fix lies outside this branch
//! is `#[ignore]`d with the reason, and its `KNOWN_…` switch lets the
//! fuzzers step over it meanwhile; fixing it means deleting both.

use escalator_core::events_v2::parse;
use serde_json::json;

const KEY: &str = "0123456789abcdef0123456789abcdef";

/// `events_v2::parse` refuses `"routing_key": null` with an empty error list,
/// so the API answers 400 without saying why.
pub const KNOWN_NULL_ROUTING_KEY_UNNAMED: bool = true;

#[test]
#[ignore = "finding: core/src/events_v2.rs `parse` pushes no error for a null routing_key (the `None => None` arm)"]
fn a_null_routing_key_is_named() {
    let errors = parse(&json!({"routing_key": null, "event_action": "trigger",
        "payload": {"summary": "s", "source": "x", "severity": "info"}}))
    .unwrap_err();
    assert_eq!(errors, vec!["'routing_key' is missing"]);
}

#[test]
fn a_null_event_action_is_named() {
    let errors = parse(&json!({"routing_key": KEY, "event_action": null})).unwrap_err();
    assert_eq!(errors, vec!["'event_action' is missing"]);
}

/// `events_v2::parse` accepts an acknowledge or resolve whose `dedup_key` is
/// `null`; the server then makes up a key, acknowledges nothing and answers 202.
pub const KNOWN_NULL_DEDUP_KEY_ACCEPTED: bool = true;

#[test]
#[ignore = "finding: core/src/events_v2.rs `parse` checks `!obj.contains_key(\"dedup_key\")`, so a null key passes"]
fn a_null_dedup_key_cannot_acknowledge() {
    for action in ["acknowledge", "resolve"] {
        let errors = parse(&json!({"routing_key": KEY, "event_action": action, "dedup_key": null}))
            .unwrap_err();
        assert_eq!(
            errors,
            vec!["'dedup_key' is required to acknowledge or resolve"]
        );
    }
}

/// `events_v2::parse` checks that a summary is not blank before cutting it to
/// 1024 characters: 1024 blanks and then text become a blank title.
pub const KNOWN_SUMMARY_CUT_TO_BLANKS: bool = true;

#[test]
#[ignore = "finding: core/src/events_v2.rs `parse_payload` checks `trim().is_empty()` before `truncate`"]
fn a_summary_cut_to_blanks_is_refused() {
    let summary = format!("{}disk full", " ".repeat(1024));
    let got = parse(&json!({"routing_key": KEY, "event_action": "trigger",
        "payload": {"summary": summary, "source": "x", "severity": "info"}}));
    match got {
        Ok(e) => assert!(!e.payload.unwrap().summary.trim().is_empty()),
        Err(errors) => assert_eq!(errors, vec!["'payload.summary' must not be empty"]),
    }
}

/// Found by `config::hostile_yaml_is_bounded`: every alias measured the depth
/// and size of its anchored node again, even past the expansion limit, so
/// 50 000 aliases of a 50 000-item list took minutes. Fixed in
/// `config/load/tree.rs` (measured once per anchor; nothing expanded past the limit).
#[test]
fn many_aliases_of_a_large_node_load_in_linear_time() {
    use crate::config::Hostile;
    for nested in [false, true] {
        let text = Hostile::ManyAliases {
            size: 50_000,
            aliases: 100_000,
            nested,
        }
        .text();
        let start = std::time::Instant::now();
        let errors = escalator_core::config::load(&text).unwrap_err();
        let took = start.elapsed();
        assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
        assert!(
            errors.iter().any(|e| e.message.contains("aliases")),
            "{:?}",
            &errors[..1]
        );
    }
}
