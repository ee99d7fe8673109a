//! Schedules: layers, rotations, restrictions, overrides and the windows
//! and instants they are made of.

use super::check::*;
use super::tree::*;
use crate::config::{Day, Layer, Override, Restriction, Rotation, Schedule, Window};
use crate::duration::Duration;
use crate::ids::{LayerId, ScheduleId, UserId};
use std::collections::HashMap;

impl Checker {
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
}
