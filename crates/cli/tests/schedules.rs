//! Schedules end to end on the real binary: a schedule-targeted level pages
//! whoever is on call at that instant, the backup when they are away, filters
//! narrow a team; on-call queries, overrides, gaps and iCalendar feeds; who
//! may change a user's availability, overrides and feed, and how far ahead.

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
    for db in databases().await {
        schedule_targets_page_who_is_on_call_or_the_backup_on(&db).await;
    }
}

async fn schedule_targets_page_who_is_on_call_or_the_backup_on(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &config(&receiver));
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
    for db in databases().await {
        overrides_shifts_gaps_and_calendars_on(&db).await;
    }
}

async fn overrides_shifts_gaps_and_calendars_on(db: &str) {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &config(&receiver));
    // Putting dave on call and making the on-call user's feed: a manager's.
    let (viewer, responder) = (token(&server.db, "viewer"), token(&server.db, "manager"));
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

/// RFC 3339, `days` from now.
fn in_days(days: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * days)).to_string()
}

const FORBIDDEN: (u16, &str) = (403, "forbidden");
const OUT_OF_RANGE: (u16, &str) = (422, "out_of_range");

/// A server on `db` and its tokens: a viewer, a responder bound to nobody, a
/// manager, and bob's own (a responder bound to bob).
struct Tokens {
    viewer: String,
    unbound: String,
    manager: String,
    bob: String,
}

async fn start_with_tokens(db: &str) -> (Receiver, Server, Tokens) {
    let receiver = Receiver::start().await;
    let server = Server::start(db, &config(&receiver));
    let tokens = Tokens {
        viewer: token(db, "viewer"),
        unbound: token(db, "responder"),
        manager: token(db, "manager"),
        bob: token_for(db, "bob-phone", "responder", Some("bob")),
    };
    (receiver, server, tokens)
}

/// Whether `answer` is a refusal `(status, code)` naming `field`; the message too.
#[track_caller]
fn assert_refused(answer: &(u16, Value), (status, code): (u16, &str), field: &str) -> String {
    let (got, body) = answer;
    assert_eq!(
        (*got, &body["error"]["code"], &body["error"]["field"]),
        (status, &json!(code), &json!(field)),
        "{body}"
    );
    body["error"]["message"].as_str().unwrap().to_owned()
}

async fn delete(server: &Server, path: &str, token: &str) -> (u16, Value) {
    server
        .call(reqwest::Method::DELETE, path, token, None)
        .await
}

async fn availability_is_set_by_the_user_or_a_manager_within_90_days(db: &str) {
    let (_receiver, server, t) = start_with_tokens(db).await;
    let alice = "/api/v1/users/alice/availability";
    let bob = "/api/v1/users/bob/availability";
    let away = |until: String| json!({"available": false, "until": until, "reason": "holiday"});

    // Bob may mark himself away, not alice; a token bound to nobody needs
    // the manager role.
    let answer = server.put(alice, &t.bob, away(in_days(7))).await;
    let message = assert_refused(&answer, FORBIDDEN, "user");
    assert!(
        message.contains("bob may act only for themselves, not for alice"),
        "{message}"
    );
    let answer = server.put(alice, &t.unbound, away(in_days(7))).await;
    assert_refused(&answer, FORBIDDEN, "user");
    let (_, now) = server.get(alice, &t.viewer).await;
    assert_eq!(
        (&now["available_now"], &now["set_through_api"]),
        (&json!(true), &Value::Null),
        "alice is still available: {now}"
    );
    let (status, body) = server.put(bob, &t.bob, away(in_days(7))).await;
    assert_eq!(
        (status, &body["available_now"]),
        (200, &json!(false)),
        "{body}"
    );
    let (status, body) = server.put(bob, &t.bob, json!({"available": true})).await;
    assert_eq!(
        (status, &body["available_now"]),
        (200, &json!(true)),
        "{body}"
    );
    let (status, _) = server.put(alice, &t.manager, away(in_days(7))).await;
    assert_eq!(status, 200);

    // At most 90 days ahead, for a manager too: a typo of 2062 would take
    // alice off every rotation for decades. Until further notice (no
    // `until`) only as a manager.
    let answer = server.put(bob, &t.bob, away(in_days(91))).await;
    let message = assert_refused(&answer, OUT_OF_RANGE, "until");
    assert!(message.contains("at most 90 days"), "{message}");
    let typo = away("2062-03-08T09:00:00Z".to_owned());
    assert_refused(
        &server.put(alice, &t.manager, typo).await,
        OUT_OF_RANGE,
        "until",
    );
    let for_good = json!({"available": false});
    let answer = server.put(bob, &t.bob, for_good.clone()).await;
    assert_refused(&answer, OUT_OF_RANGE, "until");
    let (status, body) = server.put(alice, &t.manager, for_good).await;
    assert_eq!(
        (status, &body["available_now"]),
        (200, &json!(false)),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_is_set_by_the_user_or_a_manager_within_90_days_on_sqlite_and_postgres() {
    for db in databases().await {
        availability_is_set_by_the_user_or_a_manager_within_90_days(&db).await;
    }
}

async fn a_responder_takes_shifts_only_for_themselves_within_the_horizon(db: &str) {
    let (_receiver, server, t) = start_with_tokens(db).await;
    let overrides = "/api/v1/schedules/primary/overrides";
    let shift = |user: &str, from: String, to: String| json!({"user": user, "replaces": "alice", "from": from, "to": to});
    let tomorrow = || shift("bob", in_days(1), in_days(2));

    // Bob takes a shift (puts himself on call); he may not put carol on
    // call, nor may a token bound to nobody.
    let answer = server
        .post(overrides, &t.bob, shift("carol", in_days(1), in_days(2)))
        .await;
    assert_refused(&answer, FORBIDDEN, "user");
    assert_refused(
        &server.post(overrides, &t.unbound, tomorrow()).await,
        FORBIDDEN,
        "user",
    );
    let (status, taken) = server.post(overrides, &t.bob, tomorrow()).await;
    assert_eq!(status, 201, "{taken}");
    let (status, given) = server
        .post(
            overrides,
            &t.manager,
            shift("carol", in_days(1), in_days(2)),
        )
        .await;
    assert_eq!(status, 201, "{given}");

    // Ending at most 90 days ahead and lasting at most 31 days, for anyone.
    let answer = server
        .post(overrides, &t.bob, shift("bob", in_days(89), in_days(91)))
        .await;
    assert_refused(&answer, OUT_OF_RANGE, "to");
    let answer = server
        .post(overrides, &t.bob, shift("bob", in_days(1), in_days(33)))
        .await;
    let message = assert_refused(&answer, OUT_OF_RANGE, "to");
    assert!(message.contains("at most 31 days"), "{message}");
    let answer = server
        .post(
            overrides,
            &t.manager,
            shift("carol", in_days(1), in_days(400)),
        )
        .await;
    assert_refused(&answer, OUT_OF_RANGE, "to");

    // Removing: bob his own, a manager anyone's.
    let one = |o: &Value| format!("{overrides}/{}", o["id"]);
    let answer = delete(&server, &one(&given), &t.bob).await;
    assert_refused(&answer, FORBIDDEN, "user");
    let answer = delete(&server, &one(&given), &t.unbound).await;
    assert_refused(&answer, FORBIDDEN, "user");
    assert_eq!(delete(&server, &one(&taken), &t.bob).await.0, 204);
    assert_eq!(delete(&server, &one(&taken), &t.bob).await.0, 404);
    let (_, listed) = server.get(overrides, &t.viewer).await;
    let left: Vec<&Value> = listed["api"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["user"])
        .collect();
    assert_eq!(left, [&json!("carol")], "{listed}");
    assert_eq!(delete(&server, &one(&given), &t.manager).await.0, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_responder_takes_shifts_only_for_themselves_within_the_horizon_on_sqlite_and_postgres() {
    for db in databases().await {
        a_responder_takes_shifts_only_for_themselves_within_the_horizon(&db).await;
    }
}

async fn a_calendar_feed_is_made_by_its_user_or_a_manager(db: &str) {
    let (_receiver, server, t) = start_with_tokens(db).await;
    let alice = "/api/v1/users/alice/calendar_feed";
    let bob = "/api/v1/users/bob/calendar_feed";

    // Bob makes and revokes his own feed, not alice's.
    assert_refused(
        &server.post(alice, &t.bob, json!({})).await,
        FORBIDDEN,
        "user",
    );
    assert_refused(
        &server.post(alice, &t.unbound, json!({})).await,
        FORBIDDEN,
        "user",
    );
    let (status, feed) = server.post(bob, &t.bob, json!({})).await;
    assert_eq!(status, 201, "{feed}");
    let (status, feed) = server.post(alice, &t.manager, json!({})).await;
    assert_eq!(status, 201, "{feed}");
    let url = feed["url"].as_str().unwrap().to_owned();
    assert_refused(&delete(&server, alice, &t.bob).await, FORBIDDEN, "user");
    assert_eq!(
        reqwest::get(&url).await.unwrap().status(),
        200,
        "not revoked"
    );
    assert_eq!(delete(&server, bob, &t.bob).await.0, 204);
    assert_eq!(delete(&server, alice, &t.manager).await.0, 204);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calendar_feed_is_made_by_its_user_or_a_manager_on_sqlite_and_postgres() {
    for db in databases().await {
        a_calendar_feed_is_made_by_its_user_or_a_manager(&db).await;
    }
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
    for db in databases().await {
        a_user_who_asks_is_told_when_their_shift_starts_once_on(&db).await;
    }
}

async fn a_user_who_asks_is_told_when_their_shift_starts_once_on(db: &str) {
    let receiver = Receiver::start().await;
    let (twilio_url, messages) = twilio_accepting().await;
    // A shift that started half a minute ago, in UTC.
    let start = jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(30));
    let config = format!(
        r#"channels:
  twilio: {{api_url: "{twilio_url}", account_sid: AC123, auth_token: "${{env:TEST_TWILIO_TOKEN}}", from: "+15005550006"}}
users:
  - id: henry
    handoff_notice: true
    contact_methods:
      - {{id: hook, type: webhook, url: "{url}"}}
      - {{id: phone, type: sms, number: "+4915112345678"}}
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
    let mut server =
        Server::start_with_env(db, &config, &[], &[("TEST_TWILIO_TOKEN", "twilio-token")]);
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
    eventually(Duration::from_secs(10), "hand-off SMS", || async {
        (!messages.lock().unwrap().is_empty()).then_some(())
    })
    .await;
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
    // Every contact method hears it, not only webhooks: the SMS too, once.
    let sms = messages.lock().unwrap().clone();
    assert_eq!(sms.len(), 1, "{sms:?}");
    let body = &sms[0].iter().find(|(k, _)| k == "Body").unwrap().1;
    assert!(body.starts_with("Your shift on night starts now"), "{body}");
    assert!(
        !body.contains("Reply"),
        "a notice asks for no answer: {body}"
    );
}
