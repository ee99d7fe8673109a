//! Microsoft Teams incoming webhook / Workflows against a stand-in that
//! checks the Adaptive Card message and answers as Teams does.

mod common;

use common::{Answer, Vendor, page};
use escalator_notify::{Channel, SendResult, TeamsChannel};
use serde_json::json;
use std::time::Duration;

fn teams() -> TeamsChannel {
    TeamsChannel::new(Duration::from_secs(5)).unwrap()
}

fn accepted() -> Answer {
    Answer {
        status: axum::http::StatusCode::ACCEPTED,
        headers: vec![],
        body: String::new(),
    }
}

#[tokio::test]
async fn posts_an_adaptive_card_with_acknowledge_and_open_buttons() {
    let vendor = Vendor::start(accepted()).await;
    let address = format!(
        "{}/workflows/abc/triggers/manual/paths/invoke?sig=secret",
        vendor.url
    );
    let page = page(&address);

    let result = teams().send(&page).await;

    let req = vendor.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.path,
        "/workflows/abc/triggers/manual/paths/invoke?sig=secret"
    );
    assert!(req.header("content-type").starts_with("application/json"));
    let body = req.json();
    assert_eq!(body["type"], "message");
    let attachments = body["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(
        attachments[0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachments[0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    let body_blocks = card["body"].as_array().unwrap();
    assert_eq!(body_blocks[0]["type"], "TextBlock");
    assert_eq!(body_blocks[0]["text"], "#4821 Checkout latency high");
    assert_eq!(body_blocks[1]["text"], page.text);
    assert!(
        body_blocks.iter().any(|b| b["type"] == "FactSet"
            && b["facts"]
                .as_array()
                .unwrap()
                .contains(&json!({"title": "Service", "value": "checkout"}))),
        "{body_blocks:?}"
    );
    assert_eq!(
        card["actions"],
        json!([
            {"type": "Action.OpenUrl", "title": "Acknowledge", "url": page.ack_url},
            {"type": "Action.OpenUrl", "title": "Open incident", "url": "https://esc.example.com/incidents/4821"},
        ])
    );
    assert!(matches!(result, SendResult::Delivered { .. }), "{result:?}");
}

#[tokio::test]
async fn throttling_and_server_errors_are_transient() {
    for status in [408, 429, 500, 502] {
        let vendor = Vendor::start(Answer::json(status, json!({"error": "x"}))).await;
        let result = teams().send(&page(&format!("{}/hook", vendor.url))).await;
        assert!(
            matches!(result, SendResult::Transient { .. }),
            "{status}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_removed_or_forbidden_webhook_is_permanent() {
    for status in [400, 403, 404] {
        let vendor = Vendor::start(Answer::json(status, json!({"error": "x"}))).await;
        let result = teams().send(&page(&format!("{}/hook", vendor.url))).await;
        assert!(
            matches!(result, SendResult::Permanent { .. }),
            "{status}: {result:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_webhook_is_transient_and_the_url_is_not_in_the_error() {
    let result = teams()
        .send(&page("http://127.0.0.1:9/hook?sig=secret"))
        .await;
    match result {
        SendResult::Transient { error } => assert!(!error.contains("secret"), "{error}"),
        other => panic!("expected transient, got {other:?}"),
    }
}
