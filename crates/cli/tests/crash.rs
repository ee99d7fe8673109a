//! `kill -9` at any moment, then restart: every accepted event is there, every
//! due escalation fires, no notification is lost, and a notification is sent
//! again only if it was in flight at the kill — with the same idempotency key.

mod common;

use common::*;
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

const INCIDENTS: usize = 12;

async fn survives_kill_dash_nine(db: &str) {
    // A slow receiver keeps sends in flight, so kills land mid-send.
    let receiver = Receiver::start_with_delay(Duration::from_millis(150)).await;
    let mut server = Server::start(db, &two_level_config(&receiver, "1s"));
    let viewer = token(db, "viewer");

    let mut accepted = BTreeSet::new();
    let mut kills = 0;
    for i in 0..INCIDENTS {
        let key = format!("crash-{i}");
        let body = json!({"routing_key": KEY, "event_action": "trigger", "dedup_key": key,
            "payload": {"summary": format!("incident {i}"), "source": "x", "severity": "critical"}});
        // A kill may refuse a request; a real client retries until it gets its 202.
        loop {
            match server
                .http
                .post(server.url("/v2/enqueue"))
                .json(&body)
                .send()
                .await
            {
                Ok(r) if r.status() == 202 => {
                    accepted.insert(key.clone());
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        if i % 3 == 2 {
            // Let sends and escalations get under way, then kill without warning.
            tokio::time::sleep(Duration::from_millis(100 + 170 * (i as u64 % 4))).await;
            server.restart();
            kills += 1;
        }
    }
    // Kill twice more while escalations are due and notifications in flight.
    for pause in [900, 1300] {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        server.restart();
        kills += 1;
    }

    // Each incident climbs 1 → 2 → 3: alice, bob, then the team (alice and bob).
    let expected_per_incident = 4;
    let got = eventually(Duration::from_secs(60), "every page delivered", || async {
        let got = receiver.received();
        let distinct: BTreeSet<String> = got
            .iter()
            .map(|r| r.body["idempotency_key"].as_str().unwrap().to_owned())
            .collect();
        (distinct.len() >= INCIDENTS * expected_per_incident).then_some(got)
    })
    .await;

    let mut per_key: HashMap<String, usize> = HashMap::new();
    for r in &got {
        let key = r.headers["idempotency-key"].to_str().unwrap().to_owned();
        assert_eq!(r.body["idempotency_key"], key.as_str());
        *per_key.entry(key).or_default() += 1;
    }
    assert_eq!(
        per_key.len(),
        INCIDENTS * expected_per_incident,
        "unexpected extra pages: {per_key:?}"
    );
    // Per incident, exactly the expected (round, level, user) keys.
    let mut by_incident: HashMap<i64, BTreeSet<(i64, String)>> = HashMap::new();
    for r in &got {
        let inc = &r.body["incident"];
        by_incident
            .entry(inc["id"].as_i64().unwrap())
            .or_default()
            .insert((
                inc["level"].as_i64().unwrap(),
                r.body["recipient"]["user"].as_str().unwrap().to_owned(),
            ));
    }
    assert_eq!(by_incident.len(), INCIDENTS);
    for pages in by_incident.values() {
        let want: BTreeSet<(i64, String)> = [(1, "alice"), (2, "bob"), (3, "alice"), (3, "bob")]
            .into_iter()
            .map(|(l, u)| (l, u.to_owned()))
            .collect();
        assert_eq!(pages, &want);
    }
    // Re-sends happen only for sends cut off by a kill, never more than once per kill.
    let resent: usize = per_key.values().map(|n| n - 1).sum();
    assert!(
        resent <= kills * 64,
        "{resent} re-sends after {kills} kills"
    );
    let over: Vec<_> = per_key.iter().filter(|(_, n)| **n > kills + 1).collect();
    assert!(
        over.is_empty(),
        "sent more often than kills allow: {over:?}"
    );

    // The store agrees: every notification settled as sent, every incident at level 3.
    let (_, list) = server.get("/api/v1/incidents?limit=100", &viewer).await;
    let incidents = list["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), accepted.len());
    for inc in incidents {
        assert_eq!(inc["level"], 3, "{inc}");
        let id = inc["id"].as_i64().unwrap();
        let sent = eventually(Duration::from_secs(20), "notifications settled", || async {
            let (_, notes) = server
                .get(&format!("/api/v1/incidents/{id}/notifications"), &viewer)
                .await;
            let notes = notes["notifications"].as_array().unwrap().clone();
            notes.iter().all(|n| n["status"] == "sent").then_some(notes)
        })
        .await;
        assert_eq!(sent.len(), expected_per_incident);
    }
    let out = cli(&["audit", "verify", "--database", db]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_kill_dash_nine_on_sqlite_and_postgres() {
    for db in databases().await {
        survives_kill_dash_nine(&db).await;
    }
}

/// Two nodes share one PostgreSQL database; the one that took the events dies.
/// The survivor fires every escalation and delivers every page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_surviving_node_takes_over_escalations_on_postgres() {
    let db = escalator_store::testing::postgres_url().await;
    let receiver = Receiver::start().await;
    let config = two_level_config(&receiver, "1s");
    let mut a = Server::start(&db, &config);
    let b = Server::start(&db, &config);
    for i in 0..5 {
        a.trigger(&format!("node-{i}"), "node test").await;
    }
    a.kill9();
    let got = eventually(
        Duration::from_secs(60),
        "every level paged by the surviving node",
        || async {
            let got = receiver.received();
            let distinct: BTreeSet<String> = got
                .iter()
                .map(|r| r.body["idempotency_key"].as_str().unwrap().to_owned())
                .collect();
            (distinct.len() >= 5 * 4).then_some(got)
        },
    )
    .await;
    let levels: BTreeSet<i64> = got
        .iter()
        .map(|r| r.body["incident"]["level"].as_i64().unwrap())
        .collect();
    assert_eq!(levels, BTreeSet::from([1, 2, 3]));
    let viewer = token(&db, "viewer");
    let (_, list) = b.get("/api/v1/incidents", &viewer).await;
    assert!(
        list["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["level"] == 3),
        "{list}"
    );
}
