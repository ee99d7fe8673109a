//! Rows a transaction appends (audit entries, timeline entries, outbox rows)
//! are collected and written with multi-row INSERTs when the transaction
//! needs them or commits: a batch of a thousand events costs a handful of
//! statements per table instead of one per row. On SQLite all of a commit's
//! statements travel to the database in one call (see [`Tx::execute_all`]).

use crate::Result;
use crate::db::{Statements, Tx, Value};

/// Appended rows not yet sent to the database.
#[derive(Default)]
pub(crate) struct Pending {
    pub incidents: Vec<[Value; 20]>,
    pub audit: Vec<[Value; 11]>,
    pub timeline: Vec<[Value; 6]>,
    pub notifications: Vec<[Value; 15]>,
}

/// Most rows per statement: keeps every statement under SQLite's default
/// limit of 32 766 parameters and PostgreSQL's 65 535.
const ROWS_PER_STATEMENT: usize = 500;

/// `INSERT INTO table (cols) VALUES ($1, …), (…) suffix` for `rows` rows.
fn insert_sql(table: &str, columns: &[&str], rows: usize, suffix: &str) -> String {
    let n = columns.len();
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..n {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * n + c + 1));
        }
        sql.push(')');
    }
    sql.push_str(suffix);
    sql
}

/// Moves `rows` into INSERT statements appended to `out`.
fn insert_all<const N: usize>(
    out: &mut Statements,
    table: &str,
    columns: &[&str; N],
    rows: &mut Vec<[Value; N]>,
    suffix: &str,
) {
    let mut rows = std::mem::take(rows).into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<[Value; N]> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        let sql = insert_sql(table, columns, chunk.len(), suffix);
        out.push((sql, chunk.into_iter().flatten().collect()));
    }
}

pub(crate) const INCIDENT_COLUMNS: [&str; 20] = [
    "id",
    "title",
    "status",
    "level",
    "round",
    "level_started_at",
    "next_escalation_at",
    "alert_count",
    "updated_at",
    "acknowledged_at",
    "acknowledged_by",
    "resolved_at",
    "resolved_by",
    "service",
    "policy",
    "dedup_key",
    "created_at",
    "details",
    "priority",
    "group_key",
];
pub(crate) const AUDIT_COLUMNS: [&str; 11] = [
    "seq",
    "at",
    "actor",
    "action",
    "incident_id",
    "from_state",
    "to_state",
    "reason",
    "detail",
    "prev_hash",
    "hash",
];
pub(crate) const TIMELINE_COLUMNS: [&str; 6] =
    ["incident_id", "at", "kind", "actor", "message", "detail"];
pub(crate) const NOTIFICATION_COLUMNS: [&str; 15] = [
    "incident_id",
    "idempotency_key",
    "user_id",
    "contact_method",
    "channel",
    "address",
    "level",
    "round",
    "status",
    "due_at",
    "created_at",
    "updated_at",
    "audience",
    "occasion",
    "message",
];

impl Pending {
    /// New incidents go first: every other row refers to one.
    fn take_incidents(&mut self, out: &mut Statements) {
        insert_all(out, "incidents", &INCIDENT_COLUMNS, &mut self.incidents, "");
    }

    fn take_notifications(&mut self, out: &mut Statements) {
        self.take_incidents(out);
        // A notification planned twice (same idempotency key) is planned once.
        insert_all(
            out,
            "notifications",
            &NOTIFICATION_COLUMNS,
            &mut self.notifications,
            " ON CONFLICT (idempotency_key) DO NOTHING",
        );
    }

    /// Every pending row, as statements in an order that satisfies foreign keys.
    pub fn take_all(&mut self, out: &mut Statements) {
        self.take_notifications(out);
        insert_all(out, "audit_log", &AUDIT_COLUMNS, &mut self.audit, "");
        insert_all(out, "timeline", &TIMELINE_COLUMNS, &mut self.timeline, "");
    }

    /// Writes pending incidents, before a statement that reads them.
    pub async fn flush_incidents(&mut self, tx: &mut Tx) -> Result<()> {
        let mut out = Statements::new();
        self.take_incidents(&mut out);
        tx.execute_all(out).await
    }

    /// Writes pending incidents and notifications, before a statement that reads them.
    pub async fn flush_notifications(&mut self, tx: &mut Tx) -> Result<()> {
        let mut out = Statements::new();
        self.take_notifications(&mut out);
        tx.execute_all(out).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_every_parameter_once_in_row_order() {
        assert_eq!(
            insert_sql("t", &["a", "b"], 2, " X"),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) X"
        );
    }
}
