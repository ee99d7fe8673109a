//! Circuit breakers, one per destination: after `threshold` transient
//! failures in a row a destination is skipped for `cool_down`, then one trial
//! send decides whether it closes again. A breaker never fails a page: it
//! says when to try next, and the notifier holds the page until then. Time is
//! passed in, so it never sleeps and tests drive it with a virtual clock.

use crate::SendResult;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What a breaker lets through at a given moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Sends go out.
    Closed,
    /// Sends are held until the cool-down ends.
    Open,
    /// One trial send is allowed (or in flight); its result decides.
    HalfOpen,
}

/// While a trial send is out, how long others wait before asking again: a
/// trial to a healthy receiver is answered in milliseconds, and one to a
/// dead receiver times out, so asking again soon costs little and lets the
/// held pages follow a successful trial at once.
pub const TRIAL_WAIT: SignedDuration = SignedDuration::from_secs(1);

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
    /// What it guards, for logs and the API: a channel, or a channel and a
    /// destination (`webhook https://hooks.example.com:443`).
    key: String,
    threshold: u32,
    cool_down: SignedDuration,
    phase: Mutex<Phase>,
}

/// When a breaker holds sends, what it tells the sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The breaker's key.
    pub breaker: String,
    /// When to try again: the end of the cool-down (the next probe), or
    /// [`TRIAL_WAIT`] from now while a trial is out.
    pub until: Timestamp,
}

/// How many transient failures in a row open a breaker, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerSettings {
    pub threshold: u32,
    pub cool_down: SignedDuration,
}

impl Default for BreakerSettings {
    /// Opens after 5 transient failures in a row, for 30 seconds.
    fn default() -> Self {
        Self {
            threshold: 5,
            cool_down: SignedDuration::from_secs(30),
        }
    }
}

/// One breaker as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BreakerStatus {
    pub key: String,
    pub state: BreakerState,
    /// Transient failures in a row while closed.
    pub failures: u32,
    /// While open: when the next trial may go out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_probe_at: Option<Timestamp>,
}

impl CircuitBreaker {
    pub fn new(key: impl Into<String>, settings: BreakerSettings) -> Self {
        Self {
            key: key.into(),
            threshold: settings.threshold.max(1),
            cool_down: settings.cool_down,
            phase: Mutex::new(Phase::Closed { failures: 0 }),
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether a send may go out at `now`, or until when it is held. When the
    /// cool-down is over the first caller gets the trial and others are held
    /// until it is recorded; a trial never recorded (its sender died) is
    /// replaced after another cool-down.
    pub fn admit(&self, now: Timestamp) -> Result<(), Held> {
        let mut phase = self.lock();
        let held = |until| {
            Err(Held {
                breaker: self.key.clone(),
                until,
            })
        };
        match *phase {
            Phase::Closed { .. } => Ok(()),
            Phase::Open { until } if now < until => held(until),
            Phase::Trial { since } if now < since + self.cool_down => {
                held((now + TRIAL_WAIT).min(since + self.cool_down))
            }
            Phase::Open { .. } | Phase::Trial { .. } => {
                *phase = Phase::Trial { since: now };
                tracing::info!(breaker = %self.key, "circuit half-open: one trial send");
                Ok(())
            }
        }
    }

    /// Counts the outcome of a send. Only transient failures count against
    /// the destination: a permanent one means the receiver answered (the
    /// address is wrong), which is a healthy destination, and so is a
    /// delivery, even one answered while the breaker was open (it was let
    /// through before): either closes it.
    pub fn record(&self, result: &SendResult, now: Timestamp) {
        let transient = matches!(result, SendResult::Transient { .. });
        let mut phase = self.lock();
        let before = *phase;
        *phase = match (before, transient) {
            (Phase::Closed { failures }, true) if failures + 1 >= self.threshold => Phase::Open {
                until: now + self.cool_down,
            },
            (Phase::Closed { failures }, true) => Phase::Closed {
                failures: failures + 1,
            },
            (Phase::Open { until }, true) => Phase::Open { until },
            (Phase::Trial { .. }, true) => Phase::Open {
                until: now + self.cool_down,
            },
            (_, false) => Phase::Closed { failures: 0 },
        };
        match (before, *phase) {
            (Phase::Closed { .. } | Phase::Trial { .. }, Phase::Open { until }) => {
                let SendResult::Transient { error } = result else {
                    return;
                };
                tracing::warn!(breaker = %self.key, %until, %error, "circuit open: sends held until the next probe");
            }
            (Phase::Open { .. } | Phase::Trial { .. }, Phase::Closed { .. }) => {
                tracing::info!(breaker = %self.key, "circuit closed: sends go out again");
            }
            _ => {}
        }
    }

    pub fn state(&self, now: Timestamp) -> BreakerState {
        match *self.lock() {
            Phase::Closed { .. } => BreakerState::Closed,
            Phase::Open { until } if now < until => BreakerState::Open,
            Phase::Open { .. } | Phase::Trial { .. } => BreakerState::HalfOpen,
        }
    }

    pub fn status(&self, now: Timestamp) -> BreakerStatus {
        let phase = *self.lock();
        BreakerStatus {
            key: self.key.clone(),
            state: self.state(now),
            failures: match phase {
                Phase::Closed { failures } => failures,
                _ => self.threshold,
            },
            next_probe_at: match phase {
                Phase::Open { until } => Some(until),
                Phase::Trial { since } => Some(since + self.cool_down),
                Phase::Closed { .. } => None,
            },
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        // The phase is a plain value written whole: a panic elsewhere cannot
        // leave it half-updated, so a poisoned lock is still usable.
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every breaker of a node, by key, made on first use. Outlives the channel
/// adapters (rebuilt when the configuration changes) so that applying a
/// configuration does not forget which receivers are down. Keys come from the
/// configuration's contact methods, so their number is bounded by it.
#[derive(Debug, Default)]
pub struct Breakers {
    settings: BreakerSettings,
    by_key: Mutex<HashMap<String, Arc<CircuitBreaker>>>,
}

impl Breakers {
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            by_key: Mutex::default(),
        }
    }

    /// The breaker for `key`, made closed if there was none.
    pub fn get(&self, key: &str) -> Arc<CircuitBreaker> {
        let mut map = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = map.get(key) {
            return b.clone();
        }
        let b = Arc::new(CircuitBreaker::new(key, self.settings));
        map.insert(key.to_owned(), b.clone());
        b
    }

    /// The breaker for `key`, if one was made.
    pub fn find(&self, key: &str) -> Option<Arc<CircuitBreaker>> {
        let map = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).cloned()
    }

    /// Every breaker's state at `now`, by key.
    pub fn statuses(&self, now: Timestamp) -> Vec<BreakerStatus> {
        let map = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<BreakerStatus> = map.values().map(|b| b.status(now)).collect();
        all.sort_by(|a, b| a.key.cmp(&b.key));
        all
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
        CircuitBreaker::new("webhook http://receiver:80", BreakerSettings::default())
    }

    #[test]
    fn stays_closed_below_the_threshold() {
        let b = breaker();
        for s in 0..4 {
            assert!(b.admit(at(s)).is_ok());
            b.record(&transient(), at(s));
        }
        assert_eq!(b.state(at(4)), BreakerState::Closed);
        assert!(b.admit(at(4)).is_ok());
    }

    #[test]
    fn opens_after_five_consecutive_transient_failures() {
        let b = breaker();
        for s in 0..5 {
            b.record(&transient(), at(s));
        }
        assert_eq!(b.state(at(4)), BreakerState::Open);
        assert!(b.admit(at(5)).is_err());
        assert!(b.admit(at(33)).is_err());
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
        assert!(b.admit(at(29)).is_err());
        assert_eq!(b.state(at(30)), BreakerState::HalfOpen);
        assert!(b.admit(at(30)).is_ok(), "the trial");
        assert!(
            b.admit(at(30)).is_err(),
            "a second send while the trial is out"
        );
        assert!(b.admit(at(45)).is_err());
    }

    #[test]
    fn a_successful_trial_closes_the_breaker() {
        let b = breaker();
        for _ in 0..5 {
            b.record(&transient(), at(0));
        }
        assert!(b.admit(at(30)).is_ok());
        b.record(&delivered(), at(31));
        assert_eq!(b.state(at(31)), BreakerState::Closed);
        assert!(b.admit(at(31)).is_ok());
        assert!(b.admit(at(31)).is_ok());
    }

    #[test]
    fn a_failed_trial_opens_it_for_another_cool_down() {
        let b = breaker();
        for _ in 0..5 {
            b.record(&transient(), at(0));
        }
        assert!(b.admit(at(30)).is_ok());
        b.record(&transient(), at(31));
        assert_eq!(b.state(at(31)), BreakerState::Open);
        assert!(b.admit(at(60)).is_err());
        assert!(b.admit(at(61)).is_ok());
    }

    #[test]
    fn a_trial_that_never_reports_is_replaced_after_a_cool_down() {
        let b = breaker();
        for _ in 0..5 {
            b.record(&transient(), at(0));
        }
        assert!(b.admit(at(30)).is_ok());
        assert!(b.admit(at(59)).is_err());
        assert!(b.admit(at(60)).is_ok());
    }

    #[test]
    fn late_failures_while_open_change_nothing() {
        let b = breaker();
        for _ in 0..5 {
            b.record(&transient(), at(0));
        }
        b.record(&transient(), at(20));
        assert_eq!(b.state(at(29)), BreakerState::Open);
        assert!(
            b.admit(at(30)).is_ok(),
            "the cool-down still ends 30 s after it opened"
        );
    }

    #[test]
    fn a_delivery_answered_while_open_closes_it() {
        // Sends let through before it opened came back healthy: the
        // receiver answers again, so nobody's page should wait for a probe.
        let b = breaker();
        for _ in 0..5 {
            b.record(&transient(), at(0));
        }
        b.record(&delivered(), at(1));
        assert_eq!(b.state(at(1)), BreakerState::Closed);
        assert!(b.admit(at(2)).is_ok());
    }

    #[test]
    fn held_sends_are_told_the_next_probe() {
        let b = breaker();
        for _ in 0..5 {
            b.record(&transient(), at(0));
        }
        let held = b.admit(at(10)).unwrap_err();
        assert_eq!(held.until, at(30));
        assert_eq!(held.breaker, "webhook http://receiver:80");
        assert_eq!(b.status(at(10)).next_probe_at, Some(at(30)));
        // While the trial is out, others ask again shortly.
        assert!(b.admit(at(30)).is_ok());
        assert_eq!(b.admit(at(31)).unwrap_err().until, at(32));
        // ...but never past the point where the trial counts as lost.
        assert_eq!(
            b.admit(at(59) + SignedDuration::from_millis(500))
                .unwrap_err()
                .until,
            at(60)
        );
    }

    #[test]
    fn breakers_are_made_once_per_key_and_listed() {
        let all = Breakers::default();
        let a = all.get("webhook https://a:443");
        for _ in 0..5 {
            a.record(&transient(), at(0));
        }
        assert_eq!(
            all.get("webhook https://a:443").state(at(1)),
            BreakerState::Open
        );
        assert_eq!(
            all.get("webhook https://b:443").state(at(1)),
            BreakerState::Closed
        );
        let listed: Vec<(String, BreakerState)> = all
            .statuses(at(1))
            .into_iter()
            .map(|s| (s.key, s.state))
            .collect();
        assert_eq!(
            listed,
            vec![
                ("webhook https://a:443".to_owned(), BreakerState::Open),
                ("webhook https://b:443".to_owned(), BreakerState::Closed)
            ]
        );
        assert!(all.find("email").is_none());
    }
}
