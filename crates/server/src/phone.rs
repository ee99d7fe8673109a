//! SMS and voice, as GoAlert has them: at most one message (or call) per
//! number per interval, so a storm cannot flood a phone. Pages to a number
//! that was just messaged wait for its next turn; SMS pages claimed together
//! go out as one message that lists every incident.
//!
//! The turns are kept per node: two nodes sharing a database may each message
//! a number once per interval.

use escalator_core::engine::Incident;
use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct PhoneTurns {
    last: Mutex<HashMap<(String, String), Timestamp>>,
}

impl PhoneTurns {
    /// Takes the number's turn at `now`; `Some(next turn)` when it was taken
    /// less than `interval` ago, and the page must wait until then.
    pub fn take(
        &self,
        channel: &str,
        address: &str,
        now: Timestamp,
        interval: SignedDuration,
    ) -> Option<Timestamp> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let key = (channel.to_owned(), address.to_owned());
        match last.get(&key) {
            Some(&at) if now < at + interval => Some(at + interval),
            _ => {
                last.insert(key, now);
                None
            }
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn one_turn_per_number_per_interval() {
        let turns = PhoneTurns::default();
        let minute = SignedDuration::from_secs(60);
        assert_eq!(turns.take("sms", "+4915112345678", t(0), minute), None);
        assert_eq!(
            turns.take("sms", "+4915112345678", t(30), minute),
            Some(t(60)),
            "the next turn is a minute after the last"
        );
        // Another number, or a call to the same number, has its own turn.
        assert_eq!(turns.take("sms", "+4915112345679", t(30), minute), None);
        assert_eq!(turns.take("voice", "+4915112345678", t(30), minute), None);
        assert_eq!(turns.take("sms", "+4915112345678", t(60), minute), None);
        assert_eq!(
            turns.take("sms", "+4915112345678", t(61), minute),
            Some(t(120))
        );
    }
}
