//! Database size per 100 000 incidents before and after a retention pass,
//! on SQLite and PostgreSQL (issue 10, item 9), and how long each batch of
//! the pass holds the database.
//!
//! `cargo bench -p escalator-store --bench retention` (PostgreSQL from
//! `ESCALATOR_TEST_DATABASE_URL`, a new schema per run; `BENCH_INCIDENTS`
//! changes the count, `BENCH_BACKENDS=sqlite` skips PostgreSQL).
//!
//! Each incident is what a typical Alertmanager alert leaves: opened with
//! about 700 bytes of labels and annotations, one page sent, acknowledged two
//! minutes later, resolved after thirty; all 500 days ago, so a pass with the
//! default `retention:` removes them. Sizes: SQLite's file (after a WAL
//! checkpoint) and the pages in use; PostgreSQL's tables, indexes and TOAST
//! of the schema. Deleted rows leave free space that new rows reuse, so the
//! proof that the database stops growing is the third figure: the size after
//! the same number of incidents is written again.

use escalator_core::details::StoredDetails;
use escalator_core::directory::Catalog;
use escalator_core::engine::{self, Input, NewIncident};
use escalator_core::ids::{DedupKey, PolicyId, ServiceId};
use escalator_core::retention::Retention;
use escalator_store::{Dialect, Store, testing};
use jiff::{SignedDuration, Timestamp};
use std::time::Instant;

/// The store tests' configuration: service `api`, alice then bob by webhook.
#[path = "../tests/common/mod.rs"]
mod common;
use common::config;

/// The server's batch sizes and pause (`RetentionOptions::default`).
const BATCH: u32 = 500;
const INCIDENT_BATCH: u32 = 100;
const PAUSE: std::time::Duration = std::time::Duration::from_millis(20);
const PER_TX: usize = 200;

fn details(i: usize) -> serde_json::Value {
    serde_json::json!({
        "source": format!("db-{}.prod.eu-west-1.internal:9100", i % 40),
        "severity": "critical",
        "class": "KubePodCrashLooping",
        "group": "payments",
        "custom_details": {
            "labels": {
                "alertname": "KubePodCrashLooping", "cluster": "prod-eu-west-1",
                "namespace": "payments", "pod": format!("payments-api-7d9f8b6c5-{i:05}"),
                "container": "api", "job": "kube-state-metrics", "severity": "critical",
                "team": "payments", "prometheus": "monitoring/k8s",
            },
            "annotations": {
                "summary": "Pod payments/payments-api is crash looping",
                "description": format!("Pod payments/payments-api-7d9f8b6c5-{i:05} (api) is in waiting state (reason: \"CrashLoopBackOff\") for 15 minutes."),
                "runbook_url": "https://runbooks.example.com/kubernetes/kubepodcrashlooping",
            },
            "generatorURL": "https://prometheus.example.com/graph?g0.expr=max_over_time%28kube_pod_container_status_waiting_reason%7Breason%3D%22CrashLoopBackOff%22%7D%5B5m%5D%29+%3E%3D+1",
        },
    })
}

/// Writes `n` incidents, each opened at `start + i s`, paged, acknowledged
/// and resolved, as the runner saves them, `PER_TX` to a transaction.
async fn fill(store: &Store, catalog: &Catalog, n: usize, start: Timestamp, tag: &str) {
    let policy = catalog.policy(&PolicyId::parse("p").unwrap()).unwrap();
    for chunk in (0..n).collect::<Vec<_>>().chunks(PER_TX) {
        let mut tx = store.begin().await.unwrap();
        let mut opened = Vec::new();
        for &i in chunk {
            let at = start + SignedDuration::from_secs(i as i64);
            let stored = StoredDetails::new(&details(i));
            let new = NewIncident::new(
                ServiceId::parse("api").unwrap(),
                policy.id.clone(),
                DedupKey::parse(&format!("{tag}-{i}")).unwrap(),
                format!("KubePodCrashLooping payments-api-7d9f8b6c5-{i:05}"),
                "alertmanager".into(),
                stored.reference(),
            );
            let t = engine::open(new, policy, catalog, at).unwrap();
            opened.push((
                tx.save_transition(&t, Some(&stored), catalog, at)
                    .await
                    .unwrap(),
                at,
            ));
        }
        tx.commit().await.unwrap();
        // The notifier's settlement of each page.
        store
            .execute_unchecked(
                "UPDATE notifications SET status = 'sent', attempts = 1, updated_at = created_at + 900 WHERE status = 'pending'",
            )
            .await
            .unwrap();
        let mut tx = store.begin().await.unwrap();
        for (id, at) in opened {
            for (input, later) in [
                (
                    Input::Acknowledge {
                        actor: "user:alice".into(),
                    },
                    120,
                ),
                (
                    Input::Resolve {
                        actor: "user:alice".into(),
                    },
                    1800,
                ),
            ] {
                let when = at + SignedDuration::from_secs(later);
                let row = tx.incident_for_update(id).await.unwrap().unwrap();
                let t = engine::step(&row.incident, input, policy, catalog, when).unwrap();
                tx.save_transition(&t, None, catalog, when).await.unwrap();
            }
        }
        tx.commit().await.unwrap();
    }
}

/// (on disk, in use) in bytes: SQLite's file after a WAL checkpoint and its
/// pages not on the free list; PostgreSQL's tables with their indexes and
/// TOAST after a plain VACUUM, which frees space for reuse but keeps the
/// files (in use: `None`, as PostgreSQL does not cheaply say).
async fn size(store: &Store) -> (i64, Option<i64>) {
    match store.dialect() {
        Dialect::Sqlite => {
            store
                .execute_unchecked("PRAGMA wal_checkpoint(TRUNCATE)")
                .await
                .unwrap();
            let page = store.int_unchecked("PRAGMA page_size").await.unwrap();
            let pages = store.int_unchecked("PRAGMA page_count").await.unwrap();
            let free = store.int_unchecked("PRAGMA freelist_count").await.unwrap();
            (pages * page, Some((pages - free) * page))
        }
        Dialect::Postgres => {
            store.execute_unchecked("VACUUM").await.unwrap();
            let total = store
                .int_unchecked(
                    "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = current_schema() AND c.relkind = 'r'",
                )
                .await
                .unwrap();
            (total, None)
        }
    }
}

fn sized((disk, used): (i64, Option<i64>), n: usize) -> String {
    match used {
        Some(used) => format!(
            "{} on disk, {} in use ({:.0} bytes per incident)",
            mb(disk),
            mb(used),
            used as f64 / n as f64
        ),
        None => format!(
            "{} on disk after VACUUM ({:.0} bytes per incident)",
            mb(disk),
            disk as f64 / n as f64
        ),
    }
}

async fn compact(store: &Store) -> i64 {
    let sql = match store.dialect() {
        Dialect::Sqlite => "VACUUM",
        Dialect::Postgres => "VACUUM FULL",
    };
    store.execute_unchecked(sql).await.unwrap();
    size(store).await.0
}

/// Runs one kind's batches of `size` until a short one, pausing between them
/// as the server does; returns (removed, batch times in ms).
async fn drain<F, Fut>(size: u32, mut batch: F) -> (u64, Vec<f64>)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = escalator_store::Result<u64>>,
{
    let (mut total, mut times) = (0, Vec::new());
    loop {
        let t = Instant::now();
        let n = batch().await.unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        total += n;
        if n < u64::from(size) {
            return (total, times);
        }
        tokio::time::sleep(PAUSE).await;
    }
}

fn mb(bytes: i64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn summary(times: &[f64]) -> String {
    let mut t = times.to_vec();
    t.sort_by(f64::total_cmp);
    let p = |q: f64| t[((t.len() - 1) as f64 * q).round() as usize];
    format!(
        "{} batches, median {:.1} ms, max {:.1} ms",
        t.len(),
        p(0.5),
        p(1.0)
    )
}

/// Opens an incident now, in its own transaction, every 10 ms until `until`
/// ends; returns each commit's time in ms.
async fn probe(
    store: &Store,
    catalog: &Catalog,
    tag: &str,
    until: impl std::future::Future<Output = ()>,
) -> Vec<f64> {
    let stop = std::sync::atomic::AtomicBool::new(false);
    let writes = async {
        let policy = catalog.policy(&PolicyId::parse("p").unwrap()).unwrap();
        let mut times = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let i = times.len();
            let t = Instant::now();
            let at = Timestamp::now();
            let stored = StoredDetails::new(&details(i));
            let new = NewIncident::new(
                ServiceId::parse("api").unwrap(),
                policy.id.clone(),
                DedupKey::parse(&format!("{tag}-{i}")).unwrap(),
                format!("probe {i}"),
                "alertmanager".into(),
                stored.reference(),
            );
            let opened = engine::open(new, policy, catalog, at).unwrap();
            let mut tx = store.begin().await.unwrap();
            tx.save_transition(&opened, Some(&stored), catalog, at)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        times
    };
    let stopper = async {
        until.await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    };
    tokio::join!(writes, stopper).0
}

fn latency(times: &[f64]) -> String {
    let mut t = times.to_vec();
    t.sort_by(f64::total_cmp);
    let p = |q: f64| t[((t.len() - 1) as f64 * q).round() as usize];
    format!(
        "{} writes, median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        t.len(),
        p(0.5),
        p(0.99),
        p(1.0)
    )
}

async fn run(name: &str, url: &str, n: usize) {
    let store = Store::open(url).await.unwrap();
    let now = Timestamp::now();
    let long_ago = now - SignedDuration::from_hours(24 * 500);
    let config = config();
    let applied = store
        .apply_config(&config, "bench", long_ago)
        .await
        .unwrap();
    let catalog = Catalog::new(config, applied.revision);

    let t = Instant::now();
    fill(&store, &catalog, n, long_ago, "old").await;
    let filled = t.elapsed();
    let before = size(&store).await;

    // Writes as ingest makes them, alone and then beside the pass.
    let alone = probe(&store, &catalog, "alone", async {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await
    })
    .await;
    let cutoffs = Retention::default().cutoffs(now);
    let t = Instant::now();
    let mut removed = ((0, vec![]), (0, vec![]), (0, vec![]));
    let beside = probe(&store, &catalog, "beside", async {
        removed.0 = drain(INCIDENT_BATCH, || {
            store.prune_incidents(cutoffs.resolved_incidents.unwrap(), INCIDENT_BATCH, now)
        })
        .await;
        removed.1 = drain(BATCH, || {
            store.prune_notifications(cutoffs.notifications.unwrap(), BATCH)
        })
        .await;
        removed.2 = drain(BATCH, || {
            store.prune_audit(cutoffs.audit.unwrap(), BATCH, now)
        })
        .await;
    })
    .await;
    let ((incidents, ti), (notes, tn), (audit, ta)) = removed;
    let pass = t.elapsed();
    let after = size(&store).await;
    let verified = store.verify_audit().await.unwrap().unwrap();

    // The same number again, younger than any cutoff: written into the space freed.
    fill(
        &store,
        &catalog,
        n,
        now - SignedDuration::from_hours(24),
        "new",
    )
    .await;
    let (refilled, _) = size(&store).await;
    // And what the removal left, compacted: the floor the pass brings it to.
    let prune_again = now + SignedDuration::from_hours(24 * 2000);
    let cut = Retention::default().cutoffs(prune_again);
    drain(INCIDENT_BATCH, || {
        store.prune_incidents(cut.resolved_incidents.unwrap(), INCIDENT_BATCH, prune_again)
    })
    .await;
    drain(BATCH, || {
        store.prune_audit(cut.audit.unwrap(), BATCH, prune_again)
    })
    .await;
    let floor = compact(&store).await;

    println!(
        "== {name}: {n} incidents, written in {:.1} s",
        filled.as_secs_f64()
    );
    println!("   before the pass:  {}", sized(before, n));
    println!(
        "   the pass removed {incidents} incidents, {notes} notifications and {audit} audit entries in {:.1} s",
        pass.as_secs_f64()
    );
    println!("     incidents: {}", summary(&ti));
    println!("     notifications: {}", summary(&tn));
    println!("     audit: {}", summary(&ta));
    println!("   a write as ingest makes it (an incident opened, one transaction, every 10 ms):");
    println!("     alone:           {}", latency(&alone));
    println!("     beside the pass: {}", latency(&beside));
    println!("   after the pass:   {}", sized(after, n));
    println!(
        "   audit verified from the checkpoint at entry {} ({} entries checked)",
        verified.checkpoint.seq, verified.checked
    );
    println!(
        "   {n} more incidents written into the freed space: {} on disk ({:+.1} % against before the pass, with the {} the writes above opened)",
        mb(refilled),
        (refilled - before.0) as f64 * 100.0 / before.0 as f64,
        alone.len() + beside.len()
    );
    println!(
        "   everything pruned, then compacted ({}): {}",
        if name == "sqlite" {
            "VACUUM"
        } else {
            "VACUUM FULL"
        },
        mb(floor)
    );
    store.close().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("BENCH_INCIDENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite postgres".into());
    for backend in backends.split_whitespace() {
        match backend {
            "sqlite" => run("sqlite", &testing::sqlite_url(), n).await,
            "postgres" => run("postgres", &testing::postgres_url().await, n).await,
            other => panic!("unknown backend {other:?}"),
        }
    }
}
