//! Circuit breakers hold pages; they never lose them. One user's dead
//! receiver must not stop another user's page, a receiver's short outage must
//! not cost any page, and a burst against a receiver that sheds load ends
//! with every page delivered or, after its whole retry schedule, failed over.
//! The real binary on both databases.

mod common;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A receiver whose answer to each request is decided by `answer(n, in_flight)`
/// (n counts from 1); it records every request with the status it got.
struct Scripted {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<(String, String, u16)>>>,
}

#[derive(Clone)]
struct ScriptState {
    got: Arc<Mutex<Vec<(String, String, u16)>>>,
    count: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    answer: Arc<dyn Fn(usize, usize) -> u16 + Send + Sync>,
    delay: Duration,
}

impl Scripted {
    async fn start(
        delay: Duration,
        answer: impl Fn(usize, usize) -> u16 + Send + Sync + 'static,
    ) -> Self {
        let state = ScriptState {
            got: Arc::default(),
            count: Arc::default(),
            in_flight: Arc::default(),
            answer: Arc::new(answer),
            delay,
        };
        async fn record(
            State(s): State<ScriptState>,
            headers: HeaderMap,
            body: Bytes,
        ) -> StatusCode {
            let n = s.count.fetch_add(1, Ordering::SeqCst) + 1;
            let in_flight = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            let status = (s.answer)(n, in_flight);
            tokio::time::sleep(s.delay).await;
            s.in_flight.fetch_sub(1, Ordering::SeqCst);
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let key = headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let incident = body["incident"]["id"].to_string();
            s.got.lock().unwrap().push((incident, key, status));
            StatusCode::from_u16(status).unwrap()
        }
        let app = Router::new()
            .route("/{*path}", post(record))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            addr,
            got: state.got,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Incident id → the idempotency keys of the requests answered 2xx.
    fn delivered(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (incident, key, status) in self.got.lock().unwrap().iter() {
            if (200..300).contains(status) {
                out.entry(incident.clone()).or_default().push(key.clone());
            }
        }
        out
    }

    fn requests(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

/// A loopback port nothing listens on: connections to it are refused.
fn refusing_url() -> String {
    format!("http://{}/hook", free_addr())
}

/// One user per service, each paged by webhook at `url`.
fn config(users: &[(&str, &str, &str)]) -> String {
    let mut yaml = String::from("users:\n");
    for (user, url, _) in users {
        yaml += &format!(
            "  - id: {user}\n    contact_methods:\n      - {{id: hook, type: webhook, url: \"{url}\"}}\n"
        );
    }
    yaml += "escalation_policies:\n";
    for (user, _, _) in users {
        yaml += &format!(
            "  - id: {user}-policy\n    levels:\n      - targets: [{{user: {user}}}]\n        escalate_after: 1h\n"
        );
    }
    yaml += "services:\n";
    for (user, _, key) in users {
        yaml += &format!(
            "  - id: {user}-svc\n    escalation_policy: {user}-policy\n    integrations:\n      - {{type: events_v2, key: \"{key}\"}}\n"
        );
    }
    yaml
}

const DEAD_KEY: &str = "dead0000000000000000000000000000";
const LIVE_KEY: &str = "live0000000000000000000000000000";

async fn trigger(server: &Server, key: &str, dedup: &str) {
    let (status, body) = server
        .enqueue(json!({
            "routing_key": key, "event_action": "trigger", "dedup_key": dedup,
            "payload": {"summary": dedup, "source": "db-1", "severity": "critical"}
        }))
        .await;
    assert_eq!(status, 202, "{body}");
}

async fn breaker_states(server: &Server, token: &str) -> Vec<(String, String)> {
    let (status, body) = server.get("/api/v1/channels/breakers", token).await;
    assert_eq!(status, 200, "{body}");
    body["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["key"].as_str().unwrap().to_owned(),
                b["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn timeline_kinds(server: &Server, token: &str, incident: i64) -> Vec<(String, String)> {
    let (status, body) = server
        .get(&format!("/api/v1/incidents/{incident}/timeline"), token)
        .await;
    assert_eq!(status, 200, "{body}");
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_owned(),
                e["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_receiver_does_not_hold_another_users_page() {
    for db in databases().await {
        let dead = refusing_url();
        let live = Receiver::start().await;
        let server = Server::start(
            &db,
            &config(&[
                ("carol", &dead, DEAD_KEY),
                ("dave", &live.url("/dave"), LIVE_KEY),
            ]),
        );
        let token = token(&db, "viewer");
        for i in 0..10 {
            trigger(&server, DEAD_KEY, &format!("dead-{i}")).await;
        }
        let dead_key = format!("webhook {}", dead.trim_end_matches("/hook"));
        eventually(
            Duration::from_secs(20),
            "carol's receiver breaker opens",
            || {
                let (server, token, dead_key) = (&server, &token, &dead_key);
                async move {
                    breaker_states(server, token)
                        .await
                        .contains(&(dead_key.clone(), "open".to_owned()))
                        .then_some(())
                }
            },
        )
        .await;

        let started = Instant::now();
        trigger(&server, LIVE_KEY, "live-1").await;
        eventually(Duration::from_secs(10), "dave is paged", || async {
            (!live.received().is_empty()).then_some(())
        })
        .await;
        let took = started.elapsed();
        eprintln!("{db}: dave paged {took:?} after his trigger, carol's breaker open");
        assert!(
            took < Duration::from_millis(2000),
            "dave's page waited {took:?}"
        );

        // Carol's own pages are held, not given up: none failed, none
        // exhausted, and their retries wait for her breaker's next probe.
        let (_, incidents) = server.get("/api/v1/incidents?limit=100", &token).await;
        let ids: Vec<i64> = incidents["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect();
        eventually(
            Duration::from_secs(10),
            "carol's retries held by her breaker",
            || {
                let (server, token, ids) = (&server, &token, &ids);
                async move {
                    let mut held = 0;
                    for &id in ids {
                        let kinds = timeline_kinds(server, token, id).await;
                        held += kinds
                            .iter()
                            .filter(|(k, m)| {
                                k == "notification_deferred"
                                    && m.contains("circuit open for webhook")
                            })
                            .count();
                    }
                    (held > 0).then_some(())
                }
            },
        )
        .await;
        for &id in &ids {
            let (_, notes) = server
                .get(&format!("/api/v1/incidents/{id}/notifications"), &token)
                .await;
            for n in notes["notifications"].as_array().unwrap() {
                assert_ne!(n["status"], "failed", "a page failed: {n}");
                assert!(n["attempts"].as_u64().unwrap() < 8, "{n}");
            }
            let kinds = timeline_kinds(&server, &token, id).await;
            assert!(
                !kinds.iter().any(|(k, _)| k == "notification_exhausted"),
                "{kinds:?}"
            );
        }
        let states = breaker_states(&server, &token).await;
        assert!(
            states.contains(&(format!("webhook http://{}", live.addr), "closed".to_owned())),
            "{states:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receivers_short_outage_costs_no_page() {
    for db in databases().await {
        // 503 to the first five requests, then healthy.
        let receiver = Scripted::start(Duration::ZERO, |n, _| if n <= 5 { 503 } else { 200 }).await;
        let server = Server::start_with(
            &db,
            &config(&[("erin", &receiver.url("/erin"), LIVE_KEY)]),
            &["--breaker-cool-down", "1s"],
        );
        for i in 0..20 {
            trigger(&server, LIVE_KEY, &format!("blip-{i}")).await;
        }
        let delivered = eventually(
            Duration::from_secs(60),
            "all 20 pages delivered",
            || async {
                let d = receiver.delivered();
                (d.len() == 20).then_some(d)
            },
        )
        .await;
        for (incident, keys) in &delivered {
            assert_eq!(keys.len(), 1, "incident {incident} delivered {keys:?}");
        }
        // Every attempt of one page carries the same idempotency key.
        let all = receiver.got.lock().unwrap().clone();
        let mut keys_by_incident: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (incident, key, _) in &all {
            keys_by_incident.entry(incident).or_default().insert(key);
        }
        assert!(
            keys_by_incident.values().all(|k| k.len() == 1),
            "{keys_by_incident:?}"
        );
        assert!(
            receiver.requests() >= 25,
            "the five refused pages were sent again"
        );
        let store = escalator_store::Store::open(&db).await.unwrap();
        let counts = store.notification_counts().await.unwrap();
        assert_eq!(counts.get("sent"), Some(&20), "{counts:?}");
        assert_eq!(counts.get("failed"), None, "{counts:?}");
    }
}

/// 5 000 incidents at once against a slow receiver (20 ms an answer) that
/// is down (503) when the burst starts and comes back while its breaker is
/// open: every page is held, then delivered once, none lost, none given up
/// because a breaker was open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_against_a_receiver_that_is_down_loses_no_page() {
    const N: usize = 5_000;
    for db in databases().await {
        let up = Arc::new(AtomicBool::new(false));
        let receiver = Scripted::start(Duration::from_millis(20), {
            let up = up.clone();
            move |_, _| if up.load(Ordering::SeqCst) { 200 } else { 503 }
        })
        .await;
        let server = Server::start_with(
            &db,
            &config(&[("frank", &receiver.url("/frank"), LIVE_KEY)]),
            &["--breaker-cool-down", "1s", "--events-rate-limit", "0"],
        );
        let token = token(&db, "viewer");
        let started = Instant::now();
        let server = Arc::new(server);
        let mut senders = Vec::new();
        for part in 0..16 {
            let server = server.clone();
            senders.push(tokio::spawn(async move {
                for i in (part..N).step_by(16) {
                    trigger(&server, LIVE_KEY, &format!("burst-{i}")).await;
                }
            }));
        }
        for s in senders {
            s.await.unwrap();
        }
        let ingested = started.elapsed();
        let store = escalator_store::Store::open(&server.db).await.unwrap();
        // The receiver comes back only once its breaker has held pages.
        let key = format!("webhook http://{}", receiver.addr);
        eventually(Duration::from_secs(30), "frank's breaker open", || {
            let (server, token, key) = (&server, &token, &key);
            async move {
                breaker_states(server, token)
                    .await
                    .contains(&(key.clone(), "open".to_owned()))
                    .then_some(())
            }
        })
        .await;
        let refused = receiver.requests();
        up.store(true, Ordering::SeqCst);
        let counts = eventually(Duration::from_secs(120), "every page settled", || async {
            let counts = store.notification_counts().await.unwrap();
            let settled = counts.get("sent").copied().unwrap_or(0)
                + counts.get("failed").copied().unwrap_or(0);
            (settled == N as i64).then_some(counts)
        })
        .await;
        let delivered = receiver.delivered();
        eprintln!(
            "{db}: {N} incidents in {ingested:?}; {refused} requests refused while down; \
             all settled {:?} after the first trigger: {counts:?}; {} requests in all",
            started.elapsed(),
            receiver.requests(),
        );
        assert!(
            refused < N,
            "an open breaker held most pages back: {refused} sent"
        );
        assert_eq!(counts.get("sent"), Some(&(N as i64)), "{counts:?}");
        assert_eq!(delivered.len(), N, "every incident's page reached frank");
        assert!(
            delivered.values().all(|keys| keys.len() == 1),
            "no page delivered twice"
        );
        assert!(store_failures(&store, N).await.is_empty());
    }
}

/// The last error of every failed notification of incidents 1 to `n`.
async fn store_failures(store: &escalator_store::Store, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for id in 1..=n as i64 {
        let notes = store
            .notifications(escalator_core::ids::IncidentId(id))
            .await
            .unwrap();
        out.extend(
            notes
                .into_iter()
                .filter(|n| n.status == "failed")
                .map(|n| n.last_error.unwrap_or_default()),
        );
    }
    out
}
