//! The audit chain's rows. Hashing and verification are in
//! `escalator_core::audit`; here entries are appended under the chain's tip.

use crate::db::Row;
use crate::{Result, Store, StoreError, StoreTx, ms};
use escalator_core::audit::AuditEntry;
use escalator_core::engine::{Action, Record};
use escalator_core::ids::IncidentId;
use jiff::Timestamp;

fn from_row(r: &Row) -> Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.int(0)?,
        at_ms: r.int(1)?,
        actor: r.text(2)?,
        action: r.text(3)?,
        incident_id: r.opt_int(4)?,
        from_state: r.opt_text(5)?,
        to_state: r.opt_text(6)?,
        reason: r.opt_text(7)?,
        detail: r.text(8)?,
        prev_hash: r.text(9)?,
        hash: r.text(10)?,
    })
}

/// What to append; `seq` and hashes are filled in by [`StoreTx::append_audit`].
pub struct NewAudit<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub incident_id: Option<i64>,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub reason: Option<String>,
    pub detail: &'a serde_json::Value,
}

impl StoreTx {
    /// Appends one entry to the audit chain.
    pub async fn append_audit(&mut self, new: NewAudit<'_>, now: Timestamp) -> Result<i64> {
        let (prev_seq, prev_hash) = match &self.audit_head {
            Some((seq, hash, _)) => (*seq, hash.clone()),
            None => {
                let sql = format!(
                    "SELECT seq, hash FROM audit_head WHERE id = 1{}",
                    self.dialect().for_update()
                );
                let row = self
                    .tx
                    .fetch_optional(sql, &[])
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("audit_head row is missing".into()))?;
                (row.int(0)?, row.text(1)?)
            }
        };
        let entry = AuditEntry {
            seq: 0,
            at_ms: ms(now),
            actor: new.actor.to_owned(),
            action: new.action.to_owned(),
            incident_id: new.incident_id,
            from_state: new.from_state,
            to_state: new.to_state,
            reason: new.reason,
            detail: new.detail.to_string(),
            prev_hash: String::new(),
            hash: String::new(),
        }
        .seal(prev_seq, &prev_hash);
        self.pending.audit.push([
            entry.seq.into(),
            entry.at_ms.into(),
            entry.actor.clone().into(),
            entry.action.clone().into(),
            entry.incident_id.into(),
            entry.from_state.clone().into(),
            entry.to_state.clone().into(),
            entry.reason.clone().into(),
            entry.detail.clone().into(),
            entry.prev_hash.clone().into(),
            entry.hash.clone().into(),
        ]);
        self.audit_head = Some((entry.seq, entry.hash, true));
        Ok(entry.seq)
    }

    /// Appends an entry about something other than an incident (configuration,
    /// tokens, overrides…), with no state change to show.
    pub async fn audit_event(
        &mut self,
        actor: &str,
        action: &str,
        detail: &serde_json::Value,
        now: Timestamp,
    ) -> Result<i64> {
        let new = NewAudit {
            actor,
            action,
            incident_id: None,
            from_state: None,
            to_state: None,
            reason: None,
            detail,
        };
        self.append_audit(new, now).await
    }

    /// Records an engine state change: on the audit chain and on the incident's timeline.
    pub(crate) async fn record(
        &mut self,
        incident: IncidentId,
        r: &Record,
        now: Timestamp,
    ) -> Result<()> {
        self.append_audit(
            NewAudit {
                actor: &r.actor,
                action: r.action.as_str(),
                incident_id: Some(incident.0),
                from_state: r.from.map(|s| s.to_string()),
                to_state: Some(r.to.to_string()),
                reason: r.reason.clone(),
                detail: &r.detail,
            },
            now,
        )
        .await?;
        let message = describe(r);
        self.add_timeline(
            incident,
            now,
            r.action.as_str(),
            &r.actor,
            &message,
            &r.detail,
        )
        .await
    }
}

/// The timeline's one-line account of a record.
fn describe(r: &Record) -> String {
    let paged = || {
        let names: Vec<String> = r.detail["paged"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| {
                        Some(format!("{} ({})", p["user"].as_str()?, p["via"].as_str()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut text = match names.is_empty() {
            true => "nobody".to_owned(),
            false => names.join(", "),
        };
        if r.detail["backup_used"] == true {
            text.push_str(" (the backup: no primary target was available)");
        }
        let skipped: Vec<String> = r.detail["unavailable"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| {
                        Some(format!(
                            "{} ({})",
                            p["user"].as_str()?,
                            p["reason"].as_str()?
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !skipped.is_empty() {
            text.push_str(&format!("; skipped {}", skipped.join(", ")));
        }
        text
    };
    let from_level = r.from.map(|f| f.level).unwrap_or(0);
    let text = match r.action {
        Action::Triggered => format!(
            "Triggered by {}; level {} paging {}",
            r.actor,
            r.to.level,
            paged()
        ),
        Action::AlertAdded => format!(
            "Another alert from {} ({} in all); nobody paged anew",
            r.actor, r.detail["alert_count"]
        ),
        Action::Escalated if r.detail["cause"] == "timeout" => format!(
            "Not acknowledged in time: escalated from level {from_level} to level {} (round {}); paging {}",
            r.to.level,
            r.to.round,
            paged()
        ),
        Action::Escalated => format!(
            "Escalated by {} from level {from_level} to level {}{}; paging {}",
            r.actor,
            r.to.level,
            r.reason
                .as_deref()
                .map(|x| format!(" because: {x}"))
                .unwrap_or_default(),
            paged()
        ),
        Action::LevelSkipped => format!(
            "Level {} skipped: {}",
            r.to.level,
            r.reason.as_deref().unwrap_or("nobody to page")
        ),
        Action::Exhausted => {
            "The policy has no further level; the incident stays where it is".to_owned()
        }
        Action::Acknowledged => format!("Acknowledged by {}", r.actor),
        Action::Resolved => format!("Resolved by {}", r.actor),
        Action::StatusUpdate => format!(
            "Status update by {}: {}",
            r.actor,
            r.detail["message"].as_str().unwrap_or_default()
        ),
    };
    // Stakeholders told, on the same line as the event that told them.
    let informed: Vec<&str> = r.detail["informed"]
        .as_array()
        .map(|a| a.iter().filter_map(|u| u["user"].as_str()).collect())
        .unwrap_or_default();
    if informed.is_empty() {
        text
    } else {
        format!("{text}; informing {}", informed.join(", "))
    }
}

impl Store {
    /// Audit entries with `seq > after`, in order, at most `limit`.
    pub async fn audit_entries(&self, after: i64, limit: u32) -> Result<Vec<AuditEntry>> {
        self.pool
            .fetch_all(
                "SELECT seq, at, actor, action, incident_id, from_state, to_state, reason, detail, prev_hash, hash \
                 FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[after.into(), limit.into()],
            )
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// The chain's tip as recorded in `audit_head`: entries removed from the end
    /// show up as a tip that no stored entry matches.
    pub async fn audit_head(&self) -> Result<(i64, String)> {
        let row = self
            .pool
            .fetch_optional("SELECT seq, hash FROM audit_head WHERE id = 1", &[])
            .await?
            .ok_or_else(|| StoreError::Corrupt("audit_head row is missing".into()))?;
        Ok((row.int(0)?, row.text(1)?))
    }
}
