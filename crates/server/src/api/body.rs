//! Request bodies from outside: read up to the documented limit
//! (`MAX_BODY_BYTES`, 512 KB; `413` past it) and parsed as strict JSON
//! (`core::json`: a duplicated key or a key with a control character is
//! refused, naming it).

use super::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use escalator_core::events_v2::MAX_BODY_BYTES;
use escalator_core::json::{self, JsonError};
use serde_json::Value;

/// The body, or `413` once it passes `MAX_BODY_BYTES` (read no further).
pub async fn read_limited(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("request body exceeds {} KB", MAX_BODY_BYTES / 1024),
            )
        })
}

/// The body as one JSON value, within the limit and without duplicated keys.
pub async fn read_json(body: Body) -> Result<Value, ApiError> {
    let bytes = read_limited(body).await?;
    json::from_slice(&bytes).map_err(refused)
}

/// `400` naming the key at fault, or the body when the JSON is malformed.
pub fn refused(e: JsonError) -> ApiError {
    ApiError::bad_field(e.field().unwrap_or("body"), e.to_string())
}
