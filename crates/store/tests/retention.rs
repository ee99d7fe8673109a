//! Retention on SQLite and PostgreSQL alike: only old, finished records go,
//! in batches; the audit chain verifies from its checkpoint afterwards and
//! still catches what was removed by hand; two nodes pruning at once remove
//! each record once.

use escalator_core::audit::{self, ChainBreak, INCIDENTS_PRUNED, IncidentsPruned};
use escalator_core::directory::Catalog;
use escalator_store::{Store, testing};
use jiff::SignedDuration;

#[macro_use]
mod common;
use common::*;

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

/// Drains one kind of record in batches of `limit`; returns how many went
/// and in how many batches that removed something.
async fn drain<F, Fut>(mut batch: F) -> (u64, u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = escalator_store::Result<u64>>,
{
    let (mut total, mut batches) = (0, 0);
    loop {
        let n = batch().await.unwrap();
        if n == 0 {
            return (total, batches);
        }
        total += n;
        batches += 1;
    }
}

async fn count(store: &Store, sql: &str) -> i64 {
    store.int_unchecked(sql).await.unwrap()
}

async fn only_old_resolved_incidents_go_with_everything_they_hold(store: Store) {
    let catalog = Catalog::new(config(), 1);
    let now = t0();
    let old = now - days(500);
    // Resolved 499 days ago: goes. Resolved 10 days ago: stays. Open for 500
    // days: stays. Resolved long ago with a page still pending: waits.
    let gone = open(&store, &catalog, "gone", old).await;
    resolve(&store, &catalog, gone, old + days(1)).await;
    let recent = open(&store, &catalog, "recent", now - days(20)).await;
    resolve(&store, &catalog, recent, now - days(10)).await;
    let still_open = open(&store, &catalog, "open", old).await;
    let held = open(&store, &catalog, "held", old).await;
    resolve(&store, &catalog, held, old + days(1)).await;
    store
        .execute_unchecked(&format!(
            "UPDATE notifications SET status = 'pending' WHERE incident_id = {}",
            held.0
        ))
        .await
        .unwrap();
    // Resolved 200 days ago: the incident stays, its finished pages go at 90 days.
    let middle = open(&store, &catalog, "middle", now - days(201)).await;
    resolve(&store, &catalog, middle, now - days(200)).await;

    let cutoff = now - days(400);
    let (pruned, batches) = drain(|| store.prune_incidents(cutoff, 1, now)).await;
    assert_eq!((pruned, batches), (1, 1));
    assert!(store.incident(gone).await.unwrap().is_none());
    assert!(store.timeline(gone).await.unwrap().is_empty());
    assert!(store.notifications(gone).await.unwrap().is_empty());
    for kept in [recent, still_open, held, middle] {
        assert!(store.incident(kept).await.unwrap().is_some(), "{kept:?}");
    }
    let (pages, _) = drain(|| store.prune_notifications(now - days(90), 2)).await;
    assert_eq!(pages, 1, "the middle incident's cancelled page");
    assert!(store.notifications(middle).await.unwrap().is_empty());
    assert_eq!(store.notifications(recent).await.unwrap().len(), 1);
    assert_eq!(store.notifications(still_open).await.unwrap().len(), 1);
    assert_eq!(store.notifications(held).await.unwrap().len(), 1);

    // The chain names what retention removed, and still verifies: the
    // entries about `gone` refer to details that are no longer stored.
    let entries = store.audit_entries(0, 1000).await.unwrap();
    let pruned: Vec<&audit::AuditEntry> = entries
        .iter()
        .filter(|e| e.action == INCIDENTS_PRUNED)
        .collect();
    assert_eq!(pruned.len(), 1);
    let detail: IncidentsPruned = serde_json::from_str(&pruned[0].detail).unwrap();
    assert_eq!(detail.incidents, vec![gone.0]);
    assert_eq!(detail.resolved_before, cutoff.to_string());
    store.verify_audit().await.unwrap().unwrap();

    // An incident removed by hand is not retention's doing.
    for table in ["timeline", "notifications"] {
        store
            .execute_unchecked(&format!(
                "DELETE FROM {table} WHERE incident_id = {}",
                recent.0
            ))
            .await
            .unwrap();
    }
    store
        .execute_unchecked(&format!("DELETE FROM incidents WHERE id = {}", recent.0))
        .await
        .unwrap();
    let outcome = store.verify_audit().await.unwrap();
    assert!(
        matches!(outcome, Err(ChainBreak::DetailsAltered { incident, .. }) if incident == recent.0),
        "{outcome:?}"
    );
}

async fn the_chain_verifies_from_its_checkpoint_and_catches_a_forged_one(store: Store) {
    let catalog = Catalog::new(config(), 1);
    let now = t0();
    let old = now - days(500);
    for key in ["a", "b", "c"] {
        let id = open(&store, &catalog, key, old).await;
        resolve(&store, &catalog, id, old + days(1)).await;
    }
    let young = open(&store, &catalog, "young", now - days(1)).await;
    let before = store.audit_entries(0, 1000).await.unwrap();
    assert_eq!(before.len(), 7);

    let (pruned, batches) = drain(|| store.prune_audit(now - days(400), 4, now)).await;
    assert_eq!((pruned, batches), (6, 2), "six old entries, four at a time");
    let checkpoint = store.audit_checkpoint().await.unwrap();
    assert_eq!(
        (checkpoint.seq, checkpoint.entries, &checkpoint.hash),
        (6, 6, &before[5].hash)
    );
    let left = store.audit_entries(0, 1000).await.unwrap();
    let actions: Vec<&str> = left.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["triggered", "audit_pruned", "audit_pruned"]);
    assert_eq!(left[0].seq, 7);
    let verified = store.verify_audit().await.unwrap().unwrap();
    assert_eq!(
        (verified.checked, verified.checkpoint),
        (3, checkpoint.clone())
    );
    // The young incident's entry stays, and its details are still covered.
    assert_eq!(left[0].incident_id, Some(young.0));
    // Nothing more is old enough.
    assert_eq!(store.prune_audit(now - days(400), 4, now).await.unwrap(), 0);

    // Removing the next entry too and moving the checkpoint to match is caught.
    store
        .execute_unchecked("DELETE FROM audit_log WHERE seq = 7")
        .await
        .unwrap();
    store
        .execute_unchecked(&format!(
            "UPDATE audit_checkpoint SET seq = 7, entries = 7, hash = '{}'",
            left[0].hash
        ))
        .await
        .unwrap();
    assert_eq!(
        store.verify_audit().await.unwrap(),
        Err(ChainBreak::CheckpointUnattested { seq: 7 })
    );
}

async fn a_chain_cut_short_at_its_tip_is_caught(store: Store) {
    let catalog = Catalog::new(config(), 1);
    let id = open(&store, &catalog, "a", t0()).await;
    acknowledge(&store, &catalog, id).await;
    store
        .execute_unchecked("DELETE FROM audit_log WHERE seq = 2")
        .await
        .unwrap();
    assert_eq!(
        store.verify_audit().await.unwrap(),
        Err(ChainBreak::Truncated { head: 2, last: 1 })
    );
}

async fn samples_are_kept_once_per_instant_and_go_by_age(store: Store) {
    let now = t0();
    let at = |d: i64| now - days(d);
    let batch = [
        ("api", "latency", at(40), 1.5),
        ("api", "latency", at(20), 2.25),
        ("api", "errors", at(40), 3.0),
        ("api", "latency", at(1), -0.125),
    ];
    store.record_samples(&batch).await.unwrap();
    // A retried request replaces, never doubles.
    store
        .record_samples(&[("api", "latency", at(20), 9.5)])
        .await
        .unwrap();
    let latency = store
        .samples("api", "latency", at(100), now, 10)
        .await
        .unwrap();
    assert_eq!(latency, vec![(at(40), 1.5), (at(20), 9.5), (at(1), -0.125)]);
    let (gone, batches) = drain(|| store.prune_samples(at(30), 1)).await;
    assert_eq!((gone, batches), (2, 2));
    let latency = store
        .samples("api", "latency", at(100), now, 10)
        .await
        .unwrap();
    assert_eq!(latency, vec![(at(20), 9.5), (at(1), -0.125)]);
    assert!(
        store
            .samples("api", "errors", at(100), now, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

suite!(
    only_old_resolved_incidents_go_with_everything_they_hold,
    the_chain_verifies_from_its_checkpoint_and_catches_a_forged_one,
    a_chain_cut_short_at_its_tip_is_caught,
    samples_are_kept_once_per_instant_and_go_by_age,
);

/// Two nodes on one database prune at once: every incident goes once, is
/// named on the chain once, and the chain verifies.
async fn two_nodes_prune_at_once(url: &str) {
    let (a, b) = (
        Store::open(url).await.unwrap(),
        Store::open(url).await.unwrap(),
    );
    let catalog = Catalog::new(config(), 1);
    let now = t0();
    let old = now - days(500);
    let mut ids = Vec::new();
    for i in 0..24 {
        let id = open(&a, &catalog, &format!("k{i}"), old).await;
        resolve(&a, &catalog, id, old + days(1)).await;
        ids.push(id.0);
    }
    let cutoff = now - days(400);
    let node = |s: Store| async move {
        let incidents = drain(|| s.prune_incidents(cutoff, 5, now)).await.0;
        let audit = drain(|| s.prune_audit(cutoff, 7, now)).await.0;
        (incidents, audit)
    };
    let (x, y) = tokio::join!(node(a.clone()), node(b.clone()));
    assert_eq!(x.0 + y.0, 24, "{x:?} {y:?}");
    assert_eq!(count(&a, "SELECT COUNT(*) FROM incidents").await, 0);
    let named: Vec<i64> = a
        .audit_entries(0, 10_000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == INCIDENTS_PRUNED)
        .flat_map(|e| {
            serde_json::from_str::<IncidentsPruned>(&e.detail)
                .unwrap()
                .incidents
        })
        .collect();
    let mut sorted = named.clone();
    sorted.sort();
    assert_eq!(sorted, ids, "each incident named once");
    // 24 × (triggered, resolved) = 48 old entries; the pruning entries are young.
    assert_eq!(x.1 + y.1, 48, "{x:?} {y:?}");
    assert_eq!(a.audit_checkpoint().await.unwrap().entries, 48);
    a.verify_audit().await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_prune_at_once_on_sqlite() {
    two_nodes_prune_at_once(&testing::sqlite_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_prune_at_once_on_postgres() {
    two_nodes_prune_at_once(&testing::postgres_url().await).await;
}
