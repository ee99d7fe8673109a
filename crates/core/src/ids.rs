//! Identifier newtypes. Each is checked once, where it enters the system,
//! so the rest of the code can trust it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a string was refused as an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("may contain only letters, digits, '-', '_' and '.'; found {found:?}")]
    BadChar { found: char },
    #[error("must not contain control characters; found U+{:04X}", *found as u32)]
    Control { found: char },
}

const MAX_ID_LEN: usize = 64;

fn check_slug(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.chars().count() > MAX_ID_LEN {
        return Err(IdError::TooLong { max: MAX_ID_LEN });
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(IdError::BadChar { found: c });
    }
    Ok(())
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, IdError> {
                check_slug(s)?;
                Ok(Self(s.to_owned()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                check_slug(&s)?;
                Ok(Self(s))
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

slug_id!(/// A person who can be paged.
    UserId);
slug_id!(/// A group of users.
    TeamId);
slug_id!(/// An escalation policy.
    PolicyId);
slug_id!(/// A service that owns incidents.
    ServiceId);
slug_id!(/// One of a user's contact methods.
    ContactMethodId);
slug_id!(/// An on-call schedule.
    ScheduleId);
slug_id!(/// A layer of a schedule.
    LayerId);

/// Numeric incident id, assigned by the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncidentId(pub i64);

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Folds events into one alert: the PagerDuty `dedup_key`. 1 to 255
/// characters, none of them a control character: a key is never cleaned
/// (that would fold distinct alerts together), so a NUL, which PostgreSQL
/// cannot store, or a line break is refused where the key enters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DedupKey(String);

impl DedupKey {
    pub const MAX_LEN: usize = 255;
    pub fn parse(s: &str) -> Result<Self, IdError> {
        Self::try_from(s.to_owned())
    }
    /// A key read back from the database. Checked for length only: a key
    /// saved before control characters were refused must stay readable.
    pub fn stored(s: String) -> Result<Self, IdError> {
        Self::check_length(&s)?;
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    fn check_length(s: &str) -> Result<(), IdError> {
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if s.chars().count() > Self::MAX_LEN {
            return Err(IdError::TooLong { max: Self::MAX_LEN });
        }
        Ok(())
    }
}
impl TryFrom<String> for DedupKey {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::check_length(&s)?;
        if let Some(found) = s.chars().find(|c| c.is_control()) {
            return Err(IdError::Control { found });
        }
        Ok(Self(s))
    }
}
impl From<DedupKey> for String {
    fn from(k: DedupKey) -> String {
        k.0
    }
}
impl fmt::Display for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An integration key (`routing_key` in Events API v2): 32 characters, `[A-Za-z0-9]`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoutingKey(String);

/// Why a routing key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 32 letters or digits")]
pub struct RoutingKeyError;

impl RoutingKey {
    pub fn parse(s: &str) -> Result<Self, RoutingKeyError> {
        Self::try_from(s.to_owned())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for RoutingKey {
    type Error = RoutingKeyError;
    fn try_from(s: String) -> Result<Self, RoutingKeyError> {
        if s.len() == 32 && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(s))
        } else {
            Err(RoutingKeyError)
        }
    }
}
impl From<RoutingKey> for String {
    fn from(k: RoutingKey) -> String {
        k.0
    }
}
impl fmt::Debug for RoutingKey {
    // Keys authenticate senders: never print one whole in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoutingKey({}…)", &self.0[..4])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_ids_accept_the_usual_characters() {
        assert!(UserId::parse("alice.ng-2_x").is_ok());
    }

    #[test]
    fn slug_ids_refuse_spaces_and_empty() {
        assert_eq!(UserId::parse(""), Err(IdError::Empty));
        assert_eq!(UserId::parse("a b"), Err(IdError::BadChar { found: ' ' }));
        assert!(UserId::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn routing_keys_are_32_alphanumerics() {
        assert!(RoutingKey::parse("0123456789abcdef0123456789abcdef").is_ok());
        assert!(RoutingKey::parse("0123456789abcdef").is_err());
        assert!(RoutingKey::parse("0123456789abcdef0123456789abcde!").is_err());
    }

    #[test]
    fn dedup_keys_are_bounded() {
        assert!(DedupKey::parse(&"k".repeat(255)).is_ok());
        assert!(DedupKey::parse(&"k".repeat(256)).is_err());
        assert!(DedupKey::parse("").is_err());
    }

    #[test]
    fn dedup_keys_refuse_control_characters() {
        assert_eq!(
            DedupKey::parse("disk\u{0}1"),
            Err(IdError::Control { found: '\0' })
        );
        assert!(DedupKey::parse("disk\n1").is_err());
        assert_eq!(
            IdError::Control { found: '\0' }.to_string(),
            "must not contain control characters; found U+0000"
        );
        // Spaces, punctuation and any other Unicode stay keys, as PagerDuty takes them.
        assert!(DedupKey::parse("disk full/db-1 ✓").is_ok());
    }

    #[test]
    fn a_stored_dedup_key_is_read_back_as_it_was_saved() {
        assert_eq!(
            DedupKey::stored("old\nkey".into()).unwrap().as_str(),
            "old\nkey"
        );
        assert!(DedupKey::stored(String::new()).is_err());
    }
}
