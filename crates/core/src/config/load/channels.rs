//! The `channels` section and the contact methods that use it: each kind's
//! address checked in its own terms (URL, email, E.164, Slack id), and every
//! contact method that needs a channel checked against the declared sections.

use super::check::{Checker, Fields, duplicate_id, first_definition, is_http_url};
use super::tree::{Node, Pos, Value};
use crate::config::{
    Channels, ContactKind, ContactMethod, DEFAULT_SLACK_API_URL, DEFAULT_TWILIO_API_URL, Secret,
    SlackChannel, SmtpChannel, TwilioChannel,
};
use crate::ids::ContactMethodId;
use std::collections::HashMap;

/// The address key of each contact method type, in [`ContactKind::TYPE_NAMES`] order.
const ADDRESS_KEYS: [&str; 6] = ["url", "address", "number", "number", "user", "webhook_url"];

impl Checker {
    /// The channels, and which sections were written (even with errors in
    /// them), so a contact method is not also told its section is missing.
    pub(super) fn channels(&mut self, node: &Node, path: &str) -> (Channels, Vec<&'static str>) {
        let Some(f) = self.fields(node, path, &["smtp", "slack", "twilio"]) else {
            return Default::default();
        };
        let declared = ["smtp", "slack", "twilio"]
            .into_iter()
            .filter(|k| f.get(k).is_some())
            .collect();
        let channels = Channels {
            smtp: f.get("smtp").and_then(|n| self.smtp(n, &f.path("smtp"))),
            slack: f.get("slack").and_then(|n| self.slack(n, &f.path("slack"))),
            twilio: f
                .get("twilio")
                .and_then(|n| self.twilio(n, &f.path("twilio"))),
        };
        (channels, declared)
    }

    fn smtp(&mut self, node: &Node, path: &str) -> Option<SmtpChannel> {
        let keys = [
            "host", "port", "from", "starttls", "username", "password", "ca_file",
        ];
        let f = self.fields(node, path, &keys)?;
        let host = self.non_empty(&f, "host");
        let port = match f.get("port") {
            Some(n) => self.port(n, &f.path("port")),
            None => Some(25),
        };
        let from = self.non_empty(&f, "from");
        let starttls = match f.get("starttls") {
            Some(n) => self.boolean(n, &f.path("starttls")),
            None => Some(true),
        };
        let username = self.optional_text(&f, "username");
        let password = match f.get("password") {
            Some(n) => Some(self.secret(n, &f.path("password"))?),
            None => None,
        };
        let ca_file = self.optional_text(&f, "ca_file");
        if let (Some(_), Some(false)) = (&ca_file, starttls) {
            let pos = f.raw("ca_file").map_or(f.pos, |n| n.pos);
            self.error(
                pos,
                &f.path("ca_file"),
                "ca_file is for STARTTLS, which starttls: false turns off",
            );
            return None;
        }
        Some(SmtpChannel {
            host: host?,
            port: port?,
            from: from?,
            starttls: starttls?,
            username,
            password,
            ca_file,
        })
    }

    fn slack(&mut self, node: &Node, path: &str) -> Option<SlackChannel> {
        let f = self.fields(node, path, &["api_url", "bot_token", "signing_secret"])?;
        let api_url = self.api_url(&f, DEFAULT_SLACK_API_URL);
        let bot_token = self
            .required(&f, "bot_token")
            .and_then(|n| self.secret(n, &f.path("bot_token")));
        let signing_secret = match f.get("signing_secret") {
            Some(n) => Some(self.secret(n, &f.path("signing_secret"))?),
            None => None,
        };
        Some(SlackChannel {
            api_url: api_url?,
            bot_token: bot_token?,
            signing_secret,
        })
    }

    fn twilio(&mut self, node: &Node, path: &str) -> Option<TwilioChannel> {
        let keys = [
            "api_url",
            "account_sid",
            "auth_token",
            "from",
            "min_interval",
        ];
        let f = self.fields(node, path, &keys)?;
        let min_interval = match f.get("min_interval") {
            Some(n) => self.duration(n, &f.path("min_interval")),
            None => Some(crate::config::channels::default_min_interval()),
        };
        let api_url = self.api_url(&f, DEFAULT_TWILIO_API_URL);
        let account_sid = self.non_empty(&f, "account_sid");
        let auth_token = self
            .required(&f, "auth_token")
            .and_then(|n| self.secret(n, &f.path("auth_token")));
        let from = self.required(&f, "from").and_then(|n| {
            let path = f.path("from");
            let text = self.text(n, &path)?;
            if !is_e164(text) {
                self.error(n.pos, &path, not_e164(text));
                return None;
            }
            Some(text.to_owned())
        });
        Some(TwilioChannel {
            api_url: api_url?,
            account_sid: account_sid?,
            auth_token: auth_token?,
            from: from?,
            min_interval: min_interval?,
        })
    }

    fn api_url(&mut self, f: &Fields, default: &str) -> Option<String> {
        let Some(n) = f.get("api_url") else {
            return Some(default.to_owned());
        };
        let path = f.path("api_url");
        let url = self.text(n, &path)?;
        if !is_http_url(url) {
            self.error(
                n.pos,
                &path,
                "api_url must be an absolute http or https URL",
            );
            return None;
        }
        Some(url.to_owned())
    }

    /// A required key whose text may not be empty.
    fn non_empty(&mut self, f: &Fields, key: &str) -> Option<String> {
        let n = self.required(f, key)?;
        let path = f.path(key);
        let text = self.text(n, &path)?;
        if text.is_empty() {
            self.error(n.pos, &path, format!("{key} must not be empty"));
            return None;
        }
        Some(text.to_owned())
    }

    fn port(&mut self, node: &Node, path: &str) -> Option<u16> {
        match &node.value {
            Value::Scalar { text, plain: true } => match text.parse::<u16>() {
                Ok(p) if p != 0 => Some(p),
                _ => {
                    self.error(node.pos, path, "port must be an integer from 1 to 65535");
                    None
                }
            },
            Value::Invalid => None,
            _ => {
                self.error(node.pos, path, "port must be an integer from 1 to 65535");
                None
            }
        }
    }

    /// A credential, kept as written: a literal or `${env:NAME}`.
    fn secret(&mut self, node: &Node, path: &str) -> Option<Secret> {
        let text = self.text(node, path)?;
        Secret::parse(text)
            .map_err(|e| self.error(node.pos, path, e.to_string()))
            .ok()
    }

    pub(super) fn contact_method(
        &mut self,
        node: &Node,
        path: String,
        seen: &mut HashMap<String, Pos>,
    ) -> Option<ContactMethod> {
        let keys = [
            "id",
            "type",
            "url",
            "address",
            "number",
            "user",
            "webhook_url",
        ];
        let f = self.fields(node, &path, &keys)?;
        let id = self.required(&f, "id").and_then(|n| {
            let path = f.path("id");
            let id = self.id(n, &path, ContactMethodId::parse)?;
            if let Some(first) = first_definition(seen, id.as_str(), n.pos) {
                self.error(n.pos, &path, duplicate_id(id.as_str(), first));
            }
            Some(id)
        });
        let type_node = self.required(&f, "type")?;
        let type_path = f.path("type");
        let index = self.type_name(type_node, &type_path, &ContactKind::TYPE_NAMES)?;
        let type_name = ContactKind::TYPE_NAMES[index];
        let wanted = ADDRESS_KEYS[index];
        for (key, pos, _) in &f.entries {
            if !["id", "type", wanted].contains(key) {
                let message =
                    format!("a contact method of type {type_name:?} takes {wanted}, not {key}");
                self.error(*pos, &f.path(key), message);
            }
        }
        let address = self.required(&f, wanted).and_then(|n| {
            let path = f.path(wanted);
            let text = self.text(n, &path)?;
            let problem = match type_name {
                // A URL with a token in it may be kept out of the configuration.
                "webhook" | "teams" if text.starts_with("${env:") => {
                    crate::config::channels::Secret::parse(text)
                        .err()
                        .map(|e| e.to_string())
                }
                "webhook" | "teams" if !is_http_url(text) => Some(format!(
                    "{wanted} must be an absolute http or https URL, or ${{env:NAME}}"
                )),
                "email" if !is_email(text) => Some(format!(
                    "{text:?} is not an email address such as alice@example.com"
                )),
                "sms" | "voice" if !is_e164(text) => Some(not_e164(text)),
                "slack" if !is_slack_id(text) => Some(format!(
                    "{text:?} is not a Slack member or channel id such as U024BE7LH"
                )),
                _ => None,
            };
            match problem {
                Some(message) => {
                    self.error(n.pos, &path, message);
                    None
                }
                None => Some(text.to_owned()),
            }
        });
        let address = address?;
        let kind = match type_name {
            "webhook" => ContactKind::Webhook { url: address },
            "email" => ContactKind::Email { address },
            "sms" => ContactKind::Sms { number: address },
            "voice" => ContactKind::Voice { number: address },
            "slack" => ContactKind::Slack { user: address },
            _ => ContactKind::Teams {
                webhook_url: address,
            },
        };
        if let Some(section) = kind.channel() {
            self.channel_needs
                .push((type_node.pos, type_path, type_name, section));
        }
        Some(ContactMethod { id: id?, kind })
    }

    /// Reports each contact method whose channel section was not written.
    pub(super) fn check_channel_needs(&mut self, declared: &[&str]) {
        for (pos, path, type_name, section) in std::mem::take(&mut self.channel_needs) {
            if !declared.contains(&section) {
                let message = format!(
                    "a contact method of type {type_name:?} needs the channels.{section} section, which is missing"
                );
                self.error(pos, &path, message);
            }
        }
    }
}

fn not_e164(text: &str) -> String {
    format!("{text:?} is not an E.164 number such as +4915112345678 (+ and 8 to 15 digits)")
}

/// One `@`, a non-empty local part, and a domain with a dot inside it.
pub(super) fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `+`, then 8 to 15 digits, the first not 0 (no country code starts with 0).
pub(super) fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

/// A member (`U…`, `W…`) or channel (`C…`) id: uppercase letters and digits.
pub(super) fn is_slack_id(s: &str) -> bool {
    s.len() >= 3
        && s.len() <= 32
        && s.starts_with(['U', 'W', 'C'])
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}
