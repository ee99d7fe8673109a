//! NAB's "windowed Gaussian" baseline, reproduced for the benchmark: the mean
//! and standard deviation of the last 6400 values, refreshed every 100, and the
//! two-sided normal tail of each new value. Not adaptive; not for alerting.

use serde::{Deserialize, Serialize};

const WINDOW: usize = 6400;
const STEP: usize = 100;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct WindowedGaussian {
    window: Vec<f64>,
    step: Vec<f64>,
    mean: f64,
    std: f64,
    last_at: Option<i64>,
}

impl WindowedGaussian {
    pub(crate) fn observe(&mut self, at_secs: i64, value: f64) -> f64 {
        if !value.is_finite() || self.last_at.is_some_and(|last| at_secs < last) {
            return 0.0;
        }
        self.last_at = Some(at_secs);
        let score = if self.window.is_empty() {
            0.0
        } else {
            let z = (value - self.mean).abs() / self.std;
            1.0 - 0.5 * erfc(z / std::f64::consts::SQRT_2)
        };
        if self.window.len() < WINDOW {
            self.window.push(value);
            self.refresh();
        } else {
            self.step.push(value);
            if self.step.len() == STEP {
                self.window.drain(..STEP);
                self.window.append(&mut self.step);
                self.refresh();
            }
        }
        score
    }

    fn refresh(&mut self) {
        let n = self.window.len() as f64;
        self.mean = self.window.iter().sum::<f64>() / n;
        let var = self
            .window
            .iter()
            .map(|v| (v - self.mean).powi(2))
            .sum::<f64>()
            / n;
        self.std = if var > 0.0 { var.sqrt() } else { 1e-6 };
    }
}

/// Complementary error function (Numerical Recipes' Chebyshev fit,
/// relative error below 1.2e-7), enough for a tail probability.
pub(crate) fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}
