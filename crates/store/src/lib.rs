//! Persistence for Escalator on SQLite (embedded default, WAL) and PostgreSQL
//! (several nodes on one database). One [`Store`] API; the logic is written
//! once above [`db`], which is the only place the two drivers differ.
//!
//! Invariant: an engine transition is saved by [`StoreTx::save_transition`] —
//! state, audit entry, timeline and outbox rows in the caller's transaction.

mod audit;
mod batch;
mod comms;
mod config;
mod db;
mod detectors;
mod extras;
mod incidents;
mod migrate;
mod outbox;
mod phone;
mod retention;
mod settings;
/// Fresh databases for tests; only in builds that ask for them (the
/// `testing` feature, which the crates' dev-dependencies turn on).
#[cfg(feature = "testing")]
pub mod testing;
mod timeline;
mod tokens;

pub use audit::NewAudit;
pub use comms::Comms;
pub use config::Applied;
pub use db::Dialect;
pub use detectors::DetectorState;
pub use extras::{Availability, StoredOverride};
pub use incidents::{IncidentFilter, IncidentRow, Page};
pub use outbox::{Attempt, OutboxItem, Outcome};
pub use timeline::TimelineEntry;
pub use tokens::TokenInfo;

use db::{Pool, Tx};
use jiff::Timestamp;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("unsupported database URL {0:?}: use sqlite://FILE or postgres://…")]
    UnsupportedUrl(String),
    #[error("stored data is not as expected: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the error is a uniqueness violation (a concurrent writer got there first).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Db(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// SQLite has one writer at a time. Writers queue here, in order, instead
    /// of in SQLite's busy handler, which sleeps for milliseconds at a time and
    /// lets an unlucky writer (an API change behind a stream of event batches)
    /// wait far longer than its turn; the slot keeps the one connection they
    /// write through (see [`db::WriterSlot`]). `None` on PostgreSQL, where
    /// writers lock only the rows they touch.
    writer: Option<db::WriterSlot>,
}

/// Bytes SQLite's WAL is truncated to after a checkpoint (`PRAGMA journal_size_limit`).
pub const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// PostgreSQL channel on which nodes tell each other about new work.
const WAKE_CHANNEL: &str = "escalator_wake";

pub(crate) fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

pub(crate) fn ts(ms: i64) -> Result<Timestamp> {
    Timestamp::from_millisecond(ms).map_err(|e| StoreError::Corrupt(format!("timestamp {ms}: {e}")))
}

impl Store {
    /// Opens (creating if needed) the database at `url` and runs pending migrations.
    pub async fn open(url: &str) -> Result<Store> {
        let pool = if url.starts_with("sqlite:") {
            use sqlx::sqlite::{
                SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
            };
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is on disk before we answer 202. Group commit pays for it.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // A checkpoint leaves the WAL at most this size: one large
                // transaction does not keep a file of its size for good.
                .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT.to_string())
                // Multi-row INSERTs differ by row count: keep each size prepared.
                .statement_cache_capacity(1024);
            Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(8)
                    // A local file has no network to fail: skip the ping per checkout.
                    .test_before_acquire(false)
                    .connect_with(opts)
                    .await?,
            )
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
            // Every statement is planned with its parameters. A cached generic
            // plan is made while a new database's tables are nearly empty and
            // kept as they grow (until autovacuum next analyzes them): the
            // open-incident lookup then scanned every open incident of the
            // service instead of its dedup keys, 10 ms per batch at 30 000.
            let opts = PgConnectOptions::from_str(url)?
                .options([("plan_cache_mode", "force_custom_plan")]);
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(opts)
                    .await?,
            )
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let writer = (pool.dialect() == Dialect::Sqlite).then(Default::default);
        let store = Store { pool, writer };
        migrate::run(&store.pool).await?;
        Ok(store)
    }

    pub fn dialect(&self) -> Dialect {
        self.pool.dialect()
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<StoreTx> {
        let writer = match &self.writer {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        Ok(StoreTx {
            tx: self.pool.begin(writer).await?,
            audit_head: None,
            wake_others: false,
            pending: batch::Pending::default(),
        })
    }

    /// The single epoch-ms value `sql` selects (a `MIN(...)`), as an instant.
    pub(crate) async fn min_instant(&self, sql: &'static str) -> Result<Option<Timestamp>> {
        let row = self.pool.fetch_optional(sql, &[]).await?;
        row.map(|r| r.opt_int(0))
            .transpose()
            .map(Option::flatten)?
            .map(ts)
            .transpose()
    }

    /// Calls `wake` whenever another node (or this one) commits new work.
    /// Returns at once on SQLite, where one process owns the database; on
    /// PostgreSQL it runs until the connection fails for good.
    pub async fn listen_for_wakeups(&self, wake: impl Fn()) -> Result<()> {
        let db::Pool::Postgres(pool) = &self.pool else {
            return Ok(());
        };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(WAKE_CHANNEL).await?;
        loop {
            // `None` means the connection dropped (it reconnects on the next call) and a
            // notification may have been missed: wake either way to re-read due times.
            let _notification = listener.try_recv().await?;
            wake();
        }
    }

    pub async fn close(&self) {
        // The writer's connection is kept outside the pool, which waits for
        // every connection to come back: return it, and keep the turn to
        // write so that no transaction takes one again while the pool closes.
        let _turn = match &self.writer {
            Some(slot) => {
                let mut turn = slot.lock().await;
                drop(turn.take());
                Some(turn)
            }
            None => None,
        };
        self.pool.close().await
    }
}

/// A write transaction. Nothing is visible to others until [`StoreTx::commit`].
pub struct StoreTx {
    tx: Tx,
    /// The audit chain's tip, read once per transaction and written back at commit.
    audit_head: Option<(i64, String, bool)>,
    /// Whether the commit creates work other nodes should wake up for.
    wake_others: bool,
    /// Appended rows, written in bulk (see [`batch`]).
    pending: batch::Pending,
}

impl StoreTx {
    pub fn dialect(&self) -> Dialect {
        self.tx.dialect()
    }

    /// Tells other nodes sharing the database, at commit, that new work exists.
    pub fn wake_others(&mut self) {
        self.wake_others = true;
    }

    pub async fn commit(mut self) -> Result<()> {
        let mut statements = db::Statements::new();
        self.pending.take_all(&mut statements);
        if self.wake_others && self.dialect() == Dialect::Postgres {
            // NOTIFY is transactional: listeners hear it only if this commits.
            statements.push(("SELECT pg_notify($1, '')".into(), vec![WAKE_CHANNEL.into()]));
        }
        if let Some((seq, hash, true)) = self.audit_head.take() {
            statements.push((
                "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1".into(),
                vec![seq.into(), hash.into()],
            ));
        }
        self.tx.commit_with(statements).await
    }
}
