//! Incident communication: roles (`PUT /incidents/{id}/roles`).

use super::auth::Caller;
use super::error::{ApiError, parse_json};
use super::incidents::IncidentView;
use crate::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use escalator_core::auth::Role;
use escalator_core::ids::{IncidentId, UserId};
use escalator_store::Roles;
use jiff::Timestamp;

/// Set incident roles: `{"commander": "alice", "comms_lead": "bob", "scribe": null}`.
/// A role left out keeps its holder; `null` or `""` clears it. Holders must
/// be users of the configuration in force.
#[utoipa::path(put, path = "/incidents/{id}/roles", tag = "incidents", params(("id" = i64, Path)),
    request_body(content = Object, description = "commander, comms_lead, scribe: user ids"),
    responses((status = 200, body = IncidentView), (status = 400, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_roles(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<IncidentView>, ApiError> {
    caller.require(Role::Responder)?;
    let changes: serde_json::Map<String, serde_json::Value> = parse_json(&body)?;
    let row = app
        .store
        .incident(IncidentId(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("incident {id} not found")))?;
    let catalog = app.refresh_catalog().await?;
    let mut roles = app.store.comms(IncidentId(id)).await?.roles;
    for (name, value) in changes {
        let Some(slot) = roles.slot(&name) else {
            return Err(ApiError::bad_field(
                &name,
                format!(
                    "unknown role {name:?}; expected one of: {}",
                    Roles::NAMES.join(", ")
                ),
            ));
        };
        *slot = match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) if s.is_empty() => None,
            serde_json::Value::String(s) => {
                let user = UserId::parse(&s)
                    .ok()
                    .filter(|u| catalog.user(u).is_some())
                    .ok_or_else(|| ApiError::bad_field(&name, format!("unknown user {s:?}")))?;
                Some(user.to_string())
            }
            _ => {
                return Err(ApiError::bad_field(
                    &name,
                    "expected a user id, or null to clear the role",
                ));
            }
        };
    }
    app.store
        .set_roles(IncidentId(id), &roles, &caller.actor(), Timestamp::now())
        .await?;
    let mut view = IncidentView::new(&row.incident, row.details, &app.public_url);
    view.roles = Some(roles);
    Ok(Json(view))
}
