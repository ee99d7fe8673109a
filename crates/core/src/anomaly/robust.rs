//! A bounded sliding window of recent values with robust location and scale
//! (median and MAD). Memory is fixed by the capacity; nothing here knows about
//! time or about what the values mean.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The consistency factor that makes a MAD estimate a normal sigma.
const MAD_TO_SIGMA: f64 = 1.4826;
/// The same for a mean absolute deviation around the median.
const MEAN_AD_TO_SIGMA: f64 = 1.2533;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Window {
    capacity: usize,
    values: VecDeque<f64>,
    /// The same values sorted; rebuilt after deserialising rather than stored twice.
    #[serde(skip)]
    sorted: Vec<f64>,
}

impl Window {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            values: VecDeque::new(),
            sorted: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// Adds a finite value, dropping the oldest when full.
    pub(crate) fn push(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        self.resync();
        if self.values.len() == self.capacity
            && let Some(old) = self.values.pop_front()
        {
            let at = self.sorted.partition_point(|v| *v < old);
            if at < self.sorted.len() {
                self.sorted.remove(at);
            }
        }
        self.values.push_back(value);
        let at = self.sorted.partition_point(|v| *v < value);
        self.sorted.insert(at, value);
    }

    fn resync(&mut self) {
        if self.sorted.len() != self.values.len() {
            self.sorted = self.values.iter().copied().collect();
            self.sorted.sort_by(f64::total_cmp);
        }
    }

    /// The q-quantile (0..=1) by linear interpolation; None when empty.
    pub(crate) fn quantile(&mut self, q: f64) -> Option<f64> {
        self.resync();
        quantile_of_sorted(&self.sorted, q)
    }

    /// Median and a robust sigma: the larger of the MAD and the mean absolute
    /// deviation (both scaled to a normal sigma). The MAD alone understates
    /// the spread of spiky series and is 0 when most values are equal.
    pub(crate) fn median_and_sigma(&mut self) -> Option<(f64, f64)> {
        let median = self.quantile(0.5)?;
        let mut dev: Vec<f64> = self.sorted.iter().map(|v| (v - median).abs()).collect();
        let mid = dev.len() / 2;
        let (_, mad, _) = dev.select_nth_unstable_by(mid, f64::total_cmp);
        let mad = *mad;
        let mean_ad = dev.iter().sum::<f64>() / dev.len() as f64;
        Some((median, (MAD_TO_SIGMA * mad).max(MEAN_AD_TO_SIGMA * mean_ad)))
    }
}

pub(crate) fn quantile_of_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let pos = q.clamp(0.0, 1.0) * last as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_sigma_follow_the_last_capacity_values() {
        let mut w = Window::new(5);
        for v in [100.0, 1.0, 2.0, 3.0, 4.0, 5.0] {
            w.push(v);
        }
        let (median, sigma) = w.median_and_sigma().unwrap();
        assert_eq!(median, 3.0);
        // MAD 1 * 1.4826, mean deviation 1.2 * 1.2533: the larger wins.
        assert!((sigma - 1.2 * 1.2533).abs() < 1e-9);
    }

    #[test]
    fn sigma_falls_back_to_mean_deviation_when_mostly_constant() {
        let mut w = Window::new(10);
        for v in [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0] {
            w.push(v);
        }
        let (median, sigma) = w.median_and_sigma().unwrap();
        assert_eq!(median, 0.0);
        assert!(sigma > 0.0);
    }

    #[test]
    fn survives_a_serde_round_trip() {
        let mut w = Window::new(4);
        for v in [3.0, 1.0, 2.0] {
            w.push(v);
        }
        let json = serde_json::to_string(&w).unwrap();
        let mut back: Window = serde_json::from_str(&json).unwrap();
        back.push(0.0);
        back.push(9.0);
        assert_eq!(back.quantile(0.5), Some(1.5));
    }
}
