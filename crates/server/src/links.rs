//! Signed, expiring acknowledgement links: a `POST` on one acknowledges an
//! incident as the user it was sent to, no login needed; a `GET` only shows
//! what a `POST` would do (`api::ack`), since scanners fetch every link.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use escalator_core::ids::IncidentId;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;

/// Where a person opens incident `id` (its API resource).
pub fn incident_url(public_url: &str, id: IncidentId) -> String {
    format!("{public_url}/api/v1/incidents/{id}")
}

/// How long an acknowledgement link stays valid.
pub const LINK_LIFETIME: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link's signature is not valid")]
    BadSignature,
    #[error("the link expired at {0}")]
    Expired(Timestamp),
}

/// Who a valid link acknowledges as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckClaim {
    pub incident: i64,
    pub user: String,
}

impl LinkSigner {
    pub fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"ack:");
        mac.update(payload);
        mac
    }

    /// A token acknowledging `incident` as `user`, valid until `expires`.
    pub fn sign(&self, incident: i64, user: &str, expires: Timestamp) -> String {
        // User ids cannot contain ':' (they are slugs), so the payload splits unambiguously.
        let payload = format!("{incident}:{user}:{}", expires.as_second());
        let sig = self.mac(payload.as_bytes()).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    pub fn verify(&self, token: &str, now: Timestamp) -> Result<AckClaim, LinkError> {
        let (payload, sig) = token.split_once('.').ok_or(LinkError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| LinkError::Malformed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| LinkError::Malformed)?;
        self.mac(&payload)
            .verify_slice(&sig)
            .map_err(|_| LinkError::BadSignature)?;
        let payload = String::from_utf8(payload).map_err(|_| LinkError::Malformed)?;
        let mut parts = payload.splitn(3, ':');
        let (Some(incident), Some(user), Some(expires)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(LinkError::Malformed);
        };
        let incident: i64 = incident.parse().map_err(|_| LinkError::Malformed)?;
        let expires: i64 = expires.parse().map_err(|_| LinkError::Malformed)?;
        let expires = Timestamp::from_second(expires).map_err(|_| LinkError::Malformed)?;
        if now > expires {
            return Err(LinkError::Expired(expires));
        }
        Ok(AckClaim {
            incident,
            user: user.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let s = LinkSigner::new(b"secret".to_vec());
        let token = s.sign(42, "alice", t("2026-11-30T00:00:00Z"));
        let claim = s.verify(&token, t("2026-11-29T12:00:00Z")).unwrap();
        assert_eq!(
            claim,
            AckClaim {
                incident: 42,
                user: "alice".into()
            }
        );
        assert!(matches!(
            s.verify(&token, t("2026-11-30T00:00:01Z")),
            Err(LinkError::Expired(_))
        ));
    }

    #[test]
    fn a_tampered_or_foreign_link_is_refused() {
        let s = LinkSigner::new(b"secret".to_vec());
        let token = s.sign(42, "alice", t("2026-11-30T00:00:00Z"));
        let forged_payload = URL_SAFE_NO_PAD.encode("43:alice:1796000000");
        let forged = format!("{forged_payload}.{}", token.split_once('.').unwrap().1);
        assert_eq!(
            s.verify(&forged, t("2026-11-29T00:00:00Z")),
            Err(LinkError::BadSignature)
        );
        let other = LinkSigner::new(b"other".to_vec());
        assert_eq!(
            other.verify(&token, t("2026-11-29T00:00:00Z")),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            s.verify("garbage", t("2026-11-29T00:00:00Z")),
            Err(LinkError::Malformed)
        );
    }
}
