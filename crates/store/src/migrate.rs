//! Schema migrations, one folder per dialect, applied in order on open.

use crate::db::{Dialect, Pool};
use crate::{Result, StoreError};

const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_schedules.sql")),
    (3, include_str!("../migrations/sqlite/0003_priority.sql")),
    (4, include_str!("../migrations/sqlite/0004_detectors.sql")),
    (5, include_str!("../migrations/sqlite/0005_grouping.sql")),
    (
        6,
        include_str!("../migrations/sqlite/0006_stakeholders.sql"),
    ),
    (
        7,
        include_str!("../migrations/sqlite/0007_incident_roles.sql"),
    ),
    (
        8,
        include_str!("../migrations/sqlite/0008_status_updates.sql"),
    ),
    (9, include_str!("../migrations/sqlite/0009_phone_turns.sql")),
    (
        10,
        include_str!("../migrations/sqlite/0010_first_tried.sql"),
    ),
    (11, include_str!("../migrations/sqlite/0011_retention.sql")),
];
const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (2, include_str!("../migrations/postgres/0002_schedules.sql")),
    (3, include_str!("../migrations/postgres/0003_priority.sql")),
    (4, include_str!("../migrations/postgres/0004_detectors.sql")),
    (5, include_str!("../migrations/postgres/0005_grouping.sql")),
    (
        6,
        include_str!("../migrations/postgres/0006_stakeholders.sql"),
    ),
    (
        7,
        include_str!("../migrations/postgres/0007_incident_roles.sql"),
    ),
    (
        8,
        include_str!("../migrations/postgres/0008_status_updates.sql"),
    ),
    (
        9,
        include_str!("../migrations/postgres/0009_phone_turns.sql"),
    ),
    (
        10,
        include_str!("../migrations/postgres/0010_first_tried.sql"),
    ),
    (
        11,
        include_str!("../migrations/postgres/0011_retention.sql"),
    ),
];

pub(crate) async fn run(pool: &Pool) -> Result<()> {
    let steps = match pool.dialect() {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
    };
    let mut tx = pool.begin(None).await?;
    if pool.dialect() == Dialect::Postgres {
        // Several nodes may start at once; one migrates, the others wait for it.
        tx.execute("SELECT pg_advisory_xact_lock(7142500001)", &[])
            .await?;
    }
    tx.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        &[],
    )
    .await?;
    let applied: Vec<i64> = tx
        .fetch_all(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.int(0))
        .collect::<Result<_>>()?;
    let known = steps.last().map(|s| s.0).unwrap_or(0);
    if let Some(newest) = applied.last().filter(|n| **n > known) {
        return Err(StoreError::Corrupt(format!(
            "database schema version {newest} is newer than this escalator understands; upgrade escalator"
        )));
    }
    for (version, script) in steps {
        if applied.contains(version) {
            continue;
        }
        tx.execute_script(script).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[
                (*version).into(),
                jiff::Timestamp::now().as_millisecond().into(),
            ],
        )
        .await?;
        tracing::info!(version, "applied migration");
    }
    tx.commit().await
}
