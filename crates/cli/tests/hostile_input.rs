//! Input no monitoring tool should send, but some do: NUL and other control
//! characters, bidirectional overrides and zero-width characters, duplicated
//! JSON keys, oversized bodies. Each has one answer, the same on SQLite and
//! PostgreSQL, and no answer ever carries database text.

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::Duration;

const AM_KEY: &str = "fedcba9876543210fedcba9876543210";
const GENERIC_KEY: &str = "abcdefabcdefabcdefabcdefabcdef12";

fn config(receiver: &Receiver) -> String {
    alice_config(
        receiver,
        &format!(
            r#"      - type: generic
        key: "{GENERIC_KEY}"
        mapping: {{summary: 'body.title', dedup_key: 'body.id'}}
  - id: clusters
    escalation_policy: p
    grouping: {{by: [cluster], window: 5m}}
    integrations:
      - {{type: alertmanager, key: "{AM_KEY}"}}
"#
        ),
    )
}

/// `POST path` with a body sent byte for byte (serde_json could not write a
/// duplicated key), optionally with a bearer token.
async fn post_raw(server: &Server, path: &str, body: String, token: Option<&str>) -> (u16, Value) {
    let mut request = server
        .http
        .post(server.url(path))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn incident_by_key(server: &Server, token: &str, dedup_key: &str) -> Option<Value> {
    let (_, list) = server.get("/api/v1/incidents?limit=100", token).await;
    list["incidents"]
        .as_array()?
        .iter()
        .find(|i| i["dedup_key"] == dedup_key)
        .cloned()
}

async fn page_for(receiver: &Receiver, dedup_key: &str) -> Received {
    eventually(
        Duration::from_secs(10),
        &format!("page for {dedup_key}"),
        || async {
            receiver
                .received()
                .into_iter()
                .find(|r| r.body["incident"]["dedup_key"] == dedup_key)
        },
    )
    .await
}

fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

/// What each database made of the NUL cases: compared across databases.
async fn nul_outcomes(db: &str) -> Vec<(u16, Value)> {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &config(&receiver));
    let viewer = token(db, "viewer");
    let mut outcomes = Vec::new();

    // Free text is cleaned: the event pages, without the NUL.
    let (status, body) = server
        .enqueue(json!({
            "routing_key": KEY, "event_action": "trigger", "dedup_key": "nul-summary",
            "payload": {"summary": "Disk\u{0} full\u{7} on db-1", "source": "db\u{0}-1",
                        "severity": "critical", "component": "disk\u{1b}[31m",
                        "custom_details": {"note": "a\u{0}b", "nested": [{"x\u{0}": "y\u{0}"}]}},
            "client": "nagios\u{0}"
        }))
        .await;
    assert_eq!(status, 202, "{db}: {body}");
    outcomes.push((status, body));
    let page = page_for(&receiver, "nul-summary").await;
    assert_eq!(page.body["incident"]["title"], "Disk full on db-1", "{db}");
    for field in ["subject", "text"] {
        let text = page.body[field].as_str().unwrap();
        assert!(!has_control(text), "{db}: {field} {text:?}");
    }
    let incident = incident_by_key(&server, &viewer, "nul-summary")
        .await
        .unwrap();
    assert_eq!(incident["title"], "Disk full on db-1");
    assert_eq!(incident["details"]["source"], "db-1");
    assert_eq!(incident["details"]["component"], "disk[31m");
    assert_eq!(incident["details"]["client"], "nagios");
    assert_eq!(
        incident["details"]["custom_details"],
        json!({"note": "ab", "nested": [{"x": "y"}]})
    );

    // Alertmanager: label values (a grouping key here) and annotations are free text.
    let (status, body) = post_raw(
        &server,
        &format!("/api/v1/integrations/alertmanager?key={AM_KEY}"),
        json!({"version": "4", "status": "firing", "alerts": [{
            "status": "firing", "fingerprint": "am-nul",
            "labels": {"alertname": "Disk\u{0}Full", "cluster": "eu\u{0}-1"},
            "annotations": {"summary": "Disk\u{0} full on db-2"}}]})
        .to_string(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{db}: {body}");
    outcomes.push((status, body));
    let page = page_for(&receiver, "am-nul").await;
    assert_eq!(page.body["incident"]["title"], "Disk full on db-2", "{db}");
    let incident = incident_by_key(&server, &viewer, "am-nul").await.unwrap();
    assert_eq!(incident["group_key"], r#"["eu-1"]"#);

    // Generic webhook: the mapped summary is free text too.
    let (status, body) = post_raw(
        &server,
        &format!("/api/v1/integrations/generic/{GENERIC_KEY}"),
        json!({"title": "Queue\u{0} backed up", "id": "generic-nul"}).to_string(),
        None,
    )
    .await;
    assert_eq!(status, 202, "{db}: {body}");
    outcomes.push((status, body));
    let page = page_for(&receiver, "generic-nul").await;
    assert_eq!(page.body["incident"]["title"], "Queue backed up", "{db}");

    // A key is an identifier: refused, naming it, and nothing is saved.
    for (dedup_key, field) in [("disk\u{0}1", "dedup_key"), ("disk\n1", "dedup_key")] {
        let (status, body) = server
            .enqueue(json!({
                "routing_key": KEY, "event_action": "trigger", "dedup_key": dedup_key,
                "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical"}
            }))
            .await;
        assert_eq!(status, 400, "{db}: {body}");
        let errors = body["errors"].to_string();
        assert!(errors.contains(&format!("'{field}'")), "{db}: {body}");
        outcomes.push((status, body));
    }
    let (status, body) = server
        .enqueue(
            json!({"routing_key": KEY, "event_action": "resolve", "dedup_key": "nul-summary\u{0}"}),
        )
        .await;
    assert_eq!(status, 400, "{db}: {body}");
    outcomes.push((status, body));
    let (status, body) = post_raw(
        &server,
        &format!("/api/v1/integrations/generic/{GENERIC_KEY}"),
        json!({"title": "Queue backed up", "id": "q\u{0}"}).to_string(),
        None,
    )
    .await;
    assert_eq!(status, 400, "{db}: {body}");
    assert_eq!(body["error"]["field"], "mapping.dedup_key", "{db}");
    outcomes.push((status, body));
    let (_, list) = server.get("/api/v1/incidents?limit=100", &viewer).await;
    assert_eq!(list["incidents"].as_array().unwrap().len(), 3, "{db}");
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_free_text_is_removed_and_one_in_a_key_is_refused_alike_on_both_databases() {
    let mut all = Vec::new();
    for db in databases().await {
        all.push(nul_outcomes(&db).await);
    }
    assert_eq!(all[0], all[1], "SQLite and PostgreSQL answered differently");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidirectional_overrides_and_zero_width_characters_never_reach_a_title() {
    for db in databases().await {
        let receiver = Receiver::start().await;
        let server = Server::start(&db, &config(&receiver));
        let viewer = token(&db, "viewer");
        // Shown as "Invoice exe.pdf" in a right-to-left override: a spoofed page.
        let spoofed = "Invoice \u{202E}fdp.exe\u{202C} \u{2066}ok\u{2069}\u{200B}\u{FEFF}\u{2060}";
        server.trigger("bidi", spoofed).await;
        let page = page_for(&receiver, "bidi").await;
        let shown = "Invoice fdp.exe ok";
        assert_eq!(page.body["incident"]["title"], shown, "{db}");
        let invisible = |s: &str| {
            s.chars().any(|c| {
                matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
            })
        };
        for field in ["subject", "text"] {
            let text = page.body[field].as_str().unwrap();
            assert!(!invisible(text), "{db}: {field} {text:?}");
        }
        let incident = incident_by_key(&server, &viewer, "bidi").await.unwrap();
        assert_eq!(incident["title"], shown, "{db}");

        let (status, _) = post_raw(
            &server,
            &format!("/api/v1/integrations/alertmanager?key={AM_KEY}"),
            json!({"version": "4", "status": "firing", "alerts": [{
                "status": "firing", "fingerprint": "am-bidi", "labels": {"alertname": "A"},
                "annotations": {"summary": "\u{202E}gnp.bat"}}]})
            .to_string(),
            None,
        )
        .await;
        assert_eq!(status, 200, "{db}");
        let page = page_for(&receiver, "am-bidi").await;
        assert_eq!(page.body["incident"]["title"], "gnp.bat", "{db}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicated_json_key_is_refused_naming_it() {
    for db in databases().await {
        a_duplicated_json_key_is_refused_naming_it_on(&db).await;
    }
}

async fn a_duplicated_json_key_is_refused_naming_it_on(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &config(&receiver));
    let viewer = token(&server.db, "viewer");

    // Trigger or resolve? Ambiguous: refused, not last-wins.
    let body = format!(
        r#"{{"routing_key":"{KEY}","event_action":"trigger","dedup_key":"dup","event_action":"resolve",
            "payload":{{"summary":"s","source":"x","severity":"info"}}}}"#
    );
    let (status, answer) = post_raw(&server, "/v2/enqueue", body, None).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["status"], "invalid event");
    let errors = answer["errors"].to_string();
    assert!(errors.contains("duplicate key 'event_action'"), "{answer}");

    let body = format!(
        r#"{{"routing_key":"{KEY}","event_action":"trigger","dedup_key":"dup",
            "payload":{{"summary":"s","source":"x","severity":"info","summary":"t"}}}}"#
    );
    let (status, answer) = post_raw(&server, "/v2/enqueue", body, None).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["errors"]
            .to_string()
            .contains("duplicate key 'payload.summary'"),
        "{answer}"
    );

    let body =
        r#"{"version":"4","alerts":[{"status":"firing","fingerprint":"f","status":"resolved"}]}"#;
    let (status, answer) = post_raw(
        &server,
        &format!("/api/v1/integrations/alertmanager?key={AM_KEY}"),
        body.into(),
        None,
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["field"], "alerts[0].status", "{answer}");

    let (_, list) = server.get("/api/v1/incidents?limit=100", &viewer).await;
    assert_eq!(list["incidents"], json!([]), "nothing saved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_bodies_past_512_kb_are_refused() {
    for db in databases().await {
        metrics_bodies_past_512_kb_are_refused_on(&db).await;
    }
}

async fn metrics_bodies_past_512_kb_are_refused_on(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &config(&receiver));
    let responder = token(&server.db, "responder");
    // About 95 bytes a sample (a metric name is at most 200 bytes).
    let samples = |count: usize| {
        let one = |i: usize| {
            json!({"service": "payments-api", "metric": format!("m{i:08}"),
                                     "value": 1.0, "timestamp": "2026-01-01T00:00:00Z"})
        };
        json!({"samples": (0..count).map(one).collect::<Vec<_>>()}).to_string()
    };
    let under = samples(4400);
    assert!(under.len() > 400 * 1024, "{}", under.len());
    let (status, answer) = post_raw(&server, "/api/v1/metrics", under, Some(&responder)).await;
    assert_eq!(status, 200, "{answer}");
    let over = samples(6700);
    assert!(over.len() > 600 * 1024, "{}", over.len());
    let (status, answer) = post_raw(&server, "/api/v1/metrics", over, Some(&responder)).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["error"]["code"], "too_large");
    // Samples are stored: a metric name is bounded and plain, and a batch
    // with one bad name stores nothing.
    for bad in ["m".repeat(201), String::new(), "queue\u{0}depth".into()] {
        let body = json!({"samples": [
            {"service": "payments-api", "metric": "fine", "value": 1.0, "timestamp": "2026-01-02T00:00:00Z"},
            {"service": "payments-api", "metric": bad, "value": 1.0, "timestamp": "2026-01-02T00:00:00Z"},
        ]});
        let (status, answer) = server.post("/api/v1/metrics", &responder, body).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["field"], "samples[1].metric");
    }
    let store = escalator_store::Store::open(db).await.unwrap();
    let fine = store
        .int_unchecked("SELECT COUNT(*) FROM metric_samples WHERE metric = 'fine'")
        .await
        .unwrap();
    assert_eq!(fine, 0);
}

/// Makes every audit append fail with `marker` as the database's own message.
async fn break_audit_appends(db: &str, marker: &str) {
    let store = escalator_store::Store::open(db).await.unwrap();
    let statements = if db.starts_with("sqlite") {
        vec![format!(
            "CREATE TRIGGER poison BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, '{marker}'); END"
        )]
    } else {
        vec![
            format!(
                "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{marker}'; END $$"
            ),
            "CREATE TRIGGER poison BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION poison()".into(),
        ]
    };
    for sql in statements {
        store.execute_unchecked(&sql).await.unwrap();
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_error_answers_a_generic_5xx_without_database_text() {
    const MARKER: &str = "secret-driver-text";
    for db in databases().await {
        let receiver = Receiver::start().await;
        let server = Server::start(&db, &config(&receiver));
        let responder = token(&db, "responder");
        server.trigger("before", "Disk full").await;
        let id = incident_by_key(&server, &responder, "before")
            .await
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        break_audit_appends(&db, MARKER).await;

        let leaks = |body: &Value| {
            let text = body.to_string().to_lowercase();
            text.contains(MARKER)
                || text.contains("database")
                || text.contains("sqlite")
                || text.contains("postgres")
                || text.contains("audit_log")
        };
        let (status, body) = server
            .enqueue(json!({
                "routing_key": KEY, "event_action": "trigger", "dedup_key": "after",
                "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical"}
            }))
            .await;
        assert_eq!(status, 503, "{db}: {body}");
        assert!(!leaks(&body), "{db}: {body}");
        assert_eq!(body["status"], "error", "{db}: {body}");

        let (status, body) = post_raw(
            &server,
            &format!("/api/v1/integrations/alertmanager?key={AM_KEY}"),
            json!({"version": "4", "alerts": [{"status": "firing", "fingerprint": "am-after", "labels": {}}]})
                .to_string(),
            None,
        )
        .await;
        assert_eq!(status, 503, "{db}: {body}");
        assert!(!leaks(&body), "{db}: {body}");
        assert_eq!(body["error"]["code"], "unavailable", "{db}: {body}");

        let (status, body) = server
            .post(
                &format!("/api/v1/incidents/{id}/acknowledge"),
                &responder,
                json!({}),
            )
            .await;
        assert_eq!(status, 503, "{db}: {body}");
        assert!(!leaks(&body), "{db}: {body}");
        assert_eq!(body["error"]["code"], "unavailable", "{db}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_the_apis_own_free_text_is_removed_on_both_databases() {
    for db in databases().await {
        let receiver = Receiver::start().await;
        let server = Server::start(&db, &two_level_config(&receiver, "1h"));
        let manager = token(&db, "manager");
        server.trigger("api-text", "Disk full").await;
        let id = incident_by_key(&server, &manager, "api-text")
            .await
            .unwrap()["id"]
            .as_i64()
            .unwrap();

        let (status, body) = server
            .post(
                &format!("/api/v1/incidents/{id}/escalate"),
                &manager,
                json!({"reason": "db-1\u{0} is on fire"}),
            )
            .await;
        assert_eq!(status, 200, "{db}: {body}");
        let (_, timeline) = server
            .get(&format!("/api/v1/incidents/{id}/timeline"), &manager)
            .await;
        let timeline = timeline.to_string();
        assert!(timeline.contains("db-1 is on fire"), "{db}: {timeline}");
        assert!(!timeline.contains("\\u0000"), "{db}: {timeline}");

        let until = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2);
        let (status, body) = server
            .put(
                "/api/v1/users/alice/availability",
                &manager,
                json!({"available": false, "until": until.to_string(), "reason": "sick\u{0}"}),
            )
            .await;
        assert_eq!(status, 200, "{db}: {body}");
        assert_eq!(body["set_through_api"]["reason"], "sick", "{db}: {body}");
    }
}
