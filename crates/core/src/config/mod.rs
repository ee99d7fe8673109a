//! Configuration as code: the model, its YAML reader with positioned errors
//! (`load`), cross-reference validation, and the YAML writer (`export`).
//! The model is also what the store keeps (as JSON) and what the engine reads.

mod channels;
mod export;
mod load;
mod schedule;

pub use channels::{
    Channels, DEFAULT_SLACK_API_URL, DEFAULT_TWILIO_API_URL, Secret, SecretError, SlackChannel,
    SmtpChannel, TwilioChannel, default_min_interval, resolve_address, resolve_address_with,
};
pub use export::to_yaml;
pub use load::{ConfigError, load};
pub use schedule::{Day, Layer, Override, Restriction, Rotation, Schedule, Window};

use crate::duration::Duration;
use crate::ids::{ContactMethodId, PolicyId, RoutingKey, ScheduleId, ServiceId, TeamId, UserId};
pub use crate::retention::{Keep, Retention};
pub use crate::templates::{Audience, TemplateSpec};
use serde::{Deserialize, Serialize};

/// Everything an organisation declares: who can be paged, how, and in which order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Accounts with the services that carry pages (SMTP, Slack, Twilio).
    #[serde(default, skip_serializing_if = "Channels::is_empty")]
    pub channels: Channels,
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
    /// Message templates per audience (and level) that replace the built-in
    /// defaults: see [`crate::templates`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<TemplateSpec>,
    /// Who is informed when an incident of a priority opens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub announcements: Vec<Announcement>,
    /// How long finished records are kept: see [`crate::retention`].
    #[serde(default, skip_serializing_if = "Retention::is_default")]
    pub retention: Retention,
}

/// `{priority: P1, notify: [{team: execs}], template: executive}`: when an
/// incident of `priority` opens, `notify` is informed like stakeholders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Announcement {
    pub priority: crate::rules::Priority,
    pub notify: Vec<Target>,
    /// An audience name or a template id.
    pub template: String,
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
                urgency: None,
            })
            .collect()
    }

    /// The rules in force for an incident of `urgency`: those without an
    /// urgency and those for exactly this one. A user whose every rule is for
    /// `high` is not notified of a `low` incident at all (by design: a P4 must
    /// not phone anyone at night).
    pub fn rules_for(&self, urgency: Urgency) -> Vec<NotificationRule> {
        self.effective_rules()
            .into_iter()
            .filter(|r| r.urgency.is_none_or(|u| u == urgency))
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

/// How a contact method reaches its user. `email` needs `channels.smtp`,
/// `sms` and `voice` need `channels.twilio`, `slack` needs `channels.slack`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContactKind {
    Webhook {
        url: String,
    },
    Email {
        address: String,
    },
    /// An E.164 number such as `+4915112345678`.
    Sms {
        number: String,
    },
    Voice {
        number: String,
    },
    /// A Slack member id (`U…`/`W…`) or channel id (`C…`).
    Slack {
        user: String,
    },
    /// A Microsoft Teams incoming-webhook URL.
    Teams {
        webhook_url: String,
    },
}

impl ContactKind {
    pub const TYPE_NAMES: [&str; 6] = ["webhook", "email", "sms", "voice", "slack", "teams"];

    pub fn type_name(&self) -> &'static str {
        match self {
            ContactKind::Webhook { .. } => "webhook",
            ContactKind::Email { .. } => "email",
            ContactKind::Sms { .. } => "sms",
            ContactKind::Voice { .. } => "voice",
            ContactKind::Slack { .. } => "slack",
            ContactKind::Teams { .. } => "teams",
        }
    }

    /// Where a message goes on this channel: URL, address, number or Slack id.
    pub fn address(&self) -> &str {
        match self {
            ContactKind::Webhook { url } => url,
            ContactKind::Email { address } => address,
            ContactKind::Sms { number } | ContactKind::Voice { number } => number,
            ContactKind::Slack { user } => user,
            ContactKind::Teams { webhook_url } => webhook_url,
        }
    }

    /// The `channels` section this kind is sent through, if it needs one.
    pub fn channel(&self) -> Option<&'static str> {
        match self {
            ContactKind::Email { .. } => Some("smtp"),
            ContactKind::Sms { .. } | ContactKind::Voice { .. } => Some("twilio"),
            ContactKind::Slack { .. } => Some("slack"),
            ContactKind::Webhook { .. } | ContactKind::Teams { .. } => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationRule {
    pub contact_method: ContactMethodId,
    /// Delay after the user was first notified at a level.
    pub after: Duration,
    /// Only for incidents of this urgency; absent means both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<Urgency>,
}

/// How hard a notification rule tries to reach someone. An incident's urgency
/// follows its priority: P1 and P2 are `high`, P3 to P5 are `low`, and an
/// incident without a priority is `high` (nothing said it may wait).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    High,
    Low,
}

impl Urgency {
    pub const ALL: [Urgency; 2] = [Urgency::High, Urgency::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::High => "high",
            Urgency::Low => "low",
        }
    }

    /// The urgency of an incident with this priority (see the type's documentation).
    pub fn of(priority: Option<crate::rules::Priority>) -> Urgency {
        use crate::rules::Priority;
        match priority {
            None | Some(Priority::P1 | Priority::P2) => Urgency::High,
            Some(Priority::P3 | Priority::P4 | Priority::P5) => Urgency::Low,
        }
    }
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
    /// Kept informed (never paged) when the incident reaches this level, on
    /// each status update and on resolve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stakeholders: Vec<Stakeholder>,
}

/// `{user: carol, template: executive}` or `{team: execs, template: exec-short}`:
/// who is informed, and with which template (an audience name or a template id).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stakeholder {
    #[serde(flatten)]
    pub target: Target,
    pub template: String,
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

    /// The template `name` stands for at `level`: a configured id, a
    /// `default-…` id or an audience name (see [`crate::templates::find`]).
    pub fn template(&self, name: &str, level: u32) -> Option<&TemplateSpec> {
        crate::templates::find(&self.templates, name, level)
    }

    /// The recipients announced to for an incident of `priority`, each with
    /// their announcement's template.
    pub fn announcements_for(&self, priority: Option<crate::rules::Priority>) -> Vec<Stakeholder> {
        self.announcements
            .iter()
            .filter(|a| Some(a.priority) == priority)
            .flat_map(|a| {
                a.notify.iter().map(|t| Stakeholder {
                    target: t.clone(),
                    template: a.template.clone(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod urgency_tests {
    use super::*;
    use crate::rules::Priority;

    fn alice() -> User {
        let method = |id: &str, kind: ContactKind| ContactMethod {
            id: ContactMethodId::parse(id).unwrap(),
            kind,
        };
        let rule = |cm: &str, secs: u64, urgency: Option<Urgency>| NotificationRule {
            contact_method: ContactMethodId::parse(cm).unwrap(),
            after: Duration::from_secs(secs),
            urgency,
        };
        User {
            id: UserId::parse("alice").unwrap(),
            name: None,
            time_zone: None,
            contact_methods: vec![
                method(
                    "dm",
                    ContactKind::Slack {
                        user: "U024BE7LH".into(),
                    },
                ),
                method(
                    "phone",
                    ContactKind::Sms {
                        number: "+4915112345678".into(),
                    },
                ),
                method(
                    "mail",
                    ContactKind::Email {
                        address: "a@example.com".into(),
                    },
                ),
            ],
            notification_rules: vec![
                rule("dm", 0, None),
                rule("phone", 120, Some(Urgency::High)),
                rule("mail", 600, Some(Urgency::Low)),
            ],
            skills: vec![],
            languages: vec![],
            region: None,
            away: vec![],
            handoff_notice: false,
        }
    }

    fn methods(rules: Vec<NotificationRule>) -> Vec<String> {
        rules
            .into_iter()
            .map(|r| r.contact_method.to_string())
            .collect()
    }

    #[test]
    fn p1_and_p2_are_high_urgency_p3_to_p5_low_and_no_priority_high() {
        assert_eq!(Urgency::of(None), Urgency::High);
        assert_eq!(Urgency::of(Some(Priority::P1)), Urgency::High);
        assert_eq!(Urgency::of(Some(Priority::P2)), Urgency::High);
        for p in [Priority::P3, Priority::P4, Priority::P5] {
            assert_eq!(Urgency::of(Some(p)), Urgency::Low);
        }
    }

    #[test]
    fn a_low_urgency_incident_does_not_phone() {
        let rules = alice().rules_for(Urgency::of(Some(Priority::P4)));
        assert_eq!(methods(rules), ["dm", "mail"]);
    }

    #[test]
    fn a_high_urgency_incident_uses_the_high_and_the_unqualified_rules() {
        assert_eq!(methods(alice().rules_for(Urgency::High)), ["dm", "phone"]);
    }

    #[test]
    fn without_declared_rules_every_method_applies_at_any_urgency() {
        let mut user = alice();
        user.notification_rules.clear();
        for u in Urgency::ALL {
            assert_eq!(methods(user.rules_for(u)), ["dm", "phone", "mail"]);
        }
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
