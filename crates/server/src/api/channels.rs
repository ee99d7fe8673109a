//! `/api/v1/channels/breakers`: the circuit breakers of this node, one per
//! destination (a user's own webhook or Teams receiver) or provider (SMTP
//! relay, Slack, Twilio), so an operator can see whose pages are held and until when.

use super::auth::Caller;
use super::error::ApiError;
use crate::AppState;
use axum::Json;
use axum::extract::State;
use escalator_core::auth::Role;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct BreakerView {
    /// The channel and destination (`webhook https://hooks.example.com:443`) or provider (`email`, `slack`, `twilio`).
    pub key: String,
    /// `closed`, `open` or `half_open`.
    pub state: String,
    /// Transient failures in a row (the threshold once it opened).
    pub failures: u32,
    /// When the next trial send may go out, while open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_probe_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BreakersView {
    /// This node's breakers; each node keeps its own.
    pub breakers: Vec<BreakerView>,
}

/// The circuit breakers of the node answering, made as destinations are first used.
#[utoipa::path(get, path = "/channels/breakers", tag = "configuration",
    responses((status = 200, body = BreakersView), (status = 401, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn breakers(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<BreakersView>, ApiError> {
    caller.require(Role::Viewer)?;
    let breakers = app
        .breakers
        .statuses(jiff::Timestamp::now())
        .into_iter()
        .map(|s| BreakerView {
            key: s.key,
            state: serde_json::to_value(s.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            failures: s.failures,
            next_probe_at: s.next_probe_at.map(|t| t.to_string()),
        })
        .collect();
    Ok(Json(BreakersView { breakers }))
}
