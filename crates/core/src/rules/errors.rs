//! Run-time CEL errors as recorded on an incident: several of cel-rust's
//! messages print the values involved with Rust's debug formatting
//! (`Float(15.0)`, `String("a lot")`); this says them as CEL would write them.

use cel::{ExecutionError, Value};

/// The message for `error`, with no debug output of a CEL value in it.
pub(super) fn readable(error: &ExecutionError) -> String {
    match error {
        ExecutionError::ValuesNotComparable(a, b) => {
            format!("{} cannot be compared with {}", describe(a), describe(b))
        }
        ExecutionError::UnsupportedBinaryOperator(op, a, b) => {
            format!(
                "`{}` does not apply to {} and {}",
                symbol(op),
                describe(a),
                describe(b)
            )
        }
        ExecutionError::Overflow(op, a, b) => {
            format!("{} {} {} overflows", describe(a), symbol(op), describe(b))
        }
        ExecutionError::DivisionByZero(a) => format!("{} divided by zero", describe(a)),
        ExecutionError::RemainderByZero(a) => format!("remainder of {} by zero", describe(a)),
        ExecutionError::UnsupportedIndex(index, of) => {
            format!(
                "{} cannot be indexed with {}",
                describe(of),
                describe(index)
            )
        }
        ExecutionError::UnsupportedKeyType(key) => {
            format!("{} cannot be a map key", describe(key))
        }
        ExecutionError::IndexOutOfBounds(index) => {
            format!("index {} is out of bounds", describe(index))
        }
        ExecutionError::DuplicateKey(key) => format!("the map repeats the key {}", describe(key)),
        ExecutionError::UnsupportedTargetType { target } => {
            format!("a method cannot be called on {}", describe(target))
        }
        ExecutionError::NotSupportedAsMethod { method, target } => {
            format!("`{method}` is not a method of {}", describe(target))
        }
        ExecutionError::InternalError(message) => format!("internal error: {message}"),
        other => other.to_string(),
    }
}

/// `add` as `+`: how cel-rust names its operators in these errors.
fn symbol(op: &str) -> &str {
    match op {
        "add" => "+",
        "sub" => "-",
        "mul" => "*",
        "div" => "/",
        "rem" => "%",
        other => other,
    }
}

/// A value as a person reads it: a short literal, or its kind.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => format!("{u}u"),
        Value::Float(f) => format!("{f:?}"),
        Value::String(s) => {
            const SHOWN: usize = 40;
            let mut shown: String = s.chars().take(SHOWN).collect();
            if s.chars().count() > SHOWN {
                shown.push('…');
            }
            format!("the string {}", serde_json::Value::String(shown))
        }
        Value::Bytes(_) => "bytes".to_owned(),
        Value::List(l) => format!("a list of {}", l.len()),
        Value::Map(_) => "a map".to_owned(),
        Value::Function(name, _) => format!("the function {name}"),
        _ => "a value".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::compile_expression;
    use serde_json::json;

    #[test]
    fn run_time_errors_name_values_as_cel_writes_them() {
        let event = json!({"list": [1, 2], "n": 5});
        for (expr, expected) in [
            ("1 / 0", "1 divided by zero"),
            ("1 % 0", "remainder of 1 by zero"),
            (
                "9223372036854775807 + 1 > 0",
                "9223372036854775807 + 1 overflows",
            ),
            (
                r#""a" + event.n == "a5""#,
                r#"`+` does not apply to the string "a" and 5.0"#,
            ),
            (
                "event.list[1.5] == 1",
                "a list of 2 cannot be indexed with 1.5",
            ),
            ("{1: 2, 1: 3}.size() > 0", "the map repeats the key 1"),
        ] {
            let e = compile_expression(expr).expect("compiles");
            let err = e.eval_bool(&[("event", &event)]).unwrap_err();
            assert_eq!(err, expected, "{expr}");
        }
    }
}
