//! End to end on the real binary, on SQLite and PostgreSQL: following the
//! signed link in a page (`GET`, `HEAD`, as mail scanners and chat unfurlers
//! do) shows a confirmation page and changes nothing; only the page's `POST`
//! acknowledges, once.

mod common;

use common::*;
use escalator_server::links::LinkSigner;
use reqwest::header::{ACCEPT, HeaderMap};
use serde_json::Value;
use std::time::Duration;

const NASTY: &str = r#"<script>alert(1)</script> & "q""#;
const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

async fn status(server: &Server, viewer: &str, id: i64) -> Value {
    server
        .get(&format!("/api/v1/incidents/{id}"), viewer)
        .await
        .1
}

async fn acknowledgements(server: &Server, viewer: &str, id: i64) -> (usize, usize) {
    let (_, tl) = server
        .get(&format!("/api/v1/incidents/{id}/timeline"), viewer)
        .await;
    let timeline = tl["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "acknowledged")
        .count();
    let store = escalator_store::Store::open(&server.db).await.unwrap();
    let audit = store
        .audit_entries(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.incident_id == Some(id) && e.action == "acknowledged")
        .count();
    store.close().await;
    (timeline, audit)
}

fn assert_page_headers(h: &HeaderMap) {
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let csp = h["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "CSP lacks {directive}: {csp}");
    }
}

async fn following_the_link_confirms_and_only_post_acknowledges(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &two_level_config(&receiver, "2s"));
    let viewer = token(db, "viewer");
    let http = &server.http;

    server.trigger("scanned", NASTY).await;
    let page = eventually(Duration::from_secs(10), "alice paged", || async {
        receiver.received().into_iter().find(|r| r.path == "/alice")
    })
    .await;
    let id = page.body["incident"]["id"].as_i64().unwrap();
    let ack_url = page.body["ack_url"].as_str().unwrap().to_owned();

    // What a scanner or an unfurler does: HEAD, then GET as a bare client.
    // Neither acknowledges.
    let head = http.head(&ack_url).send().await.unwrap();
    let inc = status(&server, &viewer, id).await;
    assert_eq!(inc["status"], "triggered", "HEAD acknowledged: {inc}");
    let get = http.get(&ack_url).send().await.unwrap();
    let inc = status(&server, &viewer, id).await;
    assert_eq!(inc["status"], "triggered", "GET acknowledged: {inc}");
    for r in [head, get] {
        assert_eq!(r.status(), 200);
        assert_page_headers(r.headers());
    }

    // What alice sees in her browser: the incident and one button.
    let r = http
        .get(&ack_url)
        .header(ACCEPT, BROWSER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_page_headers(r.headers());
    let body = r.text().await.unwrap();
    assert!(!body.contains("<script"), "unescaped title: {body}");
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;"),
        "{body}"
    );
    assert!(
        body.contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#)
    );
    assert!(body.contains(r#"<form method="post">"#), "{body}");
    for fact in [
        format!("#{id} "),
        "Payments API (payments-api)".into(),
        "<dt>Level</dt><dd>1 of 3, round 1</dd>".into(),
        "<dt>Status</dt><dd>triggered</dd>".into(),
        "Acknowledge as alice".into(),
    ] {
        assert!(body.contains(&fact), "page lacks {fact}: {body}");
    }

    // Nobody acknowledged: the incident climbs to bob.
    eventually(Duration::from_secs(15), "bob paged at level 2", || async {
        receiver.received().into_iter().find(|r| r.path == "/bob")
    })
    .await;
    let inc = status(&server, &viewer, id).await;
    assert_eq!(
        (inc["status"].as_str(), inc["level"].as_u64()),
        (Some("triggered"), Some(2))
    );
    assert_eq!(acknowledgements(&server, &viewer, id).await, (0, 0));

    // alice presses the button: her browser POSTs the form to the link.
    let r = http
        .post(&ack_url)
        .header(ACCEPT, BROWSER)
        .form(&[("", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_page_headers(r.headers());
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Acknowledged by user:alice (ack link)"),
        "{body}"
    );
    assert!(
        !body.contains("<form") && !body.contains("<script"),
        "{body}"
    );
    let inc = status(&server, &viewer, id).await;
    assert_eq!(inc["status"], "acknowledged");
    assert_eq!(inc["acknowledged_by"], "user:alice (ack link)");
    assert_eq!(inc["next_escalation_at"], Value::Null);
    assert_eq!(acknowledgements(&server, &viewer, id).await, (1, 1));

    // A second press (or a refresh) says so and records nothing more.
    let r = http
        .post(&ack_url)
        .header(ACCEPT, BROWSER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Already acknowledged by user:alice (ack link)"),
        "{body}"
    );
    assert!(!body.contains("<form"), "{body}");
    // A script gets plain text.
    let r = http.post(&ack_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("was already acknowledged (by user:alice (ack link))")
    );
    assert_eq!(acknowledgements(&server, &viewer, id).await, (1, 1));

    // The page now says it is acknowledged and offers no button.
    let body = http
        .get(&ack_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("Already acknowledged by user:alice (ack link)"),
        "{body}"
    );
    assert!(!body.contains("<form"), "{body}");

    // Resolved: the page says so; a POST is refused as before.
    let responder = token(db, "responder");
    let (code, _) = server
        .post(
            &format!("/api/v1/incidents/{id}/resolve"),
            &responder,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(code, 200);
    let body = http
        .get(&ack_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("Resolved by token:responder-bot"), "{body}");
    assert!(!body.contains("<form"), "{body}");
    assert_eq!(http.post(&ack_url).send().await.unwrap().status(), 409);

    // Refusals: JSON for a script, a page for a browser.
    let forged = format!("{}/api/v1/ack/bm90LWEtbGluaw.c2ln", server.url(""));
    let r = http.get(&forged).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_link"
    );
    let r = http
        .get(&forged)
        .header(ACCEPT, BROWSER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_page_headers(r.headers());
    assert_eq!(http.post(&forged).send().await.unwrap().status(), 403);

    let store = escalator_store::Store::open(db).await.unwrap();
    let key = store
        .setting_or_init("link_key", String::new)
        .await
        .unwrap();
    store.close().await;
    let signer = LinkSigner::new(key.into_bytes());
    let past = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let expired = format!(
        "{}/api/v1/ack/{}",
        server.url(""),
        signer.sign(id, "alice", past)
    );
    assert_eq!(http.get(&expired).send().await.unwrap().status(), 410);
    assert_eq!(http.post(&expired).send().await.unwrap().status(), 410);
    let future = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    let missing = format!(
        "{}/api/v1/ack/{}",
        server.url(""),
        signer.sign(999_999, "alice", future)
    );
    assert_eq!(http.get(&missing).send().await.unwrap().status(), 404);

    // The OpenAPI document says the same.
    let doc: Value = http
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ack = &doc["paths"]["/api/v1/ack/{token}"];
    assert!(ack["get"]["responses"]["200"]["content"]["text/html"].is_object());
    assert!(ack["post"]["responses"]["200"]["content"]["text/html"].is_object());
    assert!(ack["post"]["responses"]["200"]["content"]["text/plain"].is_object());

    let out = cli(&["audit", "verify", "--database", db]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_the_link_confirms_and_only_post_acknowledges_on_sqlite_and_postgres() {
    for db in databases().await {
        following_the_link_confirms_and_only_post_acknowledges(&db).await;
    }
}
