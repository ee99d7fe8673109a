//! Reads configuration YAML into a [`Config`]: yaml-rust2 events become a small
//! positioned tree, a structural pass turns it into the model, and a
//! cross-reference pass checks the ids it mentions. Every problem is reported,
//! with line, column and path; this module never stops at the first one.
//!
//! Aliases are resolved to a copy of the anchored node: errors about the alias
//! itself point at the alias, errors inside it at the anchored text. Merge keys
//! (`<<`) and tags other than the core `!!str`, `!!seq` and `!!map` are refused.

use super::{
    Config, ContactKind, ContactMethod, EscalationPolicy, Integration, IntegrationKind, Level,
    NotificationRule, Service, Target, Team, User,
};
use crate::duration::Duration;
use crate::ids::{ContactMethodId, IdError, PolicyId, RoutingKey, ServiceId, TeamId, UserId};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Display;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One problem in a configuration file, located at the offending node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("{line}:{column}: {path}: {message}")]
pub struct ConfigError {
    /// Where in the model, e.g. `escalation_policies[0].levels[1].escalate_after`;
    /// empty for problems with the document as a whole.
    pub path: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

/// Reads a configuration, or every error in it, ordered by position.
pub fn load(text: &str) -> Result<Config, Vec<ConfigError>> {
    let tree = read_tree(text).map_err(|e| vec![e])?;
    let mut check = Checker {
        errors: tree.errors,
        ..Checker::default()
    };
    let config = match &tree.root {
        Some(root) => check.config(root),
        None => Config::default(),
    };
    check.cross_references();
    if check.errors.is_empty() {
        Ok(config)
    } else {
        let mut errors = check.errors;
        errors.sort_by_key(|e| (e.line, e.column));
        Err(errors)
    }
}

// ---------------------------------------------------------------------------
// The positioned tree.

/// Drives the parser event by event rather than with `Parser::load`, which
/// recurses once per nesting level and so overflows the stack on hostile input.
fn read_tree(text: &str) -> Result<TreeBuilder, ConfigError> {
    let mut parser = Parser::new_from_str(text);
    let mut tree = TreeBuilder::default();
    loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|e| Pos::from(*e.marker()).error("", e.info()))?;
        match event {
            Event::StreamEnd => return Ok(tree),
            Event::SequenceStart(..) | Event::MappingStart(..) if tree.open.len() >= MAX_DEPTH => {
                let message = format!("lists and mappings nest deeper than {MAX_DEPTH} levels");
                return Err(Pos::from(mark).error("", message));
            }
            event => tree.on_event(event, mark),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pos {
    line: usize,
    column: usize,
    /// Offset in the text; only used to order positions.
    index: usize,
}

impl From<Marker> for Pos {
    fn from(m: Marker) -> Self {
        // yaml-rust2 0.13 counts lines from 1 and columns from 0.
        Pos {
            line: m.line(),
            column: m.col() + 1,
            index: m.index(),
        }
    }
}

impl Pos {
    fn error(self, path: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: path.to_owned(),
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}

#[derive(Clone, Debug)]
struct Node {
    pos: Pos,
    value: Value,
}

#[derive(Clone, Debug)]
enum Value {
    /// `plain` is false for quoted, block and `!!str` scalars, which are never null.
    Scalar {
        text: String,
        plain: bool,
    },
    List(Vec<Node>),
    Map(Vec<(Node, Node)>),
    /// Stands in for a node already reported as broken (a bad alias), so
    /// that nothing is reported about it twice.
    Invalid,
}

impl Node {
    fn invalid(pos: Pos) -> Node {
        Node {
            pos,
            value: Value::Invalid,
        }
    }

    fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// Levels of lists and mappings, at most [`MAX_DEPTH`] in a built tree.
    fn depth(&self) -> usize {
        match &self.value {
            Value::Scalar { .. } | Value::Invalid => 0,
            Value::List(items) => 1 + items.iter().map(Node::depth).max().unwrap_or(0),
            Value::Map(entries) => {
                let deepest = entries.iter().map(|(k, v)| k.depth().max(v.depth())).max();
                1 + deepest.unwrap_or(0)
            }
        }
    }

    /// Number of nodes, to bound what aliases may expand to.
    fn size(&self) -> usize {
        1 + match &self.value {
            Value::Scalar { .. } | Value::Invalid => 0,
            Value::List(items) => items.iter().map(Node::size).sum(),
            Value::Map(entries) => entries.iter().map(|(k, v)| k.size() + v.size()).sum(),
        }
    }
}

/// Aliases may copy at most this many nodes in total ("billion laughs" guard).
const MAX_ALIASED_NODES: usize = 100_000;

/// Nesting limit, far above what a configuration needs (about ten levels);
/// it keeps every recursion over the tree shallow.
const MAX_DEPTH: usize = 64;

const CORE_TAG: &str = "tag:yaml.org,2002:";

#[derive(Default)]
struct TreeBuilder {
    open: Vec<Open>,
    /// Completed anchored nodes; an anchor still open is absent.
    anchors: HashMap<usize, Node>,
    documents: usize,
    root: Option<Node>,
    aliased_nodes: usize,
    errors: Vec<ConfigError>,
}

/// A list or mapping whose end event has not arrived yet.
struct Open {
    pos: Pos,
    anchor: usize,
    is_map: bool,
    /// For a mapping: key, value, key, value…
    items: Vec<Node>,
}

impl Open {
    fn into_node(self) -> Node {
        let value = if self.is_map {
            let mut items = self.items.into_iter();
            let mut entries = Vec::new();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                entries.push((k, v));
            }
            Value::Map(entries)
        } else {
            Value::List(self.items)
        };
        Node {
            pos: self.pos,
            value,
        }
    }
}

impl TreeBuilder {
    fn open(&mut self, pos: Pos, anchor: usize, is_map: bool) {
        self.open.push(Open {
            pos,
            anchor,
            is_map,
            items: Vec::new(),
        });
    }

    fn complete(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.open.last_mut() {
            Some(open) => {
                // A block mapping's start event is marked after its first key;
                // the mapping is better located at that key.
                if open.is_map && open.items.is_empty() && node.pos.index < open.pos.index {
                    open.pos = node.pos;
                }
                open.items.push(node);
            }
            None if self.documents <= 1 => self.root = Some(node),
            None => {}
        }
    }

    /// Where an implicit null is best reported: at its key, when it is a mapping value.
    fn pending_key_pos(&self) -> Option<Pos> {
        let open = self.open.last()?;
        if open.is_map && open.items.len() % 2 == 1 {
            open.items.last().map(|key| key.pos)
        } else {
            None
        }
    }

    fn check_tag(&mut self, tag: Option<&Tag>, expected: &str, pos: Pos) {
        if let Some(tag) = tag
            && !(tag.handle == CORE_TAG && tag.suffix == expected)
        {
            let shown = match tag.handle.strip_prefix(CORE_TAG) {
                Some(rest) => format!("!!{rest}{}", tag.suffix),
                None => format!("{}{}", tag.handle, tag.suffix),
            };
            self.errors
                .push(pos.error("", format!("tag {shown} is not supported here")));
        }
    }

    fn alias(&mut self, id: usize, pos: Pos) -> Node {
        let Some(target) = self.anchors.get(&id) else {
            self.errors
                .push(pos.error("", "an alias cannot refer to a node that contains it"));
            return Node::invalid(pos);
        };
        if self.open.len() + target.depth() > MAX_DEPTH {
            let message = format!("aliases nest lists and mappings deeper than {MAX_DEPTH} levels");
            self.errors.push(pos.error("", message));
            return Node::invalid(pos);
        }
        let size = target.size();
        if self.aliased_nodes + size > MAX_ALIASED_NODES {
            if self.aliased_nodes <= MAX_ALIASED_NODES {
                self.errors.push(pos.error(
                    "",
                    format!("aliases expand to more than {MAX_ALIASED_NODES} nodes"),
                ));
            }
            self.aliased_nodes = MAX_ALIASED_NODES + 1;
            return Node::invalid(pos);
        }
        self.aliased_nodes += size;
        let mut node = target.clone();
        node.pos = pos;
        node
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let pos = Pos::from(mark);
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents == 2 {
                    self.errors
                        .push(pos.error("", "expected a single YAML document; found a second one"));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.check_tag(tag.as_ref(), "str", pos);
                let plain = style == TScalarStyle::Plain && tag.is_none();
                let pos = if plain && text.is_empty() {
                    self.pending_key_pos().unwrap_or(pos)
                } else {
                    pos
                };
                self.complete(
                    Node {
                        pos,
                        value: Value::Scalar { text, plain },
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_tag(tag.as_ref(), "seq", pos);
                self.open(pos, anchor, false);
            }
            Event::MappingStart(anchor, tag) => {
                self.check_tag(tag.as_ref(), "map", pos);
                self.open(pos, anchor, true);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(open) = self.open.pop() {
                    let anchor = open.anchor;
                    self.complete(open.into_node(), anchor);
                }
            }
            Event::Alias(id) => {
                let node = self.alias(id, pos);
                self.complete(node, 0);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

// ---------------------------------------------------------------------------
// The structural pass: tree to model, collecting errors and references.

/// Things with an id that others refer to.
#[derive(Clone, Copy)]
enum Kind {
    User,
    Team,
    Policy,
    Service,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Team => "team",
            Kind::Policy => "escalation policy",
            Kind::Service => "service",
        }
    }
}

/// An id mentioned somewhere, checked once everything is defined.
struct Reference {
    kind: Kind,
    id: String,
    path: String,
    pos: Pos,
}

#[derive(Default)]
struct Checker {
    errors: Vec<ConfigError>,
    /// Per [`Kind`]: id to where it was first defined.
    defined: [HashMap<String, Pos>; 4],
    references: Vec<Reference>,
    /// Routing key to the service that declared it first.
    routing_keys: HashMap<String, String>,
}

/// A mapping's known keys, after unknown and repeated keys were reported.
struct Fields<'n> {
    pos: Pos,
    path: String,
    entries: Vec<(&'n str, Pos, &'n Node)>,
}

impl<'n> Fields<'n> {
    /// The value under `key`, even if null.
    fn raw(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, v)| *v)
    }

    /// The value under `key`; an explicit null counts as absent.
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.raw(key).filter(|n| !n.is_null())
    }

    fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Records `id` as defined at `pos`, or returns where it was first defined.
fn first_definition(seen: &mut HashMap<String, Pos>, id: &str, pos: Pos) -> Option<Pos> {
    match seen.entry(id.to_owned()) {
        Entry::Occupied(first) => Some(*first.get()),
        Entry::Vacant(slot) => {
            slot.insert(pos);
            None
        }
    }
}

fn duplicate_id(id: &str, first: Pos) -> String {
    format!("duplicate id {id:?} (first defined at line {})", first.line)
}

type Parse<T> = fn(&str) -> Result<T, IdError>;

impl Checker {
    fn error(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.errors.push(pos.error(path, message));
    }

    fn config(&mut self, root: &Node) -> Config {
        if root.is_null() {
            return Config::default();
        }
        let keys = ["users", "teams", "escalation_policies", "services"];
        let Some(f) = self.fields(root, "", &keys) else {
            return Config::default();
        };
        Config {
            users: self.items(&f, "users", None, Self::user),
            teams: self.items(&f, "teams", None, Self::team),
            escalation_policies: self.items(&f, "escalation_policies", None, Self::policy),
            services: self.items(&f, "services", None, Self::service),
        }
    }

    fn user(&mut self, node: &Node, path: String) -> Option<User> {
        let keys = [
            "id",
            "name",
            "time_zone",
            "contact_methods",
            "notification_rules",
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
        Some(User {
            id: id?,
            name,
            time_zone,
            contact_methods,
            notification_rules,
        })
    }

    fn time_zone(&mut self, f: &Fields) -> Option<String> {
        let node = f.get("time_zone")?;
        let path = f.path("time_zone");
        let name = self.text(node, &path)?;
        if jiff::tz::TimeZone::get(name).is_err() {
            self.error(node.pos, &path, format!("unknown time zone {name:?}"));
        }
        Some(name.to_owned())
    }

    fn contact_method(
        &mut self,
        node: &Node,
        path: String,
        seen: &mut HashMap<String, Pos>,
    ) -> Option<ContactMethod> {
        let f = self.fields(node, &path, &["id", "type", "url"])?;
        let id = self.required(&f, "id").and_then(|n| {
            let path = f.path("id");
            let id = self.id(n, &path, ContactMethodId::parse)?;
            if let Some(first) = first_definition(seen, id.as_str(), n.pos) {
                self.error(n.pos, &path, duplicate_id(id.as_str(), first));
            }
            Some(id)
        });
        let kind = self
            .required(&f, "type")
            .and_then(|n| self.type_name(n, &f.path("type"), &["webhook"]));
        let url = self.required(&f, "url").and_then(|n| {
            let path = f.path("url");
            let url = self.text(n, &path)?;
            if !is_http_url(url) {
                self.error(n.pos, &path, "url must be an absolute http or https URL");
            }
            Some(url.to_owned())
        });
        kind?;
        Some(ContactMethod {
            id: id?,
            kind: ContactKind::Webhook { url: url? },
        })
    }

    fn notification_rule(
        &mut self,
        node: &Node,
        path: String,
        user: Option<&UserId>,
        methods: &HashMap<String, Pos>,
    ) -> Option<NotificationRule> {
        let f = self.fields(node, &path, &["contact_method", "after"])?;
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
        Some(NotificationRule {
            contact_method: contact_method?,
            after: after?,
        })
    }

    fn team(&mut self, node: &Node, path: String) -> Option<Team> {
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

    fn policy(&mut self, node: &Node, path: String) -> Option<EscalationPolicy> {
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

    fn repeat(&mut self, node: &Node, path: &str) -> Option<u32> {
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

    fn level(&mut self, node: &Node, path: String) -> Option<Level> {
        let f = self.fields(node, &path, &["targets", "escalate_after"])?;
        let targets = self.items(
            &f,
            "targets",
            Some("must have at least one target"),
            Self::target,
        );
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
            escalate_after: escalate_after?,
        })
    }

    fn target(&mut self, node: &Node, path: String) -> Option<Target> {
        const SHAPE: &str = "expected a mapping such as {user: alice} or {team: sre}";
        let entries = match &node.value {
            Value::Map(entries) => entries,
            Value::Invalid => return None,
            Value::Scalar { .. } | Value::List(_) => {
                self.error(node.pos, &path, SHAPE);
                return None;
            }
        };
        let f = self.fields(node, &path, &["user", "team"])?;
        match (f.raw("user"), f.raw("team")) {
            (Some(n), None) => self
                .reference(Kind::User, n, &f.path("user"), UserId::parse)
                .map(Target::User),
            (None, Some(n)) => self
                .reference(Kind::Team, n, &f.path("team"), TeamId::parse)
                .map(Target::Team),
            (Some(_), Some(_)) => {
                self.error(
                    f.pos,
                    &path,
                    "a target names one user or one team, not both",
                );
                None
            }
            (None, None) => {
                // An unknown key was reported already; an empty mapping was not.
                if entries.is_empty() {
                    self.error(node.pos, &path, SHAPE);
                }
                None
            }
        }
    }

    fn service(&mut self, node: &Node, path: String) -> Option<Service> {
        let keys = ["id", "name", "escalation_policy", "integrations"];
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
        Some(Service {
            id: id?,
            name,
            escalation_policy: escalation_policy?,
            integrations,
        })
    }

    fn integration(&mut self, node: &Node, path: String, owner: &str) -> Option<Integration> {
        let f = self.fields(node, &path, &["type", "key"])?;
        let kind = self
            .required(&f, "type")
            .and_then(|n| self.type_name(n, &f.path("type"), &["events_v2"]))
            .map(|_| IntegrationKind::EventsV2);
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
        })
    }

    fn cross_references(&mut self) {
        for r in std::mem::take(&mut self.references) {
            if !self.defined[r.kind as usize].contains_key(&r.id) {
                let message = format!("unknown {} {:?}", r.kind.noun(), r.id);
                self.error(r.pos, &r.path, message);
            }
        }
    }

    // -- Shapes ---------------------------------------------------------------

    /// The mapping's entries, reporting non-mappings, unknown and repeated keys.
    fn fields<'n>(&mut self, node: &'n Node, path: &str, allowed: &[&str]) -> Option<Fields<'n>> {
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

    fn required<'n>(&mut self, f: &Fields<'n>, key: &str) -> Option<&'n Node> {
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
    fn list<'n>(&mut self, node: Option<&'n Node>, path: &str) -> Option<&'n [Node]> {
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
    fn items<'n, T>(
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
    fn text<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n str> {
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

    fn optional_text(&mut self, f: &Fields, key: &str) -> Option<String> {
        let node = f.get(key)?;
        self.text(node, &f.path(key)).map(str::to_owned)
    }

    fn id<T>(&mut self, node: &Node, path: &str, parse: Parse<T>) -> Option<T> {
        let text = self.text(node, path)?;
        parse(text)
            .map_err(|e| self.error(node.pos, path, e.to_string()))
            .ok()
    }

    /// The required `id` of a user, team, policy or service, which must be unique.
    fn identity<T: Display>(&mut self, f: &Fields, kind: Kind, parse: Parse<T>) -> Option<T> {
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
    fn reference<T: Display>(
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
    fn type_name(&mut self, node: &Node, path: &str, names: &[&str]) -> Option<usize> {
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

    fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        let text = self.text(node, path)?;
        Duration::parse(text)
            .map_err(|e| self.error(node.pos, path, e.to_string()))
            .ok()
    }
}

/// `http://` or `https://` followed by a non-empty host; no spaces or control characters.
fn is_http_url(s: &str) -> bool {
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The example from the configuration documentation, with `bob` defined.
    pub(in crate::config) const EXAMPLE: &str = r#"
users:
  - id: alice
    name: Alice Ng
    time_zone: Europe/Berlin
    contact_methods:
      - {id: hook, type: webhook, url: "http://127.0.0.1:9999/alice"}
    notification_rules:
      - {contact_method: hook, after: 0s}
  - id: bob
    contact_methods:
      - {id: hook, type: webhook, url: "https://hooks.example.com/bob"}
teams:
  - {id: sre, name: SRE, members: [alice, bob]}
escalation_policies:
  - id: payments
    name: Payments
    repeat: 1
    levels:
      - targets: [{user: alice}]
        escalate_after: 15m
      - targets: [{user: bob}, {team: sre}]
        escalate_after: 15m
services:
  - id: payments-api
    name: Payments API
    escalation_policy: payments
    integrations:
      - {type: events_v2, key: "0123456789abcdef0123456789abcdef"}
"#;

    /// `(line, column, path, message)` of each error, for compact assertions.
    fn errors(text: &str) -> Vec<(usize, usize, String, String)> {
        match load(text) {
            Ok(config) => panic!("expected errors, loaded {config:?}"),
            Err(errors) => errors
                .into_iter()
                .map(|e| (e.line, e.column, e.path, e.message))
                .collect(),
        }
    }

    fn one_error(text: &str) -> (usize, usize, String, String) {
        let mut all = errors(text);
        assert_eq!(all.len(), 1, "expected exactly one error, got {all:#?}");
        all.remove(0)
    }

    fn e(line: usize, column: usize, path: &str, message: &str) -> (usize, usize, String, String) {
        (line, column, path.to_owned(), message.to_owned())
    }

    #[test]
    fn loads_the_documented_example() {
        let config = load(EXAMPLE).expect("example is valid");
        let alice = &config.users[0];
        assert_eq!(alice.id.as_str(), "alice");
        assert_eq!(alice.name.as_deref(), Some("Alice Ng"));
        assert_eq!(alice.time_zone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(
            alice.contact_methods[0].kind,
            ContactKind::Webhook {
                url: "http://127.0.0.1:9999/alice".into()
            }
        );
        assert_eq!(alice.notification_rules[0].after, Duration::ZERO);
        assert!(config.users[1].notification_rules.is_empty());
        assert_eq!(config.teams[0].members.len(), 2);
        let policy = &config.escalation_policies[0];
        assert_eq!(policy.repeat, 1);
        assert_eq!(policy.levels[1].escalate_after.as_secs(), 900);
        assert_eq!(
            policy.levels[1].targets,
            vec![
                Target::User(UserId::parse("bob").unwrap()),
                Target::Team(TeamId::parse("sre").unwrap())
            ]
        );
        let service = &config.services[0];
        assert_eq!(service.escalation_policy.as_str(), "payments");
        assert_eq!(service.integrations[0].kind, IntegrationKind::EventsV2);
    }

    #[test]
    fn empty_documents_are_empty_configs() {
        for text in [
            "",
            "\n",
            "# nothing yet\n",
            "---\n",
            "{}",
            "users: []\nteams:\n",
        ] {
            assert_eq!(load(text), Ok(Config::default()), "{text:?}");
        }
    }

    #[test]
    fn reports_every_error_with_line_column_and_path() {
        let text = "\
users:
  - id: alice
    time_zone: Mars/Base
    contact_methods:
      - {id: hook, type: sms, url: \"ftp://x\"}
teams:
  - {id: sre}
escalation_policies:
  - id: payments
    repeat: \"1\"
    levels:
      - targets: []
        escalate_after: 15x
services:
  - id: api
    escalation_policy: pay
    integrations:
      - {type: events_v2, key: short}
";
        assert_eq!(
            errors(text),
            vec![
                e(
                    3,
                    16,
                    "users[0].time_zone",
                    "unknown time zone \"Mars/Base\""
                ),
                e(
                    5,
                    26,
                    "users[0].contact_methods[0].type",
                    "unknown type \"sms\"; expected one of: webhook"
                ),
                e(
                    5,
                    36,
                    "users[0].contact_methods[0].url",
                    "url must be an absolute http or https URL"
                ),
                e(
                    7,
                    5,
                    "teams[0].members",
                    "required key \"members\" is missing"
                ),
                e(
                    10,
                    13,
                    "escalation_policies[0].repeat",
                    "repeat must be a non-negative integer, written without quotes"
                ),
                e(
                    12,
                    18,
                    "escalation_policies[0].levels[0].targets",
                    "must have at least one target"
                ),
                e(
                    13,
                    25,
                    "escalation_policies[0].levels[0].escalate_after",
                    "\"15x\" is not a duration; write it as 30s, 15m or 1h30m (units d, h, m, s)"
                ),
                e(
                    16,
                    24,
                    "services[0].escalation_policy",
                    "unknown escalation policy \"pay\""
                ),
                e(
                    18,
                    32,
                    "services[0].integrations[0].key",
                    "must be 32 letters or digits"
                ),
            ]
        );
    }

    #[test]
    fn a_yaml_syntax_error_is_one_error_at_its_position() {
        let text = "users: [alice, bob\nteams: []\n";
        let (line, column, path, message) = one_error(text);
        assert_eq!((line, column, path.as_str()), (2, 6, ""));
        assert!(message.contains("':'"), "{message}");
    }

    #[test]
    fn unknown_key_names_the_expected_keys() {
        let text = "\
escalation_policies:
  - id: p
    levels:
      - targets: [{user: alice}]
        escalate_afer: 15m
users: [{id: alice}]
";
        assert_eq!(
            errors(text),
            vec![
                // The level is located at its first key, where the missing key belongs.
                e(
                    4,
                    9,
                    "escalation_policies[0].levels[0].escalate_after",
                    "required key \"escalate_after\" is missing"
                ),
                e(
                    5,
                    9,
                    "escalation_policies[0].levels[0].escalate_afer",
                    "unknown key \"escalate_afer\"; expected one of: targets, escalate_after"
                ),
            ]
        );
    }

    #[test]
    fn unknown_top_level_keys_are_errors() {
        assert_eq!(
            one_error("users: []\nservice: []\n"),
            e(
                2,
                1,
                "service",
                "unknown key \"service\"; expected one of: users, teams, escalation_policies, services"
            )
        );
        assert_eq!(one_error("- users\n"), e(1, 1, "", "expected a mapping"));
    }

    #[test]
    fn rejects_escalate_after_below_one_second() {
        let text = "\
users: [{id: a}]
escalation_policies:
  - id: p
    levels: [{targets: [{user: a}], escalate_after: 0s}]
";
        assert_eq!(
            one_error(text),
            e(
                4,
                53,
                "escalation_policies[0].levels[0].escalate_after",
                "must be at least 1s"
            )
        );
    }

    #[test]
    fn notification_rules_may_fire_at_once() {
        let text = "\
users:
  - id: a
    contact_methods: [{id: hook, type: webhook, url: \"http://h\"}]
    notification_rules: [{contact_method: hook, after: 0}]
";
        let config = load(text).expect("valid");
        assert_eq!(config.users[0].notification_rules[0].after, Duration::ZERO);
    }

    #[test]
    fn cross_reference_errors_point_at_the_reference() {
        let text = "\
users:
  - id: alice
    contact_methods: [{id: hook, type: webhook, url: \"http://h\"}]
    notification_rules: [{contact_method: phone, after: 5m}]
teams:
  - {id: sre, members: [alice, bob]}
escalation_policies:
  - id: p
    levels:
      - targets: [{team: ops}, {user: carol}]
        escalate_after: 5m
services:
  - {id: s, escalation_policy: q}
";
        assert_eq!(
            errors(text),
            vec![
                e(
                    4,
                    43,
                    "users[0].notification_rules[0].contact_method",
                    "unknown contact method \"phone\" for user \"alice\""
                ),
                e(6, 32, "teams[0].members[1]", "unknown user \"bob\""),
                e(
                    10,
                    26,
                    "escalation_policies[0].levels[0].targets[0].team",
                    "unknown team \"ops\""
                ),
                e(
                    10,
                    39,
                    "escalation_policies[0].levels[0].targets[1].user",
                    "unknown user \"carol\""
                ),
                e(
                    13,
                    32,
                    "services[0].escalation_policy",
                    "unknown escalation policy \"q\""
                ),
            ]
        );
    }

    #[test]
    fn duplicate_ids_point_at_the_second_definition() {
        let text = "\
users:
  - id: alice
    contact_methods:
      - {id: hook, type: webhook, url: \"http://h\"}
      - {id: hook, type: webhook, url: \"http://h\"}
  - id: alice
teams:
  - {id: sre, members: [alice, alice]}
  - {id: sre, members: [alice]}
";
        assert_eq!(
            errors(text),
            vec![
                e(
                    5,
                    14,
                    "users[0].contact_methods[1].id",
                    "duplicate id \"hook\" (first defined at line 4)"
                ),
                e(
                    6,
                    9,
                    "users[1].id",
                    "duplicate id \"alice\" (first defined at line 2)"
                ),
                e(
                    8,
                    32,
                    "teams[0].members[1]",
                    "duplicate member \"alice\" (first listed at line 8)"
                ),
                e(
                    9,
                    10,
                    "teams[1].id",
                    "duplicate id \"sre\" (first defined at line 8)"
                ),
            ]
        );
    }

    #[test]
    fn integration_keys_are_unique_across_services() {
        let text = "\
escalation_policies: [{id: p, levels: [{targets: [{user: a}], escalate_after: 1m}]}]
users: [{id: a}]
services:
  - id: first
    escalation_policy: p
    integrations: [{type: events_v2, key: 0123456789abcdef0123456789abcdef}]
  - id: second
    escalation_policy: p
    integrations: [{type: events_v2, key: 0123456789abcdef0123456789abcdef}]
";
        assert_eq!(
            one_error(text),
            e(
                9,
                43,
                "services[1].integrations[0].key",
                "integration key is already used by service \"first\""
            )
        );
    }

    #[test]
    fn plain_numbers_are_accepted_as_ids_and_names() {
        let text = "\
users: [{id: 123, name: 4.5}]
teams: [{id: 7, members: [123]}]
";
        let config = load(text).expect("valid");
        assert_eq!(config.users[0].id.as_str(), "123");
        assert_eq!(config.users[0].name.as_deref(), Some("4.5"));
        assert_eq!(config.teams[0].members[0].as_str(), "123");
    }

    #[test]
    fn repeat_must_be_a_plain_non_negative_integer() {
        let policy = |repeat: &str| {
            format!(
                "users: [{{id: a}}]\nescalation_policies:\n  - id: p\n    repeat: {repeat}\n    levels: [{{targets: [{{user: a}}], escalate_after: 1m}}]\n"
            )
        };
        assert_eq!(
            load(&policy("3")).expect("valid").escalation_policies[0].repeat,
            3
        );
        for bad in ["-1", "1.5", "many", "[1]", "99999999999"] {
            let (line, column, path, message) = one_error(&policy(bad));
            assert_eq!(
                (line, column, path.as_str()),
                (4, 13, "escalation_policies[0].repeat")
            );
            assert!(
                message.starts_with("repeat must be a non-negative integer"),
                "{message}"
            );
        }
    }

    #[test]
    fn structural_errors_name_the_expected_shape() {
        let text = "\
users: {id: alice}
teams:
  - id: sre
    members: []
escalation_policies:
  - id: p
    levels:
  - id: q
    levels:
      - targets: [alice, {user: a, team: b}, {}]
        escalate_after: 1m
";
        assert_eq!(
            errors(text),
            vec![
                e(1, 8, "users", "expected a list"),
                e(4, 14, "teams[0].members", "must have at least one member"),
                e(
                    7,
                    5,
                    "escalation_policies[0].levels",
                    "must have at least one level"
                ),
                e(
                    10,
                    19,
                    "escalation_policies[1].levels[0].targets[0]",
                    "expected a mapping such as {user: alice} or {team: sre}"
                ),
                e(
                    10,
                    26,
                    "escalation_policies[1].levels[0].targets[1]",
                    "a target names one user or one team, not both"
                ),
                e(
                    10,
                    46,
                    "escalation_policies[1].levels[0].targets[2]",
                    "expected a mapping such as {user: alice} or {team: sre}"
                ),
            ]
        );
    }

    #[test]
    fn ids_are_checked_with_the_id_rules() {
        let (line, column, path, message) = one_error("users: [{id: \"al ice\"}]\n");
        assert_eq!((line, column, path.as_str()), (1, 14, "users[0].id"));
        assert_eq!(message, IdError::BadChar { found: ' ' }.to_string());
        assert_eq!(
            one_error("users: [{name: x}]\n"),
            e(1, 9, "users[0].id", "required key \"id\" is missing")
        );
    }

    #[test]
    fn duplicate_keys_in_one_mapping_are_errors() {
        assert_eq!(
            one_error("users:\n  - id: a\n    id: b\n"),
            e(
                3,
                5,
                "users[0].id",
                "duplicate key \"id\" (first at line 2)"
            )
        );
    }

    #[test]
    fn aliases_stand_for_the_anchored_node() {
        let text = "\
users: [{id: a}, {id: b}]
escalation_policies:
  - id: p
    levels:
      - &first {targets: [{user: a}], escalate_after: 5m}
      - targets: [{user: b}]
        escalate_after: 5m
  - id: q
    levels: [*first]
";
        let config = load(text).expect("valid");
        assert_eq!(
            config.escalation_policies[1].levels[0],
            config.escalation_policies[0].levels[0]
        );
        assert_eq!(
            one_error("users: &u [*u]\n"),
            e(
                1,
                12,
                "",
                "an alias cannot refer to a node that contains it"
            )
        );
    }

    #[test]
    fn alias_expansion_is_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let all = errors(&text);
        assert!(
            all.iter()
                .any(|e| e.3 == format!("aliases expand to more than {MAX_ALIASED_NODES} nodes"))
        );
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let blocks = "- ".repeat(100_000) + "x\n";
        assert_eq!(
            one_error(&blocks),
            e(1, 129, "", "lists and mappings nest deeper than 64 levels")
        );
        let indented: String = (0..3_000)
            .map(|i| format!("{}a:\n", " ".repeat(i)))
            .collect();
        assert_eq!(one_error(&indented).0, 65);
        let mut aliases = String::from("a0: &a0 [[[[[[[[[[x]]]]]]]]]]\n");
        for i in 1..10 {
            aliases.push_str(&format!("a{i}: &a{i} [[[[[[[[[[*a{}]]]]]]]]]]\n", i - 1));
        }
        assert!(
            errors(&aliases)
                .iter()
                .any(|e| e.3 == "aliases nest lists and mappings deeper than 64 levels")
        );
    }

    #[test]
    fn merge_keys_tags_and_extra_documents_are_refused() {
        assert_eq!(
            errors("users:\n  - <<: {id: a}\n"),
            vec![
                e(2, 5, "users[0]", "merge keys (<<) are not supported"),
                e(2, 5, "users[0].id", "required key \"id\" is missing"),
            ]
        );
        assert_eq!(
            one_error("users: !!set [{id: a}]\n").3,
            "tag !!set is not supported here"
        );
        assert_eq!(
            one_error("users: []\n---\nteams: []\n"),
            e(
                2,
                1,
                "",
                "expected a single YAML document; found a second one"
            )
        );
        let config = load("users: [{id: !!str 12}]\n").expect("!!str is fine");
        assert_eq!(config.users[0].id.as_str(), "12");
    }

    #[test]
    fn webhook_urls_must_be_absolute_http() {
        for good in [
            "http://h",
            "https://hooks.example.com/x?y=1#z",
            "HTTP://127.0.0.1:9999/a",
            "http://user:pw@host:80/",
            "http://[::1]:8080/p",
        ] {
            assert!(is_http_url(good), "{good}");
        }
        for bad in [
            "",
            "hooks.example.com",
            "ftp://h",
            "http://",
            "http:///path",
            "http://h:port/",
            "http://h x/",
            "http://[::1/",
            "http://@/",
        ] {
            assert!(!is_http_url(bad), "{bad}");
        }
    }

    #[test]
    fn errors_display_as_line_column_path_message() {
        let error = Pos {
            line: 3,
            column: 7,
            index: 0,
        }
        .error("users[0].id", "must not be empty");
        assert_eq!(error.to_string(), "3:7: users[0].id: must not be empty");
    }
}
