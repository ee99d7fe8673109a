//! What text from outside may carry once it is in. Free text (summaries,
//! sources, labels, details) loses its control characters; a title also
//! loses the invisible formatting that could make it read as something else.
//! Identifiers are not cleaned here: they refuse control characters in their
//! own types (`ids`), because changing a key would change what it names.
//!
//! Why clean rather than refuse free text: a monitoring tool that puts a NUL
//! in a summary still has something to page about, and an answer of `400`
//! would lose the page. PostgreSQL cannot store a NUL in `TEXT` at all, and
//! control characters are never meant to be shown, so both databases get the
//! same text.

use serde_json::Value;
use std::borrow::Cow;

/// A control character (Unicode `Cc`: C0, DEL, C1) other than tab and line
/// feed, which free text may keep.
pub fn is_removed_control(c: char) -> bool {
    c.is_control() && c != '\t' && c != '\n'
}

/// Invisible formatting that changes how a title reads without being seen
/// itself: the bidirectional embeddings, overrides and isolates
/// (U+202A–U+202E, U+2066–U+2069) and marks (U+200E, U+200F, U+061C), the
/// zero-width space and joiners (U+200B–U+200D), the word joiner (U+2060)
/// and the zero-width no-break space or byte order mark (U+FEFF). With them,
/// `Invoice \u{202E}fdp.exe` shows as "Invoice exe.pdf".
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// Free text without its control characters (tab and line feed stay).
/// Borrows when there is nothing to remove, the usual case.
pub fn clean(s: &str) -> Cow<'_, str> {
    remove(s, is_removed_control)
}

/// What a title shows: free text without control characters and without
/// invisible formatting.
pub fn title(s: &str) -> Cow<'_, str> {
    remove(s, |c| is_removed_control(c) || is_invisible_format(c))
}

/// [`clean`] applied to every string of a JSON document, object keys
/// included: a detail's name identifies no alert, and refusing the event over
/// it would lose a page. Two keys that differ only in removed characters
/// become one; the first in the object's order is kept.
pub fn clean_json(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Cow::Owned(cleaned) = clean(s) {
                *s = cleaned;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(clean_json),
        Value::Object(map) => {
            if map.keys().any(|k| matches!(clean(k), Cow::Owned(_))) {
                let old = std::mem::take(map);
                for (k, v) in old {
                    map.entry(clean(&k).into_owned()).or_insert(v);
                }
            }
            map.values_mut().for_each(clean_json);
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn remove(s: &str, unwanted: impl Fn(char) -> bool) -> Cow<'_, str> {
    match s.char_indices().find(|&(_, c)| unwanted(c)) {
        None => Cow::Borrowed(s),
        Some((first, _)) => {
            let mut out = String::with_capacity(s.len());
            out.push_str(&s[..first]);
            out.extend(s[first..].chars().filter(|&c| !unwanted(c)));
            Cow::Owned(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn a_nul_and_other_control_characters_leave_free_text() {
        assert_eq!(
            clean("Disk\0 full\u{7}\r on db-1\u{1b}[0m\u{7f}\u{85}"),
            "Disk full on db-1[0m"
        );
    }

    #[test]
    fn tabs_and_line_feeds_stay_in_free_text() {
        assert_eq!(clean("a\tb\nc"), "a\tb\nc");
    }

    #[test]
    fn clean_text_is_borrowed_not_copied() {
        assert!(matches!(clean("Disk full on db-1"), Cow::Borrowed(_)));
        assert!(matches!(title("Disk full ✓ on db-1"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_right_to_left_override_cannot_spoof_a_title() {
        assert_eq!(title("Invoice \u{202E}fdp.exe\u{202C}"), "Invoice fdp.exe");
        assert_eq!(
            title("\u{FEFF}a\u{200B}b\u{200D}c\u{2060}d\u{2067}e\u{2069}\u{200F}"),
            "abcde"
        );
    }

    #[test]
    fn free_text_keeps_invisible_formatting() {
        // Only titles lose it: details stay as sent, control characters apart.
        assert_eq!(clean("a\u{202E}b"), "a\u{202E}b");
    }

    #[test]
    fn every_string_and_key_of_a_document_is_cleaned() {
        let mut v = json!({"a\0": "x\0", "n": [1, "y\u{1}", {"k": "z\0", "t": true}], "z": null});
        clean_json(&mut v);
        assert_eq!(
            v,
            json!({"a": "x", "n": [1, "y", {"k": "z", "t": true}], "z": null})
        );
    }

    #[test]
    fn keys_that_become_equal_keep_the_first() {
        let mut v = json!({"a": 1, "a\0": 2});
        clean_json(&mut v);
        assert_eq!(v, json!({"a": 1}));
    }

    /// Strings rich in the characters the rules are about.
    fn hostile_string() -> impl Strategy<Value = String> {
        let special = prop_oneof![
            Just('\0'),
            Just('\t'),
            Just('\n'),
            Just('\r'),
            Just('\u{7f}'),
            Just('\u{9b}'),
            Just('\u{202E}'),
            Just('\u{2066}'),
            Just('\u{200B}'),
            Just('\u{200D}'),
            Just('\u{FEFF}'),
            Just('\u{061C}'),
        ];
        prop::collection::vec(prop_oneof![any::<char>(), special, Just('a')], 0..40)
            .prop_map(|cs| cs.into_iter().collect())
    }

    fn hostile_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            hostile_string().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(hostile_string(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
            Value::Object(map) => {
                for (k, v) in map {
                    out.push(k.clone());
                    strings(v, out);
                }
            }
            _ => {}
        }
    }

    proptest! {
        #[test]
        fn clean_text_has_no_control_characters_and_keeps_everything_else(s in hostile_string()) {
            let cleaned = clean(&s);
            prop_assert!(!cleaned.chars().any(is_removed_control));
            let kept: String = s.chars().filter(|&c| !is_removed_control(c)).collect();
            prop_assert_eq!(cleaned.as_ref(), kept.as_str());
            prop_assert_eq!(clean(&cleaned), cleaned.clone());
        }

        #[test]
        fn a_title_has_no_control_or_invisible_characters(s in hostile_string()) {
            let t = title(&s);
            prop_assert!(!t.chars().any(|c| is_removed_control(c) || is_invisible_format(c)));
            prop_assert!(!t.contains('\0'));
            prop_assert_eq!(title(&t), t.clone());
            let cleaned_first = clean(&s);
            prop_assert_eq!(title(&cleaned_first), t.clone());
        }

        #[test]
        fn a_cleaned_document_has_no_control_characters_anywhere(v in hostile_json()) {
            let mut cleaned = v.clone();
            clean_json(&mut cleaned);
            let mut all = Vec::new();
            strings(&cleaned, &mut all);
            prop_assert!(all.iter().all(|s| !s.chars().any(is_removed_control)), "{:?}", all);
            let mut again = cleaned.clone();
            clean_json(&mut again);
            prop_assert_eq!(again, cleaned);
        }
    }
}
