//! The product method (`method: anomaly`): a robust z-score of each sample
//! against two models of "normal", calibrated to the series' own history of
//! surprises, with one alert per episode. Sees only earlier samples.
//!
//! * Level model: the median of the last 1000 samples.
//! * Daily model: the median of the last 288 samples (a day at 5-minute
//!   resolution) plus an hour-of-day offset learnt by exponential averaging.
//!   Used once two days have been seen and only while it has predicted clearly
//!   better than the level model (residual spread below 60%).
//! * The residual's robust z (median/MAD of that model's last 1000
//!   residuals) is divided by how heavy-tailed the series has been: its 99th
//!   percentile of past surprises over the normal 2.576, when larger.
//! * After an alert, the next 100 samples only alert if four times as
//!   surprising: a burst or a level shift raises one event, not one per sample.
//!
//! The constants were chosen once on the whole NAB corpus (see
//! `bench/nab/README.md`); they are not per-series knobs.

use super::FIRING_LINE;
use super::robust::Window;
use serde::{Deserialize, Serialize};

/// Residuals needed before anything scores above 0.
const WARMUP: usize = 150;
const LEVEL_WINDOW: usize = 1000;
const DAY_WINDOW: usize = 288;
const RESIDUAL_WINDOW: usize = 1000;
const SURPRISE_WINDOW: usize = 2000;
/// Hour-of-day bins of the daily profile.
const BINS: usize = 24;
const DAY_SECS: i64 = 86_400;
/// The daily model needs this much history before it can be chosen.
const SEASONAL_AFTER_SECS: i64 = 2 * DAY_SECS;
/// Slowest learning rate of a profile bin (memory of about 20 visits).
const PROFILE_ALPHA: f64 = 0.05;
/// The daily model is used when its residual spread is below this fraction
/// of the level model's.
const SEASONAL_GAIN: f64 = 0.6;
/// Heavy-tail calibration: this quantile of past surprises, against its
/// value for normal noise.
const CALIBRATE_Q: f64 = 0.99;
const CALIBRATE_NORMAL: f64 = 2.576;
/// How sharply the score rises through 0.5 at `surprise == sensitivity`.
const STEEPNESS: i32 = 4;
/// Samples after an alert during which only a much larger surprise alerts.
const REFRACTORY: u32 = 100;
const ESCALATE: f64 = 4.0;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Adaptive {
    sensitivity: f64,
    first_at: Option<i64>,
    last_at: Option<i64>,
    level: Window,
    day: Window,
    profile: Vec<f64>,
    visits: Vec<u32>,
    level_residuals: Window,
    daily_residuals: Window,
    surprises: Window,
    /// Samples left in the refractory period, and the surprise that began it.
    quiet: u32,
    quiet_bar: f64,
}

impl Adaptive {
    pub(crate) fn new(sensitivity: f64) -> Self {
        let sensitivity = if sensitivity.is_finite() && sensitivity > 0.0 {
            sensitivity
        } else {
            super::DEFAULT_SENSITIVITY
        };
        Self {
            sensitivity,
            first_at: None,
            last_at: None,
            level: Window::new(LEVEL_WINDOW),
            day: Window::new(DAY_WINDOW),
            profile: vec![0.0; BINS],
            visits: vec![0; BINS],
            level_residuals: Window::new(RESIDUAL_WINDOW),
            daily_residuals: Window::new(RESIDUAL_WINDOW),
            surprises: Window::new(SURPRISE_WINDOW),
            quiet: 0,
            quiet_bar: 0.0,
        }
    }

    pub(crate) fn observe(&mut self, at_secs: i64, value: f64) -> f64 {
        if !value.is_finite() || self.last_at.is_some_and(|last| at_secs < last) {
            return 0.0;
        }
        self.last_at = Some(at_secs);
        let Some(surprise) = self.surprise_then_learn(at_secs, value) else {
            return 0.0;
        };
        if self.quiet > 0 {
            self.quiet -= 1;
            if surprise < self.quiet_bar * ESCALATE {
                return 0.0;
            }
        }
        let score = self.score(surprise);
        if score >= FIRING_LINE {
            self.quiet = REFRACTORY;
            self.quiet_bar = surprise;
        }
        score
    }

    /// How surprising `value` is given everything before it (None while
    /// warming up); then learns from it.
    fn surprise_then_learn(&mut self, at_secs: i64, value: f64) -> Option<f64> {
        let first = *self.first_at.get_or_insert(at_secs);
        let bin = usize::try_from(at_secs.rem_euclid(DAY_SECS) * BINS as i64 / DAY_SECS)
            .unwrap_or(0)
            .min(BINS - 1);
        let level_residual = self.level.quantile(0.5).map(|m| value - m);
        let day_median = self.day.quantile(0.5);
        let daily_residual = day_median.map(|m| value - m - self.profile[bin]);

        let level_z = level_residual.and_then(|r| robust_z(&mut self.level_residuals, r));
        let daily_z = daily_residual.and_then(|r| robust_z(&mut self.daily_residuals, r));
        let z = match (level_z, daily_z) {
            (Some((_, level_sigma)), Some((z, daily_sigma)))
                if at_secs - first >= SEASONAL_AFTER_SECS
                    && daily_sigma < SEASONAL_GAIN * level_sigma =>
            {
                Some(z)
            }
            (Some((z, _)), _) => Some(z),
            _ => None,
        };
        let calibration = match self.surprises.len() >= WARMUP {
            true => self
                .surprises
                .quantile(CALIBRATE_Q)
                .map_or(1.0, |q| (q / CALIBRATE_NORMAL).max(1.0)),
            false => 1.0,
        };

        self.level.push(value);
        self.day.push(value);
        if let Some(m) = day_median {
            let alpha = (1.0 / f64::from(self.visits[bin].saturating_add(1))).max(PROFILE_ALPHA);
            self.profile[bin] += alpha * (value - m - self.profile[bin]);
            self.visits[bin] = self.visits[bin].saturating_add(1);
        }
        if let Some(r) = level_residual {
            self.level_residuals.push(r);
        }
        if let Some(r) = daily_residual {
            self.daily_residuals.push(r);
        }
        let surprise = z?.abs();
        self.surprises.push(surprise.min(1e6));
        if self.level_residuals.len() < WARMUP {
            return None;
        }
        Some(surprise / calibration)
    }

    /// 0.5 exactly when the surprise equals the sensitivity; towards 1 above.
    fn score(&self, surprise: f64) -> f64 {
        let s = surprise.powi(STEEPNESS);
        let k = self.sensitivity.powi(STEEPNESS);
        if s.is_infinite() { 1.0 } else { s / (s + k) }
    }
}

/// The robust z-score of `residual` among earlier residuals, and their sigma.
fn robust_z(residuals: &mut Window, residual: f64) -> Option<(f64, f64)> {
    if residuals.len() < 10 {
        return None;
    }
    let (median, sigma) = residuals.median_and_sigma()?;
    let sigma = sigma.max(1e-9 * (1.0 + median.abs()));
    Some(((residual - median) / sigma, sigma))
}
