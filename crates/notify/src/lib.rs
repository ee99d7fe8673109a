//! Delivery of notifications over channels: the message a recipient gets, the
//! adapters that send it (webhook, Slack, Teams, email, SMS, voice), how
//! failures are classified for retry, and a circuit breaker per destination.
//!
//! This crate sends; it never decides who to page or when (that is the
//! engine's) and never touches the database (the server settles outcomes).

mod breaker;
mod channel;
mod email;
mod message;
mod page;
mod set;
mod slack;
mod teams;
mod twilio;
mod webhook;

pub use breaker::{
    BreakerSettings, BreakerState, BreakerStatus, Breakers, CircuitBreaker, Held, TRIAL_WAIT,
};
pub use channel::{Channel, SendFuture};
pub use email::{EmailChannel, EmailConfig, EmailConfigError, email_body, email_message};
pub use message::{Recipient, handoff_body, webhook_body};
pub use page::{Page, PageIncident, default_subject, default_text};
pub use set::{ChannelSet, Dispatch};
pub use slack::{SlackChannel, SlackConfig, slack_message};
pub use teams::{TeamsChannel, teams_message};
pub use twilio::{SmsChannel, TwilioConfig, VoiceChannel, sms_body, voice_twiml, xml_escape};
pub use webhook::{WebhookSender, sign};

use std::time::Duration;

/// How one delivery attempt went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendResult {
    /// The receiver accepted it.
    Delivered { detail: String },
    /// Worth retrying: timeouts, connection errors, 408, 429, 5xx.
    Transient { error: String },
    /// Retrying cannot help: other 4xx, bad address, redirects.
    Permanent { error: String },
}

/// Makes ring the process's TLS provider (one provider across reqwest, sqlx and
/// the HTTPS listener). Safe to call more than once.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Attempts per notification before it is marked failed.
pub const MAX_ATTEMPTS: u32 = 8;

/// Wait before attempt `attempt + 1` after `attempt` failed: 1s, 2s, 4s… capped at 5 minutes.
pub fn backoff(attempt: u32) -> Duration {
    let secs = 1u64 << attempt.saturating_sub(1).min(16);
    Duration::from_secs(secs.min(300))
}

/// How long the retry schedule lasts from a page's first attempt to its
/// last: the sum of the waits between [`MAX_ATTEMPTS`] attempts (2 min 7 s).
/// A page held by an open circuit breaker waits at most this long before it
/// is given up and falls back, as it would have after its own attempts.
pub fn retry_span() -> Duration {
    (1..MAX_ATTEMPTS).map(backoff).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let secs: Vec<u64> = (1..=10).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
    }

    #[test]
    fn the_retry_schedule_spans_the_waits_between_eight_attempts() {
        assert_eq!(
            retry_span(),
            Duration::from_secs(1 + 2 + 4 + 8 + 16 + 32 + 64)
        );
    }
}
