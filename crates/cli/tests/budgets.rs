//! Budgets end to end: a rule too costly for every event is refused by
//! `validate` and by the API; a rule within budget that an event makes run
//! too long is stopped, and the event still pages and says so; the dry run
//! answers 503 for it; templates that render too much are refused when
//! configured, and a preview of one the incident makes too large answers an
//! error; CEL syntax errors read as sentences.

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::Duration;

fn config(receiver: &Receiver, rules: &str, templates: &str) -> String {
    alice_config(receiver, &format!("{rules}{templates}"))
}

fn list(n: usize) -> String {
    let items: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    format!("[{}]", items.join(", "))
}

/// Four nested `all` over 50-element lists: 7 s per event before budgets.
fn four_nested_alls() -> String {
    let l = list(50);
    format!(
        "rules:\n  - id: slow\n    when: '{l}.all(a, {l}.all(b, {l}.all(c, {l}.all(d, a + b + c + d > 0))))'\n    then: {{priority: P1}}\n"
    )
}

/// Within the cost budget (a list from the event is assumed to hold 100
/// elements), quadratic in the length of the event's list; and a plain rule.
const QUADRATIC: &str = r#"rules:
  - id: quadratic
    when: 'event.custom_details.xs.exists(a, a + 1.0 in event.custom_details.xs)'
    then: {priority: P1, start_level: 1}
  - id: critical
    when: 'event.severity == "critical"'
    then: {priority: P2}
"#;

/// An event for which QUADRATIC's first rule would compare 10^10 pairs.
fn long_list_event(key: &str) -> Value {
    json!({"routing_key": KEY, "event_action": "trigger", "dedup_key": key,
        "payload": {"summary": "queue backed up", "source": "q", "severity": "critical",
                    "custom_details": {"xs": vec![0; 100_000]}}})
}

#[tokio::test]
async fn a_rule_too_costly_for_every_event_is_refused_by_validate_and_the_api() {
    for db in databases().await {
        a_rule_too_costly_for_every_event_is_refused_by_validate_and_the_api_on(&db).await;
    }
}

async fn a_rule_too_costly_for_every_event_is_refused_by_validate_and_the_api_on(db: &str) {
    let receiver = Receiver::start().await;
    let yaml = config(&receiver, &four_nested_alls(), "");
    let file = temp_file("costly.yaml", &yaml);
    let out = cli(&["validate", "-f", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rules[0].when: rule \"slow\": too costly to evaluate on every event: its estimated cost is 88 647 954, over the budget of 100 000"),
        "{err}"
    );
    assert!(
        err.contains("(at line 1, column 196 of the expression)"),
        "{err}"
    );

    let server = Server::start(db, &config(&receiver, "", ""));
    let admin = token(&server.db, "admin");
    let r = server
        .http
        .put(server.url("/api/v1/config"))
        .bearer_auth(&admin)
        .header("content-type", "application/yaml")
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["field"], "rules[0].when");
    let message = body["error"]["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("estimated cost is 88 647 954, over the budget of 100 000"),
        "{body}"
    );
}

async fn a_rule_that_runs_out_of_time_pages_anyway_and_says_so(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start_with(
        db,
        &config(&receiver, QUADRATIC, ""),
        &["--rules-timeout", "1s"],
    );
    let viewer = token(&server.db, "viewer");

    // Before budgets, this held a request worker for hours.
    let slow = {
        let http = server.http.clone();
        let url = server.url("/v2/enqueue");
        tokio::spawn(async move {
            let r = http
                .post(url)
                .json(&long_list_event("long"))
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        })
    };
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let status = tokio::time::timeout(Duration::from_secs(60), slow)
        .await
        .expect("the event is answered once the rules' time is up")
        .unwrap();
    assert_eq!(status, 202);

    let (_, list) = server.get("/api/v1/incidents?limit=10", &viewer).await;
    let incident = list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["dedup_key"] == "long")
        .cloned()
        .expect("the event opened an incident");
    assert_eq!(
        incident["priority"], "P2",
        "the rule that finished applies; the stopped one counts as not matched"
    );
    assert_eq!(
        incident["details"]["rules"]["errors"],
        json!([["quadratic", "stopped: it ran out of time"]])
    );
    eventually(Duration::from_secs(10), "alice paged", || async {
        receiver
            .received()
            .iter()
            .any(|r| r.path == "/alice" && r.body["incident"]["dedup_key"] == "long")
            .then_some(())
    })
    .await;
    // The audit trail holds the details (with the stopped rule) by their
    // hash, stored once on the incident: verify checks one against the other.
    let store = escalator_store::Store::open(&server.db).await.unwrap();
    let audit = store.audit_entries(0, 1000).await.unwrap();
    assert!(
        audit.iter().any(|e| e.detail.contains("details_sha256")),
        "the triggered record refers to the details"
    );
    let verify = cli(&["audit", "verify", "--database", &server.db]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // The dry run says the rules ran out of time, and which.
    let (status, body) = server
        .post(
            "/api/v1/rules/evaluate",
            &viewer,
            json!({"service": "payments-api", "event": long_list_event("dry")["payload"]}),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "rules_timeout");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "the rules did not finish within 1 s: quadratic (stopped: it ran out of time)"
        ),
        "{message}"
    );
    assert_eq!(
        reqwest::get(server.url("/healthz")).await.unwrap().status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_that_runs_out_of_time_pages_anyway_and_says_so_on_every_database() {
    for db in databases().await {
        a_rule_that_runs_out_of_time_pages_anyway_and_says_so(&db).await;
    }
}

const REPEATED: &str = r#"templates:
  - id: big
    audience: responder
    subject: "{{ 'x' * 100000000 }}"
    text: "hi"
"#;

const GROWS_WITH_THE_INCIDENT: &str = r#"templates:
  - id: grows
    audience: responder
    subject: "{{ title }}"
    text: "{{ 'x' * (custom_details.n or 1) }}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_that_render_too_much_are_refused_and_a_preview_answers_an_error() {
    let receiver = Receiver::start().await;
    let file = temp_file("big.yaml", &config(&receiver, "", REPEATED));
    let out = cli(&["validate", "-f", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("templates[0].subject: template \"big\": subject: renders more than 64 KB; a subject or a text may render at most that (rendered with sample values)"),
        "{err}"
    );

    for db in databases().await {
        let server = Server::start(&db, &config(&receiver, "", GROWS_WITH_THE_INCIDENT));
        let viewer = token(&server.db, "viewer");
        server
            .enqueue(
                json!({"routing_key": KEY, "event_action": "trigger", "dedup_key": "huge",
                "payload": {"summary": "huge", "source": "x", "severity": "error",
                            "custom_details": {"n": 100_000_000}}}),
            )
            .await;
        let (_, list) = server.get("/api/v1/incidents?limit=10", &viewer).await;
        let id = list["incidents"][0]["id"].as_i64().unwrap();
        let (status, body) = server
            .get(
                &format!("/api/v1/templates/grows/preview?incident={id}"),
                &viewer,
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["code"], "template_error");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("text: renders more than 64 KB"),
            "{body}"
        );
        // The page still went out, in the built-in words.
        let page = eventually(Duration::from_secs(10), "alice paged", || async {
            receiver
                .received()
                .into_iter()
                .find(|r| r.path == "/alice" && r.body["incident"]["id"] == id)
        })
        .await;
        assert!(
            page.body["text"].as_str().unwrap().len() < 1024,
            "{}",
            page.body["text"]
        );
    }
}

#[tokio::test]
async fn cel_syntax_errors_read_as_sentences() {
    let receiver = Receiver::start().await;
    let deep = format!("{}1{} == 1", "(".repeat(120), ")".repeat(120));
    for (when, expected) in [
        (
            "event.severity ==".to_owned(),
            "the expression ends too early: expected a value (a field, number, string, list or parenthesised expression) (at line 1, column 18 of the expression)",
        ),
        (
            "event.severity = \"critical\"".to_owned(),
            "`=` is not an operator: compare with `==` (at line 1, column 16 of the expression)",
        ),
        (
            deep,
            "the expression nests too deeply (more than 96 levels)",
        ),
    ] {
        let rules =
            format!("rules:\n  - id: broken\n    when: '{when}'\n    then: {{priority: P1}}\n");
        let file = temp_file("syntax.yaml", &config(&receiver, &rules, ""));
        let out = cli(&["validate", "-f", file.to_str().unwrap()]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("rules[0].when: rule \"broken\": {expected}")),
            "{err}"
        );
        assert!(
            !err.contains("Error(") && !err.contains("IDENTIFIER"),
            "{err}"
        );
    }
}
