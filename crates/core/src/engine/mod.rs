//! The escalation state machine. Given an incident, an [`Input`] and `now`, it
//! returns the incident's next state and the [`Effect`]s the shell must apply
//! in one transaction. It never reads a clock, a database or the network.

mod effect;
#[cfg(test)]
mod tests;

pub use effect::{Action, Effect, Message, Notification, Occasion, Record, StateSnapshot};

use crate::config::{EscalationPolicy, Stakeholder, Target};
use crate::directory::Directory;
use crate::ids::{DedupKey, IncidentId, PolicyId, ServiceId, UserId};
use crate::rules::Priority;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// An incident's lifecycle: `triggered → acknowledged → resolved`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Triggered,
    Acknowledged,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Triggered => "triggered",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        [Status::Triggered, Status::Acknowledged, Status::Resolved]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
    pub fn is_open(self) -> bool {
        self != Status::Resolved
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The unit that escalates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Assigned by the store on insert; `IncidentId(0)` before that.
    pub id: IncidentId,
    pub service: ServiceId,
    pub policy: PolicyId,
    pub dedup_key: DedupKey,
    /// The alert group it gathers (see `config::Grouping`); `None` for an
    /// incident of one dedup key.
    pub group_key: Option<String>,
    pub title: String,
    /// Set by rules; `P1` is the most urgent.
    pub priority: Option<Priority>,
    pub status: Status,
    /// 1-based level of the escalation policy the incident is at.
    pub level: u32,
    /// 1-based pass over the policy's levels (`repeat` adds passes).
    pub round: u32,
    /// When the current level was reached (its due time, for timed escalations).
    pub level_started_at: Timestamp,
    /// When the incident escalates next if nobody acknowledges; `None` when it will not.
    pub next_escalation_at: Option<Timestamp>,
    pub alert_count: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<Timestamp>,
    pub resolved_by: Option<String>,
}

impl Incident {
    pub fn snapshot(&self) -> StateSnapshot {
        StateSnapshot {
            status: self.status,
            level: self.level,
            round: self.round,
        }
    }
}

/// What opens an incident.
#[derive(Clone, Debug)]
pub struct NewIncident {
    pub service: ServiceId,
    pub policy: PolicyId,
    pub dedup_key: DedupKey,
    pub title: String,
    /// Who sent it, e.g. `events_v2:payments-api`.
    pub actor: String,
    /// Extra facts for the record (source, severity…).
    pub detail: serde_json::Value,
    /// 1-based level to start at (rules may start higher); clamped to the policy.
    pub start_level: u32,
    /// Paged at once, in parallel with the policy: mandatory paths set by rules.
    pub mandatory: Vec<Target>,
    pub priority: Option<Priority>,
    /// The alert group it opens, for a service that groups alerts.
    pub group_key: Option<String>,
    /// Informed at once (never paged): the `announcements` for its priority.
    pub announce: Vec<Stakeholder>,
}

impl NewIncident {
    pub fn new(
        service: ServiceId,
        policy: PolicyId,
        dedup_key: DedupKey,
        title: String,
        actor: String,
        detail: serde_json::Value,
    ) -> Self {
        Self {
            service,
            policy,
            dedup_key,
            title,
            actor,
            detail,
            start_level: 1,
            mandatory: Vec::new(),
            priority: None,
            group_key: None,
            announce: Vec::new(),
        }
    }
}

/// Something that happens to an open incident.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// Another alert arrived: one with the incident's dedup key, or (with
    /// `dedup_key`) another alert of its group joining it.
    Alert {
        actor: String,
        dedup_key: Option<DedupKey>,
    },
    Acknowledge {
        actor: String,
    },
    Resolve {
        actor: String,
    },
    /// Manual escalation: one level up, or to `to_level` (1-based).
    Escalate {
        actor: String,
        to_level: Option<u32>,
        reason: Option<String>,
        /// Whether the actor holds the authority to skip levels (the `manager` role).
        may_skip: bool,
    },
    /// The incident's escalation timer may be due.
    Timer,
    /// A status update from the commander or communications lead (the shell
    /// checks who may publish): every stakeholder of the levels reached hears it.
    Update {
        actor: String,
        message: String,
        next_update_at: Option<Timestamp>,
    },
}

/// The incident after an input, and what must happen because of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub incident: Incident,
    pub effects: Vec<Effect>,
}

impl Transition {
    /// True when nothing changed and nothing needs writing.
    pub fn is_noop(&self) -> bool {
        self.effects.is_empty()
    }
}

/// Inputs the engine refuses; each leaves the incident unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("incident is resolved")]
    Resolved,
    #[error("incident is already at the last level ({levels})")]
    AtLastLevel { levels: u32 },
    #[error("level {requested} does not exist; the policy has {levels} levels")]
    NoSuchLevel { requested: u32, levels: u32 },
    #[error("level {requested} is not above the current level {current}")]
    NotAbove { requested: u32, current: u32 },
    #[error("skipping from level {current} to {requested} needs the manager role")]
    SkipForbidden { requested: u32, current: u32 },
    #[error("skipping levels needs a reason, which is recorded")]
    ReasonRequired,
    #[error("escalation policy has no levels")]
    EmptyPolicy,
}

/// Opens an incident at level 1 and pages it.
pub fn open(
    new: NewIncident,
    policy: &EscalationPolicy,
    dir: &dyn Directory,
    now: Timestamp,
) -> Result<Transition, EngineError> {
    if policy.levels.is_empty() {
        return Err(EngineError::EmptyPolicy);
    }
    let mut incident = Incident {
        id: IncidentId(0),
        service: new.service,
        policy: new.policy,
        dedup_key: new.dedup_key,
        group_key: new.group_key,
        title: new.title,
        priority: new.priority,
        status: Status::Triggered,
        level: new.start_level.clamp(1, policy.level_count()),
        round: 1,
        level_started_at: now,
        next_escalation_at: None,
        alert_count: 1,
        created_at: now,
        updated_at: now,
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        resolved_by: None,
    };
    let mut effects = Vec::new();
    let paging = enter_level(&mut incident, policy, dir, now, &mut effects);
    let mut detail = new.detail;
    if let serde_json::Value::Object(map) = &mut detail {
        map.extend(paging);
        if !new.mandatory.is_empty() {
            // Mandatory paths are level 0: they never collide with the policy's own pages.
            let mut seen = HashSet::new();
            let mut unavailable = Vec::new();
            let paged = page(
                &incident,
                0,
                &new.mandatory,
                dir,
                now,
                &mut seen,
                &mut unavailable,
                &mut effects,
            );
            map.insert(
                "mandatory".into(),
                serde_json::json!({"paged": paged, "unavailable": unavailable}),
            );
        }
        if incident.level > 1 {
            map.insert("start_level".into(), incident.level.into());
        }
        if !new.announce.is_empty() {
            let announced = inform(
                &incident,
                incident.level,
                &new.announce,
                Occasion::Announcement,
                None,
                0,
                dir,
                now,
                &mut HashSet::new(),
                &mut effects,
            );
            map.insert("announced".into(), serde_json::Value::Array(announced));
        }
    }
    effects.insert(
        0,
        Effect::Record(Record {
            action: Action::Triggered,
            actor: new.actor,
            from: None,
            to: incident.snapshot(),
            reason: None,
            detail,
        }),
    );
    Ok(Transition { incident, effects })
}

/// Applies one input to an incident.
pub fn step(
    incident: &Incident,
    input: Input,
    policy: &EscalationPolicy,
    dir: &dyn Directory,
    now: Timestamp,
) -> Result<Transition, EngineError> {
    let mut next = incident.clone();
    let mut effects = Vec::new();
    let before = incident.snapshot();
    let unchanged = || {
        Ok(Transition {
            incident: incident.clone(),
            effects: Vec::new(),
        })
    };
    match input {
        Input::Alert { actor, dedup_key } => {
            if incident.status == Status::Resolved {
                return Err(EngineError::Resolved);
            }
            next.alert_count = next.alert_count.saturating_add(1);
            let mut detail = serde_json::json!({"alert_count": next.alert_count});
            if let Some(key) = dedup_key {
                detail["joined_dedup_key"] = key.as_str().into();
            }
            effects.push(record(
                Action::AlertAdded,
                actor,
                before,
                &next,
                None,
                detail,
            ));
        }
        Input::Acknowledge { actor } => match incident.status {
            Status::Resolved => return Err(EngineError::Resolved),
            Status::Acknowledged => return unchanged(),
            Status::Triggered => {
                next.status = Status::Acknowledged;
                next.next_escalation_at = None;
                next.acknowledged_at = Some(now);
                next.acknowledged_by = Some(actor.clone());
                effects.push(Effect::CancelPending);
                effects.push(record(
                    Action::Acknowledged,
                    actor,
                    before,
                    &next,
                    None,
                    serde_json::json!({}),
                ));
            }
        },
        Input::Resolve { actor } => {
            if incident.status == Status::Resolved {
                return Err(EngineError::Resolved);
            }
            next.status = Status::Resolved;
            next.next_escalation_at = None;
            next.resolved_at = Some(now);
            next.resolved_by = Some(actor.clone());
            effects.push(Effect::CancelPending);
            let mut told = Vec::new();
            let informed = inform_reached(
                &next,
                policy,
                Occasion::Resolved,
                None,
                0,
                dir,
                now,
                &mut told,
            );
            let detail = if informed.is_empty() {
                serde_json::json!({})
            } else {
                serde_json::json!({"informed": informed})
            };
            effects.push(record(Action::Resolved, actor, before, &next, None, detail));
            effects.extend(told);
        }
        Input::Update {
            actor,
            message,
            next_update_at,
        } => {
            if incident.status == Status::Resolved {
                return Err(EngineError::Resolved);
            }
            let mut told = Vec::new();
            let informed = inform_reached(
                incident,
                policy,
                Occasion::Update,
                Some(message.as_str()),
                now.as_millisecond(),
                dir,
                now,
                &mut told,
            );
            effects.push(record(
                Action::StatusUpdate,
                actor,
                before,
                &next,
                None,
                serde_json::json!({
                    "message": message,
                    "next_update_at": next_update_at.map(|t| t.to_string()),
                    "informed": informed,
                }),
            ));
            effects.extend(told);
        }
        Input::Timer => {
            let Some(due) = incident.next_escalation_at else {
                return unchanged();
            };
            if incident.status != Status::Triggered {
                // A stale timer on an incident that no longer escalates: clear it.
                next.next_escalation_at = None;
                return Ok(Transition {
                    incident: next,
                    effects,
                });
            }
            if due > now {
                return unchanged();
            }
            match next_position(incident.level, incident.round, policy) {
                None => {
                    // Policy shrank under an open incident: nothing further to climb to.
                    next.next_escalation_at = None;
                    effects.push(record(
                        Action::Exhausted,
                        "system".into(),
                        before,
                        &next,
                        None,
                        serde_json::json!({"due_at": due.to_string()}),
                    ));
                }
                Some((level, round)) => {
                    next.level = level;
                    next.round = round;
                    effects.push(Effect::CancelPending);
                    // The new level starts at its due time, not at dispatch time, so
                    // escalation times never drift with runner latency.
                    let mut detail = enter_level(&mut next, policy, dir, due, &mut effects);
                    detail.insert("cause".into(), "timeout".into());
                    detail.insert("due_at".into(), due.to_string().into());
                    detail.insert("dispatched_at".into(), now.to_string().into());
                    let detail = serde_json::Value::Object(detail);
                    effects.insert(
                        0,
                        record(
                            Action::Escalated,
                            "system".into(),
                            before,
                            &next,
                            None,
                            detail,
                        ),
                    );
                }
            }
        }
        Input::Escalate {
            actor,
            to_level,
            reason,
            may_skip,
        } => {
            if incident.status == Status::Resolved {
                return Err(EngineError::Resolved);
            }
            let levels = policy.level_count();
            let target = match to_level {
                Some(t) => t,
                None if incident.level >= levels => {
                    return Err(EngineError::AtLastLevel { levels });
                }
                None => incident.level + 1,
            };
            if target == 0 || target > levels {
                return Err(EngineError::NoSuchLevel {
                    requested: target,
                    levels,
                });
            }
            if target <= incident.level {
                return Err(EngineError::NotAbove {
                    requested: target,
                    current: incident.level,
                });
            }
            let reason = reason
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty());
            if target > incident.level + 1 {
                if !may_skip {
                    return Err(EngineError::SkipForbidden {
                        requested: target,
                        current: incident.level,
                    });
                }
                if reason.is_none() {
                    return Err(EngineError::ReasonRequired);
                }
            }
            next.status = Status::Triggered;
            next.acknowledged_at = None;
            next.acknowledged_by = None;
            next.level = target;
            effects.push(Effect::CancelPending);
            let mut detail = enter_level(&mut next, policy, dir, now, &mut effects);
            detail.insert("cause".into(), "manual".into());
            detail.insert(
                "skipped_levels".into(),
                (target - incident.level - 1).into(),
            );
            let detail = serde_json::Value::Object(detail);
            effects.insert(
                0,
                record(Action::Escalated, actor, before, &next, reason, detail),
            );
        }
    }
    next.updated_at = now;
    Ok(Transition {
        incident: next,
        effects,
    })
}

fn record(
    action: Action,
    actor: String,
    from: StateSnapshot,
    to: &Incident,
    reason: Option<String>,
    detail: serde_json::Value,
) -> Effect {
    Effect::Record(Record {
        action,
        actor,
        from: Some(from),
        to: to.snapshot(),
        reason,
        detail,
    })
}

/// The level and round after `(level, round)`, or `None` at the end of the last round.
pub fn next_position(level: u32, round: u32, policy: &EscalationPolicy) -> Option<(u32, u32)> {
    if level < policy.level_count() {
        Some((level + 1, round))
    } else if round <= policy.repeat {
        Some((1, round + 1))
    } else {
        None
    }
}

/// Pages the incident's current level from `at` — its targets, or its backup
/// when no target can answer — and sets the next escalation. Returns who was
/// paged, who could not be and why, for the record.
fn enter_level(
    incident: &mut Incident,
    policy: &EscalationPolicy,
    dir: &dyn Directory,
    at: Timestamp,
    effects: &mut Vec<Effect>,
) -> serde_json::Map<String, serde_json::Value> {
    incident.level_started_at = at;
    let mut out = serde_json::Map::new();
    let Some(level) = policy.level(incident.level) else {
        incident.next_escalation_at = None;
        out.insert("paged".into(), serde_json::json!([]));
        return out;
    };
    let mut seen: HashSet<UserId> = HashSet::new();
    let mut unavailable = Vec::new();
    let n = incident.level;
    let mut paged = page(
        incident,
        n,
        &level.targets,
        dir,
        at,
        &mut seen,
        &mut unavailable,
        effects,
    );
    let backup_used = paged.is_empty() && !level.backup.is_empty();
    if backup_used {
        paged = page(
            incident,
            n,
            &level.backup,
            dir,
            at,
            &mut seen,
            &mut unavailable,
            effects,
        );
    }
    let has_next = next_position(incident.level, incident.round, policy).is_some();
    incident.next_escalation_at = match (paged.is_empty(), has_next) {
        (_, false) => None,
        // Nobody can answer this level: move on at once rather than wait on it.
        (true, true) => Some(at),
        (false, true) => Some(at + level.escalate_after.to_span()),
    };
    if paged.is_empty() {
        let reason = match (level.backup.is_empty(), unavailable.is_empty()) {
            (true, true) => "nobody to page: the targets resolved to no one".to_owned(),
            (true, false) => "nobody available: every target is away or unreachable".to_owned(),
            (false, _) => "nobody available among the targets or the backup".to_owned(),
        };
        effects.push(Effect::Record(Record {
            action: Action::LevelSkipped,
            actor: "system".into(),
            from: Some(incident.snapshot()),
            to: incident.snapshot(),
            reason: Some(reason),
            detail: serde_json::json!({
                "targets": level.targets.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
                "backup": level.backup.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
                "unavailable": unavailable,
            }),
        }));
    }
    out.insert("paged".into(), serde_json::Value::Array(paged));
    let informed = inform(
        incident,
        n,
        &level.stakeholders,
        Occasion::LevelReached,
        None,
        0,
        dir,
        at,
        &mut HashSet::new(),
        effects,
    );
    if !informed.is_empty() {
        out.insert("informed".into(), serde_json::Value::Array(informed));
    }
    if !unavailable.is_empty() {
        out.insert("unavailable".into(), serde_json::Value::Array(unavailable));
    }
    if backup_used {
        out.insert("backup_used".into(), serde_json::Value::Bool(true));
    }
    out
}

/// Tells the stakeholders of every level the incident has reached (its
/// current one and those below), once each, about `occasion`: the messages
/// go into `effects`, and who was told is returned for the record.
#[allow(clippy::too_many_arguments)]
pub fn inform_reached(
    incident: &Incident,
    policy: &EscalationPolicy,
    occasion: Occasion,
    update: Option<&str>,
    seq: i64,
    dir: &dyn Directory,
    at: Timestamp,
    effects: &mut Vec<Effect>,
) -> Vec<serde_json::Value> {
    let mut seen = HashSet::new();
    let mut informed = Vec::new();
    for n in 1..=incident.level.min(policy.level_count()) {
        let Some(level) = policy.level(n) else {
            continue;
        };
        informed.extend(inform(
            incident,
            incident.level,
            &level.stakeholders,
            occasion,
            update,
            seq,
            dir,
            at,
            &mut seen,
            effects,
        ));
    }
    informed
}

/// Plans a message to every contact method of each stakeholder not yet in
/// `seen` (notification rules and availability do not apply: nobody is paged).
#[allow(clippy::too_many_arguments)]
pub fn inform(
    incident: &Incident,
    level: u32,
    stakeholders: &[Stakeholder],
    occasion: Occasion,
    update: Option<&str>,
    seq: i64,
    dir: &dyn Directory,
    at: Timestamp,
    seen: &mut HashSet<UserId>,
    effects: &mut Vec<Effect>,
) -> Vec<serde_json::Value> {
    let mut informed = Vec::new();
    for s in stakeholders {
        for c in dir.resolve(&s.target, at) {
            if !seen.insert(c.user.clone()) {
                continue;
            }
            let methods = dir.contact_methods(&c.user);
            for contact_method in &methods {
                effects.push(Effect::Inform(Message {
                    user: c.user.clone(),
                    contact_method: contact_method.clone(),
                    level,
                    round: incident.round,
                    template: s.template.clone(),
                    occasion,
                    update: update.map(str::to_owned),
                    seq,
                    due_at: at,
                }));
            }
            if !methods.is_empty() {
                informed.push(serde_json::json!({"user": c.user, "template": s.template}));
            }
        }
    }
    informed
}

/// Plans notifications for every available user `targets` resolve to, once each.
#[allow(clippy::too_many_arguments)]
fn page(
    incident: &Incident,
    level: u32,
    targets: &[crate::config::Target],
    dir: &dyn Directory,
    at: Timestamp,
    seen: &mut HashSet<UserId>,
    unavailable: &mut Vec<serde_json::Value>,
    effects: &mut Vec<Effect>,
) -> Vec<serde_json::Value> {
    let mut paged = Vec::new();
    for target in targets {
        for c in dir.resolve(target, at) {
            if !seen.insert(c.user.clone()) {
                continue;
            }
            if let Some(reason) = c.unavailable {
                unavailable
                    .push(serde_json::json!({"user": c.user, "via": c.via, "reason": reason}));
                continue;
            }
            // A P4 at night does not phone anyone: only the rules for its urgency apply.
            let urgency = crate::config::Urgency::of(incident.priority);
            for (rule, r) in dir.notification_rules(&c.user, urgency).iter().enumerate() {
                effects.push(Effect::Notify(Notification {
                    user: c.user.clone(),
                    contact_method: r.contact_method.clone(),
                    level,
                    round: incident.round,
                    rule: rule as u32,
                    due_at: at + r.after.to_span(),
                }));
            }
            paged.push(serde_json::json!({"user": c.user, "via": c.via}));
        }
    }
    paged
}
