//! An Events API v2 body, from bytes as the server reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = escalator_core::events_v2::parse(&body);
    }
});
