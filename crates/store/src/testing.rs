//! Fresh, isolated databases for tests: a new SQLite file, or a new schema on
//! the PostgreSQL named by `ESCALATOR_TEST_DATABASE_URL`, so runs never collide.

use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}_{}_{}", std::process::id(), nanos % 1_000_000_000_000, n)
}

/// A URL for a new SQLite file in the temp directory.
pub fn sqlite_url() -> String {
    let path = std::env::temp_dir().join(format!("escalator-test-{}.db", unique()));
    format!("sqlite://{}", path.display())
}

/// The PostgreSQL test server, from `ESCALATOR_TEST_DATABASE_URL`. Panics with a
/// clear message when it is not set: the suite is meant to run on both backends.
pub fn postgres_base_url() -> String {
    std::env::var("ESCALATOR_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "ESCALATOR_TEST_DATABASE_URL is not set: the store tests run on PostgreSQL too \
             (e.g. postgres://postgres@127.0.0.1:5432/test; .ci/run sets it)"
        )
    })
}

/// A URL for a new, empty schema on the PostgreSQL test server.
pub async fn postgres_url() -> String {
    use sqlx::Connection;
    let base = postgres_base_url();
    let schema = format!("t_{}", unique());
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("connecting to {base}: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("creating schema {schema}: {e}"));
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options[search_path]={schema}")
}

impl crate::Store {
    /// Runs raw SQL outside any invariant. For tests that tamper with data on purpose.
    #[doc(hidden)]
    pub async fn execute_unchecked(&self, sql: &str) -> crate::Result<u64> {
        self.pool.execute(sql.to_owned(), &[]).await
    }

    /// The integer in the first column of the first row `sql` answers (a
    /// `COUNT(*)`, a size, a pragma). For tests that look at storage directly.
    #[doc(hidden)]
    pub async fn int_unchecked(&self, sql: &str) -> crate::Result<i64> {
        self.pool
            .fetch_optional(sql.to_owned(), &[])
            .await?
            .ok_or_else(|| crate::StoreError::Corrupt(format!("{sql} answered no row")))?
            .int(0)
    }
}
