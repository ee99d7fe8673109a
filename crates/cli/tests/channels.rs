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

/// The form fields of each message a stand-in provider received.
type Forms = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// A stand-in for Twilio's Messages resource that accepts every message and
/// records its form fields.
async fn twilio_accepting() -> (String, Forms) {
    let got: Forms = Arc::default();
    let seen = got.clone();
    let app = Router::new().route(
        "/2010-04-01/Accounts/AC123/Messages.json",
        post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let form: Vec<(String, String)> = form_urlencoded::parse(&body)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                let n = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(form);
                    seen.len()
                };
                (
                    axum::http::StatusCode::CREATED,
                    Json(json!({"sid": format!("SM{n:032}"), "status": "queued"})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_sends_one_sms_per_interval_bundling_the_incidents_that_waited() {
    let (twilio_url, messages) = twilio_accepting().await;
    let config = format!(
        r#"channels:
  twilio: {{api_url: "{twilio_url}", account_sid: AC123, auth_token: "${{env:TEST_TWILIO_TOKEN}}", from: "+15005550006", min_interval: 2s}}
users:
  - id: alice
    contact_methods:
      - {{id: phone, type: sms, number: "+4915112345678"}}
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
"#
    );
    let server = Server::start_with_env(
        &escalator_store::testing::sqlite_url(),
        &config,
        &[],
        &[("TEST_TWILIO_TOKEN", "twilio-token")],
    );
    let viewer = token(&server.db, "viewer");
    server.trigger("first", "Disk full on db-1").await;
    eventually(Duration::from_secs(10), "the first SMS", || async {
        (!messages.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    // Two more within the interval wait for the number's next turn, then go as one.
    server.trigger("second", "Disk full on db-2").await;
    server.trigger("third", "Disk full on db-3").await;
    let all = eventually(Duration::from_secs(10), "the bundled SMS", || async {
        let got = messages.lock().unwrap().clone();
        (got.len() >= 2).then_some(got)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(messages.lock().unwrap().len(), 2, "one message per turn");
    let body = |m: &Vec<(String, String)>| {
        m.iter()
            .find(|(k, _)| k == "Body")
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let second = body(&all[1]);
    assert!(second.contains("2 incidents need you"), "{second}");
    assert!(
        second.contains("db-2") && second.contains("db-3"),
        "{second}"
    );
    assert!(all[1].contains(&("To".into(), "+4915112345678".into())));

    let (_, list) = server.get("/api/v1/incidents", &viewer).await;
    let held = list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["title"] == "Disk full on db-2")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (_, timeline) = server
        .get(&format!("/api/v1/incidents/{held}/timeline"), &viewer)
        .await;
    let text = timeline.to_string();
    assert!(text.contains("notification_deferred"), "{timeline}");
    assert!(text.contains("one message for incidents"), "{timeline}");
}
