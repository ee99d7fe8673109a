//! How long finished records are kept (`retention:` in the configuration),
//! and what a retention pass may remove at a given instant. Only finished
//! records ever go: a resolved incident with everything hanging off it, a
//! notification that was sent, failed or cancelled, a metric sample, and the
//! oldest stretch of the audit chain, which leaves a checkpoint behind
//! (`crate::audit::Checkpoint`) so the chain stays verifiable.

use crate::duration::Duration;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How long one kind of record is kept once finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Keep {
    For(Duration),
    Forever,
}

/// The shortest retention accepted: anything less is almost certainly a
/// typo (`400s` for `400d`) that would delete history the moment it applies.
pub const MIN_KEEP: Duration = Duration::from_secs(3600);

impl Keep {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim() == "forever" {
            return Ok(Self::Forever);
        }
        let d = Duration::parse(text).map_err(|e| e.to_string())?;
        if d < MIN_KEEP {
            return Err(format!(
                "{text:?} is too short: keep records at least {MIN_KEEP} (or write forever)"
            ));
        }
        Ok(Self::For(d))
    }

    /// Records finished before this instant may go; `None` keeps everything.
    pub fn cutoff(self, now: Timestamp) -> Option<Timestamp> {
        match self {
            Self::Forever => None,
            Self::For(d) => now
                .checked_sub(SignedDuration::from_secs(d.as_secs() as i64))
                .ok(),
        }
    }
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::For(d) => d.fmt(f),
            Self::Forever => f.write_str("forever"),
        }
    }
}

impl TryFrom<String> for Keep {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<Keep> for String {
    fn from(k: Keep) -> String {
        k.to_string()
    }
}

const fn days(n: u64) -> Keep {
    Keep::For(Duration::from_secs(n * 86_400))
}

/// `retention: {resolved_incidents: 400d, notifications: 90d, samples: 30d, audit: 400d}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Retention {
    /// A resolved incident, with its timeline, alerts, roles and
    /// notifications, once it has been resolved this long.
    pub resolved_incidents: Keep,
    /// A notification that is sent, failed or cancelled, once it last
    /// changed this long ago (pending ones are never removed).
    pub notifications: Keep,
    /// Metric samples posted to `/api/v1/metrics`, by their own timestamp.
    pub samples: Keep,
    /// Audit entries older than this, from the start of the chain.
    pub audit: Keep,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            resolved_incidents: days(400),
            notifications: days(90),
            samples: days(30),
            audit: days(400),
        }
    }
}

impl Retention {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// What a pass at `now` may remove.
    pub fn cutoffs(&self, now: Timestamp) -> Cutoffs {
        Cutoffs {
            resolved_incidents: self.resolved_incidents.cutoff(now),
            notifications: self.notifications.cutoff(now),
            samples: self.samples.cutoff(now),
            audit: self.audit.cutoff(now),
        }
    }
}

/// Per kind of record, the instant before which finished records may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cutoffs {
    pub resolved_incidents: Option<Timestamp>,
    pub notifications: Option<Timestamp>,
    pub samples: Option<Timestamp>,
    pub audit: Option<Timestamp>,
}

/// How many entries from the front of the chain may go: the leading run of
/// entries older than `cutoff`, given `(seq, at_ms)` of the oldest entries in
/// order. The chain can only be cut at its start, so one entry that is not
/// old enough (a node whose clock ran behind) stops the cut there.
pub fn audit_prefix(entries: &[(i64, i64)], cutoff: Timestamp) -> usize {
    let cutoff = cutoff.as_millisecond();
    entries.iter().take_while(|(_, at)| *at < cutoff).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let r = Retention::default();
        assert_eq!(r.resolved_incidents.to_string(), "400d");
        assert_eq!(r.notifications.to_string(), "90d");
        assert_eq!(r.samples.to_string(), "30d");
        assert_eq!(r.audit.to_string(), "400d");
        let c = r.cutoffs(at("2026-12-04T00:00:00Z"));
        assert_eq!(c.resolved_incidents, Some(at("2025-10-30T00:00:00Z")));
        assert_eq!(c.samples, Some(at("2026-11-04T00:00:00Z")));
    }

    #[test]
    fn forever_keeps_everything_and_short_spans_are_refused() {
        assert_eq!(Keep::parse("forever"), Ok(Keep::Forever));
        assert_eq!(Keep::Forever.cutoff(at("2026-12-04T00:00:00Z")), None);
        assert_eq!(Keep::parse("1h"), Ok(Keep::For(Duration::from_secs(3600))));
        let short = Keep::parse("400s").unwrap_err();
        assert!(short.contains("at least 1h"), "{short}");
        assert!(Keep::parse("soon").unwrap_err().contains("not a duration"));
    }

    #[test]
    fn a_cutoff_before_the_epoch_of_time_keeps_everything() {
        let k = Keep::For(Duration::from_secs(100 * 365 * 86_400));
        assert!(k.cutoff(Timestamp::MIN).is_none());
    }

    #[test]
    fn the_audit_cut_stops_at_the_first_entry_too_young() {
        let cutoff = Timestamp::from_millisecond(100).unwrap();
        assert_eq!(
            audit_prefix(&[(1, 10), (2, 20), (3, 150), (4, 30)], cutoff),
            2
        );
        assert_eq!(audit_prefix(&[(1, 100)], cutoff), 0);
        assert_eq!(audit_prefix(&[], cutoff), 0);
        assert_eq!(audit_prefix(&[(1, 99), (2, 99)], cutoff), 2);
    }
}
