//! Slack `chat.postMessage` against a stand-in that checks the request the
//! way Slack's Web API documents it and answers the way Slack does.

mod common;

use common::{Answer, Vendor, page};
use escalator_notify::{Channel, SendResult, SlackChannel, SlackConfig};
use serde_json::json;
use std::time::Duration;

fn slack(vendor: &Vendor) -> SlackChannel {
    SlackChannel::new(SlackConfig {
        api_url: format!("{}/api", vendor.url),
        bot_token: "xoxb-test-token".into(),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

fn ok_reply() -> Answer {
    Answer::json(
        200,
        json!({"ok": true, "channel": "C024BE91L", "ts": "1503435956.000247", "message": {"text": "x"}}),
    )
}

#[tokio::test]
async fn posts_a_block_kit_message_with_ack_resolve_escalate_and_command_buttons() {
    let vendor = Vendor::start(ok_reply()).await;
    let mut page = page("U024BE7LH");
    page.incident.title = "Checkout <latency> & errors".into();

    let result = slack(&vendor).send(&page).await;

    let req = vendor.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/api/chat.postMessage");
    assert_eq!(req.header("authorization"), "Bearer xoxb-test-token");
    assert!(req.header("content-type").starts_with("application/json"));
    let body = req.json();
    assert_eq!(body["channel"], "U024BE7LH");
    assert_eq!(body["text"], page.text, "fallback text for notifications");
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
    let section = blocks[0]["text"]["text"].as_str().unwrap();
    assert!(
        section.starts_with(
            "*<https://esc.example.com/incidents/4821|#4821 Checkout &lt;latency&gt; &amp; errors>*\n"
        ),
        "{section}"
    );
    assert!(section.contains(&page.text));
    assert_eq!(blocks[1]["type"], "actions");
    let buttons = blocks[1]["elements"].as_array().unwrap();
    let shape: Vec<(&str, &str, &str, &str)> = buttons
        .iter()
        .map(|b| {
            assert_eq!(b["type"], "button");
            assert_eq!(b["text"]["type"], "plain_text");
            (
                b["text"]["text"].as_str().unwrap(),
                b["action_id"].as_str().unwrap(),
                b["value"].as_str().unwrap(),
                b["style"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            ("Acknowledge", "ack", "4821", "primary"),
            ("Resolve", "resolve", "4821", ""),
            ("Escalate", "escalate", "4821", "danger"),
            ("Take command", "role:commander", "4821", ""),
        ]
    );
    match result {
        SendResult::Delivered { detail } => {
            assert!(detail.contains("1503435956.000247"), "{detail}")
        }
        other => panic!("expected delivery, got {other:?}"),
    }
}

#[tokio::test]
async fn an_ok_false_reply_about_the_channel_is_permanent() {
    for error in ["channel_not_found", "is_archived", "user_not_found"] {
        let vendor = Vendor::start(Answer::json(200, json!({"ok": false, "error": error}))).await;
        match slack(&vendor).send(&page("C0NOSUCH")).await {
            SendResult::Permanent { error: e } => assert!(e.contains(error), "{e}"),
            other => panic!("{error}: expected permanent, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_bad_token_is_permanent() {
    for error in ["invalid_auth", "not_authed", "account_inactive"] {
        let vendor = Vendor::start(Answer::json(200, json!({"ok": false, "error": error}))).await;
        let result = slack(&vendor).send(&page("U024BE7LH")).await;
        assert!(
            matches!(result, SendResult::Permanent { .. }),
            "{error}: {result:?}"
        );
    }
}

#[tokio::test]
async fn http_429_is_transient_and_reports_retry_after() {
    let vendor = Vendor::start(
        Answer::json(429, json!({"ok": false, "error": "ratelimited"}))
            .with_header("retry-after", "30"),
    )
    .await;
    match slack(&vendor).send(&page("U024BE7LH")).await {
        SendResult::Transient { error } => assert!(error.contains("retry after 30s"), "{error}"),
        other => panic!("expected transient, got {other:?}"),
    }
}

#[tokio::test]
async fn an_ok_false_ratelimited_reply_is_transient() {
    let vendor = Vendor::start(Answer::json(
        200,
        json!({"ok": false, "error": "ratelimited"}),
    ))
    .await;
    let result = slack(&vendor).send(&page("U024BE7LH")).await;
    assert!(matches!(result, SendResult::Transient { .. }), "{result:?}");
}

#[tokio::test]
async fn a_slack_outage_is_transient() {
    let vendor = Vendor::start(Answer::json(
        503,
        json!({"ok": false, "error": "service_unavailable"}),
    ))
    .await;
    let result = slack(&vendor).send(&page("U024BE7LH")).await;
    assert!(matches!(result, SendResult::Transient { .. }), "{result:?}");
}

#[tokio::test]
async fn errors_never_contain_the_bot_token() {
    let vendor = Vendor::start(Answer::json(
        200,
        json!({"ok": false, "error": "invalid_auth"}),
    ))
    .await;
    let result = slack(&vendor).send(&page("U024BE7LH")).await;
    assert!(!format!("{result:?}").contains("xoxb-test-token"));
}
