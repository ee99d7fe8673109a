//! The channel set: adapters by name behind the one `Channel` trait, with a
//! circuit breaker per destination, exercised with real adapters against
//! stand-ins.

mod common;

use common::{Answer, Vendor, page};
use escalator_notify::{
    BreakerState, ChannelSet, Dispatch, SendResult, TeamsChannel, WebhookSender, sign,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn set() -> ChannelSet {
    ChannelSet::new(Arc::default())
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

    assert!(
        matches!(result, Dispatch::Done(SendResult::Delivered { .. })),
        "{result:?}"
    );
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
    assert!(
        matches!(result, Dispatch::Done(SendResult::Permanent { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn five_transient_failures_hold_that_destination_until_the_cool_down_ends() {
    let vendor = Vendor::start(Answer::json(503, json!({}))).await;
    let set = set();
    let page = page(&format!("{}/hook", vendor.url));
    let t0 = Timestamp::UNIX_EPOCH;

    for i in 0..5 {
        let now = t0 + SignedDuration::from_secs(i);
        let result = set.send("teams", &page, now).await;
        assert!(
            matches!(result, Dispatch::Done(SendResult::Transient { .. })),
            "{result:?}"
        );
    }
    assert_eq!(vendor.request_count(), 5);
    let breaker = set.breaker("teams", &page.address).unwrap();
    assert_eq!(
        breaker.state(t0 + SignedDuration::from_secs(5)),
        BreakerState::Open
    );

    // Held, not failed: the answer says when the next probe goes out.
    let held = set
        .send("teams", &page, t0 + SignedDuration::from_secs(10))
        .await;
    let Dispatch::Held(held) = held else {
        panic!("{held:?}")
    };
    assert_eq!(held.until, t0 + SignedDuration::from_secs(34));
    assert_eq!(held.breaker, breaker.key());
    assert!(
        !held.breaker.contains("/hook"),
        "no path in a key: {held:?}"
    );
    assert_eq!(vendor.request_count(), 5, "an open breaker sends nothing");

    // 30 s after the fifth failure, one trial goes out.
    set.send("teams", &page, t0 + SignedDuration::from_secs(34))
        .await;
    assert_eq!(vendor.request_count(), 6);
}

#[tokio::test]
async fn one_dead_receiver_does_not_hold_another_users_pages() {
    let dead = Vendor::start(Answer::json(503, json!({}))).await;
    let healthy = Vendor::start(Answer::json(200, json!({}))).await;
    let set = set();
    let t0 = Timestamp::UNIX_EPOCH;
    let dead_page = page(&format!("{}/alice", dead.url));
    for _ in 0..10 {
        set.send("webhook", &dead_page, t0).await;
    }
    assert!(matches!(
        set.send("webhook", &dead_page, t0).await,
        Dispatch::Held(_)
    ));

    let result = set
        .send("webhook", &page(&format!("{}/bob", healthy.url)), t0)
        .await;

    assert!(
        matches!(result, Dispatch::Done(SendResult::Delivered { .. })),
        "{result:?}"
    );
    assert_eq!(healthy.request_count(), 1);
    let states: Vec<(String, BreakerState)> = set
        .breakers()
        .statuses(t0)
        .into_iter()
        .map(|s| (s.key, s.state))
        .collect();
    let mut expected = vec![
        (format!("webhook {}", dead.url), BreakerState::Open),
        (format!("webhook {}", healthy.url), BreakerState::Closed),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(states, expected);
}
