//! Retention end to end, on SQLite and PostgreSQL: the real server's pass
//! removes incidents resolved long ago, old finished pages and old metric
//! samples while it keeps paging, and `escalator audit verify` still finds
//! the chain intact afterwards, from the checkpoint the pass left.

mod common;

use common::*;
use escalator_core::details::StoredDetails;
use escalator_core::directory::Catalog;
use escalator_core::engine::{self, Input, NewIncident};
use escalator_core::ids::{DedupKey, PolicyId, ServiceId};
use escalator_store::Store;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use std::time::Duration;

const OLD_INCIDENTS: usize = 30;

/// Incidents opened and resolved about 500 days ago, saved as the runner
/// saves them (the server cannot be asked to live in the past).
async fn seed_history(db: &str, yaml: &str) {
    let config = escalator_core::config::load(yaml).unwrap();
    let store = Store::open(db).await.unwrap();
    let long_ago = Timestamp::now() - SignedDuration::from_hours(24 * 500);
    let applied = store.apply_config(&config, "test", long_ago).await.unwrap();
    let catalog = Catalog::new(config, applied.revision);
    let policy = catalog.policy(&PolicyId::parse("p").unwrap()).unwrap();
    for i in 0..OLD_INCIDENTS {
        let at = long_ago + SignedDuration::from_mins(i as i64);
        let details = StoredDetails::new(&json!({"source": format!("host-{i}")}));
        let new = NewIncident::new(
            ServiceId::parse("payments-api").unwrap(),
            policy.id.clone(),
            DedupKey::parse(&format!("old-{i}")).unwrap(),
            format!("old incident {i}"),
            "test".into(),
            details.reference(),
        );
        let opened = engine::open(new, policy, &catalog, at).unwrap();
        let mut tx = store.begin().await.unwrap();
        let id = tx
            .save_transition(&opened, Some(&details), &catalog, at)
            .await
            .unwrap();
        let resolve = Input::Resolve {
            actor: "user:alice".into(),
        };
        let row = tx.incident_for_update(id).await.unwrap().unwrap();
        let resolved = engine::step(
            &row.incident,
            resolve,
            policy,
            &catalog,
            at + SignedDuration::from_mins(5),
        )
        .unwrap();
        tx.save_transition(&resolved, None, &catalog, at + SignedDuration::from_mins(5))
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pass_removes_old_history_while_paging_and_the_chain_still_verifies() {
    install_crypto();
    for db in databases().await {
        let receiver = Receiver::start().await;
        let yaml = alice_config(&receiver, "");
        seed_history(&db, &yaml).await;
        let store = Store::open(&db).await.unwrap();
        let count = |sql: &'static str| {
            let store = store.clone();
            async move { store.int_unchecked(sql).await.unwrap() }
        };
        assert_eq!(count("SELECT COUNT(*) FROM incidents").await, 30);

        let server = Server::start_with(&db, &yaml, &["--retention-interval", "1s"]);
        let responder = token(&db, "responder");
        // A sample from 40 days ago (older than the 30 days kept) and one from now.
        let (status, body) = server
            .post(
                "/api/v1/metrics",
                &responder,
                json!({"samples": [
                    {"service": "payments-api", "metric": "queue_depth", "value": 7.0,
                     "timestamp": (Timestamp::now() - SignedDuration::from_hours(24 * 40)).to_string()},
                    {"service": "payments-api", "metric": "queue_depth", "value": 3.5,
                     "timestamp": Timestamp::now().to_string()},
                ]}),
            )
            .await;
        assert_eq!(
            (status, body["accepted"].clone()),
            (200, json!(2)),
            "{body}"
        );
        // Paging goes on while the pass runs.
        server.trigger("fresh", "disk full on db-1").await;

        eventually(Duration::from_secs(30), "old incidents removed", || async {
            (count("SELECT COUNT(*) FROM incidents").await == 1).then_some(())
        })
        .await;
        eventually(Duration::from_secs(30), "old sample removed", || async {
            (count("SELECT COUNT(*) FROM metric_samples").await == 1).then_some(())
        })
        .await;
        eventually(
            Duration::from_secs(30),
            "old audit entries removed",
            || async { (count("SELECT entries FROM audit_checkpoint").await > 0).then_some(()) },
        )
        .await;
        eventually(Duration::from_secs(10), "the fresh page", || async {
            receiver
                .received()
                .iter()
                .any(|r| r.path == "/alice")
                .then_some(())
        })
        .await;
        // Nothing of the old incidents is left behind.
        for table in ["timeline", "notifications"] {
            let sql = format!(
                "SELECT COUNT(*) FROM {table} WHERE incident_id NOT IN (SELECT id FROM incidents)"
            );
            assert_eq!(store.int_unchecked(&sql).await.unwrap(), 0, "{table}");
        }
        let checkpoint = store.audit_checkpoint().await.unwrap();
        // The configuration's entry, then 30 × (triggered, resolved).
        assert_eq!(checkpoint.entries, 61, "{checkpoint:?}");

        // Verified on the live database, from the checkpoint.
        let out = cli(&["audit", "verify", "--database", &db]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!(
                "from the checkpoint at entry {} ({} earlier entries removed by retention)",
                checkpoint.seq, checkpoint.entries
            )),
            "{stdout}"
        );
        drop(server);
        store.close().await;
    }
}
