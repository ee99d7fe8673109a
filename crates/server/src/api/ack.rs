//! `GET|POST /api/v1/ack/{token}`: the signed link in every page. It
//! acknowledges as the user it was sent to; no bearer token needed.

use super::error::ApiError;
use crate::AppState;
use crate::links::LinkError;
use crate::runner::{Done, RunError, Work};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use escalator_core::engine::{EngineError, Input};
use escalator_core::ids::IncidentId;

/// Acknowledge through a signed link from a notification.
#[utoipa::path(get, path = "/ack/{token}", tag = "incidents", params(("token" = String, Path)),
    responses((status = 200, description = "Acknowledged", body = String),
              (status = 403, description = "Invalid link", body = super::error::ErrorBody),
              (status = 409, description = "Already resolved", body = super::error::ErrorBody),
              (status = 410, description = "Link expired", body = super::error::ErrorBody)))]
pub async fn ack_get(state: State<AppState>, token: Path<String>) -> Result<String, ApiError> {
    ack(state, token).await
}

/// The same as `GET`, for clients that will not follow a link with `GET`.
#[utoipa::path(post, path = "/ack/{token}", tag = "incidents", params(("token" = String, Path)),
    responses((status = 200, description = "Acknowledged", body = String),
              (status = 403, description = "Invalid link", body = super::error::ErrorBody),
              (status = 410, description = "Link expired", body = super::error::ErrorBody)))]
pub async fn ack_post(state: State<AppState>, token: Path<String>) -> Result<String, ApiError> {
    ack(state, token).await
}

async fn ack(State(app): State<AppState>, Path(token): Path<String>) -> Result<String, ApiError> {
    let claim = app
        .links
        .verify(&token, jiff::Timestamp::now())
        .map_err(|e| match e {
            LinkError::Expired(_) => ApiError::new(StatusCode::GONE, "link_expired", e.to_string()),
            _ => ApiError::new(StatusCode::FORBIDDEN, "invalid_link", e.to_string()),
        })?;
    let input = Input::Acknowledge {
        actor: format!("user:{} (ack link)", claim.user),
    };
    match app
        .runner
        .submit(Work::Act {
            incident: IncidentId(claim.incident),
            input,
        })
        .await
    {
        Ok(Done::Act(i)) => Ok(format!(
            "Incident #{} \"{}\" is {} (by {}).\n",
            i.id,
            i.title,
            i.status,
            i.acknowledged_by.as_deref().unwrap_or("someone")
        )),
        Ok(_) => Err(ApiError::internal("unexpected runner answer")),
        Err(RunError::Engine(EngineError::Resolved)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "incident_resolved",
            format!("incident #{} is already resolved", claim.incident),
        )),
        Err(e) => Err(e.into()),
    }
}
