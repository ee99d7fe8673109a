//! The notifier drains the outbox: it claims due notifications (marking them
//! `sending` under a lease), sends each through its channel, and settles the
//! outcome — sent, retry later with backoff, failed, or cancelled when the
//! incident no longer needs it. Each attempt lands on the incident timeline.

use crate::channels::ChannelCache;
use crate::links::{LINK_LIFETIME, LinkSigner, incident_url};
use crate::runner::{Done, RunnerHandle, Work, sleep_until};
use crate::state::SharedCatalog;
use escalator_core::config::{Urgency, default_min_interval, resolve_address};
use escalator_core::directory::Catalog;
use escalator_core::engine::{Incident, Status};
use escalator_core::ids::IncidentId;
use escalator_core::templates::{Audience, Facts, default_template, for_audience, render};
use escalator_notify::{
    ChannelSet, Dispatch, Held, MAX_ATTEMPTS, Page, PageIncident, Recipient, SendResult, backoff,
    retry_span, webhook_body,
};
use escalator_store::{IncidentRow, OutboxItem, Outcome, Store, StoreError};
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// How long a claimed notification stays ours before another sender may take it:
/// longer than a send can take (10 s timeout), short enough that a page cut off
/// by a crashed node goes out again soon.
const LEASE: SignedDuration = SignedDuration::from_secs(20);
/// Most notifications in flight at once.
const CLAIM_BATCH: u32 = 256;
/// After a claim that did not fill a batch, how long to let new pages gather
/// before claiming again: under a stream of incidents this turns hundreds of
/// small claims a second into a few large ones, at a cost of at most this much
/// delay to a page.
const CLAIM_PACE: Duration = Duration::from_millis(20);
/// Once a send finishes, how long to wait for others before settling them all
/// in one transaction. Each transaction is a turn at the database's single
/// writer (SQLite) and a disk flush, which a storm of pages would otherwise
/// take from incoming events; a crash inside the window only means those
/// pages go out again, with the same idempotency key, when their lease ends.
const SETTLE_WINDOW: Duration = Duration::from_millis(20);

pub struct Notifier {
    store: Store,
    /// Claims and settlements are written by the runner, in its batches: one
    /// writer and one disk flush for events and pages alike.
    runner: RunnerHandle,
    /// The configuration in force: which channels exist and how to reach them.
    catalog: SharedCatalog,
    /// The adapters for the configuration in force (shared with hand-offs).
    channels: Arc<ChannelCache>,
    links: LinkSigner,
    public_url: String,
    wake: Arc<Notify>,
}

impl Notifier {
    /// A notifier for the node whose shared parts are in `app`.
    pub fn new(app: &crate::AppState, channels: Arc<ChannelCache>, wake: Arc<Notify>) -> Self {
        Self {
            store: app.store.clone(),
            runner: app.runner.clone(),
            catalog: app.catalog.clone(),
            channels,
            links: app.links.clone(),
            public_url: app.public_url.clone(),
            wake,
        }
    }

    pub async fn run(self) {
        let this = Arc::new(self);
        loop {
            match this.clone().drain_once().await {
                Ok(0) => {}
                Ok(n) if n == CLAIM_BATCH as usize => continue,
                Ok(_) => {
                    tokio::time::sleep(CLAIM_PACE).await;
                    continue;
                }
                Err(e) => {
                    tracing::error!("notifier: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
            let sleep = sleep_until(
                this.store.next_notification_due().await,
                "next notification due",
            );
            if sleep.is_zero() {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = this.wake.notified() => {}
            }
        }
    }

    /// Claims one batch and sends it; returns how many were claimed. Outcomes are
    /// settled in groups, one transaction for all the sends that finished together.
    async fn drain_once(self: Arc<Self>) -> Result<usize, StoreError> {
        let claim = Work::Claim {
            lease: LEASE,
            limit: CLAIM_BATCH,
        };
        let items = match self.runner.submit(claim).await {
            Ok(Done::Claimed(items)) => items,
            Ok(other) => return Err(StoreError::Corrupt(format!("claim answered {other:?}"))),
            Err(e) => return Err(StoreError::Corrupt(format!("claim: {e}"))),
        };
        let n = items.len();
        if n == 0 {
            return Ok(0);
        }
        let ids: Vec<IncidentId> = items.iter().map(|i| IncidentId(i.incident_id)).collect();
        let incidents: HashMap<i64, IncidentRow> = self
            .store
            .incidents_by_id(&ids)
            .await?
            .into_iter()
            .map(|r| (r.incident.id.0, r))
            .collect();
        let incidents = Arc::new(incidents);
        let urgency = |item: &OutboxItem| {
            incidents
                .get(&item.incident_id)
                .map(|i| Urgency::of(i.incident.priority))
        };
        let mut sends = JoinSet::new();
        let mut held = Vec::new();
        // Pages to phones go by number, one message per number per interval.
        let mut by_number: BTreeMap<(String, String), Vec<OutboxItem>> = BTreeMap::new();
        for item in items {
            let triggered = incidents
                .get(&item.incident_id)
                .is_some_and(|r| r.incident.status == Status::Triggered);
            // Stakeholder messages go alone: they inform, they do not page.
            let page = item.audience.is_none();
            if triggered && page && matches!(item.channel.as_str(), "sms" | "voice") {
                by_number
                    .entry((item.channel.clone(), item.address.clone()))
                    .or_default()
                    .push(item);
                continue;
            }
            let (this, incidents) = (self.clone(), incidents.clone());
            sends.spawn(async move {
                let row = incidents.get(&item.incident_id);
                let outcome = this.send(&[&item], row.into_iter().collect()).await;
                let urgency = row.map(|r| Urgency::of(r.incident.priority));
                vec![(item, outcome, urgency)]
            });
        }
        let interval = self.phone_interval();
        for ((channel, address), mut group) in by_number {
            let now = Timestamp::now();
            let wait = |item: OutboxItem, at: Timestamp| {
                let reason = format!("one {channel} per {interval:#} to {address}");
                let urgency = urgency(&item);
                (item, Outcome::Deferred { reason, at }, urgency)
            };
            let turn = self
                .store
                .take_phone_turn(&channel, &address, now, interval)
                .await
                // A page goes out rather than wait on a turn nobody can read.
                .unwrap_or_else(|e| {
                    tracing::warn!("reading the turn of {channel} {address}: {e}; sending");
                    None
                });
            if let Some(turn) = turn {
                held.extend(group.into_iter().map(|item| wait(item, turn)));
                continue;
            }
            // One call at a time; SMS pages go out together in one message.
            if channel == "voice" {
                held.extend(
                    group
                        .split_off(1)
                        .into_iter()
                        .map(|item| wait(item, now + interval)),
                );
            }
            let (this, incidents) = (self.clone(), incidents.clone());
            sends.spawn(async move {
                let pages: Vec<&IncidentRow> = group
                    .iter()
                    .filter_map(|item| incidents.get(&item.incident_id))
                    .collect();
                let items: Vec<&OutboxItem> = group.iter().collect();
                let outcome = this.send(&items, pages).await;
                group
                    .iter()
                    .map(|item| {
                        let urgency = incidents
                            .get(&item.incident_id)
                            .map(|i| Urgency::of(i.incident.priority));
                        (item.clone(), outcome.clone(), urgency)
                    })
                    .collect()
            });
        }
        if !held.is_empty()
            && let Err(e) = self.runner.submit(Work::Settle(held)).await
        {
            return Err(StoreError::Corrupt(format!("holding back pages: {e}")));
        }
        while let Some(first) = sends.join_next().await {
            let mut done = vec![first];
            let window = tokio::time::sleep(SETTLE_WINDOW);
            tokio::pin!(window);
            loop {
                tokio::select! {
                    more = sends.join_next() => match more {
                        Some(more) => done.push(more),
                        None => break,
                    },
                    _ = &mut window => break,
                }
            }
            let mut settled = Vec::with_capacity(done.len());
            for result in done {
                match result {
                    Ok(outcomes) => settled.extend(outcomes),
                    // A panicked send leaves its row leased; it is sent again when the lease runs out.
                    Err(e) => tracing::error!("send task failed: {e}"),
                }
            }
            if let Err(e) = self.runner.submit(Work::Settle(settled)).await {
                // The leases run out and the pages go out again, with the same idempotency keys.
                return Err(StoreError::Corrupt(format!("settling sends: {e}")));
            }
        }
        Ok(n)
    }

    fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How often one phone number may get a message or a call.
    fn phone_interval(&self) -> SignedDuration {
        let catalog = self.catalog();
        let interval = catalog
            .config()
            .channels
            .twilio
            .as_ref()
            .map_or(default_min_interval(), |t| t.min_interval);
        SignedDuration::from_secs(interval.as_secs() as i64)
    }

    /// The channel adapters for the configuration in force.
    fn channel_set(&self) -> Arc<ChannelSet> {
        self.channels.for_catalog(&self.catalog())
    }

    /// Sends one page for `items` (several only for one phone number: one
    /// message listing every incident), `incidents` being theirs.
    async fn send(&self, items: &[&OutboxItem], rows: Vec<&IncidentRow>) -> Outcome {
        let (Some(item), Some(IncidentRow { incident, details })) =
            (items.first().copied(), rows.first().copied())
        else {
            return Outcome::Failed {
                error: "incident not found".into(),
            };
        };
        if let Some(name) = &item.audience {
            return self.inform(item, incident, details, name).await;
        }
        let incidents: Vec<&Incident> = rows.iter().map(|r| &r.incident).collect();
        if incident.status != Status::Triggered {
            return Outcome::Cancelled {
                reason: format!("incident is {}", incident.status),
            };
        }
        let address = match resolved_address(item) {
            Ok(address) => address,
            Err(failed) => return failed,
        };
        let now = Timestamp::now();
        let token = self
            .links
            .sign(incident.id.0, &item.user, now + LINK_LIFETIME);
        let ack_url = format!("{}/api/v1/ack/{token}", self.public_url);
        let incident_url = incident_url(&self.public_url, incident.id);
        let recipient = Recipient {
            user: &item.user,
            contact_method: &item.contact_method,
            level: item.level,
            round: item.round,
        };
        let catalog = self.catalog();
        let facts = Facts {
            level: item.level,
            round: item.round,
            ..Facts::new(incident, &catalog, details, &incident_url)
        };
        let template = for_audience(&catalog.config().templates, Audience::Responder, item.level);
        let rendered = render(template, &facts)
            // A page must go out: with the built-in words if the template fails.
            .inspect_err(|e| tracing::warn!(template = %template.id, "rendering a page: {e}"))
            .ok();
        let mut body = webhook_body(
            incident,
            &incident_url,
            &recipient,
            &ack_url,
            &item.idempotency_key,
            now,
        );
        let mut page = Page::new(
            PageIncident::from_engine(incident, &incident_url, &recipient),
            &recipient,
            address,
            item.idempotency_key.clone(),
            ack_url,
        );
        if let Some(r) = rendered {
            (page.subject, page.text) = (r.subject, r.text);
        }
        if incidents.len() > 1 {
            (page.subject, page.text) = crate::phone::bundle(&incidents);
        }
        if matches!(item.channel.as_str(), "sms" | "voice") {
            // Twilio reports there whether the message or call got through.
            let keys: Vec<String> = items
                .iter()
                .map(|i| format!("key={}", urlencode(&i.idempotency_key)))
                .collect();
            page.status_callback = Some(format!(
                "{}{}?{}",
                self.public_url,
                crate::api::inbound::twilio::STATUS_PATH,
                keys.join("&")
            ));
        }
        body["subject"] = page.subject.clone().into();
        body["text"] = page.text.clone().into();
        let page = page.with_webhook_body(body.to_string().into_bytes());
        match self.deliver(item, &page, now).await {
            Outcome::Sent { detail } if incidents.len() > 1 => {
                let ids: Vec<String> = incidents.iter().map(|i| format!("#{}", i.id)).collect();
                Outcome::Sent {
                    detail: format!("{detail}; one message for incidents {}", ids.join(", ")),
                }
            }
            outcome => outcome,
        }
    }

    /// A stakeholder message: rendered with its template from the redacted
    /// view (unless the template is a responder's), without acknowledge links,
    /// and sent whatever the incident's status.
    async fn inform(
        &self,
        item: &OutboxItem,
        incident: &Incident,
        details: &serde_json::Value,
        name: &str,
    ) -> Outcome {
        let address = match resolved_address(item) {
            Ok(address) => address,
            Err(failed) => return failed,
        };
        let now = Timestamp::now();
        let incident_url = incident_url(&self.public_url, incident.id);
        let catalog = self.catalog();
        let config = catalog.config();
        // The promised next update, as it stands when the message goes out.
        let next_update_at = match self.store.comms(incident.id).await {
            Ok(c) => c.next_update_at,
            Err(e) => {
                tracing::warn!("reading incident {} communication: {e}", incident.id);
                None
            }
        };
        let facts = Facts {
            level: item.level,
            round: item.round,
            event: item.occasion.as_deref().unwrap_or("update"),
            update: item.message.as_deref(),
            next_update_at,
            ..Facts::new(incident, &catalog, details, &incident_url)
        };
        // A template removed since the message was planned: the stakeholder default.
        let template = config
            .template(name, item.level)
            .unwrap_or_else(|| default_template(Audience::Stakeholder));
        let rendered = match render(template, &facts) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(template = %template.id, "rendering a stakeholder message: {e}");
                match render(default_template(template.audience), &facts) {
                    Ok(r) => r,
                    Err(e) => {
                        return Outcome::Failed {
                            error: format!("template {:?}: {e}", template.id),
                        };
                    }
                }
            }
        };
        let recipient = Recipient {
            user: &item.user,
            contact_method: &item.contact_method,
            level: item.level,
            round: item.round,
        };
        let body = serde_json::json!({
            "type": "incident.inform",
            "audience": rendered.audience,
            "template": template.id,
            "occasion": facts.event,
            "subject": rendered.subject,
            "text": rendered.text,
            "incident": facts.redacted(),
            "recipient": {"user": item.user, "contact_method": item.contact_method},
            "idempotency_key": item.idempotency_key,
            "sent_at": now.to_string(),
        });
        let mut page = Page::new(
            PageIncident::from_engine(incident, &incident_url, &recipient),
            &recipient,
            address,
            item.idempotency_key.clone(),
            incident_url.clone(),
        )
        .informational()
        .with_webhook_body(body.to_string().into_bytes());
        (page.subject, page.text) = (rendered.subject, rendered.text);
        self.deliver(item, &page, now).await
    }

    async fn deliver(&self, item: &OutboxItem, page: &Page, now: Timestamp) -> Outcome {
        match self.channel_set().send(&item.channel, page, now).await {
            Dispatch::Held(held) => hold(item, &held, now),
            Dispatch::Done(SendResult::Delivered { detail }) => Outcome::Sent { detail },
            Dispatch::Done(SendResult::Permanent { error }) => Outcome::Failed { error },
            Dispatch::Done(SendResult::Transient { error }) if item.attempts >= MAX_ATTEMPTS => {
                Outcome::Failed {
                    error: format!("{error} (retries exhausted)"),
                }
            }
            Dispatch::Done(SendResult::Transient { error }) => {
                let wait = SignedDuration::try_from(backoff(item.attempts))
                    .unwrap_or(SignedDuration::from_secs(300));
                Outcome::Retry {
                    error,
                    at: Timestamp::now() + wait,
                }
            }
        }
    }
}

/// The address to send to: an `${env:NAME}` reference (a webhook URL with a
/// token in it) is read now, so the secret is never stored; one that cannot
/// be read fails the send for good, and the next contact method is tried.
fn resolved_address(item: &OutboxItem) -> Result<String, Outcome> {
    resolve_address(&item.address).map_err(|e| Outcome::Failed {
        error: format!("the address of {}: {e}", item.contact_method),
    })
}

/// A page its destination's open breaker holds: not an attempt, so it waits
/// for the next probe, but never past the end of its retry schedule (counted
/// from its first claim), when it is given up and falls back as if its own
/// attempts had failed. A breaker never ends a page sooner than that.
fn hold(item: &OutboxItem, held: &Held, now: Timestamp) -> Outcome {
    let span = SignedDuration::try_from(retry_span()).unwrap_or(SignedDuration::from_secs(127));
    let deadline = item.first_tried_at + span;
    if now >= deadline {
        return Outcome::Failed {
            error: format!(
                "{} unreachable: circuit open through the whole retry schedule ({span:#})",
                held.breaker,
            ),
        };
    }
    Outcome::Deferred {
        reason: format!("circuit open for {}", held.breaker),
        at: held.until.min(deadline),
    }
}

/// `text` for a URL query value.
fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn item(first_tried_at: Timestamp) -> OutboxItem {
        OutboxItem {
            id: 1,
            incident_id: 1,
            idempotency_key: "k".into(),
            user: "carol".into(),
            contact_method: "hook".into(),
            channel: "webhook".into(),
            address: "http://127.0.0.1:9/hook".into(),
            level: 1,
            round: 0,
            attempts: 2,
            first_tried_at,
            audience: None,
            occasion: None,
            message: None,
        }
    }

    fn held(until: Timestamp) -> Held {
        Held {
            breaker: "webhook http://127.0.0.1:9".into(),
            until,
        }
    }

    #[test]
    fn a_held_page_waits_for_the_next_probe_without_failing() {
        let outcome = hold(&item(at(0)), &held(at(40)), at(10));
        assert_eq!(
            outcome,
            Outcome::Deferred {
                reason: "circuit open for webhook http://127.0.0.1:9".into(),
                at: at(40)
            }
        );
    }

    #[test]
    fn a_held_page_waits_no_longer_than_its_retry_schedule() {
        // The schedule spans 127 s from the first claim.
        let outcome = hold(&item(at(0)), &held(at(200)), at(110));
        assert!(
            matches!(outcome, Outcome::Deferred { at: t, .. } if t == at(127)),
            "{outcome:?}"
        );
        let outcome = hold(&item(at(0)), &held(at(200)), at(127));
        let Outcome::Failed { error } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(error.contains("whole retry schedule"), "{error}");
    }
}
