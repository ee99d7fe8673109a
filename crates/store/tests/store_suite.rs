//! The store's contract, run against SQLite and PostgreSQL alike.

use escalator_core::audit;
use escalator_core::auth::{Principal, Role};
use escalator_core::comms::{IncidentRole, RoleRefused, Roles};
use escalator_core::config::{Config, Stakeholder, Target};
use escalator_core::details::StoredDetails;
use escalator_core::directory::Catalog;
use escalator_core::engine::{self, Input, NewIncident, Status};
use escalator_core::ids::{DedupKey, IncidentId, PolicyId, ServiceId, UserId};
use escalator_store::{Comms, IncidentFilter, Outcome, Store, testing};
use jiff::Timestamp;

#[macro_use]
mod common;
use common::*;

async fn saves_state_audit_timeline_and_outbox_together(store: Store) {
    let catalog = Catalog::new(config(), 1);
    let id = open(&store, &catalog, "disk", t0()).await;
    let row = store.incident(id).await.unwrap().unwrap();
    assert_eq!(row.incident.status, Status::Triggered);
    assert_eq!(row.incident.next_escalation_at, Some(t0() + secs(60)));
    assert_eq!(row.details["source"], "db-1");
    let notes = store.notifications(id).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (notes[0].user.as_str(), notes[0].status.as_str()),
        ("alice", "pending")
    );
    let timeline = store.timeline(id).await.unwrap();
    assert_eq!(timeline[0].kind, "triggered");
    assert!(
        timeline[0].message.contains("alice"),
        "{}",
        timeline[0].message
    );
    assert_eq!(verify_audit(&store).await, 1);
}

async fn an_uncommitted_transaction_leaves_nothing(store: Store) {
    let catalog = Catalog::new(config(), 1);
    let policy = catalog.policy(&PolicyId::parse("p").unwrap()).unwrap();
    let t = engine::open(
        NewIncident::new(
            ServiceId::parse("api").unwrap(),
            policy.id.clone(),
            DedupKey::parse("k").unwrap(),
            "x".into(),
            "test".into(),
            serde_json::json!({}),
        ),
        policy,
        &catalog,
        t0(),
    )
    .unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.save_transition(&t, None, &catalog, t0()).await.unwrap();
    // A statement sent, so the transaction has begun in the database.
    tx.claim_notifications(t0(), t0(), 10).await.unwrap();
    drop(tx);
    let page = store
        .incidents(&IncidentFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert_eq!(store.next_notification_due().await.unwrap(), None);
    assert_eq!(verify_audit(&store).await, 0);
    // The next write goes through, and the store still closes (the writer's
    // connection, kept between transactions, goes back to the pool).
    open(&store, &catalog, "k", t0()).await;
    assert_eq!(verify_audit(&store).await, 1);
    tokio::time::timeout(std::time::Duration::from_secs(10), store.close())
        .await
        .expect("the store closes");
}

async fn one_open_incident_per_dedup_key(store: Store) {
    let catalog = Catalog::new(config(), 1);
    let id = open(&store, &catalog, "k", t0()).await;
    let mut tx = store.begin().await.unwrap();
    let found = tx
        .find_open_incidents(&[(
            ServiceId::parse("api").unwrap(),
            DedupKey::parse("k").unwrap(),
        )])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].incident.id, id);
    drop(tx);
    // A second open incident with the same key is refused by the database itself.
    let mut tx = store.begin().await.unwrap();
    let policy = catalog.policy(&PolicyId::parse("p").unwrap()).unwrap();
    let t = engine::open(
        NewIncident::new(
            ServiceId::parse("api").unwrap(),
            policy.id.clone(),
            DedupKey::parse("k").unwrap(),
            "dup".into(),
            "t".into(),
            serde_json::json!({}),
        ),
        policy,
        &catalog,
        t0(),
    )
    .unwrap();
    let err = tx
        .save_transition(&t, None, &catalog, t0())
        .await
        .unwrap_err();
    assert!(err.is_unique_violation(), "{err}");
    drop(tx);
    // After resolve, the same key opens a new incident.
    let mut tx = store.begin().await.unwrap();
    let row = tx.incident_for_update(id).await.unwrap().unwrap();
    let t = engine::step(
        &row.incident,
        Input::Resolve { actor: "t".into() },
        policy,
        &catalog,
        t0(),
    )
    .unwrap();
    tx.save_transition(&t, None, &catalog, t0()).await.unwrap();
    tx.commit().await.unwrap();
    let second = open(&store, &catalog, "k", t0() + secs(1)).await;
    assert_ne!(second, id);
}

async fn due_escalations_come_oldest_first_and_only_when_due(store: Store) {
    let catalog = Catalog::new(config(), 1);
    let a = open(&store, &catalog, "a", t0() + secs(10)).await;
    let b = open(&store, &catalog, "b", t0()).await;
    assert_eq!(
        store.next_escalation_due().await.unwrap(),
        Some(t0() + secs(60))
    );
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.due_escalations(t0() + secs(59), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due: Vec<IncidentId> = tx
        .due_escalations(t0() + secs(100), 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.incident.id)
        .collect();
    assert_eq!(due, vec![b, a]);
}

async fn a_held_back_page_waits_without_spending_an_attempt(store: Store) {
    let catalog = Catalog::new(config(), 1);
    open(&store, &catalog, "k", t0()).await;
    let now = t0() + secs(1);
    let mut tx = store.begin().await.unwrap();
    let claimed = tx
        .claim_notifications(now, now + secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed[0].attempts, 1);
    tx.settle_notification(
        &claimed[0],
        &Outcome::Deferred {
            reason: "one sms per 1m".into(),
            at: now + secs(30),
        },
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.next_notification_due().await.unwrap(),
        Some(now + secs(30))
    );
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.claim_notifications(now + secs(29), now + secs(90), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = tx
        .claim_notifications(now + secs(30), now + secs(90), 10)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(again[0].attempts, 1, "waiting its turn was not an attempt");
    assert_eq!(
        again[0].first_tried_at, claimed[0].first_tried_at,
        "its retry schedule still starts at the first claim"
    );
    assert_eq!(claimed[0].first_tried_at, now);
    assert_eq!(
        store.notification_counts().await.unwrap(),
        [("sending".to_owned(), 1)].into_iter().collect()
    );
}

async fn claimed_notifications_are_leased_then_settled(store: Store) {
    let catalog = Catalog::new(config(), 1);
    let id = open(&store, &catalog, "k", t0()).await;
    let now = t0() + secs(1);
    let mut tx = store.begin().await.unwrap();
    let claimed = tx
        .claim_notifications(now, now + secs(60), 10)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 1);
    assert_eq!(claimed[0].address, "http://127.0.0.1:9/alice");
    // Leased: nobody else gets it until the lease runs out.
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.claim_notifications(now + secs(30), now + secs(90), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = tx
        .claim_notifications(now + secs(61), now + secs(120), 10)
        .await
        .unwrap();
    assert_eq!(
        again.len(),
        1,
        "an expired lease means the sender died: send again"
    );
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].idempotency_key, claimed[0].idempotency_key);
    tx.settle_notification(
        &again[0],
        &Outcome::Retry {
            error: "HTTP 503".into(),
            at: now + secs(70),
        },
        now + secs(61),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.next_notification_due().await.unwrap(),
        Some(now + secs(70))
    );
    let mut tx = store.begin().await.unwrap();
    let third = tx
        .claim_notifications(now + secs(70), now + secs(130), 10)
        .await
        .unwrap();
    tx.settle_notification(
        &third[0],
        &Outcome::Sent {
            detail: "HTTP 200".into(),
        },
        now + secs(71),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let notes = store.notifications(id).await.unwrap();
    assert_eq!((notes[0].status.as_str(), notes[0].attempts), ("sent", 3));
    let kinds: Vec<String> = store
        .timeline(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec!["triggered", "notification_retry", "notification_sent"]
    );
    assert_eq!(store.next_notification_due().await.unwrap(), None);
}

async fn acknowledge_cancels_only_pending_notifications(store: Store) {
    let catalog = Catalog::new(config(), 1);
    let id = open(&store, &catalog, "k", t0()).await;
    acknowledge(&store, &catalog, id).await;
    let notes = store.notifications(id).await.unwrap();
    assert_eq!(notes[0].status, "cancelled");
    assert_eq!(store.next_escalation_due().await.unwrap(), None);
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.claim_notifications(t0() + secs(999), t0() + secs(1060), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn concurrent_claims_never_take_the_same_notification(store: Store) {
    let catalog = Catalog::new(config(), 1);
    for i in 0..40 {
        open(&store, &catalog, &format!("k{i}"), t0()).await;
    }
    let now = t0() + secs(1);
    let claim = |store: Store| async move {
        let mut got = Vec::new();
        loop {
            let mut tx = store.begin().await.unwrap();
            let batch = tx
                .claim_notifications(now, now + secs(60), 3)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            if batch.is_empty() {
                return got;
            }
            got.extend(batch.into_iter().map(|i| i.id));
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(claim(store.clone())),
        tokio::spawn(claim(store.clone()))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut all: Vec<i64> = a.iter().chain(b.iter()).copied().collect();
    all.sort();
    all.dedup();
    assert_eq!(
        all.len(),
        a.len() + b.len(),
        "a notification was claimed twice"
    );
    assert_eq!(all.len(), 40);
}

async fn applying_the_same_configuration_twice_changes_nothing(store: Store) {
    let c = config();
    let first = store.apply_config(&c, "test", t0()).await.unwrap();
    assert_eq!((first.revision, first.changed), (1, true));
    let again = store.apply_config(&c, "test", t0()).await.unwrap();
    assert_eq!((again.revision, again.changed), (1, false));
    let mut changed = c.clone();
    changed.escalation_policies[0].repeat = 2;
    let second = store.apply_config(&changed, "test", t0()).await.unwrap();
    assert_eq!((second.revision, second.changed), (2, true));
    let (rev, stored) = store.current_config().await.unwrap().unwrap();
    assert_eq!((rev, stored), (2, changed));
    assert_eq!(store.config_revision().await.unwrap(), 2);
    assert_eq!(store.catalog_versions().await.unwrap().0, 2);
    let entries = store.audit_entries(0, 10).await.unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.action == "config_applied")
            .count(),
        2
    );
}

async fn tokens_are_found_by_hash_only(store: Store) {
    store
        .create_token("ops-bot", Role::Responder, None, "abc123", "test", t0())
        .await
        .unwrap();
    let t = store.token_by_hash("abc123").await.unwrap().unwrap();
    assert_eq!((t.name.as_str(), t.role), ("ops-bot", Role::Responder));
    assert!(store.token_by_hash("nope").await.unwrap().is_none());
}

async fn audit_tampering_is_detected(store: Store) {
    let catalog = Catalog::new(config(), 1);
    for i in 0..3 {
        open(&store, &catalog, &format!("k{i}"), t0()).await;
    }
    assert_eq!(verify_audit(&store).await, 3);
    store
        .execute_unchecked("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
        .await
        .unwrap();
    let entries = store.audit_entries(0, 100).await.unwrap();
    assert_eq!(
        audit::verify(&entries),
        Err(audit::ChainBreak::Altered { seq: 2 })
    );
}

async fn incidents_page_newest_first_with_filters(store: Store) {
    let catalog = Catalog::new(config(), 1);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(open(&store, &catalog, &format!("k{i}"), t0()).await);
    }
    let first = store
        .incidents(&IncidentFilter {
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    let got: Vec<IncidentId> = first.items.iter().map(|r| r.incident.id).collect();
    assert_eq!(got, vec![ids[4], ids[3]]);
    let second = store
        .incidents(&IncidentFilter {
            limit: 2,
            before_id: first.next_cursor,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        second
            .items
            .iter()
            .map(|r| r.incident.id)
            .collect::<Vec<_>>(),
        vec![ids[2], ids[1]]
    );
    let resolved = store
        .incidents(&IncidentFilter {
            limit: 10,
            statuses: vec![Status::Resolved],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(resolved.items.is_empty());
    let other = store
        .incidents(&IncidentFilter {
            limit: 10,
            service: Some(ServiceId::parse("other").unwrap()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(other.items.is_empty());
}

async fn migrations_run_once(store: Store) {
    // Opening again re-runs nothing and keeps the data.
    let catalog = Catalog::new(config(), 1);
    open(&store, &catalog, "k", t0()).await;
    assert_eq!(
        store.setting_or_init("x", || "first".into()).await.unwrap(),
        "first"
    );
    assert_eq!(
        store
            .setting_or_init("x", || "second".into())
            .await
            .unwrap(),
        "first"
    );
}

async fn alert_groups_find_their_incident_and_count_firing_alerts(store: Store) {
    let catalog = Catalog::new(config(), 1);
    let policy = catalog.policy(&PolicyId::parse("p").unwrap()).unwrap();
    let service = ServiceId::parse("api").unwrap();
    let mut new = NewIncident::new(
        service.clone(),
        policy.id.clone(),
        DedupKey::parse("disk-a").unwrap(),
        "disk full".into(),
        "test".into(),
        serde_json::json!({}),
    );
    new.group_key = Some(r#"["DiskFull","eu1"]"#.into());
    let t = engine::open(new, policy, &catalog, t0()).unwrap();
    let (a, b) = (
        DedupKey::parse("disk-a").unwrap(),
        DedupKey::parse("disk-b").unwrap(),
    );
    let mut tx = store.begin().await.unwrap();
    let id = tx.save_transition(&t, None, &catalog, t0()).await.unwrap();
    tx.alert_firing(id, &service, &a, t0()).await.unwrap();
    tx.alert_firing(id, &service, &b, t0() + secs(1))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let group = r#"["DiskFull","eu1"]"#;
    let found = tx.find_open_group(&service, group, t0()).await.unwrap();
    assert_eq!(found.map(|r| r.incident.id), Some(id));
    assert!(
        tx.find_open_group(&service, group, t0() + secs(1))
            .await
            .unwrap()
            .is_none(),
        "opened before the window"
    );
    assert!(
        tx.find_open_group(&service, "[\"other\"]", t0())
            .await
            .unwrap()
            .is_none()
    );
    let by_alert = tx
        .find_open_by_alert(&[(service.clone(), b.clone())])
        .await
        .unwrap();
    assert_eq!(by_alert.len(), 1);
    assert_eq!((&by_alert[0].0, by_alert[0].1.incident.id), (&b, id));
    assert_eq!(by_alert[0].1.incident.group_key.as_deref(), Some(group));
    assert_eq!(tx.alert_resolved(id, &a, t0() + secs(2)).await.unwrap(), 1);
    // Resolving twice counts once.
    assert_eq!(tx.alert_resolved(id, &a, t0() + secs(3)).await.unwrap(), 1);
    assert!(
        tx.find_open_by_alert(&[(service.clone(), a.clone())])
            .await
            .unwrap()
            .is_empty(),
        "a resolved alert lands nowhere"
    );
    // Firing again counts again.
    tx.alert_firing(id, &service, &a, t0() + secs(4))
        .await
        .unwrap();
    assert_eq!(tx.alert_resolved(id, &b, t0() + secs(5)).await.unwrap(), 1);
    assert_eq!(tx.alert_resolved(id, &a, t0() + secs(6)).await.unwrap(), 0);
    tx.commit().await.unwrap();
}

/// `config()` with bob kept informed (never paged) at level 1.
fn config_with_stakeholder() -> Config {
    let mut c = config();
    c.escalation_policies[0].levels[0].stakeholders = vec![Stakeholder {
        target: Target::user(UserId::parse("bob").unwrap()),
        template: "executive".into(),
    }];
    c
}

async fn stakeholder_messages_survive_an_acknowledgement_and_carry_their_template(store: Store) {
    let catalog = Catalog::new(config_with_stakeholder(), 1);
    let id = open(&store, &catalog, "k", t0()).await;
    let notes = store.notifications(id).await.unwrap();
    let who: Vec<(&str, Option<&str>)> = notes
        .iter()
        .map(|n| (n.user.as_str(), n.audience.as_deref()))
        .collect();
    assert_eq!(who, vec![("alice", None), ("bob", Some("executive"))]);
    acknowledge(&store, &catalog, id).await;
    let status: Vec<String> = store
        .notifications(id)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.status)
        .collect();
    assert_eq!(status, ["cancelled", "pending"], "the page only");
    let mut tx = store.begin().await.unwrap();
    let claimed = tx
        .claim_notifications(t0() + secs(1), t0() + secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let m = &claimed[0];
    assert_eq!(m.user, "bob");
    assert_eq!(m.audience.as_deref(), Some("executive"));
    assert_eq!(m.occasion.as_deref(), Some("level_reached"));
    assert_eq!(m.message, None);
    tx.settle_notification(
        m,
        &Outcome::Sent {
            detail: "HTTP 200".into(),
        },
        t0() + secs(1),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let timeline = store.timeline(id).await.unwrap();
    assert!(
        timeline[0].message.contains("informing bob"),
        "{}",
        timeline[0].message
    );
    let informed = timeline
        .iter()
        .find(|e| e.kind == "stakeholder_informed")
        .unwrap();
    assert!(informed.message.contains("bob"), "{}", informed.message);
}

/// A token with `role`, acting for `user` when given.
fn principal(role: Role, user: Option<&str>) -> Principal {
    Principal {
        role,
        user: user.map(|u| UserId::parse(u).unwrap()),
    }
}

async fn roles_and_status_updates_are_kept_per_incident(store: Store) {
    let catalog = Catalog::new(config(), 1);
    let ops = principal(Role::Manager, None);
    let id = open(&store, &catalog, "k", t0()).await;
    assert_eq!(store.comms(id).await.unwrap(), Comms::default());
    let roles = Roles {
        commander: Some("alice".into()),
        comms_lead: Some("bob".into()),
        scribe: None,
    };
    let set = [
        (IncidentRole::Commander, Some("alice".to_owned())),
        (IncidentRole::CommsLead, Some("bob".to_owned())),
    ];
    let after = store
        .set_roles(id, &set, &ops, "token:ops", t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, roles);
    let mut tx = store.begin().await.unwrap();
    tx.save_status_update(
        id,
        "Rolled back",
        "alice",
        Some(t0() + secs(1800)),
        t0() + secs(5),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let comms = store.comms(id).await.unwrap();
    assert_eq!(comms.roles, roles, "an update keeps the roles");
    assert_eq!(comms.last_update.as_deref(), Some("Rolled back"));
    assert_eq!(comms.last_update_by.as_deref(), Some("alice"));
    assert_eq!(comms.last_update_at, Some(t0() + secs(5)));
    assert_eq!(comms.next_update_at, Some(t0() + secs(1800)));
    // Changing one role keeps the update.
    let later = Roles {
        scribe: Some("bob".into()),
        ..roles.clone()
    };
    let scribe = [(IncidentRole::Scribe, Some("bob".to_owned()))];
    let after = store
        .set_roles(id, &scribe, &ops, "token:ops", t0() + secs(9))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, later, "the other roles are kept");
    // Setting what is already set records nothing.
    store
        .set_roles(id, &scribe, &ops, "token:ops", t0() + secs(10))
        .await
        .unwrap()
        .unwrap();
    let comms = store.comms(id).await.unwrap();
    assert_eq!(
        (comms.roles, comms.last_update.as_deref()),
        (later, Some("Rolled back"))
    );
    let timeline = store.timeline(id).await.unwrap();
    let changes: Vec<&str> = timeline
        .iter()
        .filter(|e| e.kind == "roles_changed")
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(
        changes,
        [
            "Roles set by token:ops: commander alice, comms_lead bob",
            "Roles set by token:ops: commander alice, comms_lead bob, scribe bob"
        ]
    );
    // On the audit chain too, which still verifies.
    let entries = store.audit_entries(0, 100).await.unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.action == "roles_changed")
            .count(),
        2
    );
    assert_eq!(verify_audit(&store).await, 3);

    // Two first changes at once, to different roles, both hold.
    let other = open(&store, &catalog, "k2", t0()).await;
    let commander = [(IncidentRole::Commander, Some("alice".to_owned()))];
    let scribe = [(IncidentRole::Scribe, Some("bob".to_owned()))];
    let alice = principal(Role::Responder, Some("alice"));
    let (a, b) = tokio::join!(
        store.set_roles(other, &commander, &alice, "user:alice (slack)", t0()),
        store.set_roles(other, &scribe, &ops, "token:ops", t0()),
    );
    a.unwrap().unwrap();
    b.unwrap().unwrap();
    let roles = store.comms(other).await.unwrap().roles;
    assert_eq!(
        (
            roles.holder(IncidentRole::Commander),
            roles.holder(IncidentRole::Scribe)
        ),
        (Some("alice"), Some("bob"))
    );
}

async fn a_held_role_is_judged_on_its_holder_under_the_lock(store: Store) {
    let catalog = Catalog::new(config(), 1);
    let id = open(&store, &catalog, "k", t0()).await;
    let (alice, bob) = (
        principal(Role::Responder, Some("alice")),
        principal(Role::Responder, Some("bob")),
    );
    // Both take the free command at once: one gets it, the other is refused
    // rather than silently replacing the first.
    let take = |who: &str| [(IncidentRole::Commander, Some(who.to_owned()))];
    let (alice_takes, bob_takes) = (take("alice"), take("bob"));
    let (a, b) = tokio::join!(
        store.set_roles(id, &alice_takes, &alice, "user:alice (slack)", t0()),
        store.set_roles(id, &bob_takes, &bob, "token:bob", t0()),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.is_ok() != b.is_ok(), "exactly one: {a:?} {b:?}");
    let holder = store.comms(id).await.unwrap().roles.commander.unwrap();
    let refused = if a.is_ok() { b } else { a };
    assert!(
        matches!(&refused, Err(RoleRefused::Held { role: "commander", holder: h, .. }) if *h == holder),
        "{refused:?}"
    );
    // A refusal records nothing.
    let changes = store
        .timeline(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "roles_changed")
        .count();
    assert_eq!(changes, 1);
}

async fn a_token_may_act_for_a_user(store: Store) {
    store
        .create_token(
            "alice-laptop",
            Role::Responder,
            Some("alice"),
            "h1",
            "test",
            t0(),
        )
        .await
        .unwrap();
    let t = store.token_by_hash("h1").await.unwrap().unwrap();
    assert_eq!(t.user.as_deref(), Some("alice"));
}

async fn details_kept_once_are_shown_on_the_timeline_and_covered_by_the_audit_chain(store: Store) {
    let catalog = Catalog::new(config(), 1);
    let policy = catalog.policy(&PolicyId::parse("p").unwrap()).unwrap();
    let details =
        StoredDetails::new(&serde_json::json!({"source": "db-1", "custom_details": {"note": "n"}}));
    let t = engine::open(
        NewIncident::new(
            ServiceId::parse("api").unwrap(),
            policy.id.clone(),
            DedupKey::parse("once").unwrap(),
            "disk full".into(),
            "test".into(),
            details.reference(),
        ),
        policy,
        &catalog,
        t0(),
    )
    .unwrap();
    let mut tx = store.begin().await.unwrap();
    let id = tx
        .save_transition(&t, Some(&details), &catalog, t0())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let timeline = store.timeline(id).await.unwrap();
    assert_eq!(timeline[0].detail["custom_details"]["note"], "n");
    assert_eq!(timeline[0].detail["paged"][0]["user"], "alice");
    let entries = store.audit_entries(0, 10).await.unwrap();
    assert!(
        !entries[0].detail.contains("custom_details"),
        "no copy on the chain"
    );
    let texts = store.details_texts(&[id.0]).await.unwrap();
    assert_eq!(
        entries[0].check_details(texts.get(&id.0).map(String::as_str)),
        Ok(())
    );

    store
        .execute_unchecked("UPDATE incidents SET details = REPLACE(details, 'db-1', 'db-2')")
        .await
        .unwrap();
    let texts = store.details_texts(&[id.0]).await.unwrap();
    assert_eq!(
        entries[0].check_details(texts.get(&id.0).map(String::as_str)),
        Err(audit::ChainBreak::DetailsAltered {
            seq: entries[0].seq,
            incident: id.0
        })
    );
}

suite!(
    saves_state_audit_timeline_and_outbox_together,
    an_uncommitted_transaction_leaves_nothing,
    one_open_incident_per_dedup_key,
    due_escalations_come_oldest_first_and_only_when_due,
    claimed_notifications_are_leased_then_settled,
    a_held_back_page_waits_without_spending_an_attempt,
    acknowledge_cancels_only_pending_notifications,
    concurrent_claims_never_take_the_same_notification,
    applying_the_same_configuration_twice_changes_nothing,
    tokens_are_found_by_hash_only,
    audit_tampering_is_detected,
    incidents_page_newest_first_with_filters,
    migrations_run_once,
    alert_groups_find_their_incident_and_count_firing_alerts,
    stakeholder_messages_survive_an_acknowledgement_and_carry_their_template,
    roles_and_status_updates_are_kept_per_incident,
    a_held_role_is_judged_on_its_holder_under_the_lock,
    a_token_may_act_for_a_user,
    details_kept_once_are_shown_on_the_timeline_and_covered_by_the_audit_chain,
);

#[tokio::test]
async fn reopening_a_sqlite_file_keeps_its_data() {
    let url = testing::sqlite_url();
    let store = Store::open(&url).await.unwrap();
    store.apply_config(&config(), "t", t0()).await.unwrap();
    store.close().await;
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.config_revision().await.unwrap(), 1);
}

/// Two nodes on one database (two `Store`s): one SMS or call per number per
/// interval between them, not one each.
async fn nodes_share_the_turns_of_a_phone_number(url: &str) {
    let a = Store::open(url).await.unwrap();
    let b = Store::open(url).await.unwrap();
    let minute = secs(60);
    let n = "+4915112345678";
    assert_eq!(
        a.take_phone_turn("sms", n, t0(), minute).await.unwrap(),
        None
    );
    assert_eq!(
        b.take_phone_turn("sms", n, t0() + secs(30), minute)
            .await
            .unwrap(),
        Some(t0() + secs(60)),
        "the other node waits for the number's next turn"
    );
    // Another number, or a call to the same number, has its own turn.
    let other = b.take_phone_turn("sms", "+4915112345679", t0() + secs(30), minute);
    assert_eq!(other.await.unwrap(), None);
    let call = b.take_phone_turn("voice", n, t0() + secs(30), minute);
    assert_eq!(call.await.unwrap(), None);
    assert_eq!(
        b.take_phone_turn("sms", n, t0() + secs(60), minute)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        a.take_phone_turn("sms", n, t0() + secs(61), minute)
            .await
            .unwrap(),
        Some(t0() + secs(120))
    );
    // Asked at the same moment by both, the turn goes to one.
    let (x, y) = tokio::join!(
        a.take_phone_turn("sms", "+15005550006", t0(), minute),
        b.take_phone_turn("sms", "+15005550006", t0(), minute),
    );
    let winners = [x.unwrap(), y.unwrap()];
    assert_eq!(
        winners.iter().filter(|w| w.is_none()).count(),
        1,
        "{winners:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_the_turns_of_a_phone_number_on_sqlite() {
    nodes_share_the_turns_of_a_phone_number(&testing::sqlite_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_the_turns_of_a_phone_number_on_postgres() {
    nodes_share_the_turns_of_a_phone_number(&testing::postgres_url().await).await;
}

mod extras {
    use super::*;
    use escalator_core::config::Override;
    use escalator_core::ids::ScheduleId;

    async fn overrides_and_availability_are_kept_and_versioned(store: Store) {
        let sid = ScheduleId::parse("primary").unwrap();
        let v0 = store.extras_version().await.unwrap();
        let o = Override {
            user: UserId::parse("bob").unwrap(),
            replaces: Some(UserId::parse("alice").unwrap()),
            from: t0(),
            to: t0() + secs(3600),
        };
        let id = store.add_override(&sid, &o, "test", t0()).await.unwrap();
        assert!(store.extras_version().await.unwrap() > v0);
        assert_eq!(
            store.catalog_versions().await.unwrap(),
            (0, store.extras_version().await.unwrap())
        );
        let stored = store.overrides(&sid).await.unwrap();
        assert_eq!((stored.len(), stored[0].id, &stored[0].window), (1, id, &o));
        let extras = store.extras(t0()).await.unwrap();
        assert_eq!(extras.overrides, vec![(sid.clone(), o.clone())]);
        // Past overrides are not loaded into catalogs.
        assert!(
            store
                .extras(t0() + secs(7200))
                .await
                .unwrap()
                .overrides
                .is_empty()
        );
        let (alice, bob) = (UserId::parse("alice").unwrap(), o.user.clone());
        assert!(
            !store
                .remove_override(&sid, id + 100, &bob, "test", t0())
                .await
                .unwrap()
        );
        assert!(
            !store
                .remove_override(&sid, id, &alice, "test", t0())
                .await
                .unwrap(),
            "only the override of the user it was judged for"
        );
        assert!(
            store
                .remove_override(&sid, id, &bob, "test", t0())
                .await
                .unwrap()
        );
        assert!(store.overrides(&sid).await.unwrap().is_empty());

        store
            .set_availability(&alice, true, None, Some("holiday"), "test", t0())
            .await
            .unwrap();
        let away = store.extras(t0()).await.unwrap().away;
        assert_eq!(away.len(), 1);
        assert_eq!(away[0].0, alice);
        assert_eq!(away[0].1.to, Timestamp::MAX, "until further notice");
        store
            .set_availability(&alice, false, None, None, "test", t0())
            .await
            .unwrap();
        assert!(store.extras(t0()).await.unwrap().away.is_empty());
        let actions: Vec<String> = store
            .audit_entries(0, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions,
            vec![
                "override_added",
                "override_removed",
                "availability_set",
                "availability_set"
            ]
        );
        assert_eq!(super::verify_audit(&store).await, 4);
    }

    async fn a_handoff_notice_is_claimed_once(store: Store) {
        let (sid, user) = (
            ScheduleId::parse("primary").unwrap(),
            UserId::parse("alice").unwrap(),
        );
        assert!(
            store
                .claim_handoff_notice(&sid, &user, t0(), t0())
                .await
                .unwrap()
        );
        assert!(
            !store
                .claim_handoff_notice(&sid, &user, t0(), t0() + secs(5))
                .await
                .unwrap(),
            "a second node or a restart"
        );
        assert!(
            store
                .claim_handoff_notice(&sid, &user, t0() + secs(86_400), t0())
                .await
                .unwrap(),
            "the next shift"
        );
    }

    async fn calendar_feeds_rotate_and_revoke(store: Store) {
        let alice = UserId::parse("alice").unwrap();
        store
            .set_calendar_feed(&alice, "h1", "test", t0())
            .await
            .unwrap();
        assert_eq!(
            store.calendar_feed_user("h1").await.unwrap(),
            Some(alice.clone())
        );
        store
            .set_calendar_feed(&alice, "h2", "test", t0())
            .await
            .unwrap();
        assert_eq!(
            store.calendar_feed_user("h1").await.unwrap(),
            None,
            "a new secret revokes the old one"
        );
        assert!(
            store
                .revoke_calendar_feed(&alice, "test", t0())
                .await
                .unwrap()
        );
        assert_eq!(store.calendar_feed_user("h2").await.unwrap(), None);
        assert!(
            !store
                .revoke_calendar_feed(&alice, "test", t0())
                .await
                .unwrap()
        );
    }

    mod sqlite {
        #[tokio::test]
        async fn overrides_and_availability_are_kept_and_versioned() {
            let store = super::Store::open(&escalator_store::testing::sqlite_url())
                .await
                .unwrap();
            super::overrides_and_availability_are_kept_and_versioned(store).await;
        }
        #[tokio::test]
        async fn a_handoff_notice_is_claimed_once() {
            let store = super::Store::open(&escalator_store::testing::sqlite_url())
                .await
                .unwrap();
            super::a_handoff_notice_is_claimed_once(store).await;
        }
        #[tokio::test]
        async fn calendar_feeds_rotate_and_revoke() {
            let store = super::Store::open(&escalator_store::testing::sqlite_url())
                .await
                .unwrap();
            super::calendar_feeds_rotate_and_revoke(store).await;
        }
    }

    mod postgres {
        #[tokio::test]
        async fn overrides_and_availability_are_kept_and_versioned() {
            let store = super::Store::open(&escalator_store::testing::postgres_url().await)
                .await
                .unwrap();
            super::overrides_and_availability_are_kept_and_versioned(store).await;
        }
        #[tokio::test]
        async fn a_handoff_notice_is_claimed_once() {
            let store = super::Store::open(&escalator_store::testing::postgres_url().await)
                .await
                .unwrap();
            super::a_handoff_notice_is_claimed_once(store).await;
        }
        #[tokio::test]
        async fn calendar_feeds_rotate_and_revoke() {
            let store = super::Store::open(&escalator_store::testing::postgres_url().await)
                .await
                .unwrap();
            super::calendar_feeds_rotate_and_revoke(store).await;
        }
    }
}

/// After a checkpoint SQLite truncates its WAL to this size, so one large
/// transaction does not leave a file of its size behind for good.
#[tokio::test]
async fn sqlite_keeps_its_wal_under_64_mb() {
    let store = Store::open(&testing::sqlite_url()).await.unwrap();
    let limit = store
        .int_unchecked("PRAGMA journal_size_limit")
        .await
        .unwrap();
    assert_eq!(limit, 64 * 1024 * 1024);
}
