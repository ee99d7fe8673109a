//! `POST /api/v1/metrics`: metric samples for the detectors. A detector that
//! turns anomalous raises an event through the same rules path as any other
//! signal (`source: detector:<id>`); once the series has been normal for the
//! detector's `resolve_after`, the event resolves. Decisions are online: each
//! sample is scored only from the samples before it. Every accepted sample
//! is stored (one per service, metric and instant) for `retention.samples`.

use super::auth::Caller;
use super::body::read_limited;
use super::error::{ApiError, parse_json};
use crate::AppState;
use crate::runner::{Done, Work};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use escalator_core::auth::Role;
use escalator_core::ids::ServiceId;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// Most samples in one request.
const MAX_SAMPLES: usize = 10_000;
/// Longest metric name accepted.
const MAX_METRIC_NAME: usize = 200;

#[derive(Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    pub service: String,
    pub metric: String,
    pub value: f64,
    /// RFC 3339.
    pub timestamp: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Samples {
    pub samples: Vec<Sample>,
}

/// Feed metric samples to the detectors (a body of at most 512 KB).
#[utoipa::path(post, path = "/metrics", tag = "events", request_body = Samples,
    responses((status = 200, body = Object), (status = 400, body = super::error::ErrorBody),
              (status = 413, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn receive(
    State(app): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Responder)?;
    // Not the `Bytes` extractor: its limit is axum's 2 MB default, not ours.
    let req: Samples = parse_json(&read_limited(body).await?)?;
    if req.samples.len() > MAX_SAMPLES {
        return Err(ApiError::bad_field(
            "samples",
            format!("at most {MAX_SAMPLES} samples per request"),
        ));
    }
    let catalog = app.catalog();
    // Check every sample before feeding any: a bad batch changes nothing.
    let mut parsed = Vec::with_capacity(req.samples.len());
    for (i, s) in req.samples.iter().enumerate() {
        let field = |f: &str| format!("samples[{i}].{f}");
        let service = ServiceId::parse(&s.service)
            .map_err(|e| ApiError::bad_field(&field("service"), format!("service {e}")))?;
        if catalog.service(&service).is_none() {
            return Err(ApiError::bad_field(
                &field("service"),
                format!("unknown service {:?}", s.service),
            ));
        }
        if s.metric.is_empty()
            || s.metric.len() > MAX_METRIC_NAME
            || s.metric.chars().any(char::is_control)
        {
            return Err(ApiError::bad_field(
                &field("metric"),
                format!("a metric name is 1 to {MAX_METRIC_NAME} bytes without control characters"),
            ));
        }
        if !s.value.is_finite() {
            return Err(ApiError::bad_field(
                &field("value"),
                "value must be a finite number",
            ));
        }
        let at: Timestamp = s.timestamp.parse().map_err(|_| {
            ApiError::bad_field(
                &field("timestamp"),
                format!("{:?} is not an RFC 3339 timestamp", s.timestamp),
            )
        })?;
        parsed.push((service, s.metric.as_str(), s.value, at));
    }
    // Kept for the `retention.samples` span (a retry replaces, never doubles),
    // before any detector sees them: a sample that scored is one that is stored.
    let rows: Vec<(&str, &str, Timestamp, f64)> = parsed
        .iter()
        .map(|(service, metric, value, at)| (service.as_str(), *metric, *at, *value))
        .collect();
    app.store.record_samples(&rows).await?;
    // Each detector's samples go to the engine runner, which decides under a
    // row lock on the detector's state and saves the events it raises with it.
    let mut raised = Vec::new();
    let mut scored = 0;
    for spec in &catalog.config().detectors {
        let samples: Vec<(Timestamp, f64)> = parsed
            .iter()
            .filter(|(svc, m, _, _)| *svc == spec.service && *m == spec.metric)
            .map(|(_, _, value, at)| (*at, *value))
            .collect();
        if samples.is_empty() {
            continue;
        }
        let work = Work::Observe {
            detector: spec.id.clone(),
            samples,
        };
        match app.runner.submit(work).await? {
            Done::Observed { scored: n, events } => {
                scored += n;
                raised.extend(events);
            }
            other => return Err(ApiError::internal(format!("runner answered {other:?}"))),
        }
    }
    Ok(Json(
        json!({"accepted": parsed.len(), "scored": scored, "events": raised}),
    ))
}
