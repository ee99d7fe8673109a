//! `POST /api/v1/integrations/generic/{key}`: any JSON body, turned into an
//! event by the integration's mapping — one CEL expression per field, over
//! `body` (`summary: 'body.title'`, `action: 'body.state == "ok" ? "resolve" : "trigger"'`).

use super::alertmanager::service_for;
use super::body::read_json;
use super::error::ApiError;
use super::events_v2::refused;
use crate::AppState;
use crate::ingest::{Normalized, ingest};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use escalator_core::config::{IntegrationKind, Mapping};
use escalator_core::details::{MAX_SUMMARY_CHARS, cap_chars};
use escalator_core::events_v2::EventAction;
use escalator_core::ids::{DedupKey, RoutingKey};
use escalator_core::rules::{Limits, compile_expression};
use serde_json::{Value, json};

/// The mapping applied to one body within `limits`. Errors name the mapping field.
pub fn map_event(mapping: &Mapping, body: &Value, limits: &Limits) -> Result<Normalized, ApiError> {
    let vars = [("body", body)];
    let eval = |field: &str, expr: Option<&str>| -> Result<Option<String>, ApiError> {
        let Some(expr) = expr else { return Ok(None) };
        let compiled = compile_expression(expr)
            .map_err(|e| ApiError::internal(format!("mapping.{field}: {e}")))?;
        compiled.eval_string_with(&vars, limits).map_err(|e| {
            ApiError::bad_field(
                &format!("mapping.{field}"),
                format!("mapping.{field} ({expr}) failed on this body: {e}"),
            )
        })
    };
    let summary = eval("summary", Some(&mapping.summary))?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            ApiError::bad_field(
                "mapping.summary",
                format!(
                    "mapping.summary ({}) gave no text for this body",
                    mapping.summary
                ),
            )
        })?;
    let summary = cap_chars(summary, MAX_SUMMARY_CHARS);
    let dedup_key = eval("dedup_key", mapping.dedup_key.as_deref())?
        .map(|k| {
            DedupKey::parse(&k).map_err(|e| {
                ApiError::bad_field(
                    "mapping.dedup_key",
                    format!("mapping.dedup_key gave {k:?}: {e}"),
                )
            })
        })
        .transpose()?;
    let severity = match eval("severity", mapping.severity.as_deref())?.as_deref() {
        None => "error".to_owned(),
        Some(s @ ("critical" | "error" | "warning" | "info")) => s.to_owned(),
        Some(other) => {
            return Err(ApiError::bad_field(
                "mapping.severity",
                format!(
                    "mapping.severity gave {other:?}; expected critical, error, warning or info"
                ),
            ));
        }
    };
    let action = match eval("action", mapping.action.as_deref())?.as_deref() {
        None | Some("trigger") => EventAction::Trigger,
        Some("acknowledge") => EventAction::Acknowledge,
        Some("resolve") => EventAction::Resolve,
        Some(other) => {
            return Err(ApiError::bad_field(
                "mapping.action",
                format!("mapping.action gave {other:?}; expected trigger, acknowledge or resolve"),
            ));
        }
    };
    if action != EventAction::Trigger && dedup_key.is_none() {
        return Err(ApiError::bad_field(
            "mapping.dedup_key",
            "acknowledging or resolving needs a dedup_key from the mapping",
        ));
    }
    let source =
        eval("source", mapping.source.as_deref())?.unwrap_or_else(|| "generic webhook".into());
    let details = json!({"source": source, "severity": severity, "custom_details": body, "client": "generic webhook"});
    Ok(Normalized {
        action,
        dedup_key,
        summary,
        details,
    })
}

/// Receive any JSON body and map it to an event with the integration's CEL mapping.
#[utoipa::path(post, path = "/integrations/generic/{key}", tag = "events", params(("key" = String, Path, description = "The integration key")),
    request_body(content = serde_json::Value, description = "Any JSON object"),
    responses((status = 202, description = "Durably accepted", body = Object), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody), (status = 413, body = super::error::ErrorBody),
              (status = 429, description = "Throttled; see Retry-After")))]
pub async fn receive(State(app): State<AppState>, Path(key): Path<String>, body: Body) -> Response {
    match receive_inner(&app, &key, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn receive_inner(app: &AppState, key: &str, body: Body) -> Result<Response, ApiError> {
    let key = RoutingKey::parse(key).map_err(|_| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "unknown integration key",
        )
    })?;
    let (catalog, service) = service_for(app, &key, IntegrationKind::Generic).await?;
    if let Err(r) = app.rate_limiter.take(key.as_str(), 1) {
        return Ok(refused(r, "body"));
    }
    let Some(mapping) = catalog
        .integration_for_key(&key)
        .and_then(|(_, i)| i.mapping.clone())
    else {
        return Err(ApiError::internal("generic integration without a mapping"));
    };
    let body = read_json(body).await?;
    let mapped = app
        .evaluator
        .run(move |limits| map_event(&mapping, &body, limits))
        .await;
    let event = match mapped.value {
        Some(event) if !mapped.timed_out => event?,
        _ => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "mapping_timeout",
                format!(
                    "the mapping did not finish within {} s",
                    app.evaluator.timeout().as_secs()
                ),
            ));
        }
    };
    let (dedup_key, _) = ingest(app, &service, "generic", event).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"status": "success", "dedup_key": dedup_key})),
    )
        .into_response())
}
