//! Rules end to end: technical and business thresholds set priority and the
//! starting level, exceptions add mandatory paths and cannot be suppressed,
//! noise is recorded and pages nobody; reviews and dry runs; a generic webhook
//! mapped with CEL.

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::Duration;

const GENERIC_KEY: &str = "abcdefabcdefabcdefabcdefabcdef12";

fn config(receiver: &Receiver) -> String {
    let hook = |u: &str| {
        format!(
            "    contact_methods: [{{id: hook, type: webhook, url: \"{}\"}}]\n",
            receiver.url(&format!("/{u}"))
        )
    };
    format!(
        r#"users:
  - id: alice
{a}  - id: bob
{b}  - id: carol
{c}  - id: lena
{l}teams:
  - {{id: legal, members: [lena]}}
escalation_policies:
  - id: p
    levels:
      - targets: [{{user: alice}}]
        escalate_after: 1h
      - targets: [{{user: bob}}]
        escalate_after: 1h
      - targets: [{{user: carol}}]
        escalate_after: 1h
services:
  - id: payments-api
    escalation_policy: p
    tier: 1
    data_classification: pii
    customer_segment: enterprise
    revenue_per_hour: 120000
    integrations:
      - {{type: events_v2, key: "{KEY}"}}
      - type: generic
        key: "{GENERIC_KEY}"
        mapping: {{summary: 'body.title', dedup_key: 'body.id', severity: 'body.level', action: 'body.state == "ok" ? "resolve" : "trigger"'}}
rules:
  - id: breach-indicator
    exception: true
    when: 'event.custom_details.category == "data_breach"'
    then: {{priority: P1, start_level: 3, notify: [{{team: legal}}]}}
    owner: carol
    review_by: 2026-01-01
  - id: big-outage
    when: 'event.custom_details.downtime_minutes >= 15 || event.custom_details.affected_users > 1000'
    then: {{priority: P1, start_level: 2}}
    review_by: 2099-01-01
  - id: revenue-impact
    when: 'service.revenue_per_hour * (event.custom_details.degraded_fraction ?? 0.0) > 10000'
    then: {{priority: P2}}
  - id: noise
    when: 'event.severity == "info"'
    then: {{suppress: true}}
"#,
        a = hook("alice"),
        b = hook("bob"),
        c = hook("carol"),
        l = hook("lena"),
    )
}

async fn trigger(server: &Server, key: &str, severity: &str, details: Value) {
    let (status, body) = server
        .enqueue(json!({"routing_key": KEY, "event_action": "trigger", "dedup_key": key,
            "payload": {"summary": key, "source": "x", "severity": severity, "custom_details": details}}))
        .await;
    assert_eq!(status, 202, "{body}");
}

async fn incident(server: &Server, token: &str, key: &str) -> Option<Value> {
    let (_, list) = server.get("/api/v1/incidents?limit=100", token).await;
    list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["dedup_key"] == key)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_set_priority_start_level_mandatory_paths_and_suppress_noise() {
    for db in databases().await {
        rules_set_priority_start_level_mandatory_paths_and_suppress_noise_on(&db).await;
    }
}

async fn rules_set_priority_start_level_mandatory_paths_and_suppress_noise_on(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &config(&receiver));
    let viewer = token(&server.db, "viewer");

    trigger(
        &server,
        "outage",
        "critical",
        json!({"downtime_minutes": 20}),
    )
    .await;
    let i = incident(&server, &viewer, "outage").await.unwrap();
    assert_eq!(
        (i["priority"].as_str(), i["level"].as_i64()),
        (Some("P1"), Some(2))
    );
    assert_eq!(i["details"]["rules"]["matched"][0]["rule"], "big-outage");

    trigger(
        &server,
        "degraded",
        "error",
        json!({"degraded_fraction": 0.2}),
    )
    .await;
    let i = incident(&server, &viewer, "degraded").await.unwrap();
    assert_eq!(
        (i["priority"].as_str(), i["level"].as_i64()),
        (Some("P2"), Some(1))
    );
    trigger(&server, "healthy", "error", json!({})).await;
    let i = incident(&server, &viewer, "healthy").await.unwrap();
    assert_eq!(
        i["priority"],
        Value::Null,
        "?? 0.0 when the field is missing: no match, no error"
    );

    // An exception: starts at level 3 and pages legal in parallel, even at info severity.
    trigger(
        &server,
        "breach",
        "info",
        json!({"category": "data_breach"}),
    )
    .await;
    let i = incident(&server, &viewer, "breach").await.unwrap();
    assert_eq!(
        (i["priority"].as_str(), i["level"].as_i64()),
        (Some("P1"), Some(3))
    );
    let paths: Vec<String> =
        eventually(Duration::from_secs(10), "carol and lena paged", || async {
            let got: Vec<String> = receiver
                .received()
                .into_iter()
                .filter(|r| r.body["incident"]["dedup_key"] == "breach")
                .map(|r| r.path)
                .collect();
            (got.len() >= 2).then_some(got)
        })
        .await;
    assert!(
        paths.contains(&"/carol".to_owned()) && paths.contains(&"/lena".to_owned()),
        "{paths:?}"
    );

    // Noise: recorded, nobody paged, no incident.
    trigger(&server, "chatter", "info", json!({})).await;
    assert!(incident(&server, &viewer, "chatter").await.is_none());
    let store = escalator_store::Store::open(&server.db).await.unwrap();
    let audit = store.audit_entries(0, 1000).await.unwrap();
    let suppressed = audit
        .iter()
        .find(|e| e.action == "event_suppressed")
        .expect("suppression is on the audit trail");
    assert_eq!(
        suppressed.reason.as_deref(),
        Some("suppressed by rule noise")
    );

    // Reviews and dry runs, over the API and the CLI.
    let (_, overdue) = server.get("/api/v1/rules?review=overdue", &viewer).await;
    let ids: Vec<&str> = overdue["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["breach-indicator"]);
    let (status, _) = server.get("/api/v1/rules?review=later", &viewer).await;
    assert_eq!(status, 400);
    let (status, dry) = server
        .post("/api/v1/rules/evaluate", &viewer, json!({"service": "payments-api", "event": {"severity": "info", "custom_details": {"category": "data_breach"}}}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (dry["start_level"].as_i64(), dry["paged"].as_bool()),
        (Some(3), Some(true)),
        "exceptions beat suppress"
    );
    assert_eq!(dry["decision"]["notify"], json!([{"team": "legal"}]));
    let out = cli(&["rules", "review", "--database", &server.db]);
    assert!(!out.status.success(), "an overdue rule fails the review");
    assert!(String::from_utf8_lossy(&out.stdout).contains("breach-indicator"));
    let event = temp_file(
        "event.json",
        r#"{"payload": {"summary": "s", "source": "x", "severity": "info"}}"#,
    );
    let out = cli(&[
        "rules",
        "test",
        "--service",
        "payments-api",
        "--event",
        event.to_str().unwrap(),
        "--database",
        &server.db,
    ]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("suppressed (nobody paged): true"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (_, all) = server.get("/api/v1/incidents?limit=100", &viewer).await;
    assert_eq!(
        all["incidents"].as_array().unwrap().len(),
        4,
        "dry runs create nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_webhook_is_mapped_with_cel() {
    for db in databases().await {
        a_generic_webhook_is_mapped_with_cel_on(&db).await;
    }
}

async fn a_generic_webhook_is_mapped_with_cel_on(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &config(&receiver));
    let viewer = token(&server.db, "viewer");
    let url = server.url(&format!("/api/v1/integrations/generic/{GENERIC_KEY}"));
    let r = server.http.post(&url).json(&json!({"title": "Queue backed up", "id": "q-1", "level": "warning", "state": "alerting"})).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let i = incident(&server, &viewer, "q-1").await.unwrap();
    assert_eq!(
        (i["title"].as_str(), i["status"].as_str()),
        (Some("Queue backed up"), Some("triggered"))
    );
    assert_eq!(i["details"]["severity"], "warning");
    let r = server
        .http
        .post(&url)
        .json(&json!({"title": "Queue fine", "id": "q-1", "state": "ok"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(
        incident(&server, &viewer, "q-1").await.unwrap()["status"],
        "resolved"
    );
    // A body the mapping cannot read: the field is named, nothing changes.
    let r = server
        .http
        .post(&url)
        .json(&json!({"id": "q-2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["field"], "mapping.summary");
    let r = server
        .http
        .post(&url)
        .json(&json!({"title": "t", "id": "q-3", "level": "apocalyptic"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(incident(&server, &viewer, "q-3").await.is_none());
    let r = server
        .http
        .post(server.url("/api/v1/integrations/generic/00000000000000000000000000000000"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn validate_names_the_rule_and_the_position_of_a_bad_expression() {
    let receiver = Receiver::start().await;
    let broken = config(&receiver).replace(
        "when: 'event.severity == \"info\"'",
        "when: 'event.severity == '",
    );
    let file = temp_file("rules.yaml", &broken);
    let out = cli(&["validate", "-f", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rules[3].when") && err.contains("rule \"noise\""),
        "{err}"
    );
}
