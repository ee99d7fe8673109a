//! One layer's rotation: which shift covers an instant, and the layer's
//! on-call intervals over a span, clipped to its restriction windows.

use crate::config::{Day, Layer, Restriction, Rotation};
use crate::ids::{LayerId, UserId};
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};

/// A layer ready to answer questions: zone resolved, start instant known.
#[derive(Clone, Debug)]
pub struct CompiledLayer {
    pub id: LayerId,
    tz: TimeZone,
    start_local: DateTime,
    start: Timestamp,
    rotation: Rotation,
    members: Vec<UserId>,
    restrictions: Vec<Restriction>,
}

/// One person's stretch on a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interval {
    pub user: UserId,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// The instant a local wall-clock time names: a time in a spring-forward gap is
/// moved forward by the gap's length, one in a fall-back fold takes the earlier
/// instant (RFC 5545; jiff's `compatible`).
pub(crate) fn local_instant(tz: &TimeZone, dt: DateTime) -> Timestamp {
    tz.to_ambiguous_timestamp(dt)
        .compatible()
        .unwrap_or_else(|_| {
            if dt < DateTime::ZERO {
                Timestamp::MIN
            } else {
                Timestamp::MAX
            }
        })
}

fn days_between(a: Date, b: Date) -> i64 {
    b.since(a).map(|s| i64::from(s.get_days())).unwrap_or(0)
}

fn add_days(dt: DateTime, days: i64) -> DateTime {
    dt.checked_add(Span::new().days(days))
        .unwrap_or(if days < 0 {
            DateTime::MIN
        } else {
            DateTime::MAX
        })
}

impl CompiledLayer {
    pub fn new(layer: &Layer, tz: TimeZone) -> Self {
        let start = local_instant(&tz, layer.start);
        Self {
            id: layer.id.clone(),
            start_local: layer.start,
            start,
            tz,
            rotation: layer.rotation,
            members: layer.members.clone(),
            restrictions: layer.restrictions.clone(),
        }
    }

    /// Start of shift `k` (shift 0 starts at the layer's start).
    pub(crate) fn shift_start(&self, k: i64) -> Timestamp {
        let fixed = |len: SignedDuration| {
            len.checked_mul(k as i32)
                .filter(|_| i32::try_from(k).is_ok())
                .and_then(|d| self.start.checked_add(d).ok())
                .unwrap_or(if k < 0 {
                    Timestamp::MIN
                } else {
                    Timestamp::MAX
                })
        };
        match self.rotation {
            Rotation::Hourly => fixed(SignedDuration::from_hours(1)),
            Rotation::Every(d) => fixed(d.to_span()),
            Rotation::Daily => local_instant(&self.tz, add_days(self.start_local, k)),
            Rotation::Weekly => local_instant(&self.tz, add_days(self.start_local, 7 * k)),
        }
    }

    /// The shift covering `t`: its index and `[start, end)`. None before the layer starts.
    pub fn shift_at(&self, t: Timestamp) -> Option<(i64, Timestamp, Timestamp)> {
        if t < self.start || self.members.is_empty() {
            return None;
        }
        let mut k = match self.rotation {
            Rotation::Hourly => t.duration_since(self.start).as_secs() / 3600,
            Rotation::Every(d) => {
                t.duration_since(self.start).as_secs() / (d.as_secs().max(1) as i64)
            }
            Rotation::Daily | Rotation::Weekly => {
                let period = if self.rotation == Rotation::Daily {
                    1
                } else {
                    7
                };
                let local = self.tz.to_datetime(t);
                days_between(self.start_local.date(), local.date()).div_euclid(period)
            }
        };
        // The estimate is off by at most one around DST changes; settle it exactly.
        while k > 0 && self.shift_start(k) > t {
            k -= 1;
        }
        while self.shift_start(k + 1) <= t {
            k += 1;
        }
        Some((k, self.shift_start(k), self.shift_start(k + 1)))
    }

    fn member(&self, k: i64) -> &UserId {
        &self.members[k.rem_euclid(self.members.len() as i64) as usize]
    }

    /// Who this layer puts on call at `t`, if anyone.
    pub fn user_at(&self, t: Timestamp) -> Option<&UserId> {
        let (k, _, _) = self.shift_at(t)?;
        if !self.restrictions.is_empty() && !self.in_window(t) {
            return None;
        }
        Some(self.member(k))
    }

    fn in_window(&self, t: Timestamp) -> bool {
        let date = self.tz.to_datetime(t).date();
        let day_before = date.yesterday().unwrap_or(date);
        [day_before, date]
            .into_iter()
            .any(|d| self.windows_starting_on(d).any(|(s, e)| s <= t && t < e))
    }

    /// The restriction windows that start on local date `d`.
    fn windows_starting_on(&self, d: Date) -> impl Iterator<Item = (Timestamp, Timestamp)> + '_ {
        let day = Day::of(d.weekday());
        self.restrictions
            .iter()
            .filter(move |r| r.days.contains(&day))
            .map(move |r| {
                let start = local_instant(&self.tz, d.to_datetime(r.from));
                let end_date = if r.to <= r.from {
                    d.tomorrow().unwrap_or(d)
                } else {
                    d
                };
                (start, local_instant(&self.tz, end_date.to_datetime(r.to)))
            })
    }

    /// Restriction windows overlapping `[from, to)`, sorted and merged.
    fn windows(&self, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, Timestamp)> {
        let first = self.tz.to_datetime(from).date();
        let first = first.yesterday().unwrap_or(first);
        let last = self.tz.to_datetime(to).date();
        let mut out: Vec<(Timestamp, Timestamp)> = Vec::new();
        let mut d = first;
        while d <= last {
            out.extend(
                self.windows_starting_on(d)
                    .filter(|(s, e)| s < e && *s < to && *e > from),
            );
            match d.tomorrow() {
                Ok(next) => d = next,
                Err(_) => break,
            }
        }
        out.sort();
        let mut merged: Vec<(Timestamp, Timestamp)> = Vec::with_capacity(out.len());
        for (s, e) in out {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged
    }

    /// Who is on call on this layer over `[from, to)`, as sorted, disjoint intervals.
    pub fn intervals(&self, from: Timestamp, to: Timestamp) -> Vec<Interval> {
        let mut out = Vec::new();
        let from = from.max(self.start);
        if from >= to || self.members.is_empty() {
            return out;
        }
        let Some((mut k, mut start, mut end)) = self.shift_at(from) else {
            return out;
        };
        let windows = match self.restrictions.is_empty() {
            true => vec![(from, to)],
            false => self.windows(from, to),
        };
        let mut w = 0;
        start = start.max(from);
        while start < to && w < windows.len() {
            let shift_end = end.min(to);
            // Clip this shift to each window it meets.
            while w < windows.len() && windows[w].0 < shift_end {
                let (ws, we) = windows[w];
                let (s, e) = (start.max(ws), shift_end.min(we));
                if s < e {
                    push_merged(
                        &mut out,
                        Interval {
                            user: self.member(k).clone(),
                            start: s,
                            end: e,
                        },
                    );
                }
                if we <= shift_end {
                    w += 1;
                } else {
                    break;
                }
            }
            k += 1;
            start = end;
            end = self.shift_start(k + 1);
        }
        out
    }
}

/// Appends, joining onto the previous interval when the same user continues.
fn push_merged(out: &mut Vec<Interval>, i: Interval) {
    match out.last_mut() {
        Some(last) if last.user == i.user && last.end == i.start => last.end = i.end,
        _ => out.push(i),
    }
}
