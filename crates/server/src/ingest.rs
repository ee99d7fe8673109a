//! The one path every monitoring format takes once parsed: a normalized
//! event for a service becomes engine work. Format adapters (Events API v2,
//! Alertmanager, generic webhooks) only translate and authenticate. Here
//! every event's summary and details are capped (`escalator_core::details`),
//! whatever format they came in, before rules or the store see them.

use crate::AppState;
use crate::runner::{Done, RunError, Work};
use escalator_core::config::Service;
use escalator_core::details;
use escalator_core::directory::Catalog;
use escalator_core::events_v2::EventAction;
use escalator_core::ids::DedupKey;
use escalator_core::rules::Decision;
use jiff::Timestamp;
use serde_json::Value;

/// An event in Escalator's own terms, whatever format it arrived in.
#[derive(Clone, Debug)]
pub struct Normalized {
    pub action: EventAction,
    /// Generated when absent (a trigger only).
    pub dedup_key: Option<DedupKey>,
    pub summary: String,
    /// `source`, `severity`, `custom_details`, labels… shown on the incident.
    pub details: Value,
}

pub fn random_dedup_key() -> DedupKey {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    DedupKey::parse(&hex::encode(bytes)).expect("32 hex characters make a valid dedup key")
}

/// What rules see as `event`: the details, plus summary, dedup key and action.
pub fn rule_view(event: &Normalized, dedup_key: &DedupKey) -> Value {
    let mut v = event.details.clone();
    if let Value::Object(map) = &mut v {
        map.insert("summary".into(), event.summary.clone().into());
        map.insert("dedup_key".into(), dedup_key.as_str().into());
        let action = match event.action {
            EventAction::Trigger => "trigger",
            EventAction::Acknowledge => "acknowledge",
            EventAction::Resolve => "resolve",
        };
        map.insert("action".into(), action.into());
        map.retain(|_, v| !v.is_null());
    }
    v
}

/// Evaluates the rules in force for a trigger.
pub fn decide(
    catalog: &Catalog,
    service: &Service,
    event: &Normalized,
    dedup_key: &DedupKey,
) -> Option<Decision> {
    if event.action != EventAction::Trigger || catalog.rules().is_empty() {
        return None;
    }
    let service = catalog.service_view(&service.id)?;
    Some(
        catalog
            .rules()
            .evaluate(&rule_view(event, dedup_key), service, Timestamp::now()),
    )
}

/// Hands the event to the engine; returns once it is durable, with its dedup key.
pub async fn ingest(
    app: &AppState,
    service: &Service,
    via: &str,
    mut event: Normalized,
) -> Result<(DedupKey, Done), RunError> {
    event.summary = details::cap_chars(event.summary, details::MAX_SUMMARY_CHARS);
    event.details = details::cap(event.details);
    let dedup_key = event.dedup_key.clone().unwrap_or_else(random_dedup_key);
    let decision = decide(&app.catalog(), service, &event, &dedup_key);
    let group = service.grouping.as_ref().map(|g| g.key(&event.details));
    let work = Work::Event {
        service: service.id.clone(),
        action: event.action,
        dedup_key: dedup_key.clone(),
        title: event.summary,
        details: event.details,
        actor: format!("{via}:{}", service.id),
        decision,
        group,
    };
    let done = app.runner.submit(work).await?;
    Ok((dedup_key, done))
}
