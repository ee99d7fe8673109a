//! One detector watching its series: the model, whether it is firing, and
//! the decision of when a sample turns it on (trigger) or, after the series
//! has been normal for `resolve_after`, off (resolve). Pure: the shell loads
//! a `Watch` under a row lock, feeds it samples, and saves it with the events
//! it decided in one transaction, so nodes sharing a database never decide
//! from a stale state.

use super::{Detector, Method};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Watch {
    pub model: Detector,
    pub firing: bool,
    /// When the series last turned normal while firing.
    pub normal_since: Option<Timestamp>,
    /// Samples seen in all.
    #[serde(default)]
    pub samples: u64,
}

/// What a sample made of the watch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Change {
    /// It turned anomalous: raise a trigger.
    Trigger {
        at: Timestamp,
        value: f64,
        score: f64,
    },
    /// It has been normal for `resolve_after`: resolve.
    Resolve {
        at: Timestamp,
        value: f64,
        score: f64,
    },
}

impl Watch {
    pub fn new(method: &Method) -> Self {
        Self {
            model: Detector::new(method),
            firing: false,
            normal_since: None,
            samples: 0,
        }
    }

    /// Scores one sample and says whether it fires or resolves the detector.
    pub fn observe(
        &mut self,
        at: Timestamp,
        value: f64,
        resolve_after: SignedDuration,
    ) -> (f64, Option<Change>) {
        let score = self.model.observe(at.as_second(), value);
        self.samples += 1;
        let anomalous = self.model.is_anomalous(score);
        let change = match (self.firing, anomalous) {
            (false, true) => {
                self.firing = true;
                self.normal_since = None;
                Some(Change::Trigger { at, value, score })
            }
            (true, true) => {
                self.normal_since = None;
                None
            }
            (true, false) => {
                let since = *self.normal_since.get_or_insert(at);
                if at.duration_since(since) >= resolve_after {
                    self.firing = false;
                    self.normal_since = None;
                    Some(Change::Resolve { at, value, score })
                } else {
                    None
                }
            }
            (false, false) => None,
        };
        (score, change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn threshold() -> Watch {
        Watch::new(&Method::Threshold {
            above: Some(10.0),
            below: None,
            for_secs: 0,
        })
    }

    #[test]
    fn fires_once_then_resolves_after_being_normal_long_enough() {
        let mut w = threshold();
        let after = SignedDuration::from_secs(60);
        let changes: Vec<Option<Change>> = [
            (0, 1.0),
            (10, 50.0),
            (20, 60.0),
            (30, 1.0),
            (60, 2.0),
            (90, 1.0),
        ]
        .into_iter()
        .map(|(s, v)| w.observe(at(s), v, after).1)
        .collect();
        assert!(
            matches!(changes[1], Some(Change::Trigger { .. })),
            "{changes:?}"
        );
        assert_eq!(changes[2], None, "already firing");
        assert_eq!(changes[3], None);
        assert_eq!(changes[4], None, "normal for 30 s only");
        assert!(
            matches!(changes[5], Some(Change::Resolve { .. })),
            "{changes:?}"
        );
        assert!(!w.firing);
        assert_eq!(w.samples, 6);
    }

    #[test]
    fn an_anomaly_while_recovering_restarts_the_wait() {
        let mut w = threshold();
        let after = SignedDuration::from_secs(60);
        w.observe(at(0), 50.0, after);
        w.observe(at(10), 1.0, after);
        w.observe(at(50), 50.0, after);
        assert_eq!(w.observe(at(80), 1.0, after).1, None);
        assert_eq!(w.observe(at(120), 1.0, after).1, None, "normal since 80");
        assert!(matches!(
            w.observe(at(140), 1.0, after).1,
            Some(Change::Resolve { .. })
        ));
    }

    #[test]
    fn a_saved_watch_goes_on_where_it_stopped() {
        let mut w = threshold();
        let after = SignedDuration::from_secs(60);
        w.observe(at(0), 50.0, after);
        let mut back: Watch = serde_json::from_value(serde_json::to_value(&w).unwrap()).unwrap();
        assert!(back.firing);
        assert_eq!(
            back.observe(at(10), 60.0, after).1,
            None,
            "no second trigger"
        );
    }
}
