//! Communication end to end on the real binary, on SQLite and PostgreSQL:
//! templates per audience and level, a stakeholder kept informed (not paged)
//! as the incident climbs and resolves, incident roles, status updates by the
//! commander, who may take a role from whom, and template previews.

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::Duration;

fn config(receiver: &Receiver) -> String {
    format!(
        r#"users:
  - id: alice
    contact_methods:
      - {{id: hook, type: webhook, url: "{a}"}}
  - id: bob
    contact_methods:
      - {{id: hook, type: webhook, url: "{b}"}}
  - id: carol
    name: Carol Exec
    contact_methods:
      - {{id: hook, type: webhook, url: "{c}"}}
escalation_policies:
  - id: payments
    levels:
      - targets: [{{user: alice}}]
        escalate_after: 1s
      - targets: [{{user: bob}}]
        escalate_after: 1h
        stakeholders: [{{user: carol, template: exec-short}}]
services:
  - id: payments-api
    name: Payments API
    escalation_policy: payments
    integrations:
      - {{type: events_v2, key: "{KEY}"}}
templates:
  - id: exec-short
    audience: executive
    subject: "{{{{ service.name }}}}: {{{{ summary }}}}"
    text: "{{{{ status }}}} L{{{{ level }}}}{{% if update %}} | {{{{ update }}}}{{% endif %}}{{% if next_update_at %}} | next by {{{{ next_update_at }}}}{{% endif %}} [{{{{ custom_details.secret }}}}{{{{ details }}}}]"
  - id: l2-responder
    audience: responder
    level: 2
    subject: "L2 {{{{ title }}}} {{{{ custom_details.secret }}}}"
    text: "Take over #{{{{ id }}}}"
"#,
        a = receiver.url("/alice"),
        b = receiver.url("/bob"),
        c = receiver.url("/carol"),
    )
}

/// Messages carol got for `occasion`.
fn carol(receiver: &Receiver, occasion: &str) -> Vec<Value> {
    receiver
        .received()
        .into_iter()
        .filter(|r| r.path == "/carol" && r.body["occasion"] == occasion)
        .map(|r| r.body)
        .collect()
}

async fn stakeholders_roles_updates_and_previews(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &config(&receiver));
    let viewer = token(db, "viewer");
    let responder = token(db, "responder");
    let alice = token_for(db, "alice-laptop", "responder", Some("alice"));
    let bob = token_for(db, "bob-phone", "responder", Some("bob"));

    let (status, _) = server
        .enqueue(json!({
            "routing_key": KEY, "event_action": "trigger", "dedup_key": "checkout-5xx",
            "payload": {"summary": "Checkout errors", "source": "db-1", "severity": "critical",
                        "custom_details": {"secret": "s3cr3t-token"}}
        }))
        .await;
    assert_eq!(status, 202);

    // Level 1 pages alice with the built-in responder template.
    let page = eventually(Duration::from_secs(10), "alice paged", || async {
        receiver.received().into_iter().find(|r| r.path == "/alice")
    })
    .await;
    let id = page.body["incident"]["id"].as_i64().unwrap();
    assert_eq!(
        page.body["subject"],
        format!("#{id} Checkout errors (payments-api, triggered)")
    );

    // Level 2 (after 1s): bob is paged with the level-2 responder template,
    // which sees the details; carol is informed, not paged, and sees none.
    let reached = eventually(Duration::from_secs(15), "carol informed", || async {
        carol(&receiver, "level_reached").into_iter().next()
    })
    .await;
    assert_eq!(reached["type"], "incident.inform");
    assert_eq!(reached["audience"], "executive");
    assert_eq!(reached["template"], "exec-short");
    assert_eq!(reached["subject"], "Payments API: Checkout errors");
    assert_eq!(reached["text"], "triggered L2 []");
    assert_eq!(reached["incident"]["level"], 2);
    let raw = receiver
        .received()
        .into_iter()
        .filter(|r| r.path == "/carol")
        .map(|r| String::from_utf8_lossy(&r.raw).into_owned())
        .collect::<String>();
    for leak in ["s3cr3t", "db-1", "checkout-5xx", "/api/v1/ack"] {
        assert!(!raw.contains(leak), "{leak} reached a stakeholder: {raw}");
    }
    let bob_page = eventually(Duration::from_secs(10), "bob paged", || async {
        receiver.received().into_iter().find(|r| r.path == "/bob")
    })
    .await;
    assert_eq!(bob_page.body["subject"], "L2 Checkout errors s3cr3t-token");
    assert_eq!(bob_page.body["text"], format!("Take over #{id}"));
    assert!(
        receiver
            .received()
            .iter()
            .filter(|r| r.path == "/carol")
            .all(|r| r.body["incident"]["level"] == 2 && r.body["type"] == "incident.inform"),
        "carol heard of level 1"
    );

    // Roles: set over the API and the CLI, shown on the incident.
    let path = format!("/api/v1/incidents/{id}/roles");
    let (status, body) = server
        .put(&path, &responder, json!({"commander": "alice"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["roles"]["commander"], "alice");
    let (status, body) = server
        .put(&path, &responder, json!({"scribe": "zed"}))
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("scribe"))
    );
    let (status, _) = server.put(&path, &viewer, json!({"scribe": "bob"})).await;
    assert_eq!(status, 403);
    let out = cli(&[
        "incidents",
        "roles",
        &id.to_string(),
        "--comms-lead",
        "carol",
        "--scribe",
        "bob",
        "--url",
        &server.url(""),
        "--token",
        &responder,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, incident) = server
        .get(&format!("/api/v1/incidents/{id}"), &viewer)
        .await;
    let held = json!({"commander": "alice", "comms_lead": "carol", "scribe": "bob"});
    assert_eq!(incident["roles"], held);
    let (_, list) = server.get("/api/v1/incidents", &viewer).await;
    let listed = list["incidents"].as_array().unwrap();
    assert!(
        listed.iter().any(|i| i["id"] == id && i["roles"] == held),
        "roles in the list: {list}"
    );

    // Status updates: the commander may publish; bob (the scribe) and a
    // token bound to nobody (without the manager role) may not.
    let updates = format!("/api/v1/incidents/{id}/updates");
    let update = json!({"message": "Rolled back the deploy", "next_update_in": "30m"});
    let (status, body) = server.post(&updates, &bob, update.clone()).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = server.post(&updates, &responder, update.clone()).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = server.post(&updates, &alice, update).await;
    assert_eq!(status, 200, "{body}");
    let told = eventually(Duration::from_secs(10), "carol gets the update", || async {
        carol(&receiver, "update").into_iter().next()
    })
    .await;
    let text = told["text"].as_str().unwrap();
    assert!(
        text.starts_with("triggered L2 | Rolled back the deploy | next by ")
            && text.ends_with("[]"),
        "{text}"
    );

    // Previews: a configured template, a default, an audience name.
    let preview = |template: &str| {
        let path = format!("/api/v1/templates/{template}/preview?incident={id}");
        let (server, viewer) = (&server, &viewer);
        async move { server.get(&path, viewer).await }
    };
    let (status, p) = preview("exec-short").await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["audience"], "executive");
    assert_eq!(p["subject"], "Payments API: Checkout errors");
    assert!(
        p["text"]
            .as_str()
            .unwrap()
            .contains("Rolled back the deploy")
    );
    let (_, p) = preview("default-responder").await;
    assert_eq!(p["audience"], "responder");
    assert_eq!(
        p["text"],
        format!("Incident #{id} on payments-api is triggered: Checkout errors. Level 2, round 1.")
    );
    let (_, p) = preview("responder").await;
    assert_eq!(
        p["subject"], "L2 Checkout errors s3cr3t-token",
        "the level-2 override"
    );
    let (_, p) = preview("default-external").await;
    assert!(!p["text"].as_str().unwrap().contains("s3cr3t"));
    assert_eq!(preview("nope").await.0, 404);
    let out = cli(&[
        "templates",
        "preview",
        "--template",
        "default-stakeholder",
        "--incident",
        &id.to_string(),
        "--url",
        &server.url(""),
        "--token",
        &viewer,
        "--output",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(p["audience"], "stakeholder");

    // An acknowledgement does not cancel stakeholder messages; resolving
    // informs carol again.
    let (status, _) = server
        .post(
            &format!("/api/v1/incidents/{id}/acknowledge"),
            &responder,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = server
        .post(
            &format!("/api/v1/incidents/{id}/resolve"),
            &responder,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let resolved = eventually(
        Duration::from_secs(10),
        "carol told of the resolve",
        || async { carol(&receiver, "resolved").into_iter().next() },
    )
    .await;
    assert!(
        resolved["text"]
            .as_str()
            .unwrap()
            .starts_with("resolved L2")
    );
    assert_eq!(
        carol(&receiver, "level_reached").len(),
        1,
        "told once per occasion"
    );

    // Every message is on the timeline.
    let (_, timeline) = server
        .get(&format!("/api/v1/incidents/{id}/timeline"), &viewer)
        .await;
    let kinds: Vec<&str> = timeline["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in ["roles_changed", "status_update", "stakeholder_informed"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    eventually(
        Duration::from_secs(10),
        "three stakeholder messages logged",
        || async {
            let (_, t) = server
                .get(&format!("/api/v1/incidents/{id}/timeline"), &viewer)
                .await;
            let n = t["entries"]
                .as_array()?
                .iter()
                .filter(|e| e["kind"] == "stakeholder_informed")
                .count();
            (n == 3).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stakeholders_roles_updates_and_previews_on_sqlite_and_postgres() {
    for db in databases().await {
        stakeholders_roles_updates_and_previews(&db).await;
    }
}

async fn a_held_role_changes_hands_only_by_its_holder_or_a_manager(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &config(&receiver));
    let viewer = token(db, "viewer");
    let unbound = token(db, "responder");
    let manager = token(db, "manager");
    let alice = token_for(db, "alice-laptop", "responder", Some("alice"));
    let bob = token_for(db, "bob-phone", "responder", Some("bob"));
    server.trigger("roles-held", "Checkout errors").await;
    let (_, list) = server.get("/api/v1/incidents", &viewer).await;
    let id = list["incidents"][0]["id"].as_i64().unwrap();
    let roles = format!("/api/v1/incidents/{id}/roles");
    let updates = format!("/api/v1/incidents/{id}/updates");
    let update = json!({"message": "Rolled back the deploy"});
    let commander = || async {
        let (_, incident) = server
            .get(&format!("/api/v1/incidents/{id}"), &viewer)
            .await;
        incident["roles"]["commander"].clone()
    };

    // Alice takes the free command.
    let (status, body) = server
        .put(&roles, &alice, json!({"commander": "alice"}))
        .await;
    assert_eq!(status, 200, "{body}");

    // Bob cannot take it from her, nor clear it, so he cannot publish; nor
    // can a token bound to nobody without the manager role.
    for (token, change) in [
        (&bob, json!({"commander": "bob"})),
        (&bob, json!({"commander": null})),
        (&unbound, json!({"commander": "bob"})),
    ] {
        let (status, body) = server.put(&roles, token, change.clone()).await;
        assert_eq!(
            (status, &body["error"]["code"], &body["error"]["field"]),
            (403, &json!("forbidden"), &json!("commander")),
            "{change}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("commander is held by alice"), "{message}");
    }
    assert_eq!(commander().await, "alice");
    let (status, body) = server.post(&updates, &bob, update.clone()).await;
    assert_eq!(status, 403, "{body}");

    // Alice hands the command to bob, who may then publish.
    let (status, body) = server
        .put(&roles, &alice, json!({"commander": "bob"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.post(&updates, &bob, update.clone()).await;
    assert_eq!(status, 200, "{body}");

    // A manager may replace the holder; bob's right to publish goes with it.
    let (status, body) = server
        .put(&roles, &manager, json!({"commander": "alice"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(commander().await, "alice");
    let (status, body) = server.post(&updates, &bob, update).await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_role_changes_hands_only_by_its_holder_or_a_manager_on_sqlite_and_postgres() {
    for db in databases().await {
        a_held_role_changes_hands_only_by_its_holder_or_a_manager(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_syntax_error_fails_validation_with_its_position() {
    let receiver = Receiver::start().await;
    let broken = config(&receiver).replace("Take over #{{ id }}", "Take over #{{ id");
    let file = temp_file("broken.yaml", &broken);
    let out = cli(&["validate", "-f", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(err.contains("templates[1].text"), "{err}");
    assert!(err.contains("l2-responder"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_p1_is_announced_to_its_list_and_a_lesser_incident_is_not() {
    for db in databases().await {
        a_p1_is_announced_to_its_list_and_a_lesser_incident_is_not_on(&db).await;
    }
}

async fn a_p1_is_announced_to_its_list_and_a_lesser_incident_is_not_on(db: &str) {
    let receiver = Receiver::start().await;
    let config = format!(
        r#"users:
  - id: alice
    contact_methods:
      - {{id: hook, type: webhook, url: "{a}"}}
  - id: carol
    contact_methods:
      - {{id: hook, type: webhook, url: "{c}"}}
escalation_policies:
  - id: payments
    levels:
      - targets: [{{user: alice}}]
        escalate_after: 1h
services:
  - id: payments-api
    name: Payments API
    escalation_policy: payments
    integrations:
      - {{type: events_v2, key: "{KEY}"}}
rules:
  - id: critical-is-p1
    when: 'event.severity == "critical"'
    then: {{priority: P1}}
announcements:
  - {{priority: P1, notify: [{{user: carol}}], template: executive}}
"#,
        a = receiver.url("/alice"),
        c = receiver.url("/carol"),
    );
    let server = Server::start(db, &config);
    let (status, _) = server
        .enqueue(json!({
            "routing_key": KEY, "event_action": "trigger", "dedup_key": "minor",
            "payload": {"summary": "Slow page", "source": "web-1", "severity": "warning"}
        }))
        .await;
    assert_eq!(status, 202);
    server.trigger("major", "Payments down").await;
    let announced = eventually(Duration::from_secs(20), "the announcement", || async {
        let got: Vec<Value> = receiver
            .received()
            .into_iter()
            .filter(|r| r.path == "/carol")
            .map(|r| r.body)
            .collect();
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert_eq!(announced[0]["type"], "incident.inform", "{}", announced[0]);
    assert_eq!(announced[0]["occasion"], "announcement");
    assert_eq!(announced[0]["incident"]["title"], "Payments down");
    assert!(
        announced[0].get("ack_url").is_none(),
        "informed, not paged: {}",
        announced[0]
    );
    // Both incidents paged alice; only the P1 was announced.
    eventually(Duration::from_secs(20), "both pages", || async {
        let pages = receiver
            .received()
            .into_iter()
            .filter(|r| r.path == "/alice")
            .count();
        (pages >= 2).then_some(())
    })
    .await;
    let to_carol: Vec<Value> = receiver
        .received()
        .into_iter()
        .filter(|r| r.path == "/carol")
        .map(|r| r.body)
        .collect();
    assert_eq!(to_carol.len(), 1, "{to_carol:?}");
}
