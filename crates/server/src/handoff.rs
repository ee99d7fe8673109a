//! Hand-off notices: a user with `handoff_notice: true` is told on every
//! contact method (webhook, email, Slack, Teams, SMS, voice: the same
//! channels and breakers as pages) when one of their shifts starts. The notice is claimed in
//! the database first, so one node sends it once; it is informational, so a
//! send that fails is logged, not retried (pages go through the outbox).

use crate::SharedCatalog;
use crate::channels::ChannelCache;
use escalator_notify::{Dispatch, Page, Recipient, SendResult, handoff_body};
use escalator_store::Store;
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;
use std::time::Duration;

/// A shift that started longer ago than this gets no notice (after downtime, say).
const LOOKBACK: SignedDuration = SignedDuration::from_mins(10);
/// How far ahead to look for the next shift start to sleep until.
const HORIZON: SignedDuration = SignedDuration::from_hours(24);
/// Longest sleep: picks up overrides and configuration changes made meanwhile.
const MAX_IDLE: Duration = Duration::from_secs(60);

pub struct Handoffs {
    store: Store,
    catalog: SharedCatalog,
    channels: Arc<ChannelCache>,
    public_url: String,
}

impl Handoffs {
    pub fn new(
        store: Store,
        catalog: SharedCatalog,
        channels: Arc<ChannelCache>,
        public_url: String,
    ) -> Self {
        Self {
            store,
            catalog,
            channels,
            public_url,
        }
    }

    pub async fn run(self) {
        loop {
            let next = match self.send_due().await {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!("hand-off notices: {e}");
                    None
                }
            };
            let sleep = next
                .map(|t| {
                    Duration::from_millis(
                        t.duration_since(Timestamp::now()).as_millis().max(0) as u64
                    )
                })
                .unwrap_or(MAX_IDLE)
                .min(MAX_IDLE);
            tokio::time::sleep(sleep).await;
        }
    }

    /// Sends the notices for shifts that started within [`LOOKBACK`]; returns
    /// when the next shift of someone who wants a notice starts.
    async fn send_due(&self) -> Result<Option<Timestamp>, escalator_store::StoreError> {
        let catalog = self
            .catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let now = Timestamp::now();
        let from = now - LOOKBACK;
        let mut next: Option<Timestamp> = None;
        for schedule in catalog.schedules() {
            // A shift clipped at `from` did not start there: only starts after it count.
            for shift in schedule.shifts(from, now + HORIZON) {
                let Some(user) = catalog.user(&shift.user).filter(|u| u.handoff_notice) else {
                    continue;
                };
                if shift.start <= from {
                    continue;
                }
                if shift.start > now {
                    next = Some(next.map_or(shift.start, |n| n.min(shift.start)));
                    continue;
                }
                if !self
                    .store
                    .claim_handoff_notice(&schedule.id, &user.id, shift.start, now)
                    .await?
                {
                    continue;
                }
                let source = serde_json::to_value(&shift.source).unwrap_or_default();
                for cm in &user.contact_methods {
                    let key = format!(
                        "handoff-{}-{}-{}-{}",
                        schedule.id,
                        user.id,
                        shift.start.as_second(),
                        cm.id
                    );
                    let to = Recipient {
                        user: user.id.as_str(),
                        contact_method: cm.id.as_str(),
                        level: 0,
                        round: 0,
                    };
                    let body = handoff_body(
                        schedule.id.as_str(),
                        &to,
                        (shift.start, shift.end),
                        &source,
                        &key,
                        now,
                    );
                    let address = match escalator_core::config::resolve_address(cm.kind.address()) {
                        Ok(address) => address,
                        Err(e) => {
                            tracing::warn!(schedule = %schedule.id, user = %user.id, "hand-off notice not sent: the address of {}: {e}", cm.id);
                            continue;
                        }
                    };
                    let title = format!("On call: {}", schedule.id);
                    let text = format!(
                        "Your shift on {} starts now ({} to {}).",
                        schedule.id, shift.start, shift.end
                    );
                    let url = format!(
                        "{}/api/v1/schedules/{}/oncall",
                        self.public_url, schedule.id
                    );
                    let page = Page::notice(&to, address, key, &title, &text, &url)
                        .with_webhook_body(body.to_string().into_bytes());
                    let channels = self.channels.for_catalog(&catalog);
                    match channels.send(cm.kind.type_name(), &page, now).await {
                        Dispatch::Done(SendResult::Delivered { .. }) => {
                            tracing::info!(schedule = %schedule.id, user = %user.id, contact_method = %cm.id, "hand-off notice sent")
                        }
                        Dispatch::Done(
                            SendResult::Transient { error } | SendResult::Permanent { error },
                        ) => {
                            tracing::warn!(schedule = %schedule.id, user = %user.id, contact_method = %cm.id, "hand-off notice not delivered: {error}")
                        }
                        Dispatch::Held(held) => {
                            tracing::warn!(schedule = %schedule.id, user = %user.id, contact_method = %cm.id, breaker = %held.breaker, "hand-off notice not sent: circuit open")
                        }
                    }
                }
            }
        }
        Ok(next)
    }
}
