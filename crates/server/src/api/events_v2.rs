//! `POST /v2/enqueue`: the PagerDuty Events API v2, answered as PagerDuty does,
//! so Alertmanager, Grafana and PagerDuty's own clients work unchanged.

use crate::AppState;
use crate::ingest::{Normalized, ingest};
use crate::ratelimit::Refused;
use crate::runner::RunError;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use escalator_core::events_v2::{self, MAX_BODY_BYTES};
use escalator_core::ids::DedupKey;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct EnqueueAccepted {
    /// Always `success`.
    pub status: String,
    /// Always `Event processed`.
    pub message: String,
    /// The event's dedup key, generated when the event had none.
    pub dedup_key: String,
}

#[derive(Serialize, ToSchema)]
pub struct EnqueueInvalid {
    /// `invalid event`.
    pub status: String,
    pub message: String,
    pub errors: Vec<String>,
}

fn invalid(errors: Vec<String>) -> Response {
    let body = EnqueueInvalid {
        status: "invalid event".into(),
        message: "Event object is invalid".into(),
        errors,
    };
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// Accept an Events API v2 event (trigger, acknowledge, resolve).
#[utoipa::path(
    post,
    path = "/v2/enqueue",
    tag = "events",
    request_body(content = serde_json::Value, description = "A PagerDuty Events API v2 event"),
    responses(
        (status = 202, description = "Durably accepted", body = EnqueueAccepted),
        (status = 400, description = "Invalid event", body = EnqueueInvalid),
        (status = 429, description = "Throttled: the key's events per second are spent; see Retry-After"),
        (status = 503, description = "Not saved; retry"),
    )
)]
pub async fn enqueue(State(app): State<AppState>, body: Body) -> Response {
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return invalid(vec![format!(
            "request body exceeds {} KB",
            MAX_BODY_BYTES / 1024
        )]);
    };
    // Strict: `event_action` given twice is ambiguous, not last-wins.
    let value = match escalator_core::json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return invalid(vec![e.to_string()]),
    };
    let event = match events_v2::parse(&value) {
        Ok(e) => e,
        Err(errors) => return invalid(errors),
    };
    let mut catalog = app.catalog();
    if catalog.service_for_key(&event.routing_key).is_none() {
        // Perhaps a configuration was applied since we last looked.
        catalog = match app.refresh_catalog().await {
            Ok(c) => c,
            Err(e) => return super::error::ApiError::from(e).into_response(),
        };
    }
    let Some(service) = catalog.service_for_key(&event.routing_key) else {
        return invalid(vec!["'routing_key' does not match any integration".into()]);
    };
    if let Err(r) = app.rate_limiter.take(event.routing_key.as_str(), 1) {
        return refused(r, "event");
    }
    let (summary, details) = match &event.payload {
        Some(p) => (
            p.summary.clone(),
            json!({
                "source": p.source,
                "severity": p.severity.as_str(),
                "timestamp": p.timestamp,
                "component": p.component,
                "group": p.group,
                "class": p.class,
                "custom_details": p.custom_details,
                "client": event.client,
                "client_url": event.client_url,
                "links": event.links,
                "images": event.images,
            }),
        ),
        None => (String::new(), json!({})),
    };
    let normalized = Normalized {
        action: event.action,
        dedup_key: event.dedup_key.clone(),
        summary,
        details,
    };
    match ingest(&app, service, "events_v2", normalized).await {
        Ok((key, _)) => accepted(&key),
        // The event reached us but cannot open anything (e.g. a policy without
        // levels); PagerDuty clients would retry forever on a 5xx, so say why.
        Err(RunError::Engine(e)) => invalid(vec![e.to_string()]),
        Err(RunError::Config(m)) => invalid(vec![m]),
        // Nothing about why in the answer: it would be database text.
        Err(e) => {
            tracing::error!(action = ?event.action, error = %e, "event not saved");
            let body = json!({"status": "error", "message": "Event not saved; retry"});
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// A request its key's rate limit refuses: `429` to come back later, or
/// `413` naming `field` when it carries more events than the key's bucket
/// holds, so that no wait would let it through.
pub(crate) fn refused(r: Refused, field: &str) -> Response {
    match r {
        Refused::Wait(wait) => throttled(wait),
        Refused::Never { burst } => {
            tracing::warn!(
                burst,
                field,
                "request refused: more events than the key's burst"
            );
            super::error::ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "more events than this integration key may send at once ({burst}, --events-burst): \
                     send at most {burst} per request"
                ),
            )
            .field(field)
            .into_response()
        }
    }
}

/// `429` with `Retry-After`, as PagerDuty throttles.
pub(crate) fn throttled(wait: std::time::Duration) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let body = json!({"status": "throttle event", "message": "Requests for this integration key are arriving too quickly. Please retry later."});
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(axum::http::header::RETRY_AFTER, secs.to_string())],
        Json(body),
    )
        .into_response()
}

fn accepted(key: &DedupKey) -> Response {
    let body = EnqueueAccepted {
        status: "success".into(),
        message: "Event processed".into(),
        dedup_key: key.to_string(),
    };
    (StatusCode::ACCEPTED, Json(body)).into_response()
}
