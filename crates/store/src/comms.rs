//! An incident's communication state: its roles (commander, communications
//! lead, scribe) and its last status update. Role changes go on the timeline
//! and the audit chain in the same transaction; an update's record is the
//! engine's (`Action::StatusUpdate`), saved with it by the runner.

use crate::audit::NewAudit;
use crate::{Result, Store, StoreTx, ms, ts};
use escalator_core::ids::IncidentId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Who holds each incident role; `None` where nobody does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roles {
    pub commander: Option<String>,
    pub comms_lead: Option<String>,
    pub scribe: Option<String>,
}

impl Roles {
    pub const NAMES: [&str; 3] = ["commander", "comms_lead", "scribe"];

    /// The holder slot of role `name`, one of [`Roles::NAMES`].
    pub fn slot(&mut self, name: &str) -> Option<&mut Option<String>> {
        match name {
            "commander" => Some(&mut self.commander),
            "comms_lead" => Some(&mut self.comms_lead),
            "scribe" => Some(&mut self.scribe),
            _ => None,
        }
    }

    /// Whether `user` leads the incident or its communication.
    pub fn may_publish(&self, user: &str) -> bool {
        self.commander.as_deref() == Some(user) || self.comms_lead.as_deref() == Some(user)
    }

    /// `commander alice, comms_lead bob` (or `none`).
    pub fn describe(&self) -> String {
        let held: Vec<String> = [
            ("commander", &self.commander),
            ("comms_lead", &self.comms_lead),
            ("scribe", &self.scribe),
        ]
        .into_iter()
        .filter_map(|(name, who)| who.as_ref().map(|w| format!("{name} {w}")))
        .collect();
        if held.is_empty() {
            "none".to_owned()
        } else {
            held.join(", ")
        }
    }
}

/// An incident's communication state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comms {
    pub roles: Roles,
    pub last_update: Option<String>,
    pub last_update_by: Option<String>,
    pub last_update_at: Option<Timestamp>,
    /// When the next status update is promised.
    pub next_update_at: Option<Timestamp>,
}

const COLUMNS: &str = "commander, comms_lead, scribe";
const ALL_COLUMNS: &str =
    "commander, comms_lead, scribe, last_update, last_update_by, last_update_at, next_update_at";

impl StoreTx {
    /// Remembers a status update (its words, author, time and promised next one).
    pub async fn save_status_update(
        &mut self,
        incident: IncidentId,
        message: &str,
        actor: &str,
        next_update_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<()> {
        self.pending.flush_incidents(&mut self.tx).await?;
        self.tx
            .execute(
                "INSERT INTO incident_comms (incident_id, last_update, last_update_by, last_update_at, \
                 next_update_at, updated_at) VALUES ($1, $2, $3, $4, $5, $4) ON CONFLICT (incident_id) \
                 DO UPDATE SET last_update = excluded.last_update, last_update_by = excluded.last_update_by, \
                 last_update_at = excluded.last_update_at, next_update_at = excluded.next_update_at, \
                 updated_at = excluded.updated_at",
                &[
                    incident.0.into(),
                    message.into(),
                    actor.into(),
                    ms(now).into(),
                    next_update_at.map(ms).into(),
                ],
            )
            .await?;
        Ok(())
    }
}

impl Store {
    pub async fn comms(&self, incident: IncidentId) -> Result<Comms> {
        let sql = format!("SELECT {ALL_COLUMNS} FROM incident_comms WHERE incident_id = $1");
        let Some(r) = self.pool.fetch_optional(sql, &[incident.0.into()]).await? else {
            return Ok(Comms::default());
        };
        let opt_ts = |i| r.opt_int(i)?.map(ts).transpose();
        Ok(Comms {
            roles: Roles {
                commander: r.opt_text(0)?,
                comms_lead: r.opt_text(1)?,
                scribe: r.opt_text(2)?,
            },
            last_update: r.opt_text(3)?,
            last_update_by: r.opt_text(4)?,
            last_update_at: opt_ts(5)?,
            next_update_at: opt_ts(6)?,
        })
    }

    /// Sets the incident's roles to `roles`, recording the change (with the
    /// holders before it) on the timeline and the audit chain.
    pub async fn set_roles(
        &self,
        incident: IncidentId,
        roles: &Roles,
        actor: &str,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM incident_comms WHERE incident_id = $1{}",
            tx.dialect().for_update()
        );
        let before = match tx.tx.fetch_optional(sql, &[incident.0.into()]).await? {
            Some(r) => Roles {
                commander: r.opt_text(0)?,
                comms_lead: r.opt_text(1)?,
                scribe: r.opt_text(2)?,
            },
            None => Roles::default(),
        };
        tx.tx
            .execute(
                "INSERT INTO incident_comms (incident_id, commander, comms_lead, scribe, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (incident_id) DO UPDATE SET \
                 commander = excluded.commander, comms_lead = excluded.comms_lead, \
                 scribe = excluded.scribe, updated_at = excluded.updated_at",
                &[
                    incident.0.into(),
                    roles.commander.clone().into(),
                    roles.comms_lead.clone().into(),
                    roles.scribe.clone().into(),
                    ms(now).into(),
                ],
            )
            .await?;
        let detail = serde_json::json!({"roles": roles, "before": before});
        tx.append_audit(
            NewAudit {
                actor,
                action: "roles_changed",
                incident_id: Some(incident.0),
                from_state: None,
                to_state: None,
                reason: None,
                detail: &detail,
            },
            now,
        )
        .await?;
        let message = format!("Roles set by {actor}: {}", roles.describe());
        tx.add_timeline(incident, now, "roles_changed", actor, &message, &detail)
            .await?;
        tx.commit().await
    }
}
