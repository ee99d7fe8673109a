//! The schedule model as configured: layers of rotations in a time zone, with
//! restrictions and overrides. Evaluation lives in [`crate::schedule`].

use crate::duration::Duration;
use crate::ids::{LayerId, ScheduleId, UserId};
use jiff::Timestamp;
use jiff::civil;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: ScheduleId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// IANA zone; the default for the layers.
    pub time_zone: String,
    pub layers: Vec<Layer>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Override>,
}

/// One rotation. A later layer wins wherever it has someone on call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    pub id: LayerId,
    /// Overrides the schedule's zone for this layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Local wall-clock start of the first shift.
    pub start: civil::DateTime,
    pub rotation: Rotation,
    /// Shift k goes to `members[k mod n]`.
    pub members: Vec<UserId>,
    /// When present, the layer is on call only inside these windows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restrictions: Vec<Restriction>,
}

/// How long each shift is. Daily and weekly hand off at the same local time
/// across DST; hourly and `every` are fixed lengths of absolute time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RotationRepr", into = "RotationRepr")]
pub enum Rotation {
    Hourly,
    Daily,
    Weekly,
    Every(Duration),
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum RotationRepr {
    Named(NamedRotation),
    Every { every: Duration },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum NamedRotation {
    Hourly,
    Daily,
    Weekly,
}

impl From<RotationRepr> for Rotation {
    fn from(r: RotationRepr) -> Self {
        match r {
            RotationRepr::Named(NamedRotation::Hourly) => Rotation::Hourly,
            RotationRepr::Named(NamedRotation::Daily) => Rotation::Daily,
            RotationRepr::Named(NamedRotation::Weekly) => Rotation::Weekly,
            RotationRepr::Every { every } => Rotation::Every(every),
        }
    }
}

impl From<Rotation> for RotationRepr {
    fn from(r: Rotation) -> Self {
        match r {
            Rotation::Hourly => RotationRepr::Named(NamedRotation::Hourly),
            Rotation::Daily => RotationRepr::Named(NamedRotation::Daily),
            Rotation::Weekly => RotationRepr::Named(NamedRotation::Weekly),
            Rotation::Every(every) => RotationRepr::Every { every },
        }
    }
}

/// A weekly window in the layer's zone. `from` later than `to` crosses midnight;
/// `days` names the days on which a window starts; `from == to` is 24 hours.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restriction {
    pub days: Vec<Day>,
    pub from: civil::Time,
    pub to: civil::Time,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    pub const ALL: [Day; 7] = [
        Day::Mon,
        Day::Tue,
        Day::Wed,
        Day::Thu,
        Day::Fri,
        Day::Sat,
        Day::Sun,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Day::Mon => "mon",
            Day::Tue => "tue",
            Day::Wed => "wed",
            Day::Thu => "thu",
            Day::Fri => "fri",
            Day::Sat => "sat",
            Day::Sun => "sun",
        }
    }
    pub fn parse(s: &str) -> Option<Day> {
        Day::ALL.into_iter().find(|d| d.as_str() == s)
    }
    pub fn weekday(self) -> civil::Weekday {
        match self {
            Day::Mon => civil::Weekday::Monday,
            Day::Tue => civil::Weekday::Tuesday,
            Day::Wed => civil::Weekday::Wednesday,
            Day::Thu => civil::Weekday::Thursday,
            Day::Fri => civil::Weekday::Friday,
            Day::Sat => civil::Weekday::Saturday,
            Day::Sun => civil::Weekday::Sunday,
        }
    }
    pub fn of(w: civil::Weekday) -> Day {
        Day::ALL[w.to_monday_zero_offset() as usize]
    }
}

/// Someone else on call for a while: instead of everyone (no `replaces`), or
/// instead of one user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub user: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<UserId>,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// A span of absolute time, `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub from: Timestamp,
    pub to: Timestamp,
}

impl Window {
    pub fn contains(&self, t: Timestamp) -> bool {
        self.from <= t && t < self.to
    }
}
