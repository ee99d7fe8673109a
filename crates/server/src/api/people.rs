//! A user's availability (`away` windows set through the API) and their
//! personal calendar feed, reachable by calendar apps through a revocable
//! secret URL since those apps cannot send bearer tokens. Both are changed by
//! the user themselves (a token bound to them) or by a manager
//! (`Principal::may_act_for`), never by one responder for another.

use super::auth::{Caller, hash_token};
use super::error::{ApiError, parse_json};
use super::schedules::{feed_span, ics, parse_instant};
use crate::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine;
use escalator_core::auth::Role;
use escalator_core::extras;
use escalator_core::ids::UserId;
use escalator_core::schedule::ical;
use escalator_core::text;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

fn known_user(app: &AppState, id: &str) -> Result<UserId, ApiError> {
    let user =
        UserId::parse(id).map_err(|_| ApiError::not_found(format!("user {id:?} not found")))?;
    match app.catalog().user(&user) {
        Some(_) => Ok(user),
        None => Err(ApiError::not_found(format!("user {id:?} not found"))),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAvailability {
    /// false: away from now (skipped by every target) until `until` or until set available.
    pub available: bool,
    /// RFC 3339; only with `available: false`; at most 90 days from now.
    /// Left out: until further notice, which needs the manager role.
    pub until: Option<String>,
    pub reason: Option<String>,
}

/// Whether a user can be paged now, and every away window that applies.
#[utoipa::path(get, path = "/users/{id}/availability", tag = "configuration", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn availability(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let user = known_user(&app, &id)?;
    let catalog = app.catalog();
    let now = Timestamp::now();
    let configured = catalog
        .user(&user)
        .map(|u| u.away.clone())
        .unwrap_or_default();
    let set = app
        .store
        .availabilities()
        .await?
        .into_iter()
        .find(|a| a.user == user);
    Ok(Json(json!({
        "user": user,
        "available_now": catalog.away_at(&user, now).is_none(),
        "configured_away": configured,
        "set_through_api": set,
    })))
}

/// Mark a user away (until a time at most 90 days ahead, or — managers only —
/// until further notice) or available again. A responder's token may do so
/// only for the user it is bound to; anyone else's needs the manager role.
#[utoipa::path(put, path = "/users/{id}/availability", tag = "configuration", params(("id" = String, Path)),
    request_body = SetAvailability,
    responses((status = 200, body = Object), (status = 400, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 422, description = "`until` too far ahead, or left out by a responder", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_availability(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Responder)?;
    let user = known_user(&app, &id)?;
    caller.require_for(&user, "user")?;
    let req: SetAvailability = parse_json(&body)?;
    let now = Timestamp::now();
    let until = match (&req.until, req.available) {
        (Some(_), true) => {
            return Err(ApiError::bad_field(
                "until",
                "until applies only with available: false",
            ));
        }
        (Some(u), false) => Some(parse_instant(Some(u), "until", now)?),
        (None, _) => None,
    };
    if until.is_some_and(|u| u <= now) {
        return Err(ApiError::bad_field("until", "until must be in the future"));
    }
    if !req.available {
        extras::check_away(until, caller.token.role.allows(Role::Manager), now)?;
    }
    if req.reason.as_ref().is_some_and(|r| r.len() > 1024) {
        return Err(ApiError::bad_field(
            "reason",
            "reason must be at most 1024 bytes",
        ));
    }
    app.store
        .set_availability(
            &user,
            !req.available,
            until,
            req.reason.as_deref().map(text::clean).as_deref(),
            &caller.actor(),
            now,
        )
        .await?;
    app.refresh_catalog().await?;
    availability(State(app), caller, Path(id)).await
}

/// Create (or replace, revoking the old one) a user's secret calendar feed
/// URL: one's own (a token bound to the user), or anyone's as a manager.
#[utoipa::path(post, path = "/users/{id}/calendar_feed", tag = "schedules", params(("id" = String, Path)),
    responses((status = 201, body = Object), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create_feed(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Responder)?;
    let user = known_user(&app, &id)?;
    caller.require_for(&user, "user")?;
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(ApiError::internal)?;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    app.store
        .set_calendar_feed(
            &user,
            &hash_token(&secret),
            &caller.actor(),
            Timestamp::now(),
        )
        .await?;
    let url = format!("{}/api/v1/calendar/{secret}.ics", app.public_url);
    Ok((StatusCode::CREATED, Json(json!({"user": user, "url": url}))))
}

/// Revoke a user's calendar feed URL: one's own, or anyone's as a manager.
#[utoipa::path(delete, path = "/users/{id}/calendar_feed", tag = "schedules", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn revoke_feed(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Responder)?;
    let user = known_user(&app, &id)?;
    caller.require_for(&user, "user")?;
    match app
        .store
        .revoke_calendar_feed(&user, &caller.actor(), Timestamp::now())
        .await?
    {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::not_found(format!(
            "user {id:?} has no calendar feed"
        ))),
    }
}

/// A user's shifts on every schedule, for calendar apps. The secret in the URL is the credential.
#[utoipa::path(get, path = "/calendar/{secret}", tag = "schedules", params(("secret" = String, Path, description = "SECRET.ics")),
    responses((status = 200, content_type = "text/calendar", body = String), (status = 404, body = super::error::ErrorBody)))]
pub async fn feed(
    State(app): State<AppState>,
    Path(file): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let secret = file.strip_suffix(".ics").unwrap_or(&file);
    // Unknown and revoked secrets look the same: nothing to learn by guessing.
    let Some(user) = app.store.calendar_feed_user(&hash_token(secret)).await? else {
        return Err(ApiError::not_found("no such calendar"));
    };
    let (from, to) = feed_span();
    let catalog = app.catalog();
    let mut events = Vec::new();
    for s in catalog.schedules() {
        let mine: Vec<_> = s
            .shifts(from, to)
            .into_iter()
            .filter(|sh| sh.user == user)
            .collect();
        events.extend(ical::shift_events(&s.id, &mine));
    }
    Ok(ics(ical::calendar(&format!("On call: {user}"), &events)))
}
