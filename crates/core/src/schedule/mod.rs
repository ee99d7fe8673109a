//! Who is on call: schedules evaluated at an instant or over a span. Layers
//! stack (a later layer wins wherever it has someone), then overrides apply:
//! one without `replaces` stands in for everyone, one with `replaces` for that
//! user only. All wall-clock arithmetic is in the layer's IANA zone.

pub mod ical;
mod layer;
#[cfg(test)]
mod tests;

pub use layer::{CompiledLayer, Interval};

use crate::config::{Override, Schedule, Window};
use crate::ids::{LayerId, ScheduleId, UserId};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

/// What put someone on call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    Layer { layer: LayerId },
    Override { replaces: Option<UserId> },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Layer { layer } => write!(f, "layer {layer}"),
            Source::Override { replaces: None } => f.write_str("override"),
            Source::Override { replaces: Some(u) } => write!(f, "override replacing {u}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OnCall {
    pub user: UserId,
    pub source: Source,
}

/// A final shift: one user on call over `[start, end)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Shift {
    pub user: UserId,
    pub start: Timestamp,
    pub end: Timestamp,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schedule {schedule}: unknown time zone {zone:?}")]
pub struct UnknownZone {
    pub schedule: ScheduleId,
    pub zone: String,
}

/// A schedule with its zones resolved, ready for queries.
#[derive(Clone, Debug)]
pub struct CompiledSchedule {
    pub id: ScheduleId,
    layers: Vec<CompiledLayer>,
    overrides: Vec<Override>,
}

impl CompiledSchedule {
    /// `extra` adds overrides kept outside the configuration (made through the API).
    pub fn compile(s: &Schedule, extra: &[Override]) -> Result<Self, UnknownZone> {
        let zone = |name: &str| {
            TimeZone::get(name).map_err(|_| UnknownZone {
                schedule: s.id.clone(),
                zone: name.to_owned(),
            })
        };
        let default = zone(&s.time_zone)?;
        let layers = s
            .layers
            .iter()
            .map(|l| {
                let tz = match &l.time_zone {
                    Some(z) => zone(z)?,
                    None => default.clone(),
                };
                Ok(CompiledLayer::new(l, tz))
            })
            .collect::<Result<_, UnknownZone>>()?;
        let mut overrides: Vec<Override> = s
            .overrides
            .iter()
            .chain(extra)
            .filter(|o| o.from < o.to)
            .cloned()
            .collect();
        overrides.sort_by_key(|o| (o.from, o.to));
        Ok(Self {
            id: s.id.clone(),
            layers,
            overrides,
        })
    }

    pub fn layers(&self) -> &[CompiledLayer] {
        &self.layers
    }

    /// Who is on call at `t`, and why.
    pub fn on_call_at(&self, t: Timestamp) -> Vec<OnCall> {
        let base = self
            .layers
            .iter()
            .rev()
            .find_map(|l| l.user_at(t).map(|u| (u, &l.id)));
        let active = self
            .overrides
            .iter()
            .take_while(|o| o.from <= t)
            .filter(|o| t < o.to);
        combine(base, active)
    }

    /// The final shifts overlapping `[from, to)`, clipped to it, ordered by start.
    pub fn shifts(&self, from: Timestamp, to: Timestamp) -> Vec<Shift> {
        let mut out: Vec<Shift> = Vec::new();
        for (start, end, on_call) in self.segments(from, to) {
            for oc in on_call {
                // Extend the user's shift if it runs on unbroken from the previous segment.
                let open = out
                    .iter_mut()
                    .rev()
                    .take_while(|s| s.end == start)
                    .find(|s| s.user == oc.user && s.source == oc.source);
                match open {
                    Some(s) => s.end = end,
                    None => out.push(Shift {
                        user: oc.user,
                        start,
                        end,
                        source: oc.source,
                    }),
                }
            }
        }
        out.sort_by(|a, b| (a.start, &a.user).cmp(&(b.start, &b.user)));
        out
    }

    /// The stretches of `[from, to)` when nobody is on call.
    pub fn gaps(&self, from: Timestamp, to: Timestamp) -> Vec<Window> {
        let mut out: Vec<Window> = Vec::new();
        for (start, end, on_call) in self.segments(from, to) {
            if !on_call.is_empty() {
                continue;
            }
            match out.last_mut() {
                Some(w) if w.to == start => w.to = end,
                _ => out.push(Window {
                    from: start,
                    to: end,
                }),
            }
        }
        out
    }

    /// `[from, to)` cut at every hand-off, restriction edge and override edge,
    /// with who is on call in each piece. A sweep: each layer's intervals and
    /// the overrides are walked once.
    fn segments(&self, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, Timestamp, Vec<OnCall>)> {
        if from >= to {
            return Vec::new();
        }
        let per_layer: Vec<Vec<Interval>> =
            self.layers.iter().map(|l| l.intervals(from, to)).collect();
        let overrides: Vec<&Override> = self
            .overrides
            .iter()
            .filter(|o| o.from < to && o.to > from)
            .collect();
        let mut cuts: Vec<Timestamp> = vec![from, to];
        for intervals in &per_layer {
            for i in intervals {
                cuts.push(i.start);
                cuts.push(i.end);
            }
        }
        for o in &overrides {
            cuts.push(o.from.max(from));
            cuts.push(o.to.min(to));
        }
        cuts.sort();
        cuts.dedup();
        let mut cursor = vec![0usize; per_layer.len()];
        let mut out = Vec::with_capacity(cuts.len());
        for pair in cuts.windows(2) {
            let (start, end) = (pair[0], pair[1]);
            let mut base = None;
            for (li, intervals) in per_layer.iter().enumerate().rev() {
                let c = &mut cursor[li];
                while *c < intervals.len() && intervals[*c].end <= start {
                    *c += 1;
                }
                if let (None, Some(i)) = (base, intervals.get(*c).filter(|i| i.start <= start)) {
                    base = Some((&i.user, &self.layers[li].id));
                }
            }
            let active = overrides
                .iter()
                .copied()
                .filter(|o| o.from <= start && start < o.to);
            out.push((start, end, combine(base, active)));
        }
        out
    }
}

/// Applies the overrides in force to what the layers say.
fn combine<'a>(
    base: Option<(&UserId, &LayerId)>,
    active: impl Iterator<Item = &'a Override>,
) -> Vec<OnCall> {
    let mut on_call: Vec<OnCall> = base
        .map(|(u, l)| OnCall {
            user: u.clone(),
            source: Source::Layer { layer: l.clone() },
        })
        .into_iter()
        .collect();
    let mut everyone: Vec<OnCall> = Vec::new();
    for o in active {
        match &o.replaces {
            None => {
                if !everyone.iter().any(|oc| oc.user == o.user) {
                    everyone.push(OnCall {
                        user: o.user.clone(),
                        source: Source::Override { replaces: None },
                    });
                }
            }
            Some(replaced) => {
                for oc in on_call.iter_mut().filter(|oc| &oc.user == replaced) {
                    *oc = OnCall {
                        user: o.user.clone(),
                        source: Source::Override {
                            replaces: Some(replaced.clone()),
                        },
                    };
                }
            }
        }
    }
    if everyone.is_empty() {
        on_call
    } else {
        everyone
    }
}
