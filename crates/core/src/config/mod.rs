//! Configuration as code: the model, its YAML reader with positioned errors
//! (`load`), cross-reference validation, and the YAML writer (`export`).
//! The model is also what the store keeps (as JSON) and what the engine reads.

mod export;
mod load;
mod schedule;

pub use export::to_yaml;
pub use load::{ConfigError, load};
pub use schedule::{Day, Layer, Override, Restriction, Rotation, Schedule, Window};

use crate::duration::Duration;
use crate::ids::{ContactMethodId, PolicyId, RoutingKey, ScheduleId, ServiceId, TeamId, UserId};
use serde::{Deserialize, Serialize};

/// Everything an organisation declares: who can be paged, how, and in which order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub teams: Vec<Team>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<Schedule>,
    #[serde(default)]
    pub escalation_policies: Vec<EscalationPolicy>,
    #[serde(default)]
    pub services: Vec<Service>,
    /// When a signal becomes an escalation, and how: see [`crate::rules`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<crate::rules::RuleSpec>,
    /// Anomaly and threshold detectors on metric streams: see [`crate::anomaly`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detectors: Vec<DetectorSpec>,
}

/// A detector on one metric of one service; it raises an event through the
/// rules path when the series turns abnormal, and resolves it once the series
/// has been normal for `resolve_after`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectorSpec {
    pub id: String,
    pub service: ServiceId,
    pub metric: String,
    pub method: crate::anomaly::Method,
    /// Severity of the events it raises.
    pub severity: String,
    pub resolve_after: Duration,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// IANA zone name, checked against the time-zone database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub contact_methods: Vec<ContactMethod>,
    /// As written. Empty means the default: every contact method at `0s`;
    /// use [`User::effective_rules`] to get the rules that apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notification_rules: Vec<NotificationRule>,
    /// Routing attributes, matched by target filters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Out-of-office windows: the user is skipped while one is in force.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub away: Vec<Window>,
    /// Tell the user, on every contact method, when one of their shifts starts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub handoff_notice: bool,
}

impl User {
    /// The notification rules in force: the declared ones, or every contact method at once.
    pub fn effective_rules(&self) -> Vec<NotificationRule> {
        if !self.notification_rules.is_empty() {
            return self.notification_rules.clone();
        }
        self.contact_methods
            .iter()
            .map(|cm| NotificationRule {
                contact_method: cm.id.clone(),
                after: Duration::ZERO,
            })
            .collect()
    }

    pub fn contact_method(&self, id: &ContactMethodId) -> Option<&ContactMethod> {
        self.contact_methods.iter().find(|cm| &cm.id == id)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactMethod {
    pub id: ContactMethodId,
    #[serde(flatten)]
    pub kind: ContactKind,
}

/// How a contact method reaches its user. More channels come with later issues.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContactKind {
    Webhook { url: String },
}

impl ContactKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            ContactKind::Webhook { .. } => "webhook",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationRule {
    pub contact_method: ContactMethodId,
    /// Delay after the user was first notified at a level.
    pub after: Duration,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub id: TeamId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub members: Vec<UserId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EscalationPolicy {
    pub id: PolicyId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Extra rounds after the last level.
    #[serde(default)]
    pub repeat: u32,
    pub levels: Vec<Level>,
}

impl EscalationPolicy {
    /// The level with 1-based number `n`.
    pub fn level(&self, n: u32) -> Option<&Level> {
        (n as usize).checked_sub(1).and_then(|i| self.levels.get(i))
    }
    pub fn level_count(&self) -> u32 {
        self.levels.len() as u32
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub targets: Vec<Target>,
    /// Paged instead when no primary target is available.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backup: Vec<Target>,
    pub escalate_after: Duration,
}

/// Who a level pages: users, teams or schedules, resolved at the moment the
/// level is reached (see [`crate::directory`]), then narrowed by the filters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    #[serde(flatten)]
    pub kind: TargetKind,
    #[serde(flatten)]
    pub filter: Filter,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    User(UserId),
    Team(TeamId),
    Schedule(ScheduleId),
}

/// Narrows a target's users to those with a skill, a language, a region.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Filter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.skill.is_none() && self.language.is_none() && self.region.is_none()
    }
    /// Whether `user` has everything this filter asks for.
    pub fn admits(&self, user: &User) -> bool {
        self.skill.as_ref().is_none_or(|s| user.skills.contains(s))
            && self
                .language
                .as_ref()
                .is_none_or(|l| user.languages.contains(l))
            && self
                .region
                .as_ref()
                .is_none_or(|r| user.region.as_ref() == Some(r))
    }
}

impl Target {
    pub fn user(id: UserId) -> Self {
        Self {
            kind: TargetKind::User(id),
            filter: Filter::default(),
        }
    }
    pub fn team(id: TeamId) -> Self {
        Self {
            kind: TargetKind::Team(id),
            filter: Filter::default(),
        }
    }
    pub fn schedule(id: ScheduleId) -> Self {
        Self {
            kind: TargetKind::Schedule(id),
            filter: Filter::default(),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            TargetKind::User(u) => write!(f, "user {u}")?,
            TargetKind::Team(t) => write!(f, "team {t}")?,
            TargetKind::Schedule(s) => write!(f, "schedule {s}")?,
        }
        let Filter {
            skill,
            language,
            region,
        } = &self.filter;
        for (name, value) in [("skill", skill), ("language", language), ("region", region)] {
            if let Some(v) = value {
                write!(f, " {name}={v}")?;
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub id: ServiceId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub escalation_policy: PolicyId,
    #[serde(default)]
    pub integrations: Vec<Integration>,
    /// Business attributes that rules read as `service.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_classification: Option<DataClassification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_segment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue_per_hour: Option<f64>,
    /// Alerts that share these labels join one incident; absent: one
    /// incident per dedup key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grouping: Option<Grouping>,
}

/// `grouping: {by: [alertname, cluster], window: 5m}`, as Alertmanager's
/// `group_by`: a trigger whose dedup key has no open incident joins the open
/// incident of its group (the same value for every `by` label) if that
/// incident was opened less than `window` ago, instead of opening another and
/// paging again. The incident resolves when every alert in it has resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grouping {
    pub by: Vec<String>,
    pub window: Duration,
}

impl Grouping {
    /// The group an event belongs to: each `by` label's value, looked up in
    /// the event's `labels`, then its `custom_details`, then its own fields
    /// (`source`, `component`, `group`, `class`, `severity`); a label the event
    /// lacks counts as empty, as in Alertmanager.
    pub fn key(&self, details: &serde_json::Value) -> String {
        let value = |name: &str| {
            [
                details.get("labels").and_then(|l| l.get(name)),
                details.get("custom_details").and_then(|c| c.get(name)),
                details.get(name),
            ]
            .into_iter()
            .flatten()
            .find(|v| !v.is_null())
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default()
        };
        // A JSON array keeps values containing separators apart.
        serde_json::Value::from(
            self.by
                .iter()
                .map(|name| serde_json::Value::from(value(name)))
                .collect::<Vec<_>>(),
        )
        .to_string()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataClassification {
    None,
    Internal,
    Pii,
    Regulated,
}

impl DataClassification {
    pub const ALL: [DataClassification; 4] = [
        DataClassification::None,
        DataClassification::Internal,
        DataClassification::Pii,
        DataClassification::Regulated,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            DataClassification::None => "none",
            DataClassification::Internal => "internal",
            DataClassification::Pii => "pii",
            DataClassification::Regulated => "regulated",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    #[serde(rename = "type")]
    pub kind: IntegrationKind,
    pub key: RoutingKey,
    /// For `generic`: CEL expressions over `body` that make the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<Mapping>,
}

/// How a generic webhook's JSON body becomes an event: one CEL expression per field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Mapping {
    pub const FIELDS: [&str; 5] = ["summary", "dedup_key", "severity", "action", "source"];

    /// The (field, expression) pairs present.
    pub fn expressions(&self) -> Vec<(&'static str, &str)> {
        let mut out = vec![("summary", self.summary.as_str())];
        for (name, e) in [
            ("dedup_key", &self.dedup_key),
            ("severity", &self.severity),
            ("action", &self.action),
            ("source", &self.source),
        ] {
            if let Some(e) = e {
                out.push((name, e.as_str()));
            }
        }
        out
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationKind {
    EventsV2,
    Alertmanager,
    Generic,
}

impl IntegrationKind {
    pub const ALL: [IntegrationKind; 3] = [
        IntegrationKind::EventsV2,
        IntegrationKind::Alertmanager,
        IntegrationKind::Generic,
    ];
    pub fn type_name(self) -> &'static str {
        match self {
            IntegrationKind::EventsV2 => "events_v2",
            IntegrationKind::Alertmanager => "alertmanager",
            IntegrationKind::Generic => "generic",
        }
    }
}

impl Config {
    pub fn schedule(&self, id: &ScheduleId) -> Option<&Schedule> {
        self.schedules.iter().find(|s| &s.id == id)
    }
}

#[cfg(test)]
mod grouping_tests {
    use super::Grouping;
    use crate::duration::Duration;
    use serde_json::json;

    fn grouping(by: &[&str]) -> Grouping {
        Grouping {
            by: by.iter().map(|s| s.to_string()).collect(),
            window: Duration::from_secs(300),
        }
    }

    #[test]
    fn alerts_with_the_same_label_values_share_a_group() {
        let g = grouping(&["alertname", "cluster"]);
        let a = json!({"labels": {"alertname": "DiskFull", "cluster": "eu1", "instance": "a"}});
        let b = json!({"labels": {"alertname": "DiskFull", "cluster": "eu1", "instance": "b"}});
        let c = json!({"labels": {"alertname": "DiskFull", "cluster": "us1", "instance": "a"}});
        assert_eq!(g.key(&a), g.key(&b));
        assert_ne!(g.key(&a), g.key(&c));
    }

    #[test]
    fn labels_come_from_labels_then_custom_details_then_the_event() {
        let g = grouping(&["cluster", "source"]);
        let from_details = json!({"custom_details": {"cluster": "eu1"}, "source": "db-1"});
        let from_labels =
            json!({"labels": {"cluster": "eu1", "source": "db-1"}, "source": "other"});
        assert_eq!(g.key(&from_details), g.key(&from_labels));
        assert_eq!(g.key(&from_details), r#"["eu1","db-1"]"#);
    }

    #[test]
    fn a_missing_label_is_empty_and_separators_cannot_merge_groups() {
        let g = grouping(&["a", "b"]);
        assert_eq!(g.key(&json!({})), r#"["",""]"#);
        let x = json!({"labels": {"a": "1,2", "b": "3"}});
        let y = json!({"labels": {"a": "1", "b": "2,3"}});
        assert_ne!(g.key(&x), g.key(&y));
    }
}
