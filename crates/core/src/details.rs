//! An event's details as they are kept. Every format's details are capped at
//! the edge (each text, and the whole), so what one event costs to store is
//! bounded however the request was made; they are stored once, on the
//! incident, and the timeline and the audit chain refer to them by the
//! SHA-256 of the stored text. Cutting never drops an event: only its details
//! and summary are shortened, and each cut says so with [`TRUNCATED`].

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::borrow::Cow;

pub use crate::events_v2::MAX_SUMMARY_CHARS;

/// Longest text kept in details (a label or annotation value, a URL, any
/// string in `custom_details`), and longest key, in bytes.
pub const MAX_TEXT_BYTES: usize = 4 * 1024;
/// Largest details kept, as JSON text, in bytes.
pub const MAX_DETAILS_BYTES: usize = 64 * 1024;
/// Ends every text that was cut, and names what stands for cut list items
/// and fields.
pub const TRUNCATED: &str = "…[truncated]";
/// The field by which a record (timeline, audit) refers to its incident's
/// details: the SHA-256 of their stored text.
pub const REFERENCE: &str = "details_sha256";

/// Members smaller than this are not worth shrinking; they are dropped
/// instead when nothing else is left to shrink.
const SMALLEST_SHRUNK: usize = 64;

/// `text` in at most `max` bytes, cut on a character boundary and ending in
/// [`TRUNCATED`] when cut (just the marker when `max` leaves no room).
pub fn cap_text(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max.saturating_sub(TRUNCATED.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{TRUNCATED}", &text[..end]))
}

/// `text` in at most `max` characters, ending in [`TRUNCATED`] when cut (a
/// summary: PagerDuty counts characters).
pub fn cap_chars(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let keep = max.saturating_sub(TRUNCATED.chars().count());
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(TRUNCATED);
    out
}

/// Details with every text and key at most [`MAX_TEXT_BYTES`] and the whole
/// at most [`MAX_DETAILS_BYTES`] as JSON: the largest parts are shortened
/// first (texts cut, lists and objects keep their first items), so the
/// structure rules and templates read survives wherever it can.
pub fn cap(mut details: Value) -> Value {
    cap_texts(&mut details);
    shrink(&mut details, MAX_DETAILS_BYTES);
    details
}

fn json_len(v: &Value) -> usize {
    serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX)
}

fn cap_texts(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Cow::Owned(cut) = cap_text(s, MAX_TEXT_BYTES) {
                *s = cut;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(cap_texts),
        Value::Object(map) => {
            if map.keys().any(|k| k.len() > MAX_TEXT_BYTES) {
                let old = std::mem::take(map);
                for (k, v) in old {
                    map.insert(cap_text(&k, MAX_TEXT_BYTES).into_owned(), v);
                }
            }
            map.values_mut().for_each(cap_texts);
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Shortens `v` until its JSON text takes at most `budget` bytes (or as
/// close as a marker allows).
fn shrink(v: &mut Value, budget: usize) {
    let len = json_len(v);
    if len <= budget {
        return;
    }
    match v {
        Value::String(s) => {
            // Escapes make the JSON text longer than the string: cut again by the overshoot.
            let mut max = budget.saturating_sub(2);
            loop {
                let cut = cap_text(s, max).into_owned();
                let over = json_len(&Value::String(cut.clone())).saturating_sub(budget);
                if over == 0 || max == 0 {
                    *s = cut;
                    return;
                }
                max = max.saturating_sub(over);
            }
        }
        Value::Array(items) => {
            let total = items.len();
            let room = budget.saturating_sub(2 + TRUNCATED.len() + 32);
            let (mut used, mut keep) = (0, 0);
            for item in items.iter() {
                let l = json_len(item) + 1;
                if used + l > room {
                    break;
                }
                used += l;
                keep += 1;
            }
            items.truncate(keep);
            items.push(Value::String(format!(
                "{TRUNCATED} {} more items",
                total - keep
            )));
        }
        Value::Object(map) => shrink_object(map, len, budget),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Shrinks the largest members first, each by what is still over; drops the
/// last members (in key order) if that is not enough.
fn shrink_object(map: &mut Map<String, Value>, mut len: usize, budget: usize) {
    let mut sizes: Vec<(String, usize)> =
        map.iter().map(|(k, v)| (k.clone(), json_len(v))).collect();
    sizes.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    for (key, size) in sizes {
        if len <= budget || size < SMALLEST_SHRUNK {
            break;
        }
        let Some(member) = map.get_mut(&key) else {
            continue;
        };
        let target = size.saturating_sub(len - budget).max(SMALLEST_SHRUNK / 2);
        shrink(member, target);
        len = len - size + json_len(member).min(size);
    }
    if len <= budget {
        return;
    }
    let room = budget.saturating_sub(2 + TRUNCATED.len() + 32);
    let old = std::mem::take(map);
    let (total, mut used) = (old.len(), 0);
    for (k, v) in old {
        let l = json_len(&Value::String(k.clone())) + json_len(&v) + 2;
        if used + l > room {
            break;
        }
        used += l;
        map.insert(k, v);
    }
    let dropped = total - map.len();
    map.insert(
        TRUNCATED.to_owned(),
        Value::String(format!("{dropped} more fields")),
    );
}

/// An incident's details as stored: their JSON text, written once, and its
/// SHA-256, by which the timeline and the audit chain refer to them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDetails {
    text: String,
    sha256: String,
}

impl StoredDetails {
    pub fn new(details: &Value) -> Self {
        let text = details.to_string();
        let sha256 = sha256_hex(&text);
        Self { text, sha256 }
    }

    /// The JSON text kept on the incident.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// What a record carries instead of a copy: `{"details_sha256": …}`.
    pub fn reference(&self) -> Value {
        let mut map = Map::new();
        map.insert(REFERENCE.into(), self.sha256.clone().into());
        Value::Object(map)
    }
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The hash a record's detail refers to its incident's details by, if it does.
pub fn reference_in(detail: &Value) -> Option<&str> {
    detail.get(REFERENCE).and_then(Value::as_str)
}

/// A record's detail as it read before details were kept once: the
/// incident's details with the record's own facts over them.
pub fn expand(detail: &Value, details: &Value) -> Value {
    match (details, detail) {
        (Value::Object(details), Value::Object(own)) => {
            let mut out = details.clone();
            out.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
            Value::Object(out)
        }
        _ => detail.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn small_details_are_kept_as_they_are() {
        let d = json!({"source": "db-1", "labels": {"a": "b"}, "n": [1, 2, 3]});
        assert_eq!(cap(d.clone()), d);
    }

    #[test]
    fn a_long_text_is_cut_on_a_character_boundary_with_a_marker() {
        let long = "é".repeat(3000);
        let cut = cap_text(&long, 101);
        assert!(cut.len() <= 101 && cut.ends_with(TRUNCATED), "{cut}");
        let d = cap(json!({"labels": {"x": "y".repeat(400 * 1024)}}));
        let x = d["labels"]["x"].as_str().unwrap();
        assert_eq!(x.len(), MAX_TEXT_BYTES);
        assert!(x.ends_with(TRUNCATED));
    }

    #[test]
    fn summaries_are_counted_in_characters() {
        let s = cap_chars("é".repeat(2000), MAX_SUMMARY_CHARS);
        assert_eq!(s.chars().count(), MAX_SUMMARY_CHARS);
        assert!(s.ends_with(TRUNCATED));
        assert_eq!(cap_chars("short".into(), MAX_SUMMARY_CHARS), "short");
    }

    #[test]
    fn many_small_values_are_cut_to_the_total_keeping_the_structure() {
        let many: Vec<String> = (0..5000).map(|i| format!("{i:0>60}")).collect();
        let d = cap(json!({"source": "x", "custom_details": {"note": "kept", "many": many}}));
        assert!(json_len(&d) <= MAX_DETAILS_BYTES, "{}", json_len(&d));
        assert_eq!(d["source"], "x");
        assert_eq!(d["custom_details"]["note"], "kept");
        let kept = d["custom_details"]["many"].as_array().unwrap();
        assert!(kept.len() > 500, "{}", kept.len());
        assert!(
            kept.last()
                .unwrap()
                .as_str()
                .unwrap()
                .starts_with(TRUNCATED)
        );
    }

    #[test]
    fn many_small_fields_are_cut_to_the_total() {
        let fields: Map<String, Value> = (0..20_000)
            .map(|i| (format!("k{i:05}"), Value::from(i)))
            .collect();
        let d = cap(json!({"custom_details": fields}));
        assert!(json_len(&d) <= MAX_DETAILS_BYTES, "{}", json_len(&d));
        assert!(
            d["custom_details"][TRUNCATED]
                .as_str()
                .unwrap()
                .ends_with("more fields")
        );
        assert_eq!(d["custom_details"]["k00000"], 0);
    }

    #[test]
    fn escapes_count_against_the_total() {
        let fields: Map<String, Value> = (0..20)
            .map(|i| (format!("k{i}"), Value::from("\u{1}\"".repeat(3000))))
            .collect();
        let d = cap(Value::Object(fields));
        assert!(json_len(&d) <= MAX_DETAILS_BYTES, "{}", json_len(&d));
    }

    #[test]
    fn keys_are_capped_too() {
        let mut m = Map::new();
        m.insert("k".repeat(100_000), "v".into());
        let d = cap(Value::Object(m));
        assert!(
            d.as_object()
                .unwrap()
                .keys()
                .all(|k| k.len() <= MAX_TEXT_BYTES)
        );
    }

    #[test]
    fn a_record_refers_to_details_by_the_hash_of_their_text() {
        let d = json!({"source": "db-1", "custom_details": {"note": "n"}});
        let stored = StoredDetails::new(&d);
        assert_eq!(stored.sha256(), sha256_hex(stored.text()));
        let mut record = stored.reference();
        record["paged"] = json!([{"user": "alice"}]);
        record["source"] = "overridden by the record".into();
        assert_eq!(reference_in(&record), Some(stored.sha256()));
        let shown = expand(&record, &d);
        assert_eq!(shown["custom_details"]["note"], "n");
        assert_eq!(shown["source"], "overridden by the record");
        assert_eq!(shown["paged"][0]["user"], "alice");
    }
}
