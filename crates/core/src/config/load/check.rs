//! The structural pass (tree → model) and the cross-reference pass (ids that
//! must exist), both collecting every error with its position and path.

use super::ConfigError;
use super::tree::*;
use crate::config::{
    Announcement, Audience, Config, DataClassification, Day, DetectorSpec, EscalationPolicy,
    Filter, Grouping, Integration, IntegrationKind, Layer, Level, Mapping, NotificationRule,
    Override, Restriction, Rotation, Schedule, Service, Stakeholder, Target, TargetKind, Team,
    TemplateSpec, Urgency, User, Window,
};
use crate::duration::Duration;
use crate::ids::{
    ContactMethodId, IdError, LayerId, PolicyId, RoutingKey, ScheduleId, ServiceId, TeamId, UserId,
};
use crate::rules::{Priority, RuleSpec, Then};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Display;

/// Things with an id that others refer to.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    User,
    Team,
    Policy,
    Service,
    Schedule,
}

impl Kind {
    pub(super) fn noun(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Team => "team",
            Kind::Policy => "escalation policy",
            Kind::Service => "service",
            Kind::Schedule => "schedule",
        }
    }
}

/// An id mentioned somewhere, checked once everything is defined.
pub(super) struct Reference {
    pub(super) kind: Kind,
    pub(super) id: String,
    pub(super) path: String,
    pub(super) pos: Pos,
}

#[derive(Default)]
pub(super) struct Checker {
    pub(super) errors: Vec<ConfigError>,
    /// Per [`Kind`]: id to where it was first defined.
    pub(super) defined: [HashMap<String, Pos>; 5],
    pub(super) references: Vec<Reference>,
    /// Routing key to the service that declared it first.
    pub(super) routing_keys: HashMap<String, String>,
    /// Each rule's `when`: where it is, for compile errors.
    pub(super) rule_conditions: Vec<(Pos, String, String)>,
    /// Contact methods that need a `channels` section: (where, path, type, section).
    pub(super) channel_needs: Vec<(Pos, String, &'static str, &'static str)>,
    /// Template id to where it was first defined.
    pub(super) template_ids: HashMap<String, Pos>,
    /// Template names used elsewhere (an id or an audience): (where, path, name).
    pub(super) template_refs: Vec<(Pos, String, String)>,
}

/// A mapping's known keys, after unknown and repeated keys were reported.
pub(super) struct Fields<'n> {
    pub(super) pos: Pos,
    pub(super) path: String,
    pub(super) entries: Vec<(&'n str, Pos, &'n Node)>,
}

impl<'n> Fields<'n> {
    /// The value under `key`, even if null.
    pub(super) fn raw(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, v)| *v)
    }

    /// The value under `key`; an explicit null counts as absent.
    pub(super) fn get(&self, key: &str) -> Option<&'n Node> {
        self.raw(key).filter(|n| !n.is_null())
    }

    pub(super) fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Records `id` as defined at `pos`, or returns where it was first defined.
pub(super) fn first_definition(seen: &mut HashMap<String, Pos>, id: &str, pos: Pos) -> Option<Pos> {
    match seen.entry(id.to_owned()) {
        Entry::Occupied(first) => Some(*first.get()),
        Entry::Vacant(slot) => {
            slot.insert(pos);
            None
        }
    }
}

pub(super) fn duplicate_id(id: &str, first: Pos) -> String {
    format!("duplicate id {id:?} (first defined at line {})", first.line)
}

pub(super) type Parse<T> = fn(&str) -> Result<T, IdError>;

impl Checker {
    pub(super) fn error(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.errors.push(pos.error(path, message));
    }

    pub(super) fn config(&mut self, root: &Node) -> Config {
        if root.is_null() {
            return Config::default();
        }
        let keys = [
            "channels",
            "users",
            "teams",
            "schedules",
            "escalation_policies",
            "services",
            "rules",
            "detectors",
            "templates",
            "announcements",
        ];
        let Some(f) = self.fields(root, "", &keys) else {
            return Config::default();
        };
        let (channels, declared) = match f.get("channels") {
            Some(n) => self.channels(n, &f.path("channels")),
            None => Default::default(),
        };
        let config = Config {
            channels,
            users: self.items(&f, "users", None, Self::user),
            teams: self.items(&f, "teams", None, Self::team),
            schedules: self.items(&f, "schedules", None, Self::schedule),
            escalation_policies: self.items(&f, "escalation_policies", None, Self::policy),
            services: self.items(&f, "services", None, Self::service),
            rules: self.items(&f, "rules", None, Self::rule),
            detectors: self.items(&f, "detectors", None, Self::detector),
            templates: self.items(&f, "templates", None, Self::template),
            announcements: self.items(&f, "announcements", None, Self::announcement),
        };
        self.check_channel_needs(&declared);
        self.check_template_references();
        config
    }

    pub(super) fn detector(&mut self, node: &Node, path: String) -> Option<DetectorSpec> {
        let keys = [
            "id",
            "service",
            "metric",
            "method",
            "sensitivity",
            "above",
            "below",
            "for",
            "severity",
            "resolve_after",
        ];
        let f = self.fields(node, &path, &keys)?;
        let id = self
            .required(&f, "id")
            .and_then(|n| self.id(n, &f.path("id"), UserId::parse))
            .map(|i| i.to_string());
        let service = self
            .required(&f, "service")
            .and_then(|n| self.reference(Kind::Service, n, &f.path("service"), ServiceId::parse));
        let metric = self
            .required(&f, "metric")
            .and_then(|n| self.text(n, &f.path("metric")).map(str::to_owned));
        let number = |this: &mut Self, key: &str| -> Option<Option<f64>> {
            match f.get(key) {
                Some(n) => this.number(n, &f.path(key)).map(Some),
                None => Some(None),
            }
        };
        let method = match self
            .required(&f, "method")
            .and_then(|n| self.type_name(n, &f.path("method"), &["anomaly", "threshold"]))
        {
            Some(0) => {
                let sensitivity =
                    number(self, "sensitivity")?.unwrap_or(crate::anomaly::DEFAULT_SENSITIVITY);
                if sensitivity <= 0.0 {
                    self.error(f.pos, &f.path("sensitivity"), "must be greater than 0");
                    return None;
                }
                for key in ["above", "below", "for"] {
                    if let Some(n) = f.get(key) {
                        self.error(
                            n.pos,
                            &f.path(key),
                            "only a threshold detector takes this key",
                        );
                    }
                }
                Some(crate::anomaly::Method::Anomaly { sensitivity })
            }
            Some(_) => {
                let (above, below) = (number(self, "above")?, number(self, "below")?);
                if above.is_none() && below.is_none() {
                    self.error(
                        f.pos,
                        &f.path("above"),
                        "a threshold detector needs above, below or both",
                    );
                    return None;
                }
                let for_secs = match f.get("for") {
                    Some(n) => self.duration(n, &f.path("for"))?.as_secs(),
                    None => 0,
                };
                Some(crate::anomaly::Method::Threshold {
                    above,
                    below,
                    for_secs,
                })
            }
            None => None,
        };
        let severity = match f.get("severity") {
            Some(n) => {
                let p = f.path("severity");
                let i = self.type_name(n, &p, &["critical", "error", "warning", "info"])?;
                ["critical", "error", "warning", "info"][i].to_owned()
            }
            None => "error".to_owned(),
        };
        let resolve_after = match f.get("resolve_after") {
            Some(n) => self.duration(n, &f.path("resolve_after"))?,
            None => Duration::from_secs(600),
        };
        Some(DetectorSpec {
            id: id?,
            service: service?,
            metric: metric?,
            method: method?,
            severity,
            resolve_after,
        })
    }

    /// `{id, audience, level?, subject, text}`; both parts must compile.
    pub(super) fn template(&mut self, node: &Node, path: String) -> Option<TemplateSpec> {
        let keys = ["id", "audience", "level", "subject", "text"];
        let f = self.fields(node, &path, &keys)?;
        let id = self.required(&f, "id").and_then(|n| {
            let p = f.path("id");
            let id = self.id(n, &p, UserId::parse)?.to_string();
            if id.starts_with(crate::templates::DEFAULT_PREFIX) {
                let message = format!(
                    "ids starting with {:?} name the built-in templates",
                    crate::templates::DEFAULT_PREFIX
                );
                self.error(n.pos, &p, message);
                return None;
            }
            if Audience::parse(&id).is_some() {
                self.error(n.pos, &p, "an audience name cannot be a template id");
                return None;
            }
            if let Some(first) = first_definition(&mut self.template_ids, &id, n.pos) {
                self.error(n.pos, &p, duplicate_id(&id, first));
            }
            Some(id)
        });
        let names = Audience::ALL.map(Audience::as_str);
        let audience = self
            .required(&f, "audience")
            .and_then(|n| self.type_name(n, &f.path("audience"), &names))
            .map(|i| Audience::ALL[i]);
        let level = match f.get("level") {
            Some(n) => {
                let p = f.path("level");
                let level = self.repeat(n, &p)?;
                if level == 0 {
                    self.error(n.pos, &p, "levels are numbered from 1");
                    return None;
                }
                Some(level)
            }
            None => None,
        };
        let part = |this: &mut Self, key: &str| {
            this.required(&f, key)
                .and_then(|n| Some((n.pos, this.text(n, &f.path(key))?.to_owned())))
        };
        let subject = part(self, "subject");
        let text = part(self, "text");
        let ((subject_pos, subject), (text_pos, text)) = (subject?, text?);
        let spec = TemplateSpec {
            id: id?,
            audience: audience?,
            level,
            subject,
            text,
        };
        if let Err(e) = crate::templates::compile(&spec) {
            let pos = if e.part == "subject" {
                subject_pos
            } else {
                text_pos
            };
            let message = format!("template {:?}: {e}", spec.id);
            self.error(pos, &f.path(e.part), message);
            return None;
        }
        Some(spec)
    }

    /// `{priority: P1, notify: [{team: execs}], template: executive}`;
    /// `template` defaults to `executive`.
    pub(super) fn announcement(&mut self, node: &Node, path: String) -> Option<Announcement> {
        let f = self.fields(node, &path, &["priority", "notify", "template"])?;
        let priority = self.required(&f, "priority").and_then(|n| {
            let p = f.path("priority");
            let text = self.text(n, &p)?;
            text.parse::<Priority>()
                .map_err(|e| self.error(n.pos, &p, e.to_string()))
                .ok()
        });
        let notify = self.items(
            &f,
            "notify",
            Some("must name at least one user or team"),
            Self::target,
        );
        let template = self.template_ref(&f, Audience::Executive)?;
        Some(Announcement {
            priority: priority?,
            notify,
            template,
        })
    }

    /// Every template name used must be an audience, a default or a configured id.
    pub(super) fn check_template_references(&mut self) {
        let ids: Vec<String> = self.template_ids.keys().cloned().collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        for (pos, path, name) in std::mem::take(&mut self.template_refs) {
            if !crate::templates::is_known(&ids, &name) {
                let message = format!(
                    "unknown template {name:?}; expected a template id or one of: {}",
                    Audience::ALL.map(Audience::as_str).join(", ")
                );
                self.error(pos, &path, message);
            }
        }
    }

    pub(super) fn rule(&mut self, node: &Node, path: String) -> Option<RuleSpec> {
        let keys = ["id", "exception", "when", "then", "owner", "review_by"];
        let f = self.fields(node, &path, &keys)?;
        let id = self
            .required(&f, "id")
            .and_then(|n| self.text(n, &f.path("id")).map(str::to_owned));
        let exception = match f.get("exception") {
            Some(n) => self.boolean(n, &f.path("exception"))?,
            None => false,
        };
        let when = self.required(&f, "when").and_then(|n| {
            let text = self.text(n, &f.path("when"))?.to_owned();
            self.rule_conditions
                .push((n.pos, f.path("when"), text.clone()));
            Some(text)
        });
        let then = self
            .required(&f, "then")
            .and_then(|n| self.then(n, &f.path("then")));
        let owner = match f.get("owner") {
            Some(n) => Some(
                self.reference(Kind::User, n, &f.path("owner"), UserId::parse)?
                    .to_string(),
            ),
            None => None,
        };
        let review_by = match f.get("review_by") {
            Some(n) => {
                let path = f.path("review_by");
                let text = self.text(n, &path)?;
                match text.parse::<jiff::civil::Date>() {
                    Ok(d) => Some(d),
                    Err(_) => {
                        self.error(
                            n.pos,
                            &path,
                            format!("{text:?} is not a date such as 2027-03-01"),
                        );
                        return None;
                    }
                }
            }
            None => None,
        };
        Some(RuleSpec {
            id: id?,
            exception,
            when: when?,
            then: then?,
            owner,
            review_by,
        })
    }

    pub(super) fn then(&mut self, node: &Node, path: &str) -> Option<Then> {
        let f = self.fields(
            node,
            path,
            &["priority", "start_level", "notify", "suppress"],
        )?;
        let priority = match f.get("priority") {
            Some(n) => {
                let p = f.path("priority");
                let text = self.text(n, &p)?;
                match text.parse::<Priority>() {
                    Ok(v) => Some(v),
                    Err(e) => {
                        self.error(n.pos, &p, e.to_string());
                        return None;
                    }
                }
            }
            None => None,
        };
        let start_level = match f.get("start_level") {
            Some(n) => Some(self.repeat(n, &f.path("start_level"))?),
            None => None,
        };
        let notify = self.items(&f, "notify", None, Self::target);
        let suppress = match f.get("suppress") {
            Some(n) => self.boolean(n, &f.path("suppress"))?,
            None => false,
        };
        Some(Then {
            priority,
            start_level,
            notify,
            suppress,
        })
    }

    /// Compiles the rules, reporting each CEL problem at the rule's `when`.
    pub(super) fn compile_rules(&mut self, config: &Config) {
        if config.rules.len() != self.rule_conditions.len() {
            return; // structural errors already reported
        }
        let Err(errors) = crate::rules::compile(&config.rules) else {
            return;
        };
        for e in errors {
            let (pos, path, _) = self.rule_conditions[e.index].clone();
            let message = match e.position {
                Some((line, col)) => format!(
                    "rule {:?}: {} (at line {line}, column {col} of the expression)",
                    e.rule, e.message
                ),
                None => format!("rule {:?}: {}", e.rule, e.message),
            };
            self.error(pos, &path, message);
        }
    }

    pub(super) fn user(&mut self, node: &Node, path: String) -> Option<User> {
        let keys = [
            "id",
            "name",
            "time_zone",
            "contact_methods",
            "notification_rules",
            "skills",
            "languages",
            "region",
            "away",
            "handoff_notice",
        ];
        let f = self.fields(node, &path, &keys)?;
        let id = self.identity(&f, Kind::User, UserId::parse);
        let name = self.optional_text(&f, "name");
        let time_zone = self.time_zone(&f);
        // Ids of every contact method, including those with other errors,
        // so that rules referring to them are not reported as well.
        let mut methods = HashMap::new();
        let contact_methods = self.items(&f, "contact_methods", None, |this, n, p| {
            this.contact_method(n, p, &mut methods)
        });
        let notification_rules = self.items(&f, "notification_rules", None, |this, n, p| {
            this.notification_rule(n, p, id.as_ref(), &methods)
        });
        let skills = self.items(&f, "skills", None, |this, n, p| {
            this.text(n, &p).map(str::to_owned)
        });
        let languages = self.items(&f, "languages", None, |this, n, p| {
            this.text(n, &p).map(str::to_owned)
        });
        let region = self.optional_text(&f, "region");
        let away = self.items(&f, "away", None, Self::window);
        let handoff_notice = match f.get("handoff_notice") {
            Some(n) => self.boolean(n, &f.path("handoff_notice"))?,
            None => false,
        };
        Some(User {
            id: id?,
            name,
            time_zone,
            contact_methods,
            notification_rules,
            skills,
            languages,
            region,
            away,
            handoff_notice,
        })
    }

    pub(super) fn time_zone(&mut self, f: &Fields) -> Option<String> {
        let node = f.get("time_zone")?;
        let path = f.path("time_zone");
        let name = self.text(node, &path)?;
        if jiff::tz::TimeZone::get(name).is_err() {
            self.error(node.pos, &path, format!("unknown time zone {name:?}"));
        }
        Some(name.to_owned())
    }

    pub(super) fn notification_rule(
        &mut self,
        node: &Node,
        path: String,
        user: Option<&UserId>,
        methods: &HashMap<String, Pos>,
    ) -> Option<NotificationRule> {
        let f = self.fields(node, &path, &["contact_method", "after", "urgency"])?;
        let contact_method = self.required(&f, "contact_method").and_then(|n| {
            let path = f.path("contact_method");
            let id = self.id(n, &path, ContactMethodId::parse)?;
            if !methods.contains_key(id.as_str()) {
                let message = match user {
                    Some(user) => format!(
                        "unknown contact method {:?} for user {:?}",
                        id.as_str(),
                        user.as_str()
                    ),
                    None => format!("unknown contact method {:?}", id.as_str()),
                };
                self.error(n.pos, &path, message);
            }
            Some(id)
        });
        let after = self
            .required(&f, "after")
            .and_then(|n| self.duration(n, &f.path("after")));
        let urgency = match f.get("urgency") {
            Some(n) => {
                let names = Urgency::ALL.map(Urgency::as_str);
                let i = self.type_name(n, &f.path("urgency"), &names)?;
                Some(Urgency::ALL[i])
            }
            None => None,
        };
        Some(NotificationRule {
            contact_method: contact_method?,
            after: after?,
            urgency,
        })
    }

    pub(super) fn team(&mut self, node: &Node, path: String) -> Option<Team> {
        let f = self.fields(node, &path, &["id", "name", "members"])?;
        let id = self.identity(&f, Kind::Team, TeamId::parse);
        let name = self.optional_text(&f, "name");
        let mut seen = HashMap::new();
        let members = self.items(
            &f,
            "members",
            Some("must have at least one member"),
            |this, n, p| {
                let user = this.reference(Kind::User, n, &p, UserId::parse)?;
                match first_definition(&mut seen, user.as_str(), n.pos) {
                    None => Some(user),
                    Some(first) => {
                        let message = format!(
                            "duplicate member {:?} (first listed at line {})",
                            user.as_str(),
                            first.line
                        );
                        this.error(n.pos, &p, message);
                        None
                    }
                }
            },
        );
        Some(Team {
            id: id?,
            name,
            members,
        })
    }

    pub(super) fn policy(&mut self, node: &Node, path: String) -> Option<EscalationPolicy> {
        let f = self.fields(node, &path, &["id", "name", "repeat", "levels"])?;
        let id = self.identity(&f, Kind::Policy, PolicyId::parse);
        let name = self.optional_text(&f, "name");
        let repeat = match f.get("repeat") {
            Some(n) => self.repeat(n, &f.path("repeat")),
            None => Some(0),
        };
        let levels = self.items(
            &f,
            "levels",
            Some("must have at least one level"),
            Self::level,
        );
        Some(EscalationPolicy {
            id: id?,
            name,
            repeat: repeat?,
            levels,
        })
    }

    pub(super) fn repeat(&mut self, node: &Node, path: &str) -> Option<u32> {
        const MESSAGE: &str = "repeat must be a non-negative integer";
        let (text, plain) = match &node.value {
            Value::Scalar { text, plain } => (text, *plain),
            Value::Invalid => return None,
            Value::List(_) | Value::Map(_) => {
                self.error(node.pos, path, MESSAGE);
                return None;
            }
        };
        let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        let message = match (digits, plain) {
            (true, true) => match text.parse() {
                Ok(n) => return Some(n),
                Err(_) => format!("{MESSAGE} no larger than {}", u32::MAX),
            },
            (true, false) => format!("{MESSAGE}, written without quotes"),
            (false, _) => MESSAGE.to_owned(),
        };
        self.error(node.pos, path, message);
        None
    }

    pub(super) fn level(&mut self, node: &Node, path: String) -> Option<Level> {
        let keys = ["targets", "backup", "escalate_after", "stakeholders"];
        let f = self.fields(node, &path, &keys)?;
        let targets = self.items(
            &f,
            "targets",
            Some("must have at least one target"),
            Self::target,
        );
        let backup = self.items(&f, "backup", None, Self::target);
        let stakeholders = self.items(&f, "stakeholders", None, Self::stakeholder);
        let escalate_after = self.required(&f, "escalate_after").and_then(|n| {
            let path = f.path("escalate_after");
            let after = self.duration(n, &path)?;
            if after < Duration::from_secs(1) {
                self.error(n.pos, &path, "must be at least 1s");
            }
            Some(after)
        });
        Some(Level {
            targets,
            backup,
            escalate_after: escalate_after?,
            stakeholders,
        })
    }

    /// `{user: carol, template: executive}` or `{team: execs, template: exec-short}`;
    /// `template` defaults to `stakeholder`.
    pub(super) fn stakeholder(&mut self, node: &Node, path: String) -> Option<Stakeholder> {
        const SHAPE: &str =
            "expected a mapping such as {user: carol, template: executive} or {team: execs}";
        if !matches!(node.value, Value::Map(_) | Value::Invalid) {
            self.error(node.pos, &path, SHAPE);
            return None;
        }
        let f = self.fields(node, &path, &["user", "team", "template"])?;
        let target = match (f.raw("user"), f.raw("team")) {
            (Some(n), None) => self
                .reference(Kind::User, n, &f.path("user"), UserId::parse)
                .map(Target::user),
            (None, Some(n)) => self
                .reference(Kind::Team, n, &f.path("team"), TeamId::parse)
                .map(Target::team),
            (Some(_), Some(_)) => {
                self.error(f.pos, &path, "a stakeholder names one user or one team");
                None
            }
            (None, None) => {
                self.error(f.pos, &path, SHAPE);
                None
            }
        };
        let template = self.template_ref(&f, Audience::Stakeholder)?;
        Some(Stakeholder {
            target: target?,
            template,
        })
    }

    pub(super) fn target(&mut self, node: &Node, path: String) -> Option<Target> {
        const SHAPE: &str =
            "expected a mapping such as {user: alice}, {team: sre} or {schedule: primary}";
        let entries = match &node.value {
            Value::Map(entries) => entries,
            Value::Invalid => return None,
            Value::Scalar { .. } | Value::List(_) => {
                self.error(node.pos, &path, SHAPE);
                return None;
            }
        };
        let keys = ["user", "team", "schedule", "skill", "language", "region"];
        let f = self.fields(node, &path, &keys)?;
        let filter = Filter {
            skill: self.optional_text(&f, "skill"),
            language: self.optional_text(&f, "language"),
            region: self.optional_text(&f, "region"),
        };
        let named: Vec<&str> = ["user", "team", "schedule"]
            .into_iter()
            .filter(|k| f.raw(k).is_some())
            .collect();
        let kind = match named.as_slice() {
            ["user"] => self
                .reference(Kind::User, f.raw("user")?, &f.path("user"), UserId::parse)
                .map(TargetKind::User),
            ["team"] => self
                .reference(Kind::Team, f.raw("team")?, &f.path("team"), TeamId::parse)
                .map(TargetKind::Team),
            ["schedule"] => self
                .reference(
                    Kind::Schedule,
                    f.raw("schedule")?,
                    &f.path("schedule"),
                    ScheduleId::parse,
                )
                .map(TargetKind::Schedule),
            [] => {
                // An unknown key was reported already; an empty mapping or bare filters were not.
                if entries.is_empty() || !filter.is_empty() {
                    self.error(node.pos, &path, SHAPE);
                }
                None
            }
            _ => {
                self.error(
                    f.pos,
                    &path,
                    "a target names one user, one team or one schedule",
                );
                None
            }
        };
        Some(Target {
            kind: kind?,
            filter,
        })
    }

    pub(super) fn window(&mut self, node: &Node, path: String) -> Option<Window> {
        let f = self.fields(node, &path, &["from", "to"])?;
        self.window_of(&f)
    }

    /// The `from` and `to` of a mapping, `from` strictly first.
    pub(super) fn window_of(&mut self, f: &Fields) -> Option<Window> {
        let from = self
            .required(f, "from")
            .and_then(|n| self.instant(n, &f.path("from")));
        let to = self
            .required(f, "to")
            .and_then(|n| self.instant(n, &f.path("to")));
        let (from, to) = (from?, to?);
        if from >= to {
            self.error(f.pos, &f.path("to"), "must be later than from");
            return None;
        }
        Some(Window { from, to })
    }

    /// An instant written with its offset (`2026-12-24T18:00:00+01:00` or `…Z`).
    pub(super) fn instant(&mut self, node: &Node, path: &str) -> Option<jiff::Timestamp> {
        let text = self.text(node, path)?;
        text.parse::<jiff::Timestamp>()
            .map_err(|_| {
                let message = format!(
                    "{text:?} is not a timestamp with an offset, such as 2026-12-24T18:00:00+01:00"
                );
                self.error(node.pos, path, message)
            })
            .ok()
    }

    pub(super) fn schedule(&mut self, node: &Node, path: String) -> Option<Schedule> {
        let f = self.fields(
            node,
            &path,
            &["id", "name", "time_zone", "layers", "overrides"],
        )?;
        let id = self.identity(&f, Kind::Schedule, ScheduleId::parse);
        let name = self.optional_text(&f, "name");
        let time_zone = match f.get("time_zone") {
            Some(_) => self.time_zone(&f),
            None => {
                self.required(&f, "time_zone");
                None
            }
        };
        let mut layer_ids = HashMap::new();
        let layers = self.items(
            &f,
            "layers",
            Some("must have at least one layer"),
            |this, n, p| this.layer(n, p, &mut layer_ids),
        );
        let overrides = self.items(&f, "overrides", None, Self::schedule_override);
        Some(Schedule {
            id: id?,
            name,
            time_zone: time_zone?,
            layers,
            overrides,
        })
    }

    pub(super) fn layer(
        &mut self,
        node: &Node,
        path: String,
        seen: &mut HashMap<String, Pos>,
    ) -> Option<Layer> {
        let keys = [
            "id",
            "time_zone",
            "start",
            "rotation",
            "members",
            "restrictions",
        ];
        let f = self.fields(node, &path, &keys)?;
        let id = self.required(&f, "id").and_then(|n| {
            let path = f.path("id");
            let id = self.id(n, &path, LayerId::parse)?;
            if let Some(first) = first_definition(seen, id.as_str(), n.pos) {
                self.error(n.pos, &path, duplicate_id(id.as_str(), first));
            }
            Some(id)
        });
        let time_zone = self.time_zone(&f);
        let start = self.required(&f, "start").and_then(|n| {
            let path = f.path("start");
            let text = self.text(n, &path)?;
            text.parse::<jiff::civil::DateTime>()
                .map_err(|_| {
                    let message =
                        format!("{text:?} is not a local date and time such as 2026-11-30T09:00");
                    self.error(n.pos, &path, message)
                })
                .ok()
        });
        let rotation = self
            .required(&f, "rotation")
            .and_then(|n| self.rotation(n, &f.path("rotation")));
        let members = self.items(
            &f,
            "members",
            Some("must have at least one member"),
            |this, n, p| this.reference(Kind::User, n, &p, UserId::parse),
        );
        let restrictions = self.items(&f, "restrictions", None, Self::restriction);
        Some(Layer {
            id: id?,
            time_zone,
            start: start?,
            rotation: rotation?,
            members,
            restrictions,
        })
    }

    pub(super) fn rotation(&mut self, node: &Node, path: &str) -> Option<Rotation> {
        const MESSAGE: &str = "expected hourly, daily, weekly or {every: DURATION}";
        match &node.value {
            Value::Scalar { text, .. } => match text.as_str() {
                "hourly" => Some(Rotation::Hourly),
                "daily" => Some(Rotation::Daily),
                "weekly" => Some(Rotation::Weekly),
                other => {
                    self.error(
                        node.pos,
                        path,
                        format!("unknown rotation {other:?}; {MESSAGE}"),
                    );
                    None
                }
            },
            Value::Map(_) => {
                let f = self.fields(node, path, &["every"])?;
                let n = self.required(&f, "every")?;
                let every = self.duration(n, &f.path("every"))?;
                if every < Duration::from_secs(60) {
                    self.error(n.pos, &f.path("every"), "must be at least 1m");
                    return None;
                }
                Some(Rotation::Every(every))
            }
            Value::Invalid => None,
            Value::List(_) => {
                self.error(node.pos, path, MESSAGE);
                None
            }
        }
    }

    pub(super) fn restriction(&mut self, node: &Node, path: String) -> Option<Restriction> {
        let f = self.fields(node, &path, &["days", "from", "to"])?;
        let days = self.items(&f, "days", Some("must name at least one day"), |this, n, p| {
            let text = this.text(n, &p)?;
            Day::parse(text).or_else(|| {
                this.error(n.pos, &p, format!("unknown day {text:?}; expected one of: mon, tue, wed, thu, fri, sat, sun"));
                None
            })
        });
        let time = |this: &mut Self, key: &str| {
            let n = this.required(&f, key)?;
            let path = f.path(key);
            let text = this.text(n, &path)?;
            text.parse::<jiff::civil::Time>()
                .ok()
                .filter(|_| text.len() >= 4)
                .or_else(|| {
                    this.error(
                        n.pos,
                        &path,
                        format!("{text:?} is not a time of day such as 09:00"),
                    );
                    None
                })
        };
        let from = time(self, "from");
        let to = time(self, "to");
        Some(Restriction {
            days,
            from: from?,
            to: to?,
        })
    }

    pub(super) fn schedule_override(&mut self, node: &Node, path: String) -> Option<Override> {
        let f = self.fields(node, &path, &["user", "replaces", "from", "to"])?;
        let user = self
            .required(&f, "user")
            .and_then(|n| self.reference(Kind::User, n, &f.path("user"), UserId::parse));
        let replaces = match f.get("replaces") {
            Some(n) => Some(self.reference(Kind::User, n, &f.path("replaces"), UserId::parse)?),
            None => None,
        };
        let Window { from, to } = self.window_of(&f)?;
        Some(Override {
            user: user?,
            replaces,
            from,
            to,
        })
    }

    pub(super) fn service(&mut self, node: &Node, path: String) -> Option<Service> {
        let keys = [
            "id",
            "name",
            "escalation_policy",
            "integrations",
            "tier",
            "data_classification",
            "customer_segment",
            "revenue_per_hour",
            "grouping",
        ];
        let f = self.fields(node, &path, &keys)?;
        let id = self.identity(&f, Kind::Service, ServiceId::parse);
        let name = self.optional_text(&f, "name");
        let escalation_policy = self.required(&f, "escalation_policy").and_then(|n| {
            self.reference(
                Kind::Policy,
                n,
                &f.path("escalation_policy"),
                PolicyId::parse,
            )
        });
        let owner = id
            .as_ref()
            .map_or_else(|| path.clone(), ServiceId::to_string);
        let integrations = self.items(&f, "integrations", None, |this, n, p| {
            this.integration(n, p, &owner)
        });
        let tier = match f.get("tier") {
            Some(n) => Some(self.repeat(n, &f.path("tier"))?),
            None => None,
        };
        let data_classification = match f.get("data_classification") {
            Some(n) => {
                let path = f.path("data_classification");
                let names: Vec<&str> = DataClassification::ALL.iter().map(|d| d.as_str()).collect();
                let text = self.text(n, &path)?;
                match DataClassification::ALL
                    .into_iter()
                    .find(|d| d.as_str() == text)
                {
                    Some(d) => Some(d),
                    None => {
                        self.error(
                            n.pos,
                            &path,
                            format!(
                                "unknown data classification {text:?}; expected one of: {}",
                                names.join(", ")
                            ),
                        );
                        return None;
                    }
                }
            }
            None => None,
        };
        let customer_segment = self.optional_text(&f, "customer_segment");
        let revenue_per_hour = match f.get("revenue_per_hour") {
            Some(n) => Some(self.number(n, &f.path("revenue_per_hour"))?),
            None => None,
        };
        let grouping = match f.get("grouping") {
            Some(n) => Some(self.grouping(n, &f.path("grouping"))?),
            None => None,
        };
        Some(Service {
            id: id?,
            name,
            escalation_policy: escalation_policy?,
            integrations,
            tier,
            data_classification,
            customer_segment,
            revenue_per_hour,
            grouping,
        })
    }

    pub(super) fn grouping(&mut self, node: &Node, path: &str) -> Option<Grouping> {
        let f = self.fields(node, path, &["by", "window"])?;
        let by = self.items(
            &f,
            "by",
            Some("list at least one label to group by"),
            |this, n, p| {
                let label = this.text(n, &p)?;
                if label.is_empty() {
                    this.error(n.pos, &p, "a label name cannot be empty");
                    return None;
                }
                Some(label.to_owned())
            },
        );
        let window = self.required(&f, "window").and_then(|n| {
            let path = f.path("window");
            let window = self.duration(n, &path)?;
            if window < Duration::from_secs(1) {
                self.error(n.pos, &path, "must be at least 1s");
                return None;
            }
            Some(window)
        });
        if by.is_empty() {
            return None;
        }
        Some(Grouping {
            by,
            window: window?,
        })
    }

    pub(super) fn integration(
        &mut self,
        node: &Node,
        path: String,
        owner: &str,
    ) -> Option<Integration> {
        let f = self.fields(node, &path, &["type", "key", "mapping"])?;
        let names: Vec<&str> = IntegrationKind::ALL.iter().map(|k| k.type_name()).collect();
        let kind = self
            .required(&f, "type")
            .and_then(|n| self.type_name(n, &f.path("type"), &names))
            .map(|i| IntegrationKind::ALL[i]);
        let mapping = match (kind, f.get("mapping")) {
            (Some(IntegrationKind::Generic), Some(n)) => Some(self.mapping(n, &f.path("mapping"))?),
            (Some(IntegrationKind::Generic), None) => {
                self.required(&f, "mapping");
                return None;
            }
            (Some(_), Some(n)) => {
                self.error(
                    n.pos,
                    &f.path("mapping"),
                    "only a generic integration has a mapping",
                );
                return None;
            }
            (_, _) => None,
        };
        let key = self.required(&f, "key").and_then(|n| {
            let path = f.path("key");
            let text = self.text(n, &path)?;
            let key = RoutingKey::parse(text)
                .map_err(|e| self.error(n.pos, &path, e.to_string()))
                .ok()?;
            match self.routing_keys.get(text) {
                Some(other) => {
                    let message = format!("integration key is already used by service {other:?}");
                    self.error(n.pos, &path, message);
                }
                None => {
                    self.routing_keys.insert(text.to_owned(), owner.to_owned());
                }
            }
            Some(key)
        });
        Some(Integration {
            kind: kind?,
            key: key?,
            mapping,
        })
    }

    /// A generic webhook's mapping: each field a CEL expression, checked by
    /// compiling it, within the rules' cost budget (it runs on every event).
    pub(super) fn mapping(&mut self, node: &Node, path: &str) -> Option<Mapping> {
        let f = self.fields(node, path, &Mapping::FIELDS)?;
        let expr = |this: &mut Self, key: &str, required: bool| -> Option<Option<String>> {
            let n = match (f.get(key), required) {
                (Some(n), _) => n,
                (None, true) => {
                    this.required(&f, key);
                    return None;
                }
                (None, false) => return Some(None),
            };
            let path = f.path(key);
            let text = this.text(n, &path)?.to_owned();
            let checked = crate::rules::compile_expression(&text).and_then(|e| {
                e.check_variables(&["body"])?;
                e.check_cost(crate::rules::MAX_COST)
            });
            if let Err(e) = checked {
                this.error(n.pos, &path, format!("invalid CEL expression: {e}"));
                return None;
            }
            Some(Some(text))
        };
        let summary = expr(self, "summary", true);
        let dedup_key = expr(self, "dedup_key", false);
        let severity = expr(self, "severity", false);
        let action = expr(self, "action", false);
        let source = expr(self, "source", false);
        Some(Mapping {
            summary: summary??,
            dedup_key: dedup_key?,
            severity: severity?,
            action: action?,
            source: source?,
        })
    }

    /// A plain number (integer or decimal), not quoted.
    pub(super) fn number(&mut self, node: &Node, path: &str) -> Option<f64> {
        match &node.value {
            Value::Scalar { text, plain: true } => match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Some(v),
                _ => {
                    self.error(node.pos, path, format!("{text:?} is not a number"));
                    None
                }
            },
            Value::Invalid => None,
            _ => {
                self.error(node.pos, path, "expected a number");
                None
            }
        }
    }

    pub(super) fn cross_references(&mut self) {
        for r in std::mem::take(&mut self.references) {
            if !self.defined[r.kind as usize].contains_key(&r.id) {
                let message = format!("unknown {} {:?}", r.kind.noun(), r.id);
                self.error(r.pos, &r.path, message);
            }
        }
    }

    // -- Shapes ---------------------------------------------------------------

    /// The mapping's entries, reporting non-mappings, unknown and repeated keys.
    pub(super) fn fields<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        allowed: &[&str],
    ) -> Option<Fields<'n>> {
        let entries = match &node.value {
            Value::Map(entries) => entries,
            Value::Invalid => return None,
            Value::Scalar { .. } | Value::List(_) => {
                self.error(node.pos, path, "expected a mapping");
                return None;
            }
        };
        let mut fields = Fields {
            pos: node.pos,
            path: path.to_owned(),
            entries: Vec::new(),
        };
        for (key, value) in entries {
            let Value::Scalar { text, plain } = &key.value else {
                self.error(key.pos, path, "a key must be plain text such as id");
                continue;
            };
            let key_path = join(path, text);
            if *plain && text == "<<" {
                self.error(key.pos, path, "merge keys (<<) are not supported");
            } else if !allowed.contains(&text.as_str()) {
                let message = format!(
                    "unknown key {text:?}; expected one of: {}",
                    allowed.join(", ")
                );
                self.error(key.pos, &key_path, message);
            } else if let Some((_, first, _)) = fields.entries.iter().find(|(k, _, _)| k == text) {
                let message = format!("duplicate key {text:?} (first at line {})", first.line);
                self.error(key.pos, &key_path, message);
            } else {
                fields.entries.push((text, key.pos, value));
            }
        }
        Some(fields)
    }

    pub(super) fn required<'n>(&mut self, f: &Fields<'n>, key: &str) -> Option<&'n Node> {
        let node = f.raw(key);
        if node.is_none() {
            self.error(
                f.pos,
                &f.path(key),
                format!("required key {key:?} is missing"),
            );
        }
        node
    }

    /// The list's items; null reads as empty. `None` if it is not a list.
    pub(super) fn list<'n>(&mut self, node: Option<&'n Node>, path: &str) -> Option<&'n [Node]> {
        match node {
            None => Some(&[]),
            Some(n) if n.is_null() => Some(&[]),
            Some(Node {
                value: Value::List(items),
                ..
            }) => Some(items),
            Some(Node {
                value: Value::Invalid,
                ..
            }) => None,
            Some(n) => {
                self.error(n.pos, path, "expected a list");
                None
            }
        }
    }

    /// Each item of the list under `key` that reads without error. With
    /// `at_least_one`, the key is required and that message reports an empty list.
    pub(super) fn items<'n, T>(
        &mut self,
        f: &Fields<'n>,
        key: &str,
        at_least_one: Option<&str>,
        mut item: impl FnMut(&mut Self, &'n Node, String) -> Option<T>,
    ) -> Vec<T> {
        let path = f.path(key);
        let node = match at_least_one {
            Some(_) => self.required(f, key),
            None => f.raw(key),
        };
        let Some(list) = self.list(node, &path) else {
            return Vec::new();
        };
        if let (true, Some(message), Some(node)) = (list.is_empty(), at_least_one, node) {
            self.error(node.pos, &path, message);
        }
        list.iter()
            .enumerate()
            .filter_map(|(i, n)| item(self, n, format!("{path}[{i}]")))
            .collect()
    }

    // -- Scalars --------------------------------------------------------------

    /// A scalar's text as written, so `id: 123` is the id "123"; null reads as empty.
    pub(super) fn text<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n str> {
        match &node.value {
            _ if node.is_null() => Some(""),
            Value::Scalar { text, .. } => Some(text),
            Value::Invalid => None,
            Value::List(_) | Value::Map(_) => {
                self.error(node.pos, path, "expected a string");
                None
            }
        }
    }

    /// The `template` a recipient is sent with, checked once every template
    /// is known; `default`'s audience name when left out.
    fn template_ref(&mut self, f: &Fields, default: Audience) -> Option<String> {
        let Some(n) = f.get("template") else {
            return Some(default.as_str().to_owned());
        };
        let path = f.path("template");
        let name = self.text(n, &path)?.to_owned();
        self.template_refs.push((n.pos, path, name.clone()));
        Some(name)
    }

    pub(super) fn optional_text(&mut self, f: &Fields, key: &str) -> Option<String> {
        let node = f.get(key)?;
        self.text(node, &f.path(key)).map(str::to_owned)
    }

    pub(super) fn id<T>(&mut self, node: &Node, path: &str, parse: Parse<T>) -> Option<T> {
        let text = self.text(node, path)?;
        parse(text)
            .map_err(|e| self.error(node.pos, path, e.to_string()))
            .ok()
    }

    /// The required `id` of a user, team, policy or service, which must be unique.
    pub(super) fn identity<T: Display>(
        &mut self,
        f: &Fields,
        kind: Kind,
        parse: Parse<T>,
    ) -> Option<T> {
        let node = self.required(f, "id")?;
        let path = f.path("id");
        let id = self.id(node, &path, parse)?;
        let text = id.to_string();
        if let Some(first) = first_definition(&mut self.defined[kind as usize], &text, node.pos) {
            self.error(node.pos, &path, duplicate_id(&text, first));
        }
        Some(id)
    }

    /// An id naming something defined elsewhere, checked by [`Self::cross_references`].
    pub(super) fn reference<T: Display>(
        &mut self,
        kind: Kind,
        node: &Node,
        path: &str,
        parse: Parse<T>,
    ) -> Option<T> {
        let id = self.id(node, path, parse)?;
        self.references.push(Reference {
            kind,
            id: id.to_string(),
            path: path.to_owned(),
            pos: node.pos,
        });
        Some(id)
    }

    /// Index of the value of a `type` key among `names`.
    pub(super) fn type_name(&mut self, node: &Node, path: &str, names: &[&str]) -> Option<usize> {
        let text = self.text(node, path)?;
        let found = names.iter().position(|name| *name == text);
        if found.is_none() {
            let message = format!(
                "unknown type {text:?}; expected one of: {}",
                names.join(", ")
            );
            self.error(node.pos, path, message);
        }
        found
    }

    pub(super) fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match &node.value {
            Value::Scalar { text, plain: true } if text == "true" => Some(true),
            Value::Scalar { text, plain: true } if text == "false" => Some(false),
            Value::Invalid => None,
            _ => {
                self.error(node.pos, path, "expected true or false");
                None
            }
        }
    }

    pub(super) fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        let text = self.text(node, path)?;
        Duration::parse(text)
            .map_err(|e| self.error(node.pos, path, e.to_string()))
            .ok()
    }
}

/// `http://` or `https://` followed by a non-empty host; no spaces or control characters.
pub(super) fn is_http_url(s: &str) -> bool {
    let strip = |prefix: &str| {
        s.get(..prefix.len())
            .filter(|head| head.eq_ignore_ascii_case(prefix))
            .and_then(|_| s.get(prefix.len()..))
    };
    let Some(rest) = strip("http://").or_else(|| strip("https://")) else {
        return false;
    };
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = match host_port.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, after)) => match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return false,
                },
            },
            None => return false,
        },
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    !host.is_empty() && port_ok
}
