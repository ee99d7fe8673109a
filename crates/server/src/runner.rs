//! The engine runner: the one place incident state changes. It takes work from
//! a queue, runs the pure engine, and saves each batch in one transaction
//! (group commit: one disk flush for many events), answering every caller only
//! after its work is durable. Between batches it sleeps until the earliest
//! escalation is due — no polling interval.

use crate::state::{SharedCatalog, refresh, reload_if_changed};
use escalator_core::config::EscalationPolicy;
use escalator_core::config::Urgency;
use escalator_core::details::StoredDetails;
use escalator_core::directory::Catalog;
use escalator_core::engine::Notification;
use escalator_core::engine::{self, EngineError, Incident, Input, NewIncident};
use escalator_core::events_v2::EventAction;
use escalator_core::ids::{ContactMethodId, DedupKey, IncidentId, PolicyId, ServiceId, UserId};
use escalator_core::rules::Decision;
use escalator_store::{OutboxItem, Outcome, Store, StoreError, StoreTx};
use jiff::{SignedDuration, Timestamp};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};

/// Jobs waiting beyond this push back on callers (their requests wait).
/// The first and the longest wait before trying again escalations that are
/// due but could not be taken.
const STUCK_MIN: Duration = Duration::from_millis(10);
const STUCK_MAX: Duration = Duration::from_secs(1);

pub const QUEUE_DEPTH: usize = 16_384;
/// Most jobs saved in one transaction.
const MAX_BATCH: usize = 1_024;
/// Most escalations fired in one transaction.
const TIMER_BATCH: u32 = 256;
/// How old the configuration check before a batch may be: one batch after
/// another, the check made just before it stands.
const FRESH: Duration = Duration::from_millis(2);
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
        /// What the rules decided, for a trigger.
        decision: Option<Decision>,
        /// The alert group, for a service that groups alerts.
        group: Option<String>,
    },
    /// An action on one incident (acknowledge, resolve, escalate).
    Act { incident: IncidentId, input: Input },
    /// The notifier's claim on due notifications, leased for `lease`.
    Claim { lease: SignedDuration, limit: u32 },
    /// The notifier's outcomes of sends, each with the urgency of its
    /// incident (`None` when the incident is gone): a send that failed for
    /// good falls back to the user's next contact method for that urgency.
    Settle(Vec<(OutboxItem, Outcome, Option<Urgency>)>),
    /// Samples for one detector, in time order: its state is read under a
    /// row lock, the samples decide whether it fires or resolves
    /// (`core::anomaly::Watch`), and the state and the events it raises are
    /// saved together.
    Observe {
        detector: String,
        samples: Vec<(Timestamp, f64)>,
    },
}

/// What the work did.
#[derive(Debug, Clone)]
pub enum Done {
    /// The incident the event landed on; `None` when an acknowledge or resolve found no open incident.
    Event { incident: Option<IncidentId> },
    /// The incident after the action.
    Act(Box<Incident>),
    /// The notifications claimed, now leased to the caller.
    Claimed(Vec<OutboxItem>),
    /// The outcomes are saved.
    Settled,
    /// The samples were scored; the events the detector raised, in order.
    Observed {
        scored: usize,
        events: Vec<serde_json::Value>,
    },
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
        // Escalations that are due but could not be taken (another node holds
        // them, or the database failed) are tried again after a growing wait,
        // not in a busy loop; events are served meanwhile.
        let mut backoff = Duration::ZERO;
        let mut retry_at: Option<std::time::Instant> = None;
        loop {
            let view = self.store.runner_view().await;
            let viewed = std::time::Instant::now();
            let next = match view {
                Ok((next, versions)) => {
                    if let Err(e) = reload_if_changed(&self.store, &self.catalog, versions).await {
                        tracing::warn!("reloading configuration: {e}");
                    }
                    Ok(next)
                }
                Err(e) => Err(e),
            };
            // Escalations first: a flood of events must not delay a due page.
            let due_now = matches!(next, Ok(Some(due)) if due <= Timestamp::now());
            if due_now && retry_at.is_none_or(|t| viewed >= t) {
                match self.fire_due_escalations().await {
                    Ok(advanced) if advanced > 0 => {
                        (backoff, retry_at) = (Duration::ZERO, None);
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!("firing escalations: {e}"),
                }
                backoff = (backoff * 2).clamp(STUCK_MIN, STUCK_MAX);
                retry_at = Some(std::time::Instant::now() + backoff);
            }
            let sleep = match retry_at {
                Some(t) if due_now => t.saturating_duration_since(std::time::Instant::now()),
                _ => sleep_until(next, "next escalation"),
            };
            tokio::select! {
                n = self.rx.recv_many(&mut jobs, MAX_BATCH) => {
                    if n == 0 {
                        return; // every handle dropped: shutting down
                    }
                    // Under load the batch follows the view at once; after a
                    // wait, look again for a configuration applied meanwhile.
                    let stale = viewed.elapsed() > FRESH;
                    self.process(std::mem::take(&mut jobs), stale).await;
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
    async fn process(&self, jobs: Vec<Job>, stale: bool) {
        if stale && let Err(e) = refresh(&self.store, &self.catalog).await {
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
        // New pages may be due: from events and actions, and from fallbacks
        // after a failed send (which a delivery report may bring at any time).
        let paging = |w: &&Work| match w {
            Work::Event { .. } | Work::Act { .. } | Work::Observe { .. } => true,
            Work::Settle(outcomes) => outcomes
                .iter()
                .any(|(_, o, _)| matches!(o, Outcome::Failed { .. })),
            Work::Claim { .. } => false,
        };
        if works.iter().any(paging) {
            self.notifier_wake.notify_one();
        }
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
        let mut batch = Batch::default();
        prefetch(&mut tx, &mut batch, works).await?;
        let mut results = Vec::with_capacity(works.len());
        for work in works {
            results.push(apply(&mut tx, work, catalog, now, &mut batch).await?);
        }
        tx.commit().await?;
        Ok(results)
    }

    /// Fires every due escalation it can take; how many moved on.
    async fn fire_due_escalations(&self) -> Result<usize, StoreError> {
        let mut advanced = 0;
        loop {
            let catalog = self.catalog();
            let now = Timestamp::now();
            let mut tx = self.store.begin().await?;
            let due = tx.due_escalations(now, TIMER_BATCH).await?;
            if due.is_empty() {
                return Ok(advanced);
            }
            for row in &due {
                let policy = policy_or_empty(&catalog, &row.incident.policy);
                match engine::step(&row.incident, Input::Timer, &policy, catalog.as_ref(), now) {
                    Ok(t) if t.incident != row.incident || !t.effects.is_empty() => {
                        tx.save_transition(&t, None, &catalog, now).await?;
                        advanced += 1;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(incident = %row.incident.id, "timer refused: {e}"),
                }
            }
            tx.commit().await?;
            self.notifier_wake.notify_one();
            if due.len() < TIMER_BATCH as usize {
                return Ok(advanced);
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

/// Fallback pages carry rule numbers from here on, one per contact method,
/// so their idempotency keys never collide with a planned page's.
const FALLBACK_RULE: u32 = 10_000;

/// The page to send when `failed` could not reach its user: over the contact
/// method after it, in the order the user's rules for `urgency` name them.
fn next_contact(
    catalog: &Catalog,
    failed: &OutboxItem,
    urgency: Urgency,
    now: Timestamp,
) -> Option<Notification> {
    let user = catalog.user(&UserId::parse(&failed.user).ok()?)?;
    let mut order: Vec<ContactMethodId> = Vec::new();
    for rule in user.rules_for(urgency) {
        if !order.contains(&rule.contact_method) {
            order.push(rule.contact_method);
        }
    }
    let at = order
        .iter()
        .position(|m| m.as_str() == failed.contact_method)?;
    let next = order.get(at + 1)?.clone();
    Some(Notification {
        user: user.id.clone(),
        contact_method: next,
        level: failed.level,
        round: failed.round,
        rule: FALLBACK_RULE + at as u32 + 1,
        due_at: now,
    })
}

/// Records a trigger that the rules suppressed: on the audit trail, nobody paged.
async fn suppressed(
    tx: &mut StoreTx,
    service: &ServiceId,
    dedup_key: &DedupKey,
    title: &str,
    actor: &str,
    d: &Decision,
    now: Timestamp,
) -> Result<(), StoreError> {
    let rules: Vec<&str> = d
        .matched
        .iter()
        .filter(|m| m.decided.suppress)
        .map(|m| m.rule.as_str())
        .collect();
    let detail = serde_json::json!({"service": service, "dedup_key": dedup_key, "summary": title, "matched": d.matched});
    tx.append_audit(
        escalator_store::NewAudit {
            actor,
            action: "event_suppressed",
            incident_id: None,
            from_state: None,
            to_state: None,
            reason: Some(format!("suppressed by rule {}", rules.join(", "))),
            detail: &detail,
        },
        now,
    )
    .await?;
    Ok(())
}

/// What a batch knows about its incidents while it runs, kept current as the
/// batch changes them: the open incidents, which one each (service, dedup
/// key) lands on (its own key, or a firing alert of its group), the open
/// group incidents seen, and the ids allocated for incidents it opens.
#[derive(Default)]
struct Batch {
    open: HashMap<IncidentId, Incident>,
    by_key: HashMap<(ServiceId, DedupKey), IncidentId>,
    by_group: HashMap<(ServiceId, String), IncidentId>,
    ids: std::vec::IntoIter<IncidentId>,
}

impl Batch {
    fn track(&mut self, incident: &Incident) {
        if !incident.status.is_open() {
            self.open.remove(&incident.id);
            return;
        }
        let service = incident.service.clone();
        self.by_key
            .insert((service.clone(), incident.dedup_key.clone()), incident.id);
        if let Some(group) = &incident.group_key {
            self.by_group.insert((service, group.clone()), incident.id);
        }
        self.open.insert(incident.id, incident.clone());
    }

    /// The open incident `dedup_key` lands on, if any.
    fn lookup(&self, service: &ServiceId, dedup_key: &DedupKey) -> Option<&Incident> {
        let id = self.by_key.get(&(service.clone(), dedup_key.clone()))?;
        self.open.get(id)
    }

    /// Records that the alert `dedup_key` fires in incident `id`.
    fn bind(&mut self, service: &ServiceId, dedup_key: &DedupKey, id: IncidentId) {
        self.by_key.insert((service.clone(), dedup_key.clone()), id);
    }

    /// The open incident of `group` opened at or after `since`, which a new
    /// alert of the group joins.
    async fn group_incident(
        &mut self,
        tx: &mut StoreTx,
        service: &ServiceId,
        group: &str,
        since: Timestamp,
    ) -> Result<Option<Incident>, StoreError> {
        let known = self
            .by_group
            .get(&(service.clone(), group.to_owned()))
            .and_then(|id| self.open.get(id))
            .filter(|i| i.created_at >= since);
        if let Some(i) = known {
            return Ok(Some(i.clone()));
        }
        let found = tx.find_open_group(service, group, since).await?;
        if let Some(row) = &found {
            self.track(&row.incident);
        }
        Ok(found.map(|r| r.incident))
    }
}

/// Finds, in as few queries as it can, the open incident of every event in
/// `works`, and allocates ids for those that will open one (added to what the
/// batch already holds).
async fn prefetch(tx: &mut StoreTx, batch: &mut Batch, works: &[&Work]) -> Result<(), StoreError> {
    // One query finds the open incident of every event in the batch, and one
    // allocates ids for those that will open one: no statement per event.
    let keys: HashSet<(ServiceId, DedupKey)> = works
        .iter()
        .filter_map(|w| match w {
            Work::Event {
                service, dedup_key, ..
            } => Some((service.clone(), dedup_key.clone())),
            _ => None,
        })
        .collect();
    let keys: Vec<_> = keys.into_iter().collect();
    for row in tx.find_open_incidents(&keys).await? {
        batch.track(&row.incident);
    }
    // Alerts of grouped services may be firing in another alert's incident.
    let grouped: Vec<(ServiceId, DedupKey)> = works
        .iter()
        .filter_map(|w| match w {
            Work::Event {
                service,
                dedup_key,
                group: Some(_),
                ..
            } if batch.lookup(service, dedup_key).is_none() => {
                Some((service.clone(), dedup_key.clone()))
            }
            _ => None,
        })
        .collect();
    if !grouped.is_empty() {
        for (key, row) in tx.find_open_by_alert(&grouped).await? {
            batch.track(&row.incident);
            batch.bind(&row.incident.service, &key, row.incident.id);
        }
    }
    let opening: HashSet<(&ServiceId, &DedupKey)> = works
        .iter()
        .filter_map(|w| match w {
            Work::Event {
                service,
                dedup_key,
                action: EventAction::Trigger,
                ..
            } if batch.lookup(service, dedup_key).is_none() => Some((service, dedup_key)),
            _ => None,
        })
        .collect();
    let fresh = tx.allocate_incident_ids(opening.len()).await?;
    let rest: Vec<IncidentId> = batch.ids.by_ref().collect();
    batch.ids = fresh
        .into_iter()
        .chain(rest)
        .collect::<Vec<_>>()
        .into_iter();
    Ok(())
}

/// Runs one job inside the batch's transaction. The outer error aborts the
/// transaction; the inner one is the job's own answer.
async fn apply(
    tx: &mut StoreTx,
    work: &Work,
    catalog: &Catalog,
    now: Timestamp,
    batch: &mut Batch,
) -> Result<Result<Done, RunError>, StoreError> {
    match work {
        Work::Event {
            service,
            action,
            dedup_key,
            title,
            details,
            actor,
            decision,
            group,
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
            // Grouping applies while the service has it configured.
            let group = group.as_deref().zip(svc.grouping.as_ref());
            let open = batch.lookup(service, dedup_key).cloned();
            let transition = match (action, open) {
                (EventAction::Trigger, None) => {
                    if let Some(d) = decision.as_ref().filter(|d| d.suppressed) {
                        suppressed(tx, service, dedup_key, title, actor, d, now).await?;
                        return Ok(Ok(Done::Event { incident: None }));
                    }
                    if let Some((group, grouping)) = group {
                        let since =
                            now - SignedDuration::from_secs(grouping.window.as_secs() as i64);
                        if let Some(i) = batch.group_incident(tx, service, group, since).await? {
                            // Joins its group's incident: counted, on the record, nobody paged anew.
                            let input = Input::Alert {
                                actor: actor.clone(),
                                dedup_key: Some(dedup_key.clone()),
                            };
                            let t = match engine::step(&i, input, policy, catalog, now) {
                                Ok(t) => t,
                                Err(e) => return Ok(Err(e.into())),
                            };
                            tx.save_transition(&t, None, catalog, now).await?;
                            tx.alert_firing(i.id, service, dedup_key, now).await?;
                            batch.track(&t.incident);
                            batch.bind(service, dedup_key, i.id);
                            return Ok(Ok(Done::Event {
                                incident: Some(i.id),
                            }));
                        }
                    }
                    let mut details = details.clone();
                    let mut new = NewIncident::new(
                        service.clone(),
                        policy.id.clone(),
                        dedup_key.clone(),
                        title.clone(),
                        actor.clone(),
                        serde_json::Value::Null,
                    );
                    new.group_key = group.map(|(g, _)| g.to_owned());
                    if let Some(d) = decision {
                        new.start_level = d.start_level.unwrap_or(1);
                        new.mandatory = d.notify.clone();
                        new.priority = d.priority;
                        new.announce = catalog.config().announcements_for(d.priority);
                        if let (Some(map), false) = (
                            details.as_object_mut(),
                            d.matched.is_empty() && d.errors.is_empty(),
                        ) {
                            let record =
                                serde_json::json!({"matched": d.matched, "errors": d.errors});
                            map.insert("rules".into(), record);
                        }
                    }
                    // Kept once, on the incident: the record (timeline and
                    // audit chain) carries their hash instead of a copy.
                    let details = StoredDetails::new(&details);
                    new.detail = details.reference();
                    let mut t = match engine::open(new, policy, catalog, now) {
                        Ok(t) => t,
                        Err(e) => return Ok(Err(e.into())),
                    };
                    t.incident.id = match batch.ids.next() {
                        Some(id) => id,
                        None => tx.allocate_incident_ids(1).await?[0],
                    };
                    let id = tx.save_opened(&t, &details, catalog, now).await?;
                    if t.incident.group_key.is_some() {
                        tx.alert_firing(id, service, dedup_key, now).await?;
                    }
                    batch.track(&t.incident);
                    return Ok(Ok(Done::Event { incident: Some(id) }));
                }
                (_, None) => return Ok(Ok(Done::Event { incident: None })),
                (action, Some(i)) => {
                    let actor = actor.clone();
                    let input = match action {
                        EventAction::Trigger => {
                            if i.group_key.is_some() {
                                tx.alert_firing(i.id, service, dedup_key, now).await?;
                            }
                            Input::Alert {
                                actor,
                                dedup_key: None,
                            }
                        }
                        EventAction::Acknowledge => Input::Acknowledge { actor },
                        EventAction::Resolve => {
                            // One alert of a group resolved: the incident resolves with its last one.
                            let firing = match i.group_key {
                                Some(_) => tx.alert_resolved(i.id, dedup_key, now).await?,
                                None => 0,
                            };
                            if firing > 0 {
                                let message = format!(
                                    "alert {dedup_key} resolved; {firing} alert{} of the group still firing",
                                    if firing == 1 { "" } else { "s" }
                                );
                                let detail =
                                    serde_json::json!({"dedup_key": dedup_key, "firing": firing});
                                tx.add_timeline(
                                    i.id,
                                    now,
                                    "alert_resolved",
                                    &actor,
                                    &message,
                                    &detail,
                                )
                                .await?;
                                if &i.dedup_key != dedup_key {
                                    batch.by_key.remove(&(service.clone(), dedup_key.clone()));
                                }
                                return Ok(Ok(Done::Event {
                                    incident: Some(i.id),
                                }));
                            }
                            Input::Resolve { actor }
                        }
                    };
                    engine::step(&i, input, policy, catalog, now)
                }
            };
            match transition {
                Ok(t) => {
                    if !t.is_noop() {
                        tx.save_transition(&t, None, catalog, now).await?;
                        batch.track(&t.incident);
                    }
                    Ok(Ok(Done::Event {
                        incident: Some(t.incident.id),
                    }))
                }
                Err(e) => Ok(Err(e.into())),
            }
        }
        Work::Observe { detector, samples } => {
            observe(tx, detector, samples, catalog, now, batch).await
        }
        Work::Claim { lease, limit } => Ok(Ok(Done::Claimed(
            tx.claim_notifications(now, now + *lease, *limit).await?,
        ))),
        Work::Settle(outcomes) => {
            let settled: Vec<(&OutboxItem, &Outcome)> = outcomes
                .iter()
                .map(|(item, outcome, _)| (item, outcome))
                .collect();
            tx.settle_notifications(&settled, now).await?;
            for (item, outcome, urgency) in outcomes {
                // Stakeholder messages went to every method at once: nothing to fall back to.
                if item.audience.is_some() {
                    continue;
                }
                if let (Outcome::Failed { error }, Some(urgency)) = (outcome, urgency) {
                    match next_contact(catalog, item, *urgency, now) {
                        Some(next) => tx.fall_back(item, &next, error, catalog, now).await?,
                        None => {
                            let message = format!(
                                "{} could not be reached via {} ({error}) and has no further contact method",
                                item.user, item.contact_method
                            );
                            let detail = serde_json::json!({"user": item.user, "from": item.contact_method, "error": error});
                            tx.add_timeline(
                                IncidentId(item.incident_id),
                                now,
                                "notification_exhausted",
                                "system",
                                &message,
                                &detail,
                            )
                            .await?;
                        }
                    }
                }
            }
            Ok(Ok(Done::Settled))
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
                        batch.track(&t.incident);
                    }
                    if let Input::Update {
                        actor,
                        message,
                        next_update_at,
                    } = input
                    {
                        tx.save_status_update(*incident, message, actor, *next_update_at, now)
                            .await?;
                    }
                    Ok(Ok(Done::Act(Box::new(t.incident))))
                }
                Err(e) => Ok(Err(e.into())),
            }
        }
    }
}

mod observe;
use observe::observe;

#[cfg(test)]
mod tests;
