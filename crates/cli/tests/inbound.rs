//! End to end on the real binary: acknowledgements that come back through
//! Slack buttons, SMS replies and voice key presses, and incident roles given
//! from Slack (button and slash command), each signed the way the provider
//! signs (computed here independently), and forged ones refused.

mod common;

use common::*;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const SLACK_SECRET: &str = "slack-signing-secret-for-tests";
const TWILIO_TOKEN: &str = "twilio-auth-token-for-tests";
const ALICE_SLACK: &str = "U024BE7LH";
const ALICE_PHONE: &str = "+4915112345678";
const BOB_SLACK: &str = "U0B0B0B0B";

fn config(receiver: &Receiver) -> String {
    format!(
        r#"channels:
  slack: {{bot_token: "${{env:IT_SLACK_BOT_TOKEN}}", signing_secret: "${{env:IT_SLACK_SIGNING_SECRET}}"}}
  twilio: {{api_url: "http://127.0.0.1:9", account_sid: AC123, auth_token: "${{env:IT_TWILIO_TOKEN}}", from: "+15005550006"}}
users:
  - id: alice
    contact_methods:
      - {{id: hook, type: webhook, url: "{hook}"}}
      - {{id: dm, type: slack, user: {ALICE_SLACK}}}
      - {{id: phone, type: sms, number: "{ALICE_PHONE}"}}
      - {{id: call, type: voice, number: "{ALICE_PHONE}"}}
    notification_rules:
      - {{contact_method: hook, after: 0s}}
  - id: bob
    contact_methods:
      - {{id: dm, type: slack, user: {BOB_SLACK}}}
escalation_policies:
  - id: payments
    levels:
      - targets: [{{user: alice}}]
        escalate_after: 10m
services:
  - id: payments-api
    escalation_policy: payments
    integrations:
      - {{type: events_v2, key: "{KEY}"}}
"#,
        hook = receiver.url("/alice"),
    )
}

/// Percent-encodes everything but unreserved characters, as a form encoder may.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn form(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn slack_signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Posts `body` to a Slack endpoint, signed with `secret` at `timestamp`.
async fn slack_post(
    server: &Server,
    secret: &str,
    timestamp: i64,
    endpoint: &str,
    body: String,
) -> (u16, Value) {
    let r = server
        .http
        .post(server.url(&format!("/api/v1/integrations/slack/{endpoint}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header(
            "x-slack-signature",
            slack_signature(secret, timestamp, &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Alice presses the button `action` on the page of `incident`.
async fn slack_action(
    server: &Server,
    secret: &str,
    timestamp: i64,
    action: &str,
    incident: i64,
) -> (u16, Value) {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": ALICE_SLACK, "username": "alice"},
        "actions": [{"action_id": action, "value": incident.to_string(), "type": "button"}],
    });
    let body = form(&[("payload", &payload.to_string())]);
    slack_post(server, secret, timestamp, "actions", body).await
}

/// Slack member `user_id` types `/escalator {text}`, as Slack posts it.
async fn slack_command(server: &Server, secret: &str, user_id: &str, text: &str) -> (u16, Value) {
    let body = form(&[
        ("token", "gIkuvaNzQIHg97ATvDxqgjtO"),
        ("team_id", "T0001"),
        ("team_domain", "example"),
        ("channel_id", "C2147483705"),
        ("channel_name", "incidents"),
        ("user_id", user_id),
        ("user_name", "someone"),
        ("command", "/escalator"),
        ("text", text),
        ("api_app_id", "A123456"),
        ("response_url", "https://hooks.slack.com/commands/1234/5678"),
        ("trigger_id", "13345224609.738474920.8088930838d88f008e0"),
    ]);
    slack_post(server, secret, now(), "commands", body).await
}

/// Posts a form to a Twilio callback path, signed with `token`; returns status, content type, body.
async fn twilio_post(
    server: &Server,
    token: &str,
    path_and_query: &str,
    params: &[(&str, &str)],
) -> (u16, String, String) {
    let url = server.url(path_and_query);
    let r = server
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", twilio_signature(token, &url, params))
        .body(form(params))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, r.text().await.unwrap())
}

async fn open_incident(server: &Server, viewer: &str, dedup_key: &str) -> i64 {
    server
        .trigger(dedup_key, &format!("Trouble {dedup_key}"))
        .await;
    let (_, list) = server.get("/api/v1/incidents", viewer).await;
    list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["dedup_key"] == dedup_key)
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn incident(server: &Server, viewer: &str, id: i64) -> Value {
    server
        .get(&format!("/api/v1/incidents/{id}"), viewer)
        .await
        .1
}

async fn timeline_actors(server: &Server, viewer: &str, id: i64) -> Vec<String> {
    let (_, t) = server
        .get(&format!("/api/v1/incidents/{id}/timeline"), viewer)
        .await;
    t["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap().to_owned())
        .collect()
}

/// The server with Slack and Twilio configured (secrets in its environment),
/// alice's webhook receiver, and a viewer token.
async fn start(db: &str) -> (Receiver, Server, String) {
    let receiver = Receiver::start().await;
    let server = Server::start_with_env(
        db,
        &config(&receiver),
        &[],
        &[
            ("IT_SLACK_BOT_TOKEN", "xoxb-test"),
            ("IT_SLACK_SIGNING_SECRET", SLACK_SECRET),
            ("IT_TWILIO_TOKEN", TWILIO_TOKEN),
        ],
    );
    let viewer = token(db, "viewer");
    (receiver, server, viewer)
}

async fn acknowledges_through_slack_sms_and_voice(db: &str) {
    let (_receiver, server, viewer) = start(db).await;

    // Slack: a signed button press acknowledges, as alice, through slack.
    let first = open_incident(&server, &viewer, "inbound-slack").await;
    let (status, reply) = slack_action(&server, SLACK_SECRET, now(), "ack", first).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["replace_original"], false);
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .ends_with("acknowledged by alice."),
        "{reply}"
    );
    let inc = incident(&server, &viewer, first).await;
    assert_eq!(inc["status"], "acknowledged");
    assert_eq!(inc["acknowledged_by"], "user:alice (slack)");
    assert!(
        timeline_actors(&server, &viewer, first)
            .await
            .contains(&"user:alice (slack)".to_owned())
    );

    // Forgeries change nothing: a wrong secret, a replayed (stale) timestamp.
    let second = open_incident(&server, &viewer, "inbound-sms").await;
    let (status, body) = slack_action(&server, "not-the-secret", now(), "resolve", second).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "invalid_signature");
    let (status, _) = slack_action(&server, SLACK_SECRET, now() - 600, "resolve", second).await;
    assert_eq!(status, 401);
    let sms_path = "/api/v1/integrations/twilio/sms";
    let resolve = format!("resolve {second}");
    let sms = [("From", ALICE_PHONE), ("Body", resolve.as_str())];
    let (status, _, body) = twilio_post(&server, "not-the-token", sms_path, &sms).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        incident(&server, &viewer, second).await["status"],
        "triggered"
    );

    // SMS: a signed `resolve N` resolves, and the answer is TwiML.
    let (status, content_type, body) = twilio_post(&server, TWILIO_TOKEN, sms_path, &sms).await;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("text/xml"), "{content_type}");
    assert!(body.contains("<Response><Message>"), "{body}");
    assert!(body.contains("resolved by alice."), "{body}");
    let inc = incident(&server, &viewer, second).await;
    assert_eq!(inc["status"], "resolved");
    assert_eq!(inc["resolved_by"], "user:alice (sms)");

    // An unknown number and a command that is not one are answered, not acted on.
    let stranger = [("From", "+4915199999999"), ("Body", "ack 1")];
    let (_, _, body) = twilio_post(&server, TWILIO_TOKEN, sms_path, &stranger).await;
    assert!(body.contains("not known"), "{body}");
    let nonsense = [("From", ALICE_PHONE), ("Body", "please help")];
    let (_, _, body) = twilio_post(&server, TWILIO_TOKEN, sms_path, &nonsense).await;
    assert!(body.contains("Not understood"), "{body}");

    // Voice: Digits=1 on the Gather callback acknowledges; the query is signed too.
    let third = open_incident(&server, &viewer, "inbound-voice").await;
    let voice = format!("/api/v1/integrations/twilio/voice?incident={third}&user=alice");
    let digits = [("CallSid", "CA0123"), ("Digits", "1")];
    let (status, content_type, body) = twilio_post(&server, TWILIO_TOKEN, &voice, &digits).await;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("text/xml"));
    assert!(body.contains("<Response><Say>"), "{body}");
    assert!(body.contains("acknowledged by alice."), "{body}");
    let inc = incident(&server, &viewer, third).await;
    assert_eq!(inc["acknowledged_by"], "user:alice (voice)");

    // A signature made for another incident's URL does not carry over.
    let fourth = open_incident(&server, &viewer, "inbound-forged-voice").await;
    let url_for_third = server.url(&voice);
    let r = server
        .http
        .post(server.url(&format!(
            "/api/v1/integrations/twilio/voice?incident={fourth}&user=alice"
        )))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "x-twilio-signature",
            twilio_signature(TWILIO_TOKEN, &url_for_third, &digits),
        )
        .body(form(&digits))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(
        incident(&server, &viewer, fourth).await["status"],
        "triggered"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledges_through_slack_sms_and_voice_on_sqlite() {
    acknowledges_through_slack_sms_and_voice(&escalator_store::testing::sqlite_url()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledges_through_slack_sms_and_voice_on_postgres() {
    acknowledges_through_slack_sms_and_voice(&escalator_store::testing::postgres_url().await).await;
}

async fn gives_incident_roles_from_slack(db: &str) {
    let (_receiver, server, viewer) = start(db).await;
    let id = open_incident(&server, &viewer, "slack-roles").await;
    let roles = || async { incident(&server, &viewer, id).await["roles"].clone() };

    // The page's "Take command" button makes the presser commander.
    let (status, reply) = slack_action(&server, SLACK_SECRET, now(), "role:commander", id).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["text"],
        format!(
            "alice is now commander of incident #{id} \"Trouble slack-roles\". Roles: commander alice."
        )
    );
    assert_eq!(roles().await["commander"], "alice");

    // The slash command: a mention as Slack escapes it, a user id, nobody.
    let cmd = |user: &'static str, text: String| {
        let server = &server;
        async move { slack_command(server, SLACK_SECRET, user, &text).await }
    };
    let (status, reply) = cmd(ALICE_SLACK, format!("scribe {id} <@{BOB_SLACK}|bob>")).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["response_type"], "in_channel", "{reply}");
    assert_eq!(roles().await["scribe"], "bob");
    let (_, reply) = cmd(BOB_SLACK, format!("comms #{id} me")).await;
    assert_eq!(reply["response_type"], "in_channel", "{reply}");
    let (_, reply) = cmd(ALICE_SLACK, format!("scribe {id} none")).await;
    assert_eq!(
        reply["text"],
        format!(
            "Incident #{id} \"Trouble slack-roles\" has no scribe now. Roles: commander alice, comms_lead bob."
        )
    );
    let expected = json!({"commander": "alice", "comms_lead": "bob", "scribe": null});
    assert_eq!(roles().await, expected);

    // Refusals are told only to the person who typed, and change nothing.
    let refusals = [
        (
            ALICE_SLACK,
            format!("commander {id} carol"),
            "\"carol\" is not an Escalator user",
        ),
        (
            ALICE_SLACK,
            format!("commander {id} <@U0NOBODY>"),
            "<@U0NOBODY> is not known to Escalator",
        ),
        (
            ALICE_SLACK,
            "commander 99999 me".to_owned(),
            "Incident #99999 does not exist.",
        ),
        (
            ALICE_SLACK,
            format!("captain {id}"),
            "Unknown command `captain`",
        ),
        (
            "U0STRANGER",
            format!("commander {id}"),
            "(Slack user U0STRANGER) are not known to Escalator",
        ),
        // Bob cannot take the command from alice (and so gain the right to
        // publish updates), nor clear it.
        (
            BOB_SLACK,
            format!("commander {id} me"),
            "commander is held by alice; only alice, or a manager, may give it to someone else or clear it.",
        ),
        (
            BOB_SLACK,
            format!("ic {id} none"),
            "commander is held by alice",
        ),
    ];
    for (user, text, why) in refusals {
        let (status, reply) = cmd(user, text.clone()).await;
        assert_eq!(status, 200, "{text}: {reply}");
        assert_eq!(reply["response_type"], "ephemeral", "{text}: {reply}");
        let said = reply["text"].as_str().unwrap();
        assert!(said.contains(why), "{text}: {said}");
    }
    let (status, body) = slack_command(
        &server,
        "not-the-secret",
        ALICE_SLACK,
        &format!("commander {id} bob"),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(roles().await, expected, "nothing changed");

    // Roles are shown on request; the command acknowledges too.
    let (_, reply) = cmd(BOB_SLACK, format!("roles {id}")).await;
    assert_eq!(reply["response_type"], "ephemeral");
    assert_eq!(
        reply["text"],
        format!("Incident #{id} \"Trouble slack-roles\": commander alice, comms_lead bob.")
    );
    let (_, reply) = cmd(BOB_SLACK, format!("ack {id}")).await;
    assert_eq!(reply["response_type"], "in_channel", "{reply}");
    let inc = incident(&server, &viewer, id).await;
    assert_eq!(inc["acknowledged_by"], "user:bob (slack)");
    let (_, reply) = cmd(BOB_SLACK, String::new()).await;
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .starts_with("Usage: `/escalator")
    );

    // Every change is on the timeline, by whom and through which channel.
    let (_, t) = server
        .get(&format!("/api/v1/incidents/{id}/timeline"), &viewer)
        .await;
    let changes: Vec<(String, String)> = t["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "roles_changed")
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let by = |who: &str, roles: &str| {
        (
            format!("user:{who} (slack)"),
            format!("Roles set by user:{who} (slack): {roles}"),
        )
    };
    assert_eq!(
        changes,
        [
            by("alice", "commander alice"),
            by("alice", "commander alice, scribe bob"),
            by("bob", "commander alice, comms_lead bob, scribe bob"),
            by("alice", "commander alice, comms_lead bob"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gives_incident_roles_from_slack_on_sqlite() {
    gives_incident_roles_from_slack(&escalator_store::testing::sqlite_url()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gives_incident_roles_from_slack_on_postgres() {
    gives_incident_roles_from_slack(&escalator_store::testing::postgres_url().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unconfigured_channel_is_not_found() {
    for db in databases().await {
        an_unconfigured_channel_is_not_found_on(&db).await;
    }
}

async fn an_unconfigured_channel_is_not_found_on(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &two_level_config(&receiver, "10m"));
    let r = server
        .http
        .post(server.url("/api/v1/integrations/slack/actions"))
        .body("payload=%7B%7D")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["message"], "channels.slack is not configured");
    let r = server
        .http
        .post(server.url("/api/v1/integrations/twilio/sms"))
        .body("From=%2B1&Body=ack+1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // The callbacks are in the OpenAPI document, generated from the handlers.
    let doc: Value = server
        .http
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/integrations/slack/actions",
        "/api/v1/integrations/slack/commands",
        "/api/v1/integrations/twilio/sms",
        "/api/v1/integrations/twilio/voice",
    ] {
        assert!(doc["paths"][path]["post"].is_object(), "{path} missing");
    }
}
