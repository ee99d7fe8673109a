//! Answers that come back through the channels pages went out on: Slack
//! buttons, SMS replies and voice key presses. Each request is authenticated
//! by its provider's signature (with the secret from `channels.*`, read from
//! the environment at request time), its sender is mapped to a user through
//! that user's contact methods, and the action goes to the runner like any
//! other, with the channel in the actor: `user:alice (sms)`.
//! Nothing here trusts the sender's claim of who they are beyond that mapping.

pub mod signature;
pub mod slack;
pub mod twilio;

use super::error::ApiError;
use crate::AppState;
use crate::runner::{Done, RunError, Work};
use escalator_core::auth::{Principal, Role};
use escalator_core::comms::IncidentRole;
use escalator_core::config::{Channels, ContactKind, Secret};
use escalator_core::directory::Catalog;
use escalator_core::engine::Input;
use escalator_core::ids::{IncidentId, UserId};

/// What a responder can do from a chat button, a text or a phone keypad.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Acknowledge,
    Resolve,
    /// One level up, with a responder's authority (no skipping).
    Escalate,
}

impl Action {
    /// `ack|acknowledge|resolve|escalate`, any case.
    pub fn parse(word: &str) -> Option<Action> {
        match word.to_ascii_lowercase().as_str() {
            "ack" | "acknowledge" => Some(Action::Acknowledge),
            "resolve" => Some(Action::Resolve),
            "escalate" => Some(Action::Escalate),
            _ => None,
        }
    }

    fn input(self, actor: String) -> Input {
        match self {
            Action::Acknowledge => Input::Acknowledge { actor },
            Action::Resolve => Input::Resolve { actor },
            Action::Escalate => Input::Escalate {
                actor,
                to_level: None,
                reason: None,
                may_skip: false,
            },
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Action::Acknowledge => "acknowledge",
            Action::Resolve => "resolve",
            Action::Escalate => "escalate",
        }
    }
}

/// The actor recorded on the audit trail and the timeline.
pub fn actor(user: &UserId, channel: &str) -> String {
    format!("user:{user} ({channel})")
}

/// The first user with a contact method for which `matches` holds.
fn user_by_contact(catalog: &Catalog, matches: impl Fn(&ContactKind) -> bool) -> Option<UserId> {
    catalog
        .config()
        .users
        .iter()
        .find(|u| u.contact_methods.iter().any(|cm| matches(&cm.kind)))
        .map(|u| u.id.clone())
}

/// The configuration in force, re-read if another node applied a new one
/// since: callbacks are rare, and a channel just configured should answer.
async fn channels(app: &AppState) -> Result<std::sync::Arc<Catalog>, ApiError> {
    Ok(app.refresh_catalog().await?)
}

fn not_configured(section: &str) -> ApiError {
    ApiError::not_found(format!("channels.{section} is not configured"))
}

fn section<'c, T>(
    catalog: &'c Catalog,
    name: &str,
    pick: impl Fn(&'c Channels) -> Option<&'c T>,
) -> Result<&'c T, ApiError> {
    pick(&catalog.config().channels).ok_or_else(|| not_configured(name))
}

/// The secret's value now; an unset variable is the operator's problem, logged
/// with its name, and the caller gets a 500 without it.
fn resolve(secret: &Secret, key: &str) -> Result<String, ApiError> {
    secret
        .resolve()
        .map_err(|e| ApiError::internal(format!("{key}: {e}")))
}

/// What became of a request from a chat, a text or a call, in one sentence.
#[derive(Debug)]
pub struct Answer {
    /// Whether it was carried out (otherwise `text` says why not).
    pub done: bool,
    pub text: String,
}

impl Answer {
    fn done(text: String) -> Answer {
        Answer { done: true, text }
    }

    fn refused(text: String) -> Answer {
        Answer { done: false, text }
    }
}

/// Submits the action and says in one sentence what became of it. Refusals
/// (unknown or resolved incident, last level) are sentences too: the person
/// at the other end should read why. Only a server that cannot work is an error.
async fn perform(
    app: &AppState,
    incident: i64,
    action: Action,
    user: &UserId,
    channel: &str,
) -> Result<Answer, ApiError> {
    let work = Work::Act {
        incident: IncidentId(incident),
        input: action.input(actor(user, channel)),
    };
    match app.runner.submit(work).await {
        Ok(Done::Act(i)) => Ok(Answer::done(match action {
            Action::Acknowledge => {
                format!("Incident #{} \"{}\" acknowledged by {user}.", i.id, i.title)
            }
            Action::Resolve => format!("Incident #{} \"{}\" resolved by {user}.", i.id, i.title),
            Action::Escalate => format!(
                "Incident #{} \"{}\" escalated to level {} by {user}.",
                i.id, i.title, i.level
            ),
        })),
        Ok(_) => Err(ApiError::internal("unexpected runner answer")),
        Err(RunError::NotFound(_)) => Ok(Answer::refused(missing(incident))),
        Err(RunError::Engine(e)) => Ok(Answer::refused(format!(
            "Could not {} incident #{incident}: {e}.",
            action.verb()
        ))),
        Err(e) => Err(e.into()),
    }
}

fn missing(incident: i64) -> String {
    format!("Incident #{incident} does not exist.")
}

/// Gives `role` to `holder` (or to nobody), as `user` through `channel`, and
/// says what became of it. The person behind a chat account has a
/// responder's authority over roles: a held role is theirs to give only if
/// they hold it or command the incident (`Roles::change`).
async fn assign(
    app: &AppState,
    incident: i64,
    role: IncidentRole,
    holder: Option<&UserId>,
    user: &UserId,
    channel: &str,
) -> Result<Answer, ApiError> {
    let Some(row) = app.store.incident(IncidentId(incident)).await? else {
        return Ok(Answer::refused(missing(incident)));
    };
    let holder = holder.map(UserId::to_string);
    let by = Principal {
        role: Role::Responder,
        user: Some(user.clone()),
    };
    let roles = match app
        .store
        .set_roles(
            IncidentId(incident),
            &[(role, holder.clone())],
            &by,
            &actor(user, channel),
            jiff::Timestamp::now(),
        )
        .await?
    {
        Ok(roles) => roles,
        Err(refused) => {
            return Ok(Answer::refused(format!("Incident #{incident}: {refused}.")));
        }
    };
    let title = &row.incident.title;
    let role = role.name();
    Ok(Answer::done(match holder {
        Some(h) => format!(
            "{h} is now {role} of incident #{incident} \"{title}\". Roles: {}.",
            roles.describe()
        ),
        None => format!(
            "Incident #{incident} \"{title}\" has no {role} now. Roles: {}.",
            roles.describe()
        ),
    }))
}

/// A form-encoded body as name/value pairs, in order.
fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn field<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// An incident number as people write it: `4821` or `#4821`.
fn incident_number(text: &str) -> Option<i64> {
    text.trim()
        .trim_start_matches('#')
        .parse()
        .ok()
        .filter(|n| *n > 0)
}

/// Fuzzing of the request parsers here (forms, incident numbers, signatures).
#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_in_any_case() {
        assert_eq!(Action::parse("ACK"), Some(Action::Acknowledge));
        assert_eq!(Action::parse("Acknowledge"), Some(Action::Acknowledge));
        assert_eq!(Action::parse("resolve"), Some(Action::Resolve));
        assert_eq!(Action::parse("Escalate"), Some(Action::Escalate));
        assert_eq!(Action::parse("a"), None);
    }

    #[test]
    fn incident_numbers_may_carry_a_hash() {
        assert_eq!(incident_number("4821"), Some(4821));
        assert_eq!(incident_number("#12"), Some(12));
        assert_eq!(incident_number("0"), None);
        assert_eq!(incident_number("x1"), None);
    }

    #[test]
    fn the_actor_names_the_channel() {
        let alice = UserId::parse("alice").unwrap();
        assert_eq!(actor(&alice, "slack"), "user:alice (slack)");
    }
}
