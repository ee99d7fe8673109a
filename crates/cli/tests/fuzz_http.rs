//! Fuzzing over HTTP, against the real binary: mutated and arbitrary bodies
//! for every ingestion endpoint (Events API v2, Alertmanager, the generic
//! webhook with its CEL mapping) and, correctly signed, for Slack's and
//! Twilio's callbacks. Whatever arrives, the server answers with a 2xx or a
//! 4xx (never a 5xx, never a dropped connection) and keeps running. This
//! reaches parsers no unit test can call, such as the Alertmanager payload's.
//! `PROPTEST_CASES` sets the cases per endpoint (`scripts/fuzz.sh`).

mod common;

use common::{KEY, Server, twilio_signature};
use hmac::Mac as _;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

const AM_KEY: &str = "1123456789abcdef0123456789abcdef";
const GENERIC_KEY: &str = "2123456789abcdef0123456789abcdef";
const SLACK_SECRET: &str = "slack-signing-secret-for-fuzzing";
const TWILIO_TOKEN: &str = "twilio-token-for-fuzzing";

fn config_yaml() -> String {
    format!(
        r#"
channels:
  slack: {{bot_token: "${{env:FZ_SLACK_BOT_TOKEN}}", signing_secret: "${{env:FZ_SLACK_SIGNING_SECRET}}"}}
  twilio: {{api_url: "http://127.0.0.1:9", account_sid: AC1, auth_token: "${{env:FZ_TWILIO_TOKEN}}", from: "+15550001111"}}
users:
  - id: alice
    contact_methods:
      - {{id: hook, type: webhook, url: "http://127.0.0.1:9/alice"}}
      - {{id: dm, type: slack, user: U024BE7LH}}
      - {{id: sms, type: sms, number: "+4915112345678"}}
    notification_rules: [{{contact_method: hook, after: 0s}}]
escalation_policies:
  - id: p
    levels: [{{targets: [{{user: alice}}], escalate_after: 1h}}]
services:
  - id: api
    escalation_policy: p
    grouping: {{by: [alertname], window: 5m}}
    integrations:
      - {{type: events_v2, key: "{KEY}"}}
      - {{type: alertmanager, key: "{AM_KEY}"}}
      - type: generic
        key: "{GENERIC_KEY}"
        mapping:
          summary: 'body.title ?? "untitled"'
          dedup_key: 'body.id'
          severity: 'body.level ?? "error"'
          action: 'body.state == "ok" ? "resolve" : "trigger"'
          source: 'string(body.host ?? "web")'
rules:
  - id: breach
    exception: true
    when: 'event.custom_details.category == "data_breach" || (event.labels.severity ?? "") == "page"'
    then: {{priority: P1}}
  - id: quiet
    when: 'event.severity == "info" && (event.custom_details.users ?? 0) < 10'
    then: {{suppress: true}}
"#
    )
}

const EVENTS_SEEDS: &[&str] = &[
    r#"{"routing_key":"0123456789abcdef0123456789abcdef","event_action":"trigger","dedup_key":"disk-1","payload":{"summary":"Disk full","source":"db-1","severity":"critical","custom_details":{"category":"data_breach","users":3}},"links":[{"href":"https://x"}]}"#,
    r#"{"routing_key":"0123456789abcdef0123456789abcdef","event_action":"acknowledge","dedup_key":"disk-1"}"#,
    r#"{"routing_key":"0123456789abcdef0123456789abcdef","event_action":"resolve","dedup_key":"disk-1"}"#,
];

const ALERTMANAGER_SEEDS: &[&str] = &[
    r#"{"version":"4","groupKey":"{}:{alertname=\"High\"}","status":"firing","receiver":"escalator","groupLabels":{"alertname":"High"},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093","alerts":[{"status":"firing","labels":{"alertname":"High","severity":"page","instance":"db-1"},"annotations":{"summary":"CPU high","description":"d"},"startsAt":"2024-05-01T12:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"a1b2c3d4e5f60718"},{"status":"resolved","labels":{"alertname":"High"},"annotations":{},"fingerprint":"b1b2c3d4e5f60718"}]}"#,
];

const GENERIC_SEEDS: &[&str] = &[
    r#"{"title":"Checkout errors","id":"chk-1","level":"critical","state":"alerting","host":"web-1"}"#,
    r#"{"title":"Checkout errors","id":"chk-1","state":"ok"}"#,
    r#"{"id":7,"level":"warning","title":12.5,"host":null}"#,
];

const SLACK_COMMANDS: &[&str] = &[
    "ack 1",
    "resolve #1",
    "escalate 1",
    "commander 1 me",
    "ic 1 <@U024BE7LH|alice>",
    "scribe 1 none",
    "roles 1",
    "help",
];

const SLACK_ACTIONS: &[&str] = &[
    r#"{"type":"block_actions","user":{"id":"U024BE7LH"},"actions":[{"action_id":"ack","value":"1"}]}"#,
    r#"{"type":"block_actions","user":{"id":"U024BE7LH"},"actions":[{"action_id":"role:commander","value":"1"}]}"#,
];

fn cases(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    }
}

/// Byte-level mutations of a seed: flips, insertions of structural
/// characters, deletions, duplications, truncation.
fn mutated(seeds: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let op = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| (0u8, i, b)),
        (
            any::<usize>(),
            proptest::sample::select(b"\"{}[],:\\0-e.9 \x00\xff".to_vec())
        )
            .prop_map(|(i, b)| (1u8, i, b)),
        (any::<usize>(), 1u8..16).prop_map(|(i, n)| (2u8, i, n)),
        (any::<usize>(), 1u8..64).prop_map(|(i, n)| (3u8, i, n)),
        any::<usize>().prop_map(|i| (4u8, i, 0)),
    ];
    (
        proptest::sample::select(seeds),
        proptest::collection::vec(op, 0..6),
    )
        .prop_map(|(seed, ops)| {
            let mut b = seed.as_bytes().to_vec();
            for (kind, i, x) in ops {
                let len = b.len();
                if len == 0 {
                    b.push(x);
                    continue;
                }
                let at = i % len;
                match kind {
                    0 => b[at] ^= x.max(1),
                    1 => b.insert(at, x),
                    2 => {
                        b.drain(at..(at + x as usize).min(len));
                    }
                    3 => {
                        let part = b[at..(at + x as usize).min(len)].to_vec();
                        b.splice(at..at, part);
                    }
                    _ => b.truncate(at),
                }
            }
            b
        })
}

/// Any JSON value, a little nested.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        ".{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::hash_map(
                prop_oneof![
                    proptest::sample::select(vec![
                        "title",
                        "id",
                        "level",
                        "state",
                        "host",
                        "version",
                        "alerts",
                        "status",
                        "labels",
                        "fingerprint"
                    ])
                    .prop_map(str::to_owned),
                    ".{0,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn bodies(seeds: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => mutated(seeds),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..256),
    ]
}

/// The answer to one request must be a 2xx or a 4xx.
fn answered(what: &str, status: Result<u16, reqwest::Error>) -> Result<(), TestCaseError> {
    match status {
        Ok(s) if (200..500).contains(&s) => Ok(()),
        Ok(s) => Err(TestCaseError::fail(format!("{what}: {s}"))),
        Err(e) => Err(TestCaseError::fail(format!("{what}: no answer: {e}"))),
    }
}

fn slack_headers(body: &str) -> [(&'static str, String); 3] {
    let ts = jiff::Timestamp::now().as_second();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SLACK_SECRET.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    [
        (
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        ),
        ("x-slack-request-timestamp", ts.to_string()),
        (
            "x-slack-signature",
            format!("v0={}", hex::encode(mac.finalize().into_bytes())),
        ),
    ]
}

fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[test]
fn every_endpoint_answers_any_body_with_a_2xx_or_a_4xx() {
    let db = escalator_store::testing::sqlite_url();
    let server = Server::start_with_env(
        &db,
        &config_yaml(),
        &["--events-rate-limit", "0"],
        &[
            ("FZ_SLACK_BOT_TOKEN", "xoxb-fuzz"),
            ("FZ_SLACK_SIGNING_SECRET", SLACK_SECRET),
            ("FZ_TWILIO_TOKEN", TWILIO_TOKEN),
        ],
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let post = |path: String, headers: Vec<(&'static str, String)>, body: Vec<u8>| {
        let mut r = server.http.post(server.url(&path)).body(body);
        for (k, v) in headers {
            r = r.header(k, v);
        }
        rt.block_on(async { r.send().await.map(|r| r.status().as_u16()) })
    };
    let json = || vec![("content-type", "application/json".to_owned())];
    let run = |name: &str,
               strategy: BoxedStrategy<Vec<u8>>,
               send: &dyn Fn(Vec<u8>) -> Result<u16, reqwest::Error>| {
        let mut runner = TestRunner::new(cases(256));
        let start = std::time::Instant::now();
        let seen = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
        let result = runner.run(&strategy, |body| {
            let status = send(body);
            if let Ok(s) = &status {
                *seen.borrow_mut().entry(*s).or_default() += 1;
            }
            answered(name, status)
        });
        println!(
            "fuzz_http {name}: {} cases in {:?}, answers {:?}",
            runner.config().cases,
            start.elapsed(),
            seen.borrow()
        );
        if let Err(e) = result {
            panic!("{name}: {e}");
        }
    };

    run("events_v2", bodies(EVENTS_SEEDS).boxed(), &|b| {
        post("/v2/enqueue".into(), json(), b)
    });
    run("alertmanager", bodies(ALERTMANAGER_SEEDS).boxed(), &|b| {
        post(
            format!("/api/v1/integrations/alertmanager?key={AM_KEY}"),
            json(),
            b,
        )
    });
    run("generic", bodies(GENERIC_SEEDS).boxed(), &|b| {
        post(
            format!("/api/v1/integrations/generic/{GENERIC_KEY}"),
            json(),
            b,
        )
    });
    run("slack commands", mutated(SLACK_COMMANDS).boxed(), &|text| {
        let text = String::from_utf8_lossy(&text).into_owned();
        let body = encode(&[
            ("command", "/escalator"),
            ("user_id", "U024BE7LH"),
            ("text", &text),
        ]);
        post(
            "/api/v1/integrations/slack/commands".into(),
            slack_headers(&body).to_vec(),
            body.into_bytes(),
        )
    });
    run("slack actions", bodies(SLACK_ACTIONS).boxed(), &|payload| {
        let payload = String::from_utf8_lossy(&payload).into_owned();
        let body = encode(&[("payload", &payload)]);
        post(
            "/api/v1/integrations/slack/actions".into(),
            slack_headers(&body).to_vec(),
            body.into_bytes(),
        )
    });
    run(
        "twilio sms",
        mutated(&["ack 1", "RESOLVE #1", "escalate 1"]).boxed(),
        &|text| {
            let text = String::from_utf8_lossy(&text).into_owned();
            let path = "/api/v1/integrations/twilio/sms";
            let params = [("From", "+4915112345678"), ("Body", text.as_str())];
            let signature = twilio_signature(TWILIO_TOKEN, &server.url(path), &params);
            let headers = vec![
                (
                    "content-type",
                    "application/x-www-form-urlencoded".to_owned(),
                ),
                ("x-twilio-signature", signature),
            ];
            post(path.into(), headers, encode(&params).into_bytes())
        },
    );
    // Unsigned or wrongly signed junk is refused, not parsed.
    run(
        "slack unsigned",
        proptest::collection::vec(any::<u8>(), 0..256).boxed(),
        &|b| post("/api/v1/integrations/slack/actions".into(), vec![], b),
    );

    // Still up, and still taking events.
    let (status, body) = rt.block_on(
        server.enqueue(json!({"routing_key": KEY, "event_action": "trigger",
        "payload": {"summary": "after fuzzing", "source": "fuzz", "severity": "info"}})),
    );
    assert_eq!(status, 202, "{body}");
}
