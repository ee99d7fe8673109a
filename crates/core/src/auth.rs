//! Roles and who may do what. Checked by the server; decided here.

use crate::ids::UserId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// API token roles, each including the powers of the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Acknowledges, resolves, escalates one level.
    Responder,
    /// Also skips levels (with a recorded reason).
    Manager,
    /// Also changes configuration and tokens.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Responder, Role::Manager, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    /// Whether this role carries at least the powers of `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who asks: the role of their credential and the user it speaks for — a
/// token created with `--user`, or the person behind a Slack account (a
/// responder). A token bound to nobody speaks for nobody.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub role: Role,
    pub user: Option<UserId>,
}

/// Why a principal may not do something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this needs the {needed} role; the caller has {has}")]
    RoleTooLow { needed: Role, has: Role },
    #[error(
        "{own} may act only for themselves, not for {user}; acting for someone else needs the manager role"
    )]
    NotTheirs { own: UserId, user: UserId },
    #[error(
        "a token bound to no user acts for nobody; acting for {user} needs the manager role or a token created with --user {user}"
    )]
    Unbound { user: UserId },
}

impl Principal {
    /// Whether the principal may change what belongs to `user` — their
    /// availability, an override that puts them on call, their calendar
    /// feed. A responder only for the user they speak for, a manager for
    /// anyone: marking someone else away or on call moves pages onto or off
    /// other people, which is a manager's decision.
    pub fn may_act_for(&self, user: &UserId) -> Result<(), Refusal> {
        if self.role.allows(Role::Manager) {
            return Ok(());
        }
        if !self.role.allows(Role::Responder) {
            return Err(Refusal::RoleTooLow {
                needed: Role::Responder,
                has: self.role,
            });
        }
        match &self.user {
            Some(own) if own == user => Ok(()),
            Some(own) => Err(Refusal::NotTheirs {
                own: own.clone(),
                user: user.clone(),
            }),
            None => Err(Refusal::Unbound { user: user.clone() }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}; expected one of: viewer, responder, manager, admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Admin.allows(Role::Manager));
        assert!(Role::Manager.allows(Role::Responder));
        assert!(!Role::Responder.allows(Role::Manager));
        assert!(!Role::Viewer.allows(Role::Responder));
    }

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    fn principal(role: Role, user: Option<&str>) -> Principal {
        Principal {
            role,
            user: user.map(self::user),
        }
    }

    #[test]
    fn a_responder_acts_only_for_the_user_they_speak_for() {
        let bob = principal(Role::Responder, Some("bob"));
        assert_eq!(bob.may_act_for(&user("bob")), Ok(()));
        assert_eq!(
            bob.may_act_for(&user("alice")),
            Err(Refusal::NotTheirs {
                own: user("bob"),
                user: user("alice")
            })
        );
    }

    #[test]
    fn a_token_bound_to_nobody_needs_the_manager_role() {
        assert_eq!(
            principal(Role::Responder, None).may_act_for(&user("alice")),
            Err(Refusal::Unbound {
                user: user("alice")
            })
        );
        assert_eq!(
            principal(Role::Manager, None).may_act_for(&user("alice")),
            Ok(())
        );
        assert_eq!(
            principal(Role::Admin, Some("bob")).may_act_for(&user("alice")),
            Ok(())
        );
    }

    #[test]
    fn a_viewer_acts_for_nobody_not_even_themselves() {
        assert_eq!(
            principal(Role::Viewer, Some("bob")).may_act_for(&user("bob")),
            Err(Refusal::RoleTooLow {
                needed: Role::Responder,
                has: Role::Viewer
            })
        );
    }

    #[test]
    fn roles_parse_from_their_names() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
