//! Retention: finished records removed in small batches, one short
//! transaction each, so that a pass never holds the writer (SQLite) or the
//! audit chain's tip (both) for long. What may go is decided in
//! `escalator_core::retention`; a batch that removes incidents or the start
//! of the audit chain says so on the chain in the same transaction.

use crate::{Result, Store, StoreError, StoreTx, ms, ts};
use escalator_core::audit::{
    AUDIT_PRUNED, AuditEntry, ChainBreak, Checkpoint, INCIDENTS_PRUNED, IncidentsPruned,
    RETENTION_ACTOR, Verified, Verifier,
};
use jiff::Timestamp;

/// Notifications still to be sent or being sent: never removed.
const UNFINISHED: &str = "status IN ('pending', 'sending')";

/// `$first, $first+1, …` for `n` parameters.
fn marks(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Removes up to `limit` incidents resolved before `cutoff`, with their
    /// timelines, alerts, roles and notifications, and appends one
    /// [`INCIDENTS_PRUNED`] entry naming them. An incident with a
    /// notification still pending (a late stakeholder notice) waits.
    /// Returns how many went; fewer than `limit` means none are left.
    pub async fn prune_incidents(
        &self,
        cutoff: Timestamp,
        limit: u32,
        now: Timestamp,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let lock = tx.dialect().skip_locked();
        let ids: Vec<i64> = tx
            .tx
            .fetch_all(
                format!(
                    "SELECT id FROM incidents i WHERE status = 'resolved' AND resolved_at < $1 \
                     AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.incident_id = i.id AND n.{UNFINISHED}) \
                     ORDER BY resolved_at LIMIT $2{lock}"
                ),
                &[ms(cutoff).into(), limit.into()],
            )
            .await?
            .iter()
            .map(|r| r.int(0))
            .collect::<Result<_>>()?;
        if ids.is_empty() {
            return Ok(0);
        }
        let params: Vec<_> = ids.iter().map(|&id| id.into()).collect();
        let list = marks(1, ids.len());
        for table in [
            "timeline",
            "notifications",
            "incident_alerts",
            "incident_comms",
            "incidents",
        ] {
            let column = if table == "incidents" {
                "id"
            } else {
                "incident_id"
            };
            tx.tx
                .execute(
                    format!("DELETE FROM {table} WHERE {column} IN ({list})"),
                    &params,
                )
                .await?;
        }
        let detail = IncidentsPruned {
            incidents: ids.clone(),
            resolved_before: cutoff.to_string(),
        };
        tx.audit_event(RETENTION_ACTOR, INCIDENTS_PRUNED, &json(&detail)?, now)
            .await?;
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    /// Removes up to `limit` notifications that finished (sent, delivered,
    /// failed or cancelled) before `cutoff`, and the hand-off notices and
    /// phone turns older than it. Pending and sending ones always stay.
    pub async fn prune_notifications(&self, cutoff: Timestamp, limit: u32) -> Result<u64> {
        let at = ms(cutoff);
        let mut tx = self.begin().await?;
        let gone = tx
            .tx
            .execute(
                format!(
                    "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications \
                     WHERE NOT {UNFINISHED} AND updated_at < $1 ORDER BY updated_at LIMIT $2)"
                ),
                &[at.into(), limit.into()],
            )
            .await?;
        let notices = tx
            .tx
            .execute(
                "DELETE FROM handoff_notices WHERE (schedule_id, user_id, shift_start) IN \
                 (SELECT schedule_id, user_id, shift_start FROM handoff_notices WHERE sent_at < $1 LIMIT $2)",
                &[at.into(), limit.into()],
            )
            .await?;
        let turns = tx
            .tx
            .execute(
                "DELETE FROM phone_turns WHERE (channel, address) IN \
                 (SELECT channel, address FROM phone_turns WHERE taken_at < $1 LIMIT $2)",
                &[at.into(), limit.into()],
            )
            .await?;
        tx.commit().await?;
        Ok(gone.max(notices).max(turns))
    }

    /// Removes up to `limit` metric samples timestamped before `cutoff`.
    pub async fn prune_samples(&self, cutoff: Timestamp, limit: u32) -> Result<u64> {
        self.pool
            .execute(
                "DELETE FROM metric_samples WHERE (service, metric, at) IN \
                 (SELECT service, metric, at FROM metric_samples WHERE at < $1 ORDER BY at LIMIT $2)",
                &[ms(cutoff).into(), limit.into()],
            )
            .await
    }

    /// Removes up to `limit` entries from the start of the audit chain, as
    /// far as they are all older than `cutoff`, moves the checkpoint to the
    /// last one removed, and appends an [`AUDIT_PRUNED`] entry carrying it.
    pub async fn prune_audit(&self, cutoff: Timestamp, limit: u32, now: Timestamp) -> Result<u64> {
        let mut tx = self.begin().await?;
        let start = tx.lock_audit_checkpoint().await?;
        let oldest: Vec<(i64, i64, String)> = tx
            .tx
            .fetch_all(
                "SELECT seq, at, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[start.seq.into(), limit.into()],
            )
            .await?
            .iter()
            .map(|r| Ok((r.int(0)?, r.int(1)?, r.text(2)?)))
            .collect::<Result<_>>()?;
        let times: Vec<(i64, i64)> = oldest.iter().map(|(seq, at, _)| (*seq, *at)).collect();
        let n = escalator_core::retention::audit_prefix(&times, cutoff);
        let Some((last, _, hash)) = n.checked_sub(1).and_then(|i| oldest.get(i)) else {
            return Ok(0);
        };
        let checkpoint = Checkpoint {
            seq: *last,
            hash: hash.clone(),
            entries: start.entries + n as u64,
        };
        tx.tx
            .execute(
                "DELETE FROM audit_log WHERE seq > $1 AND seq <= $2",
                &[start.seq.into(), checkpoint.seq.into()],
            )
            .await?;
        tx.tx
            .execute(
                "UPDATE audit_checkpoint SET seq = $1, hash = $2, entries = $3, pruned_at = $4 WHERE id = 1",
                &[
                    checkpoint.seq.into(),
                    checkpoint.hash.clone().into(),
                    (checkpoint.entries as i64).into(),
                    ms(now).into(),
                ],
            )
            .await?;
        tx.audit_event(RETENTION_ACTOR, AUDIT_PRUNED, &json(&checkpoint)?, now)
            .await?;
        tx.commit().await?;
        Ok(n as u64)
    }

    /// Where the audit chain now starts.
    pub async fn audit_checkpoint(&self) -> Result<Checkpoint> {
        let row = self
            .pool
            .fetch_optional(
                "SELECT seq, hash, entries FROM audit_checkpoint WHERE id = 1",
                &[],
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt("audit_checkpoint row is missing".into()))?;
        checkpoint_from_row(&row)
    }

    /// Stores metric samples `(service, metric, at, value)`; a sample posted
    /// again (a retried request) replaces the one with the same instant.
    pub async fn record_samples(&self, samples: &[(&str, &str, Timestamp, f64)]) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        // Four parameters a row; SQLite allows 32 766 in one statement.
        for chunk in samples.chunks(1000) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", marks(4 * i + 1, 4)))
                .collect();
            let mut params = Vec::with_capacity(4 * chunk.len());
            for (service, metric, at, value) in chunk {
                params.extend([
                    (*service).into(),
                    (*metric).into(),
                    ms(*at).into(),
                    (*value).into(),
                ]);
            }
            tx.tx
                .execute(
                    format!(
                        "INSERT INTO metric_samples (service, metric, at, value) VALUES {} \
                         ON CONFLICT (service, metric, at) DO UPDATE SET value = excluded.value",
                        rows.join(", ")
                    ),
                    &params,
                )
                .await?;
        }
        tx.commit().await
    }

    /// The stored samples of one metric from `from` (inclusive) to `to`
    /// (exclusive), oldest first, at most `limit`.
    pub async fn samples(
        &self,
        service: &str,
        metric: &str,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
    ) -> Result<Vec<(Timestamp, f64)>> {
        self.pool
            .fetch_all(
                "SELECT at, value FROM metric_samples WHERE service = $1 AND metric = $2 \
                 AND at >= $3 AND at < $4 ORDER BY at LIMIT $5",
                &[
                    service.into(),
                    metric.into(),
                    ms(from).into(),
                    ms(to).into(),
                    limit.into(),
                ],
            )
            .await?
            .iter()
            .map(|r| Ok((ts(r.int(0)?)?, r.real(1)?)))
            .collect()
    }

    /// Walks the whole audit chain from its checkpoint to its tip, checking
    /// every link and every incident's details the entries cover. Safe on a
    /// live database: the walk ends at the tip read before it starts, and a
    /// walk that failed while the chain moved on (a retention pass may have
    /// removed what it was reading) is started again, up to three times.
    pub async fn verify_audit(&self) -> Result<Result<Verified, ChainBreak>> {
        let mut attempts = 0;
        loop {
            let before = (self.audit_checkpoint().await?, self.audit_head().await?);
            let outcome = self.verify_audit_from(&before.0, &before.1).await?;
            attempts += 1;
            let after = (self.audit_checkpoint().await?, self.audit_head().await?);
            if outcome.is_ok() || attempts == 3 || after == before {
                return Ok(outcome);
            }
        }
    }

    /// The walk from `start` to the tip `(head_seq, head_hash)`, read before it.
    async fn verify_audit_from(
        &self,
        start: &Checkpoint,
        (head_seq, head_hash): &(i64, String),
    ) -> Result<Result<Verified, ChainBreak>> {
        let head_seq = *head_seq;
        let mut verifier = Verifier::from_checkpoint(start.clone());
        let mut after = start.seq;
        while after < head_seq {
            let mut page: Vec<AuditEntry> = self.audit_entries(after, 1000).await?;
            page.retain(|e| e.seq <= head_seq);
            let Some(last) = page.last() else { break };
            after = last.seq;
            let ids: Vec<i64> = page
                .iter()
                .filter_map(|e| e.details_reference().map(|(id, _)| id))
                .collect();
            let details = self.details_texts(&ids).await?;
            for e in &page {
                let stored = e.incident_id.and_then(|id| details.get(&id));
                let checked = verifier
                    .check(e)
                    .and_then(|()| verifier.details(e, stored.map(String::as_str)));
                if let Err(brk) = checked {
                    return Ok(Err(brk));
                }
            }
        }
        Ok(verifier.finish(head_seq, head_hash))
    }
}

impl StoreTx {
    /// The checkpoint, locked so that two nodes' passes take turns.
    async fn lock_audit_checkpoint(&mut self) -> Result<Checkpoint> {
        let lock = self.dialect().for_update();
        let row = self
            .tx
            .fetch_optional(
                format!("SELECT seq, hash, entries FROM audit_checkpoint WHERE id = 1{lock}"),
                &[],
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt("audit_checkpoint row is missing".into()))?;
        checkpoint_from_row(&row)
    }
}

fn checkpoint_from_row(r: &crate::db::Row) -> Result<Checkpoint> {
    Ok(Checkpoint {
        seq: r.int(0)?,
        hash: r.text(1)?,
        entries: u64::try_from(r.int(2)?)
            .map_err(|_| StoreError::Corrupt("audit_checkpoint.entries is negative".into()))?,
    })
}

fn json<T: serde::Serialize>(detail: &T) -> Result<serde_json::Value> {
    serde_json::to_value(detail).map_err(|e| StoreError::Corrupt(format!("audit detail: {e}")))
}
