//! The positioned tree: yaml-rust2 events folded into nodes that remember
//! their line and column, with aliases resolved and hostile input bounded.

use super::ConfigError;
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Drives the parser event by event rather than with `Parser::load`, which
/// recurses once per nesting level and so overflows the stack on hostile input.
pub(super) fn read_tree(text: &str) -> Result<TreeBuilder, ConfigError> {
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
pub(super) struct Pos {
    pub(super) line: usize,
    pub(super) column: usize,
    /// Offset in the text; only used to order positions.
    pub(super) index: usize,
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
    pub(super) fn error(self, path: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: path.to_owned(),
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct Node {
    pub(super) pos: Pos,
    pub(super) value: Value,
}

#[derive(Clone, Debug)]
pub(super) enum Value {
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
    pub(super) fn invalid(pos: Pos) -> Node {
        Node {
            pos,
            value: Value::Invalid,
        }
    }

    pub(super) fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// Levels of lists and mappings, at most [`MAX_DEPTH`] in a built tree.
    pub(super) fn depth(&self) -> usize {
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
    pub(super) fn size(&self) -> usize {
        1 + match &self.value {
            Value::Scalar { .. } | Value::Invalid => 0,
            Value::List(items) => items.iter().map(Node::size).sum(),
            Value::Map(entries) => entries.iter().map(|(k, v)| k.size() + v.size()).sum(),
        }
    }
}

/// Aliases may copy at most this many nodes in total ("billion laughs" guard).
pub(super) const MAX_ALIASED_NODES: usize = 100_000;

/// Nesting limit, far above what a configuration needs (about ten levels);
/// it keeps every recursion over the tree shallow.
pub(super) const MAX_DEPTH: usize = 64;

pub(super) const CORE_TAG: &str = "tag:yaml.org,2002:";

#[derive(Default)]
pub(super) struct TreeBuilder {
    pub(super) open: Vec<Open>,
    /// Completed anchored nodes; an anchor still open is absent.
    pub(super) anchors: HashMap<usize, Anchored>,
    pub(super) documents: usize,
    pub(super) root: Option<Node>,
    pub(super) aliased_nodes: usize,
    pub(super) errors: Vec<ConfigError>,
}

/// An anchored node with its depth and size, measured once: measuring it
/// again for every alias made a file of many aliases quadratic.
pub(super) struct Anchored {
    node: Node,
    depth: usize,
    size: usize,
}

/// A list or mapping whose end event has not arrived yet.
pub(super) struct Open {
    pub(super) pos: Pos,
    pub(super) anchor: usize,
    pub(super) is_map: bool,
    /// For a mapping: key, value, key, value…
    pub(super) items: Vec<Node>,
}

impl Open {
    pub(super) fn into_node(self) -> Node {
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
    pub(super) fn open(&mut self, pos: Pos, anchor: usize, is_map: bool) {
        self.open.push(Open {
            pos,
            anchor,
            is_map,
            items: Vec::new(),
        });
    }

    pub(super) fn complete(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            let (depth, size) = (node.depth(), node.size());
            let node = node.clone();
            self.anchors.insert(anchor, Anchored { node, depth, size });
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
    pub(super) fn pending_key_pos(&self) -> Option<Pos> {
        let open = self.open.last()?;
        if open.is_map && open.items.len() % 2 == 1 {
            open.items.last().map(|key| key.pos)
        } else {
            None
        }
    }

    pub(super) fn check_tag(&mut self, tag: Option<&Tag>, expected: &str, pos: Pos) {
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

    pub(super) fn alias(&mut self, id: usize, pos: Pos) -> Node {
        if self.aliased_nodes > MAX_ALIASED_NODES {
            // Already reported; nothing more is expanded.
            return Node::invalid(pos);
        }
        let Some(target) = self.anchors.get(&id) else {
            self.errors
                .push(pos.error("", "an alias cannot refer to a node that contains it"));
            return Node::invalid(pos);
        };
        if self.open.len() + target.depth > MAX_DEPTH {
            let message = format!("aliases nest lists and mappings deeper than {MAX_DEPTH} levels");
            self.errors.push(pos.error("", message));
            return Node::invalid(pos);
        }
        let size = target.size;
        if self.aliased_nodes + size > MAX_ALIASED_NODES {
            self.errors.push(pos.error(
                "",
                format!("aliases expand to more than {MAX_ALIASED_NODES} nodes"),
            ));
            self.aliased_nodes = MAX_ALIASED_NODES + 1;
            return Node::invalid(pos);
        }
        self.aliased_nodes += size;
        let mut node = target.node.clone();
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
