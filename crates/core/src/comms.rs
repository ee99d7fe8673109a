//! Incident roles (commander, communications lead, scribe): who holds them
//! and who may change them. The store applies a change under a row lock by
//! calling [`Roles::change`] on the holders it read under that lock, so the
//! decision is made here, once, for the API and for Slack alike.

use crate::auth::{Principal, Role};
use serde::{Deserialize, Serialize};

/// An incident role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncidentRole {
    Commander,
    CommsLead,
    Scribe,
}

impl IncidentRole {
    pub const ALL: [IncidentRole; 3] = [
        IncidentRole::Commander,
        IncidentRole::CommsLead,
        IncidentRole::Scribe,
    ];

    /// The name in the API and on the timeline: `commander`, `comms_lead`, `scribe`.
    pub fn name(self) -> &'static str {
        match self {
            IncidentRole::Commander => "commander",
            IncidentRole::CommsLead => "comms_lead",
            IncidentRole::Scribe => "scribe",
        }
    }

    /// A role by its [`name`](IncidentRole::name).
    pub fn parse(name: &str) -> Option<IncidentRole> {
        IncidentRole::ALL.into_iter().find(|r| r.name() == name)
    }

    /// `commander, comms_lead, scribe`, for error messages.
    pub fn names() -> String {
        IncidentRole::ALL.map(IncidentRole::name).join(", ")
    }
}

/// Who holds each incident role; `None` where nobody does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roles {
    pub commander: Option<String>,
    pub comms_lead: Option<String>,
    pub scribe: Option<String>,
}

/// Why a role change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleRefused {
    #[error("changing incident roles needs the responder role; the caller has {has}")]
    RoleTooLow { has: Role },
    #[error(
        "{role} is held by {holder}; only {holder}{commander}, or a manager, may give it to someone else or clear it"
    )]
    Held {
        role: &'static str,
        holder: String,
        /// `, the commander (alice)` where the commander could too.
        commander: String,
    },
}

impl RoleRefused {
    /// The role at fault, for the `field` of an error.
    pub fn role(&self) -> Option<&'static str> {
        match self {
            RoleRefused::RoleTooLow { .. } => None,
            RoleRefused::Held { role, .. } => Some(role),
        }
    }
}

impl Roles {
    pub fn holder(&self, role: IncidentRole) -> Option<&str> {
        match role {
            IncidentRole::Commander => self.commander.as_deref(),
            IncidentRole::CommsLead => self.comms_lead.as_deref(),
            IncidentRole::Scribe => self.scribe.as_deref(),
        }
    }

    fn holder_mut(&mut self, role: IncidentRole) -> &mut Option<String> {
        match role {
            IncidentRole::Commander => &mut self.commander,
            IncidentRole::CommsLead => &mut self.comms_lead,
            IncidentRole::Scribe => &mut self.scribe,
        }
    }

    /// Whether `user` leads the incident or its communication.
    pub fn may_publish(&self, user: &str) -> bool {
        self.commander.as_deref() == Some(user) || self.comms_lead.as_deref() == Some(user)
    }

    /// The roles after `changes` (in order; `None` clears a role), if `by`
    /// may make them. Each role whose holder would change is judged against
    /// its holder now:
    ///
    /// - a free role may be given to anyone (taking command of an unowned
    ///   incident, or the commander naming a scribe, must not wait for a
    ///   manager);
    /// - a held role may be handed over or cleared by its holder, by a
    ///   manager, and — for the communications lead and the scribe — by the
    ///   commander, who runs the incident's roles;
    /// - nobody else may: otherwise anyone could make themselves commander
    ///   and so gain the right to publish status updates.
    ///
    /// Setting a role to the holder it already has is no change and always
    /// allowed.
    pub fn change(
        &self,
        changes: &[(IncidentRole, Option<String>)],
        by: &Principal,
    ) -> Result<Roles, RoleRefused> {
        if !by.role.allows(Role::Responder) {
            return Err(RoleRefused::RoleTooLow { has: by.role });
        }
        let mut after = self.clone();
        for (role, holder) in changes {
            *after.holder_mut(*role) = holder.clone();
        }
        let me = by.user.as_ref().map(|u| u.as_str());
        for role in IncidentRole::ALL {
            let Some(holder) = self.holder(role) else {
                continue;
            };
            let commands = role != IncidentRole::Commander
                && self.commander.is_some()
                && self.commander.as_deref() == me;
            let allowed = after.holder(role) == Some(holder)
                || by.role.allows(Role::Manager)
                || me == Some(holder)
                || commands;
            if !allowed {
                let commander = match (&self.commander, role) {
                    (Some(c), IncidentRole::CommsLead | IncidentRole::Scribe) if c != holder => {
                        format!(", the commander ({c})")
                    }
                    _ => String::new(),
                };
                return Err(RoleRefused::Held {
                    role: role.name(),
                    holder: holder.to_owned(),
                    commander,
                });
            }
        }
        Ok(after)
    }

    /// `commander alice, comms_lead bob` (or `none`).
    pub fn describe(&self) -> String {
        let held: Vec<String> = IncidentRole::ALL
            .into_iter()
            .filter_map(|role| {
                self.holder(role)
                    .map(|who| format!("{} {who}", role.name()))
            })
            .collect();
        if held.is_empty() {
            "none".to_owned()
        } else {
            held.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;
    use IncidentRole::*;

    fn responder(user: &str) -> Principal {
        Principal {
            role: Role::Responder,
            user: Some(UserId::parse(user).unwrap()),
        }
    }

    fn held(commander: Option<&str>, comms_lead: Option<&str>, scribe: Option<&str>) -> Roles {
        Roles {
            commander: commander.map(str::to_owned),
            comms_lead: comms_lead.map(str::to_owned),
            scribe: scribe.map(str::to_owned),
        }
    }

    fn to(user: &str) -> Option<String> {
        Some(user.to_owned())
    }

    #[test]
    fn anyone_may_take_a_free_role_or_fill_it() {
        let free = Roles::default();
        let after = free.change(&[(Commander, to("bob"))], &responder("bob"));
        assert_eq!(after, Ok(held(Some("bob"), None, None)));
        let unbound = Principal {
            role: Role::Responder,
            user: None,
        };
        assert!(free.change(&[(Scribe, to("carol"))], &unbound).is_ok());
    }

    #[test]
    fn a_responder_cannot_replace_the_commander() {
        let roles = held(Some("alice"), None, None);
        assert_eq!(
            roles.change(&[(Commander, to("bob"))], &responder("bob")),
            Err(RoleRefused::Held {
                role: "commander",
                holder: "alice".into(),
                commander: String::new(),
            })
        );
        assert!(
            roles
                .change(&[(Commander, None)], &responder("bob"))
                .is_err(),
            "nor clear the role"
        );
        let unbound = Principal {
            role: Role::Responder,
            user: None,
        };
        assert!(roles.change(&[(Commander, to("bob"))], &unbound).is_err());
    }

    #[test]
    fn the_holder_hands_a_role_over_or_steps_down() {
        let roles = held(Some("alice"), None, None);
        let after = roles.change(&[(Commander, to("bob"))], &responder("alice"));
        assert_eq!(after, Ok(held(Some("bob"), None, None)));
        let after = roles.change(&[(Commander, None)], &responder("alice"));
        assert_eq!(after, Ok(Roles::default()));
    }

    #[test]
    fn a_manager_may_replace_anyone() {
        let roles = held(Some("alice"), Some("bob"), Some("carol"));
        let manager = Principal {
            role: Role::Manager,
            user: None,
        };
        let after = roles.change(
            &[
                (Commander, to("dave")),
                (CommsLead, None),
                (Scribe, to("erin")),
            ],
            &manager,
        );
        assert_eq!(after, Ok(held(Some("dave"), None, Some("erin"))));
    }

    #[test]
    fn the_commander_runs_the_other_roles_but_not_the_reverse() {
        let roles = held(Some("alice"), Some("bob"), Some("carol"));
        let after = roles.change(
            &[(Scribe, None), (CommsLead, to("dave"))],
            &responder("alice"),
        );
        assert_eq!(after, Ok(held(Some("alice"), Some("dave"), None)));
        let refused = roles.change(&[(Commander, to("bob"))], &responder("bob"));
        assert!(
            matches!(
                refused,
                Err(RoleRefused::Held {
                    role: "commander",
                    ..
                })
            ),
            "{refused:?}"
        );
        let refused = roles.change(&[(Scribe, to("bob"))], &responder("bob"));
        assert_eq!(
            refused.unwrap_err().to_string(),
            "scribe is held by carol; only carol, the commander (alice), or a manager, may give it to someone else or clear it"
        );
    }

    #[test]
    fn naming_the_holder_a_role_already_has_is_no_change() {
        let roles = held(Some("alice"), None, Some("carol"));
        let after = roles.change(
            &[(Commander, to("alice")), (CommsLead, to("bob"))],
            &responder("bob"),
        );
        assert_eq!(after, Ok(held(Some("alice"), Some("bob"), Some("carol"))));
    }

    #[test]
    fn a_change_is_judged_against_the_holder_before_it() {
        // Clearing the role and taking it in one request is still replacing alice.
        let roles = held(Some("alice"), None, None);
        let refused = roles.change(
            &[(Commander, None), (Commander, to("bob"))],
            &responder("bob"),
        );
        assert!(refused.is_err());
    }

    #[test]
    fn a_viewer_changes_no_role() {
        let viewer = Principal {
            role: Role::Viewer,
            user: Some(UserId::parse("bob").unwrap()),
        };
        assert_eq!(
            Roles::default().change(&[(Scribe, to("bob"))], &viewer),
            Err(RoleRefused::RoleTooLow { has: Role::Viewer })
        );
    }

    #[test]
    fn roles_are_described_in_order() {
        assert_eq!(Roles::default().describe(), "none");
        assert_eq!(
            held(Some("alice"), None, Some("bob")).describe(),
            "commander alice, scribe bob"
        );
    }
}
