//! An incident's communication state: its roles (commander, communications
//! lead, scribe) and its last status update. Role changes go on the timeline
//! and the audit chain in the same transaction; an update's record is the
//! engine's (`Action::StatusUpdate`), saved with it by the runner. Who may
//! change a role is `core::comms`' decision, made here only because it must
//! see the holders as read under the row lock.

use crate::audit::NewAudit;
use crate::db::{Row, Value};
use crate::{Result, Store, StoreError, StoreTx, ms, ts};
use escalator_core::auth::Principal;
use escalator_core::comms::{IncidentRole, RoleRefused, Roles};
use escalator_core::ids::IncidentId;
use jiff::Timestamp;
use std::collections::HashMap;

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

/// The roles in [`COLUMNS`] order, from column `first` of `r`.
fn roles_at(r: &Row, first: usize) -> Result<Roles> {
    Ok(Roles {
        commander: r.opt_text(first)?,
        comms_lead: r.opt_text(first + 1)?,
        scribe: r.opt_text(first + 2)?,
    })
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
            roles: roles_at(&r, 0)?,
            last_update: r.opt_text(3)?,
            last_update_by: r.opt_text(4)?,
            last_update_at: opt_ts(5)?,
            next_update_at: opt_ts(6)?,
        })
    }

    /// The roles of several incidents (a page of a list), in one query per
    /// 500; incidents nobody holds a role in are left out.
    pub async fn roles_of(&self, ids: &[IncidentId]) -> Result<HashMap<i64, Roles>> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT incident_id, {COLUMNS} FROM incident_comms WHERE incident_id IN ({})",
                marks.join(", ")
            );
            let params: Vec<Value> = chunk.iter().map(|id| id.0.into()).collect();
            for r in self.pool.fetch_all(sql, &params).await? {
                let roles = roles_at(&r, 1)?;
                out.insert(r.int(0)?, roles);
            }
        }
        Ok(out)
    }

    /// Applies role `changes` (in order; `None` clears a role) to the
    /// incident's roles under a row lock, so changes made at the same time
    /// from the API and from Slack both hold, if `by` may make them
    /// ([`Roles::change`], judged on the holders read under the lock: two
    /// requests cannot both replace the same holder). A change is recorded
    /// (with the holders before it) on the timeline and the audit chain;
    /// changes that leave every role as it was record nothing. Returns the
    /// roles after, or why `by` may not; a refusal changes nothing.
    pub async fn set_roles(
        &self,
        incident: IncidentId,
        changes: &[(IncidentRole, Option<String>)],
        by: &Principal,
        actor: &str,
        now: Timestamp,
    ) -> Result<Result<Roles, RoleRefused>> {
        let mut tx = self.begin().await?;
        // The row exists before it is locked: on PostgreSQL two first
        // changes would otherwise both read "nobody" and the later win whole.
        tx.tx
            .execute(
                "INSERT INTO incident_comms (incident_id, updated_at) VALUES ($1, $2) \
                 ON CONFLICT (incident_id) DO NOTHING",
                &[incident.0.into(), ms(now).into()],
            )
            .await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM incident_comms WHERE incident_id = $1{}",
            tx.dialect().for_update()
        );
        let r = tx
            .tx
            .fetch_optional(sql, &[incident.0.into()])
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("no roles row for incident {incident}")))?;
        let before = roles_at(&r, 0)?;
        let roles = match before.change(changes, by) {
            Ok(roles) => roles,
            Err(refused) => {
                // Committed rather than dropped, like a change that changes
                // nothing: at most an empty roles row was written, and on
                // SQLite a dropped transaction costs the writer its connection.
                tx.commit().await?;
                return Ok(Err(refused));
            }
        };
        if roles == before {
            tx.commit().await?;
            return Ok(Ok(roles));
        }
        tx.tx
            .execute(
                "UPDATE incident_comms SET commander = $2, comms_lead = $3, scribe = $4, \
                 updated_at = $5 WHERE incident_id = $1",
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
        tx.commit().await?;
        Ok(Ok(roles))
    }
}
