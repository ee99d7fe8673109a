//! `POST /api/v1/integrations/slack/actions`: Slack's interactivity request
//! when someone presses a button on a page (`block_actions`; `action_id` is
//! `ack`, `resolve` or `escalate`, `value` the incident number). Slack wants a
//! quick 200 even for refusals, so only a bad signature (401) or a missing
//! channel (404) is an HTTP error.

use super::signature::verify_slack;
use super::{
    Action, channels, field, form, incident_number, perform, resolve, section, user_by_contact,
};
use crate::AppState;
use crate::api::error::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use escalator_core::config::ContactKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An ephemeral answer, shown only to the person who pressed the button.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlackReply {
    /// Always `ephemeral`.
    pub response_type: &'static str,
    /// Always false: the page itself stays as it was.
    pub replace_original: bool,
    pub text: String,
}

impl SlackReply {
    fn new(text: impl Into<String>) -> Json<SlackReply> {
        Json(SlackReply {
            response_type: "ephemeral",
            replace_original: false,
            text: text.into(),
        })
    }
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: SlackUser,
    #[serde(default)]
    actions: Vec<SlackAction>,
}

#[derive(Deserialize)]
struct SlackUser {
    id: String,
}

#[derive(Deserialize)]
struct SlackAction {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

/// A button pressed on a Slack page: acknowledge, resolve or escalate.
#[utoipa::path(post, path = "/integrations/slack/actions", tag = "inbound",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`payload=` a Slack `block_actions` JSON document"),
    params(("X-Slack-Signature" = String, Header, description = "v0=<hex HMAC-SHA256>"),
           ("X-Slack-Request-Timestamp" = String, Header, description = "Unix seconds; at most five minutes off")),
    responses((status = 200, description = "What happened, or why not", body = SlackReply),
              (status = 400, body = crate::api::error::ErrorBody),
              (status = 401, description = "Bad or stale signature", body = crate::api::error::ErrorBody),
              (status = 404, description = "channels.slack has no signing_secret", body = crate::api::error::ErrorBody)))]
pub async fn actions(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<SlackReply>, ApiError> {
    let catalog = channels(&app).await?;
    let slack = section(&catalog, "slack", |c| c.slack.as_ref())?;
    let secret = slack
        .signing_secret
        .as_ref()
        .ok_or_else(|| ApiError::not_found("channels.slack.signing_secret is not configured"))?;
    let secret = resolve(secret, "channels.slack.signing_secret")?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    verify_slack(
        secret.as_bytes(),
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &body,
        jiff::Timestamp::now().as_second(),
    )
    .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", e.to_string()))?;

    let params = form(&body);
    let payload = field(&params, "payload")
        .ok_or_else(|| ApiError::bad_field("payload", "the payload field is missing"))?;
    let payload: Payload = serde_json::from_str(payload)
        .map_err(|e| ApiError::bad_field("payload", format!("invalid payload: {e}")))?;
    if payload.kind != "block_actions" {
        return Ok(SlackReply::new(format!(
            "Escalator does not handle {:?} interactions.",
            payload.kind
        )));
    }
    let slack_id = payload.user.id;
    let Some(user) = user_by_contact(
        &catalog,
        |k| matches!(k, ContactKind::Slack { user } if *user == slack_id),
    ) else {
        return Ok(SlackReply::new(format!(
            "You (Slack user {slack_id}) are not known to Escalator: ask an administrator to add a slack contact method for you."
        )));
    };
    let Some(pressed) = payload.actions.first() else {
        return Ok(SlackReply::new("No action was pressed."));
    };
    let Some(action) = Action::parse(&pressed.action_id) else {
        return Ok(SlackReply::new(format!(
            "Unknown action {:?}; expected ack, resolve or escalate.",
            pressed.action_id
        )));
    };
    let Some(incident) = pressed.value.as_deref().and_then(incident_number) else {
        return Ok(SlackReply::new("The button does not name an incident."));
    };
    let text = perform(&app, incident, action, &user, "slack").await?;
    Ok(SlackReply::new(text))
}
