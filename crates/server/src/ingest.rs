//! The one path every monitoring format takes once parsed: a normalized
//! event for a service becomes engine work. Format adapters (Events API v2,
//! Alertmanager, generic webhooks) only translate and authenticate; the caps
//! on what an event may store (`core::details`) and the text rules
//! (`core::text`) are applied here, once, whatever the format, before rules
//! or the store see the event.

use crate::AppState;
use crate::evaluator::Evaluator;
use crate::runner::{Done, RunError, Work};
use escalator_core::config::Service;
use escalator_core::details;
use escalator_core::directory::Catalog;
use escalator_core::events_v2::EventAction;
use escalator_core::ids::DedupKey;
use escalator_core::rules::{Decision, Limits};
use escalator_core::text;
use jiff::Timestamp;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;

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

/// The title of a trigger whose summary was nothing but characters a title
/// cannot show.
pub const NO_SUMMARY: &str = "(no summary)";

impl Normalized {
    /// The event as it may be kept and shown: its summary and details capped
    /// (`core::details`), no control characters in the summary or anywhere
    /// in the details, no invisible formatting in the summary, which becomes
    /// the incident's title (`core::text`).
    pub fn cleaned(mut self) -> Self {
        // Capped first: cleaning only removes characters, so the caps hold.
        self.summary = details::cap_chars(self.summary, details::MAX_SUMMARY_CHARS);
        self.details = details::cap(self.details);
        if let Cow::Owned(title) = text::title(&self.summary) {
            self.summary = title;
        }
        if self.action == EventAction::Trigger && self.summary.trim().is_empty() {
            self.summary = NO_SUMMARY.to_owned();
        }
        text::clean_json(&mut self.details);
        self
    }
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

/// Evaluates the rules in force for a trigger, here and now, within the
/// default [`Limits`] (no time limit): for the CLI's dry run. The server
/// goes through [`decide_in_time`].
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

/// What the rules decided for an event within their time.
#[derive(Debug)]
pub struct Decided {
    pub decision: Decision,
    /// The time ran out: the rule running then (and any not reached) is in
    /// `decision.errors` and counted as not matched.
    pub timed_out: bool,
}

/// Evaluates the rules in force for a trigger off the async workers, within
/// `evaluator`'s time. A rule that could not finish counts as not matched and
/// is recorded in the decision's errors; the event is never dropped for it.
pub async fn decide_in_time(
    evaluator: &Evaluator,
    catalog: Arc<Catalog>,
    service: &Service,
    event: &Normalized,
    dedup_key: &DedupKey,
) -> Option<Decided> {
    if event.action != EventAction::Trigger || catalog.rules().is_empty() {
        return None;
    }
    catalog.service_view(&service.id)?;
    let view = rule_view(event, dedup_key);
    let id = service.id.clone();
    let now = Timestamp::now();
    let evaluated = {
        let catalog = catalog.clone();
        evaluator
            .run(move |limits: &Limits| {
                let service = catalog.service_view(&id)?;
                Some(catalog.rules().evaluate_with(&view, service, now, limits))
            })
            .await
    };
    let decision = match evaluated.value {
        Some(decision) => decision?,
        None if evaluated.timed_out => catalog.rules().not_evaluated(&format!(
            "not evaluated: the rules did not run within {} s",
            evaluator.timeout().as_secs()
        )),
        None => catalog
            .rules()
            .not_evaluated("not evaluated: the evaluation failed"),
    };
    Some(Decided {
        decision,
        timed_out: evaluated.timed_out,
    })
}

/// The engine work for an event: its dedup key (generated for a trigger
/// without one), what the rules decided and its alert group.
pub fn work_for(
    service: &Service,
    via: &str,
    event: Normalized,
    dedup_key: DedupKey,
    decision: Option<Decision>,
) -> Work {
    let group = service.grouping.as_ref().map(|g| g.key(&event.details));
    Work::Event {
        service: service.id.clone(),
        action: event.action,
        dedup_key,
        title: event.summary,
        details: event.details,
        actor: format!("{via}:{}", service.id),
        decision,
        group,
    }
}

/// An event cleaned, with its dedup key (generated for a trigger without one).
pub fn keyed(event: Normalized) -> (Normalized, DedupKey) {
    let event = event.cleaned();
    let dedup_key = event.dedup_key.clone().unwrap_or_else(random_dedup_key);
    (event, dedup_key)
}

/// Hands the event to the engine; returns once it is durable, with its dedup key.
pub async fn ingest(
    app: &AppState,
    service: &Service,
    via: &str,
    event: Normalized,
) -> Result<(DedupKey, Done), RunError> {
    let (event, dedup_key) = keyed(event);
    let decided = decide_in_time(&app.evaluator, app.catalog(), service, &event, &dedup_key).await;
    if let Some(d) = decided.as_ref().filter(|d| d.timed_out) {
        let stopped: Vec<&str> = d
            .decision
            .errors
            .iter()
            .map(|(id, _)| id.as_str())
            .collect();
        tracing::warn!(
            service = %service.id,
            %dedup_key,
            ?stopped,
            timeout_s = app.evaluator.timeout().as_secs(),
            "rules ran out of time; the event goes on as if they had not matched"
        );
    }
    let decision = decided.map(|d| d.decision);
    let work = work_for(service, via, event, dedup_key.clone(), decision);
    let done = app.runner.submit(work).await?;
    Ok((dedup_key, done))
}

/// The event a detector raises when it fires or resolves: `detector:<id>`
/// as its dedup key, so a repeat lands on the same incident.
pub fn detector_event(
    spec: &escalator_core::config::DetectorSpec,
    change: &escalator_core::anomaly::Change,
) -> Normalized {
    use escalator_core::anomaly::Change;
    let (action, at, value, score) = match *change {
        Change::Trigger { at, value, score } => (EventAction::Trigger, at, value, score),
        Change::Resolve { at, value, score } => (EventAction::Resolve, at, value, score),
    };
    Normalized {
        action,
        dedup_key: DedupKey::parse(&format!("detector:{}", spec.id)).ok(),
        summary: format!("{} on {} is abnormal ({value})", spec.metric, spec.service),
        details: serde_json::json!({
            "source": format!("detector:{}", spec.id),
            "severity": spec.severity,
            "timestamp": at.to_string(),
            "custom_details": {"metric": spec.metric, "value": value, "score": score, "detector": spec.id},
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trigger(summary: &str, details: Value) -> Normalized {
        Normalized {
            action: EventAction::Trigger,
            dedup_key: None,
            summary: summary.to_owned(),
            details,
        }
    }

    #[test]
    fn an_event_is_cleaned_whatever_its_format() {
        let e = trigger(
            "Disk\0 full \u{202E}fdp.exe",
            json!({"source": "db\0-1", "labels": {"cluster": "eu\u{1}-1"}}),
        )
        .cleaned();
        assert_eq!(e.summary, "Disk full fdp.exe");
        assert_eq!(
            e.details,
            json!({"source": "db-1", "labels": {"cluster": "eu-1"}})
        );
    }

    #[test]
    fn a_trigger_with_nothing_visible_to_show_still_has_a_title() {
        assert_eq!(
            trigger("\u{200B}\0 ", json!({})).cleaned().summary,
            NO_SUMMARY
        );
        let resolve = Normalized {
            action: EventAction::Resolve,
            ..trigger("", json!({}))
        };
        assert_eq!(resolve.cleaned().summary, "");
    }
}
