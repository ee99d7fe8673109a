//! Test harness: the real `escalator` binary on a free port, a webhook
//! receiver that records what it is sent, and helpers to wait for conditions
//! (with a deadline; never a sleep that decides the outcome).

#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use hmac::Mac as _;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const KEY: &str = "0123456789abcdef0123456789abcdef";
pub const WEBHOOK_SECRET: &str = "test-webhook-secret";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_escalator")
}

/// The databases every end-to-end test runs on.
pub async fn databases() -> Vec<String> {
    vec![
        escalator_store::testing::sqlite_url(),
        escalator_store::testing::postgres_url().await,
    ]
}

/// reqwest here uses rustls without a built-in provider: pick ring, as the server does.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A loopback address nothing listens on now (for a stand-in that cannot
/// listen on port 0, or for a port that refuses connections).
pub fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

pub fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "escalator-it-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[path = "../../../notify/tests/support/certs.rs"]
mod certs;
#[allow(unused_imports)]
pub use certs::test_certificates;

/// Runs the CLI to completion.
pub fn cli(args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .env("ESCALATOR_LOG", "warn")
        .output()
        .unwrap()
}

/// Creates a token with `role` on the database and returns it.
pub fn token(db: &str, role: &str) -> String {
    token_for(db, &format!("{role}-bot"), role, None)
}

/// A new token named `name` with `role`, acting for `user` when given.
pub fn token_for(db: &str, name: &str, role: &str, user: Option<&str>) -> String {
    let mut args = vec![
        "token",
        "create",
        "--name",
        name,
        "--role",
        role,
        "--database",
        db,
    ];
    if let Some(user) = user {
        args.extend(["--user", user]);
    }
    let out = cli(&args);
    assert!(
        out.status.success(),
        "token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub db: String,
    config: PathBuf,
    extra: Vec<String>,
    /// Environment variables for the server process (e.g. channel secrets).
    env: Vec<(String, String)>,
    pub http: reqwest::Client,
}

impl Server {
    pub fn start(db: &str, config_yaml: &str) -> Server {
        Self::start_with(db, config_yaml, &[])
    }

    pub fn start_with(db: &str, config_yaml: &str, extra: &[&str]) -> Server {
        Self::start_with_env(db, config_yaml, extra, &[])
    }

    /// Like [`Self::start_with`], with variables set in the server's environment only.
    pub fn start_with_env(
        db: &str,
        config_yaml: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        install_crypto();
        let config = temp_file("escalator.yaml", config_yaml);
        let mut s = Server {
            child: None,
            // Port 0: the server binds a port of the system's choosing and
            // prints it (no window in which another process can take it).
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            db: db.to_owned(),
            config,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            http: reqwest::Client::new(),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut child = Command::new(bin())
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .args(["--database", &self.db, "--listen", &self.addr.to_string()])
            .args(["--webhook-secret", WEBHOOK_SECRET])
            .args(&self.extra)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("ESCALATOR_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(Instant::now() < deadline, "server did not start in time");
            match lines.next() {
                Some(Ok(line)) if line.contains("listening on") => {
                    // "escalator listening on http://127.0.0.1:PORT"; a restart keeps the port.
                    self.addr = line
                        .rsplit("://")
                        .next()
                        .and_then(|a| a.trim().parse().ok())
                        .unwrap_or_else(|| panic!("no address in {line:?}"));
                    break;
                }
                Some(_) => continue,
                None => panic!("server exited before listening (status {:?})", child.wait()),
            }
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM, then waits for the process to exit (up to `within`).
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("server still running {within:?} after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub async fn enqueue(&self, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url("/v2/enqueue"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn trigger(&self, dedup_key: &str, summary: &str) -> Value {
        let (status, body) = self
            .enqueue(serde_json::json!({
                "routing_key": KEY, "event_action": "trigger", "dedup_key": dedup_key,
                "payload": {"summary": summary, "source": "db-1", "severity": "critical"}
            }))
            .await;
        assert_eq!(status, 202, "{body}");
        body
    }

    /// `method` on `path` with the bearer `token` (and a JSON `body`): the
    /// status and the JSON answer (null when there is none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, token, Some(body))
            .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One request a receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Bytes,
}

#[derive(Clone)]
struct ReceiverState {
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<Mutex<StatusCode>>,
    delay: Duration,
}

/// A webhook endpoint on a free port that records every request.
pub struct Receiver {
    pub addr: SocketAddr,
    state: ReceiverState,
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::start_with_delay(Duration::ZERO).await
    }

    /// Each request is answered after `delay`: lets a test kill the server mid-send.
    pub async fn start_with_delay(delay: Duration) -> Receiver {
        let state = ReceiverState {
            got: Arc::default(),
            status: Arc::new(Mutex::new(StatusCode::OK)),
            delay,
        };
        async fn record(
            State(s): State<ReceiverState>,
            uri: axum::http::Uri,
            headers: HeaderMap,
            body: Bytes,
        ) -> StatusCode {
            tokio::time::sleep(s.delay).await;
            let status = *s.status.lock().unwrap();
            s.got.lock().unwrap().push(Received {
                path: uri.path().to_owned(),
                headers,
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                raw: body,
            });
            status
        }
        let app = Router::new()
            .route("/{*path}", post(record))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set_status(&self, status: u16) {
        *self.state.status.lock().unwrap() = StatusCode::from_u16(status).unwrap();
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.got.lock().unwrap().clone()
    }
}

/// Waits until `f` returns `Some`, polling, failing the test after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Alice's webhook at `receiver` pages for service `payments-api`, which
/// takes Events API v2 with [`KEY`]; `more` follows that integration line
/// (further integrations, then other services or sections).
pub fn alice_config(receiver: &Receiver, more: &str) -> String {
    format!(
        r#"users:
  - id: alice
    contact_methods:
      - {{id: hook, type: webhook, url: "{url}"}}
escalation_policies:
  - id: p
    levels:
      - targets: [{{user: alice}}]
        escalate_after: 1h
services:
  - id: payments-api
    escalation_policy: p
    integrations:
      - {{type: events_v2, key: "{KEY}"}}
{more}"#,
        url = receiver.url("/alice")
    )
}

/// A configuration: alice at level 1, bob at level 2, both by webhook to `receiver`.
pub fn two_level_config(receiver: &Receiver, escalate_after: &str) -> String {
    format!(
        r#"users:
  - id: alice
    name: Alice Ng
    time_zone: Europe/Berlin
    contact_methods:
      - {{id: hook, type: webhook, url: "{a}"}}
  - id: bob
    contact_methods:
      - {{id: hook, type: webhook, url: "{b}"}}
teams:
  - {{id: sre, members: [alice, bob]}}
escalation_policies:
  - id: payments
    levels:
      - targets: [{{user: alice}}]
        escalate_after: {escalate_after}
      - targets: [{{user: bob}}]
        escalate_after: {escalate_after}
      - targets: [{{team: sre}}]
        escalate_after: {escalate_after}
services:
  - id: payments-api
    name: Payments API
    escalation_policy: payments
    integrations:
      - {{type: events_v2, key: "{KEY}"}}
"#,
        a = receiver.url("/alice"),
        b = receiver.url("/bob"),
    )
}

/// `X-Twilio-Signature` for a request to `url` with form `params`: base64
/// HMAC-SHA1 of the URL followed by each parameter's name and value, sorted.
pub fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The form fields of each message a stand-in provider received.
pub type Forms = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// A stand-in for Twilio's Messages resource that accepts every message and
/// records its form fields.
pub async fn twilio_accepting() -> (String, Forms) {
    let got: Forms = Arc::default();
    let seen = got.clone();
    let app = Router::new().route(
        "/2010-04-01/Accounts/AC123/Messages.json",
        post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let form: Vec<(String, String)> = form_urlencoded::parse(&body)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                let n = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(form);
                    seen.len()
                };
                (
                    axum::http::StatusCode::CREATED,
                    axum::Json(
                        serde_json::json!({"sid": format!("SM{n:032}"), "status": "queued"}),
                    ),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), got)
}
