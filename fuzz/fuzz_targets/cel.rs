//! A CEL condition and the JSON it reads: the text before the first NUL is
//! the expression, the rest the event (and, as `body`, a webhook body).
#![no_main]

use escalator_core::rules::{RuleSpec, Then, compile, compile_expression};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (expr, rest) = text.split_once('\0').unwrap_or((text, "{}"));
    let event: Value = serde_json::from_str(rest).unwrap_or_else(|_| json!({"summary": rest}));
    let spec = RuleSpec {
        id: "fuzz".into(),
        exception: false,
        when: expr.to_owned(),
        then: Then::default(),
        owner: None,
        review_by: None,
    };
    if let Ok(rules) = compile(&[spec]) {
        let now = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let _ = rules.evaluate(&event, &json!({"id": "api", "tier": 1}), now);
    }
    if let Ok(mapping) = compile_expression(expr) {
        let _ = mapping.eval_string(&[("body", &event)]);
    }
});
