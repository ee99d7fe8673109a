//! The engine's specification: examples first, then properties over random
//! policies and random sequences of inputs.

use super::*;
use crate::config::{
    Config, ContactKind, ContactMethod, Level, NotificationRule, Target, Team, User,
};
use crate::directory::Catalog;
use crate::duration::Duration;
use crate::ids::{ContactMethodId, DedupKey, PolicyId, ServiceId, TeamId, UserId};
use proptest::prelude::*;
use std::collections::HashSet;

fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

fn user(id: &str, rules: &[(&str, u64)]) -> User {
    let methods: Vec<&str> = rules
        .iter()
        .map(|(m, _)| *m)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    User {
        id: uid(id),
        name: None,
        time_zone: None,
        contact_methods: methods
            .iter()
            .map(|m| ContactMethod {
                id: ContactMethodId::parse(m).unwrap(),
                kind: ContactKind::Webhook {
                    url: format!("http://127.0.0.1:9/{id}/{m}"),
                },
            })
            .collect(),
        notification_rules: rules
            .iter()
            .map(|(m, after)| NotificationRule {
                contact_method: ContactMethodId::parse(m).unwrap(),
                after: Duration::from_secs(*after),
                urgency: None,
            })
            .collect(),
        skills: vec![],
        languages: vec![],
        region: None,
        away: vec![],
        handoff_notice: false,
    }
}

fn policy(levels: Vec<(Vec<Target>, u64)>, repeat: u32) -> EscalationPolicy {
    EscalationPolicy {
        id: PolicyId::parse("p").unwrap(),
        name: None,
        repeat,
        levels: levels
            .into_iter()
            .map(|(targets, secs)| Level {
                targets,
                backup: vec![],
                stakeholders: vec![],
                escalate_after: Duration::from_secs(secs),
            })
            .collect(),
    }
}

fn catalog(users: Vec<User>, teams: Vec<Team>) -> Catalog {
    Catalog::new(
        Config {
            users,
            teams,
            ..Config::default()
        },
        1,
    )
}

fn t0() -> Timestamp {
    "2026-11-29T03:00:00Z".parse().unwrap()
}

fn secs(n: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_secs(n)
}

fn new_incident() -> NewIncident {
    NewIncident::new(
        ServiceId::parse("api").unwrap(),
        PolicyId::parse("p").unwrap(),
        DedupKey::parse("k").unwrap(),
        "disk full".into(),
        "events_v2:api".into(),
        serde_json::json!({}),
    )
}

fn notified(effects: &[Effect]) -> Vec<(String, u32, u32, Timestamp)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Notify(n) => Some((n.user.to_string(), n.level, n.round, n.due_at)),
            _ => None,
        })
        .collect()
}

fn two_levels() -> (EscalationPolicy, Catalog) {
    let p = policy(
        vec![
            (vec![Target::user(uid("alice"))], 900),
            (
                vec![
                    Target::user(uid("bob")),
                    Target::team(TeamId::parse("sre").unwrap()),
                ],
                900,
            ),
        ],
        0,
    );
    let c = catalog(
        vec![
            user("alice", &[("hook", 0), ("late", 300)]),
            user("bob", &[("hook", 0)]),
            user("carol", &[("hook", 0)]),
        ],
        vec![Team {
            id: TeamId::parse("sre").unwrap(),
            name: None,
            members: vec![uid("bob"), uid("carol")],
        }],
    );
    (p, c)
}

#[test]
fn a_trigger_opens_at_level_one_and_pages_per_notification_rules() {
    let (p, c) = two_levels();
    let t = open(new_incident(), &p, &c, t0()).unwrap();
    assert_eq!(t.incident.status, Status::Triggered);
    assert_eq!((t.incident.level, t.incident.round), (1, 1));
    assert_eq!(t.incident.next_escalation_at, Some(t0() + secs(900)));
    assert_eq!(
        notified(&t.effects),
        vec![
            ("alice".into(), 1, 1, t0()),
            ("alice".into(), 1, 1, t0() + secs(300))
        ]
    );
    assert!(matches!(&t.effects[0], Effect::Record(r) if r.action == Action::Triggered));
}

#[test]
fn a_low_urgency_incident_skips_the_rules_kept_for_high_urgency() {
    let (p, c) = two_levels();
    let mut alice = c.user(&uid("alice")).unwrap().clone();
    // alice's second rule (the 300 s one) is for high urgency only.
    alice.notification_rules[1].urgency = Some(crate::config::Urgency::High);
    let c = catalog(vec![alice], vec![]);
    let mut low = new_incident();
    low.priority = Some(crate::rules::Priority::P4);
    let t = open(low, &p, &c, t0()).unwrap();
    assert_eq!(notified(&t.effects), vec![("alice".into(), 1, 1, t0())]);
    let mut high = new_incident();
    high.priority = Some(crate::rules::Priority::P2);
    let t = open(high, &p, &c, t0()).unwrap();
    assert_eq!(notified(&t.effects).len(), 2, "P2 is high urgency");
    let t = open(new_incident(), &p, &c, t0()).unwrap();
    assert_eq!(notified(&t.effects).len(), 2, "no priority is high urgency");
}

#[test]
fn escalates_to_level_two_after_timeout_and_pages_each_user_once() {
    let (p, c) = two_levels();
    let opened = open(new_incident(), &p, &c, t0()).unwrap().incident;
    let early = step(&opened, Input::Timer, &p, &c, t0() + secs(899)).unwrap();
    assert!(early.is_noop());
    // Dispatched late; the level still starts at its due time.
    let t = step(&opened, Input::Timer, &p, &c, t0() + secs(903)).unwrap();
    assert_eq!(t.incident.level, 2);
    assert_eq!(t.incident.level_started_at, t0() + secs(900));
    assert_eq!(t.incident.next_escalation_at, None, "last level, no repeat");
    // bob appears directly and through the team: paged once.
    assert_eq!(
        notified(&t.effects),
        vec![
            ("bob".into(), 2, 1, t0() + secs(900)),
            ("carol".into(), 2, 1, t0() + secs(900))
        ]
    );
    assert!(t.effects.contains(&Effect::CancelPending));
}

#[test]
fn repeat_goes_round_again_then_stays_at_the_last_level() {
    let (mut p, c) = two_levels();
    p.repeat = 1;
    let mut inc = open(new_incident(), &p, &c, t0()).unwrap().incident;
    let mut seen = vec![(inc.level, inc.round)];
    for _ in 0..5 {
        let Some(due) = inc.next_escalation_at else {
            break;
        };
        inc = step(&inc, Input::Timer, &p, &c, due).unwrap().incident;
        seen.push((inc.level, inc.round));
    }
    assert_eq!(seen, vec![(1, 1), (2, 1), (1, 2), (2, 2)]);
    assert_eq!(inc.next_escalation_at, None);
}

#[test]
fn acknowledge_stops_escalation_and_cancels_pending() {
    let (p, c) = two_levels();
    let inc = open(new_incident(), &p, &c, t0()).unwrap().incident;
    let t = step(
        &inc,
        Input::Acknowledge {
            actor: "user:alice".into(),
        },
        &p,
        &c,
        t0() + secs(60),
    )
    .unwrap();
    assert_eq!(t.incident.status, Status::Acknowledged);
    assert_eq!(t.incident.next_escalation_at, None);
    assert!(t.effects.contains(&Effect::CancelPending));
    assert!(
        step(&t.incident, Input::Timer, &p, &c, t0() + secs(2000))
            .unwrap()
            .is_noop()
    );
    // Acknowledging twice changes nothing and records nothing.
    assert!(
        step(
            &t.incident,
            Input::Acknowledge {
                actor: "user:bob".into()
            },
            &p,
            &c,
            t0()
        )
        .unwrap()
        .is_noop()
    );
}

#[test]
fn a_repeated_trigger_adds_an_alert_and_pages_nobody() {
    let (p, c) = two_levels();
    let inc = open(new_incident(), &p, &c, t0()).unwrap().incident;
    let t = step(
        &inc,
        Input::Alert {
            actor: "events_v2:api".into(),
            dedup_key: None,
        },
        &p,
        &c,
        t0() + secs(5),
    )
    .unwrap();
    assert_eq!(t.incident.alert_count, 2);
    assert!(notified(&t.effects).is_empty());
    assert_eq!(t.incident.next_escalation_at, inc.next_escalation_at);
}

#[test]
fn resolve_ends_the_incident_and_refuses_further_input() {
    let (p, c) = two_levels();
    let inc = open(new_incident(), &p, &c, t0()).unwrap().incident;
    let t = step(
        &inc,
        Input::Resolve {
            actor: "user:alice".into(),
        },
        &p,
        &c,
        t0() + secs(5),
    )
    .unwrap();
    assert_eq!(t.incident.status, Status::Resolved);
    for input in [
        Input::Alert {
            actor: "x".into(),
            dedup_key: None,
        },
        Input::Acknowledge { actor: "x".into() },
        Input::Resolve { actor: "x".into() },
    ] {
        assert_eq!(
            step(&t.incident, input, &p, &c, t0()),
            Err(EngineError::Resolved)
        );
    }
}

#[test]
fn skipping_levels_needs_the_manager_role_and_a_reason() {
    let p = policy(
        (0..4)
            .map(|_| (vec![Target::user(uid("alice"))], 60))
            .collect(),
        0,
    );
    let c = catalog(vec![user("alice", &[("hook", 0)])], vec![]);
    let inc = open(new_incident(), &p, &c, t0()).unwrap().incident;
    let esc = |to: Option<u32>, reason: Option<&str>, may_skip: bool| {
        step(
            &inc,
            Input::Escalate {
                actor: "token:x".into(),
                to_level: to,
                reason: reason.map(String::from),
                may_skip,
            },
            &p,
            &c,
            t0(),
        )
    };
    assert_eq!(
        esc(Some(3), Some("db down"), false),
        Err(EngineError::SkipForbidden {
            requested: 3,
            current: 1
        })
    );
    assert_eq!(
        esc(Some(3), Some("  "), true),
        Err(EngineError::ReasonRequired)
    );
    assert_eq!(
        esc(Some(9), Some("x"), true),
        Err(EngineError::NoSuchLevel {
            requested: 9,
            levels: 4
        })
    );
    assert_eq!(
        esc(Some(1), None, true),
        Err(EngineError::NotAbove {
            requested: 1,
            current: 1
        })
    );
    let t = esc(Some(3), Some("db down"), true).unwrap();
    assert_eq!(t.incident.level, 3);
    let Effect::Record(r) = &t.effects[0] else {
        panic!("first effect is the record")
    };
    assert_eq!(r.reason.as_deref(), Some("db down"));
    assert_eq!(r.detail["skipped_levels"], 1);
    // One level up needs no reason.
    assert_eq!(esc(None, None, false).unwrap().incident.level, 2);
}

#[test]
fn a_level_nobody_can_answer_is_skipped_at_once() {
    let p = policy(
        vec![
            (vec![Target::team(TeamId::parse("ghosts").unwrap())], 600),
            (vec![Target::user(uid("alice"))], 600),
        ],
        0,
    );
    let c = catalog(vec![user("alice", &[("hook", 0)])], vec![]);
    let t = open(new_incident(), &p, &c, t0()).unwrap();
    assert_eq!(t.incident.next_escalation_at, Some(t0()));
    assert!(
        t.effects
            .iter()
            .any(|e| matches!(e, Effect::Record(r) if r.action == Action::LevelSkipped))
    );
    let t = step(&t.incident, Input::Timer, &p, &c, t0()).unwrap();
    assert_eq!(notified(&t.effects), vec![("alice".into(), 2, 1, t0())]);
}

// ---- properties ----

#[derive(Clone, Debug)]
enum Op {
    Wait(i64),
    Timer,
    Alert,
    Ack,
    Resolve,
    Escalate {
        to: Option<u32>,
        manager: bool,
        reason: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1i64..4000).prop_map(Op::Wait),
        4 => Just(Op::Timer),
        1 => Just(Op::Alert),
        1 => Just(Op::Ack),
        1 => Just(Op::Resolve),
        1 => (proptest::option::of(0u32..6), any::<bool>(), any::<bool>())
            .prop_map(|(to, manager, reason)| Op::Escalate { to, manager, reason }),
    ]
}

/// A random policy over users u0..u3 (each with one or two rules) and a team of two.
fn scenario() -> impl Strategy<Value = (EscalationPolicy, u32)> {
    let target = prop_oneof![
        (0usize..4).prop_map(|i| Target::user(uid(&format!("u{i}")))),
        Just(Target::team(TeamId::parse("t").unwrap())),
    ];
    let level = (proptest::collection::vec(target, 1..3), 1u64..7200);
    (proptest::collection::vec(level, 1..5), 0u32..3)
        .prop_map(|(levels, repeat)| (policy(levels, repeat), repeat))
}

fn prop_catalog() -> Catalog {
    catalog(
        vec![
            user("u0", &[("a", 0)]),
            user("u1", &[("a", 0), ("b", 120)]),
            user("u2", &[("a", 30)]),
            user("u3", &[("a", 0), ("a", 600)]),
        ],
        vec![Team {
            id: TeamId::parse("t").unwrap(),
            name: None,
            members: vec![uid("u1"), uid("u2")],
        }],
    )
}

fn legal(from: Status, to: Status, action: Action) -> bool {
    use Status::*;
    match (from, to) {
        (Triggered, Acknowledged) => action == Action::Acknowledged,
        (Triggered | Acknowledged, Resolved) => action == Action::Resolved,
        (Acknowledged, Triggered) => action == Action::Escalated,
        (Triggered, Triggered) => matches!(
            action,
            Action::Escalated | Action::AlertAdded | Action::LevelSkipped | Action::Exhausted
        ),
        (Acknowledged, Acknowledged) => action == Action::AlertAdded,
        _ => false,
    }
}

fn informed(effects: &[Effect]) -> Vec<(String, String, u32, Occasion)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Inform(m) => Some((
                m.user.to_string(),
                m.contact_method.to_string(),
                m.level,
                m.occasion,
            )),
            _ => None,
        })
        .collect()
}

/// `two_levels` with dave (two contact methods) kept informed at level 2.
fn with_stakeholder() -> (EscalationPolicy, Catalog) {
    let (mut p, c) = two_levels();
    p.levels[1].stakeholders = vec![crate::config::Stakeholder {
        target: Target::user(uid("dave")),
        template: "executive".into(),
    }];
    let mut users = c.config().users.clone();
    users.push(user("dave", &[("mail", 0), ("chat", 3600)]));
    (p, catalog(users, c.config().teams.clone()))
}

#[test]
fn stakeholders_are_informed_on_every_method_when_their_level_is_reached_not_before() {
    let (p, c) = with_stakeholder();
    let opened = open(new_incident(), &p, &c, t0()).unwrap();
    assert!(informed(&opened.effects).is_empty(), "not at level 1");
    let t = step(&opened.incident, Input::Timer, &p, &c, t0() + secs(900)).unwrap();
    let mut got = informed(&t.effects);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("dave".into(), "chat".into(), 2, Occasion::LevelReached),
            ("dave".into(), "mail".into(), 2, Occasion::LevelReached),
        ]
    );
    // Rules do not apply: both at once, and dave is not paged.
    assert!(t.effects.iter().all(|e| match e {
        Effect::Inform(m) => m.due_at == t0() + secs(900),
        Effect::Notify(n) => n.user.as_str() != "dave",
        _ => true,
    }));
    let Effect::Record(r) = &t.effects[0] else {
        panic!("record first")
    };
    assert_eq!(r.detail["informed"][0]["user"], "dave");
}

#[test]
fn stakeholders_of_reached_levels_are_informed_on_resolve_but_not_on_acknowledge() {
    let (p, c) = with_stakeholder();
    let opened = open(new_incident(), &p, &c, t0()).unwrap().incident;
    let at_two = step(&opened, Input::Timer, &p, &c, t0() + secs(900))
        .unwrap()
        .incident;
    let ack = step(
        &at_two,
        Input::Acknowledge { actor: "a".into() },
        &p,
        &c,
        t0() + secs(901),
    )
    .unwrap();
    assert!(informed(&ack.effects).is_empty());
    let resolved = step(
        &ack.incident,
        Input::Resolve { actor: "a".into() },
        &p,
        &c,
        t0() + secs(902),
    )
    .unwrap();
    assert_eq!(informed(&resolved.effects).len(), 2);
    assert!(
        informed(&resolved.effects)
            .iter()
            .all(|m| m.3 == Occasion::Resolved)
    );
    // Resolving at level 1 tells nobody: dave's level was never reached.
    let early = step(&opened, Input::Resolve { actor: "a".into() }, &p, &c, t0()).unwrap();
    assert!(informed(&early.effects).is_empty());
}

#[test]
fn a_status_update_reaches_the_stakeholders_of_every_level_reached() {
    let (p, c) = with_stakeholder();
    let opened = open(new_incident(), &p, &c, t0()).unwrap().incident;
    let update = |at: Timestamp| Input::Update {
        actor: "alice".into(),
        message: "Rolled back; watching.".into(),
        next_update_at: Some(at + secs(1800)),
    };
    let at_one = step(&opened, update(t0()), &p, &c, t0()).unwrap();
    assert!(informed(&at_one.effects).is_empty(), "level 2 not reached");
    let at_two = step(&opened, Input::Timer, &p, &c, t0() + secs(900))
        .unwrap()
        .incident;
    let t = step(&at_two, update(t0() + secs(950)), &p, &c, t0() + secs(950)).unwrap();
    let messages: Vec<&Message> = t
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Inform(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(messages.len(), 2);
    assert!(messages.iter().all(|m| m.occasion == Occasion::Update
        && m.update.as_deref() == Some("Rolled back; watching.")
        && m.template == "executive"));
    assert!(matches!(&t.effects[0], Effect::Record(r) if r.action == Action::StatusUpdate));
    // Two updates are two messages: their idempotency keys differ.
    let again = step(&at_two, update(t0() + secs(960)), &p, &c, t0() + secs(960)).unwrap();
    let key = |e: &Effect| match e {
        Effect::Inform(m) => Some(m.idempotency_key(IncidentId(7))),
        _ => None,
    };
    assert_ne!(
        t.effects.iter().find_map(key),
        again.effects.iter().find_map(key)
    );
}

#[test]
fn announcements_inform_their_recipients_when_the_incident_opens() {
    let (p, c) = with_stakeholder();
    let mut new = new_incident();
    new.announce = vec![crate::config::Stakeholder {
        target: Target::user(uid("dave")),
        template: "executive".into(),
    }];
    let t = open(new, &p, &c, t0()).unwrap();
    let mut got = informed(&t.effects);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("dave".into(), "chat".into(), 1, Occasion::Announcement),
            ("dave".into(), "mail".into(), 1, Occasion::Announcement),
        ]
    );
    let Effect::Record(r) = &t.effects[0] else {
        panic!("record first")
    };
    assert_eq!(r.detail["announced"][0]["user"], "dave");
    assert!(
        notified(&t.effects).iter().all(|n| n.0 != "dave"),
        "not paged"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn never_notifies_twice_for_the_same_level_and_round_and_only_moves_legally(
        (p, _) in scenario(),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let c = prop_catalog();
        let mut now = t0();
        let first = open(new_incident(), &p, &c, now).unwrap();
        let mut inc = first.incident;
        let mut effects = first.effects;
        let mut keys = HashSet::new();
        let mut positions = vec![(inc.round, inc.level)];
        let check = |effects: &[Effect], keys: &mut HashSet<String>| -> Result<(), TestCaseError> {
            for e in effects {
                match e {
                    Effect::Notify(n) => {
                        prop_assert!(keys.insert(n.idempotency_key(IncidentId(1))), "notified twice: {:?}", n);
                    }
                    Effect::Record(r) => {
                        if let Some(from) = r.from {
                            prop_assert!(legal(from.status, r.to.status, r.action), "illegal {:?} -> {:?} by {:?}", from, r.to, r.action);
                        }
                    }
                    Effect::CancelPending => {}
                    Effect::Inform(m) => {
                        prop_assert!(keys.insert(m.idempotency_key(IncidentId(1))), "informed twice: {:?}", m);
                    }
                }
            }
            Ok(())
        };
        check(&effects, &mut keys)?;
        for op in ops {
            let input = match op {
                Op::Wait(s) => { now += secs(s); continue; }
                Op::Timer => Input::Timer,
                Op::Alert => Input::Alert {
                    actor: "e".into(),
                    dedup_key: None,
                },
                Op::Ack => Input::Acknowledge { actor: "a".into() },
                Op::Resolve => Input::Resolve { actor: "a".into() },
                Op::Escalate { to, manager, reason } => Input::Escalate {
                    actor: "m".into(), to_level: to, reason: reason.then(|| "why".into()), may_skip: manager,
                },
            };
            if let Ok(t) = step(&inc, input, &p, &c, now) {
                effects = t.effects;
                check(&effects, &mut keys)?;
                if (t.incident.round, t.incident.level) != (inc.round, inc.level) {
                    // Positions only ever move forward, so (level, round) is never paged twice.
                    prop_assert!((t.incident.round, t.incident.level) > (inc.round, inc.level));
                    positions.push((t.incident.round, t.incident.level));
                }
                inc = t.incident;
            }
            prop_assert!(inc.level >= 1 && inc.level <= p.level_count());
            prop_assert!(inc.round >= 1 && inc.round <= p.repeat + 1);
        }
    }

    #[test]
    fn escalation_times_are_trigger_time_plus_the_timeouts_passed(
        (p, repeat) in scenario(),
        lateness in proptest::collection::vec(0i64..5000, 20),
    ) {
        // Every user resolves, so no level is skipped: the timeouts alone set the times.
        let c = prop_catalog();
        let mut inc = open(new_incident(), &p, &c, t0()).unwrap().incident;
        let mut expected = t0();
        let mut escalations = 0;
        let mut late = lateness.into_iter().cycle();
        while let Some(due) = inc.next_escalation_at {
            expected += p.level(inc.level).unwrap().escalate_after.to_span();
            prop_assert_eq!(due, expected);
            // However late the runner dispatches, the schedule does not drift.
            let t = step(&inc, Input::Timer, &p, &c, due + secs(late.next().unwrap())).unwrap();
            inc = t.incident;
            prop_assert_eq!(inc.level_started_at, expected);
            escalations += 1;
        }
        prop_assert_eq!(escalations, p.level_count() * (repeat + 1) - 1);
        prop_assert_eq!((inc.level, inc.round), (p.level_count(), repeat + 1));
    }
}
