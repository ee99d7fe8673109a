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

/// One user, alice, paged at level 1 of the one policy of service `api`:
/// `channels` and alice's contact methods and rules as YAML lines.
fn config(channels: &str, contact_methods: &[&str], rules: &[&str]) -> String {
    let methods: String = contact_methods
        .iter()
        .map(|m| format!("      - {m}\n"))
        .collect();
    let rules: String = rules.iter().map(|r| format!("      - {r}\n")).collect();
    let rules = if rules.is_empty() {
        String::new()
    } else {
        format!("    notification_rules:\n{rules}")
    };
    format!(
        "channels:\n  {channels}\nusers:\n  - id: alice\n    contact_methods:\n{methods}{rules}\
escalation_policies:\n  - id: p\n    levels:\n      - targets: [{{user: alice}}]\n        escalate_after: 1h\n\
services:\n  - id: api\n    escalation_policy: p\n    integrations:\n      - {{type: events_v2, key: \"{KEY}\"}}\n"
    )
}

/// The `channels.twilio` line for the stand-in at `url`.
fn twilio(url: &str, min_interval: &str) -> String {
    format!(
        "twilio: {{api_url: \"{url}\", account_sid: AC123, auth_token: \"${{env:TEST_TWILIO_TOKEN}}\", from: \"+15005550006\", min_interval: {min_interval}}}"
    )
}

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
    for db in databases().await {
        a_page_slack_refuses_falls_back_to_the_next_contact_method_at_once_on(&db).await;
    }
}

async fn a_page_slack_refuses_falls_back_to_the_next_contact_method_at_once_on(db: &str) {
    let (slack_url, slack_got) = slack_refusing().await;
    let receiver = Receiver::start().await;
    let hook = format!(
        "{{id: hook, type: webhook, url: \"{}\"}}",
        receiver.url("/alice")
    );
    let config = config(
        &format!("slack: {{api_url: \"{slack_url}\", bot_token: \"${{env:TEST_SLACK_TOKEN}}\"}}"),
        &["{id: dm, type: slack, user: U024BE7LH}", &hook],
        &[
            "{contact_method: dm, after: 0s}",
            "{contact_method: hook, after: 10m}",
        ],
    );
    let server =
        Server::start_with_env(db, &config, &[], &[("TEST_SLACK_TOKEN", "xoxb-test-token")]);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_sends_one_sms_per_interval_bundling_the_incidents_that_waited() {
    for db in databases().await {
        a_storm_sends_one_sms_per_interval_bundling_the_incidents_that_waited_on(&db).await;
    }
}

async fn a_storm_sends_one_sms_per_interval_bundling_the_incidents_that_waited_on(db: &str) {
    let (twilio_url, messages) = twilio_accepting().await;
    let config = config(
        &twilio(&twilio_url, "2s"),
        &["{id: phone, type: sms, number: \"+4915112345678\"}"],
        &[],
    );
    let server = Server::start_with_env(db, &config, &[], &[("TEST_TWILIO_TOKEN", "twilio-token")]);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_delivery_reports_mark_pages_delivered_or_fall_back() {
    for db in databases().await {
        twilio_delivery_reports_mark_pages_delivered_or_fall_back_on(&db).await;
    }
}

async fn twilio_delivery_reports_mark_pages_delivered_or_fall_back_on(db: &str) {
    let (twilio_url, messages) = twilio_accepting().await;
    let receiver = Receiver::start().await;
    let hook = format!(
        "{{id: hook, type: webhook, url: \"{}\"}}",
        receiver.url("/alice")
    );
    let config = config(
        &twilio(&twilio_url, "1s"),
        &["{id: phone, type: sms, number: \"+4915112345678\"}", &hook],
        &[
            "{contact_method: phone, after: 0s}",
            "{contact_method: hook, after: 30m}",
        ],
    );
    let server = Server::start_with_env(db, &config, &[], &[("TEST_TWILIO_TOKEN", "twilio-token")]);
    let viewer = token(&server.db, "viewer");
    let report = |callback: String, status: &'static str| {
        let http = server.http.clone();
        async move {
            let params = [
                ("MessageStatus", status),
                ("MessageSid", "SM1"),
                ("ErrorCode", "30003"),
            ];
            let body: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish();
            http.post(&callback)
                .header("content-type", "application/x-www-form-urlencoded")
                .header(
                    "x-twilio-signature",
                    twilio_signature("twilio-token", &callback, &params),
                )
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let callback_of = |n: usize| {
        let m = messages.lock().unwrap()[n].clone();
        m.into_iter()
            .find(|(k, _)| k == "StatusCallback")
            .map(|(_, v)| v)
            .expect("a StatusCallback on every SMS")
    };

    server.trigger("first", "Disk full on db-1").await;
    eventually(Duration::from_secs(10), "the first SMS", || async {
        (!messages.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    let delivered = callback_of(0);
    assert!(
        delivered.contains("/api/v1/integrations/twilio/status?key="),
        "{delivered}"
    );
    // A forged report changes nothing.
    let forged = server
        .http
        .post(&delivered)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", "bm90IGEgc2lnbmF0dXJl")
        .body("MessageStatus=undelivered")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(report(delivered.clone(), "delivered").await, 204);

    let (_, list) = server.get("/api/v1/incidents", &viewer).await;
    let first = list["incidents"][0]["id"].as_i64().unwrap();
    let (_, notes) = server
        .get(&format!("/api/v1/incidents/{first}/notifications"), &viewer)
        .await;
    let statuses: Vec<&str> = notes["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"delivered"), "{notes}");

    // The second SMS does not get through: the webhook, planned for later, goes now.
    server.trigger("second", "Disk full on db-2").await;
    eventually(Duration::from_secs(10), "the second SMS", || async {
        (messages.lock().unwrap().len() >= 2).then_some(())
    })
    .await;
    assert_eq!(report(callback_of(1), "undelivered").await, 204);
    let page = eventually(Duration::from_secs(10), "the fallback webhook", || async {
        receiver.received().into_iter().next()
    })
    .await;
    assert_eq!(page.body["incident"]["title"], "Disk full on db-2");
    assert_eq!(
        receiver.received().len(),
        1,
        "only the undelivered page fell back"
    );
}

/// A webhook URL carrying a token is written `${env:NAME}`: the page reaches
/// the URL read from the server's environment, while the configuration, its
/// export and the outbox keep only the reference. An unset variable fails
/// the page for good and the next contact method is tried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_url_may_come_from_the_environment() {
    for db in databases().await {
        let receiver = Receiver::start().await;
        let secret_url = receiver.url("/hook?token=s3cret");
        let config = format!(
            r#"users:
  - id: alice
    contact_methods:
      - {{id: unset, type: webhook, url: "${{env:ESCALATOR_TEST_UNSET_HOOK}}"}}
      - {{id: hook, type: webhook, url: "${{env:ALICE_HOOK}}"}}
    notification_rules:
      - {{contact_method: unset, after: 0m}}
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
"#
        );
        let server =
            Server::start_with_env(&db, &config, &[], &[("ALICE_HOOK", secret_url.as_str())]);
        server
            .trigger("env-hook", "Paged through a URL from the environment")
            .await;
        let got = eventually(
            Duration::from_secs(10),
            "alice paged at the URL from the environment",
            || async { receiver.received().into_iter().next() },
        )
        .await;
        assert_eq!(got.path, "/hook");
        let token = token(&db, "admin");
        let timeline = server.get("/api/v1/incidents/1/timeline", &token).await.1;
        let text = timeline.to_string();
        assert!(
            text.contains("environment variable ESCALATOR_TEST_UNSET_HOOK is not set"),
            "{text}"
        );
        assert!(
            !text.contains("s3cret"),
            "the token never reaches the timeline: {text}"
        );
        let exported = cli(&["export", "--database", &db]);
        let exported = String::from_utf8(exported.stdout).unwrap();
        assert!(exported.contains("${env:ALICE_HOOK}"), "{exported}");
        assert!(!exported.contains("s3cret"), "{exported}");
    }
}
