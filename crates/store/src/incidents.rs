//! Incidents: the rows the engine's state lives in, how transitions are saved,
//! and the queries the API and the timer runner need.

use crate::db::{Row, Value};
use crate::{Result, Store, StoreError, StoreTx, ms, ts};
use escalator_core::details::StoredDetails;
use escalator_core::directory::Catalog;
use escalator_core::engine::{Effect, Incident, Status, Transition};
use escalator_core::ids::{DedupKey, IncidentId, PolicyId, ServiceId};
use jiff::Timestamp;
use std::collections::HashMap;

const COLUMNS: &str = "id, service, policy, dedup_key, title, status, level, round, level_started_at, \
    next_escalation_at, alert_count, created_at, updated_at, acknowledged_at, acknowledged_by, \
    resolved_at, resolved_by, details, priority, group_key";

/// [`COLUMNS`], each prefixed with `alias.`.
fn qualified(alias: &str) -> String {
    COLUMNS
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An incident with the event details it was opened with.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentRow {
    pub incident: Incident,
    pub details: serde_json::Value,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn from_row(r: &Row) -> Result<IncidentRow> {
    let opt_ts = |i| r.opt_int(i)?.map(ts).transpose();
    let status = r.text(5)?;
    let incident = Incident {
        id: IncidentId(r.int(0)?),
        service: ServiceId::parse(&r.text(1)?).map_err(|e| corrupt("service", e))?,
        policy: PolicyId::parse(&r.text(2)?).map_err(|e| corrupt("policy", e))?,
        dedup_key: DedupKey::stored(r.text(3)?).map_err(|e| corrupt("dedup_key", e))?,
        group_key: r.opt_text(19)?,
        title: r.text(4)?,
        priority: r
            .opt_text(18)?
            .map(|p| p.parse().map_err(|e| corrupt("priority", e)))
            .transpose()?,
        status: Status::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        level: r.int(6)? as u32,
        round: r.int(7)? as u32,
        level_started_at: ts(r.int(8)?)?,
        next_escalation_at: opt_ts(9)?,
        alert_count: r.int(10)? as u32,
        created_at: ts(r.int(11)?)?,
        updated_at: ts(r.int(12)?)?,
        acknowledged_at: opt_ts(13)?,
        acknowledged_by: r.opt_text(14)?,
        resolved_at: opt_ts(15)?,
        resolved_by: r.opt_text(16)?,
    };
    let details = serde_json::from_str(&r.text(17)?).map_err(|e| corrupt("details", e))?;
    Ok(IncidentRow { incident, details })
}

/// Which incidents to list.
#[derive(Clone, Debug, Default)]
pub struct IncidentFilter {
    /// Any of these statuses; empty means all.
    pub statuses: Vec<Status>,
    pub service: Option<ServiceId>,
    /// Return incidents with an id below this (newest first paging).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// One page of a list, newest first, and the cursor for the next page.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<i64>,
}

impl StoreTx {
    /// The open incidents for several (service, dedup key) pairs, locked for
    /// update: one indexed `service = … AND dedup_key IN (…)` query per service
    /// and 500 keys.
    pub async fn find_open_incidents(
        &mut self,
        keys: &[(ServiceId, DedupKey)],
    ) -> Result<Vec<IncidentRow>> {
        self.pending.flush_incidents(&mut self.tx).await?;
        let mut by_service: std::collections::BTreeMap<&ServiceId, Vec<&DedupKey>> =
            Default::default();
        for (service, key) in keys {
            by_service.entry(service).or_default().push(key);
        }
        let mut out = Vec::new();
        for (service, keys) in by_service {
            for chunk in keys.chunks(500) {
                let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                let sql = format!(
                    "SELECT {COLUMNS} FROM incidents WHERE service = $1 AND dedup_key IN ({}) AND status <> 'resolved'{}",
                    marks.join(", "),
                    self.dialect().for_update()
                );
                let mut params: Vec<Value> = vec![service.as_str().into()];
                params.extend(chunk.iter().map(|k| Value::from(k.as_str())));
                for row in self.tx.fetch_all(sql, &params).await? {
                    out.push(from_row(&row)?);
                }
            }
        }
        Ok(out)
    }

    /// Open incidents holding a still-firing alert with one of these keys as a
    /// member of their group (see `config::Grouping`), keyed by that alert.
    pub async fn find_open_by_alert(
        &mut self,
        keys: &[(ServiceId, DedupKey)],
    ) -> Result<Vec<(DedupKey, IncidentRow)>> {
        self.pending.flush_incidents(&mut self.tx).await?;
        let mut out = Vec::new();
        for (service, key) in keys {
            let sql = format!(
                "SELECT {} FROM incidents i JOIN incident_alerts a ON a.incident_id = i.id \
                 WHERE a.service = $1 AND a.dedup_key = $2 AND a.resolved_at IS NULL \
                 AND i.status <> 'resolved'{}",
                qualified("i"),
                self.dialect().for_update()
            );
            for row in self
                .tx
                .fetch_all(sql, &[service.as_str().into(), key.as_str().into()])
                .await?
            {
                out.push((key.clone(), from_row(&row)?));
            }
        }
        Ok(out)
    }

    /// The newest open incident of `group` on `service` opened at or after
    /// `since`: the one a new alert of that group joins.
    pub async fn find_open_group(
        &mut self,
        service: &ServiceId,
        group: &str,
        since: Timestamp,
    ) -> Result<Option<IncidentRow>> {
        self.pending.flush_incidents(&mut self.tx).await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM incidents WHERE service = $1 AND group_key = $2 \
             AND status <> 'resolved' AND created_at >= $3 ORDER BY created_at DESC LIMIT 1{}",
            self.dialect().for_update()
        );
        self.tx
            .fetch_optional(
                sql,
                &[service.as_str().into(), group.into(), ms(since).into()],
            )
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// Records that the alert `dedup_key` is firing in `incident`'s group
    /// (again, if it had resolved).
    pub async fn alert_firing(
        &mut self,
        incident: IncidentId,
        service: &ServiceId,
        dedup_key: &DedupKey,
        now: Timestamp,
    ) -> Result<()> {
        self.pending.flush_incidents(&mut self.tx).await?;
        self.tx
            .execute(
                "INSERT INTO incident_alerts (incident_id, service, dedup_key, joined_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (incident_id, dedup_key) DO UPDATE SET resolved_at = NULL",
                &[
                    incident.0.into(),
                    service.as_str().into(),
                    dedup_key.as_str().into(),
                    ms(now).into(),
                ],
            )
            .await?;
        Ok(())
    }

    /// Records that the alert `dedup_key` of `incident`'s group resolved;
    /// returns how many of its alerts still fire.
    pub async fn alert_resolved(
        &mut self,
        incident: IncidentId,
        dedup_key: &DedupKey,
        now: Timestamp,
    ) -> Result<i64> {
        self.tx
            .execute(
                "UPDATE incident_alerts SET resolved_at = $1 \
                 WHERE incident_id = $2 AND dedup_key = $3 AND resolved_at IS NULL",
                &[ms(now).into(), incident.0.into(), dedup_key.as_str().into()],
            )
            .await?;
        let row = self
            .tx
            .fetch_optional(
                "SELECT COUNT(*) FROM incident_alerts WHERE incident_id = $1 AND resolved_at IS NULL",
                &[incident.0.into()],
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt("no count".into()))?;
        row.int(0)
    }

    /// Ids for `n` incidents about to be opened, so a batch can insert them all at once.
    pub async fn allocate_incident_ids(&mut self, n: usize) -> Result<Vec<IncidentId>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        match self.dialect() {
            // The write lock is ours until commit, so nobody else takes these.
            crate::Dialect::Sqlite => {
                self.pending.flush_incidents(&mut self.tx).await?;
                let row = self
                    .tx
                    .fetch_optional(
                        "SELECT MAX(COALESCE((SELECT MAX(id) FROM incidents), 0), \
                         COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'incidents'), 0))",
                        &[],
                    )
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("no max id".into()))?;
                let max = row.opt_int(0)?.unwrap_or(0);
                Ok((1..=n as i64).map(|i| IncidentId(max + i)).collect())
            }
            crate::Dialect::Postgres => self
                .tx
                .fetch_all(
                    "SELECT nextval(pg_get_serial_sequence('incidents', 'id')) FROM generate_series(1, $1)",
                    &[(n as i64).into()],
                )
                .await?
                .iter()
                .map(|r| r.int(0).map(IncidentId))
                .collect(),
        }
    }

    /// An incident by id, locked for update.
    pub async fn incident_for_update(&mut self, id: IncidentId) -> Result<Option<IncidentRow>> {
        self.pending.flush_incidents(&mut self.tx).await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM incidents WHERE id = $1{}",
            self.dialect().for_update()
        );
        self.tx
            .fetch_optional(sql, &[id.0.into()])
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// Triggered incidents whose escalation is due, oldest due first, locked so
    /// that no other node takes the same ones.
    pub async fn due_escalations(
        &mut self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<IncidentRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM incidents WHERE next_escalation_at IS NOT NULL AND next_escalation_at <= $1 \
             ORDER BY next_escalation_at LIMIT $2{}",
            self.dialect().skip_locked()
        );
        self.tx
            .fetch_all(sql, &[ms(now).into(), limit.into()])
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// Saves the transition that opened an incident under an id from
    /// [`Self::allocate_incident_ids`]; the row is written with the batch.
    pub async fn save_opened(
        &mut self,
        t: &Transition,
        details: &StoredDetails,
        catalog: &Catalog,
        now: Timestamp,
    ) -> Result<IncidentId> {
        let i = &t.incident;
        if i.id.0 <= 0 {
            return Err(StoreError::Corrupt(
                "save_opened needs an allocated incident id".into(),
            ));
        }
        self.pending.incidents.push([
            i.id.0.into(),
            i.title.clone().into(),
            i.status.as_str().into(),
            i.level.into(),
            i.round.into(),
            ms(i.level_started_at).into(),
            i.next_escalation_at.map(ms).into(),
            i.alert_count.into(),
            ms(i.updated_at).into(),
            i.acknowledged_at.map(ms).into(),
            i.acknowledged_by.clone().into(),
            i.resolved_at.map(ms).into(),
            i.resolved_by.clone().into(),
            i.service.as_str().into(),
            i.policy.as_str().into(),
            i.dedup_key.as_str().into(),
            ms(i.created_at).into(),
            details.text().into(),
            i.priority.map(|p| p.as_str()).into(),
            i.group_key.clone().into(),
        ]);
        self.apply_effects(i.id, t, catalog, now).await?;
        Ok(i.id)
    }

    async fn apply_effects(
        &mut self,
        id: IncidentId,
        t: &Transition,
        catalog: &Catalog,
        now: Timestamp,
    ) -> Result<()> {
        if !t.effects.is_empty() {
            self.wake_others();
        }
        for effect in &t.effects {
            match effect {
                Effect::Notify(n) => self.enqueue_notification(id, n, catalog, now).await?,
                Effect::CancelPending => self.cancel_pending(id, now).await?,
                Effect::Record(r) => self.record(id, r, now).await?,
                Effect::Inform(m) => self.enqueue_message(id, m, catalog, now).await?,
            }
        }
        Ok(())
    }

    /// Saves an engine transition: the incident (inserted when new, with
    /// `details`), then each effect in order. Returns the incident's id.
    pub async fn save_transition(
        &mut self,
        t: &Transition,
        details: Option<&StoredDetails>,
        catalog: &Catalog,
        now: Timestamp,
    ) -> Result<IncidentId> {
        let i = &t.incident;
        let common: Vec<Value> = vec![
            i.title.clone().into(),
            i.status.as_str().into(),
            i.level.into(),
            i.round.into(),
            ms(i.level_started_at).into(),
            i.next_escalation_at.map(ms).into(),
            i.alert_count.into(),
            ms(i.updated_at).into(),
            i.acknowledged_at.map(ms).into(),
            i.acknowledged_by.clone().into(),
            i.resolved_at.map(ms).into(),
            i.resolved_by.clone().into(),
        ];
        let id = if i.id.0 == 0 {
            let mut params = common;
            params.extend([
                i.service.as_str().into(),
                i.policy.as_str().into(),
                i.dedup_key.as_str().into(),
                ms(i.created_at).into(),
                details.map(StoredDetails::text).unwrap_or("{}").into(),
                i.priority.map(|p| p.as_str()).into(),
                i.group_key.clone().into(),
            ]);
            let row = self
                .tx
                .fetch_optional(
                    "INSERT INTO incidents (title, status, level, round, level_started_at, next_escalation_at, \
                     alert_count, updated_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, \
                     service, policy, dedup_key, created_at, details, priority, group_key) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) RETURNING id",
                    &params,
                )
                .await?
                .ok_or_else(|| StoreError::Corrupt("insert returned no id".into()))?;
            IncidentId(row.int(0)?)
        } else {
            // The row may still be waiting in this batch's pending inserts.
            self.pending.flush_incidents(&mut self.tx).await?;
            let mut params = common;
            params.push(i.id.0.into());
            self.tx
                .execute(
                    "UPDATE incidents SET title = $1, status = $2, level = $3, round = $4, level_started_at = $5, \
                     next_escalation_at = $6, alert_count = $7, updated_at = $8, acknowledged_at = $9, \
                     acknowledged_by = $10, resolved_at = $11, resolved_by = $12 WHERE id = $13",
                    &params,
                )
                .await?;
            i.id
        };
        self.apply_effects(id, t, catalog, now).await?;
        Ok(id)
    }
}

impl Store {
    pub async fn incident(&self, id: IncidentId) -> Result<Option<IncidentRow>> {
        let sql = format!("SELECT {COLUMNS} FROM incidents WHERE id = $1");
        self.pool
            .fetch_optional(sql, &[id.0.into()])
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// Several incidents by id, in one query.
    pub async fn incidents_by_id(&self, ids: &[IncidentId]) -> Result<Vec<IncidentRow>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {COLUMNS} FROM incidents WHERE id IN ({})",
                marks.join(", ")
            );
            let params: Vec<Value> = chunk.iter().map(|id| id.0.into()).collect();
            for row in self.pool.fetch_all(sql, &params).await? {
                out.push(from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// Incidents' details as stored, by id: the exact text that the hash in
    /// their records covers (see `escalator_core::audit::AuditEntry::check_details`).
    pub async fn details_texts(&self, ids: &[i64]) -> Result<HashMap<i64, String>> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, details FROM incidents WHERE id IN ({})",
                marks.join(", ")
            );
            let params: Vec<Value> = chunk.iter().map(|&id| id.into()).collect();
            for row in self.pool.fetch_all(sql, &params).await? {
                out.insert(row.int(0)?, row.text(1)?);
            }
        }
        Ok(out)
    }

    pub async fn incidents(&self, filter: &IncidentFilter) -> Result<Page<IncidentRow>> {
        let mut sql = format!("SELECT {COLUMNS} FROM incidents WHERE 1 = 1");
        let mut params: Vec<Value> = Vec::new();
        if !filter.statuses.is_empty() {
            let marks: Vec<String> = filter
                .statuses
                .iter()
                .map(|s| {
                    params.push(s.as_str().into());
                    format!("${}", params.len())
                })
                .collect();
            sql.push_str(&format!(" AND status IN ({})", marks.join(", ")));
        }
        if let Some(service) = &filter.service {
            params.push(service.as_str().into());
            sql.push_str(&format!(" AND service = ${}", params.len()));
        }
        if let Some(before) = filter.before_id {
            params.push(before.into());
            sql.push_str(&format!(" AND id < ${}", params.len()));
        }
        let limit = filter.limit.clamp(1, 500);
        // Fetch one more than asked to know whether there is a next page.
        params.push(i64::from(limit + 1).into());
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", params.len()));
        let mut items: Vec<IncidentRow> = self
            .pool
            .fetch_all(sql, &params)
            .await?
            .iter()
            .map(from_row)
            .collect::<Result<_>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|r| r.incident.id.0)
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// What the runner checks before each batch, in one query: when the next
    /// escalation is due, and the configuration versions (see
    /// [`Store::catalog_versions`]).
    pub async fn runner_view(&self) -> Result<(Option<Timestamp>, (i64, i64))> {
        let row = self
            .pool
            .fetch_optional(
                "SELECT (SELECT MIN(next_escalation_at) FROM incidents WHERE next_escalation_at IS NOT NULL), \
                 (SELECT MAX(revision) FROM config_revisions), \
                 (SELECT value FROM settings WHERE key = 'extras_version')",
                &[],
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt("no runner view row".into()))?;
        let next = row.opt_int(0)?.map(ts).transpose()?;
        let extras = row.opt_text(2)?.and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok((next, (row.opt_int(1)?.unwrap_or(0), extras)))
    }

    /// When the next escalation is due.
    pub async fn next_escalation_due(&self) -> Result<Option<Timestamp>> {
        Ok(self.runner_view().await?.0)
    }
}
