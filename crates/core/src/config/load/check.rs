//! The structural pass (tree → model) and the cross-reference pass (ids that
//! must exist), both collecting every error with its position and path. This
//! file holds the `Checker`, the top level and the field readers every section
//! uses; each section's checks live beside it (`people`, `schedules`,
//! `services`, `rules`, `channels`).

use super::ConfigError;
use super::tree::*;
use crate::config::{Audience, Config, Keep, Retention};
use crate::duration::Duration;
use crate::ids::IdError;
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
            "retention",
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
            retention: match f.get("retention") {
                Some(n) => self.retention(n, "retention"),
                None => Default::default(),
            },
        };
        self.check_channel_needs(&declared);
        self.check_template_references();
        config
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
    pub(super) fn template_ref(&mut self, f: &Fields, default: Audience) -> Option<String> {
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

    /// `retention: {resolved_incidents: 400d, notifications: 90d, samples: 30d, audit: 400d}`,
    /// each a duration of at least an hour or `forever`; a key left out keeps its default.
    fn retention(&mut self, node: &Node, path: &str) -> Retention {
        let mut r = Retention::default();
        let keys = ["resolved_incidents", "notifications", "samples", "audit"];
        let Some(f) = self.fields(node, path, &keys) else {
            return r;
        };
        let slots = [
            &mut r.resolved_incidents,
            &mut r.notifications,
            &mut r.samples,
            &mut r.audit,
        ];
        for (key, slot) in keys.into_iter().zip(slots) {
            let Some(n) = f.get(key) else { continue };
            let path = f.path(key);
            let Some(text) = self.text(n, &path) else {
                continue;
            };
            match Keep::parse(text) {
                Ok(keep) => *slot = keep,
                Err(e) => self.error(n.pos, &path, e),
            }
        }
        r
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
