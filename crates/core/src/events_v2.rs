//! The PagerDuty Events API v2 event, parsed and checked at the edge. Unknown
//! fields are ignored, as PagerDuty does; every problem found is reported.

use crate::ids::{DedupKey, RoutingKey};
use serde_json::Value;

/// Largest accepted request body, as PagerDuty documents.
pub const MAX_BODY_BYTES: usize = 512 * 1024;
/// PagerDuty truncates summaries to this many characters; so do we, for
/// every format, ending a cut one in `details::TRUNCATED`.
pub const MAX_SUMMARY_CHARS: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventAction {
    Trigger,
    Acknowledge,
    Resolve,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// The trigger payload: what happened, where, how bad.
#[derive(Clone, Debug, PartialEq)]
pub struct Payload {
    pub summary: String,
    pub source: String,
    pub severity: Severity,
    pub timestamp: Option<String>,
    pub component: Option<String>,
    pub group: Option<String>,
    pub class: Option<String>,
    pub custom_details: Option<Value>,
}

/// A checked event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub routing_key: RoutingKey,
    pub action: EventAction,
    /// Absent only on a trigger; the caller generates one then.
    pub dedup_key: Option<DedupKey>,
    /// Present exactly when `action` is `Trigger`.
    pub payload: Option<Payload>,
    pub client: Option<String>,
    pub client_url: Option<String>,
    /// `[{href, text}]`, kept as sent.
    pub links: Vec<Value>,
    /// `[{src, href, alt}]`, kept as sent.
    pub images: Vec<Value>,
}

/// Parses an Events API v2 body. On failure, every problem found, each naming its field.
pub fn parse(body: &Value) -> Result<Event, Vec<String>> {
    let mut errors = Vec::new();
    let Some(obj) = body.as_object() else {
        return Err(vec!["body must be a JSON object".into()]);
    };
    let string = |v: Option<&Value>, name: &str, errors: &mut Vec<String>| -> Option<String> {
        match v {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                errors.push(format!("'{name}' must be a string"));
                None
            }
        }
    };

    let routing_key = match string(obj.get("routing_key"), "routing_key", &mut errors) {
        // Absent or null (a value of another type was named by `string`).
        None if obj.get("routing_key").is_none_or(Value::is_null) => {
            errors.push("'routing_key' is missing".into());
            None
        }
        None => None,
        Some(k) => match RoutingKey::parse(&k) {
            Ok(k) => Some(k),
            Err(e) => {
                errors.push(format!("'routing_key' {e}"));
                None
            }
        },
    };

    let action = match string(obj.get("event_action"), "event_action", &mut errors).as_deref() {
        Some("trigger") => Some(EventAction::Trigger),
        Some("acknowledge") => Some(EventAction::Acknowledge),
        Some("resolve") => Some(EventAction::Resolve),
        Some(other) => {
            errors.push(format!(
                "'event_action' is {other:?}; expected one of: trigger, acknowledge, resolve"
            ));
            None
        }
        None => {
            errors.push("'event_action' is missing".into());
            None
        }
    };

    let dedup_key = match string(obj.get("dedup_key"), "dedup_key", &mut errors) {
        None => None,
        Some(k) => match DedupKey::parse(&k) {
            Ok(k) => Some(k),
            Err(e) => {
                errors.push(format!("'dedup_key' {e}"));
                None
            }
        },
    };
    if matches!(
        action,
        Some(EventAction::Acknowledge | EventAction::Resolve)
    ) && dedup_key.is_none()
        && obj.get("dedup_key").is_none_or(Value::is_null)
    {
        errors.push("'dedup_key' is required to acknowledge or resolve".into());
    }

    let payload = match action {
        Some(EventAction::Trigger) => parse_payload(obj.get("payload"), &mut errors),
        _ => None,
    };
    let client = string(obj.get("client"), "client", &mut errors);
    let client_url = string(obj.get("client_url"), "client_url", &mut errors);
    let links = objects(obj.get("links"), "links", "href", &mut errors);
    let images = objects(obj.get("images"), "images", "src", &mut errors);

    match (routing_key, action, errors.is_empty()) {
        (Some(routing_key), Some(action), true) => Ok(Event {
            routing_key,
            action,
            dedup_key,
            payload,
            client,
            client_url,
            links,
            images,
        }),
        _ => Err(errors),
    }
}

/// A list of objects that each carry a string `required` key (`links[].href`, `images[].src`).
fn objects(v: Option<&Value>, name: &str, required: &str, errors: &mut Vec<String>) -> Vec<Value> {
    let items = match v {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            errors.push(format!("'{name}' must be a list"));
            return Vec::new();
        }
    };
    for (i, item) in items.iter().enumerate() {
        if !item.get(required).is_some_and(Value::is_string) {
            errors.push(format!("'{name}[{i}].{required}' must be a string"));
        }
    }
    items.clone()
}

fn parse_payload(v: Option<&Value>, errors: &mut Vec<String>) -> Option<Payload> {
    let Some(obj) = v.and_then(Value::as_object) else {
        errors.push(match v {
            None | Some(Value::Null) => "'payload' is missing".into(),
            Some(_) => "'payload' must be an object".into(),
        });
        return None;
    };
    let mut required = |name: &str| -> Option<String> {
        match obj.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::String(_)) => {
                errors.push(format!("'payload.{name}' must not be empty"));
                None
            }
            None | Some(Value::Null) => {
                errors.push(format!("'payload.{name}' is missing"));
                None
            }
            Some(_) => {
                errors.push(format!("'payload.{name}' must be a string"));
                None
            }
        }
    };
    let summary = required("summary");
    let source = required("source");
    let severity = required("severity").and_then(|s| match s.as_str() {
        "critical" => Some(Severity::Critical),
        "error" => Some(Severity::Error),
        "warning" => Some(Severity::Warning),
        "info" => Some(Severity::Info),
        other => {
            errors.push(format!(
                "'payload.severity' is {other:?}; expected one of: critical, error, warning, info"
            ));
            None
        }
    });
    let optional = |name: &str, errors: &mut Vec<String>| match obj.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(format!("'payload.{name}' must be a string"));
            None
        }
    };
    // Kept as sent: senders use many ISO 8601 variants, and a page must never be
    // refused over the format of an informational field.
    let timestamp = optional("timestamp", errors);
    let component = optional("component", errors);
    let group = optional("group", errors);
    let class = optional("class", errors);
    let custom_details = obj.get("custom_details").filter(|v| !v.is_null()).cloned();
    Some(Payload {
        // Leading blanks go before the cut, so the title keeps its words.
        summary: crate::details::cap_chars(summary?.trim_start().to_owned(), MAX_SUMMARY_CHARS),
        source: source?,
        severity: severity?,
        timestamp,
        component,
        group,
        class,
        custom_details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_a_documented_trigger() {
        let e = parse(&json!({
            "routing_key": KEY, "event_action": "trigger", "dedup_key": "disk-1",
            "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical",
                        "custom_details": {"free": "0%"}},
            "some_future_field": true
        }))
        .unwrap();
        assert_eq!(e.action, EventAction::Trigger);
        assert_eq!(e.dedup_key.unwrap().as_str(), "disk-1");
        let p = e.payload.unwrap();
        assert_eq!(p.severity, Severity::Critical);
        assert_eq!(p.custom_details.unwrap()["free"], "0%");
    }

    #[test]
    fn reports_every_missing_trigger_field() {
        let errs = parse(&json!({"routing_key": KEY, "event_action": "trigger", "payload": {}}))
            .unwrap_err();
        assert_eq!(
            errs,
            vec![
                "'payload.summary' is missing",
                "'payload.source' is missing",
                "'payload.severity' is missing"
            ]
        );
    }

    #[test]
    fn refuses_a_bad_severity_and_action() {
        let errs = parse(&json!({"routing_key": KEY, "event_action": "explode"})).unwrap_err();
        assert!(
            errs[0].contains("'event_action' is \"explode\""),
            "{errs:?}"
        );
        let errs = parse(&json!({"routing_key": KEY, "event_action": "trigger",
            "payload": {"summary": "s", "source": "x", "severity": "fatal"}}))
        .unwrap_err();
        assert!(errs[0].contains("payload.severity"), "{errs:?}");
    }

    #[test]
    fn acknowledge_needs_a_dedup_key() {
        let errs = parse(&json!({"routing_key": KEY, "event_action": "acknowledge"})).unwrap_err();
        assert_eq!(
            errs,
            vec!["'dedup_key' is required to acknowledge or resolve"]
        );
    }

    #[test]
    fn truncates_long_summaries_like_pagerduty() {
        let e = parse(&json!({"routing_key": KEY, "event_action": "trigger",
            "payload": {"summary": "é".repeat(2000), "source": "x", "severity": "info"}}))
        .unwrap();
        let summary = e.payload.unwrap().summary;
        assert_eq!(summary.chars().count(), MAX_SUMMARY_CHARS);
        assert!(summary.ends_with(crate::details::TRUNCATED));
    }

    #[test]
    fn links_and_images_are_kept_and_checked() {
        let e = parse(&json!({"routing_key": KEY, "event_action": "trigger",
            "links": [{"href": "https://grafana/d/1", "text": "dashboard"}],
            "images": [{"src": "https://img/1.png"}],
            "payload": {"summary": "s", "source": "x", "severity": "info"}}))
        .unwrap();
        assert_eq!(e.links[0]["text"], "dashboard");
        assert_eq!(e.images.len(), 1);
        let errs = parse(
            &json!({"routing_key": KEY, "event_action": "trigger", "links": [{"text": "no href"}],
            "payload": {"summary": "s", "source": "x", "severity": "info"}}),
        )
        .unwrap_err();
        assert_eq!(errs, vec!["'links[0].href' must be a string"]);
    }

    #[test]
    fn a_control_character_in_the_dedup_key_is_named() {
        let errs = parse(
            &json!({"routing_key": KEY, "event_action": "resolve", "dedup_key": "disk\u{0}1"}),
        )
        .unwrap_err();
        assert_eq!(
            errs,
            vec!["'dedup_key' must not contain control characters; found U+0000"]
        );
    }

    #[test]
    fn a_malformed_routing_key_is_named() {
        let errs =
            parse(&json!({"routing_key": "short", "event_action": "resolve", "dedup_key": "k"}))
                .unwrap_err();
        assert_eq!(errs, vec!["'routing_key' must be 32 letters or digits"]);
    }
}
