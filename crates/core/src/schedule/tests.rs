//! The schedule's specification: DST hand-offs in real zones, restrictions
//! across midnight, overrides, and properties against brute force.

use super::*;
use crate::config::{Day, Layer, Restriction, Rotation};
use crate::duration::Duration;
use jiff::civil::{DateTime, Time, date, time};
use jiff::{SignedDuration, ToSpan};
use proptest::prelude::*;

fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

fn layer(id: &str, start: DateTime, rotation: Rotation, members: &[&str]) -> Layer {
    Layer {
        id: LayerId::parse(id).unwrap(),
        time_zone: None,
        start,
        rotation,
        members: members.iter().map(|m| uid(m)).collect(),
        restrictions: vec![],
    }
}

fn schedule(zone: &str, layers: Vec<Layer>, overrides: Vec<Override>) -> CompiledSchedule {
    let s = Schedule {
        id: ScheduleId::parse("s").unwrap(),
        name: None,
        time_zone: zone.into(),
        layers,
        overrides,
    };
    CompiledSchedule::compile(&s, &[]).unwrap()
}

fn at(zone: &str, dt: DateTime) -> Timestamp {
    dt.in_tz(zone).unwrap().timestamp()
}

fn users(v: &[OnCall]) -> Vec<String> {
    v.iter().map(|o| o.user.to_string()).collect()
}

const ZONES: [&str; 6] = [
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Australia/Sydney",
    "America/Santiago",
];

#[test]
fn weekly_hand_off_stays_at_nine_local_across_dst() {
    // Berlin springs forward on 2027-03-28: the shift spanning it is 7 days minus an hour.
    let s = schedule(
        "Europe/Berlin",
        vec![layer(
            "weekly",
            date(2027, 3, 22).at(9, 0, 0, 0),
            Rotation::Weekly,
            &["alice", "bob"],
        )],
        vec![],
    );
    let l = &s.layers()[0];
    let (k, start, end) = l
        .shift_at(at("Europe/Berlin", date(2027, 3, 28).at(12, 0, 0, 0)))
        .unwrap();
    assert_eq!(k, 0);
    assert_eq!(
        end.duration_since(start),
        SignedDuration::from_hours(7 * 24 - 1)
    );
    assert_eq!(end, at("Europe/Berlin", date(2027, 3, 29).at(9, 0, 0, 0)));
    assert_eq!(users(&s.on_call_at(end)), vec!["bob"]);
}

#[test]
fn daily_shift_spanning_fall_back_is_25_hours() {
    let s = schedule(
        "America/New_York",
        vec![layer(
            "d",
            date(2026, 10, 30).at(9, 0, 0, 0),
            Rotation::Daily,
            &["a"],
        )],
        vec![],
    );
    let (_, start, end) = s.layers()[0]
        .shift_at(at("America/New_York", date(2026, 11, 1).at(3, 0, 0, 0)))
        .unwrap();
    assert_eq!(end.duration_since(start), SignedDuration::from_hours(25));
}

#[test]
fn a_hand_off_in_a_spring_forward_gap_moves_forward_by_the_gap() {
    // New York skips 02:00–03:00 on 2027-03-14: a 02:30 hand-off happens at 03:30.
    let s = schedule(
        "America/New_York",
        vec![layer(
            "d",
            date(2027, 3, 10).at(2, 30, 0, 0),
            Rotation::Daily,
            &["a", "b"],
        )],
        vec![],
    );
    let l = &s.layers()[0];
    let start = l.shift_start(4);
    assert_eq!(
        start,
        at("America/New_York", date(2027, 3, 14).at(3, 30, 0, 0))
    );
    // And a fall-back fold takes the earlier instant.
    let s = schedule(
        "America/New_York",
        vec![layer(
            "d",
            date(2026, 10, 30).at(1, 30, 0, 0),
            Rotation::Daily,
            &["a"],
        )],
        vec![],
    );
    let fold = s.layers()[0].shift_start(2);
    assert_eq!(
        fold,
        "2026-11-01T05:30:00Z".parse::<Timestamp>().unwrap(),
        "01:30 EDT, the first of the two"
    );
}

#[test]
fn hourly_and_every_rotations_are_absolute_lengths() {
    let s = schedule(
        "Europe/Berlin",
        vec![layer(
            "h",
            date(2027, 3, 28).at(0, 0, 0, 0),
            Rotation::Every(Duration::from_secs(12 * 3600)),
            &["a", "b"],
        )],
        vec![],
    );
    let l = &s.layers()[0];
    assert_eq!(
        l.shift_start(1).duration_since(l.shift_start(0)),
        SignedDuration::from_hours(12)
    );
    assert_eq!(
        users(&s.on_call_at(l.shift_start(0) + SignedDuration::from_hours(12))),
        vec!["b"]
    );
}

#[test]
fn restrictions_crossing_midnight_let_lower_layers_show_through() {
    let mut night = layer(
        "night",
        date(2026, 11, 30).at(0, 0, 0, 0),
        Rotation::Weekly,
        &["owl"],
    );
    night.restrictions = vec![Restriction {
        days: vec![Day::Mon],
        from: time(22, 0, 0, 0),
        to: time(6, 0, 0, 0),
    }];
    let s = schedule(
        "Asia/Kolkata",
        vec![
            layer(
                "base",
                date(2026, 11, 30).at(0, 0, 0, 0),
                Rotation::Weekly,
                &["day"],
            ),
            night,
        ],
        vec![],
    );
    let t = |d: i8, h: i8| at("Asia/Kolkata", date(2026, 11, d).at(h, 0, 0, 0));
    assert_eq!(users(&s.on_call_at(t(30, 21))), vec!["day"]);
    assert_eq!(users(&s.on_call_at(t(30, 23))), vec!["owl"]);
    // The window started Monday; it runs into Tuesday morning.
    let tue = at("Asia/Kolkata", date(2026, 12, 1).at(5, 59, 0, 0));
    assert_eq!(users(&s.on_call_at(tue)), vec!["owl"]);
    assert_eq!(
        users(&s.on_call_at(tue + SignedDuration::from_mins(1))),
        vec!["day"]
    );
    let shifts = s.shifts(
        t(30, 0),
        at("Asia/Kolkata", date(2026, 12, 2).at(0, 0, 0, 0)),
    );
    let owl: Vec<_> = shifts.iter().filter(|s| s.user.as_str() == "owl").collect();
    assert_eq!(owl.len(), 1);
    assert_eq!(
        owl[0].end.duration_since(owl[0].start),
        SignedDuration::from_hours(8)
    );
}

#[test]
fn overrides_replace_everyone_or_one_user() {
    let base = layer(
        "w",
        date(2026, 11, 30).at(9, 0, 0, 0),
        Rotation::Weekly,
        &["alice", "bob"],
    );
    let mid = at("UTC", date(2026, 12, 2).at(12, 0, 0, 0));
    let window = |u: &str, r: Option<&str>| Override {
        user: uid(u),
        replaces: r.map(uid),
        from: mid - SignedDuration::from_hours(1),
        to: mid + SignedDuration::from_hours(1),
    };
    let s = schedule("UTC", vec![base.clone()], vec![window("frank", None)]);
    let oc = s.on_call_at(mid);
    assert_eq!(users(&oc), vec!["frank"]);
    assert_eq!(oc[0].source, Source::Override { replaces: None });
    let s = schedule(
        "UTC",
        vec![base.clone()],
        vec![window("grace", Some("bob"))],
    );
    assert_eq!(
        users(&s.on_call_at(mid)),
        vec!["alice"],
        "bob is not on call; the override does nothing"
    );
    let s = schedule("UTC", vec![base], vec![window("grace", Some("alice"))]);
    assert_eq!(users(&s.on_call_at(mid)), vec!["grace"]);
    assert_eq!(
        users(&s.on_call_at(mid + SignedDuration::from_hours(1))),
        vec!["alice"]
    );
}

#[test]
fn gaps_are_the_uncovered_stretches() {
    let mut l = layer(
        "biz",
        date(2026, 11, 30).at(0, 0, 0, 0),
        Rotation::Weekly,
        &["a"],
    );
    l.restrictions = vec![Restriction {
        days: vec![Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri],
        from: time(9, 0, 0, 0),
        to: time(17, 0, 0, 0),
    }];
    let s = schedule("Europe/Berlin", vec![l], vec![]);
    let from = at("Europe/Berlin", date(2026, 11, 30).at(0, 0, 0, 0));
    let to = at("Europe/Berlin", date(2026, 12, 7).at(0, 0, 0, 0));
    let gaps = s.gaps(from, to);
    assert_eq!(
        gaps.len(),
        6,
        "before Monday 09:00, four nights, and Friday 17:00 to the end"
    );
    assert_eq!(
        gaps[0].to,
        at("Europe/Berlin", date(2026, 11, 30).at(9, 0, 0, 0))
    );
    assert_eq!(
        gaps[5].from,
        at("Europe/Berlin", date(2026, 12, 4).at(17, 0, 0, 0))
    );
    assert!(
        s.on_call_at(from - SignedDuration::from_hours(1))
            .is_empty(),
        "nobody before the layer starts"
    );
}

// ---- properties ----

fn zone() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(ZONES.to_vec())
}

fn start() -> impl Strategy<Value = DateTime> {
    (
        0i64..900,
        0i8..24,
        prop_oneof![Just(0i8), Just(30i8), 0i8..60],
    )
        .prop_map(|(d, h, m)| {
            date(2026, 1, 1)
                .at(h, m, 0, 0)
                .checked_add(d.days())
                .unwrap()
        })
}

fn rotation() -> impl Strategy<Value = Rotation> {
    prop_oneof![
        Just(Rotation::Hourly),
        Just(Rotation::Daily),
        Just(Rotation::Weekly),
        (1u64..200).prop_map(|h| Rotation::Every(Duration::from_secs(h * 1800))),
    ]
}

fn restriction() -> impl Strategy<Value = Restriction> {
    (
        proptest::sample::subsequence(Day::ALL.to_vec(), 1..=7),
        0i8..24,
        0i8..24,
        prop_oneof![Just(0i8), Just(30i8)],
    )
        .prop_map(|(days, fh, th, m)| Restriction {
            days,
            from: time(fh, m, 0, 0),
            to: time(th, 0, 0, 0),
        })
}

fn arb_layer(i: usize) -> impl Strategy<Value = Layer> {
    (
        start(),
        rotation(),
        1usize..4,
        proptest::collection::vec(restriction(), 0..3),
        proptest::option::of(zone()),
    )
        .prop_map(move |(start, rotation, n, restrictions, zone)| Layer {
            id: LayerId::parse(&format!("l{i}")).unwrap(),
            time_zone: zone.map(String::from),
            start,
            rotation,
            members: (0..n).map(|m| uid(&format!("u{i}{m}"))).collect(),
            restrictions,
        })
}

fn base_instant() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn arb_override() -> impl Strategy<Value = Override> {
    (
        0i64..1000 * 24,
        1i64..72,
        0usize..3,
        proptest::option::of(0usize..3),
    )
        .prop_map(|(h, len, who, rep)| {
            let from = base_instant() + SignedDuration::from_hours(h);
            Override {
                user: uid(&format!("o{who}")),
                replaces: rep.map(|r| uid(&format!("u0{r}"))),
                from,
                to: from + SignedDuration::from_hours(len),
            }
        })
}

/// Brute force: for every layer, walk shifts from the first one and check each
/// restriction window day by day; no estimates, no sweep.
fn brute_force(s: &Schedule, t: Timestamp) -> Vec<OnCall> {
    let mut base = None;
    for l in s.layers.iter().rev() {
        let tz = TimeZone::get(l.time_zone.as_deref().unwrap_or(&s.time_zone)).unwrap();
        let compiled = CompiledLayer::new(l, tz.clone());
        let first = compiled.shift_start(0);
        if t < first {
            continue;
        }
        let mut k = 0i64;
        while compiled.shift_start(k + 1) <= t {
            k += 1;
        }
        let user = &l.members[(k as usize) % l.members.len()];
        let in_window = l.restrictions.is_empty()
            || (-2..=1).any(|offset: i64| {
                let d = tz.to_datetime(t).date().checked_add(offset.days()).unwrap();
                l.restrictions
                    .iter()
                    .filter(|r| r.days.contains(&Day::of(d.weekday())))
                    .any(|r| {
                        let s = layer::local_instant(&tz, d.to_datetime(r.from));
                        let end_day = if r.to <= r.from {
                            d.tomorrow().unwrap()
                        } else {
                            d
                        };
                        let e = layer::local_instant(&tz, end_day.to_datetime(r.to));
                        s <= t && t < e
                    })
            });
        if in_window {
            base = Some((user, &l.id));
            break;
        }
    }
    let active = s.overrides.iter().filter(|o| o.from <= t && t < o.to);
    combine(base, active)
}

fn sorted(mut v: Vec<OnCall>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .drain(..)
        .map(|o| (o.user.to_string(), o.source.to_string()))
        .collect();
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn shifts_within_a_layer_tile_time(z in zone(), l in arb_layer(0), from_h in 0i64..24 * 800, span_h in 1i64..24 * 60) {
        let mut l = l;
        l.restrictions.clear();
        let s = schedule(z, vec![l], vec![]);
        let layer = &s.layers()[0];
        let from = base_instant() + SignedDuration::from_hours(from_h);
        let to = from + SignedDuration::from_hours(span_h);
        let intervals = layer.intervals(from, to);
        let covered_from = from.max(layer.shift_start(0));
        if covered_from >= to {
            prop_assert!(intervals.is_empty());
        } else {
            prop_assert_eq!(intervals.first().unwrap().start, covered_from);
            prop_assert_eq!(intervals.last().unwrap().end, to);
            for pair in intervals.windows(2) {
                prop_assert_eq!(pair[0].end, pair[1].start, "gap or overlap between shifts");
            }
        }
    }

    #[test]
    fn the_final_schedule_equals_brute_force(
        z in zone(),
        layers in (arb_layer(0), arb_layer(1), arb_layer(2), 1usize..4),
        overrides in proptest::collection::vec(arb_override(), 0..6),
        probes in proptest::collection::vec(0i64..1000 * 24 * 60, 30),
    ) {
        let (a, b, c, n) = layers;
        let config = Schedule {
            id: ScheduleId::parse("s").unwrap(),
            name: None,
            time_zone: z.into(),
            layers: [a, b, c].into_iter().take(n).collect(),
            overrides,
        };
        let s = CompiledSchedule::compile(&config, &[]).unwrap();
        for minutes in &probes {
            let t = base_instant() + SignedDuration::from_mins(*minutes);
            prop_assert_eq!(sorted(s.on_call_at(t)), sorted(brute_force(&config, t)), "at {}", t);
        }
        // And the sweep agrees with the point query on every piece of a 10-day span.
        let from = base_instant() + SignedDuration::from_mins(probes[0]);
        let to = from + SignedDuration::from_hours(240);
        let shifts = s.shifts(from, to);
        for sh in &shifts {
            prop_assert!(sh.start < sh.end);
            for t in [sh.start, sh.end - SignedDuration::from_millis(1)] {
                let now: Vec<String> = users(&s.on_call_at(t));
                prop_assert!(now.contains(&sh.user.to_string()), "{} not on call at {} inside its shift", sh.user, t);
            }
        }
        for probe in &probes {
            let t = from + SignedDuration::from_secs(probe * 60 % (240 * 3600));
            let mut want = users(&s.on_call_at(t));
            want.sort();
            let mut got: Vec<String> = shifts.iter().filter(|sh| sh.start <= t && t < sh.end).map(|sh| sh.user.to_string()).collect();
            got.sort();
            prop_assert_eq!(got, want, "at {}", t);
        }
    }

    #[test]
    fn daily_and_weekly_hand_offs_fall_at_the_local_start_time(
        z in zone(),
        start in start(),
        weekly in any::<bool>(),
        k in 0i64..400,
    ) {
        let rotation = if weekly { Rotation::Weekly } else { Rotation::Daily };
        let s = schedule(z, vec![layer("l", start, rotation, &["a", "b"])], vec![]);
        let tz = TimeZone::get(z).unwrap();
        let handoff = s.layers()[0].shift_start(k);
        let days = if weekly { 7 * k } else { k };
        let wanted = start.checked_add(days.days()).unwrap();
        let local = tz.to_datetime(handoff);
        if tz.to_ambiguous_timestamp(wanted).is_ambiguous() {
            // In a gap: moved forward by the gap; in a fold: the earlier instant. Both are `compatible`.
            prop_assert_eq!(handoff, tz.to_ambiguous_timestamp(wanted).compatible().unwrap());
        } else {
            prop_assert_eq!(local, wanted);
        }
        let next = s.layers()[0].shift_start(k + 1);
        let hours = next.duration_since(handoff).as_secs_f64() / 3600.0;
        let nominal = if weekly { 168.0 } else { 24.0 };
        prop_assert!((hours - nominal).abs() <= 1.0, "shift of {} h", hours);
    }
}

#[test]
fn lord_howe_half_hour_dst_makes_a_23_and_a_half_hour_day() {
    let s = schedule(
        "Australia/Lord_Howe",
        vec![layer(
            "d",
            date(2026, 10, 1).at(9, 0, 0, 0),
            Rotation::Daily,
            &["a"],
        )],
        vec![],
    );
    let l = &s.layers()[0];
    let lengths: Vec<i64> = (0..40)
        .map(|k| {
            l.shift_start(k + 1)
                .duration_since(l.shift_start(k))
                .as_mins()
        })
        .collect();
    assert!(lengths.contains(&(23 * 60 + 30)), "{lengths:?}");
    for k in 0..40 {
        let local = TimeZone::get("Australia/Lord_Howe")
            .unwrap()
            .to_datetime(l.shift_start(k));
        assert_eq!(local.time(), Time::constant(9, 0, 0, 0));
    }
}
