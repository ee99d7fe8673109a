//! The one interface every channel adapter implements, and the shared HTTP
//! plumbing (client settings, status classification) the HTTP adapters use.

use crate::{Page, SendResult};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// What [`Channel::send`] returns: boxed so the trait stays dyn-compatible.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = SendResult> + Send + 'a>>;

/// A way to reach a person. The server holds one `Arc<dyn Channel>` per
/// channel name; an adapter sends one page per call and never retries itself
/// (the notifier owns retries, backoff and fallback).
pub trait Channel: Send + Sync {
    /// `webhook`, `slack`, `teams`, `email`, `sms` or `voice`: the name contact
    /// methods use in configuration.
    fn name(&self) -> &'static str;
    /// Which circuit breaker guards sends to `address`. By default the
    /// channel's own: one provider (an SMTP relay, Slack's API) carries every
    /// page, so when it is down it is down for everyone. Channels whose
    /// addresses are each user's own receiver key by that receiver, so one
    /// user's dead webhook never holds another user's page.
    fn breaker_key(&self, address: &str) -> String {
        let _ = address;
        self.name().to_owned()
    }
    fn send<'a>(&'a self, page: &'a Page) -> SendFuture<'a>;
}

/// The HTTP client every HTTP adapter uses: bounded time, no redirects (a
/// redirect would re-send a page, with its credentials, somewhere we were not told to).
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    crate::install_crypto();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Escalator/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The breaker key of a channel whose address is a URL of the user's own:
/// the channel and the URL's scheme, host and port (never its path or query,
/// which may carry a secret). An address that is no URL gets a key of its own.
pub(crate) fn origin_key(channel: &str, address: &str) -> String {
    match reqwest::Url::parse(address) {
        Ok(url) => format!(
            "{channel} {}://{}:{}",
            url.scheme(),
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        ),
        Err(_) => format!("{channel} (invalid address)"),
    }
}

/// A request that got no HTTP answer: a bad URL cannot improve, anything else may.
pub(crate) fn request_error(what: &str, e: &reqwest::Error) -> SendResult {
    if e.is_builder() {
        SendResult::Permanent {
            error: format!("bad {what} URL: {}", root_cause(e)),
        }
    } else if e.is_timeout() {
        SendResult::Transient {
            error: format!("{what}: timed out"),
        }
    } else {
        SendResult::Transient {
            error: format!("{what}: request failed: {}", root_cause(e)),
        }
    }
}

pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Whether an HTTP status is worth retrying: 408, 429 and 5xx.
pub(crate) fn is_transient_status(status: reqwest::StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429) || status.is_server_error()
}

/// The plain classification: 2xx delivered, 408/429/5xx transient, the rest permanent.
pub(crate) fn classify_status(status: reqwest::StatusCode) -> SendResult {
    let code = status.as_u16();
    if status.is_success() {
        SendResult::Delivered {
            detail: format!("HTTP {code}"),
        }
    } else if is_transient_status(status) {
        SendResult::Transient {
            error: format!("HTTP {code}"),
        }
    } else {
        SendResult::Permanent {
            error: format!("HTTP {code}"),
        }
    }
}

/// The `Retry-After` header in seconds, when the receiver sent one.
pub(crate) fn retry_after(resp: &reqwest::Response) -> Option<u64> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Cuts `s` to at most `max` characters, marking the cut with an ellipsis.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::origin_key;

    #[test]
    fn an_origin_key_keeps_scheme_host_and_port_and_drops_the_rest() {
        assert_eq!(
            origin_key("webhook", "https://hooks.example.com/x?token=s3cret"),
            "webhook https://hooks.example.com:443"
        );
        assert_eq!(
            origin_key("webhook", "http://127.0.0.1:9000/a"),
            "webhook http://127.0.0.1:9000"
        );
        assert_eq!(
            origin_key("teams", "https://corp.webhook.office.com/webhookb2/abc"),
            "teams https://corp.webhook.office.com:443"
        );
        assert_eq!(
            origin_key("webhook", "not a url"),
            "webhook (invalid address)"
        );
    }
}
