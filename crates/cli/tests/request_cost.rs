//! What one request may cost (issue 10): every alert counts against its key's
//! rate limit, a request carries at most 1 000 alerts, each stored field is
//! capped, and an event's details are stored once (on the incident) with the
//! timeline and the audit chain referring to them by hash. On both databases.

mod common;

use common::*;
use escalator_store::Store;
use serde_json::{Value, json};
use std::time::Duration;

const AM_KEY: &str = "fedcba9876543210fedcba9876543210";
const GENERIC_KEY: &str = "abcdefabcdefabcdefabcdefabcdef01";

fn config(receiver: &Receiver) -> String {
    alice_config(
        receiver,
        &format!(
            r#"      - {{type: alertmanager, key: "{AM_KEY}"}}
      - type: generic
        key: "{GENERIC_KEY}"
        mapping: {{summary: 'body.title', dedup_key: 'body.id'}}
"#
        ),
    )
}

/// An Alertmanager webhook (payload version 4) carrying `alerts`.
fn webhook(group_key: &str, alerts: Vec<Value>) -> Value {
    json!({"version": "4", "status": "firing", "receiver": "escalator", "groupKey": group_key,
        "externalURL": "http://alertmanager.example:9093", "groupLabels": {}, "commonLabels": {},
        "commonAnnotations": {}, "truncatedAlerts": 0, "alerts": alerts})
}

/// `n` firing alerts whose fingerprints start with `prefix`.
fn alerts(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"status": "firing", "labels": {"alertname": "Cost", "i": i.to_string()}, "fingerprint": format!("{prefix}{i:05}")}))
        .collect()
}

async fn post_webhook(server: &Server, body: &Value) -> reqwest::Response {
    server
        .http
        .post(server.url("/api/v1/integrations/alertmanager"))
        .bearer_auth(AM_KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn count(store: &Store, sql: &str) -> i64 {
    store.int_unchecked(sql).await.unwrap()
}

/// Bytes the database takes: the SQLite file and its WAL, or every table of
/// the test's PostgreSQL schema with its indexes and TOAST.
async fn stored_bytes(store: &Store, db: &str) -> i64 {
    match db.strip_prefix("sqlite://") {
        Some(path) => {
            let size = |p: &str| std::fs::metadata(p).map(|m| m.len() as i64).unwrap_or(0);
            size(path) + size(&format!("{path}-wal"))
        }
        None => {
            count(
                store,
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind = 'r'",
            )
            .await
        }
    }
}

/// `len` hexadecimal characters that do not compress (PostgreSQL would
/// otherwise shrink a repeated character to almost nothing).
fn incompressible(len: usize) -> String {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_digit((x % 16) as u32, 16).unwrap()
        })
        .collect()
}

fn audit_verifies(db: &str) -> bool {
    let out = cli(&["audit", "verify", "--database", db]);
    out.status.success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_more_alerts_than_allowed_is_refused_whole() {
    for db in databases().await {
        let receiver = Receiver::start().await;
        let server = Server::start(&db, &config(&receiver));
        let store = Store::open(&db).await.unwrap();

        // 5 000 alerts in one request: more than any request may carry.
        let r = post_webhook(&server, &webhook("{}", alerts("big", 5000))).await;
        assert_eq!(r.status(), 413, "{db}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["field"], "alerts", "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("1000"),
            "{body}"
        );
        let r = post_webhook(&server, &webhook("{}", alerts("over", 1001))).await;
        assert_eq!(r.status(), 413, "{db}");
        assert_eq!(count(&store, "SELECT COUNT(*) FROM incidents").await, 0);

        // A request the key's bucket could never hold can never pass: 413, not 429.
        let small = Server::start_with(
            &db,
            &config(&receiver),
            &["--events-rate-limit", "10", "--events-burst", "100"],
        );
        let r = small
            .http
            .post(small.url("/api/v1/integrations/alertmanager"))
            .bearer_auth(AM_KEY)
            .json(&webhook("{}", alerts("burst", 150)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{db}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["field"], "alerts", "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("100"),
            "{body}"
        );
        assert_eq!(count(&store, "SELECT COUNT(*) FROM incidents").await, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alert_spends_a_token_and_a_refused_request_spends_none() {
    for db in databases().await {
        let receiver = Receiver::start().await;
        // One token a second and a bucket of 1 000: refills are too slow to matter here.
        let server = Server::start_with(
            &db,
            &config(&receiver),
            &["--events-rate-limit", "1", "--events-burst", "1000"],
        );
        let store = Store::open(&db).await.unwrap();

        let r = post_webhook(&server, &webhook("{}", alerts("a", 600))).await;
        assert_eq!(r.status(), 200, "{db}");
        assert_eq!(count(&store, "SELECT COUNT(*) FROM incidents").await, 600);

        // 600 more: about 400 tokens are left, so the whole request is refused.
        let r = post_webhook(&server, &webhook("{}", alerts("b", 600))).await;
        assert_eq!(r.status(), 429, "{db}: 600 alerts spend 600 tokens");
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry >= 100, "about 200 tokens short at 1/s: {retry}");
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM incidents").await,
            600,
            "{db}: nothing of a refused request is stored"
        );

        // The refusal spent nothing: the 400 left still pass, and then the key is spent.
        let r = post_webhook(&server, &webhook("{}", alerts("c", 400))).await;
        assert_eq!(r.status(), 200, "{db}");
        let r = post_webhook(&server, &webhook("{}", alerts("d", 100))).await;
        assert_eq!(
            r.status(),
            429,
            "{db}: the key's 1 000 tokens are spent (one a second came back)"
        );
        assert_eq!(count(&store, "SELECT COUNT(*) FROM incidents").await, 1000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_group_key_is_stored_capped_not_once_per_alert() {
    for db in databases().await {
        let receiver = Receiver::start().await;
        let server = Server::start(&db, &config(&receiver));
        let viewer = token(&db, "viewer");
        let store = Store::open(&db).await.unwrap();
        let before = stored_bytes(&store, &db).await;

        // 250 alerts sharing one 400 KB groupKey: a 412 KB request.
        let body = webhook(&incompressible(400 * 1024), alerts("gk", 250));
        let r = post_webhook(&server, &body).await;
        assert_eq!(r.status(), 200, "{db}");
        assert_eq!(count(&store, "SELECT COUNT(*) FROM incidents").await, 250);

        let grown = stored_bytes(&store, &db).await - before;
        assert!(
            grown < 5 * 1024 * 1024,
            "{db}: the database grew by {grown} bytes for one 412 KB request"
        );
        let (_, list) = server.get("/api/v1/incidents?limit=1", &viewer).await;
        let details = &list["incidents"][0]["details"];
        let group_key = details["group_key"].as_str().unwrap();
        assert!(
            group_key.len() < 2048 && group_key.contains("[truncated"),
            "{db}: group_key kept capped with a marker, {} bytes",
            group_key.len()
        );
        assert_eq!(details["client_url"], "http://alertmanager.example:9093");
        assert!(audit_verifies(&db), "{db}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_v2_and_generic_details_are_capped() {
    for db in databases().await {
        let receiver = Receiver::start().await;
        let server = Server::start(&db, &config(&receiver));
        let viewer = token(&db, "viewer");
        let store = Store::open(&db).await.unwrap();

        let (status, body) = server
            .enqueue(json!({"routing_key": KEY, "event_action": "trigger", "dedup_key": "big-v2",
                "payload": {"summary": "s".repeat(5000), "source": "x", "severity": "info",
                    "custom_details": {"log": incompressible(300 * 1024), "many": (0..2000).map(|i| format!("{i:0>60}")).collect::<Vec<_>>()}}}))
            .await;
        assert_eq!(status, 202, "{db}: {body}");
        let r = server
            .http
            .post(server.url(&format!(
                "/api/v1/integrations/generic/{GENERIC_KEY}"
            )))
            .json(&json!({"title": "t".repeat(5000), "id": "big-generic", "dump": incompressible(300 * 1024)}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{db}");

        let (_, list) = server.get("/api/v1/incidents?limit=10", &viewer).await;
        let incidents = list["incidents"].as_array().unwrap();
        assert_eq!(incidents.len(), 2, "{db}: both paged despite the caps");
        for i in incidents {
            let title = i["title"].as_str().unwrap();
            assert!(
                title.chars().count() <= 1024 && title.contains("[truncated"),
                "{db}: title of {} characters",
                title.chars().count()
            );
            let stored = i["details"].to_string();
            assert!(
                stored.len() <= 64 * 1024 && stored.contains("[truncated"),
                "{db}: details of {} bytes",
                stored.len()
            );
        }
        let largest = count(
            &store,
            "SELECT CAST(MAX(LENGTH(details)) AS BIGINT) FROM incidents",
        )
        .await;
        assert!(largest <= 64 * 1024, "{db}: {largest}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn details_are_stored_once_and_still_shown() {
    for db in databases().await {
        let receiver = Receiver::start().await;
        let server = Server::start(&db, &config(&receiver));
        let viewer = token(&db, "viewer");
        let store = Store::open(&db).await.unwrap();

        let (status, _) = server
            .enqueue(
                json!({"routing_key": KEY, "event_action": "trigger", "dedup_key": "once-v2",
                "payload": {"summary": "disk full", "source": "db-1", "severity": "critical",
                    "custom_details": {"note": "needle-v2-7c1f"}}}),
            )
            .await;
        assert_eq!(status, 202);
        let alert = json!({"status": "firing", "labels": {"alertname": "DiskFull"},
            "annotations": {"summary": "disk full", "runbook": "needle-am-7c1f"}, "fingerprint": "once-am"});
        assert_eq!(
            post_webhook(&server, &webhook("{}", vec![alert]))
                .await
                .status(),
            200
        );
        eventually(Duration::from_secs(20), "both pages sent", || async {
            (receiver.received().len() >= 2).then_some(())
        })
        .await;

        for needle in ["needle-v2-7c1f", "needle-am-7c1f"] {
            let like = |table: &str, column: &str| {
                format!("SELECT COUNT(*) FROM {table} WHERE {column} LIKE '%{needle}%'")
            };
            assert_eq!(count(&store, &like("incidents", "details")).await, 1);
            assert_eq!(
                count(&store, &like("timeline", "detail")).await,
                0,
                "{db}: {needle} is copied onto the timeline"
            );
            assert_eq!(
                count(&store, &like("audit_log", "detail")).await,
                0,
                "{db}: {needle} is copied onto the audit trail"
            );
        }

        // The API shows them as before: on the incident and on its first timeline entry.
        let (_, list) = server.get("/api/v1/incidents?limit=10", &viewer).await;
        let v2 = list["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["dedup_key"] == "once-v2")
            .unwrap()
            .clone();
        assert_eq!(v2["details"]["custom_details"]["note"], "needle-v2-7c1f");
        let (_, timeline) = server
            .get(&format!("/api/v1/incidents/{}/timeline", v2["id"]), &viewer)
            .await;
        let triggered = &timeline["entries"][0];
        assert_eq!(triggered["kind"], "triggered", "{timeline}");
        assert_eq!(
            triggered["detail"]["custom_details"]["note"], "needle-v2-7c1f",
            "{triggered}"
        );
        assert_eq!(triggered["detail"]["source"], "db-1");
        assert!(
            triggered["detail"]["paged"].is_array(),
            "the record's own facts stay: {triggered}"
        );

        // The audit chain covers the details through their hash.
        assert!(audit_verifies(&db), "{db}");
        store
            .execute_unchecked(
                "UPDATE incidents SET details = REPLACE(details, 'needle-v2', 'forged-v2')",
            )
            .await
            .unwrap();
        let out = cli(&["audit", "verify", "--database", &db]);
        assert!(!out.status.success(), "{db}: altered details go unnoticed");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("details"), "{err}");
    }
}
