//! One thin layer over the two drivers: typed parameters in, plain rows out.
//! Everything above this file is written once for both databases; the only
//! differences left are the SQL fragments in [`Dialect`].

use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{AssertSqlSafe, Postgres, Row as _, Sqlite, Transaction};

use crate::StoreError;
use std::sync::Arc;

/// A bound parameter. Nulls are typed so PostgreSQL can infer the column type.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Real(Option<f64>),
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(Some(v))
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(Some(v.into()))
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_owned()))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(Some(v.clone()))
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::Text(v)
    }
}
impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Value::Text(v.map(str::to_owned))
    }
}

/// A result row: integers and text, by column position.
#[derive(Clone, Debug)]
pub(crate) struct Row(Vec<Value>);

impl Row {
    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i} is unexpectedly null")))
    }
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.0.get(i) {
            Some(Value::Int(v)) => Ok(*v),
            Some(Value::Text(None) | Value::Real(None)) => Ok(None),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected an integer, found {other:?}"
            ))),
        }
    }
    pub fn real(&self, i: usize) -> Result<f64, StoreError> {
        match self.0.get(i) {
            Some(Value::Real(Some(v))) => Ok(*v),
            Some(Value::Int(Some(v))) => Ok(*v as f64),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected a number, found {other:?}"
            ))),
        }
    }
    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i} is unexpectedly null")))
    }
    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.0.get(i) {
            Some(Value::Text(v)) => Ok(v.clone()),
            Some(Value::Int(None) | Value::Real(None)) => Ok(None),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected text, found {other:?}"
            ))),
        }
    }
}

/// Which SQL dialect a statement is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Row-lock suffix for reads that precede a write of the same rows. SQLite
    /// needs none: its write transactions (`BEGIN IMMEDIATE`) are serial.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }
    /// Lock suffix for claiming work several nodes compete for.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

pub(crate) enum Tx {
    Sqlite(SqliteTx),
    Postgres(Transaction<'static, Postgres>),
}

/// A SQLite write transaction whose `BEGIN IMMEDIATE` travels with its first
/// statement and whose `COMMIT` travels with its last writes. Each call to a
/// sqlx SQLite connection is a round trip to that connection's thread; with
/// `BEGIN` and `COMMIT` riding along, a group commit makes two fewer of them,
/// and it is the runner's round trips, one after another, that bound how many
/// events a second it can commit.
pub(crate) struct SqliteTx {
    conn: Option<sqlx::pool::PoolConnection<Sqlite>>,
    /// Whether `BEGIN IMMEDIATE` has been sent (and not yet `COMMIT`).
    begun: bool,
    /// The process's turn to write, and where its connection goes back to.
    slot: Option<WriterGuard>,
}

/// The one connection this process writes SQLite through, kept out of the
/// pool between write transactions. Only it writes, so its page cache stays
/// valid from one transaction to the next; a pooled connection would find
/// that another had written since and start every transaction by discarding
/// its cache and reading the b-tree pages back. Holding the slot is also the
/// process's turn to write.
pub(crate) type WriterSlot = Arc<tokio::sync::Mutex<Option<sqlx::pool::PoolConnection<Sqlite>>>>;
pub(crate) type WriterGuard =
    tokio::sync::OwnedMutexGuard<Option<sqlx::pool::PoolConnection<Sqlite>>>;

impl SqliteTx {
    fn conn(&mut self) -> &mut sqlx::SqliteConnection {
        self.conn
            .as_mut()
            .expect("a transaction's connection lives until it ends")
    }

    /// `sql`, preceded by `BEGIN IMMEDIATE` if this is the first statement.
    fn first(&mut self, sql: String) -> String {
        if self.begun {
            return sql;
        }
        self.begun = true;
        format!("BEGIN IMMEDIATE;\n{sql}")
    }
}

impl Drop for SqliteTx {
    /// Ended without a commit (an error, or a caller that gave up): the
    /// connection is closed rather than kept, and SQLite rolls the
    /// transaction back as it closes. Otherwise it goes back to the writer's
    /// slot (or, without one, to the pool).
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.begun {
            drop(conn.detach());
        } else if let Some(slot) = self.slot.as_mut() {
            **slot = Some(conn);
        }
    }
}

/// SQL statements with their parameters, to run in order.
pub(crate) type Statements = Vec<(String, Vec<Value>)>;

/// `sql` with `$1, $2, …` written as anonymous `?` when each number appears
/// once and in order, as in every multi-row INSERT. SQLite looks up a named
/// parameter by walking a list, and sqlx looks up every parameter's name while
/// binding, so `$N` costs time quadratic in the number of parameters: a
/// thousand-row batch spent more time binding than inserting. `None` for
/// other SQL (a number used twice, or out of order).
fn anonymous_placeholders(sql: &str) -> Option<String> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let (mut expected, mut copied, mut i) = (1u64, 0, 0);
    let mut quoted = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => quoted = !quoted,
            b'$' if !quoted => {
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if digits > 0 {
                    let n: u64 = sql[i + 1..i + 1 + digits].parse().unwrap_or(0);
                    if n != expected {
                        return None;
                    }
                    expected += 1;
                    out.push_str(&sql[copied..i]);
                    out.push('?');
                    i += 1 + digits;
                    copied = i;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out.push_str(&sql[copied..]);
    Some(out)
}

fn sqlite_query(
    sql: String,
    params: &[Value],
) -> sqlx::query::Query<'static, Sqlite, sqlx::sqlite::SqliteArguments> {
    let sql = anonymous_placeholders(&sql).unwrap_or(sql);
    sqlite_query_owned(sql, params.to_vec())
}

fn sqlite_query_owned(
    sql: String,
    params: Vec<Value>,
) -> sqlx::query::Query<'static, Sqlite, sqlx::sqlite::SqliteArguments> {
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for p in params {
        q = match p {
            Value::Int(v) => q.bind(v),
            Value::Text(v) => q.bind(v),
            Value::Real(v) => q.bind(v),
        };
    }
    q
}

fn pg_query(
    sql: String,
    params: &[Value],
) -> sqlx::query::Query<'static, Postgres, sqlx::postgres::PgArguments> {
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for p in params {
        q = match p {
            Value::Int(v) => q.bind(*v),
            Value::Text(v) => q.bind(v.clone()),
            Value::Real(v) => q.bind(*v),
        };
    }
    q
}

fn sqlite_row(r: &SqliteRow) -> Row {
    Row((0..r.len())
        .map(|i| match r.try_get::<Option<i64>, _>(i) {
            Ok(v) => Value::Int(v),
            Err(_) => match r.try_get::<Option<f64>, _>(i) {
                Ok(v) => Value::Real(v),
                Err(_) => Value::Text(r.try_get::<Option<String>, _>(i).ok().flatten()),
            },
        })
        .collect())
}

fn pg_row(r: &PgRow) -> Row {
    Row((0..r.len())
        .map(|i| match r.try_get::<Option<i64>, _>(i) {
            Ok(v) => Value::Int(v),
            Err(_) => match r.try_get::<Option<f64>, _>(i) {
                Ok(v) => Value::Real(v),
                Err(_) => Value::Text(r.try_get::<Option<String>, _>(i).ok().flatten()),
            },
        })
        .collect())
}

impl Pool {
    pub fn dialect(&self) -> Dialect {
        match self {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once, so two
    /// writers never deadlock upgrading read locks.
    ///
    /// `slot` is the writer's connection slot (SQLite; see [`WriterSlot`]),
    /// held for the transaction; without one a pooled connection is used.
    pub async fn begin(&self, mut slot: Option<WriterGuard>) -> Result<Tx, StoreError> {
        Ok(match self {
            Pool::Sqlite(p) => {
                let conn = match slot.as_mut().and_then(|s| s.take()) {
                    Some(conn) => conn,
                    None => p.acquire().await?,
                };
                Tx::Sqlite(SqliteTx {
                    conn: Some(conn),
                    begun: false,
                    slot,
                })
            }
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    pub async fn fetch_all(
        &self,
        sql: impl Into<String>,
        params: &[Value],
    ) -> Result<Vec<Row>, StoreError> {
        let sql = sql.into();
        Ok(match self {
            Pool::Sqlite(p) => sqlite_query(sql, params)
                .fetch_all(p)
                .await?
                .iter()
                .map(sqlite_row)
                .collect(),
            Pool::Postgres(p) => pg_query(sql, params)
                .fetch_all(p)
                .await?
                .iter()
                .map(pg_row)
                .collect(),
        })
    }

    pub async fn fetch_optional(
        &self,
        sql: impl Into<String>,
        params: &[Value],
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.fetch_all(sql, params).await?.into_iter().next())
    }

    pub async fn execute(
        &self,
        sql: impl Into<String>,
        params: &[Value],
    ) -> Result<u64, StoreError> {
        let sql = sql.into();
        Ok(match self {
            Pool::Sqlite(p) => sqlite_query(sql, params).execute(p).await?.rows_affected(),
            Pool::Postgres(p) => pg_query(sql, params).execute(p).await?.rows_affected(),
        })
    }

    pub async fn close(&self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}

impl Tx {
    pub fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(_) => Dialect::Sqlite,
            Tx::Postgres(_) => Dialect::Postgres,
        }
    }

    pub async fn fetch_all(
        &mut self,
        sql: impl Into<String>,
        params: &[Value],
    ) -> Result<Vec<Row>, StoreError> {
        let sql = sql.into();
        Ok(match self {
            Tx::Sqlite(t) => {
                let sql = t.first(sql);
                sqlite_query(sql, params)
                    .fetch_all(t.conn())
                    .await?
                    .iter()
                    .map(sqlite_row)
                    .collect()
            }
            Tx::Postgres(t) => pg_query(sql, params)
                .fetch_all(&mut **t)
                .await?
                .iter()
                .map(pg_row)
                .collect(),
        })
    }

    pub async fn fetch_optional(
        &mut self,
        sql: impl Into<String>,
        params: &[Value],
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.fetch_all(sql, params).await?.into_iter().next())
    }

    pub async fn execute(
        &mut self,
        sql: impl Into<String>,
        params: &[Value],
    ) -> Result<u64, StoreError> {
        let sql = sql.into();
        Ok(match self {
            Tx::Sqlite(t) => {
                // Not combined with BEGIN: SQLite reports the previous
                // statement's change count for a BEGIN, which would be added
                // to this statement's.
                if !t.begun {
                    let begin = t.first(String::new());
                    sqlx::raw_sql(AssertSqlSafe(begin))
                        .execute(t.conn())
                        .await?;
                }
                sqlite_query(sql, params)
                    .execute(t.conn())
                    .await?
                    .rows_affected()
            }
            Tx::Postgres(t) => pg_query(sql, params)
                .execute(&mut **t)
                .await?
                .rows_affected(),
        })
    }

    /// Runs `statements` in order. On SQLite, when every statement numbers its
    /// parameters in order, they go to the database as one multi-statement
    /// call: one hand-off to the connection's thread instead of one each.
    pub async fn execute_all(&mut self, statements: Statements) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.run_all(statements, false).await,
            Tx::Postgres(_) => {
                for (text, values) in statements {
                    self.execute(text, &values).await?;
                }
                Ok(())
            }
        }
    }

    /// Runs `statements`, then commits; on SQLite the `COMMIT` goes with them.
    pub async fn commit_with(self, statements: Statements) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(mut t) => t.run_all(statements, true).await,
            mut pg @ Tx::Postgres(_) => {
                pg.execute_all(statements).await?;
                let Tx::Postgres(t) = pg else {
                    unreachable!("matched as PostgreSQL")
                };
                Ok(t.commit().await?)
            }
        }
    }

    /// Runs a script of several statements (migrations).
    pub async fn execute_script(&mut self, script: &'static str) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => {
                let script = t.first(script.to_owned());
                sqlx::raw_sql(AssertSqlSafe(script))
                    .execute(t.conn())
                    .await?;
            }
            Tx::Postgres(t) => {
                sqlx::raw_sql(script).execute(&mut **t).await?;
            }
        }
        Ok(())
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.commit_with(Statements::new()).await
    }
}

impl SqliteTx {
    /// Sends `statements` in as few calls as their placeholders allow, the
    /// last one carrying `COMMIT` when `commit` is set.
    async fn run_all(&mut self, statements: Statements, commit: bool) -> Result<(), StoreError> {
        let mut sql = String::new();
        let mut params = Vec::new();
        for (text, values) in statements {
            match anonymous_placeholders(&text) {
                Some(text) => {
                    sql.push_str(&text);
                    sql.push_str(";\n");
                    params.extend(values);
                }
                None => {
                    // Numbered out of order: run what came before, then this alone.
                    if !sql.is_empty() {
                        let before = self.first(std::mem::take(&mut sql));
                        sqlite_query_owned(before, std::mem::take(&mut params))
                            .execute(self.conn())
                            .await?;
                    }
                    let text = self.first(text);
                    sqlite_query_owned(text, values)
                        .execute(self.conn())
                        .await?;
                }
            }
        }
        if !sql.is_empty() {
            sql = self.first(sql);
        }
        if commit && self.begun {
            sql.push_str("COMMIT;\n");
        }
        if !sql.is_empty() {
            sqlite_query_owned(sql, params).execute(self.conn()).await?;
        }
        if commit {
            self.begun = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    fn anon(sql: &str) -> String {
        super::anonymous_placeholders(sql).unwrap_or_else(|| sql.to_owned())
    }

    #[test]
    fn numbered_placeholders_in_order_become_anonymous() {
        assert_eq!(
            anon("INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
        assert_eq!(anon("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn reused_or_reordered_numbers_and_quoted_dollars_are_left_alone() {
        for sql in [
            "UPDATE t SET a = $1 WHERE b = $1",
            "SELECT $2, $1",
            "SELECT $1 WHERE x = $10",
        ] {
            assert_eq!(anon(sql), sql);
        }
        assert_eq!(anon("SELECT '$1 costs', $1"), "SELECT '$1 costs', ?");
    }
}
