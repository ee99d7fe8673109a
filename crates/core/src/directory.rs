//! Target resolution: who a level's targets mean at a given moment, who of
//! them can answer, and how each is reached. The engine asks through
//! [`Directory`]; users, teams and schedules are resolved here, then narrowed
//! by the target's filters and by availability.

use crate::config::{
    Config, EscalationPolicy, Integration, NotificationRule, Override, Service, Target, TargetKind,
    Urgency, User, Window,
};
use crate::ids::{ContactMethodId, PolicyId, RoutingKey, ScheduleId, ServiceId, TeamId, UserId};
use crate::rules::CompiledRules;
use crate::schedule::CompiledSchedule;
use jiff::Timestamp;
use std::collections::HashMap;

/// One user a target resolved to, why, and whether they can be paged now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub user: UserId,
    /// Human-readable provenance for the timeline, e.g. `schedule primary (layer weekly)`.
    pub via: String,
    /// Why the user cannot be paged now (away, no way to reach them), if so.
    pub unavailable: Option<String>,
}

/// What the engine needs to know about people.
pub trait Directory {
    /// The users `target` stands for at instant `at`, after its filters, in a stable order.
    fn resolve(&self, target: &Target, at: Timestamp) -> Vec<Candidate>;
    /// The user's notification rules in force for an incident of `urgency`
    /// (the declared or the default ones).
    fn notification_rules(&self, user: &UserId, urgency: Urgency) -> Vec<NotificationRule>;
    /// Every contact method of the user, in order: stakeholders are told on all of them.
    fn contact_methods(&self, user: &UserId) -> Vec<ContactMethodId>;
}

/// State kept outside the configuration file: overrides and availability set
/// through the API.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extras {
    /// Changes whenever any of the rest does.
    pub version: i64,
    pub overrides: Vec<(ScheduleId, Override)>,
    pub away: Vec<(UserId, Window)>,
}

/// A configuration indexed for lookups on the hot path (one per applied revision).
#[derive(Debug, Default)]
pub struct Catalog {
    config: Config,
    revision: i64,
    extras_version: i64,
    users: HashMap<UserId, usize>,
    teams: HashMap<TeamId, usize>,
    policies: HashMap<PolicyId, usize>,
    services: HashMap<ServiceId, usize>,
    routing: HashMap<RoutingKey, usize>,
    schedules: HashMap<ScheduleId, CompiledSchedule>,
    away: HashMap<UserId, Vec<Window>>,
    rules: CompiledRules,
    /// Each service as rules see it (`service.*`), built once, not per event.
    service_views: HashMap<ServiceId, serde_json::Value>,
}

impl Catalog {
    pub fn new(config: Config, revision: i64) -> Self {
        Self::with_extras(config, revision, &Extras::default())
    }

    pub fn with_extras(config: Config, revision: i64, extras: &Extras) -> Self {
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
        let schedules = config
            .schedules
            .iter()
            .filter_map(|s| {
                let extra: Vec<Override> = extras
                    .overrides
                    .iter()
                    .filter(|(id, _)| id == &s.id)
                    .map(|(_, o)| o.clone())
                    .collect();
                // Zones were checked when the configuration was loaded.
                CompiledSchedule::compile(s, &extra)
                    .ok()
                    .map(|c| (s.id.clone(), c))
            })
            .collect();
        let mut away: HashMap<UserId, Vec<Window>> = HashMap::new();
        for u in &config.users {
            away.entry(u.id.clone())
                .or_default()
                .extend(u.away.iter().copied());
        }
        for (u, w) in &extras.away {
            away.entry(u.clone()).or_default().push(*w);
        }
        // Rules were compiled when the configuration was loaded; a stored one that
        // no longer compiles (a newer CEL, say) runs without rules rather than not at all.
        let rules = crate::rules::compile(&config.rules).unwrap_or_default();
        let service_views = config
            .services
            .iter()
            .map(|s| (s.id.clone(), serde_json::to_value(s).unwrap_or_default()))
            .collect();
        Self {
            rules,
            service_views,
            config,
            revision,
            extras_version: extras.version,
            users,
            teams,
            policies,
            services,
            routing,
            schedules,
            away,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }
    /// The stored configuration revision this catalog was built from (0: none applied).
    pub fn revision(&self) -> i64 {
        self.revision
    }
    /// A service as rules see it: its configuration as JSON.
    pub fn service_view(&self, id: &ServiceId) -> Option<&serde_json::Value> {
        self.service_views.get(id)
    }
    /// The rules in force, compiled.
    pub fn rules(&self) -> &CompiledRules {
        &self.rules
    }
    /// The version of the API-made state (overrides, availability) it includes.
    pub fn extras_version(&self) -> i64 {
        self.extras_version
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
    /// The service and integration a key belongs to.
    pub fn integration_for_key(&self, key: &RoutingKey) -> Option<(&Service, &Integration)> {
        let service = self.service_for_key(key)?;
        service
            .integrations
            .iter()
            .find(|i| &i.key == key)
            .map(|i| (service, i))
    }
    pub fn schedule(&self, id: &ScheduleId) -> Option<&CompiledSchedule> {
        self.schedules.get(id)
    }
    pub fn schedules(&self) -> impl Iterator<Item = &CompiledSchedule> {
        self.config
            .schedules
            .iter()
            .filter_map(|s| self.schedules.get(&s.id))
    }

    /// The away window `user` is in at `at`, if any.
    pub fn away_at(&self, user: &UserId, at: Timestamp) -> Option<Window> {
        self.away
            .get(user)?
            .iter()
            .filter(|w| w.contains(at))
            .max_by_key(|w| w.to)
            .copied()
    }

    fn candidate(&self, user: &User, via: String, at: Timestamp) -> Candidate {
        let unavailable = match (
            self.away_at(&user.id, at),
            user.effective_rules().is_empty(),
        ) {
            (Some(w), _) => Some(format!("away until {}", w.to)),
            (None, true) => Some("has no contact method".to_owned()),
            (None, false) => None,
        };
        Candidate {
            user: user.id.clone(),
            via,
            unavailable,
        }
    }
}

impl Directory for Catalog {
    fn resolve(&self, target: &Target, at: Timestamp) -> Vec<Candidate> {
        let via = target.to_string();
        let named: Vec<(UserId, String)> = match &target.kind {
            TargetKind::User(u) => vec![(u.clone(), via)],
            TargetKind::Team(t) => self
                .teams
                .get(t)
                .map(|&i| {
                    self.config.teams[i]
                        .members
                        .iter()
                        .map(|m| (m.clone(), via.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            TargetKind::Schedule(s) => self
                .schedules
                .get(s)
                .map(|c| {
                    c.on_call_at(at)
                        .into_iter()
                        .map(|oc| (oc.user, format!("{via} ({})", oc.source)))
                        .collect()
                })
                .unwrap_or_default(),
        };
        named
            .into_iter()
            .filter_map(|(id, via)| self.user(&id).map(|u| (u, via)))
            .filter(|(u, _)| target.filter.admits(u))
            .map(|(u, via)| self.candidate(u, via, at))
            .collect()
    }

    fn notification_rules(&self, user: &UserId, urgency: Urgency) -> Vec<NotificationRule> {
        self.user(user)
            .map(|u| u.rules_for(urgency))
            .unwrap_or_default()
    }

    fn contact_methods(&self, user: &UserId) -> Vec<ContactMethodId> {
        self.user(user)
            .map(|u| u.contact_methods.iter().map(|cm| cm.id.clone()).collect())
            .unwrap_or_default()
    }
}
