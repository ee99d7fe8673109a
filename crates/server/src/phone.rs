//! SMS and voice, as GoAlert has them: at most one message (or call) per
//! number per interval, so a storm cannot flood a phone. Pages to a number
//! that was just messaged wait for its next turn (`Store::take_phone_turn`,
//! shared by every node on the database); SMS pages claimed together go out
//! as one message that lists every incident.

use escalator_core::engine::Incident;

/// The subject and text of one message that pages several incidents.
pub fn bundle(incidents: &[&Incident]) -> (String, String) {
    let list: Vec<String> = incidents
        .iter()
        .map(|i| {
            let priority = i
                .priority
                .map(|p| format!("{} ", p.as_str()))
                .unwrap_or_default();
            format!("{priority}#{} {} ({})", i.id, i.title, i.service)
        })
        .collect();
    let subject = format!("{} incidents need you", incidents.len());
    let text = format!(
        "{} incidents need you: {}. Reply \"ack <number>\" for each.",
        incidents.len(),
        list.join("; ")
    );
    (subject, text)
}
