//! `/api/v1/templates/{id}/preview`: a template rendered for a real incident,
//! exactly as its audience would get it (redacted for everyone but responders).

use super::auth::Caller;
use super::error::ApiError;
use crate::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use escalator_core::auth::Role;
use escalator_core::templates::{Facts, render};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// The incident to render the template for.
    pub incident: i64,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewView {
    pub subject: String,
    pub text: String,
    /// responder, stakeholder, executive or external.
    pub audience: String,
}

/// Render a template (a configured id, `default-<audience>` or an audience
/// name) for an incident at its current level.
#[utoipa::path(get, path = "/templates/{id}/preview", tag = "configuration",
    params(("id" = String, Path), PreviewQuery),
    responses((status = 200, body = PreviewView), (status = 404, body = super::error::ErrorBody),
              (status = 422, description = "The template does not render", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn preview(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<PreviewQuery>,
) -> Result<Json<PreviewView>, ApiError> {
    caller.require(Role::Viewer)?;
    let catalog = app.refresh_catalog().await?;
    let row = super::incidents::load(&app, q.incident).await?;
    let incident = &row.incident;
    let template = catalog
        .config()
        .template(&id, incident.level)
        .ok_or_else(|| ApiError::not_found(format!("template {id:?} not found")))?;
    let url = crate::links::incident_url(&app.public_url, incident.id);
    let comms = app.store.comms(incident.id).await?;
    let facts = Facts {
        event: "preview",
        update: comms.last_update.as_deref(),
        next_update_at: comms.next_update_at,
        ..Facts::new(incident, &catalog, &row.details, &url)
    };
    let r = render(template, &facts).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "template_error",
            format!("template {:?}: {e}", template.id),
        )
    })?;
    Ok(Json(PreviewView {
        subject: r.subject,
        text: r.text,
        audience: r.audience.as_str().to_owned(),
    }))
}
