//! Slack's requests, signed with the app's signing secret (`v0=` HMAC over
//! `v0:{timestamp}:{body}`, five minutes of replay window):
//!
//! - `POST /api/v1/integrations/slack/actions`: interactivity, when someone
//!   presses a button on a page (`block_actions`; `action_id` `ack`,
//!   `resolve`, `escalate` or `role:commander`, `value` the incident number).
//! - `POST /api/v1/integrations/slack/commands`: the `/escalator` slash
//!   command (see [`Command`]).
//!
//! The Slack user is mapped to an Escalator user through a `slack` contact
//! method. Slack wants a quick 200 even for refusals, so only a bad
//! signature (401) or a missing channel (404) is an HTTP error.

use super::signature::verify_slack;
use super::{
    Action, Answer, assign, channels, field, form, incident_number, perform, resolve, section,
    user_by_contact,
};
use crate::AppState;
use crate::api::comms::known_user;
use crate::api::error::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use escalator_core::comms::IncidentRole;
use escalator_core::config::ContactKind;
use escalator_core::directory::Catalog;
use escalator_core::ids::{IncidentId, UserId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, IntoResponses, ToSchema};

/// Slack's answer to the person who pressed or typed.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlackReply {
    /// `ephemeral` (only they see it), or `in_channel` for a slash command
    /// that changed something the channel should know about.
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

    /// A slash command's answer: what was done is shown to the channel.
    fn to_channel(answer: Answer) -> Json<SlackReply> {
        let mut reply = SlackReply::new(answer.text);
        if answer.done {
            reply.response_type = "in_channel";
        }
        reply
    }
}

/// The headers Slack signs every request with (for the OpenAPI document;
/// [`verified`] reads them).
#[derive(IntoParams)]
#[into_params(names("X-Slack-Signature", "X-Slack-Request-Timestamp"), parameter_in = Header)]
#[allow(dead_code)]
struct SlackSignature(
    /// v0=<hex HMAC-SHA256>
    String,
    /// Unix seconds; at most five minutes off
    String,
);

/// What both Slack endpoints answer (for the OpenAPI document).
#[derive(IntoResponses)]
#[allow(dead_code)]
enum SlackAnswers {
    /// What happened, or why not
    #[response(status = 200)]
    Answered(SlackReply),
    #[response(status = 400)]
    BadRequest(crate::api::error::ErrorBody),
    /// Bad or stale signature
    #[response(status = 401)]
    BadSignature(crate::api::error::ErrorBody),
    /// channels.slack has no signing_secret
    #[response(status = 404)]
    NotConfigured(crate::api::error::ErrorBody),
}

/// Checks Slack's signature and returns the configuration and the form.
async fn verified(
    app: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Arc<Catalog>, Vec<(String, String)>), ApiError> {
    let catalog = channels(app).await?;
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
        body,
        jiff::Timestamp::now().as_second(),
    )
    .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", e.to_string()))?;
    Ok((catalog, form(body)))
}

/// The Escalator user with a `slack` contact method for member `slack_id`.
fn escalator_user(catalog: &Catalog, slack_id: &str) -> Option<UserId> {
    user_by_contact(
        catalog,
        |k| matches!(k, ContactKind::Slack { user } if user == slack_id),
    )
}

/// The Escalator user who pressed or typed, or the sentence saying there is none.
fn sender(catalog: &Catalog, slack_id: &str) -> Result<UserId, String> {
    escalator_user(catalog, slack_id).ok_or_else(|| {
        format!(
            "You (Slack user {slack_id}) are not known to Escalator: ask an administrator to add a slack contact method for you."
        )
    })
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
    params(SlackSignature), responses(SlackAnswers))]
pub async fn actions(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<SlackReply>, ApiError> {
    let (catalog, params) = verified(&app, &headers, &body).await?;
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
    let user = match sender(&catalog, &payload.user.id) {
        Ok(user) => user,
        Err(why) => return Ok(SlackReply::new(why)),
    };
    let Some(pressed) = payload.actions.first() else {
        return Ok(SlackReply::new("No action was pressed."));
    };
    let Some(incident) = pressed.value.as_deref().and_then(incident_number) else {
        return Ok(SlackReply::new("The button does not name an incident."));
    };
    // `role:commander`: the presser takes the role.
    if let Some(role) = pressed.action_id.strip_prefix("role:") {
        let Some(role) = IncidentRole::parse(role) else {
            return Ok(SlackReply::new(format!("Unknown role {role:?}.")));
        };
        let answer = assign(&app, incident, role, Some(&user), &user, "slack").await?;
        return Ok(SlackReply::new(answer.text));
    }
    let Some(action) = Action::parse(&pressed.action_id) else {
        return Ok(SlackReply::new(format!(
            "Unknown action {:?}; expected ack, resolve, escalate or role:commander.",
            pressed.action_id
        )));
    };
    let answer = perform(&app, incident, action, &user, "slack").await?;
    Ok(SlackReply::new(answer.text))
}

/// What `/escalator …` asks for. The words, any case:
///
/// - `ack|acknowledge|resolve|escalate <incident>`;
/// - `commander|comms_lead|scribe <incident> [who]`, where `who` is `me`
///   (the default), a Slack mention (`<@U024BE7LH>`, as Slack sends it when
///   the command escapes users), an Escalator user id, or `none` to clear
///   the role; `ic` and `comms` are short for commander and comms_lead;
/// - `roles <incident>`: who holds which role;
/// - `help`, or nothing.
#[derive(Debug, PartialEq)]
enum Command {
    Act(Action, i64),
    Assign(IncidentRole, i64, Holder),
    Roles(i64),
    Help,
}

/// Who is to hold a role, as the command names them.
#[derive(Debug, PartialEq)]
enum Holder {
    Me,
    Slack(String),
    User(String),
    Nobody,
}

const USAGE: &str = "Usage: `/escalator ack|resolve|escalate <incident>`, \
`/escalator commander|comms_lead|scribe <incident> [me|@someone|user id|none]`, \
`/escalator roles <incident>`.";

impl Command {
    /// The command in `text`, or why it is not one.
    fn parse(text: &str) -> Result<Command, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let Some(verb) = words.first().map(|w| w.to_ascii_lowercase()) else {
            return Ok(Command::Help);
        };
        if verb == "help" {
            return Ok(Command::Help);
        }
        let incident = || {
            let word = words
                .get(1)
                .ok_or_else(|| format!("`{verb}` needs an incident number. {USAGE}"))?;
            incident_number(word).ok_or_else(|| format!("{word:?} is not an incident number."))
        };
        let too_many = |n: usize| {
            if words.len() > n {
                Err(format!("Too many words after `{verb}`. {USAGE}"))
            } else {
                Ok(())
            }
        };
        if let Some(action) = Action::parse(&verb) {
            too_many(2)?;
            return Ok(Command::Act(action, incident()?));
        }
        if verb == "roles" {
            too_many(2)?;
            return Ok(Command::Roles(incident()?));
        }
        let role = match verb.as_str() {
            "ic" => Some(IncidentRole::Commander),
            "comms" => Some(IncidentRole::CommsLead),
            name => IncidentRole::parse(name),
        };
        let Some(role) = role else {
            return Err(format!("Unknown command `{verb}`. {USAGE}"));
        };
        too_many(3)?;
        let holder = match words.get(2) {
            None => Holder::Me,
            Some(who) => Holder::parse(who),
        };
        Ok(Command::Assign(role, incident()?, holder))
    }
}

impl Holder {
    fn parse(who: &str) -> Holder {
        if who.eq_ignore_ascii_case("me") {
            return Holder::Me;
        }
        if ["none", "nobody", "-"]
            .iter()
            .any(|w| who.eq_ignore_ascii_case(w))
        {
            return Holder::Nobody;
        }
        // `<@U024BE7LH>` or `<@U024BE7LH|alice>`.
        if let Some(inner) = who.strip_prefix("<@").and_then(|w| w.strip_suffix('>')) {
            let id = inner.split('|').next().unwrap_or_default();
            return Holder::Slack(id.to_owned());
        }
        Holder::User(who.trim_start_matches('@').to_owned())
    }

    /// The Escalator user meant, `None` for nobody, or why there is none.
    fn resolve(self, catalog: &Catalog, me: &UserId) -> Result<Option<UserId>, String> {
        match self {
            Holder::Me => Ok(Some(me.clone())),
            Holder::Nobody => Ok(None),
            Holder::Slack(id) => escalator_user(catalog, &id).map(Some).ok_or_else(|| {
                format!("<@{id}> is not known to Escalator (no slack contact method names them).")
            }),
            Holder::User(name) => known_user(catalog, &name).map(Some).ok_or_else(|| {
                format!(
                    "{name:?} is not an Escalator user. Name them by user id, or mention them \
                         (turn on \"Escape channels, users, and links\" for the command)."
                )
            }),
        }
    }
}

/// The `/escalator` slash command: acknowledge, resolve or escalate an
/// incident, or give its roles, from any channel. What was done is answered
/// `in_channel`, so the channel sees who took command; refusals and help
/// only to the person who typed.
#[utoipa::path(post, path = "/integrations/slack/commands", tag = "inbound",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "Slack's slash command request (command, text, user_id, …)"),
    params(SlackSignature), responses(SlackAnswers))]
pub async fn commands(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<SlackReply>, ApiError> {
    let (catalog, params) = verified(&app, &headers, &body).await?;
    let slack_id = field(&params, "user_id")
        .ok_or_else(|| ApiError::bad_field("user_id", "the user_id field is missing"))?;
    let user = match sender(&catalog, slack_id) {
        Ok(user) => user,
        Err(why) => return Ok(SlackReply::new(why)),
    };
    let command = match Command::parse(field(&params, "text").unwrap_or_default()) {
        Ok(command) => command,
        Err(why) => return Ok(SlackReply::new(why)),
    };
    let answer = match command {
        Command::Help => return Ok(SlackReply::new(USAGE)),
        Command::Act(action, incident) => perform(&app, incident, action, &user, "slack").await?,
        Command::Assign(role, incident, holder) => match holder.resolve(&catalog, &user) {
            Ok(holder) => assign(&app, incident, role, holder.as_ref(), &user, "slack").await?,
            Err(why) => return Ok(SlackReply::new(why)),
        },
        Command::Roles(incident) => {
            let Some(row) = app.store.incident(IncidentId(incident)).await? else {
                return Ok(SlackReply::new(format!(
                    "Incident #{incident} does not exist."
                )));
            };
            let roles = app.store.comms(IncidentId(incident)).await?.roles;
            return Ok(SlackReply::new(format!(
                "Incident #{incident} \"{}\": {}.",
                row.incident.title,
                roles.describe()
            )));
        }
    };
    Ok(SlackReply::to_channel(answer))
}

/// Fuzzing of the slash command and the interactivity payload.
#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_name_a_verb_an_incident_and_maybe_someone() {
        use Command::*;
        assert_eq!(Command::parse(""), Ok(Help));
        assert_eq!(Command::parse("HELP"), Ok(Help));
        assert_eq!(
            Command::parse("ack 4821"),
            Ok(Act(Action::Acknowledge, 4821))
        );
        assert_eq!(
            Command::parse("Escalate #12"),
            Ok(Act(Action::Escalate, 12))
        );
        assert_eq!(Command::parse("roles 7"), Ok(Roles(7)));
        assert_eq!(
            Command::parse("commander 7"),
            Ok(Assign(IncidentRole::Commander, 7, Holder::Me))
        );
        assert_eq!(
            Command::parse("ic 7 <@U024BE7LH|alice>"),
            Ok(Assign(
                IncidentRole::Commander,
                7,
                Holder::Slack("U024BE7LH".into())
            ))
        );
        assert_eq!(
            Command::parse("comms 7 @bob"),
            Ok(Assign(
                IncidentRole::CommsLead,
                7,
                Holder::User("bob".into())
            ))
        );
        assert_eq!(
            Command::parse("scribe 7 none"),
            Ok(Assign(IncidentRole::Scribe, 7, Holder::Nobody))
        );
        assert_eq!(
            Command::parse("comms_lead 7 <@U1>"),
            Ok(Assign(
                IncidentRole::CommsLead,
                7,
                Holder::Slack("U1".into())
            ))
        );
    }

    #[test]
    fn a_command_that_is_not_one_says_why() {
        let why = |text: &str| Command::parse(text).unwrap_err();
        assert!(
            why("ack").contains("needs an incident number"),
            "{}",
            why("ack")
        );
        assert!(why("ack x").contains("\"x\" is not an incident number"));
        assert!(why("ack 1 2").starts_with("Too many words after `ack`"));
        assert!(why("scribe 1 bob carol").starts_with("Too many words"));
        assert!(why("page 1").starts_with("Unknown command `page`"));
    }
}
