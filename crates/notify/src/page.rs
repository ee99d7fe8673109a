//! A page: the channel-neutral content of one notification for one recipient.
//! Callers render `subject` and `text`; adapters only lay them out for their
//! medium and never decide what a page says.

use crate::Recipient;
use escalator_core::engine::Incident;

/// The incident as a page shows it. `level` and `round` are the ones that
/// planned this page, which may be behind the incident's current level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageIncident {
    pub id: i64,
    pub title: String,
    /// `triggered`, `acknowledged` or `resolved`.
    pub status: String,
    pub service: String,
    pub level: u32,
    pub round: u32,
    /// `P1` … `P5` when a rule set one.
    pub priority: Option<String>,
    /// Where a person opens the incident in Escalator.
    pub url: String,
}

impl PageIncident {
    pub fn from_engine(incident: &Incident, url: &str, to: &Recipient<'_>) -> Self {
        Self {
            id: incident.id.0,
            title: incident.title.clone(),
            status: incident.status.as_str().to_owned(),
            service: incident.service.as_str().to_owned(),
            level: to.level,
            round: to.round,
            priority: incident.priority.map(|p| p.as_str().to_owned()),
            url: url.to_owned(),
        }
    }
}

/// One page for one contact method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// The same key on every re-send; receivers that support one drop duplicates.
    pub idempotency_key: String,
    /// Channel-specific: a URL (webhook, Teams), an email address, an E.164
    /// number (SMS, voice), a Slack user or channel id.
    pub address: String,
    pub incident: PageIncident,
    pub user: String,
    pub contact_method: String,
    /// A link that acknowledges the incident for this user.
    pub ack_url: String,
    /// One line: the email subject.
    pub subject: String,
    /// Short plain text: the chat message, SMS body, spoken words.
    pub text: String,
    /// The JSON body the webhook channel posts (see [`crate::webhook_body`]).
    pub webhook_body: Vec<u8>,
    /// Where a provider that reports delivery (Twilio) posts the outcome.
    pub status_callback: Option<String>,
    /// A stakeholder message: adapters leave out acknowledge links, buttons
    /// and key presses, since its reader is informed, not paged.
    pub informational: bool,
    /// A notice about no incident (a hand-off): `incident` holds only its
    /// title and link, and adapters show no incident number or facts.
    pub notice: bool,
}

impl Page {
    /// A page with the default subject and text for `incident`; set
    /// `webhook_body` afterwards when the channel needs it.
    pub fn new(
        incident: PageIncident,
        to: &Recipient<'_>,
        address: impl Into<String>,
        idempotency_key: impl Into<String>,
        ack_url: impl Into<String>,
    ) -> Self {
        Self {
            subject: default_subject(&incident),
            text: default_text(&incident),
            idempotency_key: idempotency_key.into(),
            address: address.into(),
            incident,
            user: to.user.to_owned(),
            contact_method: to.contact_method.to_owned(),
            ack_url: ack_url.into(),
            webhook_body: Vec::new(),
            status_callback: None,
            informational: false,
            notice: false,
        }
    }

    /// An informational notice about no incident (a shift starting): `title`
    /// heads it and links to `url`; `text` says the rest.
    pub fn notice(
        to: &Recipient<'_>,
        address: impl Into<String>,
        idempotency_key: impl Into<String>,
        title: &str,
        text: &str,
        url: &str,
    ) -> Self {
        let incident = PageIncident {
            id: 0,
            title: title.to_owned(),
            status: String::new(),
            service: String::new(),
            level: 0,
            round: 0,
            priority: None,
            url: url.to_owned(),
        };
        Self {
            subject: title.to_owned(),
            text: text.to_owned(),
            notice: true,
            ..Self::new(incident, to, address, idempotency_key, url)
        }
        .informational()
    }

    pub fn with_webhook_body(mut self, body: Vec<u8>) -> Self {
        self.webhook_body = body;
        self
    }

    /// Marks the page as a stakeholder message (see [`Page::informational`]).
    pub fn informational(mut self) -> Self {
        self.informational = true;
        self
    }
}

/// `[P1] #4821 Checkout latency high (checkout, triggered)`.
pub fn default_subject(incident: &PageIncident) -> String {
    let priority = incident
        .priority
        .as_deref()
        .map(|p| format!("[{p}] "))
        .unwrap_or_default();
    format!(
        "{priority}#{} {} ({}, {})",
        incident.id, incident.title, incident.service, incident.status
    )
}

/// `P1 incident #4821 on checkout is triggered: Checkout latency high. Level 2, round 1.`
pub fn default_text(incident: &PageIncident) -> String {
    let lead = match &incident.priority {
        Some(p) => format!("{p} incident"),
        None => "Incident".to_owned(),
    };
    format!(
        "{lead} #{} on {} is {}: {}. Level {}, round {}.",
        incident.id,
        incident.service,
        incident.status,
        incident.title,
        incident.level,
        incident.round
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(priority: Option<&str>) -> PageIncident {
        PageIncident {
            id: 4821,
            title: "Checkout latency high".into(),
            status: "triggered".into(),
            service: "checkout".into(),
            level: 2,
            round: 1,
            priority: priority.map(str::to_owned),
            url: "https://esc.example/incidents/4821".into(),
        }
    }

    #[test]
    fn default_subject_leads_with_priority_and_id() {
        assert_eq!(
            default_subject(&incident(Some("P1"))),
            "[P1] #4821 Checkout latency high (checkout, triggered)"
        );
        assert_eq!(
            default_subject(&incident(None)),
            "#4821 Checkout latency high (checkout, triggered)"
        );
    }

    #[test]
    fn default_text_is_one_sentence_with_level_and_round() {
        assert_eq!(
            default_text(&incident(Some("P1"))),
            "P1 incident #4821 on checkout is triggered: Checkout latency high. Level 2, round 1."
        );
        assert_eq!(
            default_text(&incident(None)),
            "Incident #4821 on checkout is triggered: Checkout latency high. Level 2, round 1."
        );
    }
}

#[cfg(test)]
mod notice_tests {
    use super::*;

    fn notice() -> Page {
        let to = Recipient {
            user: "henry",
            contact_method: "dm",
            level: 0,
            round: 0,
        };
        Page::notice(
            &to,
            "U024BE7LH",
            "handoff-night-henry-1-dm",
            "On call: night",
            "Your shift on night starts now.",
            "https://escalator.example/api/v1/schedules/night/oncall",
        )
    }

    #[test]
    fn a_notice_shows_no_incident_and_asks_for_nothing() {
        let page = notice();
        assert!(page.informational && page.notice);
        let slack = crate::slack_message(&page).to_string();
        assert!(!slack.contains("#0"), "{slack}");
        assert!(!slack.contains("\"actions\""), "{slack}");
        assert!(slack.contains("On call: night"), "{slack}");
        let teams = crate::teams_message(&page).to_string();
        assert!(
            !teams.contains("#0") && !teams.contains("FactSet"),
            "{teams}"
        );
        assert!(!teams.contains("Acknowledge"), "{teams}");
        assert_eq!(crate::sms_body(&page), "Your shift on night starts now.");
        let email = crate::email_body(&page);
        assert!(
            !email.contains("Acknowledge") && !email.contains("incident"),
            "{email}"
        );
    }
}
