//! Target resolution: who a level's targets mean at a given moment, and how
//! each of them is reached. The engine asks through [`Directory`], so new
//! target kinds (schedules) add a variant here and nothing in the engine.

use crate::config::{Config, EscalationPolicy, NotificationRule, Service, Target, User};
use crate::ids::{PolicyId, RoutingKey, ServiceId, TeamId, UserId};
use jiff::Timestamp;
use std::collections::HashMap;

/// One user a target resolved to, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub user: UserId,
    /// Human-readable provenance, e.g. `team sre`, for the timeline.
    pub via: String,
}

/// What the engine needs to know about people.
pub trait Directory {
    /// The users `target` stands for at instant `at`, in a stable order.
    fn resolve(&self, target: &Target, at: Timestamp) -> Vec<Resolved>;
    /// The user's notification rules in force (the declared or the default ones).
    fn notification_rules(&self, user: &UserId) -> Vec<NotificationRule>;
}

/// A configuration indexed for lookups on the hot path (one per applied revision).
#[derive(Debug, Default)]
pub struct Catalog {
    config: Config,
    revision: i64,
    users: HashMap<UserId, usize>,
    teams: HashMap<TeamId, usize>,
    policies: HashMap<PolicyId, usize>,
    services: HashMap<ServiceId, usize>,
    routing: HashMap<RoutingKey, usize>,
}

impl Catalog {
    pub fn new(config: Config, revision: i64) -> Self {
        fn index<K: std::hash::Hash + Eq + Clone, T>(
            items: &[T],
            key: impl Fn(&T) -> &K,
        ) -> HashMap<K, usize> {
            items
                .iter()
                .enumerate()
                .map(|(i, t)| (key(t).clone(), i))
                .collect()
        }
        let users = index(&config.users, |u| &u.id);
        let teams = index(&config.teams, |t| &t.id);
        let policies = index(&config.escalation_policies, |p| &p.id);
        let services = index(&config.services, |s| &s.id);
        let routing = config
            .services
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.integrations.iter().map(move |int| (int.key.clone(), i)))
            .collect();
        Self {
            config,
            revision,
            users,
            teams,
            policies,
            services,
            routing,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }
    /// The stored configuration revision this catalog was built from (0: none applied).
    pub fn revision(&self) -> i64 {
        self.revision
    }
    pub fn user(&self, id: &UserId) -> Option<&User> {
        self.users.get(id).map(|&i| &self.config.users[i])
    }
    pub fn policy(&self, id: &PolicyId) -> Option<&EscalationPolicy> {
        self.policies
            .get(id)
            .map(|&i| &self.config.escalation_policies[i])
    }
    pub fn service(&self, id: &ServiceId) -> Option<&Service> {
        self.services.get(id).map(|&i| &self.config.services[i])
    }
    /// The service a routing key delivers to.
    pub fn service_for_key(&self, key: &RoutingKey) -> Option<&Service> {
        self.routing.get(key).map(|&i| &self.config.services[i])
    }
}

impl Directory for Catalog {
    fn resolve(&self, target: &Target, _at: Timestamp) -> Vec<Resolved> {
        match target {
            Target::User(u) => match self.users.contains_key(u) {
                true => vec![Resolved {
                    user: u.clone(),
                    via: format!("user {u}"),
                }],
                false => Vec::new(),
            },
            Target::Team(t) => self
                .teams
                .get(t)
                .map(|&i| {
                    self.config.teams[i]
                        .members
                        .iter()
                        .filter(|m| self.users.contains_key(*m))
                        .map(|m| Resolved {
                            user: m.clone(),
                            via: format!("team {t}"),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn notification_rules(&self, user: &UserId) -> Vec<NotificationRule> {
        self.user(user)
            .map(User::effective_rules)
            .unwrap_or_default()
    }
}
