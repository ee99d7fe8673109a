//! What a recipient receives. The webhook body is a wire format users build on:
//! fields may be added, never renamed or removed.

use escalator_core::engine::Incident;
use jiff::Timestamp;
use serde_json::{Value, json};

/// Who a page is for and why: the level and round that planned it, which may
/// be behind the incident's current level when a send was delayed.
pub struct Recipient<'a> {
    pub user: &'a str,
    pub contact_method: &'a str,
    pub level: u32,
    pub round: u32,
}

/// The `incident.notify` webhook body.
pub fn webhook_body(
    incident: &Incident,
    incident_url: &str,
    to: &Recipient<'_>,
    ack_url: &str,
    idempotency_key: &str,
    sent_at: Timestamp,
) -> Value {
    json!({
        "type": "incident.notify",
        "incident": {
            "id": incident.id.0,
            "title": incident.title,
            "status": incident.status.as_str(),
            "service": incident.service,
            "level": to.level,
            "round": to.round,
            "current_level": incident.level,
            "dedup_key": incident.dedup_key,
            "url": incident_url,
            "created_at": incident.created_at.to_string(),
        },
        "recipient": {"user": to.user, "contact_method": to.contact_method},
        "ack_url": ack_url,
        "idempotency_key": idempotency_key,
        "sent_at": sent_at.to_string(),
    })
}

/// The `shift.start` webhook body: a hand-off notice, sent when a user who
/// asked for one goes on call.
pub fn handoff_body(
    schedule: &str,
    to: &Recipient<'_>,
    shift: (Timestamp, Timestamp),
    source: &Value,
    idempotency_key: &str,
    sent_at: Timestamp,
) -> Value {
    json!({
        "type": "shift.start",
        "schedule": schedule,
        "shift": {"start": shift.0.to_string(), "end": shift.1.to_string(), "source": source},
        "recipient": {"user": to.user, "contact_method": to.contact_method},
        "idempotency_key": idempotency_key,
        "sent_at": sent_at.to_string(),
    })
}
