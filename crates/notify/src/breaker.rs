//! A circuit breaker per channel: after `threshold` transient failures in a
//! row the channel is skipped for `cool_down`, then one trial send decides
//! whether it closes again. Time is passed in, so it never sleeps and tests
//! drive it with a virtual clock.

use crate::SendResult;
use jiff::{SignedDuration, Timestamp};
use std::sync::Mutex;

/// What a breaker lets through at a given moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Sends go out.
    Closed,
    /// Sends are refused until the cool-down ends.
    Open,
    /// One trial send is allowed (or in flight); its result decides.
    HalfOpen,
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    Closed {
        failures: u32,
    },
    Open {
        until: Timestamp,
    },
    /// A trial send was let through at `since`.
    Trial {
        since: Timestamp,
    },
}

#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cool_down: SignedDuration,
    phase: Mutex<Phase>,
}

impl Default for CircuitBreaker {
    /// Opens after 5 transient failures in a row, for 30 seconds.
    fn default() -> Self {
        Self::new(5, SignedDuration::from_secs(30))
    }
}

impl CircuitBreaker {
    pub fn new(threshold: u32, cool_down: SignedDuration) -> Self {
        Self {
            threshold: threshold.max(1),
            cool_down,
            phase: Mutex::new(Phase::Closed { failures: 0 }),
        }
    }

    /// Whether a send may go out at `now`. When the cool-down is over the
    /// first caller gets the trial and others are refused until it is
    /// recorded; a trial never recorded (its sender died) is replaced after
    /// another cool-down.
    pub fn allow(&self, now: Timestamp) -> bool {
        let mut phase = self.lock();
        match *phase {
            Phase::Closed { .. } => true,
            Phase::Open { until } if now < until => false,
            Phase::Open { .. } => {
                *phase = Phase::Trial { since: now };
                true
            }
            Phase::Trial { since } if now < since + self.cool_down => false,
            Phase::Trial { .. } => {
                *phase = Phase::Trial { since: now };
                true
            }
        }
    }

    /// Counts the outcome of a send. Only transient failures count against
    /// the channel: a permanent one means the provider answered (the address
    /// is wrong), which is a healthy channel. Results arriving while open are
    /// from sends let through before it opened and change nothing.
    pub fn record(&self, result: &SendResult, now: Timestamp) {
        let transient = matches!(result, SendResult::Transient { .. });
        let mut phase = self.lock();
        *phase = match (*phase, transient) {
            (Phase::Closed { failures }, true) if failures + 1 >= self.threshold => Phase::Open {
                until: now + self.cool_down,
            },
            (Phase::Closed { failures }, true) => Phase::Closed {
                failures: failures + 1,
            },
            (Phase::Closed { .. }, false) => Phase::Closed { failures: 0 },
            (Phase::Open { until }, _) => Phase::Open { until },
            (Phase::Trial { .. }, true) => Phase::Open {
                until: now + self.cool_down,
            },
            (Phase::Trial { .. }, false) => Phase::Closed { failures: 0 },
        };
    }

    pub fn state(&self, now: Timestamp) -> BreakerState {
        match *self.lock() {
            Phase::Closed { .. } => BreakerState::Closed,
            Phase::Open { until } if now < until => BreakerState::Open,
            Phase::Open { .. } | Phase::Trial { .. } => BreakerState::HalfOpen,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        // The phase is a plain value written whole: a panic elsewhere cannot
        // leave it half-updated, so a poisoned lock is still usable.
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transient() -> SendResult {
        SendResult::Transient {
            error: "HTTP 503".into(),
        }
    }
    fn delivered() -> SendResult {
        SendResult::Delivered {
            detail: "HTTP 200".into(),
        }
    }
    fn permanent() -> SendResult {
        SendResult::Permanent {
            error: "HTTP 404".into(),
        }
    }

    /// A virtual clock: seconds after an arbitrary epoch.
    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(5, SignedDuration::from_secs(30))
    }

    #[test]
    fn stays_closed_below_the_threshold() {
        let b = breaker();
        for s in 0..4 {
            assert!(b.allow(at(s)));
            b.record(&transient(), at(s));
        }
        assert_eq!(b.state(at(4)), BreakerState::Closed);
        assert!(b.allow(at(4)));
    }

    #[test]
    fn opens_after_five_consecutive_transient_failures() {
        let b = breaker();
        for s in 0..5 {
            b.record(&transient(), at(s));
        }
        assert_eq!(b.state(at(4)), BreakerState::Open);
        assert!(!b.allow(at(5)));
        assert!(!b.allow(at(33)));
    }

    #[test]
    fn a_success_or_permanent_failure_resets_the_count() {
        let b = breaker();
        for s in 0..4 {
            b.record(&transient(), at(s));
        }
        b.record(&delivered(), at(4));
        for s in 5..9 {
            b.record(&transient(), at(s));
        }
        b.record(&permanent(), at(9));
        for s in 10..14 {
            b.record(&transient(), at(s));
        }
        assert_eq!(b.state(at(14)), BreakerState::Closed);
    }

    #[test]
    fn after_the_cool_down_exactly_one_trial_goes_out() {
        let b = breaker();
        for _ in 0..5 {
            b.record(&transient(), at(0));
        }
        assert!(!b.allow(at(29)));
        assert_eq!(b.state(at(30)), BreakerState::HalfOpen);
        assert!(b.allow(at(30)), "the trial");
        assert!(!b.allow(at(30)), "a second send while the trial is out");
        assert!(!b.allow(at(45)));
    }

    #[test]
    fn a_successful_trial_closes_the_breaker() {
        let b = breaker();
        for _ in 0..5 {
            b.record(&transient(), at(0));
        }
        assert!(b.allow(at(30)));
        b.record(&delivered(), at(31));
        assert_eq!(b.state(at(31)), BreakerState::Closed);
        assert!(b.allow(at(31)));
        assert!(b.allow(at(31)));
    }

    #[test]
    fn a_failed_trial_opens_it_for_another_cool_down() {
        let b = breaker();
        for _ in 0..5 {
            b.record(&transient(), at(0));
        }
        assert!(b.allow(at(30)));
        b.record(&transient(), at(31));
        assert_eq!(b.state(at(31)), BreakerState::Open);
        assert!(!b.allow(at(60)));
        assert!(b.allow(at(61)));
    }

    #[test]
    fn a_trial_that_never_reports_is_replaced_after_a_cool_down() {
        let b = breaker();
        for _ in 0..5 {
            b.record(&transient(), at(0));
        }
        assert!(b.allow(at(30)));
        assert!(!b.allow(at(59)));
        assert!(b.allow(at(60)));
    }

    #[test]
    fn late_results_while_open_change_nothing() {
        let b = breaker();
        for _ in 0..5 {
            b.record(&transient(), at(0));
        }
        b.record(&delivered(), at(1));
        assert_eq!(b.state(at(1)), BreakerState::Open);
        assert!(!b.allow(at(2)));
    }
}
