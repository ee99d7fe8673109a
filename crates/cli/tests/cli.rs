//! The command line: configuration as code, tokens, the audit chain, TLS.

mod common;

use common::*;
use std::time::Duration;

const BROKEN: &str = r#"users:
  - id: alice
    contact_methods:
      - {id: hook, type: webhook, url: "ftp://nowhere"}
escalation_policies:
  - id: payments
    levels:
      - targets: [{user: alice}]
        escalate_after: 15m
      - targets: [{user: bob}]
        escalate_after: 0s
services:
  - id: payments-api
    escalation_policy: payments
    integrations:
      - {type: events_v2, key: "0123456789abcdef0123456789abcdef"}
"#;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn validate_reports_every_error_with_position_and_path() {
    let file = temp_file("broken.yaml", BROKEN);
    let out = cli(&["validate", "-f", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    let f = file.display();
    assert!(
        err.contains(&format!("{f}:4:")),
        "url error with its line: {err}"
    );
    assert!(err.contains("users[0].contact_methods[0].url"), "{err}");
    assert!(
        err.contains(&format!("{f}:10:"))
            && err.contains("escalation_policies[0].levels[1].targets[0]"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{f}:11:"))
            && err.contains("escalation_policies[0].levels[1].escalate_after"),
        "{err}"
    );
    assert!(err.contains("3 error(s)"), "{err}");
}

#[tokio::test]
async fn apply_is_all_or_nothing_idempotent_and_export_round_trips() {
    for db in databases().await {
        apply_is_all_or_nothing_idempotent_and_export_round_trips_on(&db).await;
    }
}

async fn apply_is_all_or_nothing_idempotent_and_export_round_trips_on(db: &str) {
    let db = db.to_owned();
    let bad = temp_file("broken.yaml", BROKEN);
    let out = cli(&["apply", "-f", bad.to_str().unwrap(), "--database", &db]);
    assert!(!out.status.success());
    let out = cli(&["export", "--database", &db]);
    assert!(
        !out.status.success(),
        "a failed apply must leave no configuration"
    );

    let receiver = Receiver::start().await;
    let good = temp_file("good.yaml", &two_level_config(&receiver, "15m"));
    let out = cli(&["apply", "-f", good.to_str().unwrap(), "--database", &db]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("revision 1"));
    let out = cli(&["apply", "-f", good.to_str().unwrap(), "--database", &db]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("already in force"));

    let exported = cli(&["export", "--database", &db]);
    assert!(exported.status.success());
    let exported_file = temp_file(
        "exported.yaml",
        &String::from_utf8(exported.stdout).unwrap(),
    );
    let out = cli(&[
        "apply",
        "-f",
        exported_file.to_str().unwrap(),
        "--database",
        &db,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("already in force"),
        "export must apply back to the same state: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn audit_verify_names_the_first_altered_or_removed_entry() {
    for db in databases().await {
        audit_verify_names_the_first_altered_or_removed_entry_on(&db).await;
    }
}

async fn audit_verify_names_the_first_altered_or_removed_entry_on(db: &str) {
    let db = db.to_owned();
    let receiver = Receiver::start().await;
    let good = temp_file("good.yaml", &two_level_config(&receiver, "15m"));
    assert!(
        cli(&["apply", "-f", good.to_str().unwrap(), "--database", &db])
            .status
            .success()
    );
    token(&db, "admin");
    token(&db, "viewer");
    let out = cli(&["audit", "verify", "--database", &db]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 entries verified"));

    let store = escalator_store::Store::open(&db).await.unwrap();
    store
        .execute_unchecked("DELETE FROM audit_log WHERE seq = 3")
        .await
        .unwrap();
    let out = cli(&["audit", "verify", "--database", &db]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("entries after 2 were removed"),
        "{}",
        stderr(&out)
    );

    store
        .execute_unchecked("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
        .await
        .unwrap();
    let out = cli(&["audit", "verify", "--database", &db]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("entry 2 was altered"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn token_create_refuses_an_unknown_role() {
    for db in databases().await {
        token_create_refuses_an_unknown_role_on(&db).await;
    }
}

async fn token_create_refuses_an_unknown_role_on(db: &str) {
    let db = db.to_owned();
    let out = cli(&[
        "token",
        "create",
        "--name",
        "x",
        "--role",
        "root",
        "--database",
        &db,
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown role"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_cli_lists_acknowledges_and_escalates() {
    for db in databases().await {
        incidents_cli_lists_acknowledges_and_escalates_on(&db).await;
    }
}

async fn incidents_cli_lists_acknowledges_and_escalates_on(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &two_level_config(&receiver, "15m"));
    let manager = token(&server.db, "manager");
    server.trigger("cli-1", "From the CLI").await;
    let url = server.url("");
    let run = |args: &[&str]| {
        let mut all = vec!["incidents", "--url", &url, "--token", &manager];
        all.extend_from_slice(args);
        cli(&all)
    };
    let out = run(&["list", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = list["incidents"][0]["id"].as_i64().unwrap().to_string();
    let out = run(&["list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("From the CLI"));
    let out = run(&["escalate", &id, "--to-level", "3"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("field reason"), "{}", stderr(&out));
    let out = run(&["escalate", &id, "--to-level", "3", "--reason", "drill"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["ack", &id, "--output", "json"]);
    let inc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(inc["status"], "acknowledged");
    assert!(
        inc["acknowledged_by"].as_str().unwrap().ends_with("(cli)"),
        "the record says the acknowledgement came from the CLI: {inc}"
    );
    let out = run(&["show", &id]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("drill") && shown.contains("acknowledged"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_the_given_certificate() {
    for db in databases().await {
        serves_https_with_the_given_certificate_on(&db).await;
    }
}

async fn serves_https_with_the_given_certificate_on(db: &str) {
    let (ca, cert, key) = test_certificates();
    let receiver = Receiver::start().await;
    let server = Server::start_with(
        db,
        &two_level_config(&receiver, "15m"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/v2/enqueue", server.addr.port());
    let r = client
        .post(&url)
        .json(
            &serde_json::json!({"routing_key": KEY, "event_action": "trigger", "dedup_key": "tls",
            "payload": {"summary": "over TLS", "source": "x", "severity": "error"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let page = eventually(Duration::from_secs(10), "alice paged", || async {
        receiver.received().into_iter().find(|r| r.path == "/alice")
    })
    .await;
    assert!(
        page.body["ack_url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    // Plain HTTP on the TLS port is not served.
    assert!(reqwest::get(server.url("/healthz")).await.is_err());
}
