//! Detector samples in the runner's transaction: the detector's state read
//! under a row lock, the decision made by `core::anomaly::Watch`, and the
//! events it raises applied in the same batch as everything else.

use super::{Batch, Done, RunError, apply, prefetch};
use escalator_core::anomaly::{Change, Detector, Watch};
use escalator_core::config::DetectorSpec;
use escalator_core::directory::Catalog;
use escalator_store::{DetectorState, StoreError, StoreTx};
use jiff::Timestamp;

/// Feeds a detector its samples under a row lock on its state, and applies
/// the events it decides in the same transaction: two nodes fed at once take
/// turns, and a crash can neither lose a trigger nor save a state without it.
pub(super) async fn observe(
    tx: &mut StoreTx,
    detector: &str,
    samples: &[(Timestamp, f64)],
    catalog: &Catalog,
    now: Timestamp,
    batch: &mut Batch,
) -> Result<Result<Done, RunError>, StoreError> {
    let Some(spec) = catalog.config().detectors.iter().find(|d| d.id == detector) else {
        return Ok(Err(RunError::Config(format!(
            "detector {detector} is not configured"
        ))));
    };
    let Some(service) = catalog.service(&spec.service) else {
        return Ok(Err(RunError::Config(format!(
            "service {} is not configured",
            spec.service
        ))));
    };
    let saved = tx.lock_detector_state(detector, now).await?;
    let mut watch = restore_watch(spec, saved);
    let resolve_after = spec.resolve_after.to_span();
    let changes: Vec<Change> = samples
        .iter()
        .filter_map(|(at, value)| watch.observe(*at, *value, resolve_after).1)
        .collect();
    let state = serde_json::to_value(&watch)
        .map_err(|e| StoreError::Corrupt(format!("detector {detector} state: {e}")))?;
    tx.save_detector_state(
        detector,
        &DetectorState {
            state,
            firing: watch.firing,
            normal_since: watch.normal_since,
        },
        now,
    )
    .await?;
    let mut events = Vec::with_capacity(changes.len());
    for change in &changes {
        // Inside the runner, rules run inline: validate keeps each within its
        // cost budget, and a detector changes state rarely.
        let (event, key) = crate::ingest::keyed(crate::ingest::detector_event(spec, change));
        let decision = crate::ingest::decide(catalog, service, &event, &key);
        let work = crate::ingest::work_for(service, "detector", event, key, decision);
        prefetch(tx, batch, &[&work]).await?;
        if let Err(e) = Box::pin(apply(tx, &work, catalog, now, batch)).await? {
            return Ok(Err(e));
        }
        events.push(match change {
            Change::Trigger { at, score, .. } => {
                serde_json::json!({"detector": detector, "action": "trigger", "at": at.to_string(), "score": score})
            }
            Change::Resolve { at, .. } => {
                serde_json::json!({"detector": detector, "action": "resolve", "at": at.to_string()})
            }
        });
    }
    Ok(Ok(Done::Observed {
        scored: samples.len(),
        events,
    }))
}

/// The watch as saved: new for a first sample; a state saved before the
/// watch kept its own flags (the model alone, with the flags in their
/// columns) is read as such. A state that is neither is started afresh,
/// loudly: it can only have been altered by hand.
fn restore_watch(spec: &DetectorSpec, saved: DetectorState) -> Watch {
    if saved.state.is_null() {
        return Watch::new(&spec.method);
    }
    if let Ok(watch) = serde_json::from_value::<Watch>(saved.state.clone()) {
        return watch;
    }
    match serde_json::from_value::<Detector>(saved.state) {
        Ok(model) => Watch {
            model,
            firing: saved.firing,
            normal_since: saved.normal_since,
            samples: 0,
        },
        Err(e) => {
            tracing::error!(detector = %spec.id, "detector state unreadable ({e}); starting it afresh");
            Watch::new(&spec.method)
        }
    }
}
