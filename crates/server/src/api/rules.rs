//! `/api/v1/rules`: the rules in force with their review dates, and a dry run
//! that shows what the rules would decide for an event without creating anything.
//!
//! The dry run is open to viewers: it reads, and it runs as ingestion does —
//! within the rules' cost budget and time limit, on the blocking pool — but
//! one at a time per node, apart from ingestion (`AppState::dry_runs`), so
//! that nobody's dry runs can delay a page.

use super::auth::Caller;
use super::error::{ApiError, parse_json};
use crate::AppState;
use crate::ingest::Normalized;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use escalator_core::auth::Role;
use escalator_core::duration::Duration;
use escalator_core::events_v2::EventAction;
use escalator_core::ids::{DedupKey, ServiceId};
use escalator_core::rules::{RuleSpec, due_for_review};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewQuery {
    /// `overdue`: only rules whose review date has passed.
    pub review: Option<String>,
    /// Only rules due for review within this period (e.g. `30d`), overdue ones included.
    pub due_within: Option<String>,
}

fn today() -> jiff::civil::Date {
    jiff::tz::TimeZone::UTC.to_datetime(Timestamp::now()).date()
}

/// The rules in force; with `review=overdue` or `due_within=30d`, those whose review is due.
#[utoipa::path(get, path = "/rules", tag = "rules", params(ReviewQuery),
    responses((status = 200, body = Object), (status = 400, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<ReviewQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let catalog = app.catalog();
    let rules = &catalog.config().rules;
    let selected: Vec<&RuleSpec> = match (q.review.as_deref(), q.due_within.as_deref()) {
        (None, None) => rules.iter().collect(),
        (Some("overdue"), None) => due_for_review(rules, today(), None),
        (Some(other), None) => {
            return Err(ApiError::bad_field(
                "review",
                format!("review must be \"overdue\", not {other:?}"),
            ));
        }
        (None, Some(d)) => {
            let d = Duration::parse(d)
                .map_err(|e| ApiError::bad_field("due_within", format!("due_within {e}")))?;
            due_for_review(rules, today(), Some((d.as_secs() / 86_400) as u32))
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_field(
                "review",
                "use review or due_within, not both",
            ));
        }
    };
    let today = today();
    let view: Vec<Value> = selected
        .into_iter()
        .map(|r| {
            let overdue = r.review_by.is_some_and(|d| d < today);
            json!({"rule": r, "review_overdue": overdue})
        })
        .collect();
    Ok(Json(json!({"today": today.to_string(), "rules": view})))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest {
    pub service: String,
    /// The event as rules see it (`summary`, `source`, `severity`, `labels`,
    /// `custom_details`…), or an Events API v2 body whose `payload` is lifted.
    #[schema(value_type = Object)]
    pub event: Value,
}

/// The normalized event for a dry run: an Events API v2 body's payload, or
/// the event as given; cleaned as a live event is, so rules see the same.
pub fn event_for_evaluation(event: &Value) -> Normalized {
    let payload = event
        .get("payload")
        .filter(|p| p.is_object())
        .unwrap_or(event);
    let summary = payload
        .get("summary")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let dedup_key = event
        .get("dedup_key")
        .and_then(Value::as_str)
        .and_then(|k| DedupKey::parse(k).ok());
    Normalized {
        action: EventAction::Trigger,
        dedup_key,
        summary,
        details: payload.clone(),
    }
    .cleaned()
}

/// What the rules would decide for this event on this service. Creates nothing.
/// `503 rules_timeout` when they do not finish within the server's rules time
/// limit (ingestion would page with the unfinished rules counted as not matched).
#[utoipa::path(post, path = "/rules/evaluate", tag = "rules", request_body = EvaluateRequest,
    responses((status = 200, body = Object), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 503, description = "The rules ran out of time", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn evaluate(
    State(app): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let req: EvaluateRequest = parse_json(&body)?;
    if !req.event.is_object() {
        return Err(ApiError::bad_field("event", "event must be a JSON object"));
    }
    let catalog = app.catalog();
    let id = ServiceId::parse(&req.service)
        .map_err(|e| ApiError::bad_field("service", format!("service {e}")))?;
    let service = catalog
        .service(&id)
        .ok_or_else(|| ApiError::not_found(format!("service {:?} not found", req.service)))?;
    let event = event_for_evaluation(&req.event);
    let key = event
        .dedup_key
        .clone()
        .unwrap_or_else(|| DedupKey::parse("dry-run").expect("valid key"));
    let decided =
        crate::ingest::decide_in_time(&app.dry_runs, catalog.clone(), service, &event, &key).await;
    let decision = match decided {
        Some(d) if d.timed_out => {
            let unfinished: Vec<String> = d
                .decision
                .errors
                .iter()
                .map(|(rule, why)| format!("{rule} ({why})"))
                .collect();
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "rules_timeout",
                format!(
                    "the rules did not finish within {} s: {}; ingesting this event would page \
                     with those rules counted as not matched",
                    app.dry_runs.timeout().as_secs(),
                    unfinished.join(", ")
                ),
            ));
        }
        Some(d) => d.decision,
        None => Default::default(),
    };
    let policy = catalog.policy(&service.escalation_policy);
    let levels = policy.map(|p| p.level_count()).unwrap_or(0);
    Ok(Json(json!({
        "service": service.id,
        "decision": decision,
        "start_level": decision.start_level.unwrap_or(1).clamp(1, levels.max(1)),
        "escalation_policy": service.escalation_policy,
        "paged": !decision.suppressed,
    })))
}
