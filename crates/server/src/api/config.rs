//! `/api/v1/config`: read the configuration in force as YAML, or apply a new
//! one (admins). A file with any error changes nothing.

use super::auth::Caller;
use super::error::ApiError;
use crate::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use escalator_core::auth::Role;
use escalator_core::config;
use serde::Serialize;
use utoipa::ToSchema;

/// The configuration in force, as YAML that applies back to the same state.
#[utoipa::path(get, path = "/config", tag = "configuration",
    responses((status = 200, content_type = "application/yaml", body = String)), security(("bearer" = [])))]
pub async fn export(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(Role::Admin)?;
    let catalog = app.refresh_catalog().await?;
    Ok((
        [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
        config::to_yaml(catalog.config()),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct Applied {
    pub revision: i64,
    /// False when the configuration was already in force.
    pub changed: bool,
}

/// Validate and apply a YAML configuration, all or nothing.
#[utoipa::path(put, path = "/config", tag = "configuration",
    request_body(content = String, content_type = "application/yaml"),
    responses((status = 200, body = Applied),
              (status = 422, description = "Every validation error, with line, column and path", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn apply(
    State(app): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<Applied>, ApiError> {
    caller.require(Role::Admin)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_field("body", "configuration must be UTF-8 text"))?;
    let cfg = config::load(text).map_err(|errors| {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_config",
            format!(
                "configuration has {} error{}; nothing was applied",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            ),
        );
        e.field = errors.first().map(|f| f.path.clone());
        e.errors = serde_json::to_value(&errors).ok();
        e
    })?;
    let applied = app
        .store
        .apply_config(&cfg, &caller.actor(), jiff::Timestamp::now())
        .await?;
    app.refresh_catalog().await?;
    Ok(Json(Applied {
        revision: applied.revision,
        changed: applied.changed,
    }))
}
