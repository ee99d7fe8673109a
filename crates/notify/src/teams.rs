//! Microsoft Teams adapter: posts an Adaptive Card to the contact method's
//! incoming-webhook or Workflows URL. Teams cannot call back into us from such
//! a card, so its buttons open the signed ack link and the incident page.

use crate::channel::{classify_status, http_client, request_error};
use crate::{Channel, Page, SendFuture, SendResult};
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Clone)]
pub struct TeamsChannel {
    client: reqwest::Client,
}

impl TeamsChannel {
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: http_client(timeout)?,
        })
    }

    async fn post(&self, page: &Page) -> SendResult {
        // The address is the webhook URL, which embeds its own secret: it never
        // appears in an error message.
        let request = self.client.post(&page.address).json(&teams_message(page));
        match request.send().await {
            Ok(resp) => match classify_status(resp.status()) {
                SendResult::Delivered { detail } => SendResult::Delivered {
                    detail: format!("Teams {detail}"),
                },
                SendResult::Transient { error } => SendResult::Transient {
                    error: format!("Teams {error}"),
                },
                SendResult::Permanent { error } => SendResult::Permanent {
                    error: format!("Teams {error}"),
                },
            },
            Err(e) => request_error("Teams", &e.without_url()),
        }
    }
}

impl Channel for TeamsChannel {
    fn name(&self) -> &'static str {
        "teams"
    }

    /// Each user's own receiver: keyed by its origin.
    fn breaker_key(&self, address: &str) -> String {
        crate::channel::origin_key(self.name(), address)
    }

    fn send<'a>(&'a self, page: &'a Page) -> SendFuture<'a> {
        Box::pin(self.post(page))
    }
}

/// A `message` activity with one Adaptive Card 1.4 attachment.
pub fn teams_message(page: &Page) -> Value {
    let inc = &page.incident;
    let mut facts = vec![
        json!({"title": "Service", "value": inc.service}),
        json!({"title": "Status", "value": inc.status}),
    ];
    if let Some(p) = &inc.priority {
        facts.push(json!({"title": "Priority", "value": p}));
    }
    facts.push(json!({"title": "Level", "value": format!("{} (round {})", inc.level, inc.round)}));
    let mut actions = Vec::new();
    if !page.informational {
        actions
            .push(json!({"type": "Action.OpenUrl", "title": "Acknowledge", "url": page.ack_url}));
    }
    let (heading, open) = if page.notice {
        (inc.title.clone(), "Open")
    } else {
        (format!("#{} {}", inc.id, inc.title), "Open incident")
    };
    actions.push(json!({"type": "Action.OpenUrl", "title": open, "url": inc.url}));
    let mut body = vec![
        json!({"type": "TextBlock", "text": heading, "size": "Large", "weight": "Bolder", "wrap": true}),
        json!({"type": "TextBlock", "text": page.text, "wrap": true}),
    ];
    if !page.notice {
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "type": "AdaptiveCard",
                "version": "1.4",
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "body": body,
                "actions": actions,
            },
        }],
    })
}
