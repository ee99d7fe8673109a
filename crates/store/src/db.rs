//! One thin layer over the two drivers: typed parameters in, plain rows out.
//! Everything above this file is written once for both databases; the only
//! differences left are the SQL fragments in [`Dialect`].

use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{AssertSqlSafe, Postgres, Row as _, Sqlite, Transaction};

use crate::StoreError;

/// A bound parameter. Nulls are typed so PostgreSQL can infer the column type.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Int(Option<i64>),
    Text(Option<String>),
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
            Some(Value::Text(None)) => Ok(None),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected an integer, found {other:?}"
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
            Some(Value::Int(None)) => Ok(None),
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
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

fn sqlite_query(
    sql: String,
    params: &[Value],
) -> sqlx::query::Query<'static, Sqlite, sqlx::sqlite::SqliteArguments> {
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for p in params {
        q = match p {
            Value::Int(v) => q.bind(*v),
            Value::Text(v) => q.bind(v.clone()),
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
        };
    }
    q
}

fn sqlite_row(r: &SqliteRow) -> Row {
    Row((0..r.len())
        .map(|i| match r.try_get::<Option<i64>, _>(i) {
            Ok(v) => Value::Int(v),
            Err(_) => Value::Text(r.try_get::<Option<String>, _>(i).ok().flatten()),
        })
        .collect())
}

fn pg_row(r: &PgRow) -> Row {
    Row((0..r.len())
        .map(|i| match r.try_get::<Option<i64>, _>(i) {
            Ok(v) => Value::Int(v),
            Err(_) => Value::Text(r.try_get::<Option<String>, _>(i).ok().flatten()),
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
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
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
            Tx::Sqlite(t) => sqlite_query(sql, params)
                .fetch_all(&mut **t)
                .await?
                .iter()
                .map(sqlite_row)
                .collect(),
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
            Tx::Sqlite(t) => sqlite_query(sql, params)
                .execute(&mut **t)
                .await?
                .rows_affected(),
            Tx::Postgres(t) => pg_query(sql, params)
                .execute(&mut **t)
                .await?
                .rows_affected(),
        })
    }

    /// Runs a script of several statements (migrations).
    pub async fn execute_script(&mut self, script: &'static str) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => {
                sqlx::raw_sql(script).execute(&mut **t).await?;
            }
            Tx::Postgres(t) => {
                sqlx::raw_sql(script).execute(&mut **t).await?;
            }
        }
        Ok(())
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}
