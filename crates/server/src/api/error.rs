//! API errors: `{"error":{"code","message","field"}}` with the right status.
//! A 5xx says only that the server could not do it (`internal`, or
//! `unavailable`: retry): what went wrong below — driver text, SQL, table
//! names — goes to the log, never into an answer.

use crate::runner::RunError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use escalator_core::engine::EngineError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `invalid_field`.
    pub code: String,
    pub message: String,
    /// The request field at fault, when there is one.
    pub field: Option<String>,
    /// Every problem, when there are several (configuration validation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<serde_json::Value>,
}

/// What every `503` says.
pub const UNAVAILABLE_MESSAGE: &str = "not saved: temporarily unavailable; retry";

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub errors: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            errors: None,
        }
    }
    pub fn field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_field", message).field(field)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// `500`: a fault of ours. `detail` is logged, not answered.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
    /// `503`: nothing was saved (the database failed or the server is
    /// stopping); the same request may succeed later. `detail` is logged, not
    /// answered.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "request not carried out");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            UNAVAILABLE_MESSAGE,
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                field: self.field,
                errors: self.errors,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<escalator_store::StoreError> for ApiError {
    fn from(e: escalator_store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

/// A time past the API's horizon: well-formed, but not accepted.
impl From<escalator_core::extras::OutOfRange> for ApiError {
    fn from(e: escalator_core::extras::OutOfRange) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
            e.to_string(),
        )
        .field(e.field())
    }
}

/// A role change the caller may not make; the field is the role.
impl From<escalator_core::comms::RoleRefused> for ApiError {
    fn from(e: escalator_core::comms::RoleRefused) -> Self {
        let role = e.role();
        let mut err = ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string());
        err.field = role.map(str::to_owned);
        err
    }
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::NotFound(id) => ApiError::not_found(format!("incident {id} not found")),
            RunError::Engine(e) => engine_error(e),
            RunError::Config(m) => ApiError::new(StatusCode::CONFLICT, "configuration", m),
            RunError::Store(m) => ApiError::unavailable(format_args!("could not save: {m}")),
            RunError::Stopped => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the engine is shutting down",
            ),
        }
    }
}

fn engine_error(e: EngineError) -> ApiError {
    let message = e.to_string();
    match e {
        EngineError::Resolved => ApiError::new(StatusCode::CONFLICT, "incident_resolved", message),
        EngineError::AtLastLevel { .. } => {
            ApiError::new(StatusCode::CONFLICT, "at_last_level", message)
        }
        EngineError::NoSuchLevel { .. } | EngineError::NotAbove { .. } => {
            ApiError::bad_field("to_level", message)
        }
        EngineError::SkipForbidden { .. } => {
            ApiError::new(StatusCode::FORBIDDEN, "forbidden", message).field("to_level")
        }
        EngineError::ReasonRequired => ApiError::bad_field("reason", message),
        EngineError::EmptyPolicy => ApiError::new(StatusCode::CONFLICT, "configuration", message),
    }
}

/// Parses a JSON body, naming the field serde complained about.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return serde_json::from_slice(b"{}")
            .map_err(|e| ApiError::bad_field("body", e.to_string()));
    }
    serde_json::from_slice(body).map_err(|e| {
        let msg = e.to_string();
        // serde names fields as `field_name` in backticks.
        let field = msg.split('`').nth(1).unwrap_or("body").to_owned();
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("invalid JSON body: {msg}"),
        )
        .field(&field)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_error_is_answered_without_its_text() {
        let e = ApiError::from(RunError::Store(
            "database: error returned from database: relation \"audit_log\" does not exist".into(),
        ));
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            (e.code, e.message.as_str()),
            ("unavailable", UNAVAILABLE_MESSAGE)
        );
        assert_eq!((e.field, e.errors), (None, None));
    }

    #[test]
    fn a_typed_body_refuses_a_field_given_twice() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Body {
            reason: Option<String>,
        }
        let e = parse_json::<Body>(br#"{"reason":"a","reason":"b"}"#).unwrap_err();
        assert_eq!(
            (e.status, e.field.as_deref()),
            (StatusCode::BAD_REQUEST, Some("reason"))
        );
    }

    #[test]
    fn a_store_error_is_an_internal_error_without_its_text() {
        let e = ApiError::from(escalator_store::StoreError::Corrupt(
            "dedup_key: \"x\"".into(),
        ));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.contains("dedup_key"), "{}", e.message);
    }
}
