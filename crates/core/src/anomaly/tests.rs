use super::*;
use proptest::prelude::*;

const FIVE_MINUTES: i64 = 300;
const DAY: i64 = 86_400;
const START: i64 = 1_396_310_400; // 2014-04-01T00:00:00Z

/// Deterministic noise in [-1, 1] (sum of three uniforms, so roughly normal
/// but bounded: a band the series never leaves).
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
    fn next(&mut self) -> f64 {
        (self.uniform() + self.uniform() + self.uniform()) / 3.0
    }
}

fn anomaly() -> Detector {
    Detector::new(&Method::Anomaly {
        sensitivity: DEFAULT_SENSITIVITY,
    })
}

/// Scores a series sampled every five minutes from START.
fn run(detector: &mut Detector, values: &[f64]) -> Vec<f64> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| detector.observe(START + i as i64 * FIVE_MINUTES, *v))
        .collect()
}

fn alerts(detector: &Detector, scores: &[f64]) -> Vec<usize> {
    (0..scores.len())
        .filter(|i| detector.is_anomalous(scores[*i]))
        .collect()
}

fn noisy_level(n: usize, level: f64, seed: u64) -> Vec<f64> {
    let mut noise = Noise(seed);
    (0..n).map(|_| level + noise.next()).collect()
}

#[test]
fn warm_up_scores_zero() {
    let mut d = anomaly();
    // The first 150 samples only teach the detector.
    let mut values = noisy_level(149, 10.0, 1);
    values.push(1e6);
    assert!(run(&mut d, &values).iter().all(|s| *s == 0.0));
    assert!(d.observe(START + 150 * FIVE_MINUTES, -1e6) > 0.9);
}

#[test]
fn large_spike_after_warm_up_scores_high() {
    let mut d = anomaly();
    let mut values = noisy_level(1000, 10.0, 2);
    values.push(40.0);
    let scores = run(&mut d, &values);
    assert!(scores[1000] > 0.9, "spike scored {}", scores[1000]);
    assert!(d.is_anomalous(scores[1000]));
    assert!(alerts(&d, &scores[..1000]).is_empty());
}

#[test]
fn level_shift_alerts_once_then_stops_after_adaptation() {
    let mut d = anomaly();
    let mut values = noisy_level(1500, 10.0, 3);
    values.extend(noisy_level(3000, 30.0, 4));
    let scores = run(&mut d, &values);
    let fired = alerts(&d, &scores);
    assert_eq!(fired.first(), Some(&1500), "alerts at {fired:?}");
    assert!(
        fired.iter().all(|i| *i < 1500 + 1000),
        "still alerting long after the shift: {fired:?}"
    );
}

#[test]
fn clean_daily_sine_with_noise_raises_no_alerts_after_warm_up() {
    let mut d = anomaly();
    let mut noise = Noise(5);
    let values: Vec<f64> = (0..14 * 288)
        .map(|i| {
            let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
            50.0 + 20.0 * phase.sin() + noise.next()
        })
        .collect();
    let scores = run(&mut d, &values);
    assert_eq!(alerts(&d, &scores), Vec::<usize>::new());
}

#[test]
fn daily_model_catches_a_dip_that_stays_within_the_daily_range() {
    let mut d = anomaly();
    let mut noise = Noise(6);
    let mut values: Vec<f64> = (0..7 * 288)
        .map(|i| {
            let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
            50.0 + 20.0 * phase.sin() + noise.next()
        })
        .collect();
    // At the daily peak (hour 6), the value drops to the daily mean: normal
    // for the series overall, abnormal for that hour.
    let peak = 6 * 288 + 72;
    for v in &mut values[peak..peak + 6] {
        *v = 50.0;
    }
    let scores = run(&mut d, &values);
    let fired = alerts(&d, &scores);
    assert_eq!(fired.first(), Some(&peak), "alerts at {fired:?}");
}

#[test]
fn higher_sensitivity_never_alerts_more_often() {
    let mut noise = Noise(7);
    let values: Vec<f64> = (0..6000)
        .map(|i| {
            let burst = if i % 397 == 0 {
                6.0 * noise.uniform()
            } else {
                0.0
            };
            100.0 + noise.next() * (1.0 + (i / 1000) as f64 * 0.3) + burst
        })
        .collect();
    let mut previous = usize::MAX;
    for sensitivity in [1.5, 2.5, 3.5, 5.0, 8.0] {
        let mut d = Detector::new(&Method::Anomaly { sensitivity });
        let scores = run(&mut d, &values);
        let count = alerts(&d, &scores).len();
        assert!(
            count <= previous,
            "sensitivity {sensitivity}: {count} alerts, more than {previous}"
        );
        previous = count;
    }
}

#[test]
fn out_of_order_and_non_finite_samples_score_zero_and_are_ignored() {
    let values = noisy_level(600, 5.0, 8);
    let mut clean = anomaly();
    let expected = run(&mut clean, &values);

    let mut d = anomaly();
    let mut got = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let at = START + i as i64 * FIVE_MINUTES;
        if i == 400 {
            assert_eq!(d.observe(at - DAY, 1e9), 0.0);
            assert_eq!(d.observe(at, f64::NAN), 0.0);
            assert_eq!(d.observe(at, f64::INFINITY), 0.0);
        }
        got.push(d.observe(at, *v));
    }
    assert_eq!(got, expected);
}

#[test]
fn state_survives_a_serde_round_trip_mid_stream() {
    let values = noisy_level(900, 5.0, 9);
    let mut d = anomaly();
    run(&mut d, &values[..500]);
    let json = serde_json::to_string(&d).unwrap();
    let mut restored: Detector = serde_json::from_str(&json).unwrap();
    for (i, v) in values.iter().enumerate().skip(500) {
        let at = START + i as i64 * FIVE_MINUTES;
        // JSON may round the last bit of a float; decisions must not move.
        let (a, b) = (d.observe(at, *v), restored.observe(at, *v));
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
}

fn threshold(above: Option<f64>, below: Option<f64>, for_secs: u64) -> Detector {
    Detector::new(&Method::Threshold {
        above,
        below,
        for_secs,
    })
}

#[test]
fn threshold_fires_once_the_condition_has_held_for_the_duration() {
    let mut d = threshold(Some(90.0), None, 600);
    let scores: Vec<f64> = [50.0, 95.0, 96.0, 97.0, 98.0]
        .iter()
        .enumerate()
        .map(|(i, v)| d.observe(i as i64 * FIVE_MINUTES, *v))
        .collect();
    // Above since t=300; held 0s, 300s, then 600s at t=900.
    assert_eq!(scores, vec![0.0, 0.0, 0.0, 1.0, 1.0]);
}

#[test]
fn threshold_restarts_the_clock_when_the_condition_breaks() {
    let mut d = threshold(None, Some(1.0), 300);
    let scores: Vec<f64> = [0.5, 0.5, 2.0, 0.5, 0.5]
        .iter()
        .enumerate()
        .map(|(i, v)| d.observe(i as i64 * FIVE_MINUTES, *v))
        .collect();
    assert_eq!(scores, vec![0.0, 1.0, 0.0, 0.0, 1.0]);
    assert!(d.is_anomalous(1.0));
    assert!(!d.is_anomalous(0.0));
}

#[test]
fn threshold_without_duration_fires_on_the_first_breaching_sample() {
    let mut d = threshold(Some(10.0), Some(-10.0), 0);
    assert_eq!(d.observe(0, 11.0), 1.0);
    assert_eq!(d.observe(60, 0.0), 0.0);
    assert_eq!(d.observe(120, -11.0), 1.0);
    assert_eq!(d.observe(180, f64::NAN), 0.0);
}

#[test]
fn zscore_baseline_scores_the_gaussian_tail() {
    let mut d = Detector::new(&Method::Zscore);
    let scores = run(&mut d, &noisy_level(500, 0.0, 10));
    assert_eq!(scores[0], 0.0);
    assert!(scores[1..].iter().all(|s| (0.5..=1.0).contains(s)));
    assert!(d.observe(START + 500 * FIVE_MINUTES, 100.0) > 0.999);
}

fn sample() -> impl Strategy<Value = (i64, f64)> {
    (
        prop_oneof![8 => 0i64..900, 1 => -900i64..0],
        prop_oneof![
            20 => -100.0f64..100.0,
            2 => -1e12f64..1e12,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::MAX),
            1 => Just(0.0),
        ],
    )
}

fn feed(method: &Method, samples: &[(i64, f64)]) -> Vec<f64> {
    let mut d = Detector::new(method);
    let mut at = START;
    samples
        .iter()
        .map(|(step, v)| {
            at += step;
            d.observe(at, *v)
        })
        .collect()
}

fn methods() -> Vec<Method> {
    vec![
        Method::Anomaly {
            sensitivity: DEFAULT_SENSITIVITY,
        },
        Method::Anomaly { sensitivity: 0.5 },
        Method::Threshold {
            above: Some(50.0),
            below: Some(-50.0),
            for_secs: 600,
        },
        Method::Zscore,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn scores_always_lie_within_zero_and_one(samples in prop::collection::vec(sample(), 0..700)) {
        for method in methods() {
            for s in feed(&method, &samples) {
                prop_assert!((0.0..=1.0).contains(&s), "{method:?} scored {s}");
            }
        }
    }

    #[test]
    fn appending_future_samples_never_changes_earlier_scores(
        samples in prop::collection::vec(sample(), 200..700),
        cut in 0.0f64..1.0,
    ) {
        let k = (samples.len() as f64 * cut) as usize;
        for method in methods() {
            let whole = feed(&method, &samples);
            let prefix = feed(&method, &samples[..k]);
            prop_assert_eq!(&whole[..k], &prefix[..]);
        }
    }
}
