use super::*;
use escalator_core::config;
use escalator_core::directory::Catalog;
use std::sync::RwLock;

const CONFIG: &str = r#"
users:
  - id: alice
    contact_methods: [{id: hook, type: webhook, url: "http://127.0.0.1:9/alice"}]
escalation_policies:
  - id: p
    levels: [{targets: [{user: alice}], escalate_after: 1h}]
services:
  - id: api
    escalation_policy: p
    integrations: [{type: events_v2, key: "0123456789abcdef0123456789abcdef"}]
"#;

async fn runner() -> (Store, RunnerHandle) {
    runner_with(CONFIG).await
}

async fn runner_with(yaml: &str) -> (Store, RunnerHandle) {
    let store = Store::open(&escalator_store::testing::sqlite_url())
        .await
        .unwrap();
    let config = config::load(yaml).unwrap();
    store
        .apply_config(&config, "test", Timestamp::now())
        .await
        .unwrap();
    let catalog: SharedCatalog = Arc::new(RwLock::new(Arc::new(Catalog::new(config, 1))));
    let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
    let r = Runner::new(
        store.clone(),
        catalog,
        rx,
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
    );
    tokio::spawn(r.run());
    (store, RunnerHandle::new(tx))
}

fn event(action: EventAction, key: &str) -> Work {
    Work::Event {
        service: ServiceId::parse("api").unwrap(),
        action,
        dedup_key: DedupKey::parse(key).unwrap(),
        title: "t".into(),
        details: serde_json::json!({}),
        actor: "test".into(),
        decision: None,
        group: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_on_one_key_opens_one_incident_and_counts_every_alert() {
    let (store, handle) = runner().await;
    let jobs: Vec<_> = (0..200)
        .map(|_| {
            let h = handle.clone();
            tokio::spawn(async move { h.submit(event(EventAction::Trigger, "same")).await })
        })
        .collect();
    for j in jobs {
        j.await.unwrap().unwrap();
    }
    let page = store
        .incidents(&escalator_store::IncidentFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].incident.alert_count, 200);
    assert_eq!(
        store
            .notifications(page.items[0].incident.id)
            .await
            .unwrap()
            .len(),
        1,
        "paged once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_one_batch_see_each_others_effects_in_order() {
    let (store, handle) = runner().await;
    // Queued together, these land in one batch: open, resolve, open again.
    let (a, b, c) = tokio::join!(
        handle.submit(event(EventAction::Trigger, "k")),
        handle.submit(event(EventAction::Resolve, "k")),
        handle.submit(event(EventAction::Trigger, "k")),
    );
    let ids: Vec<Option<IncidentId>> = [a, b, c]
        .into_iter()
        .map(|r| match r.unwrap() {
            Done::Event { incident } => incident,
            _ => None,
        })
        .collect();
    let page = store
        .incidents(&escalator_store::IncidentFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let statuses: Vec<&str> = page
        .items
        .iter()
        .rev()
        .map(|r| r.incident.status.as_str())
        .collect();
    assert_eq!(statuses, vec!["resolved", "triggered"], "ids {ids:?}");
    // The first incident's pending page was cancelled when it resolved in the same batch.
    let first = page.items.last().unwrap().incident.id;
    let notes = store.notifications(first).await.unwrap();
    assert_eq!(
        notes.iter().map(|n| n.status.as_str()).collect::<Vec<_>>(),
        vec!["cancelled"]
    );
    let entries = store.audit_entries(0, 100).await.unwrap();
    escalator_core::audit::verify(&entries).unwrap();
}

fn grouped(action: EventAction, key: &str, cluster: &str) -> Work {
    let details = serde_json::json!({"labels": {"alertname": "DiskFull", "cluster": cluster}});
    let grouping = config::Grouping {
        by: vec!["alertname".into(), "cluster".into()],
        window: escalator_core::duration::Duration::from_secs(300),
    };
    let mut work = event(action, key);
    if let Work::Event {
        group, details: d, ..
    } = &mut work
    {
        *group = Some(grouping.key(&details));
        *d = details;
    }
    work
}

async fn incident_of(handle: &RunnerHandle, work: Work) -> Option<IncidentId> {
    match handle.submit(work).await.unwrap() {
        Done::Event { incident } => incident,
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_of_one_group_share_an_incident_that_resolves_with_the_last() {
    let yaml = CONFIG.replace(
        "    escalation_policy: p\n",
        "    escalation_policy: p\n    grouping: {by: [alertname, cluster], window: 5m}\n",
    );
    let (store, handle) = runner_with(&yaml).await;
    let a = incident_of(&handle, grouped(EventAction::Trigger, "disk-a", "eu1")).await;
    let b = incident_of(&handle, grouped(EventAction::Trigger, "disk-b", "eu1")).await;
    let other = incident_of(&handle, grouped(EventAction::Trigger, "disk-c", "us1")).await;
    assert_eq!(a, b, "same labels, one incident");
    assert_ne!(a, other, "another cluster, another incident");
    let a = a.unwrap();
    let row = store.incident(a).await.unwrap().unwrap();
    assert_eq!(row.incident.alert_count, 2);
    assert_eq!(store.notifications(a).await.unwrap().len(), 1, "paged once");

    // One alert resolving leaves the incident open; the last resolves it.
    incident_of(&handle, grouped(EventAction::Resolve, "disk-a", "eu1")).await;
    let row = store.incident(a).await.unwrap().unwrap();
    assert!(row.incident.status.is_open(), "disk-b still fires");
    // The resolved alert firing again rejoins the same incident.
    assert_eq!(
        incident_of(&handle, grouped(EventAction::Trigger, "disk-a", "eu1")).await,
        Some(a)
    );
    incident_of(&handle, grouped(EventAction::Resolve, "disk-a", "eu1")).await;
    incident_of(&handle, grouped(EventAction::Resolve, "disk-b", "eu1")).await;
    let row = store.incident(a).await.unwrap().unwrap();
    assert_eq!(row.incident.status.as_str(), "resolved");
    let kinds: Vec<String> = store
        .timeline(a)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.iter().any(|k| k == "alert_resolved"), "{kinds:?}");
    // After it resolved, the group opens a new incident.
    let again = incident_of(&handle, grouped(EventAction::Trigger, "disk-b", "eu1")).await;
    assert_ne!(again, Some(a));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_grouping_configured_each_dedup_key_opens_its_own_incident() {
    let (_store, handle) = runner().await;
    let a = incident_of(&handle, grouped(EventAction::Trigger, "disk-a", "eu1")).await;
    let b = incident_of(&handle, grouped(EventAction::Trigger, "disk-b", "eu1")).await;
    assert_ne!(a, b);
}
