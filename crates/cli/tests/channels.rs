//! Pages over the configured channels, through the real server: a page that
//! cannot be delivered falls back to the user's next contact method at once,
//! and the timeline says why.

mod common;

use axum::Json;
use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use common::*;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A stand-in for Slack's Web API that refuses every message the way Slack
/// does for an unknown channel: HTTP 200 with `ok: false`.
async fn slack_refusing() -> (String, Arc<Mutex<Vec<(HeaderMap, Value)>>>) {
    let got: Arc<Mutex<Vec<(HeaderMap, Value)>>> = Arc::default();
    let seen = got.clone();
    let app = Router::new().route(
        "/api/chat.postMessage",
        post(move |headers: HeaderMap, Json(body): Json<Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push((headers, body));
                Json(json!({"ok": false, "error": "channel_not_found"}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/api"), got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_slack_refuses_falls_back_to_the_next_contact_method_at_once() {
    let (slack_url, slack_got) = slack_refusing().await;
    let receiver = Receiver::start().await;
    let config = format!(
        r#"channels:
  slack: {{api_url: "{slack_url}", bot_token: "${{env:TEST_SLACK_TOKEN}}"}}
users:
  - id: alice
    contact_methods:
      - {{id: dm, type: slack, user: U024BE7LH}}
      - {{id: hook, type: webhook, url: "{hook}"}}
    notification_rules:
      - {{contact_method: dm, after: 0s}}
      - {{contact_method: hook, after: 10m}}
escalation_policies:
  - id: p
    levels:
      - targets: [{{user: alice}}]
        escalate_after: 1h
services:
  - id: api
    escalation_policy: p
    integrations:
      - {{type: events_v2, key: "{KEY}"}}
"#,
        hook = receiver.url("/alice")
    );
    let server = Server::start_with_env(
        &escalator_store::testing::sqlite_url(),
        &config,
        &[],
        &[("TEST_SLACK_TOKEN", "xoxb-test-token")],
    );
    let viewer = token(&server.db, "viewer");
    server.trigger("disk-full", "Disk full on db-1").await;
    let (_, list) = server.get("/api/v1/incidents", &viewer).await;
    let id = list["incidents"][0]["id"].as_i64().expect("one incident");

    // Slack got the page with the bot token and refused it; the webhook,
    // planned for 10 minutes later, went out now instead.
    let page = eventually(Duration::from_secs(20), "the fallback page", || async {
        receiver.received().into_iter().next()
    })
    .await;
    assert_eq!(page.body["incident"]["id"], id);
    let slack = slack_got.lock().unwrap().clone();
    assert_eq!(slack.len(), 1, "Slack asked once: a refusal is permanent");
    assert_eq!(
        slack[0].0["authorization"].to_str().unwrap(),
        "Bearer xoxb-test-token"
    );
    assert_eq!(slack[0].1["channel"], "U024BE7LH");

    let (_, timeline) = server
        .get(&format!("/api/v1/incidents/{id}/timeline"), &viewer)
        .await;
    let text = timeline.to_string();
    assert!(text.contains("notification_fallback"), "{timeline}");
    assert!(text.contains("channel_not_found"), "{timeline}");
    // Brought forward, not doubled: one webhook page in all.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1);
}
