//! Request signatures of the chat and telephony providers that call us back.
//! Pure functions over bytes and clocks handed in, compared in constant time
//! (`Mac::verify_slice`); they never look at the network or the wall clock.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// How far a Slack request's timestamp may be from now: Slack's own advice,
/// and what bounds a replayed request.
pub const SLACK_REPLAY_WINDOW_SECS: i64 = 5 * 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    #[error("the request timestamp is more than five minutes from now (replayed or delayed)")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:{ts}:{body}")>`
/// and that `X-Slack-Request-Timestamp` is within the replay window of `now_secs`.
pub fn verify_slack(
    signing_secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), SignatureError> {
    const TS: &str = "X-Slack-Request-Timestamp";
    const SIG: &str = "X-Slack-Signature";
    let timestamp = timestamp.ok_or(SignatureError::Missing(TS))?;
    let signature = signature.ok_or(SignatureError::Missing(SIG))?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Malformed(TS))?;
    // `abs_diff`: a timestamp at the integer limits must not overflow.
    if now_secs.abs_diff(ts) > SLACK_REPLAY_WINDOW_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let given = signature
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SignatureError::Malformed(SIG))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_secret).expect("any key length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

/// Twilio's signature, base64-encoded: HMAC-SHA1(auth_token, url + each POST
/// parameter, sorted by name, as name followed by value).
pub fn twilio_signature(auth_token: &[u8], url: &str, params: &[(String, String)]) -> String {
    let mac = twilio_mac(auth_token, url, params);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks `X-Twilio-Signature` for a request Twilio made to `url` (the full
/// URL as Twilio called it, query string included) with form `params`.
pub fn verify_twilio(
    auth_token: &[u8],
    url: &str,
    params: &[(String, String)],
    signature: Option<&str>,
) -> Result<(), SignatureError> {
    const SIG: &str = "X-Twilio-Signature";
    let signature = signature.ok_or(SignatureError::Missing(SIG))?;
    let given = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| SignatureError::Malformed(SIG))?;
    twilio_mac(auth_token, url, params)
        .verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

fn twilio_mac(auth_token: &[u8], url: &str, params: &[(String, String)]) -> Hmac<Sha1> {
    // Sorted by name, then value, for parameters that repeat.
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token).expect("any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of Slack's documentation on verifying requests.
    const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_TS: &str = "1531420618";
    const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SLACK_SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn slack(secret: &str, ts: &str, sig: &str, now: i64) -> Result<(), SignatureError> {
        verify_slack(
            secret.as_bytes(),
            Some(ts),
            Some(sig),
            SLACK_BODY.as_bytes(),
            now,
        )
    }

    #[test]
    fn slack_documented_example_verifies() {
        assert_eq!(
            slack(SLACK_SECRET, SLACK_TS, SLACK_SIG, 1531420618 + 10),
            Ok(())
        );
    }

    #[test]
    fn slack_signature_computed_independently_verifies() {
        let body = b"payload=%7B%22type%22%3A%22block_actions%22%7D";
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(b"v0:1700000000:");
        mac.update(body);
        let sig = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
        let ok = verify_slack(b"s3cret", Some("1700000000"), Some(&sig), body, 1700000000);
        assert_eq!(ok, Ok(()));
        let tampered = verify_slack(
            b"s3cret",
            Some("1700000000"),
            Some(&sig),
            b"payload=x",
            1700000000,
        );
        assert_eq!(tampered, Err(SignatureError::Mismatch));
    }

    #[test]
    fn slack_rejects_a_wrong_secret() {
        let got = slack("another-secret", SLACK_TS, SLACK_SIG, 1531420618);
        assert_eq!(got, Err(SignatureError::Mismatch));
    }

    #[test]
    fn slack_rejects_a_replayed_timestamp_even_with_a_valid_signature() {
        let later = 1531420618 + SLACK_REPLAY_WINDOW_SECS + 1;
        assert_eq!(
            slack(SLACK_SECRET, SLACK_TS, SLACK_SIG, later),
            Err(SignatureError::Stale)
        );
        let earlier = 1531420618 - SLACK_REPLAY_WINDOW_SECS - 1;
        assert_eq!(
            slack(SLACK_SECRET, SLACK_TS, SLACK_SIG, earlier),
            Err(SignatureError::Stale)
        );
        let edge = 1531420618 + SLACK_REPLAY_WINDOW_SECS;
        assert_eq!(slack(SLACK_SECRET, SLACK_TS, SLACK_SIG, edge), Ok(()));
    }

    #[test]
    fn slack_rejects_missing_and_malformed_headers() {
        let body = SLACK_BODY.as_bytes();
        let now = 1531420618;
        let secret = SLACK_SECRET.as_bytes();
        assert!(matches!(
            verify_slack(secret, None, Some(SLACK_SIG), body, now),
            Err(SignatureError::Missing(_))
        ));
        assert!(matches!(
            verify_slack(secret, Some(SLACK_TS), None, body, now),
            Err(SignatureError::Missing(_))
        ));
        assert!(matches!(
            verify_slack(secret, Some("soon"), Some(SLACK_SIG), body, now),
            Err(SignatureError::Malformed(_))
        ));
        let unprefixed = SLACK_SIG.trim_start_matches("v0=");
        assert!(matches!(
            verify_slack(secret, Some(SLACK_TS), Some(unprefixed), body, now),
            Err(SignatureError::Malformed(_))
        ));
    }

    fn twilio_example() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .into_iter()
        .rev() // the order on the wire does not matter
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    const TWILIO_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    #[test]
    fn twilio_documented_example_verifies() {
        let got = verify_twilio(
            b"12345",
            TWILIO_URL,
            &twilio_example(),
            Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
        );
        assert_eq!(got, Ok(()));
    }

    #[test]
    fn twilio_signature_computed_independently_verifies() {
        let mut mac = Hmac::<Sha1>::new_from_slice(b"tok").unwrap();
        mac.update(
            b"https://esc.example/api/v1/integrations/twilio/smsBodyack 12From+4915112345678",
        );
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let params = vec![
            ("From".to_owned(), "+4915112345678".to_owned()),
            ("Body".to_owned(), "ack 12".to_owned()),
        ];
        let url = "https://esc.example/api/v1/integrations/twilio/sms";
        assert_eq!(verify_twilio(b"tok", url, &params, Some(&sig)), Ok(()));
        assert_eq!(twilio_signature(b"tok", url, &params), sig);
        // Another URL (here: without the query string Twilio called) does not verify.
        let other = verify_twilio(b"tok", &format!("{url}?x=1"), &params, Some(&sig));
        assert_eq!(other, Err(SignatureError::Mismatch));
    }

    #[test]
    fn twilio_rejects_a_wrong_token_a_changed_parameter_and_garbage() {
        let sig = Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert_eq!(
            verify_twilio(b"54321", TWILIO_URL, &twilio_example(), sig),
            Err(SignatureError::Mismatch)
        );
        let mut changed = twilio_example();
        changed[0].1 = "+18005551213".to_owned();
        assert_eq!(
            verify_twilio(b"12345", TWILIO_URL, &changed, sig),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            verify_twilio(b"12345", TWILIO_URL, &twilio_example(), Some("%%%")),
            Err(SignatureError::Malformed(_))
        ));
        assert!(matches!(
            verify_twilio(b"12345", TWILIO_URL, &twilio_example(), None),
            Err(SignatureError::Missing(_))
        ));
    }
}
