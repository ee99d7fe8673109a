//! JSON bodies from outside, parsed once into a `serde_json::Value`, with
//! the one rule serde_json leaves open: a key given twice in one object is
//! refused, named by its path. serde_json keeps the last, so `event_action`
//! sent as `trigger` and then `resolve` would be decided by the order of the
//! text, which no sender means (no JSON library we know of writes a key
//! twice). What the strings may contain is `core::text`'s business.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use std::fmt;

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("duplicate key '{path}'")]
    DuplicateKey { path: String },
    #[error("body is not valid JSON: {0}")]
    Syntax(String),
}

impl JsonError {
    /// The key at fault, as a path (`payload.summary`, `alerts[0].status`).
    pub fn field(&self) -> Option<&str> {
        match self {
            JsonError::DuplicateKey { path } => Some(path),
            JsonError::Syntax(_) => None,
        }
    }
}

/// Parses `bytes` as one JSON value, refusing a duplicated key anywhere in
/// it. One pass over the text, as `serde_json::from_slice` makes.
pub fn from_slice(bytes: &[u8]) -> Result<Value, JsonError> {
    let refused = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = Node {
        path: &Path::Root,
        refused: &refused,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match (parsed, refused.into_inner()) {
        (Ok(v), _) => Ok(v),
        (Err(_), Some(e)) => Err(e),
        (Err(e), None) => Err(JsonError::Syntax(e.to_string())),
    }
}

/// Where a value sits, built on the stack as the parser descends; turned into
/// text only for an error.
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, key) => write!(f, "{}", key.escape_debug()),
            Path::Key(parent, key) => write!(f, "{parent}.{}", key.escape_debug()),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

#[derive(Clone, Copy)]
struct Node<'a> {
    path: &'a Path<'a>,
    refused: &'a RefCell<Option<JsonError>>,
}

impl Node<'_> {
    /// Records why, and aborts the parse (serde needs an error of its own type).
    fn refuse<E: de::Error>(self, e: JsonError) -> E {
        let message = e.to_string();
        *self.refused.borrow_mut() = Some(e);
        E::custom(message)
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        loop {
            let path = Path::Index(self.path, items.len());
            let node = Node {
                path: &path,
                refused: self.refused,
            };
            match seq.next_element_seed(node)? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            match map.entry(key) {
                serde_json::map::Entry::Occupied(e) => {
                    let path = Path::Key(self.path, e.key()).to_string();
                    return Err(self.refuse(JsonError::DuplicateKey { path }));
                }
                serde_json::map::Entry::Vacant(e) => {
                    let path = Path::Key(self.path, e.key());
                    let value = access.next_value_seed(Node {
                        path: &path,
                        refused: self.refused,
                    })?;
                    e.insert(value);
                }
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn a_key_given_twice_is_refused_by_name() {
        let e = from_slice(br#"{"event_action":"trigger","event_action":"resolve"}"#).unwrap_err();
        assert_eq!(e.to_string(), "duplicate key 'event_action'");
        assert_eq!(e.field(), Some("event_action"));
    }

    #[test]
    fn a_nested_duplicate_is_named_by_its_path() {
        let e = from_slice(br#"{"alerts":[{"a":1},{"labels":{"x":1,"x":2}}]}"#).unwrap_err();
        assert_eq!(e.field(), Some("alerts[1].labels.x"));
    }

    #[test]
    fn the_same_key_in_different_objects_is_fine() {
        let v = from_slice(br#"{"a":{"k":1},"b":{"k":2},"c":[{"k":3},{"k":4}]}"#).unwrap();
        assert_eq!(v["c"][1]["k"], 4);
    }

    #[test]
    fn a_duplicated_key_is_shown_escaped() {
        let e = from_slice(br#"{"details":{"a\u0000b":1,"a\u0000b":2}}"#).unwrap_err();
        assert_eq!(e.to_string(), r"duplicate key 'details.a\0b'");
    }

    #[test]
    fn a_nul_is_left_to_the_text_rules() {
        let v = from_slice(br#"{"summary":"a\u0000b","a\u0000":1}"#).unwrap();
        assert_eq!(v["summary"], "a\0b");
        assert_eq!(v["a\0"], 1);
    }

    #[test]
    fn malformed_json_is_a_syntax_error() {
        assert!(matches!(from_slice(b"{"), Err(JsonError::Syntax(_))));
        assert!(matches!(from_slice(b"{} {}"), Err(JsonError::Syntax(_))));
        assert!(matches!(from_slice(b""), Err(JsonError::Syntax(_))));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = "[".repeat(100_000);
        assert!(matches!(
            from_slice(deep.as_bytes()),
            Err(JsonError::Syntax(_))
        ));
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let key = "[a-z\u{0}\u{e9}\u{202E} ]{0,6}";
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(key, inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn agrees_with_serde_json_on_bodies_without_duplicates(v in any_json()) {
            let text = serde_json::to_vec(&v).unwrap();
            prop_assert_eq!(from_slice(&text).unwrap(), v);
        }
    }
}
