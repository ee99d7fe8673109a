//! Monitoring tools send to us unchanged, in their own formats: a real
//! Prometheus Alertmanager (webhook and PagerDuty receivers), PagerDuty's
//! official Python client, and the Alertmanager webhook's edge cases.

mod common;

use common::*;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const AM_KEY: &str = "fedcba9876543210fedcba9876543210";

fn config(receiver: &Receiver) -> String {
    alice_config(
        receiver,
        &format!(
            r#"      - {{type: alertmanager, key: "{AM_KEY}"}}
"#
        ),
    )
}

struct Alertmanager {
    child: Child,
    url: String,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_alertmanager(server: &Server) -> Alertmanager {
    let am_config = format!(
        r#"route:
  receiver: escalator
  group_by: [alertname, instance]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - receiver: pagerduty
      matchers: ['via="pagerduty"']
      group_wait: 0s
      group_interval: 1s
receivers:
  - name: escalator
    webhook_configs:
      - url: "http://{addr}/api/v1/integrations/alertmanager"
        send_resolved: true
        http_config:
          authorization:
            credentials: "{AM_KEY}"
  - name: pagerduty
    pagerduty_configs:
      - routing_key: "{KEY}"
        url: "http://{addr}/v2/enqueue"
        send_resolved: true
"#,
        addr = server.addr
    );
    let file = temp_file("alertmanager.yml", &am_config);
    let storage = file.parent().unwrap().join("am-data");
    let addr = free_addr();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", file.display()))
        .arg(format!("--storage.path={}", storage.display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "prometheus-alertmanager must be installed (apt-get install prometheus-alertmanager)",
        );
    let am = Alertmanager {
        child,
        url: format!("http://{addr}"),
    };
    eventually(Duration::from_secs(20), "alertmanager ready", || async {
        reqwest::get(format!("{}/-/ready", am.url))
            .await
            .ok()
            .filter(|r| r.status().is_success())
    })
    .await;
    am
}

async fn post_alerts(am: &Alertmanager, alerts: Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v2/alerts", am.url))
        .json(&alerts)
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "alertmanager refused alerts: {}",
        r.status()
    );
}

async fn incidents(server: &Server, token: &str) -> Vec<Value> {
    let (_, list) = server.get("/api/v1/incidents?limit=100", token).await;
    list["incidents"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_alertmanager_pages_and_resolves_through_both_receivers() {
    for db in databases().await {
        a_real_alertmanager_pages_and_resolves_through_both_receivers_on(&db).await;
    }
}

async fn a_real_alertmanager_pages_and_resolves_through_both_receivers_on(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &config(&receiver));
    let viewer = token(&server.db, "viewer");
    let am = start_alertmanager(&server).await;

    let alert = |instance: &str, via: &str, ends: Option<String>| {
        let mut a = json!({
            "labels": {"alertname": "DiskFull", "instance": instance, "severity": "critical", "via": via},
            "annotations": {"summary": format!("Disk full on {instance}")},
        });
        if let Some(e) = ends {
            a["endsAt"] = json!(e);
        }
        a
    };
    post_alerts(
        &am,
        json!([
            alert("db-1", "webhook", None),
            alert("db-2", "webhook", None),
            alert("db-3", "pagerduty", None)
        ]),
    )
    .await;

    // Two distinct alerts through the webhook stay two incidents (dedup by fingerprint), one via PagerDuty.
    let open = eventually(Duration::from_secs(30), "three incidents", || async {
        let list = incidents(&server, &viewer).await;
        (list.len() >= 3).then_some(list)
    })
    .await;
    assert_eq!(open.len(), 3, "{open:?}");
    // Both paths say client "Alertmanager"; only the webhook path carries the alert's labels.
    let via_webhook: Vec<&Value> = open
        .iter()
        .filter(|i| i["details"]["labels"].is_object())
        .collect();
    let via_pagerduty: Vec<&Value> = open
        .iter()
        .filter(|i| !i["details"]["labels"].is_object())
        .collect();
    assert_eq!(via_pagerduty.len(), 1, "{open:?}");
    assert!(
        via_pagerduty[0]["title"]
            .as_str()
            .unwrap()
            .contains("DiskFull"),
        "{}",
        via_pagerduty[0]
    );
    assert_eq!(via_webhook.len(), 2);
    for i in &via_webhook {
        assert_eq!(i["details"]["severity"], "critical");
        assert!(i["title"].as_str().unwrap().starts_with("Disk full on db-"));
    }
    let keys: std::collections::BTreeSet<&str> = via_webhook
        .iter()
        .map(|i| i["dedup_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 2);

    // Resolve them all at Alertmanager: every incident resolves here.
    let past = (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1)).to_string();
    post_alerts(
        &am,
        json!([
            alert("db-1", "webhook", Some(past.clone())),
            alert("db-2", "webhook", Some(past.clone())),
            alert("db-3", "pagerduty", Some(past))
        ]),
    )
    .await;
    eventually(Duration::from_secs(30), "all resolved", || async {
        let list = incidents(&server, &viewer).await;
        list.iter().all(|i| i["status"] == "resolved").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_grouped_by_label_share_one_incident_until_the_last_resolves() {
    for db in databases().await {
        alerts_grouped_by_label_share_one_incident_until_the_last_resolves_on(&db).await;
    }
}

async fn alerts_grouped_by_label_share_one_incident_until_the_last_resolves_on(db: &str) {
    let receiver = Receiver::start().await;
    let grouped = config(&receiver).replace(
        "    escalation_policy: p\n",
        "    escalation_policy: p\n    grouping: {by: [alertname, cluster], window: 5m}\n",
    );
    let server = Server::start(db, &grouped);
    let viewer = token(&server.db, "viewer");
    // Alertmanager groups by instance, so each alert reaches us on its own.
    let am = start_alertmanager(&server).await;
    let alert = |instance: &str, cluster: &str, ends: Option<&str>| {
        let mut a = json!({
            "labels": {"alertname": "DiskFull", "instance": instance, "cluster": cluster, "via": "webhook"},
            "annotations": {"summary": format!("Disk full on {instance}")},
        });
        if let Some(e) = ends {
            a["endsAt"] = json!(e);
        }
        a
    };
    post_alerts(&am, json!([alert("db-1", "eu1", None)])).await;
    eventually(Duration::from_secs(30), "the first incident", || async {
        (incidents(&server, &viewer).await.len() == 1).then_some(())
    })
    .await;
    post_alerts(
        &am,
        json!([alert("db-2", "eu1", None), alert("db-3", "us1", None)]),
    )
    .await;
    let open = eventually(
        Duration::from_secs(30),
        "db-2 joined, db-3 apart",
        || async {
            let list = incidents(&server, &viewer).await;
            let eu1 = list.iter().find(|i| i["alert_count"] == 2).cloned();
            (list.len() == 2)
                .then_some(eu1)
                .flatten()
                .map(|eu1| (list, eu1))
        },
    )
    .await;
    let (list, eu1) = open;
    assert_eq!(eu1["group_key"], r#"["DiskFull","eu1"]"#, "{eu1}");
    let us1 = list.iter().find(|i| i["id"] != eu1["id"]).unwrap();
    assert_eq!(us1["alert_count"], 1);
    // One page for the eu1 group, one for us1: db-2 joining paged nobody.
    let paged = eventually(Duration::from_secs(30), "two pages", || async {
        let got = receiver.received();
        (got.len() >= 2).then_some(got)
    })
    .await;
    let mut ids: Vec<i64> = paged
        .iter()
        .map(|r| r.body["incident"]["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    let mut expected = vec![eu1["id"].as_i64().unwrap(), us1["id"].as_i64().unwrap()];
    expected.sort();
    assert_eq!(ids, expected, "paged once per group");

    let past = (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1)).to_string();
    post_alerts(&am, json!([alert("db-1", "eu1", Some(&past))])).await;
    let id = eu1["id"].as_i64().unwrap();
    eventually(
        Duration::from_secs(30),
        "db-1 resolved on the timeline",
        || async {
            let (_, timeline) = server
                .get(&format!("/api/v1/incidents/{id}/timeline"), &viewer)
                .await;
            timeline
                .to_string()
                .contains("alert_resolved")
                .then_some(())
        },
    )
    .await;
    let (_, incident) = server
        .get(&format!("/api/v1/incidents/{id}"), &viewer)
        .await;
    assert_eq!(incident["status"], "triggered", "db-2 still fires");
    post_alerts(&am, json!([alert("db-2", "eu1", Some(&past))])).await;
    eventually(
        Duration::from_secs(30),
        "the group's incident resolved",
        || async {
            let (_, incident) = server
                .get(&format!("/api/v1/incidents/{id}"), &viewer)
                .await;
            (incident["status"] == "resolved").then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alertmanager_webhook_refuses_bad_input_and_changes_nothing() {
    for db in databases().await {
        the_alertmanager_webhook_refuses_bad_input_and_changes_nothing_on(&db).await;
    }
}

async fn the_alertmanager_webhook_refuses_bad_input_and_changes_nothing_on(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &config(&receiver));
    let viewer = token(&server.db, "viewer");
    let url = server.url("/api/v1/integrations/alertmanager");
    let payload = |alerts: Value| json!({"version": "4", "status": "firing", "receiver": "r", "groupKey": "g", "alerts": alerts, "futureField": 1});
    let good = json!({"status": "firing", "labels": {"alertname": "A"}, "annotations": {}, "fingerprint": "abc123"});

    let r = server
        .http
        .post(&url)
        .json(&payload(json!([good])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no key");
    let r = server
        .http
        .post(&url)
        .bearer_auth(KEY)
        .json(&payload(json!([good])))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "an events_v2 key is not an alertmanager key"
    );
    let r = server
        .http
        .post(format!("{url}?key={AM_KEY}"))
        .json(&payload(json!([good, {"status": "firing", "labels": {}}])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("alerts[1].fingerprint is missing"),
        "{body}"
    );
    assert!(
        incidents(&server, &viewer).await.is_empty(),
        "one bad alert: nothing saved"
    );
    let r = server
        .http
        .post(&url)
        .bearer_auth(AM_KEY)
        .json(&json!({"version": "3", "alerts": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = server
        .http
        .post(&url)
        .bearer_auth(AM_KEY)
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let huge = payload(
        json!([{"status": "firing", "labels": {"x": "y".repeat(600 * 1024)}, "fingerprint": "f"}]),
    );
    let r = server
        .http
        .post(&url)
        .bearer_auth(AM_KEY)
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    let r = server
        .http
        .post(&url)
        .bearer_auth(AM_KEY)
        .json(&payload(json!([good])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(incidents(&server, &viewer).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_on_one_key_is_throttled_and_the_others_go_on() {
    for db in databases().await {
        a_storm_on_one_key_is_throttled_and_the_others_go_on_on(&db).await;
    }
}

async fn a_storm_on_one_key_is_throttled_and_the_others_go_on_on(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start_with(db, &config(&receiver), &["--events-rate-limit", "5"]);
    let event = |key: &str, n: usize| {
        json!({"routing_key": key, "event_action": "trigger", "dedup_key": format!("storm-{n}"),
            "payload": {"summary": "s", "source": "x", "severity": "info"}})
    };
    let mut throttled = None;
    for n in 0..40 {
        let r = server
            .http
            .post(server.url("/v2/enqueue"))
            .json(&event(KEY, n))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            throttled = Some(r);
            break;
        }
        assert_eq!(r.status(), 202);
    }
    let r = throttled.expect("a storm of 40 events at once is throttled at 5/s");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "throttle event");
    let am = json!({"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "A"}, "fingerprint": "other-key"}]});
    let r = server
        .http
        .post(server.url("/api/v1/integrations/alertmanager"))
        .bearer_auth(AM_KEY)
        .json(&am)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "another key is not affected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_pagerduty_python_client_works_unchanged() {
    for db in databases().await {
        the_official_pagerduty_python_client_works_unchanged_on(&db).await;
    }
}

async fn the_official_pagerduty_python_client_works_unchanged_on(db: &str) {
    let (ca, cert, key) = test_certificates();
    let receiver = Receiver::start().await;
    let server = Server::start_with(
        db,
        &config(&receiver),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pagerduty_client.py");
    let base = format!("https://localhost:{}", server.addr.port());
    let out = Command::new("python3")
        .arg(script)
        .arg(&base)
        .arg(KEY)
        .env("SSL_CERT_FILE", &ca)
        .env("REQUESTS_CA_BUNDLE", &ca)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(keys["first"], "pd-client-1");
    assert_eq!(keys["generated"].as_str().unwrap().len(), 32);
    // Read back over plain HTTP is impossible on the TLS port; check through the database instead.
    let store = escalator_store::Store::open(&server.db).await.unwrap();
    let page = store
        .incidents(&escalator_store::IncidentFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let first = page
        .items
        .iter()
        .find(|r| r.incident.dedup_key.as_str() == "pd-client-1")
        .unwrap();
    assert_eq!(first.incident.status.as_str(), "resolved");
    assert_eq!(first.details["custom_details"]["free"], "0%");
    assert_eq!(page.items.len(), 2);
}
