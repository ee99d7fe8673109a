//! Detectors end to end: samples posted to `/api/v1/metrics` raise an event
//! through the rules path when the series turns abnormal, and resolve it when
//! the series has been normal long enough; detector state survives a restart.

mod common;

use common::*;
use serde_json::{Value, json};

fn config(receiver: &Receiver) -> String {
    alice_config(
        receiver,
        r#"detectors:
  - id: checkout-latency
    service: payments-api
    metric: p99_latency_ms
    method: threshold
    above: 100
    for: 2m
    severity: warning
    resolve_after: 5m
  - id: checkout-anomaly
    service: payments-api
    metric: p99_latency_ms
    method: anomaly
    sensitivity: 3.5
"#,
    )
}

fn samples(start_min: i64, values: &[f64]) -> Value {
    let t0: jiff::Timestamp = "2026-11-29T00:00:00Z".parse().unwrap();
    json!({"samples": values.iter().enumerate().map(|(i, v)| json!({
        "service": "payments-api", "metric": "p99_latency_ms", "value": v,
        "timestamp": (t0 + jiff::SignedDuration::from_mins(start_min + i as i64)).to_string(),
    })).collect::<Vec<_>>()})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_held_long_enough_raises_then_resolves_through_the_rules_path() {
    for db in databases().await {
        a_threshold_held_long_enough_raises_then_resolves_through_the_rules_path_on(&db).await;
    }
}

async fn a_threshold_held_long_enough_raises_then_resolves_through_the_rules_path_on(db: &str) {
    let receiver = Receiver::start().await;
    let mut server = Server::start(db, &config(&receiver));
    let (viewer, responder) = (token(&server.db, "viewer"), token(&server.db, "responder"));

    // One breaching minute is not enough (for: 2m); the third is.
    let (status, body) = server
        .post(
            "/api/v1/metrics",
            &responder,
            samples(0, &[50.0, 150.0, 160.0]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"], json!([]));
    // A restart in the middle keeps the detector's memory.
    server.restart();
    let (_, body) = server
        .post("/api/v1/metrics", &responder, samples(3, &[170.0]))
        .await;
    assert_eq!(body["events"][0]["action"], "trigger", "{body}");
    let (_, list) = server.get("/api/v1/incidents", &viewer).await;
    let incident = &list["incidents"][0];
    assert_eq!(incident["dedup_key"], "detector:checkout-latency");
    assert_eq!(incident["details"]["source"], "detector:checkout-latency");
    assert_eq!(incident["details"]["severity"], "warning");

    // Normal for five minutes: resolved.
    let (_, body) = server
        .post(
            "/api/v1/metrics",
            &responder,
            samples(4, &[60.0, 55.0, 50.0, 52.0, 51.0, 50.0]),
        )
        .await;
    assert_eq!(body["events"][0]["action"], "resolve", "{body}");
    let (_, list) = server.get("/api/v1/incidents", &viewer).await;
    assert_eq!(list["incidents"][0]["status"], "resolved");

    // A bad sample names its field and nothing is fed.
    let mut bad = samples(20, &[500.0, 500.0, 500.0, 500.0]);
    bad["samples"][2]["timestamp"] = json!("yesterday");
    let (status, body) = server.post("/api/v1/metrics", &responder, bad).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("samples[2].timestamp"))
    );
    let (status, _) = server
        .post("/api/v1/metrics", &viewer, samples(30, &[1.0]))
        .await;
    assert_eq!(status, 403);
}

/// Two nodes on one PostgreSQL database are fed one detector's samples at
/// once: its state is decided under a row lock, so every sample is counted
/// once and the series fires exactly once, whichever node took which sample.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_fed_one_detector_at_once_agree() {
    let db = escalator_store::testing::postgres_url().await;
    let receiver = Receiver::start().await;
    let config = alice_config(
        &receiver,
        r#"detectors:
  - id: errors
    service: payments-api
    metric: errors
    method: threshold
    above: 10
    for: 0s
    severity: critical
    resolve_after: 1h
"#,
    );
    let nodes = std::sync::Arc::new([Server::start(&db, &config), Server::start(&db, &config)]);
    let token = token(&db, "responder");
    const N: usize = 80;
    let t0: jiff::Timestamp = "2026-11-29T00:00:00Z".parse().unwrap();
    let mut posts = Vec::new();
    for i in 0..N {
        let (nodes, token) = (nodes.clone(), token.clone());
        posts.push(tokio::spawn(async move {
            let body = json!({"samples": [{
                "service": "payments-api", "metric": "errors", "value": 50.0,
                "timestamp": (t0 + jiff::SignedDuration::from_secs(i as i64)).to_string(),
            }]});
            let (status, answer) = nodes[i % 2].post("/api/v1/metrics", &token, body).await;
            assert_eq!(status, 200, "{answer}");
            answer["events"].as_array().unwrap().len()
        }));
    }
    let mut raised = 0;
    for p in posts {
        raised += p.await.unwrap();
    }
    assert_eq!(raised, 1, "the series fired once across both nodes");
    let store = escalator_store::Store::open(&db).await.unwrap();
    let state = store.detector_state("errors").await.unwrap().unwrap();
    assert_eq!(state.state["samples"], N as u64, "{:?}", state.state);
    assert!(state.firing);
    let viewer = token_for(&db, "v", "viewer", None);
    let (_, list) = nodes[0].get("/api/v1/incidents", &viewer).await;
    assert_eq!(list["incidents"].as_array().unwrap().len(), 1, "{list}");
}
