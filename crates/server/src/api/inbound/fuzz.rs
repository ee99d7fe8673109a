//! Property-based fuzzing of what Slack and Twilio send us: form bodies,
//! incident numbers and both providers' signatures, with arbitrary and
//! mutated input. `PROPTEST_CASES` sets the cases (see `scripts/fuzz.sh`).

use super::signature::{
    SLACK_REPLAY_WINDOW_SECS, SignatureError, twilio_signature, verify_slack, verify_twilio,
};
use super::{Action, field, form, incident_number};
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use proptest::test_runner::Config;
use sha2::Sha256;

pub(super) fn config(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Header values as they may arrive: numbers at the limits, signs, spaces,
/// hex and base64 alphabets, junk.
fn header() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        Just(i64::MIN.to_string()),
        Just(i64::MAX.to_string()),
        Just("-0".to_owned()),
        Just(" 1700000000 ".to_owned()),
        "v0=[0-9a-f]{0,70}",
        "[A-Za-z0-9+/=]{0,40}",
        ".{0,40}",
    ])
}

fn slack_signature(secret: &[u8], ts: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(format!("v0:{ts}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec((".{0,12}", ".{0,24}"), 0..8)
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_form_body_is_read_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let params = form(&body);
        for (k, _) in &params {
            prop_assert!(field(&params, k).is_some());
        }
    }

    #[test]
    fn a_form_reads_back_what_was_encoded(params in pairs()) {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        prop_assert_eq!(form(body.as_bytes()), params);
    }

    #[test]
    fn incident_numbers_are_positive(text in prop_oneof![".{0,24}", "#?-?[0-9]{0,25}", " *#[0-9]{1,19} *"]) {
        if let Some(n) = incident_number(&text) {
            prop_assert!(n > 0);
        }
        let _ = Action::parse(&text);
    }

    #[test]
    fn slack_signatures_never_panic(
        secret in proptest::collection::vec(any::<u8>(), 0..80),
        ts in header(),
        sig in header(),
        body in proptest::collection::vec(any::<u8>(), 0..256),
        now in prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), Just(1_700_000_000i64)],
    ) {
        let got = verify_slack(&secret, ts.as_deref(), sig.as_deref(), &body, now);
        if got.is_ok() {
            let ts = ts.unwrap();
            prop_assert_eq!(sig.unwrap(), slack_signature(&secret, ts.trim(), &body));
        }
    }

    #[test]
    fn a_slack_request_verifies_exactly_when_unchanged(
        secret in proptest::collection::vec(any::<u8>(), 1..64),
        body in proptest::collection::vec(any::<u8>(), 0..256),
        now in 0i64..4_000_000_000,
        skew in -SLACK_REPLAY_WINDOW_SECS..=SLACK_REPLAY_WINDOW_SECS,
        flip in any::<(usize, u8)>(),
    ) {
        let ts = (now + skew).to_string();
        let sig = slack_signature(&secret, &ts, &body);
        prop_assert_eq!(verify_slack(&secret, Some(&ts), Some(&sig), &body, now), Ok(()));
        if !body.is_empty() {
            let mut changed = body.clone();
            let i = flip.0 % changed.len();
            changed[i] ^= flip.1.max(1);
            prop_assert_eq!(
                verify_slack(&secret, Some(&ts), Some(&sig), &changed, now),
                Err(SignatureError::Mismatch)
            );
        }
    }

    #[test]
    fn twilio_signatures_never_panic(
        token in proptest::collection::vec(any::<u8>(), 0..64),
        url in ".{0,64}",
        params in pairs(),
        sig in header(),
    ) {
        let _ = verify_twilio(&token, &url, &params, sig.as_deref());
    }

    #[test]
    fn a_twilio_request_verifies_in_any_order_and_not_when_changed(
        token in proptest::collection::vec(any::<u8>(), 1..64),
        url in "https://[a-z]{1,12}\\.example/[a-z/?=&]{0,24}",
        mut params in pairs(),
        extra in (".{1,8}", ".{0,8}"),
    ) {
        let sig = twilio_signature(&token, &url, &params);
        params.reverse();
        prop_assert_eq!(verify_twilio(&token, &url, &params, Some(&sig)), Ok(()));
        params.push(extra);
        prop_assert_eq!(
            verify_twilio(&token, &url, &params, Some(&sig)),
            Err(SignatureError::Mismatch)
        );
    }
}

/// Found by `slack_signatures_never_panic`: a timestamp of i64::MIN made
/// `now - ts` overflow (a panic with overflow checks, as in debug builds).
#[test]
fn a_timestamp_at_the_integer_limits_is_stale_not_a_panic() {
    let now = 1_700_000_000;
    for (ts, now) in [
        (i64::MIN, now),
        (i64::MAX, now),
        (now, i64::MIN),
        (i64::MIN, i64::MAX),
        (i64::MAX, i64::MIN),
    ] {
        let got = verify_slack(b"s", Some(&ts.to_string()), Some("v0=00"), b"", now);
        assert_eq!(got, Err(SignatureError::Stale), "ts {ts}, now {now}");
    }
}
