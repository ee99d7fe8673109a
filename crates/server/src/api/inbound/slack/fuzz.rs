//! The `/escalator` slash command's text and the interactivity payload,
//! arbitrary and mutated.

use super::super::fuzz::config;
use super::{Command, Payload};
use proptest::prelude::*;

const WORDS: &[&str] = &[
    "ack",
    "ACK",
    "resolve",
    "escalate",
    "roles",
    "help",
    "commander",
    "ic",
    "comms",
    "comms_lead",
    "scribe",
    "me",
    "none",
    "-",
    "@bob",
    "<@U024BE7LH>",
    "<@U1|alice>",
    "<@",
    ">",
    "#12",
    "0",
    "-1",
    "9223372036854775807",
    "9223372036854775808",
    "#",
    "é",
    "\u{0}",
    "\t",
];

fn command_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,64}",
        proptest::collection::vec(proptest::sample::select(WORDS), 0..6).prop_map(|w| w.join(" ")),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_command_text_is_a_command_or_a_reason(text in command_text()) {
        match Command::parse(&text) {
            Ok(Command::Act(_, n) | Command::Roles(n) | Command::Assign(_, n, _)) => prop_assert!(n > 0),
            Ok(Command::Help) => {}
            Err(why) => prop_assert!(!why.is_empty()),
        }
    }

    #[test]
    fn any_interactivity_payload_is_read_or_refused(text in prop_oneof![
        ".{0,128}",
        proptest::sample::select(vec![
            r#"{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"ack","value":"12"}]}"#,
            r##"{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"role:commander","value":"#9"}]}"##,
        ]).prop_flat_map(|seed| (Just(seed), any::<usize>(), ".{0,4}")
            .prop_map(|(seed, at, insert)| {
                let mut s = seed.to_owned();
                let mut at = at % (s.len() + 1);
                while !s.is_char_boundary(at) { at -= 1; }
                s.insert_str(at, &insert);
                s
            })),
    ]) {
        if let Ok(p) = serde_json::from_str::<Payload>(&text) {
            let _ = (p.kind, p.user.id, p.actions.first().map(|a| (&a.action_id, &a.value)));
        }
    }
}
