//! Webhook adapter: POST the JSON body, signed with HMAC-SHA256, with an
//! `Idempotency-Key` header so receivers can drop re-sends after a crash.

use crate::{Message, SendResult};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

/// The `X-Escalator-Signature` value for `body`: `sha256=<hex>`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    secret: Vec<u8>,
}

impl WebhookSender {
    pub fn new(secret: Vec<u8>, timeout: Duration) -> Result<Self, reqwest::Error> {
        crate::install_crypto();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            // A redirect would re-send a signed page somewhere we were not told to.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Escalator/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, secret })
    }

    pub async fn send(&self, msg: &Message) -> SendResult {
        let request = self
            .client
            .post(&msg.address)
            .header("content-type", "application/json")
            .header("x-escalator-signature", sign(&self.secret, &msg.body))
            .header("idempotency-key", &msg.idempotency_key)
            .body(msg.body.clone());
        match request.send().await {
            Ok(resp) => classify(resp.status()),
            Err(e) if e.is_builder() => SendResult::Permanent {
                error: format!("bad webhook URL: {e}"),
            },
            Err(e) if e.is_timeout() => SendResult::Transient {
                error: "timed out".into(),
            },
            Err(e) => SendResult::Transient {
                error: format!("request failed: {}", root_cause(&e)),
            },
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn classify(status: reqwest::StatusCode) -> SendResult {
    let code = status.as_u16();
    if status.is_success() {
        SendResult::Delivered {
            detail: format!("HTTP {code}"),
        }
    } else if code == 408 || code == 429 || status.is_server_error() {
        SendResult::Transient {
            error: format!("HTTP {code}"),
        }
    } else {
        SendResult::Permanent {
            error: format!("HTTP {code}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_hmac() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn status_codes_are_classified_for_retry() {
        use reqwest::StatusCode as S;
        assert!(matches!(classify(S::OK), SendResult::Delivered { .. }));
        assert!(matches!(
            classify(S::ACCEPTED),
            SendResult::Delivered { .. }
        ));
        for s in [
            S::SERVICE_UNAVAILABLE,
            S::TOO_MANY_REQUESTS,
            S::REQUEST_TIMEOUT,
            S::BAD_GATEWAY,
        ] {
            assert!(matches!(classify(s), SendResult::Transient { .. }), "{s}");
        }
        for s in [S::NOT_FOUND, S::UNAUTHORIZED, S::GONE, S::MOVED_PERMANENTLY] {
            assert!(matches!(classify(s), SendResult::Permanent { .. }), "{s}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_receiver_is_transient() {
        let sender = WebhookSender::new(b"k".to_vec(), Duration::from_secs(2)).unwrap();
        // Port 9 on loopback: nothing listens, the connection is refused.
        let msg = Message {
            channel: "webhook".into(),
            address: "http://127.0.0.1:9/x".into(),
            idempotency_key: "k".into(),
            body: b"{}".to_vec(),
        };
        assert!(matches!(
            sender.send(&msg).await,
            SendResult::Transient { .. }
        ));
    }
}
