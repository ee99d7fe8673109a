//! What the store's test files share: a small configuration, incidents
//! opened and acknowledged through the engine, and the macro that runs a
//! test on SQLite and on PostgreSQL.
#![allow(dead_code, unused_macros)]

use escalator_core::audit;
use escalator_core::config::{
    Config, ContactKind, ContactMethod, EscalationPolicy, Level, Service, Target, User,
};
use escalator_core::details::StoredDetails;
use escalator_core::directory::Catalog;
use escalator_core::duration::Duration;
use escalator_core::engine::{self, Input, NewIncident};
use escalator_core::ids::{
    ContactMethodId, DedupKey, IncidentId, PolicyId, RoutingKey, ServiceId, UserId,
};
use escalator_store::Store;
use jiff::{SignedDuration, Timestamp};

pub fn config() -> Config {
    let user = |id: &str| User {
        id: UserId::parse(id).unwrap(),
        name: None,
        time_zone: None,
        contact_methods: vec![ContactMethod {
            id: ContactMethodId::parse("hook").unwrap(),
            kind: ContactKind::Webhook {
                url: format!("http://127.0.0.1:9/{id}"),
            },
        }],
        notification_rules: vec![],
        skills: vec![],
        languages: vec![],
        region: None,
        away: vec![],
        handoff_notice: false,
    };
    Config {
        channels: Default::default(),
        users: vec![user("alice"), user("bob")],
        teams: vec![],
        schedules: vec![],
        rules: vec![],
        detectors: vec![],
        templates: vec![],
        announcements: vec![],
        retention: Default::default(),
        escalation_policies: vec![EscalationPolicy {
            id: PolicyId::parse("p").unwrap(),
            name: None,
            repeat: 0,
            levels: vec![
                Level {
                    targets: vec![Target::user(UserId::parse("alice").unwrap())],
                    backup: vec![],
                    stakeholders: vec![],
                    escalate_after: Duration::from_secs(60),
                },
                Level {
                    targets: vec![Target::user(UserId::parse("bob").unwrap())],
                    backup: vec![],
                    stakeholders: vec![],
                    escalate_after: Duration::from_secs(60),
                },
            ],
        }],
        services: vec![Service {
            id: ServiceId::parse("api").unwrap(),
            name: None,
            escalation_policy: PolicyId::parse("p").unwrap(),
            tier: None,
            data_classification: None,
            customer_segment: None,
            revenue_per_hour: None,
            grouping: None,
            integrations: vec![escalator_core::config::Integration {
                kind: escalator_core::config::IntegrationKind::EventsV2,
                key: RoutingKey::parse("0123456789abcdef0123456789abcdef").unwrap(),
                mapping: None,
            }],
        }],
    }
}

pub fn t0() -> Timestamp {
    "2026-11-29T03:00:00Z".parse().unwrap()
}

pub fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

/// Opens an incident through the engine and commits it.
pub async fn open(store: &Store, catalog: &Catalog, key: &str, now: Timestamp) -> IncidentId {
    let policy = catalog.policy(&PolicyId::parse("p").unwrap()).unwrap();
    // As the server keeps them: once on the incident, by hash on the chain.
    let details = StoredDetails::new(&serde_json::json!({"source": "db-1"}));
    let t = engine::open(
        NewIncident::new(
            ServiceId::parse("api").unwrap(),
            policy.id.clone(),
            DedupKey::parse(key).unwrap(),
            format!("incident {key}"),
            "test".into(),
            details.reference(),
        ),
        policy,
        catalog,
        now,
    )
    .unwrap();
    let mut tx = store.begin().await.unwrap();
    let id = tx
        .save_transition(&t, Some(&details), catalog, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

/// alice acknowledges incident `id` at t0, saved as the runner saves it.
pub async fn acknowledge(store: &Store, catalog: &Catalog, id: IncidentId) {
    let policy = catalog.policy(&PolicyId::parse("p").unwrap()).unwrap();
    let mut tx = store.begin().await.unwrap();
    let row = tx.incident_for_update(id).await.unwrap().unwrap();
    let t = engine::step(
        &row.incident,
        Input::Acknowledge {
            actor: "user:alice".into(),
        },
        policy,
        catalog,
        t0(),
    )
    .unwrap();
    tx.save_transition(&t, None, catalog, t0()).await.unwrap();
    tx.commit().await.unwrap();
}

pub async fn verify_audit(store: &Store) -> u64 {
    let entries = store.audit_entries(0, 100_000).await.unwrap();
    audit::verify(&entries).unwrap()
}

/// `actor` resolves incident `id` at `now`, saved as the runner saves it.
pub async fn resolve(store: &Store, catalog: &Catalog, id: IncidentId, now: Timestamp) {
    let policy = catalog.policy(&PolicyId::parse("p").unwrap()).unwrap();
    let mut tx = store.begin().await.unwrap();
    let row = tx.incident_for_update(id).await.unwrap().unwrap();
    let input = Input::Resolve {
        actor: "user:alice".into(),
    };
    let t = engine::step(&row.incident, input, policy, catalog, now).unwrap();
    tx.save_transition(&t, None, catalog, now).await.unwrap();
    tx.commit().await.unwrap();
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let url = escalator_store::testing::sqlite_url();
                    super::$name(super::Store::open(&url).await.unwrap()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let url = escalator_store::testing::postgres_url().await;
                    super::$name(super::Store::open(&url).await.unwrap()).await;
                }
            )*
        }
    };
}
