//! End to end on the real binary, on SQLite and PostgreSQL: a signal comes in
//! over Events API v2, level 1 is paged by signed webhook, the incident climbs
//! when nobody answers, and the link in the page acknowledges it (`POST`).

mod common;

use common::*;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;

fn signature_ok(r: &Received) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(&r.raw);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    r.headers
        .get("x-escalator-signature")
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str())
}

async fn pages_escalates_and_acknowledges(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &two_level_config(&receiver, "2s"));
    let viewer = token(db, "viewer");
    let responder = token(db, "responder");

    let accepted = server.trigger("disk-full-db-1", "Disk full on db-1").await;
    assert_eq!(
        accepted,
        json!({"status": "success", "message": "Event processed", "dedup_key": "disk-full-db-1"})
    );

    let page = eventually(Duration::from_secs(10), "alice paged", || async {
        receiver.received().into_iter().find(|r| r.path == "/alice")
    })
    .await;
    assert!(signature_ok(&page), "bad signature: {:?}", page.headers);
    assert_eq!(
        page.headers["idempotency-key"].to_str().unwrap(),
        page.body["idempotency_key"]
    );
    assert_eq!(page.body["type"], "incident.notify");
    assert_eq!(page.body["incident"]["title"], "Disk full on db-1");
    assert_eq!(page.body["incident"]["level"], 1);
    assert_eq!(page.body["incident"]["round"], 1);
    assert_eq!(page.body["incident"]["service"], "payments-api");
    assert_eq!(page.body["incident"]["dedup_key"], "disk-full-db-1");
    assert_eq!(
        page.body["recipient"],
        json!({"user": "alice", "contact_method": "hook"})
    );
    let id = page.body["incident"]["id"].as_i64().unwrap();

    // The same dedup key folds into the open incident and pages nobody anew.
    server.trigger("disk-full-db-1", "Disk full on db-1").await;
    let (_, inc) = server
        .get(&format!("/api/v1/incidents/{id}"), &viewer)
        .await;
    assert_eq!(inc["alert_count"], 2);

    // Nobody acknowledges: level 2 (bob) is paged when escalate_after elapses.
    let bob = eventually(Duration::from_secs(15), "bob paged at level 2", || async {
        receiver.received().into_iter().find(|r| r.path == "/bob")
    })
    .await;
    assert_eq!(bob.body["incident"]["level"], 2);
    assert_eq!(
        receiver
            .received()
            .iter()
            .filter(|r| r.path == "/alice")
            .count(),
        1,
        "alice paged twice"
    );
    let (_, inc) = server
        .get(&format!("/api/v1/incidents/{id}"), &viewer)
        .await;
    assert_eq!(inc["level"], 2);
    // Escalation times are the trigger time plus the timeouts passed, not dispatch time.
    let created: jiff::Timestamp = inc["created_at"].as_str().unwrap().parse().unwrap();
    let started: jiff::Timestamp = inc["level_started_at"].as_str().unwrap().parse().unwrap();
    let next: jiff::Timestamp = inc["next_escalation_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(started, created + jiff::SignedDuration::from_secs(2));
    assert_eq!(next, created + jiff::SignedDuration::from_secs(4));

    // bob acknowledges with the signed link in his page (the button on its
    // confirmation page POSTs; ack_links.rs covers the page itself).
    let ack_url = bob.body["ack_url"].as_str().unwrap();
    let r = server.http.post(ack_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("acknowledged"));
    let (_, inc) = server
        .get(&format!("/api/v1/incidents/{id}"), &viewer)
        .await;
    assert_eq!(inc["status"], "acknowledged");
    assert_eq!(inc["acknowledged_by"], "user:bob (ack link)");
    assert_eq!(inc["next_escalation_at"], Value::Null);

    let (_, tl) = server
        .get(&format!("/api/v1/incidents/{id}/timeline"), &viewer)
        .await;
    let kinds: Vec<&str> = tl["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for k in [
        "triggered",
        "alert_added",
        "notification_sent",
        "escalated",
        "acknowledged",
    ] {
        assert!(kinds.contains(&k), "timeline lacks {k}: {kinds:?}");
    }
    let (_, notes) = server
        .get(&format!("/api/v1/incidents/{id}/notifications"), &viewer)
        .await;
    let statuses: Vec<(&str, &str)> = notes["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["user"].as_str().unwrap(), n["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, vec![("alice", "sent"), ("bob", "sent")]);

    // Resolve; the same key then opens a new incident.
    let (status, inc) = server
        .post(
            &format!("/api/v1/incidents/{id}/resolve"),
            &responder,
            json!({}),
        )
        .await;
    assert_eq!((status, inc["status"].as_str()), (200, Some("resolved")));
    let (status, _) = server
        .post(
            &format!("/api/v1/incidents/{id}/acknowledge"),
            &responder,
            json!({}),
        )
        .await;
    assert_eq!(status, 409);
    server.trigger("disk-full-db-1", "Disk full again").await;
    let (_, list) = server
        .get("/api/v1/incidents?status=triggered", &viewer)
        .await;
    let open = list["incidents"].as_array().unwrap();
    assert_eq!(open.len(), 1);
    assert_ne!(open[0]["id"].as_i64().unwrap(), id);

    let out = cli(&["audit", "verify", "--database", db]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_escalates_and_acknowledges_on_sqlite_and_postgres() {
    for db in databases().await {
        pages_escalates_and_acknowledges(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_v2_answers_like_pagerduty() {
    for db in databases().await {
        events_v2_answers_like_pagerduty_on(&db).await;
    }
}

async fn events_v2_answers_like_pagerduty_on(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &two_level_config(&receiver, "15m"));

    let (status, body) = server
        .enqueue(json!({"routing_key": KEY, "event_action": "trigger", "payload": {"source": "x"}}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["status"], "invalid event");
    assert_eq!(
        body["errors"],
        json!([
            "'payload.summary' is missing",
            "'payload.severity' is missing"
        ])
    );

    let (status, body) = server
        .enqueue(
            json!({"routing_key": "ffffffffffffffffffffffffffffffff", "event_action": "trigger",
            "payload": {"summary": "s", "source": "x", "severity": "critical"}}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"],
        json!(["'routing_key' does not match any integration"])
    );

    let (status, body) = server
        .enqueue(json!({"routing_key": KEY, "event_action": "trigger",
            "payload": {"summary": "s", "source": "x", "severity": "catastrophic"}}))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("payload.severity"),
        "{body}"
    );

    let r = server
        .http
        .post(server.url("/v2/enqueue"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let huge = json!({"routing_key": KEY, "event_action": "trigger",
        "payload": {"summary": "s", "source": "x", "severity": "info", "custom_details": {"blob": "x".repeat(600 * 1024)}}});
    let (status, body) = server.enqueue(huge).await;
    assert_eq!(status, 400);
    assert!(
        body["errors"][0].as_str().unwrap().contains("512 KB"),
        "{body}"
    );

    // No dedup_key: one is generated and returned; unknown fields are ignored.
    let (status, body) = server
        .enqueue(json!({"routing_key": KEY, "event_action": "trigger", "client": "Grafana", "extra": [1, 2],
            "payload": {"summary": "s", "source": "x", "severity": "warning"}}))
        .await;
    assert_eq!(status, 202);
    let key = body["dedup_key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 32);

    // Acknowledge and resolve by dedup key; an unknown key is accepted and changes nothing.
    let (status, _) = server
        .enqueue(json!({"routing_key": KEY, "event_action": "acknowledge", "dedup_key": key}))
        .await;
    assert_eq!(status, 202);
    let (status, _) = server
        .enqueue(
            json!({"routing_key": KEY, "event_action": "resolve", "dedup_key": "nothing-here"}),
        )
        .await;
    assert_eq!(status, 202);
    let (status, body) = server
        .enqueue(json!({"routing_key": KEY, "event_action": "resolve"}))
        .await;
    assert_eq!(
        (status, &body["errors"]),
        (
            400,
            &json!(["'dedup_key' is required to acknowledge or resolve"])
        )
    );

    let viewer = token(&server.db, "viewer");
    let (_, list) = server.get("/api/v1/incidents", &viewer).await;
    let incidents = list["incidents"].as_array().unwrap();
    assert_eq!(
        incidents.len(),
        1,
        "only the valid trigger opened an incident"
    );
    assert_eq!(incidents[0]["status"], "acknowledged");
    assert_eq!(incidents[0]["acknowledged_by"], "events_v2:payments-api");
    assert_eq!(incidents[0]["details"]["client"], "Grafana");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_who_may_do_what() {
    for db in databases().await {
        roles_decide_who_may_do_what_on(&db).await;
    }
}

async fn roles_decide_who_may_do_what_on(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &two_level_config(&receiver, "15m"));
    let db = server.db.clone();
    let (viewer, responder, manager) = (
        token(&db, "viewer"),
        token(&db, "responder"),
        token(&db, "manager"),
    );
    server.trigger("k1", "one").await;
    let id = eventually(Duration::from_secs(10), "incident listed", || async {
        let (_, list) = server.get("/api/v1/incidents", &viewer).await;
        list["incidents"][0]["id"].as_i64()
    })
    .await;
    let path = |action: &str| format!("/api/v1/incidents/{id}/{action}");

    let r = server
        .http
        .get(server.url("/api/v1/incidents"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (status, body) = server
        .get("/api/v1/incidents", "esc_not-a-real-token")
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, body) = server.post(&path("acknowledge"), &viewer, json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );

    let (status, body) = server
        .post(
            &path("escalate"),
            &responder,
            json!({"to_level": 3, "reason": "db on fire"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (403, Some("to_level"))
    );
    let (status, body) = server
        .post(&path("escalate"), &manager, json!({"to_level": 3}))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("reason"))
    );
    let (status, body) = server
        .post(
            &path("escalate"),
            &manager,
            json!({"to_level": 9, "reason": "x"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("to_level"))
    );
    let (status, body) = server
        .post(&path("escalate"), &manager, json!({"to_lvl": 2}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_body"))
    );
    let (status, body) = server.get("/api/v1/incidents?status=open", &viewer).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("status"))
    );

    // Nothing above changed the incident.
    let (_, inc) = server
        .get(&format!("/api/v1/incidents/{id}"), &viewer)
        .await;
    assert_eq!(
        (inc["level"].as_i64(), inc["status"].as_str()),
        (Some(1), Some("triggered"))
    );

    let (status, inc) = server.post(&path("escalate"), &responder, json!({})).await;
    assert_eq!((status, inc["level"].as_i64()), (200, Some(2)));
    let (status, inc) = server
        .post(
            &path("escalate"),
            &manager,
            json!({"to_level": 3, "reason": "customer data at risk"}),
        )
        .await;
    assert_eq!((status, inc["level"].as_i64()), (200, Some(3)));
    let (status, body) = server.post(&path("escalate"), &manager, json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("at_last_level"))
    );

    let (_, tl) = server
        .get(&format!("/api/v1/incidents/{id}/timeline"), &viewer)
        .await;
    let skip = tl["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["message"]
                .as_str()
                .unwrap()
                .contains("customer data at risk")
        })
        .expect("the reason for skipping is on the timeline");
    assert_eq!(skip["actor"], "token:manager-bot (api)");
    assert_eq!(skip["detail"]["skipped_levels"], 0);

    let (status, _) = server.get("/api/v1/incidents/999999", &viewer).await;
    assert_eq!(status, 404);
    let (status, _) = server.get("/api/v1/config", &manager).await;
    assert_eq!(status, 403);
    let admin = token(&db, "admin");
    let r = server
        .http
        .get(server.url("/api/v1/config"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("payments-api"));

    let forged = format!("{}/api/v1/ack/bm90LWEtbGluaw.c2ln", server.url(""));
    assert_eq!(reqwest::get(forged).await.unwrap().status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_openapi_document_and_health() {
    for db in databases().await {
        serves_the_openapi_document_and_health_on(&db).await;
    }
}

async fn serves_the_openapi_document_and_health_on(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &two_level_config(&receiver, "15m"));
    let doc: Value = reqwest::get(server.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for p in [
        "/v2/enqueue",
        "/api/v1/incidents",
        "/api/v1/incidents/{id}/escalate",
        "/api/v1/ack/{token}",
        "/api/v1/config",
    ] {
        assert!(doc["paths"].get(p).is_some(), "OpenAPI lacks {p}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert_eq!(
        reqwest::get(server.url("/healthz")).await.unwrap().status(),
        200
    );
    let ready: Value = reqwest::get(server.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
}
