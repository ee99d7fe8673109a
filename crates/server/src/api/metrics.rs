//! `POST /api/v1/metrics`: metric samples for the detectors. A detector that
//! turns anomalous raises an event through the same rules path as any other
//! signal (`source: detector:<id>`); once the series has been normal for the
//! detector's `resolve_after`, the event resolves. Decisions are online: each
//! sample is scored only from the samples before it.

use super::auth::Caller;
use super::body::read_limited;
use super::error::{ApiError, parse_json};
use crate::AppState;
use crate::ingest::{Normalized, ingest};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use escalator_core::anomaly::Detector;
use escalator_core::auth::Role;
use escalator_core::config::DetectorSpec;
use escalator_core::events_v2::EventAction;
use escalator_core::ids::{DedupKey, ServiceId};
use escalator_store::DetectorState;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// Most samples in one request.
const MAX_SAMPLES: usize = 10_000;

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
    let _one_at_a_time = app.detector_lock.lock().await;
    let mut raised = Vec::new();
    let mut scored = 0;
    for spec in &catalog.config().detectors {
        let mine: Vec<_> = parsed
            .iter()
            .filter(|(svc, m, _, _)| *svc == spec.service && *m == spec.metric)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let mut state = match app.store.detector_state(&spec.id).await? {
            Some(s) => s,
            None => DetectorState {
                state: serde_json::to_value(Detector::new(&spec.method))
                    .map_err(ApiError::internal)?,
                firing: false,
                normal_since: None,
            },
        };
        let mut detector: Detector = serde_json::from_value(state.state.clone())
            .unwrap_or_else(|_| Detector::new(&spec.method));
        for (_, _, value, at) in mine {
            let score = detector.observe(at.as_second(), *value);
            scored += 1;
            let anomalous = detector.is_anomalous(score);
            match (state.firing, anomalous) {
                (false, true) => {
                    state.firing = true;
                    state.normal_since = None;
                    raise(&app, spec, EventAction::Trigger, *value, score, *at).await?;
                    raised.push(json!({"detector": spec.id, "action": "trigger", "at": at.to_string(), "score": score}));
                }
                (true, true) => state.normal_since = None,
                (true, false) => {
                    let since = *state.normal_since.get_or_insert(*at);
                    if at.duration_since(since) >= spec.resolve_after.to_span() {
                        state.firing = false;
                        state.normal_since = None;
                        raise(&app, spec, EventAction::Resolve, *value, score, *at).await?;
                        raised.push(
                            json!({"detector": spec.id, "action": "resolve", "at": at.to_string()}),
                        );
                    }
                }
                (false, false) => {}
            }
        }
        state.state = serde_json::to_value(&detector).map_err(ApiError::internal)?;
        app.store
            .save_detector_state(&spec.id, &state, Timestamp::now())
            .await?;
    }
    Ok(Json(
        json!({"accepted": parsed.len(), "scored": scored, "events": raised}),
    ))
}

async fn raise(
    app: &AppState,
    spec: &DetectorSpec,
    action: EventAction,
    value: f64,
    score: f64,
    at: Timestamp,
) -> Result<(), ApiError> {
    let catalog = app.catalog();
    let service = catalog
        .service(&spec.service)
        .cloned()
        .ok_or_else(|| ApiError::internal("detector service vanished"))?;
    let key = DedupKey::parse(&format!("detector:{}", spec.id)).map_err(ApiError::internal)?;
    let event = Normalized {
        action,
        dedup_key: Some(key),
        summary: format!("{} on {} is abnormal ({value})", spec.metric, spec.service),
        details: json!({
            "source": format!("detector:{}", spec.id),
            "severity": spec.severity,
            "timestamp": at.to_string(),
            "custom_details": {"metric": spec.metric, "value": value, "score": score, "detector": spec.id},
        }),
    };
    ingest(app, &service, "detector", event).await?;
    Ok(())
}
