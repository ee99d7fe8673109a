//! `POST /api/v1/integrations/alertmanager`: Prometheus Alertmanager's webhook
//! (payload version 4). Each alert is an event, deduplicated by its
//! `fingerprint` (never by summary, which would merge distinct alerts);
//! `status: resolved` resolves. Unknown fields are ignored.
//!
//! What one request may cost is bounded: at most [`MAX_ALERTS`] alerts, each
//! spending a token of the key's rate limit (all or none); the payload-level
//! `groupKey` and `externalURL` are cut to [`MAX_SHARED_BYTES`] once per
//! request, not copied whole into every alert, and the rest of each alert's
//! details is capped by `ingest` (`escalator_core::details`).

use super::body::read_json;
use super::error::ApiError;
use super::events_v2::refused;
use crate::AppState;
use crate::ingest::{Normalized, ingest};
use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use escalator_core::config::{IntegrationKind, Service};
use escalator_core::details::cap_text;
use escalator_core::events_v2::EventAction;
use escalator_core::ids::{DedupKey, RoutingKey};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Most alerts one request may carry. Alertmanager's `max_alerts` (in its
/// `webhook_configs`) keeps a group's notification under it.
pub const MAX_ALERTS: usize = 1000;
/// Longest `groupKey` and `externalURL` kept in each alert's details, in
/// bytes: they are the same for every alert of a request.
pub const MAX_SHARED_BYTES: usize = 1024;

#[derive(Deserialize)]
pub struct KeyQuery {
    key: Option<String>,
}

/// The integration key from `Authorization: Bearer KEY` or `?key=KEY`.
pub(crate) fn integration_key(
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<RoutingKey, ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
    let from_header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let key = from_header.or(query).ok_or_else(|| {
        unauthorized("integration key missing: send Authorization: Bearer KEY or ?key=KEY")
    })?;
    RoutingKey::parse(key).map_err(|_| unauthorized("unknown integration key"))
}

/// Finds the service behind `key`, refreshing the catalog once if needed.
pub(crate) async fn service_for(
    app: &AppState,
    key: &RoutingKey,
    kind: IntegrationKind,
) -> Result<(Arc<escalator_core::directory::Catalog>, Service), ApiError> {
    let mut catalog = app.catalog();
    if catalog.integration_for_key(key).is_none() {
        catalog = app.refresh_catalog().await?;
    }
    match catalog.integration_for_key(key) {
        Some((service, integration)) if integration.kind == kind => {
            let service = service.clone();
            Ok((catalog, service))
        }
        Some((_, integration)) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!(
                "this key belongs to a {} integration, not {}",
                integration.kind.type_name(),
                kind.type_name()
            ),
        )),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "unknown integration key",
        )),
    }
}

/// Alertmanager's severity label in PagerDuty's four levels; unknown ones count as `error`.
fn severity(label: Option<&str>) -> &'static str {
    match label.map(str::to_ascii_lowercase).as_deref() {
        Some("critical" | "page" | "emergency" | "fatal") => "critical",
        Some("warning" | "warn" | "medium" | "minor") => "warning",
        Some("info" | "informational" | "low" | "none" | "notice") => "info",
        _ => "error",
    }
}

fn text<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// What every alert of one request shares, cut once.
struct Shared {
    external_url: Option<Value>,
    group_key: Option<Value>,
}

impl Shared {
    fn of(payload: &Value) -> Self {
        let cut = |field: &str| {
            payload
                .get(field)
                .and_then(Value::as_str)
                .map(|s| Value::from(cap_text(s, MAX_SHARED_BYTES).into_owned()))
        };
        Self {
            external_url: cut("externalURL"),
            group_key: cut("groupKey"),
        }
    }
}

/// One alert of the payload as an event, or why it cannot be one.
fn alert_event(i: usize, alert: &Value, shared: &Shared) -> Result<Normalized, String> {
    let empty = Map::new();
    let labels = alert
        .get("labels")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let annotations = alert
        .get("annotations")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let fingerprint = alert
        .get("fingerprint")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("alerts[{i}].fingerprint is missing"))?;
    let dedup_key =
        DedupKey::parse(fingerprint).map_err(|e| format!("alerts[{i}].fingerprint {e}"))?;
    let action = match alert.get("status").and_then(Value::as_str) {
        Some("firing") => EventAction::Trigger,
        Some("resolved") => EventAction::Resolve,
        other => {
            return Err(format!(
                "alerts[{i}].status is {other:?}; expected firing or resolved"
            ));
        }
    };
    let alertname = text(labels, "alertname");
    let summary = text(annotations, "summary")
        .or(text(annotations, "description"))
        .or(alertname)
        .unwrap_or("Alertmanager alert")
        .to_owned();
    let details = json!({
        "source": text(labels, "instance").or(text(labels, "job")).unwrap_or("alertmanager"),
        "severity": severity(text(labels, "severity")),
        "labels": labels,
        "annotations": annotations,
        "custom_details": annotations,
        "timestamp": alert.get("startsAt"),
        "client": "Alertmanager",
        "client_url": alert.get("generatorURL").or(shared.external_url.as_ref()),
        "group_key": shared.group_key,
    });
    Ok(Normalized {
        action,
        dedup_key: Some(dedup_key),
        summary,
        details,
    })
}

/// Receive an Alertmanager webhook (payload version 4).
#[utoipa::path(post, path = "/integrations/alertmanager", tag = "events",
    params(("key" = Option<String>, Query, description = "Integration key, if not sent as a bearer token")),
    request_body(content = serde_json::Value, description = "Alertmanager webhook payload, version 4"),
    responses((status = 200, description = "Every alert durably processed", body = Object),
              (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody),
              (status = 413, body = super::error::ErrorBody), (status = 429, description = "Throttled; see Retry-After")))]
pub async fn receive(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<KeyQuery>,
    body: Body,
) -> Response {
    match receive_inner(&app, &headers, q.key.as_deref(), body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn receive_inner(
    app: &AppState,
    headers: &HeaderMap,
    key: Option<&str>,
    body: Body,
) -> Result<Response, ApiError> {
    let key = integration_key(headers, key)?;
    let (_, service) = service_for(app, &key, IntegrationKind::Alertmanager).await?;
    if let Err(r) = app.rate_limiter.ready(key.as_str()) {
        return Ok(refused(r, "alerts"));
    }
    let payload = read_json(body).await?;
    match payload.get("version").and_then(Value::as_str) {
        Some("4") => {}
        other => {
            return Err(ApiError::bad_field(
                "version",
                format!("payload version {other:?} is not supported; Alertmanager sends \"4\""),
            ));
        }
    }
    let alerts = payload
        .get("alerts")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_field("alerts", "alerts must be a list"))?;
    if alerts.len() > MAX_ALERTS {
        tracing::warn!(
            alerts = alerts.len(),
            "alertmanager request refused: more than {MAX_ALERTS} alerts"
        );
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "{} alerts in one request; at most {MAX_ALERTS} (set max_alerts: {MAX_ALERTS} in Alertmanager's webhook_configs)",
                alerts.len()
            ),
        )
        .field("alerts"));
    }
    // Check every alert before saving any: a bad payload changes nothing.
    let shared = Shared::of(&payload);
    let events: Vec<Normalized> = alerts
        .iter()
        .enumerate()
        .map(|(i, a)| alert_event(i, a, &shared))
        .collect::<Result<_, _>>()
        .map_err(|m| ApiError::bad_field("alerts", m))?;
    drop(payload);
    let total = events.len();
    // Every alert is an event against the key's limit: all pass or none.
    if let Err(r) = app.rate_limiter.take(key.as_str(), total as u32) {
        return Ok(refused(r, "alerts"));
    }
    // Submitted together, they usually commit in one batch.
    let results = futures_join(app, &service, events).await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    if failed > 0 {
        let first = results
            .into_iter()
            .find_map(Result::err)
            .map(|e| e.to_string())
            .unwrap_or_default();
        // Alertmanager retries the whole notification; saved alerts dedup by fingerprint.
        return Err(ApiError::unavailable(format_args!(
            "{failed} of {total} alertmanager alerts not saved: {first}"
        )));
    }
    Ok((
        StatusCode::OK,
        Json(json!({"status": "success", "processed": total})),
    )
        .into_response())
}

async fn futures_join(
    app: &AppState,
    service: &Service,
    events: Vec<Normalized>,
) -> Vec<Result<(), crate::runner::RunError>> {
    let mut set = tokio::task::JoinSet::new();
    for (i, e) in events.into_iter().enumerate() {
        let (app, service) = (app.clone(), service.clone());
        set.spawn(async move {
            (
                i,
                ingest(&app, &service, "alertmanager", e).await.map(|_| ()),
            )
        });
    }
    let mut out: Vec<(usize, Result<(), crate::runner::RunError>)> = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap_or_else(|e| {
            (
                usize::MAX,
                Err(crate::runner::RunError::Store(e.to_string())),
            )
        }));
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}
