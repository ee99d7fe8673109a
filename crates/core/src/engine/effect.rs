//! What the engine asks the shell to do. Effects are applied in order, in the
//! same transaction as the incident's new state.

use super::Status;
use crate::ids::{ContactMethodId, IncidentId, UserId};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Queue one message to one contact method (the outbox).
    Notify(Notification),
    /// Cancel every queued notification of the incident that has not gone out.
    CancelPending,
    /// Append to the audit chain and the incident's timeline.
    Record(Record),
    /// Queue one message to a stakeholder's contact method (the outbox, as a
    /// stakeholder message): never cancelled by an acknowledgement.
    Inform(Message),
}

/// Why a stakeholder is told something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Occasion {
    /// The incident reached the level the stakeholder is listed at.
    LevelReached,
    /// The commander or communications lead published a status update.
    Update,
    Resolved,
    /// An incident of an announced priority opened.
    Announcement,
}

impl Occasion {
    pub fn as_str(self) -> &'static str {
        match self {
            Occasion::LevelReached => "level_reached",
            Occasion::Update => "update",
            Occasion::Resolved => "resolved",
            Occasion::Announcement => "announcement",
        }
    }
}

/// One message to one stakeholder's contact method, rendered with
/// `template` when it is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub user: UserId,
    pub contact_method: ContactMethodId,
    pub level: u32,
    pub round: u32,
    /// An audience name or a template id.
    pub template: String,
    pub occasion: Occasion,
    /// A status update's words.
    pub update: Option<String>,
    /// Tells repeats of an occasion apart (the update's time, in ms).
    pub seq: i64,
    pub due_at: Timestamp,
}

impl Message {
    /// Unique per incident, occasion, level, round, user and contact method.
    pub fn idempotency_key(&self, incident: IncidentId) -> String {
        format!(
            "inc{}-{}{}-r{}-l{}-{}-{}",
            incident,
            self.occasion.as_str(),
            self.seq,
            self.round,
            self.level,
            self.user,
            self.contact_method
        )
    }
}

/// One planned message to one contact method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub user: UserId,
    pub contact_method: ContactMethodId,
    pub level: u32,
    pub round: u32,
    /// Index of the notification rule that planned it.
    pub rule: u32,
    pub due_at: Timestamp,
}

impl Notification {
    /// Unique per incident, level, round, user, contact method and rule: the store
    /// refuses a second notification with the same key, and receivers dedup on it.
    pub fn idempotency_key(&self, incident: IncidentId) -> String {
        format!(
            "inc{}-r{}-l{}-{}-{}-{}",
            incident, self.round, self.level, self.user, self.contact_method, self.rule
        )
    }
}

/// A state change, for the audit chain and the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub action: Action,
    pub actor: String,
    pub from: Option<StateSnapshot>,
    pub to: StateSnapshot,
    pub reason: Option<String>,
    pub detail: serde_json::Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Triggered,
    AlertAdded,
    Escalated,
    LevelSkipped,
    Exhausted,
    Acknowledged,
    Resolved,
    StatusUpdate,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Triggered => "triggered",
            Action::AlertAdded => "alert_added",
            Action::Escalated => "escalated",
            Action::LevelSkipped => "level_skipped",
            Action::Exhausted => "exhausted",
            Action::Acknowledged => "acknowledged",
            Action::Resolved => "resolved",
            Action::StatusUpdate => "status_update",
        }
    }
}

/// Where an incident stands: status, level and round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateSnapshot {
    pub status: Status,
    pub level: u32,
    pub round: u32,
}

impl fmt::Display for StateSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} level {} round {}",
            self.status, self.level, self.round
        )
    }
}
