//! The static baseline: a fixed line crossed continuously for a while.
//! Scores are 1.0 while the condition has held for `for_secs`, else 0.0.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Threshold {
    above: Option<f64>,
    below: Option<f64>,
    for_secs: u64,
    /// When the current unbroken run of breaching samples began.
    since: Option<i64>,
    last_at: Option<i64>,
}

impl Threshold {
    pub(crate) fn new(above: Option<f64>, below: Option<f64>, for_secs: u64) -> Self {
        Self {
            above,
            below,
            for_secs,
            since: None,
            last_at: None,
        }
    }

    pub(crate) fn observe(&mut self, at_secs: i64, value: f64) -> f64 {
        if self.last_at.is_some_and(|last| at_secs < last) {
            return 0.0;
        }
        self.last_at = Some(at_secs);
        let breached = value.is_finite()
            && (self.above.is_some_and(|a| value > a) || self.below.is_some_and(|b| value < b));
        if !breached {
            self.since = None;
            return 0.0;
        }
        let since = *self.since.get_or_insert(at_secs);
        let held = u64::try_from(at_secs.saturating_sub(since)).unwrap_or(0);
        if held >= self.for_secs { 1.0 } else { 0.0 }
    }
}
