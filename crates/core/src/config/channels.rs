//! The outgoing channels an organisation has accounts with (SMTP, Slack,
//! Twilio) and the [`Secret`]s they need. The model keeps secrets as written,
//! so an export never contains a value read from the environment.

use serde::{Deserialize, Serialize};

/// Accounts with the services that carry pages. A contact method of type
/// `email` needs `smtp`, `sms` and `voice` need `twilio`, `slack` needs `slack`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Channels {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpChannel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackChannel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twilio: Option<TwilioChannel>,
}

impl Channels {
    pub fn is_empty(&self) -> bool {
        self.smtp.is_none() && self.slack.is_none() && self.twilio.is_none()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SmtpChannel {
    pub host: String,
    pub port: u16,
    /// The sender address, as written (`ops@example.com` or `Ops <ops@example.com>`).
    pub from: String,
    /// Upgrade the connection with STARTTLS; on unless turned off.
    pub starttls: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// A PEM file of the CA that signed the server's certificate, trusted
    /// besides the system's (an internal relay with a private CA). Read when
    /// the channel is built; needs `starttls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlackChannel {
    /// The Web API base, `https://slack.com/api` unless a test points elsewhere.
    pub api_url: String,
    pub bot_token: Secret,
    /// Checks inbound interactivity requests (buttons); without it they are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<Secret>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TwilioChannel {
    /// The REST API base, `https://api.twilio.com` unless a test points elsewhere.
    pub api_url: String,
    pub account_sid: String,
    /// Authenticates our calls to Twilio and checks the signature of its webhooks.
    pub auth_token: Secret,
    /// The E.164 number pages come from.
    pub from: String,
    /// Fewest time between two messages (or two calls) to one number; pages
    /// due meanwhile wait and go out together in one message. One minute
    /// unless set, as GoAlert does, so a storm cannot flood a phone.
    #[serde(default = "default_min_interval")]
    pub min_interval: crate::duration::Duration,
}

pub fn default_min_interval() -> crate::duration::Duration {
    crate::duration::Duration::from_secs(60)
}

pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";
pub const DEFAULT_TWILIO_API_URL: &str = "https://api.twilio.com";

/// A credential: a literal, or `${env:NAME}`, read from the environment only
/// when it is used. Stored and exported exactly as written; `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Secret(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a secret must not be empty")]
    Empty,
    #[error(
        "{0:?} is not a valid environment reference; write ${{env:NAME}} with NAME of letters, digits and _"
    )]
    BadReference(String),
    #[error("environment variable {0} is not set")]
    Unset(String),
    #[error(
        "write the secret as ${{env:NAME}} and set NAME in the server's environment: a secret written out would be stored with the configuration and printed by export"
    )]
    Literal,
}

impl Secret {
    /// Reads a secret as written in the configuration.
    pub fn parse(text: &str) -> Result<Secret, SecretError> {
        if text.is_empty() {
            return Err(SecretError::Empty);
        }
        if !text.starts_with("${env:") {
            return Err(SecretError::Literal);
        }
        if env_name(text).is_none() {
            return Err(SecretError::BadReference(text.to_owned()));
        }
        Ok(Secret(text.to_owned()))
    }

    /// The text as written: what `export` prints and the store keeps.
    pub fn as_written(&self) -> &str {
        &self.0
    }

    /// The variable it refers to, if it is an `${env:NAME}` reference.
    pub fn env_name(&self) -> Option<&str> {
        env_name(&self.0)
    }

    /// The value, looking references up with `lookup`; the pure form of [`Self::resolve`].
    pub fn resolve_with(
        &self,
        lookup: impl FnOnce(&str) -> Option<String>,
    ) -> Result<String, SecretError> {
        match self.env_name() {
            None => Ok(self.0.clone()),
            Some(name) => match lookup(name) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(SecretError::Unset(name.to_owned())),
            },
        }
    }

    /// The value now, reading the process environment for a reference. Called
    /// by the shell at the moment of use, never while loading a configuration.
    pub fn resolve(&self) -> Result<String, SecretError> {
        self.resolve_with(|name| std::env::var(name).ok())
    }
}

/// A contact method's address as the channel needs it: a webhook or Teams
/// URL may be written `${env:NAME}` (it often carries a token), read from the
/// environment (through `lookup`) at the moment of sending, never stored
/// resolved. Any other address is used as written.
pub fn resolve_address_with(
    address: &str,
    lookup: impl FnOnce(&str) -> Option<String>,
) -> Result<String, SecretError> {
    if address.starts_with("${env:") {
        Secret::parse(address)?.resolve_with(lookup)
    } else {
        Ok(address.to_owned())
    }
}

/// [`resolve_address_with`] on the process environment.
pub fn resolve_address(address: &str) -> Result<String, SecretError> {
    resolve_address_with(address, |name| std::env::var(name).ok())
}

fn env_name(text: &str) -> Option<&str> {
    let name = text.strip_prefix("${env:")?.strip_suffix('}')?;
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    (first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(name)
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl TryFrom<String> for Secret {
    type Error = SecretError;
    fn try_from(s: String) -> Result<Self, SecretError> {
        Secret::parse(&s)
    }
}

impl From<Secret> for String {
    fn from(s: Secret) -> String {
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_may_be_an_environment_reference() {
        let env = |name: &str| (name == "HOOK").then(|| "https://h.example/x?token=t".to_owned());
        assert_eq!(
            resolve_address_with("${env:HOOK}", env).unwrap(),
            "https://h.example/x?token=t"
        );
        assert_eq!(
            resolve_address_with("https://plain.example/", env).unwrap(),
            "https://plain.example/"
        );
        assert_eq!(
            resolve_address_with("${env:MISSING}", env),
            Err(SecretError::Unset("MISSING".into()))
        );
        assert!(matches!(
            resolve_address_with("${env:}", env),
            Err(SecretError::BadReference(_))
        ));
    }

    #[test]
    fn a_reference_resolves_from_the_environment_at_use_time() {
        let s = Secret::parse("${env:SLACK_BOT_TOKEN}").unwrap();
        assert_eq!(s.env_name(), Some("SLACK_BOT_TOKEN"));
        assert_eq!(s.as_written(), "${env:SLACK_BOT_TOKEN}");
        let got = s.resolve_with(|n| (n == "SLACK_BOT_TOKEN").then(|| "xoxb-1".to_owned()));
        assert_eq!(got, Ok("xoxb-1".to_owned()));
    }

    #[test]
    fn an_unset_variable_is_named_in_the_error() {
        let s = Secret::parse("${env:TWILIO_TOKEN}").unwrap();
        let err = s.resolve_with(|_| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable TWILIO_TOKEN is not set"
        );
    }

    #[test]
    fn a_secret_written_out_is_refused() {
        assert_eq!(Secret::parse("hunter2"), Err(SecretError::Literal));
        assert!(SecretError::Literal.to_string().contains("${env:NAME}"));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let s = Secret::parse("${env:HUNTER}").unwrap();
        let shown = s.resolve_with(|_| Some("hunter2".into())).unwrap();
        assert_eq!(shown, "hunter2");
        assert_eq!(format!("{s:?}"), "***");
        assert!(!format!("{:?}", Some(s)).contains("HUNTER"));
    }

    #[test]
    fn malformed_references_and_empty_secrets_are_refused() {
        for bad in ["${env:}", "${env:1X}", "${env:A-B}", "${env:X"] {
            assert!(
                matches!(Secret::parse(bad), Err(SecretError::BadReference(_))),
                "{bad}"
            );
        }
        assert_eq!(Secret::parse(""), Err(SecretError::Empty));
    }

    #[test]
    fn serialises_as_written() {
        let s = Secret::parse("${env:X}").unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"${env:X}\"");
        let back: Secret = serde_json::from_str("\"${env:X}\"").unwrap();
        assert_eq!(back, s);
    }
}
