//! Schedules end to end on the real binary: a schedule-targeted level pages
//! whoever is on call at that instant, the backup when they are away, filters
//! narrow a team; on-call queries, overrides, gaps and iCalendar feeds.

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::Duration;

fn config(receiver: &Receiver) -> String {
    let hook = |u: &str| {
        format!(
            "      - {{id: hook, type: webhook, url: \"{}\"}}\n",
            receiver.url(&format!("/{u}"))
        )
    };
    format!(
        r#"users:
  - id: alice
    contact_methods:
{a}  - id: bob
    contact_methods:
{b}  - id: carol
    contact_methods:
{c}  - id: dave
    skills: [postgres]
    languages: [de]
    region: eu
    contact_methods:
{d}  - id: erin
    skills: [mysql]
    contact_methods:
{e}teams:
  - {{id: dba, members: [erin, dave]}}
schedules:
  - id: primary
    time_zone: Europe/Berlin
    layers:
      - id: weekly
        start: "2026-01-05T09:00"
        rotation: weekly
        members: [alice, bob]
  - id: business-hours
    time_zone: Asia/Singapore
    layers:
      - id: office
        start: "2026-01-05T09:00"
        rotation: daily
        members: [carol]
        restrictions:
          - {{days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}}
escalation_policies:
  - id: payments
    levels:
      - targets: [{{schedule: primary}}]
        backup: [{{user: carol}}]
        escalate_after: 1h
      - targets: [{{team: dba, skill: postgres, language: de, region: eu}}]
        escalate_after: 1h
services:
  - id: payments-api
    escalation_policy: payments
    integrations:
      - {{type: events_v2, key: "{KEY}"}}
"#,
        a = hook("alice"),
        b = hook("bob"),
        c = hook("carol"),
        d = hook("dave"),
        e = hook("erin"),
    )
}

async fn page_for(receiver: &Receiver, dedup_key: &str) -> Received {
    eventually(
        Duration::from_secs(10),
        "a page for the incident",
        || async {
            receiver
                .received()
                .into_iter()
                .find(|r| r.body["incident"]["dedup_key"] == dedup_key)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_targets_page_who_is_on_call_or_the_backup() {
    let receiver = Receiver::start().await;
    let server = Server::start(&escalator_store::testing::sqlite_url(), &config(&receiver));
    let (viewer, manager) = (token(&server.db, "viewer"), token(&server.db, "manager"));

    let (status, now) = server
        .get("/api/v1/schedules/primary/oncall", &viewer)
        .await;
    assert_eq!(status, 200, "{now}");
    let on_call = now["on_call"][0]["user"].as_str().unwrap().to_owned();
    assert_eq!(
        now["on_call"][0]["source"],
        json!({"kind": "layer", "layer": "weekly"})
    );

    server.trigger("sched-1", "on the schedule").await;
    let page = page_for(&receiver, "sched-1").await;
    assert_eq!(page.body["recipient"]["user"], on_call.as_str());
    let id = page.body["incident"]["id"].as_i64().unwrap();
    let (_, tl) = server
        .get(&format!("/api/v1/incidents/{id}/timeline"), &viewer)
        .await;
    let triggered = &tl["entries"][0];
    assert!(
        triggered["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{on_call} (schedule primary (layer weekly))")),
        "{triggered}"
    );

    // The person on call goes away: the backup is paged, and the timeline says why.
    let (status, body) = server
        .http
        .put(server.url(&format!("/api/v1/users/{on_call}/availability")))
        .bearer_auth(&manager)
        .json(&json!({"available": false, "reason": "dentist"}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(status, 200);
    let body: Value = body.json().await.unwrap();
    assert_eq!(body["available_now"], false);
    server.trigger("sched-2", "while away").await;
    let page = page_for(&receiver, "sched-2").await;
    assert_eq!(page.body["recipient"]["user"], "carol");
    let id2 = page.body["incident"]["id"].as_i64().unwrap();
    let (_, tl) = server
        .get(&format!("/api/v1/incidents/{id2}/timeline"), &viewer)
        .await;
    let msg = tl["entries"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("the backup")
            && msg.contains(&format!("skipped {on_call}"))
            && msg.contains("away"),
        "{msg}"
    );

    // Level 2: the team narrowed by skill, language and region pages dave, not erin.
    let (status, _) = server
        .post(
            &format!("/api/v1/incidents/{id2}/escalate"),
            &manager,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let dave = eventually(Duration::from_secs(10), "dave paged", || async {
        receiver.received().into_iter().find(|r| r.path == "/dave")
    })
    .await;
    assert_eq!(dave.body["incident"]["level"], 2);
    assert!(
        receiver.received().iter().all(|r| r.path != "/erin"),
        "erin lacks the skill"
    );

    // Back again: the schedule pages them once more.
    let r = server
        .http
        .put(server.url(&format!("/api/v1/users/{on_call}/availability")))
        .bearer_auth(&manager)
        .json(&json!({"available": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.trigger("sched-3", "back").await;
    assert_eq!(
        page_for(&receiver, "sched-3").await.body["recipient"]["user"],
        on_call.as_str()
    );

    // Bad availability input changes nothing and names the field.
    let r = server
        .http
        .put(server.url("/api/v1/users/carol/availability"))
        .bearer_auth(&manager)
        .json(&json!({"available": false, "until": "yesterday"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["field"], "until");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_shifts_gaps_and_calendars() {
    let receiver = Receiver::start().await;
    let server = Server::start(&escalator_store::testing::sqlite_url(), &config(&receiver));
    let (viewer, responder) = (token(&server.db, "viewer"), token(&server.db, "responder"));
    let (_, now) = server
        .get("/api/v1/schedules/primary/oncall", &viewer)
        .await;
    let on_call = now["on_call"][0]["user"].as_str().unwrap().to_owned();

    // An override replacing whoever is on call, for the next hour.
    let from = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(1);
    let to = from + jiff::SignedDuration::from_hours(1);
    let (status, created) = server
        .post(
            "/api/v1/schedules/primary/overrides",
            &responder,
            json!({"user": "dave", "replaces": on_call, "from": from.to_string(), "to": to.to_string()}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (_, now) = server
        .get("/api/v1/schedules/primary/oncall", &viewer)
        .await;
    assert_eq!(now["on_call"][0]["user"], "dave");
    assert_eq!(
        now["on_call"][0]["source"],
        json!({"kind": "override", "replaces": on_call})
    );
    let out = cli(&["oncall", "--schedule", "primary", "--database", &server.db]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("dave"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (status, body) = server
        .post(
            "/api/v1/schedules/primary/overrides",
            &responder,
            json!({"user": "nobody", "from": from.to_string(), "to": to.to_string()}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("user"))
    );
    let oid = created["id"].as_i64().unwrap();
    let r = server
        .http
        .delete(server.url(&format!("/api/v1/schedules/primary/overrides/{oid}")))
        .bearer_auth(&responder)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, now) = server
        .get("/api/v1/schedules/primary/oncall", &viewer)
        .await;
    assert_eq!(now["on_call"][0]["user"], on_call.as_str());

    // Shifts and gaps; the business-hours schedule has nights and weekends uncovered.
    let q = "from=2027-03-01T00:00:00Z&to=2027-03-15T00:00:00Z";
    let (_, shifts) = server
        .get(&format!("/api/v1/schedules/primary/shifts?{q}"), &viewer)
        .await;
    let shifts = shifts["shifts"].as_array().unwrap().clone();
    assert!(shifts.len() >= 2);
    for pair in shifts.windows(2) {
        assert_eq!(pair[0]["end"], pair[1]["start"], "weekly shifts tile");
    }
    assert_eq!(
        shifts[1]["start"], "2027-03-01T08:00:00Z",
        "Monday 09:00 in Berlin"
    );
    let (_, gaps) = server
        .get(
            &format!("/api/v1/schedules/business-hours/gaps?{q}"),
            &viewer,
        )
        .await;
    assert_eq!(
        gaps["gaps"][0]["to"], "2027-03-01T01:00:00Z",
        "Monday 09:00 in Singapore"
    );
    let (status, body) = server
        .get(
            "/api/v1/schedules/primary/shifts?from=2027-01-01T00:00:00Z&to=2029-01-01T00:00:00Z",
            &viewer,
        )
        .await;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("to")));
    let (status, _) = server.get("/api/v1/schedules/nope/oncall", &viewer).await;
    assert_eq!(status, 404);

    // The calendar parses with an independent parser and holds exactly the shifts.
    let r = server
        .http
        .get(server.url(&format!("/api/v1/schedules/primary/calendar.ics?{q}")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let ics = temp_file("primary.ics", &r.text().await.unwrap());
    let expected: Vec<Value> = shifts
        .iter()
        .map(|s| json!({"user": s["user"], "start": s["start"], "end": s["end"]}))
        .collect();
    let expected = temp_file("expected.json", &serde_json::to_string(&expected).unwrap());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ical_roundtrip.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&ics)
        .arg(&expected)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A personal feed by secret URL, without a bearer token, until revoked.
    let (status, feed) = server
        .post(
            &format!("/api/v1/users/{on_call}/calendar_feed"),
            &responder,
            json!({}),
        )
        .await;
    assert_eq!(status, 201);
    let url = feed["url"].as_str().unwrap().to_owned();
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(
        body.starts_with("BEGIN:VCALENDAR\r\n") && body.contains(&format!("On call: {on_call}")),
        "{body}"
    );
    let r = server
        .http
        .delete(server.url(&format!("/api/v1/users/{on_call}/calendar_feed")))
        .bearer_auth(&responder)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 404);
}

#[tokio::test]
async fn validate_coverage_reports_every_gap() {
    let receiver = Receiver::start().await;
    let file = temp_file("sched.yaml", &config(&receiver));
    let out = cli(&[
        "validate",
        "-f",
        file.to_str().unwrap(),
        "--coverage",
        "28d",
    ]);
    assert!(!out.status.success(), "business-hours has gaps");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("schedule primary: covered for the next 28d"),
        "{stdout}"
    );
    assert!(
        stdout.contains("schedule business-hours:") && stdout.contains("gap(s) in the next 28d"),
        "{stdout}"
    );
    let gaps = stdout
        .lines()
        .filter(|l| l.contains("nobody on call"))
        .count();
    assert!(
        (19..=25).contains(&gaps),
        "four weeks of nights and weekends: {gaps}\n{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_asks_is_told_when_their_shift_starts_once() {
    let receiver = Receiver::start().await;
    // A shift that started half a minute ago, in UTC.
    let start = jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(30));
    let config = format!(
        r#"users:
  - id: henry
    handoff_notice: true
    contact_methods:
      - {{id: hook, type: webhook, url: "{url}"}}
schedules:
  - id: night
    time_zone: UTC
    layers:
      - id: daily
        start: "{start}"
        rotation: daily
        members: [henry]
escalation_policies:
  - id: p
    levels:
      - targets: [{{schedule: night}}]
        escalate_after: 1h
services:
  - id: s
    escalation_policy: p
    integrations:
      - {{type: events_v2, key: "{KEY}"}}
"#,
        url = receiver.url("/henry"),
        start = start.strftime("%Y-%m-%dT%H:%M:%S"),
    );
    let mut server = Server::start(&escalator_store::testing::sqlite_url(), &config);
    let notice = eventually(Duration::from_secs(10), "hand-off notice", || async {
        receiver.received().into_iter().next()
    })
    .await;
    assert_eq!(notice.body["type"], "shift.start");
    assert_eq!(notice.body["schedule"], "night");
    assert_eq!(notice.body["recipient"]["user"], "henry");
    assert_eq!(
        notice.body["shift"]["source"],
        json!({"kind": "layer", "layer": "daily"})
    );
    // A restart does not tell henry again.
    server.restart();
    let viewer = token(&server.db, "viewer");
    let (status, _) = server.get("/api/v1/oncall", &viewer).await;
    assert_eq!(status, 200);
    let out = cli(&["oncall", "--database", &server.db, "--output", "json"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("henry"));
    assert_eq!(
        receiver.received().len(),
        1,
        "one notice per shift, across restarts"
    );
}
