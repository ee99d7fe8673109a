//! Slack adapter: `chat.postMessage` with a Block Kit message whose buttons
//! (`ack`, `resolve`, `escalate`, `role:commander`) carry the incident id back to the server's
//! interactivity endpoint. Slack answers most failures with HTTP 200 and
//! `{"ok":false,"error":…}`, so the body decides, not the status.

use crate::channel::{http_client, is_transient_status, request_error, retry_after, truncate};
use crate::{Channel, Page, SendFuture, SendResult};
use serde_json::{Value, json};
use std::time::Duration;

/// Slack refuses section text longer than this.
const SECTION_TEXT_MAX: usize = 3000;

#[derive(Clone, Debug)]
pub struct SlackConfig {
    /// `https://slack.com/api` in production.
    pub api_url: String,
    /// A bot token (`xoxb-…`) with `chat:write`; never logged.
    pub bot_token: String,
    pub timeout: Duration,
}

impl SlackConfig {
    pub const DEFAULT_API_URL: &str = "https://slack.com/api";
}

#[derive(Clone)]
pub struct SlackChannel {
    client: reqwest::Client,
    endpoint: String,
    bot_token: String,
}

impl SlackChannel {
    pub fn new(config: SlackConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: http_client(config.timeout)?,
            endpoint: format!("{}/chat.postMessage", config.api_url.trim_end_matches('/')),
            bot_token: config.bot_token,
        })
    }

    async fn post(&self, page: &Page) -> SendResult {
        let request = self
            .client
            .post(&self.endpoint)
            .bearer_auth(&self.bot_token)
            .json(&slack_message(page));
        let resp = match request.send().await {
            Ok(resp) => resp,
            Err(e) => return request_error("Slack", &e),
        };
        let status = resp.status();
        if status.as_u16() == 429 {
            return rate_limited(retry_after(&resp));
        }
        if is_transient_status(status) {
            return SendResult::Transient {
                error: format!("Slack HTTP {}", status.as_u16()),
            };
        }
        let wait = retry_after(&resp);
        match resp.json::<Value>().await {
            Ok(body) => classify_reply(&body, wait),
            Err(_) if status.is_success() => SendResult::Transient {
                error: "Slack answered with a body that is not JSON".into(),
            },
            Err(_) => SendResult::Permanent {
                error: format!("Slack HTTP {}", status.as_u16()),
            },
        }
    }
}

impl Channel for SlackChannel {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn send<'a>(&'a self, page: &'a Page) -> SendFuture<'a> {
        Box::pin(self.post(page))
    }
}

/// The `chat.postMessage` body: `text` is the notification fallback, the
/// blocks are what people see. Both are mrkdwn, so user text is escaped.
pub fn slack_message(page: &Page) -> Value {
    let inc = &page.incident;
    let id = inc.id.to_string();
    let headline = if page.notice {
        format!("*<{}|{}>*", escape(&inc.url), escape(&inc.title))
    } else {
        format!(
            "*<{}|#{} {}>*",
            escape(&inc.url),
            inc.id,
            escape(&inc.title)
        )
    };
    let section = truncate(
        &format!("{headline}\n{}", escape(&page.text)),
        SECTION_TEXT_MAX,
    );
    let button = |label: &str, action: &str, style: Option<&str>| {
        let mut b = json!({
            "type": "button",
            "text": {"type": "plain_text", "text": label},
            "action_id": action,
            "value": id,
        });
        if let Some(style) = style {
            b["style"] = json!(style);
        }
        b
    };
    let mut blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": section}})];
    if !page.informational {
        blocks.push(json!({
            "type": "actions",
            "block_id": format!("incident:{id}"),
            "elements": [
                button("Acknowledge", "ack", Some("primary")),
                button("Resolve", "resolve", None),
                button("Escalate", "escalate", Some("danger")),
                button("Take command", "role:commander", None),
            ],
        }));
    }
    json!({
        "channel": page.address,
        "text": escape(&page.text),
        "blocks": blocks,
    })
}

/// Slack's mrkdwn control characters (`&`, `<`, `>`) in user text.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Errors a retry can cure; every other `error` is about the token, the
/// channel or the request and will fail the same way again.
const TRANSIENT_ERRORS: &[&str] = &[
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

fn classify_reply(body: &Value, retry_after: Option<u64>) -> SendResult {
    if body["ok"].as_bool() == Some(true) {
        let ts = body["ts"].as_str().unwrap_or("?");
        let channel = body["channel"].as_str().unwrap_or("?");
        return SendResult::Delivered {
            detail: format!("Slack ts={ts} channel={channel}"),
        };
    }
    let error = body["error"].as_str().unwrap_or("unknown_error");
    if matches!(error, "ratelimited" | "rate_limited") {
        rate_limited(retry_after)
    } else if TRANSIENT_ERRORS.contains(&error) {
        SendResult::Transient {
            error: format!("Slack error {error}"),
        }
    } else {
        SendResult::Permanent {
            error: format!("Slack error {error}"),
        }
    }
}

fn rate_limited(retry_after: Option<u64>) -> SendResult {
    SendResult::Transient {
        error: match retry_after {
            Some(secs) => format!("Slack rate limited; retry after {secs}s"),
            None => "Slack rate limited".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_errors_about_the_token_or_channel_are_permanent() {
        for e in [
            "channel_not_found",
            "invalid_auth",
            "not_authed",
            "account_inactive",
            "user_not_found",
            "is_archived",
            "not_in_channel",
            "invalid_blocks",
        ] {
            let r = classify_reply(&json!({"ok": false, "error": e}), None);
            assert!(matches!(r, SendResult::Permanent { .. }), "{e}: {r:?}");
        }
    }

    #[test]
    fn slack_rate_limits_and_outages_are_transient() {
        for e in [
            "ratelimited",
            "internal_error",
            "fatal_error",
            "service_unavailable",
        ] {
            let r = classify_reply(&json!({"ok": false, "error": e}), None);
            assert!(matches!(r, SendResult::Transient { .. }), "{e}: {r:?}");
        }
    }

    #[test]
    fn mrkdwn_control_characters_are_escaped() {
        assert_eq!(escape("a<b>&c"), "a&lt;b&gt;&amp;c");
    }
}
