//! A message template, compiled and rendered for a responder and for a
//! stakeholder; the text after the first NUL is the incident's title.
#![no_main]

use escalator_core::Timestamp;
use escalator_core::engine::{Incident, Status};
use escalator_core::ids::{DedupKey, IncidentId, PolicyId, ServiceId};
use escalator_core::templates::{Audience, Facts, TemplateSpec, compile, render};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (template, title) = text
        .split_once('\0')
        .unwrap_or((text, "Checkout latency high"));
    let t: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
    let incident = Incident {
        id: IncidentId(4821),
        service: ServiceId::parse("checkout").unwrap(),
        policy: PolicyId::parse("web").unwrap(),
        dedup_key: DedupKey::parse("disk-full-db1").unwrap(),
        group_key: None,
        title: title.to_owned(),
        priority: None,
        status: Status::Triggered,
        level: 2,
        round: 1,
        level_started_at: t,
        next_escalation_at: None,
        alert_count: 1,
        created_at: t,
        updated_at: t,
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        resolved_by: None,
    };
    let details = json!({"custom_details": {"password": "hunter2"}, "labels": {"env": "prod"}});
    for audience in [Audience::Responder, Audience::Stakeholder] {
        let spec = TemplateSpec {
            id: "fuzz".into(),
            audience,
            level: None,
            subject: template.to_owned(),
            text: template.to_owned(),
        };
        if compile(&spec).is_err() {
            return;
        }
        let facts = Facts {
            incident: &incident,
            service_name: Some("Checkout"),
            details: &details,
            url: "https://esc.example/i/4821",
            level: 2,
            round: 1,
            event: "page",
            update: None,
            next_update_at: None,
        };
        // A detail never reaches a stakeholder (unless the input wrote it).
        if let Ok(r) = render(&spec, &facts)
            && audience == Audience::Stakeholder
            && !text.contains("hunter2")
        {
            assert!(!r.text.contains("hunter2") && !r.subject.contains("hunter2"));
        }
    }
});
