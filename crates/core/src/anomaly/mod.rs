//! Anomaly detection on metric streams, one sample at a time.
//!
//! Owns each series' detector state and turns every sample into a score in
//! [0, 1] from the samples before it (online). It never reads clocks, stores
//! state: the caller feeds samples in time order and persists the (serde)
//! state; [`Watch`] decides when a detector fires and resolves.

mod adaptive;
mod gaussian;
mod robust;
mod threshold;
mod watch;

pub use watch::{Change, Watch};

use serde::{Deserialize, Serialize};

/// `sensitivity` when a detector does not say: a robust z-score of 3.5.
pub const DEFAULT_SENSITIVITY: f64 = 3.5;

/// Scores at or above this line are anomalies, for every method.
pub const FIRING_LINE: f64 = 0.5;

/// How a detector decides what is abnormal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Method {
    /// Adapts to level and daily seasonality; `sensitivity` is a robust
    /// z-score: higher means fewer alerts.
    Anomaly { sensitivity: f64 },
    /// A static line: anomalous once the value has been above `above` (or
    /// below `below`) continuously for `for_secs`.
    Threshold {
        above: Option<f64>,
        below: Option<f64>,
        for_secs: u64,
    },
    /// NAB's windowed-Gaussian baseline, kept for benchmarking only.
    Zscore,
}

/// The state of one detector on one series.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Detector {
    state: State,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum State {
    Anomaly(Box<adaptive::Adaptive>),
    Threshold(threshold::Threshold),
    Zscore(Box<gaussian::WindowedGaussian>),
}

impl Detector {
    pub fn new(method: &Method) -> Self {
        let state = match method {
            Method::Anomaly { sensitivity } => {
                State::Anomaly(Box::new(adaptive::Adaptive::new(*sensitivity)))
            }
            Method::Threshold {
                above,
                below,
                for_secs,
            } => State::Threshold(threshold::Threshold::new(*above, *below, *for_secs)),
            Method::Zscore => State::Zscore(Box::default()),
        };
        Self { state }
    }

    /// Feeds one sample (epoch seconds, value) in time order; returns the
    /// anomaly score in [0, 1] for this sample, computed only from earlier
    /// samples. Samples older than the last one, and non-finite values, score
    /// 0 and are not learned from.
    pub fn observe(&mut self, at_secs: i64, value: f64) -> f64 {
        let score = match &mut self.state {
            State::Anomaly(d) => d.observe(at_secs, value),
            State::Threshold(d) => d.observe(at_secs, value),
            State::Zscore(d) => d.observe(at_secs, value),
        };
        if score.is_finite() {
            score.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// Whether the score crosses the firing line (what makes the server raise
    /// an event).
    pub fn is_anomalous(&self, score: f64) -> bool {
        score >= FIRING_LINE
    }
}

#[cfg(test)]
mod tests;
