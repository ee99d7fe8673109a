//! The engine runner: the one place incident state changes. It takes work from
//! a queue, runs the pure engine, and saves each batch in one transaction
//! (group commit: one disk flush for many events), answering every caller only
//! after its work is durable. Between batches it sleeps until the earliest
//! escalation is due — no polling interval.

use crate::state::{SharedCatalog, refresh};
use escalator_core::config::EscalationPolicy;
use escalator_core::directory::Catalog;
use escalator_core::engine::{self, EngineError, Incident, Input, NewIncident};
use escalator_core::events_v2::EventAction;
use escalator_core::ids::{DedupKey, IncidentId, PolicyId, ServiceId};
use escalator_store::{Store, StoreError, StoreTx};
use jiff::Timestamp;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};

/// Jobs waiting beyond this push back on callers (their requests wait).
pub const QUEUE_DEPTH: usize = 16_384;
/// Most jobs saved in one transaction.
const MAX_BATCH: usize = 1_024;
/// Most escalations fired in one transaction.
const TIMER_BATCH: u32 = 256;
/// Longest sleep even with nothing due: a guard against a missed wake-up, not a poll.
const MAX_IDLE: Duration = Duration::from_secs(30);

/// How long to sleep until `next` is due: zero when overdue, at most [`MAX_IDLE`],
/// and a short pause when the database could not say.
pub(crate) fn sleep_until(next: Result<Option<Timestamp>, StoreError>, what: &str) -> Duration {
    match next {
        Ok(Some(due)) => {
            let ms = due.as_millisecond() - Timestamp::now().as_millisecond();
            Duration::from_millis(ms.max(0) as u64).min(MAX_IDLE)
        }
        Ok(None) => MAX_IDLE,
        Err(e) => {
            tracing::error!("reading {what}: {e}");
            Duration::from_millis(500)
        }
    }
}

/// Work for the engine.
#[derive(Debug, Clone)]
pub enum Work {
    /// An Events API v2 event for a service.
    Event {
        service: ServiceId,
        action: EventAction,
        dedup_key: DedupKey,
        title: String,
        details: serde_json::Value,
        actor: String,
    },
    /// An action on one incident (acknowledge, resolve, escalate).
    Act { incident: IncidentId, input: Input },
}

/// What the work did.
#[derive(Debug, Clone)]
pub enum Done {
    /// The incident the event landed on; `None` when an acknowledge or resolve found no open incident.
    Event { incident: Option<IncidentId> },
    /// The incident after the action.
    Act(Box<Incident>),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RunError {
    #[error("incident {0} not found")]
    NotFound(IncidentId),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Store(String),
    #[error("the engine runner is not running")]
    Stopped,
}

pub struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Done, RunError>>,
}

/// Sends work to the runner and waits until it is committed.
#[derive(Clone)]
pub struct RunnerHandle {
    tx: mpsc::Sender<Job>,
}

impl RunnerHandle {
    pub fn new(tx: mpsc::Sender<Job>) -> Self {
        Self { tx }
    }

    pub async fn submit(&self, work: Work) -> Result<Done, RunError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { work, reply })
            .await
            .map_err(|_| RunError::Stopped)?;
        rx.await.map_err(|_| RunError::Stopped)?
    }
}

pub struct Runner {
    store: Store,
    catalog: SharedCatalog,
    rx: mpsc::Receiver<Job>,
    wake: Arc<Notify>,
    notifier_wake: Arc<Notify>,
}

impl Runner {
    pub fn new(
        store: Store,
        catalog: SharedCatalog,
        rx: mpsc::Receiver<Job>,
        wake: Arc<Notify>,
        notifier_wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            catalog,
            rx,
            wake,
            notifier_wake,
        }
    }

    pub async fn run(mut self) {
        let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
        loop {
            let next = self.store.next_escalation_due().await;
            // Escalations first: a flood of events must not delay a due page.
            if matches!(next, Ok(Some(due)) if due <= Timestamp::now()) {
                if let Err(e) = self.fire_due_escalations().await {
                    tracing::error!("firing escalations: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                continue;
            }
            let sleep = sleep_until(next, "next escalation");
            tokio::select! {
                n = self.rx.recv_many(&mut jobs, MAX_BATCH) => {
                    if n == 0 {
                        return; // every handle dropped: shutting down
                    }
                    self.process(std::mem::take(&mut jobs)).await;
                }
                _ = tokio::time::sleep(sleep) => {}
                _ = self.wake.notified() => {
                    // Another node committed work, or a configuration was applied.
                    if let Err(e) = refresh(&self.store, &self.catalog).await {
                        tracing::warn!("checking configuration revision: {e}");
                    }
                }
            }
        }
    }

    fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Saves a batch in one transaction; if the transaction fails, retries each
    /// job alone so one bad job cannot fail its neighbours.
    async fn process(&self, jobs: Vec<Job>) {
        if let Err(e) = refresh(&self.store, &self.catalog).await {
            tracing::warn!("checking configuration revision: {e}");
        }
        let catalog = self.catalog();
        let works: Vec<&Work> = jobs.iter().map(|j| &j.work).collect();
        let results = match self.commit(&works, &catalog).await {
            Ok(results) => results,
            Err(e) if jobs.len() > 1 => {
                tracing::warn!(
                    jobs = jobs.len(),
                    "batch failed ({e}); retrying its jobs one by one"
                );
                let mut results = Vec::with_capacity(jobs.len());
                for w in &works {
                    results.push(match self.commit(&[*w], &catalog).await {
                        Ok(mut r) => r.remove(0),
                        Err(e) => Err(RunError::Store(e.to_string())),
                    });
                }
                results
            }
            Err(e) => vec![Err(RunError::Store(e.to_string()))],
        };
        self.notifier_wake.notify_one();
        for (job, result) in jobs.into_iter().zip(results) {
            let _ = job.reply.send(result);
        }
    }

    async fn commit(
        &self,
        works: &[&Work],
        catalog: &Catalog,
    ) -> Result<Vec<Result<Done, RunError>>, StoreError> {
        let now = Timestamp::now();
        let mut tx = self.store.begin().await?;
        let mut results = Vec::with_capacity(works.len());
        for work in works {
            results.push(apply(&mut tx, work, catalog, now).await?);
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn fire_due_escalations(&self) -> Result<(), StoreError> {
        loop {
            let catalog = self.catalog();
            let now = Timestamp::now();
            let mut tx = self.store.begin().await?;
            let due = tx.due_escalations(now, TIMER_BATCH).await?;
            if due.is_empty() {
                return Ok(());
            }
            for row in &due {
                let policy = policy_or_empty(&catalog, &row.incident.policy);
                match engine::step(&row.incident, Input::Timer, &policy, catalog.as_ref(), now) {
                    Ok(t) if t.incident != row.incident || !t.effects.is_empty() => {
                        tx.save_transition(&t, None, &catalog, now).await?;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(incident = %row.incident.id, "timer refused: {e}"),
                }
            }
            tx.commit().await?;
            self.notifier_wake.notify_one();
            if due.len() < TIMER_BATCH as usize {
                return Ok(());
            }
        }
    }
}

/// The incident's policy; an empty one if it was removed from the configuration
/// (the incident can still be acknowledged and resolved, but not climb).
fn policy_or_empty(catalog: &Catalog, id: &PolicyId) -> EscalationPolicy {
    catalog
        .policy(id)
        .cloned()
        .unwrap_or_else(|| EscalationPolicy {
            id: id.clone(),
            name: None,
            repeat: 0,
            levels: Vec::new(),
        })
}

/// Runs one job inside the batch's transaction. The outer error aborts the
/// transaction; the inner one is the job's own answer.
async fn apply(
    tx: &mut StoreTx,
    work: &Work,
    catalog: &Catalog,
    now: Timestamp,
) -> Result<Result<Done, RunError>, StoreError> {
    match work {
        Work::Event {
            service,
            action,
            dedup_key,
            title,
            details,
            actor,
        } => {
            let Some(svc) = catalog.service(service) else {
                return Ok(Err(RunError::Config(format!(
                    "service {service} is not configured"
                ))));
            };
            let Some(policy) = catalog.policy(&svc.escalation_policy) else {
                return Ok(Err(RunError::Config(format!(
                    "escalation policy {} is not configured",
                    svc.escalation_policy
                ))));
            };
            let open = tx.find_open_incident(service, dedup_key).await?;
            let transition = match (action, open) {
                (EventAction::Trigger, None) => {
                    let new = NewIncident {
                        service: service.clone(),
                        policy: policy.id.clone(),
                        dedup_key: dedup_key.clone(),
                        title: title.clone(),
                        actor: actor.clone(),
                        detail: details.clone(),
                    };
                    match engine::open(new, policy, catalog, now) {
                        Ok(t) => {
                            let id = tx.save_transition(&t, Some(details), catalog, now).await?;
                            return Ok(Ok(Done::Event { incident: Some(id) }));
                        }
                        Err(e) => return Ok(Err(e.into())),
                    }
                }
                (_, None) => return Ok(Ok(Done::Event { incident: None })),
                (EventAction::Trigger, Some(row)) => engine::step(
                    &row.incident,
                    Input::Alert {
                        actor: actor.clone(),
                    },
                    policy,
                    catalog,
                    now,
                ),
                (EventAction::Acknowledge, Some(row)) => engine::step(
                    &row.incident,
                    Input::Acknowledge {
                        actor: actor.clone(),
                    },
                    policy,
                    catalog,
                    now,
                ),
                (EventAction::Resolve, Some(row)) => engine::step(
                    &row.incident,
                    Input::Resolve {
                        actor: actor.clone(),
                    },
                    policy,
                    catalog,
                    now,
                ),
            };
            match transition {
                Ok(t) => {
                    if !t.is_noop() {
                        tx.save_transition(&t, None, catalog, now).await?;
                    }
                    Ok(Ok(Done::Event {
                        incident: Some(t.incident.id),
                    }))
                }
                Err(e) => Ok(Err(e.into())),
            }
        }
        Work::Act { incident, input } => {
            let Some(row) = tx.incident_for_update(*incident).await? else {
                return Ok(Err(RunError::NotFound(*incident)));
            };
            let policy = policy_or_empty(catalog, &row.incident.policy);
            match engine::step(&row.incident, input.clone(), &policy, catalog, now) {
                Ok(t) => {
                    if !t.is_noop() {
                        tx.save_transition(&t, None, catalog, now).await?;
                    }
                    Ok(Ok(Done::Act(Box::new(t.incident))))
                }
                Err(e) => Ok(Err(e.into())),
            }
        }
    }
}
