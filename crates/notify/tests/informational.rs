//! A stakeholder message (`Page::informational`) carries no way to act on the
//! incident: no buttons, acknowledge links, reply commands or key presses.

mod common;

use escalator_notify::{email_body, slack_message, sms_body, teams_message, voice_twiml};

#[test]
fn stakeholder_messages_offer_nothing_to_press() {
    let page = common::page("U024BE7LH").informational();
    let slack = slack_message(&page);
    assert!(
        slack["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["type"] != "actions"),
        "{slack}"
    );
    let teams = teams_message(&page).to_string();
    assert!(
        !teams.contains("Acknowledge") && !teams.contains(&page.ack_url),
        "{teams}"
    );
    assert!(!email_body(&page).contains(&page.ack_url));
    assert_eq!(sms_body(&page), page.text);
    let twiml = voice_twiml(&page, "https://esc.example.com/gather");
    assert!(
        !twiml.contains("Gather") && twiml.contains(&page.text),
        "{twiml}"
    );
}

#[test]
fn pages_keep_their_actions() {
    let page = common::page("U024BE7LH");
    assert!(slack_message(&page).to_string().contains("\"actions\""));
    assert!(email_body(&page).contains(&page.ack_url));
    assert!(sms_body(&page).contains("Reply"));
}
