//! Twilio's callbacks: an SMS reply (`ack 4821`) and the key pressed during a
//! paging call (the `Gather` action). Both are checked with Twilio's
//! signature over the URL we were called at, which is `public_url` + path +
//! query: behind a proxy `--public-url` must be the address Twilio uses.
//! Answers are TwiML, read out or texted back to the person.

use super::signature::verify_twilio;
use super::{
    Action, channels, field, form, incident_number, perform, resolve, section, user_by_contact,
};
use crate::AppState;
use crate::api::error::ApiError;
use crate::runner::Work;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use escalator_core::config::{ContactKind, Urgency};
use escalator_core::ids::{IncidentId, UserId};
use escalator_notify::xml_escape;
use escalator_store::Outcome;

pub const SMS_PATH: &str = "/api/v1/integrations/twilio/sms";
pub const VOICE_PATH: &str = "/api/v1/integrations/twilio/voice";
pub const STATUS_PATH: &str = "/api/v1/integrations/twilio/status";

/// What Twilio's report of a message's or call's fate makes of the page.
fn fate(params: &[(String, String)]) -> Option<Outcome> {
    let (status, what) = match (field(params, "MessageStatus"), field(params, "CallStatus")) {
        (Some(s), _) => (s, "message"),
        (None, Some(s)) => (s, "call"),
        (None, None) => return None,
    };
    let code = field(params, "ErrorCode")
        .map(|c| format!(", error {c}"))
        .unwrap_or_default();
    match status {
        "delivered" | "completed" => Some(Outcome::Delivered {
            detail: format!("Twilio reports the {what} {status}"),
        }),
        "undelivered" | "failed" | "busy" | "no-answer" | "canceled" => Some(Outcome::Failed {
            error: format!("Twilio reports the {what} {status}{code}"),
        }),
        // queued, sending, sent, ringing, in-progress: not the end yet.
        _ => None,
    }
}

/// Checks the signature and returns the form parameters.
async fn verified(
    app: &AppState,
    path: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<
    (
        std::sync::Arc<escalator_core::directory::Catalog>,
        Vec<(String, String)>,
    ),
    ApiError,
> {
    let catalog = channels(app).await?;
    let twilio = section(&catalog, "twilio", |c| c.twilio.as_ref())?;
    let token = resolve(&twilio.auth_token, "channels.twilio.auth_token")?;
    let url = match uri.query() {
        Some(q) => format!("{}{path}?{q}", app.public_url),
        None => format!("{}{path}", app.public_url),
    };
    let params = form(body);
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok());
    verify_twilio(token.as_bytes(), &url, &params, signature)
        .map_err(|e| ApiError::new(StatusCode::FORBIDDEN, "invalid_signature", e.to_string()))?;
    Ok((catalog, params))
}

/// An SMS reply: `ack|acknowledge|resolve|escalate <incident>`, any case.
#[utoipa::path(post, path = "/integrations/twilio/sms", tag = "inbound",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "Twilio's inbound message webhook (From, Body, …)"),
    params(("X-Twilio-Signature" = String, Header, description = "base64 HMAC-SHA1 over URL and sorted parameters")),
    responses((status = 200, description = "TwiML <Message> saying what happened", content_type = "text/xml", body = String),
              (status = 403, description = "Bad signature", body = crate::api::error::ErrorBody),
              (status = 404, description = "channels.twilio is not configured", body = crate::api::error::ErrorBody)))]
pub async fn sms(
    State(app): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (catalog, params) = verified(&app, SMS_PATH, &uri, &headers, &body).await?;
    let from = field(&params, "From").unwrap_or_default();
    let Some(user) = user_by_contact(
        &catalog,
        |k| matches!(k, ContactKind::Sms { number } if number == from),
    ) else {
        return Ok(twiml("Message", "This number is not known to Escalator."));
    };
    let text = field(&params, "Body").unwrap_or_default();
    let mut words = text.split_whitespace();
    let command = match (words.next(), words.next(), words.next()) {
        (Some(verb), Some(number), None) => Action::parse(verb).zip(incident_number(number)),
        _ => None,
    };
    let Some((action, incident)) = command else {
        return Ok(twiml(
            "Message",
            "Not understood. Reply ACK <incident>, RESOLVE <incident> or ESCALATE <incident>.",
        ));
    };
    let reply = perform(&app, incident, action, &user, "sms").await?;
    Ok(twiml("Message", &reply.text))
}

/// The key pressed on a paging call: 1 acknowledges, 2 resolves, 3 escalates.
#[utoipa::path(post, path = "/integrations/twilio/voice", tag = "inbound",
    params(("incident" = i64, Query, description = "The incident the call was about"),
           ("user" = String, Query, description = "The user who was called"),
           ("X-Twilio-Signature" = String, Header, description = "base64 HMAC-SHA1 over URL (with query) and sorted parameters")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "Twilio's Gather callback (Digits, …)"),
    responses((status = 200, description = "TwiML <Say> saying what happened", content_type = "text/xml", body = String),
              (status = 400, body = crate::api::error::ErrorBody),
              (status = 403, description = "Bad signature", body = crate::api::error::ErrorBody),
              (status = 404, description = "channels.twilio is not configured", body = crate::api::error::ErrorBody)))]
pub async fn voice(
    State(app): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (catalog, params) = verified(&app, VOICE_PATH, &uri, &headers, &body).await?;
    // The query is covered by the signature: Twilio calls back the URL we gave it.
    let query = form(uri.query().unwrap_or_default().as_bytes());
    let incident = field(&query, "incident")
        .and_then(incident_number)
        .ok_or_else(|| {
            ApiError::bad_field(
                "incident",
                "query parameter incident is missing or not a number",
            )
        })?;
    let user = field(&query, "user")
        .and_then(|u| UserId::parse(u).ok())
        .filter(|u| catalog.config().users.iter().any(|known| &known.id == u));
    let Some(user) = user else {
        return Ok(twiml(
            "Say",
            "This call is for a user Escalator does not know. Goodbye.",
        ));
    };
    let action = match field(&params, "Digits").map(str::trim) {
        Some("1") => Action::Acknowledge,
        Some("2") => Action::Resolve,
        Some("3") => Action::Escalate,
        _ => {
            return Ok(twiml(
                "Say",
                "Unknown choice. Nothing was changed. Goodbye.",
            ));
        }
    };
    let reply = perform(&app, incident, action, &user, "voice").await?;
    Ok(twiml("Say", &reply.text))
}

/// Longest a delivery report waits for the send it reports on to be settled.
const REPORT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Twilio's status callback for a paging message or call (the `StatusCallback`
/// the notifier gave it, naming the pages by idempotency key): delivered
/// marks them `delivered`; undelivered, failed, busy or unanswered marks them
/// `failed` and moves each to its user's next contact method at once.
#[utoipa::path(post, path = "/integrations/twilio/status", tag = "inbound",
    params(("key" = Vec<String>, Query, description = "Idempotency keys of the pages the message or call carried"),
           ("X-Twilio-Signature" = String, Header, description = "base64 HMAC-SHA1 over URL (with query) and sorted parameters")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "Twilio's status callback (MessageStatus or CallStatus, ErrorCode, …)"),
    responses((status = 204, description = "Recorded (or not final yet)"),
              (status = 403, description = "Bad signature", body = crate::api::error::ErrorBody),
              (status = 404, description = "channels.twilio is not configured", body = crate::api::error::ErrorBody)))]
pub async fn status(
    State(app): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let (_, params) = verified(&app, STATUS_PATH, &uri, &headers, &body).await?;
    let Some(outcome) = fate(&params) else {
        return Ok(StatusCode::NO_CONTENT);
    };
    let keys: Vec<String> = form(uri.query().unwrap_or_default().as_bytes())
        .into_iter()
        .filter(|(k, _)| k == "key")
        .map(|(_, v)| v)
        .collect();
    // A report can overtake our own record of the send: Twilio may call back
    // before the notifier has settled the page it answered. Wait for that
    // settlement (milliseconds; a send's lease at the most) rather than lose
    // the report, which would keep a failed SMS from falling back at once.
    let waiting_since = std::time::Instant::now();
    while app.store.sending_notifications(&keys).await? > 0 && waiting_since.elapsed() < REPORT_WAIT
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let items = app.store.sent_notifications(&keys).await?;
    if items.is_empty() {
        return Ok(StatusCode::NO_CONTENT); // already settled, or not ours
    }
    let ids: Vec<IncidentId> = items.iter().map(|i| IncidentId(i.incident_id)).collect();
    let urgency: std::collections::HashMap<i64, Urgency> = app
        .store
        .incidents_by_id(&ids)
        .await?
        .into_iter()
        .map(|r| (r.incident.id.0, Urgency::of(r.incident.priority)))
        .collect();
    let settled = items
        .into_iter()
        .map(|item| {
            let urgency = urgency.get(&item.incident_id).copied();
            (item, outcome.clone(), urgency)
        })
        .collect();
    app.runner.submit(Work::Settle(settled)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `<Response><{verb}>text</{verb}></Response>` as `text/xml`.
fn twiml(verb: &str, text: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><{verb}>{}</{verb}></Response>",
        xml_escape(text)
    );
    ([(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

/// Fuzzing of the status callback reader.
#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn twilio_reports_become_delivered_failed_or_nothing_yet() {
        assert!(matches!(
            fate(&params(&[("MessageStatus", "delivered")])),
            Some(Outcome::Delivered { .. })
        ));
        assert!(matches!(
            fate(&params(&[("CallStatus", "completed")])),
            Some(Outcome::Delivered { .. })
        ));
        match fate(&params(&[
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30003"),
        ])) {
            Some(Outcome::Failed { error }) => assert!(error.contains("30003"), "{error}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            fate(&params(&[("CallStatus", "no-answer")])),
            Some(Outcome::Failed { .. })
        ));
        assert_eq!(fate(&params(&[("MessageStatus", "sent")])), None);
        assert_eq!(fate(&params(&[("CallStatus", "ringing")])), None);
        assert_eq!(fate(&params(&[])), None);
    }

    #[test]
    fn twiml_text_is_escaped() {
        assert_eq!(
            xml_escape(r#"a<b> & "c" 'd'"#),
            "a&lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;"
        );
    }
}
