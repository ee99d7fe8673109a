//! What the channel tests share: a page to send, and a stand-in for a
//! vendor's HTTP API that records each request and answers as told.

#![allow(dead_code)] // each test file uses its own part

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use escalator_notify::{Page, PageIncident, Recipient};
use std::sync::{Arc, Mutex};

pub fn incident() -> PageIncident {
    PageIncident {
        id: 4821,
        title: "Checkout latency high".into(),
        status: "triggered".into(),
        service: "checkout".into(),
        level: 2,
        round: 1,
        priority: Some("P1".into()),
        url: "https://esc.example.com/incidents/4821".into(),
    }
}

pub fn page(address: &str) -> Page {
    let to = Recipient {
        user: "alice",
        contact_method: "alice-phone",
        level: 2,
        round: 1,
    };
    Page::new(
        incident(),
        &to,
        address,
        "notif-77-attempt-key",
        "https://esc.example.com/ack/4821?user=alice&sig=abc",
    )
}

/// One request as the vendor saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("request has no {name} header"))
            .to_str()
            .unwrap()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    /// The body as `application/x-www-form-urlencoded` fields, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        let body = std::str::from_utf8(&self.body).expect("form body is UTF-8");
        let url = reqwest::Url::parse(&format!("http://form.invalid/?{body}")).unwrap();
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    pub fn field(&self, name: &str) -> String {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .unwrap_or_else(|| panic!("form has no {name} field"))
            .1
    }
}

/// The answer the fake vendor gives to every request.
#[derive(Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, &'static str)>,
    pub body: String,
}

impl Answer {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap(),
            headers: vec![("content-type", "application/json; charset=utf-8")],
            body: body.to_string(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }
}

pub struct Vendor {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Vendor {
    /// Starts a vendor on a free loopback port that answers every request with `answer`.
    pub async fn start(answer: Answer) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .fallback(record)
            .with_state((requests.clone(), answer));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, requests }
    }

    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// The single request the vendor received.
    pub fn only_request(&self) -> Recorded {
        let requests = self.requests.lock().unwrap();
        assert_eq!(
            requests.len(),
            1,
            "expected exactly one request: {requests:?}"
        );
        requests[0].clone()
    }
}

async fn record(
    State((requests, answer)): State<(Arc<Mutex<Vec<Recorded>>>, Answer)>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    requests.lock().unwrap().push(Recorded {
        method: parts.method,
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: parts.headers,
        body,
    });
    let mut response = (answer.status, answer.body).into_response();
    for (name, value) in answer.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}
