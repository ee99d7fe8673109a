//! How long a realistic rule set takes per event: 100 rules in the shapes of
//! the issue's examples (exceptions, thresholds with `||`, `??` over business
//! impact, `in` lists, suppression), differing in their constants, over a
//! varied set of events, some of which lack the fields rules read. Std only;
//! run with `cargo bench -p escalator-core --bench rules`.

use escalator_core::rules::{CompiledRules, RuleSpec, compile};
use jiff::Timestamp;
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::Instant;

const RULES: usize = 100;
const EVENTS: usize = 64;
const ROUNDS: usize = 200;
const RUNS: usize = 7;
const SEED: u64 = 0x5eed_0123_4567_89ab;
const TARGET_US: f64 = 50.0;

/// A fixed xorshift so every run measures the same events.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn rule(i: usize) -> RuleSpec {
    let n = i as f64;
    let (exception, when, then) = match i % 5 {
        0 => (
            i.is_multiple_of(10),
            format!(r#"event.custom_details.category == "category-{i}""#),
            json!({"priority": "P1", "start_level": 3, "notify": [{"team": format!("team-{i}")}]}),
        ),
        1 => (
            i % 10 == 1,
            format!(
                r#"service.data_classification in ["pii", "regulated"] && event.severity == "critical" && service.tier <= {}"#,
                1 + i % 3
            ),
            json!({"notify": [{"team": "compliance"}]}),
        ),
        2 => (
            false,
            format!(
                "event.custom_details.downtime_minutes >= {} || event.custom_details.affected_users > {} || event.custom_details.failure_rate > {}",
                5 + i,
                100 * i,
                0.01 + n / 1000.0
            ),
            json!({"priority": "P2", "start_level": 2}),
        ),
        3 => (
            false,
            format!(
                "service.revenue_per_hour * (event.custom_details.degraded_fraction ?? 0.0) > {}",
                1000 * i
            ),
            json!({"priority": "P3"}),
        ),
        _ => (
            false,
            format!(
                r#"event.severity == "info" && event.labels["env"] != "prod-{i}" && event.source.startsWith("host")"#
            ),
            json!({"suppress": true}),
        ),
    };
    serde_json::from_value(json!({
        "id": format!("rule-{i}"),
        "exception": exception,
        "when": when,
        "then": then,
    }))
    .expect("valid rule")
}

fn event(rng: &mut Rng) -> Value {
    let severity = ["critical", "error", "warning", "info"][rng.below(4) as usize];
    let mut details = serde_json::Map::new();
    if rng.below(3) == 0 {
        details.insert(
            "category".into(),
            json!(format!("category-{}", 5 * rng.below(30))),
        );
    }
    if rng.below(2) == 0 {
        details.insert("downtime_minutes".into(), json!(rng.below(120)));
    }
    if rng.below(2) == 0 {
        details.insert("affected_users".into(), json!(rng.below(20_000)));
    }
    if rng.below(2) == 0 {
        details.insert("failure_rate".into(), json!(rng.below(100) as f64 / 1000.0));
    }
    if rng.below(2) == 0 {
        details.insert(
            "degraded_fraction".into(),
            json!(rng.below(100) as f64 / 100.0),
        );
    }
    details.insert("region".into(), json!("eu-west-1"));
    details.insert("runbook".into(), json!("https://runbooks.example.com/db"));
    json!({
        "summary": "Disk almost full on db1",
        "source": format!("host-{}.example.com", rng.below(50)),
        "severity": severity,
        "component": "postgres",
        "group": "storage",
        "class": "disk",
        "dedup_key": format!("disk-{}", rng.below(1000)),
        "timestamp": "2027-01-01T00:00:00Z",
        "labels": {"env": "prod", "team": "payments", "cluster": "c1"},
        "custom_details": details,
    })
}

fn service(rng: &mut Rng) -> Value {
    let classification = ["none", "internal", "pii", "regulated"][rng.below(4) as usize];
    json!({
        "id": "payments-api",
        "name": "Payments API",
        "tier": 1 + rng.below(3),
        "data_classification": classification,
        "customer_segment": "enterprise",
        "revenue_per_hour": 1000 * rng.below(200),
    })
}

/// Median µs per event over `RUNS` runs of `ROUNDS` passes over the events.
fn bench(rules: &CompiledRules, events: &[(Value, Value)], now: Timestamp) -> (f64, usize) {
    let mut matched = 0;
    let mut runs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..ROUNDS {
                for (event, service) in events {
                    let decision = rules.evaluate(black_box(event), black_box(service), now);
                    matched += decision.matched.len();
                    black_box(decision);
                }
            }
            start.elapsed().as_secs_f64() * 1e6 / (ROUNDS * events.len()) as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    (runs[RUNS / 2], matched / (RUNS * ROUNDS))
}

fn main() {
    let specs: Vec<RuleSpec> = (0..RULES).map(rule).collect();
    let start = Instant::now();
    let rules = compile(&specs).expect("the benchmark's rules compile");
    let compile_ms = start.elapsed().as_secs_f64() * 1e3;

    let mut rng = Rng(SEED);
    let events: Vec<(Value, Value)> = (0..EVENTS)
        .map(|_| (event(&mut rng), service(&mut rng)))
        .collect();
    let now: Timestamp = "2027-01-01T00:00:05Z".parse().expect("valid timestamp");
    let errors: usize = events
        .iter()
        .map(|(e, s)| rules.evaluate(e, s, now).errors.len())
        .sum();
    assert_eq!(errors, 0, "the benchmark's rules never fail");

    let (us, matched) = bench(&rules, &events, now);
    let verdict = if us < TARGET_US { "ok" } else { "OVER TARGET" };
    println!("rules: {us:.1} µs per event ({RULES} rules; target < {TARGET_US:.0} µs) {verdict}");
    println!(
        "  [{EVENTS} events x {ROUNDS} rounds, median of {RUNS}; {matched} rule matches per pass; compiling all {RULES} rules took {compile_ms:.1} ms]"
    );

    // where the time goes: the per-event fixed cost, then each shape of rule
    let (fixed, _) = bench(&CompiledRules::default(), &events, now);
    println!("  per event without rules (context, decision): {fixed:.2} µs");
    for (shape, name) in SHAPES.iter().enumerate() {
        let specs: Vec<RuleSpec> = (0..RULES).filter(|i| i % 5 == shape).map(rule).collect();
        let some = compile(&specs).expect("the benchmark's rules compile");
        let (us, _) = bench(&some, &events, now);
        let ns = (us - fixed) * 1e3 / specs.len() as f64;
        println!("  per {name} rule: {ns:.0} ns");
    }
}

/// The shapes of [`rule`], by `i % 5`.
const SHAPES: [&str; 5] = [
    "exception (==)",
    "exception (in, &&)",
    "threshold (3 x ||)",
    "business impact (??)",
    "suppress (==, [], startsWith)",
];
