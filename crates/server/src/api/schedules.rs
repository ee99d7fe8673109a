//! `/api/v1/schedules` and `/api/v1/oncall`: who is on call, the final shifts
//! and the gaps of each schedule, its iCalendar feed, and overrides made
//! through the API (kept beside the configuration, audited). A responder's
//! override puts only themselves on call (taking a shift), and only a
//! manager's puts anyone else; both within `core::extras`' horizon.

use super::auth::Caller;
use super::error::{ApiError, parse_json};
use crate::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use escalator_core::auth::Role;
use escalator_core::config::Override;
use escalator_core::extras;
use escalator_core::ids::{ScheduleId, UserId};
use escalator_core::schedule::{CompiledSchedule, OnCall, Shift};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use utoipa::{IntoParams, ToSchema};

/// The longest span a shifts, gaps or calendar query may cover.
const MAX_SPAN: SignedDuration = SignedDuration::from_hours(24 * 366);
const DEFAULT_SPAN: SignedDuration = SignedDuration::from_hours(24 * 7);

pub(crate) fn parse_instant(
    value: Option<&str>,
    field: &str,
    default: Timestamp,
) -> Result<Timestamp, ApiError> {
    match value {
        None | Some("") => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            ApiError::bad_field(
                field,
                format!(
                    "{field} must be an RFC 3339 timestamp such as 2026-12-24T18:00:00Z, not {v:?}"
                ),
            )
        }),
    }
}

/// `from` and `to` of a span query, checked: `from < to`, at most a year apart.
pub(crate) fn span(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Timestamp, Timestamp), ApiError> {
    let from = parse_instant(from, "from", Timestamp::now())?;
    let to = parse_instant(to, "to", from + DEFAULT_SPAN)?;
    if to <= from {
        return Err(ApiError::bad_field("to", "to must be later than from"));
    }
    if to.duration_since(from) > MAX_SPAN {
        return Err(ApiError::bad_field(
            "to",
            "a query may span at most 366 days",
        ));
    }
    Ok((from, to))
}

fn schedule_id(id: &str) -> Result<ScheduleId, ApiError> {
    ScheduleId::parse(id)
        .map_err(|e| ApiError::not_found(format!("schedule {id:?} not found ({e})")))
}

fn with_schedule<T>(
    app: &AppState,
    id: &str,
    f: impl FnOnce(&CompiledSchedule) -> T,
) -> Result<T, ApiError> {
    let catalog = app.catalog();
    let sid = schedule_id(id)?;
    catalog
        .schedule(&sid)
        .map(f)
        .ok_or_else(|| ApiError::not_found(format!("schedule {id:?} not found")))
}

pub(crate) fn on_call_view(v: &[OnCall]) -> Value {
    json!(
        v.iter()
            .map(|o| json!({"user": o.user, "source": o.source}))
            .collect::<Vec<_>>()
    )
}

pub(crate) fn shift_view(s: &Shift) -> Value {
    json!({"user": s.user, "start": s.start.to_string(), "end": s.end.to_string(), "source": s.source})
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AtQuery {
    /// RFC 3339 instant; default now.
    pub at: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SpanQuery {
    /// RFC 3339 instant; default now.
    pub from: Option<String>,
    /// RFC 3339 instant; default `from` + 7 days; at most 366 days after `from`.
    pub to: Option<String>,
}

/// Every schedule, with its zone and layers.
#[utoipa::path(get, path = "/schedules", tag = "schedules", responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let catalog = app.catalog();
    Ok(Json(json!({"schedules": catalog.config().schedules})))
}

/// Who is on call on one schedule at `at`, and the layer or override that put them there.
#[utoipa::path(get, path = "/schedules/{id}/oncall", tag = "schedules", params(("id" = String, Path), AtQuery),
    responses((status = 200, body = Object), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn oncall(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<AtQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let at = parse_instant(q.at.as_deref(), "at", Timestamp::now())?;
    let on_call = with_schedule(&app, &id, |s| s.on_call_at(at))?;
    Ok(Json(
        json!({"schedule": id, "at": at.to_string(), "on_call": on_call_view(&on_call)}),
    ))
}

/// Who is on call on every schedule at `at`.
#[utoipa::path(get, path = "/oncall", tag = "schedules", params(AtQuery),
    responses((status = 200, body = Object), (status = 400, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn oncall_all(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<AtQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let at = parse_instant(q.at.as_deref(), "at", Timestamp::now())?;
    let catalog = app.catalog();
    let schedules: Vec<Value> = catalog
        .schedules()
        .map(|s| json!({"schedule": s.id, "on_call": on_call_view(&s.on_call_at(at))}))
        .collect();
    Ok(Json(json!({"at": at.to_string(), "schedules": schedules})))
}

/// The final shifts (after layers and overrides) between `from` and `to`.
#[utoipa::path(get, path = "/schedules/{id}/shifts", tag = "schedules", params(("id" = String, Path), SpanQuery),
    responses((status = 200, body = Object), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn shifts(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<SpanQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let (from, to) = span(q.from.as_deref(), q.to.as_deref())?;
    let shifts = with_schedule(&app, &id, |s| s.shifts(from, to))?;
    Ok(Json(json!({
        "schedule": id, "from": from.to_string(), "to": to.to_string(),
        "shifts": shifts.iter().map(shift_view).collect::<Vec<_>>(),
    })))
}

/// The stretches between `from` and `to` when nobody is on call.
#[utoipa::path(get, path = "/schedules/{id}/gaps", tag = "schedules", params(("id" = String, Path), SpanQuery),
    responses((status = 200, body = Object), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn gaps(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<SpanQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let (from, to) = span(q.from.as_deref(), q.to.as_deref())?;
    let gaps = with_schedule(&app, &id, |s| s.gaps(from, to))?;
    Ok(Json(json!({
        "schedule": id, "from": from.to_string(), "to": to.to_string(),
        "gaps": gaps.iter().map(|g| json!({"from": g.from.to_string(), "to": g.to.to_string()})).collect::<Vec<_>>(),
    })))
}

/// The schedule's shifts as an iCalendar (RFC 5545) feed: by default 7 days back, 90 ahead.
#[utoipa::path(get, path = "/schedules/{id}/calendar.ics", tag = "schedules", params(("id" = String, Path), SpanQuery),
    responses((status = 200, content_type = "text/calendar", body = String), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn calendar(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<SpanQuery>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let (from, to) = match (&q.from, &q.to) {
        (None, None) => feed_span(),
        _ => span(q.from.as_deref(), q.to.as_deref())?,
    };
    let body = with_schedule(&app, &id, |s| {
        let events = escalator_core::schedule::ical::shift_events(&s.id, &s.shifts(from, to));
        escalator_core::schedule::ical::calendar(&format!("On call: {id}"), &events)
    })?;
    Ok(ics(body))
}

pub(crate) fn feed_span() -> (Timestamp, Timestamp) {
    let now = Timestamp::now();
    (
        now - SignedDuration::from_hours(24 * 7),
        now + SignedDuration::from_hours(24 * 90),
    )
}

pub(crate) fn ics(body: String) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        body,
    )
}

/// The overrides of a schedule: from the configuration and made through the API.
#[utoipa::path(get, path = "/schedules/{id}/overrides", tag = "schedules", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn overrides(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let sid = schedule_id(&id)?;
    let catalog = app.catalog();
    let config = catalog
        .config()
        .schedule(&sid)
        .ok_or_else(|| ApiError::not_found(format!("schedule {id:?} not found")))?;
    let stored = app.store.overrides(&sid).await?;
    Ok(Json(json!({"configured": config.overrides, "api": stored})))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOverride {
    /// Who is on call instead: the token's own user, unless it has the manager role.
    pub user: String,
    /// Only instead of this user; absent: instead of whoever is on call.
    pub replaces: Option<String>,
    /// RFC 3339.
    pub from: String,
    /// RFC 3339, later than `from`, at most 90 days from now and 31 days after `from`.
    pub to: String,
}

#[derive(Serialize, ToSchema)]
pub struct Created {
    pub id: i64,
}

/// Add an override to a schedule. A responder takes a shift (puts their own
/// user on call); putting anyone else on call needs the manager role.
#[utoipa::path(post, path = "/schedules/{id}/overrides", tag = "schedules", params(("id" = String, Path)),
    request_body = NewOverride,
    responses((status = 201, body = Created), (status = 400, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 422, description = "`to` too far ahead, or the override too long", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_override(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    caller.require(Role::Responder)?;
    let sid = schedule_id(&id)?;
    let req: NewOverride = parse_json(&body)?;
    let catalog = app.catalog();
    if catalog.config().schedule(&sid).is_none() {
        return Err(ApiError::not_found(format!("schedule {id:?} not found")));
    }
    let known_user = |field: &str, u: &str| -> Result<UserId, ApiError> {
        let user =
            UserId::parse(u).map_err(|e| ApiError::bad_field(field, format!("{field} {e}")))?;
        catalog
            .user(&user)
            .ok_or_else(|| ApiError::bad_field(field, format!("unknown user {u:?}")))?;
        Ok(user)
    };
    let user = known_user("user", &req.user)?;
    caller.require_for(&user, "user")?;
    let replaces = req
        .replaces
        .as_deref()
        .map(|r| known_user("replaces", r))
        .transpose()?;
    let now = Timestamp::now();
    let from = parse_instant(Some(&req.from), "from", now)?;
    let to = parse_instant(Some(&req.to), "to", now)?;
    if to <= from {
        return Err(ApiError::bad_field("to", "to must be later than from"));
    }
    extras::check_override(from, to, now)?;
    let o = Override {
        user,
        replaces,
        from,
        to,
    };
    let new_id = app
        .store
        .add_override(&sid, &o, &caller.actor(), now)
        .await?;
    app.refresh_catalog().await?;
    Ok((StatusCode::CREATED, Json(Created { id: new_id })))
}

/// Remove an override made through the API: one that puts the token's own
/// user on call, or any as a manager.
#[utoipa::path(delete, path = "/schedules/{id}/overrides/{override_id}", tag = "schedules",
    params(("id" = String, Path), ("override_id" = i64, Path)),
    responses((status = 204), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn remove_override(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, oid)): Path<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Responder)?;
    let sid = schedule_id(&id)?;
    let not_found = || ApiError::not_found(format!("override {oid} not found on schedule {id:?}"));
    let user = app
        .store
        .overrides(&sid)
        .await?
        .into_iter()
        .find(|o| o.id == oid)
        .map(|o| o.window.user)
        .ok_or_else(not_found)?;
    caller.require_for(&user, "user")?;
    if !app
        .store
        .remove_override(&sid, oid, &user, &caller.actor(), Timestamp::now())
        .await?
    {
        return Err(not_found());
    }
    app.refresh_catalog().await?;
    Ok(StatusCode::NO_CONTENT)
}
