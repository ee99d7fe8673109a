//! The channel set: adapters by name behind the one `Channel` trait, each with
//! its own circuit breaker, exercised with real adapters against a stand-in.

mod common;

use common::{Answer, Vendor, page};
use escalator_notify::{BreakerState, ChannelSet, SendResult, TeamsChannel, WebhookSender, sign};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn set() -> ChannelSet {
    ChannelSet::new()
        .with(Arc::new(
            WebhookSender::new(b"webhook-secret".to_vec(), Duration::from_secs(5)).unwrap(),
        ))
        .with(Arc::new(TeamsChannel::new(Duration::from_secs(5)).unwrap()))
}

#[tokio::test]
async fn the_webhook_channel_posts_the_pages_signed_webhook_body() {
    let vendor = Vendor::start(Answer::json(200, json!({}))).await;
    let body = br#"{"type":"incident.notify"}"#.to_vec();
    let page = page(&format!("{}/hook", vendor.url)).with_webhook_body(body.clone());

    let result = set().send("webhook", &page, Timestamp::UNIX_EPOCH).await;

    assert!(matches!(result, SendResult::Delivered { .. }), "{result:?}");
    let req = vendor.only_request();
    assert_eq!(req.path, "/hook");
    assert_eq!(req.body.as_ref(), body.as_slice());
    assert_eq!(
        req.header("x-escalator-signature"),
        sign(b"webhook-secret", &body)
    );
    assert_eq!(req.header("idempotency-key"), "notif-77-attempt-key");
}

#[tokio::test]
async fn adapters_are_found_by_their_channel_name() {
    let set = set();
    assert_eq!(set.get("webhook").map(|c| c.name()), Some("webhook"));
    assert_eq!(set.get("teams").map(|c| c.name()), Some("teams"));
    assert!(set.get("pigeon").is_none());
}

#[tokio::test]
async fn an_unknown_channel_is_permanent() {
    let result = set()
        .send("pigeon", &page("x"), Timestamp::UNIX_EPOCH)
        .await;
    assert!(matches!(result, SendResult::Permanent { .. }), "{result:?}");
}

#[tokio::test]
async fn five_transient_failures_open_the_channel_until_the_cool_down_ends() {
    let vendor = Vendor::start(Answer::json(503, json!({}))).await;
    let set = set();
    let page = page(&format!("{}/hook", vendor.url));
    let t0 = Timestamp::UNIX_EPOCH;

    for i in 0..5 {
        let now = t0 + SignedDuration::from_secs(i);
        let result = set.send("teams", &page, now).await;
        assert!(matches!(result, SendResult::Transient { .. }), "{result:?}");
    }
    assert_eq!(vendor.request_count(), 5);
    assert_eq!(
        set.breaker("teams")
            .unwrap()
            .state(t0 + SignedDuration::from_secs(5)),
        BreakerState::Open
    );

    let refused = set
        .send("teams", &page, t0 + SignedDuration::from_secs(10))
        .await;
    assert!(
        matches!(refused, SendResult::Transient { .. }),
        "{refused:?}"
    );
    assert_eq!(vendor.request_count(), 5, "an open channel sends nothing");

    // Other channels are unaffected.
    assert_eq!(
        set.breaker("webhook").unwrap().state(t0),
        BreakerState::Closed
    );

    // 30 s after the fifth failure, one trial goes out.
    set.send("teams", &page, t0 + SignedDuration::from_secs(34))
        .await;
    assert_eq!(vendor.request_count(), 6);
}
