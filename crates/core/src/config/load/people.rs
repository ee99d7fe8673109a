//! Users, teams, escalation policies and their levels, targets and
//! stakeholders, and the templates and announcements that speak to them.

use super::check::*;
use super::tree::*;
use crate::config::{
    Announcement, Audience, EscalationPolicy, Filter, Level, NotificationRule, Stakeholder, Target,
    TargetKind, Team, TemplateSpec, Urgency, User,
};
use crate::duration::Duration;
use crate::ids::{ContactMethodId, PolicyId, ScheduleId, TeamId, UserId};
use crate::rules::Priority;
use std::collections::HashMap;

impl Checker {
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
}
