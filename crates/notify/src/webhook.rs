//! Webhook adapter: POST the JSON body, signed with HMAC-SHA256, with an
//! `Idempotency-Key` header so receivers can drop re-sends after a crash.

use crate::channel::{classify_status, http_client, request_error};
use crate::{Channel, Page, SendFuture, SendResult};
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
        Ok(Self {
            client: http_client(timeout)?,
            secret,
        })
    }

    async fn post(&self, url: &str, idempotency_key: &str, body: &[u8]) -> SendResult {
        let request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-escalator-signature", sign(&self.secret, body))
            .header("idempotency-key", idempotency_key)
            .body(body.to_vec());
        match request.send().await {
            Ok(resp) => classify_status(resp.status()),
            Err(e) => request_error("webhook", &e),
        }
    }
}

impl Channel for WebhookSender {
    fn name(&self) -> &'static str {
        "webhook"
    }

    /// Each user's own receiver: keyed by its origin.
    fn breaker_key(&self, address: &str) -> String {
        crate::channel::origin_key(self.name(), address)
    }

    fn send<'a>(&'a self, page: &'a Page) -> SendFuture<'a> {
        Box::pin(self.post(&page.address, &page.idempotency_key, &page.webhook_body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::classify_status as classify;

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
        assert!(matches!(
            sender.post("http://127.0.0.1:9/x", "k", b"{}").await,
            SendResult::Transient { .. }
        ));
    }
}
