//! Durations as written in configuration: `30s`, `15m`, `1h30m`, `2d`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A whole number of seconds. Written and read as `1h30m`-style text.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Duration {
    secs: u64,
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("is empty; write a duration such as 30s, 15m or 1h30m")]
    Empty,
    #[error("{0:?} is not a duration; write it as 30s, 15m or 1h30m (units d, h, m, s)")]
    Syntax(String),
    #[error("units must go from largest to smallest, each once, in {0:?}")]
    UnitOrder(String),
    #[error("{0:?} is too long")]
    Overflow(String),
}

const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

impl Duration {
    pub const ZERO: Duration = Duration { secs: 0 };

    pub const fn from_secs(secs: u64) -> Self {
        Self { secs }
    }
    pub const fn as_secs(self) -> u64 {
        self.secs
    }
    pub const fn as_millis(self) -> i64 {
        (self.secs as i64).saturating_mul(1000)
    }
    /// The same span as a jiff span, for timestamp arithmetic.
    pub fn to_span(self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_secs(self.secs as i64)
    }

    pub fn parse(s: &str) -> Result<Self, DurationError> {
        let text = s.trim();
        if text.is_empty() {
            return Err(DurationError::Empty);
        }
        let mut total: u64 = 0;
        let mut digits = String::new();
        let mut last_unit: Option<usize> = None;
        for c in text.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let Some(idx) = UNITS.iter().position(|(u, _)| *u == c) else {
                return Err(DurationError::Syntax(s.to_owned()));
            };
            if digits.is_empty() {
                return Err(DurationError::Syntax(s.to_owned()));
            }
            if last_unit.is_some_and(|last| idx <= last) {
                return Err(DurationError::UnitOrder(s.to_owned()));
            }
            last_unit = Some(idx);
            let n: u64 = digits
                .parse()
                .map_err(|_| DurationError::Overflow(s.to_owned()))?;
            digits.clear();
            total = n
                .checked_mul(UNITS[idx].1)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| DurationError::Overflow(s.to_owned()))?;
        }
        if !digits.is_empty() {
            // "0" alone is a common way to say "immediately"; any other bare number is ambiguous.
            if digits.chars().all(|c| c == '0') && last_unit.is_none() {
                return Ok(Self::ZERO);
            }
            return Err(DurationError::Syntax(s.to_owned()));
        }
        // Durations beyond ~100 years are typos, and they would overflow millisecond arithmetic.
        if total > 100 * 365 * 86_400 {
            return Err(DurationError::Overflow(s.to_owned()));
        }
        Ok(Self { secs: total })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secs == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.secs;
        for (unit, size) in UNITS {
            if rest >= size {
                write!(f, "{}{}", rest / size, unit)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl TryFrom<String> for Duration {
    type Error = DurationError;
    fn try_from(s: String) -> Result<Self, DurationError> {
        Self::parse(&s)
    }
}
impl From<Duration> for String {
    fn from(d: Duration) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(Duration::parse("30s").unwrap().as_secs(), 30);
        assert_eq!(Duration::parse("15m").unwrap().as_secs(), 900);
        assert_eq!(Duration::parse("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(Duration::parse("2d").unwrap().as_secs(), 172_800);
        assert_eq!(Duration::parse("0s").unwrap(), Duration::ZERO);
        assert_eq!(Duration::parse("0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn refuses_malformed_text() {
        for bad in ["", "15", "m", "15x", "1m1h", "1h1h", "-5m", "1.5h", "15 m"] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    proptest! {
        #[test]
        fn display_parses_back_to_the_same_duration(secs in 0u64..10_000_000) {
            let d = Duration::from_secs(secs);
            prop_assert_eq!(Duration::parse(&d.to_string()).unwrap(), d);
        }
    }
}
