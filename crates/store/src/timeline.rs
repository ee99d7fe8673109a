//! The incident timeline: what happened to one incident, in words, in order.

use crate::db::Row;
use crate::{Result, Store, StoreTx, ms, ts};
use escalator_core::details;
use escalator_core::ids::IncidentId;
use jiff::Timestamp;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub id: i64,
    pub at: Timestamp,
    pub kind: String,
    pub actor: String,
    pub message: String,
    pub detail: serde_json::Value,
}

fn from_row(r: &Row) -> Result<TimelineEntry> {
    Ok(TimelineEntry {
        id: r.int(0)?,
        at: ts(r.int(1)?)?,
        kind: r.text(2)?,
        actor: r.text(3)?,
        message: r.text(4)?,
        detail: serde_json::from_str(&r.text(5)?).unwrap_or(serde_json::Value::Null),
    })
}

impl StoreTx {
    pub async fn add_timeline(
        &mut self,
        incident: IncidentId,
        at: Timestamp,
        kind: &str,
        actor: &str,
        message: &str,
        detail: &serde_json::Value,
    ) -> Result<()> {
        self.pending.timeline.push([
            incident.0.into(),
            ms(at).into(),
            kind.into(),
            actor.into(),
            message.into(),
            detail.to_string().into(),
        ]);
        Ok(())
    }
}

impl Store {
    /// An incident's timeline, oldest first. An entry that refers to the
    /// incident's details (`details_sha256`) is shown with them, as it read
    /// when each entry kept its own copy.
    pub async fn timeline(&self, incident: IncidentId) -> Result<Vec<TimelineEntry>> {
        let mut entries: Vec<TimelineEntry> = self
            .pool
            .fetch_all(
                "SELECT id, at, kind, actor, message, detail FROM timeline WHERE incident_id = $1 ORDER BY id",
                &[incident.0.into()],
            )
            .await?
            .iter()
            .map(from_row)
            .collect::<Result<_>>()?;
        if entries
            .iter()
            .any(|e| details::reference_in(&e.detail).is_some())
        {
            let details = match self.incident(incident).await? {
                Some(row) => row.details,
                None => serde_json::Value::Null,
            };
            for e in &mut entries {
                if details::reference_in(&e.detail).is_some() {
                    e.detail = details::expand(&e.detail, &details);
                }
            }
        }
        Ok(entries)
    }
}
