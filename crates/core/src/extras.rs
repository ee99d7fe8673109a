//! How far the API may reach with what it keeps beside the configuration:
//! away windows and schedule overrides. Checked once at the edge, against the
//! `now` the caller hands in. The configuration (`users[].away`,
//! `schedules[].overrides`) is reviewed and applied by an admin, and is not
//! bound by these.

use jiff::{SignedDuration, Timestamp};

const DAY: SignedDuration = SignedDuration::from_hours(24);

/// An away window set through the API ends at most this far ahead. A holiday
/// or a sick leave fits; a typo (2062 for 2026) that would silently take
/// someone off every rotation for decades does not. A longer absence belongs
/// in the configuration's `users[].away`, where it is reviewed.
pub const AWAY_HORIZON: SignedDuration = SignedDuration::from_hours(24 * 90);

/// An override made through the API ends at most this far ahead: about a
/// quarter of rota planning. Further out, the rotation itself is the plan.
pub const OVERRIDE_HORIZON: SignedDuration = SignedDuration::from_hours(24 * 90);

/// An override made through the API lasts at most this long: a swapped
/// shift or a covered holiday. Putting someone on call for longer is a
/// rotation change and belongs in the configuration's layers.
pub const OVERRIDE_MAX_LENGTH: SignedDuration = SignedDuration::from_hours(24 * 31);

/// A time past its limit. `field` names the request field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutOfRange {
    #[error(
        "until may be at most {} days from now ({limit}); a longer absence belongs in the configuration (users[].away)",
        days(AWAY_HORIZON)
    )]
    AwayUntil { limit: Timestamp },
    #[error(
        "away until further notice needs the manager role; give until (at most {} days from now)",
        days(AWAY_HORIZON)
    )]
    AwayOpenEnded,
    #[error("to may be at most {} days from now ({limit})", days(OVERRIDE_HORIZON))]
    OverrideEnd { limit: Timestamp },
    #[error(
        "an override may last at most {} days; this one lasts {hours} hours",
        days(OVERRIDE_MAX_LENGTH)
    )]
    OverrideLength { hours: i64 },
}

impl OutOfRange {
    /// The request field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            OutOfRange::AwayUntil { .. } | OutOfRange::AwayOpenEnded => "until",
            OutOfRange::OverrideEnd { .. } | OutOfRange::OverrideLength { .. } => "to",
        }
    }
}

fn days(d: SignedDuration) -> i64 {
    d.as_secs() / DAY.as_secs()
}

/// Checks an away window from `now` until `until` (`None`: until further
/// notice, which only `open_ended_allowed` callers — managers — may set: it is
/// deliberate, never a typo, and for a responder it would be leaving the
/// rotation for good).
pub fn check_away(
    until: Option<Timestamp>,
    open_ended_allowed: bool,
    now: Timestamp,
) -> Result<(), OutOfRange> {
    let limit = now + AWAY_HORIZON;
    match until {
        Some(until) if until > limit => Err(OutOfRange::AwayUntil { limit }),
        Some(_) => Ok(()),
        None if open_ended_allowed => Ok(()),
        None => Err(OutOfRange::AwayOpenEnded),
    }
}

/// Checks an override `[from, to)` made at `now` (`from < to` is the caller's
/// check: that is a malformed request, not one out of range).
pub fn check_override(from: Timestamp, to: Timestamp, now: Timestamp) -> Result<(), OutOfRange> {
    let limit = now + OVERRIDE_HORIZON;
    if to > limit {
        return Err(OutOfRange::OverrideEnd { limit });
    }
    let length = to.duration_since(from);
    if length > OVERRIDE_MAX_LENGTH {
        return Err(OutOfRange::OverrideLength {
            hours: length.as_hours(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn an_away_window_ends_within_ninety_days() {
        assert_eq!(check_away(Some(now() + DAY * 90), false, now()), Ok(()));
        let err = check_away(Some(now() + DAY * 91), true, now()).unwrap_err();
        assert_eq!(err.field(), "until");
        assert_eq!(
            err.to_string(),
            "until may be at most 90 days from now (2026-05-30T12:00:00Z); a longer absence belongs in the configuration (users[].away)"
        );
    }

    #[test]
    fn a_typo_in_the_year_is_refused_even_for_a_manager() {
        let typo: Timestamp = "2062-03-08T00:00:00Z".parse().unwrap();
        assert!(check_away(Some(typo), true, now()).is_err());
    }

    #[test]
    fn away_until_further_notice_is_for_managers_only() {
        assert_eq!(check_away(None, true, now()), Ok(()));
        let err = check_away(None, false, now()).unwrap_err();
        assert_eq!(err, OutOfRange::AwayOpenEnded);
        assert_eq!(err.field(), "until");
    }

    #[test]
    fn an_override_ends_within_ninety_days_and_lasts_at_most_a_month() {
        let from = now() + DAY;
        assert_eq!(check_override(from, from + DAY * 31, now()), Ok(()));
        assert_eq!(
            check_override(from, from + DAY * 32, now()),
            Err(OutOfRange::OverrideLength { hours: 32 * 24 })
        );
        let late = now() + DAY * 89;
        assert_eq!(
            check_override(late, late + DAY * 2, now()),
            Err(OutOfRange::OverrideEnd {
                limit: now() + DAY * 90
            })
        );
        assert_eq!(
            check_override(late, late + DAY * 2, now())
                .unwrap_err()
                .field(),
            "to"
        );
    }

    #[test]
    fn a_long_override_reaching_back_into_the_past_is_still_too_long() {
        let from = now() - DAY * 400;
        assert!(matches!(
            check_override(from, now() + DAY, now()),
            Err(OutOfRange::OverrideLength { .. })
        ));
    }
}
