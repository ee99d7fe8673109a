//! How fast a realistic schedule answers "who is on call": five layers of ten
//! across awkward zones (Lord Howe's half-hour DST included) and fifty overrides
//! over a year. Std only; run with `cargo bench -p escalator-core --bench oncall`.

use escalator_core::config::{Day, Layer, Override, Restriction, Rotation, Schedule};
use escalator_core::duration::Duration;
use escalator_core::ids::{LayerId, ScheduleId, UserId};
use escalator_core::schedule::CompiledSchedule;
use jiff::civil::{date, time};
use jiff::{SignedDuration, Timestamp};
use std::hint::black_box;
use std::time::Instant;

const YEAR: SignedDuration = SignedDuration::from_hours(365 * 24);
const QUERIES: usize = 100_000;
const QUERY_ROUNDS: usize = 5;
const SHIFT_RUNS: usize = 21;
const OVERRIDE_SEED: u64 = 0x5eed_1234_abcd_0001;
const QUERY_SEED: u64 = 0x0dd_ba11_cafe_f00d;

const TARGET_ON_CALL_AT_NS: f64 = 10_000.0;
const TARGET_SHIFTS_MS: f64 = 5.0;

/// A fixed xorshift so every run measures the same instants and overrides.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn user(i: usize) -> UserId {
    UserId::parse(&format!("user{i:02}")).expect("valid id")
}

fn layer(n: usize, zone: &str, rotation: Rotation, restrictions: Vec<Restriction>) -> Layer {
    Layer {
        id: LayerId::parse(&format!("layer{n}")).expect("valid id"),
        time_zone: Some(zone.to_owned()),
        start: date(2026, 12, 28).at(9, 0, 0, 0),
        rotation,
        members: (n * 10..n * 10 + 10).map(user).collect(),
        restrictions,
    }
}

/// `top` is the unrestricted layer that shows through: the weekly one hides the
/// others (few, long shifts), the hourly one makes the output large.
fn schedule(from: Timestamp, top: Rotation) -> Schedule {
    let mut rng = Rng(OVERRIDE_SEED);
    let weekdays = vec![Restriction {
        days: vec![Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri],
        from: time(9, 0, 0, 0),
        to: time(17, 0, 0, 0),
    }];
    // The restricted layer is last, so it is consulted first and often falls through.
    let mut layers = vec![
        layer(0, "Asia/Singapore", Rotation::Hourly, vec![]),
        layer(
            1,
            "Australia/Lord_Howe",
            Rotation::Every(Duration::from_secs(12 * 3600)),
            vec![],
        ),
        layer(2, "America/New_York", Rotation::Daily, vec![]),
        layer(3, "Europe/Berlin", Rotation::Weekly, vec![]),
        layer(4, "Europe/Berlin", Rotation::Daily, weekdays),
    ];
    let top_index = layers
        .iter()
        .position(|l| l.rotation == top && l.restrictions.is_empty());
    layers.swap(
        top_index.expect("an unrestricted layer with that rotation"),
        3,
    );
    let visible: Vec<UserId> = layers[3..].iter().flat_map(|l| l.members.clone()).collect();
    let overrides = (0..50)
        .map(|i| {
            let start = from + SignedDuration::from_secs(rng.below(YEAR.as_secs() as u64) as i64);
            let len = SignedDuration::from_mins(60 + rng.below(3 * 24 * 60) as i64);
            Override {
                user: user(50 + i),
                // Half stand in for one member of the two layers that show through,
                // so they take effect rather than match nobody.
                replaces: (i % 2 == 0)
                    .then(|| visible[rng.below(visible.len() as u64) as usize].clone()),
                from: start,
                to: start + len,
            }
        })
        .collect();
    Schedule {
        id: ScheduleId::parse("bench").expect("valid id"),
        name: None,
        time_zone: "UTC".to_owned(),
        layers,
        overrides,
    }
}

fn bench_on_call_at(s: &CompiledSchedule, from: Timestamp, rng: &mut Rng) -> f64 {
    let instants: Vec<Timestamp> = (0..QUERIES)
        .map(|_| from + SignedDuration::from_secs(rng.below(YEAR.as_secs() as u64) as i64))
        .collect();
    let run = || {
        let mut on_call = 0;
        for &t in &instants {
            on_call += black_box(s.on_call_at(black_box(t))).len();
        }
        on_call
    };
    black_box(run()); // warm-up: caches, zone tables, branch predictors
    let started = Instant::now();
    for _ in 0..QUERY_ROUNDS {
        black_box(run());
    }
    started.elapsed().as_nanos() as f64 / (QUERIES * QUERY_ROUNDS) as f64
}

fn bench_shifts(s: &CompiledSchedule, from: Timestamp) -> (f64, usize) {
    let to = from + YEAR;
    for _ in 0..3 {
        black_box(s.shifts(black_box(from), black_box(to)));
    }
    let mut times: Vec<f64> = (0..SHIFT_RUNS)
        .map(|_| {
            let started = Instant::now();
            black_box(s.shifts(black_box(from), black_box(to)));
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], s.shifts(from, to).len())
}

fn verdict(met: bool) -> &'static str {
    if met { "ok" } else { "MISSED" }
}

fn main() {
    let from: Timestamp = "2027-01-01T00:00:00Z".parse().expect("valid timestamp");
    for top in [Rotation::Weekly, Rotation::Hourly] {
        let config = schedule(from, top);
        let s = CompiledSchedule::compile(&config, &[]).expect("zones exist");
        println!("{top:?} layer under the restricted one:");

        let ns = bench_on_call_at(&s, from, &mut Rng(QUERY_SEED));
        println!(
            "  oncall_at: {ns:.0} ns/query (target < {TARGET_ON_CALL_AT_NS:.0} ns) {}  [{QUERIES} instants x {QUERY_ROUNDS} rounds]",
            verdict(ns < TARGET_ON_CALL_AT_NS)
        );

        let (ms, n) = bench_shifts(&s, from);
        println!(
            "  shifts over 1 year: {ms:.2} ms (target < {TARGET_SHIFTS_MS} ms) {}  [{n} shifts, median of {SHIFT_RUNS}]",
            verdict(ms < TARGET_SHIFTS_MS)
        );
    }
}
