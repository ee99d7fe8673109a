//! The page behind an acknowledgement link: what the incident is, where it
//! stands, and — only while it is triggered — one button that acknowledges.
//! Pure: handed the facts, returns the document; it escapes every value.

use crate::html::{document, escape};
use escalator_core::engine::{Incident, Status};
use jiff::Timestamp;

/// What the page shows.
pub struct AckPage<'a> {
    pub incident: &'a Incident,
    /// The service's display name, when the configuration gives one.
    pub service_name: Option<&'a str>,
    /// How many levels the incident's escalation policy has, when known.
    pub levels: Option<usize>,
    /// The user the link acknowledges as.
    pub user: &'a str,
    /// True when this request acknowledged the incident.
    pub acted: bool,
}

fn when(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

impl AckPage<'_> {
    pub fn render(&self) -> String {
        let i = self.incident;
        let mut facts = Vec::new();
        let service = match self.service_name {
            Some(name) => format!("{name} ({})", i.service),
            None => i.service.to_string(),
        };
        facts.push(("Service", service));
        if let Some(p) = i.priority {
            facts.push(("Priority", p.as_str().to_owned()));
        }
        let level = match self.levels {
            Some(n) => format!("{} of {n}, round {}", i.level, i.round),
            None => format!("{}, round {}", i.level, i.round),
        };
        facts.push(("Level", level));
        facts.push(("Status", i.status.as_str().to_owned()));
        facts.push(("Opened", when(i.created_at)));
        let facts: String = facts
            .iter()
            .map(|(k, v)| format!("<dt>{k}</dt><dd>{}</dd>\n", escape(v)))
            .collect();

        let by = |who: &Option<String>, at: Option<Timestamp>| {
            let who = who.as_deref().unwrap_or("someone");
            match at {
                Some(at) => format!("{} at {}", escape(who), when(at)),
                None => escape(who),
            }
        };
        let (title, outcome) = match i.status {
            Status::Triggered => (
                format!("Acknowledge incident #{}?", i.id),
                format!(
                    "<form method=\"post\">\n<button type=\"submit\">Acknowledge as {}</button>\n\
                     </form>\n<p class=\"note\">Acknowledging stops the escalation and cancels \
                     the pages still planned. Nothing changes until you press the button.</p>\n",
                    escape(self.user)
                ),
            ),
            Status::Acknowledged if self.acted => (
                format!("Incident #{} acknowledged", i.id),
                format!(
                    "<p class=\"state\" role=\"status\">Acknowledged by {}. \
                     The escalation has stopped.</p>\n",
                    by(&i.acknowledged_by, i.acknowledged_at)
                ),
            ),
            Status::Acknowledged => (
                format!("Incident #{} is already acknowledged", i.id),
                format!(
                    "<p class=\"state\" role=\"status\">Already acknowledged by {}. \
                     Nothing to do.</p>\n",
                    by(&i.acknowledged_by, i.acknowledged_at)
                ),
            ),
            Status::Resolved => (
                format!("Incident #{} is resolved", i.id),
                format!(
                    "<p class=\"state\" role=\"status\">Resolved by {}. Nothing to do.</p>\n",
                    by(&i.resolved_by, i.resolved_at)
                ),
            ),
        };
        let body = format!(
            "<h1>#{} {}</h1>\n<dl>\n{facts}</dl>\n{outcome}",
            i.id,
            escape(&i.title)
        );
        document(&title, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use escalator_core::ids::{DedupKey, IncidentId, PolicyId, ServiceId};

    const NASTY: &str = r#"<script>alert(1)</script> & "q""#;

    fn incident(status: Status) -> Incident {
        let t0: Timestamp = "2026-03-01T02:00:00Z".parse().unwrap();
        Incident {
            id: IncidentId(7),
            service: ServiceId::parse("payments-api").unwrap(),
            policy: PolicyId::parse("payments").unwrap(),
            dedup_key: DedupKey::parse("k").unwrap(),
            group_key: None,
            title: NASTY.into(),
            priority: None,
            status,
            level: 2,
            round: 1,
            level_started_at: t0,
            next_escalation_at: None,
            alert_count: 1,
            created_at: t0,
            updated_at: t0,
            acknowledged_at: (status != Status::Triggered).then_some(t0),
            acknowledged_by: (status != Status::Triggered).then(|| NASTY.to_owned()),
            resolved_at: (status == Status::Resolved).then_some(t0),
            resolved_by: (status == Status::Resolved).then(|| NASTY.to_owned()),
        }
    }

    fn render(status: Status, acted: bool) -> String {
        let i = incident(status);
        AckPage {
            incident: &i,
            service_name: Some(NASTY),
            levels: Some(3),
            user: NASTY,
            acted,
        }
        .render()
    }

    #[test]
    fn every_value_shown_is_escaped() {
        for (status, acted) in [
            (Status::Triggered, false),
            (Status::Acknowledged, true),
            (Status::Acknowledged, false),
            (Status::Resolved, false),
        ] {
            let page = render(status, acted);
            assert!(!page.contains("<script"), "{status}: {page}");
            assert!(!page.contains(r#""q""#), "{status}: {page}");
            assert!(
                page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;"),
                "{status}: {page}"
            );
        }
    }

    #[test]
    fn a_triggered_incident_shows_its_facts_and_one_button_that_posts() {
        let page = render(Status::Triggered, false);
        assert_eq!(page.matches("<form").count(), 1);
        assert_eq!(page.matches("<button").count(), 1);
        assert!(page.contains(r#"<form method="post">"#));
        assert!(
            !page.contains("action="),
            "the form posts back to the link itself"
        );
        for fact in [
            "#7 ",
            "<dt>Level</dt><dd>2 of 3, round 1</dd>",
            "<dt>Status</dt><dd>triggered</dd>",
            "<dt>Opened</dt><dd>2026-03-01 02:00:00 UTC</dd>",
            "Acknowledge as &lt;script&gt;",
        ] {
            assert!(page.contains(fact), "lacks {fact}: {page}");
        }
    }

    #[test]
    fn an_acknowledged_or_resolved_incident_offers_no_button() {
        for (status, acted, says) in [
            (Status::Acknowledged, true, "Acknowledged by "),
            (Status::Acknowledged, false, "Already acknowledged by "),
            (Status::Resolved, false, "Resolved by "),
        ] {
            let page = render(status, acted);
            assert!(
                !page.contains("<form") && !page.contains("<button"),
                "{page}"
            );
            assert!(page.contains(says), "{status}: lacks {says}: {page}");
            assert!(page.contains("at 2026-03-01 02:00:00 UTC"), "{page}");
        }
    }
}
