//! Incident communication: roles (`PUT /incidents/{id}/roles`) and status
//! updates to stakeholders (`POST /incidents/{id}/updates`).
//!
//! Who may publish an update: tokens carry a role, and optionally the user
//! they act for (`escalator token create --user`). A token bound to a user
//! publishes as that user, and only while the user is the incident's
//! commander or communications lead. A token bound to nobody cannot prove it
//! is either, so it needs the `manager` role, and the token's name is what
//! the timeline and the audit trail record as the author.
//!
//! Who may change a role is `core::comms` (`Roles::change`), decided in the
//! store's transaction on the holders read under its lock: a free role may be
//! filled by any responder; a held one only by its holder, the commander (for
//! the other roles) or a manager — so nobody makes themselves commander over
//! another to gain the right to publish.

use super::auth::Caller;
use super::error::{ApiError, parse_json};
use super::incidents::IncidentView;
use crate::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use escalator_core::auth::Role;
use escalator_core::comms::IncidentRole;
use escalator_core::directory::Catalog;
use escalator_core::duration::Duration;
use escalator_core::engine::Input;
use escalator_core::ids::{IncidentId, UserId};
use escalator_core::{json, text};
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;

/// The roles body, for the OpenAPI document (the handler reads it as a map,
/// to tell a role left out from one cleared with `null`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RolesRequest {
    /// A user id; `null` or `""` clears the role.
    pub commander: Option<String>,
    /// The communications lead.
    pub comms_lead: Option<String>,
    pub scribe: Option<String>,
}

/// Set incident roles: `{"commander": "alice", "comms_lead": "bob", "scribe": null}`.
/// A role left out keeps its holder; `null` or `""` clears it. Holders must
/// be users of the configuration in force. A free role may be given by any
/// responder; a held one only by its holder (the token's user), the
/// commander (for the comms lead and the scribe) or a manager (403 otherwise).
#[utoipa::path(put, path = "/incidents/{id}/roles", tag = "incidents", params(("id" = i64, Path)),
    request_body = RolesRequest,
    responses((status = 200, body = IncidentView), (status = 400, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_roles(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<IncidentView>, ApiError> {
    caller.require(Role::Responder)?;
    // Strict JSON: a role named twice is ambiguous, not last-wins.
    let changes = match json::from_slice(&body).map_err(super::body::refused)? {
        serde_json::Value::Object(changes) => changes,
        _ => return Err(ApiError::bad_field("body", "expected an object of roles")),
    };
    if changes.is_empty() {
        return Err(ApiError::bad_field(
            "body",
            "name at least one role: commander, comms_lead or scribe",
        ));
    }
    let row = super::incidents::load(&app, id).await?;
    let catalog = app.refresh_catalog().await?;
    let mut set = Vec::with_capacity(changes.len());
    for (name, value) in changes {
        let role = IncidentRole::parse(&name).ok_or_else(|| {
            ApiError::bad_field(
                &name,
                format!(
                    "unknown role {name:?}; expected one of: {}",
                    IncidentRole::names()
                ),
            )
        })?;
        let holder = match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) if s.is_empty() => None,
            serde_json::Value::String(s) => Some(
                known_user(&catalog, &s)
                    .ok_or_else(|| ApiError::bad_field(&name, format!("unknown user {s:?}")))?
                    .to_string(),
            ),
            _ => {
                return Err(ApiError::bad_field(
                    &name,
                    "expected a user id, or null to clear the role",
                ));
            }
        };
        set.push((role, holder));
    }
    let roles = app
        .store
        .set_roles(
            IncidentId(id),
            &set,
            &caller.principal(),
            &caller.actor(),
            Timestamp::now(),
        )
        .await??;
    let mut view = IncidentView::new(&row.incident, row.details, &app.public_url);
    view.roles = Some(roles);
    Ok(Json(view))
}

/// `id` as a user of the configuration in force.
pub fn known_user(catalog: &Catalog, id: &str) -> Option<UserId> {
    UserId::parse(id).ok().filter(|u| catalog.user(u).is_some())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    /// What stakeholders are told (1 to 4096 bytes).
    pub message: String,
    /// When the next update will come, e.g. `30m`; shown to stakeholders.
    pub next_update_in: Option<String>,
}

/// Publish a status update to every stakeholder of the levels the incident
/// has reached, each with their template; recorded on the timeline. Only the
/// incident's commander or communications lead may (see the module notes).
#[utoipa::path(post, path = "/incidents/{id}/updates", tag = "incidents", params(("id" = i64, Path)),
    request_body = UpdateRequest,
    responses((status = 200, body = IncidentView), (status = 400, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 409, description = "Already resolved", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn publish_update(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<IncidentView>, ApiError> {
    caller.require(Role::Responder)?;
    let req: UpdateRequest = parse_json(&body)?;
    let message = text::clean(&req.message).trim().to_owned();
    if message.is_empty() || message.len() > 4096 {
        return Err(ApiError::bad_field(
            "message",
            "message must be 1 to 4096 bytes",
        ));
    }
    let next_in = req
        .next_update_in
        .as_deref()
        .map(Duration::parse)
        .transpose()
        .map_err(|e| ApiError::bad_field("next_update_in", e.to_string()))?;
    super::incidents::load(&app, id).await?;
    let roles = app.store.comms(IncidentId(id)).await?.roles;
    let actor = match &caller.token.user {
        Some(user) if roles.may_publish(user) => user.clone(),
        Some(user) => {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "{user} is not the commander or communications lead of incident {id} ({})",
                    roles.describe()
                ),
            ));
        }
        None => {
            caller.require(Role::Manager).map_err(|mut e| {
                e.message = format!(
                    "{}: a token bound to no user cannot show it is the commander or communications lead (create one with --user)",
                    e.message
                );
                e
            })?;
            caller.actor()
        }
    };
    let now = Timestamp::now();
    let input = Input::Update {
        actor,
        message,
        next_update_at: next_in.map(|d| now + d.to_span()),
    };
    let mut view = super::incidents::act(&app, id, input).await?;
    view.roles = Some(roles);
    Ok(view)
}
