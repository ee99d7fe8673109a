//! SMS and voice through Twilio's REST API (2010-04-01), against a stand-in
//! that checks the request as Twilio documents it and answers as Twilio does.

mod common;

use common::{Answer, Vendor, page};
use escalator_notify::{Channel, SendResult, SmsChannel, TwilioConfig, VoiceChannel};
use serde_json::json;
use std::time::Duration;

const SID: &str = "AC0123456789abcdef0123456789abcdef";

fn config(vendor: &Vendor) -> TwilioConfig {
    TwilioConfig {
        api_url: vendor.url.clone(),
        account_sid: SID.into(),
        auth_token: "twilio-secret-token".into(),
        from: "+15005550006".into(),
        timeout: Duration::from_secs(5),
    }
}

fn basic_auth() -> String {
    // base64("AC0123456789abcdef0123456789abcdef:twilio-secret-token")
    "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0d2lsaW8tc2VjcmV0LXRva2Vu".into()
}

fn created(sid: &str) -> Answer {
    Answer::json(
        201,
        json!({"sid": sid, "status": "queued", "account_sid": SID}),
    )
}

fn twilio_error(status: u16, code: u32, message: &str) -> Answer {
    Answer::json(
        status,
        json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status}),
    )
}

#[tokio::test]
async fn sms_posts_a_form_to_messages_json_with_basic_auth_and_idempotency_token() {
    let vendor = Vendor::start(created("SM1234567890abcdef1234567890abcdef")).await;
    let page = page("+14155550100");

    let result = SmsChannel::new(config(&vendor)).unwrap().send(&page).await;

    let req = vendor.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.path,
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    assert_eq!(req.header("authorization"), basic_auth());
    assert_eq!(
        req.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        req.header("i-twilio-idempotency-token"),
        "notif-77-attempt-key"
    );
    assert_eq!(req.field("To"), "+14155550100");
    assert_eq!(req.field("From"), "+15005550006");
    let body = req.field("Body");
    assert!(body.starts_with(&page.text), "{body}");
    assert!(
        body.ends_with(r#"Reply "ack 4821" or "resolve 4821""#),
        "{body}"
    );
    match result {
        SendResult::Delivered { detail } => {
            assert!(
                detail.contains("SM1234567890abcdef1234567890abcdef"),
                "{detail}"
            )
        }
        other => panic!("expected delivery, got {other:?}"),
    }
}

#[tokio::test]
async fn sms_to_an_invalid_or_unsubscribed_number_is_permanent() {
    for (code, message) in [
        (21211, "The 'To' number +1415 is not a valid phone number."),
        (21614, "'To' number is not a valid mobile number"),
        (
            21408,
            "Permission to send an SMS has not been enabled for the region",
        ),
        (21610, "Attempt to send to unsubscribed recipient"),
    ] {
        let vendor = Vendor::start(twilio_error(400, code, message)).await;
        match SmsChannel::new(config(&vendor))
            .unwrap()
            .send(&page("+1415"))
            .await
        {
            SendResult::Permanent { error } => {
                assert!(error.contains(&code.to_string()), "{error}")
            }
            other => panic!("{code}: expected permanent, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn sms_rate_limited_or_during_an_outage_is_transient() {
    for answer in [
        twilio_error(429, 20429, "Too Many Requests"),
        twilio_error(503, 20503, "Service Unavailable"),
    ] {
        let vendor = Vendor::start(answer).await;
        let result = SmsChannel::new(config(&vendor))
            .unwrap()
            .send(&page("+14155550100"))
            .await;
        assert!(matches!(result, SendResult::Transient { .. }), "{result:?}");
    }
}

#[tokio::test]
async fn sms_with_wrong_credentials_is_permanent_and_does_not_leak_the_token() {
    let vendor = Vendor::start(twilio_error(401, 20003, "Authenticate")).await;
    let result = SmsChannel::new(config(&vendor))
        .unwrap()
        .send(&page("+14155550100"))
        .await;
    assert!(matches!(result, SendResult::Permanent { .. }), "{result:?}");
    assert!(!format!("{result:?}").contains("twilio-secret-token"));
}

#[tokio::test]
async fn voice_posts_twiml_that_gathers_one_digit() {
    let vendor = Vendor::start(created("CA1234567890abcdef1234567890abcdef")).await;
    let mut page = page("+14155550100");
    page.text = "P1 incident #4821: Disk <90% & \"db\" down".into();

    let voice = VoiceChannel::new(config(&vendor), "https://esc.example.com/").unwrap();
    let result = voice.send(&page).await;

    let req = vendor.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, format!("/2010-04-01/Accounts/{SID}/Calls.json"));
    assert_eq!(req.header("authorization"), basic_auth());
    assert_eq!(
        req.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        req.header("i-twilio-idempotency-token"),
        "notif-77-attempt-key"
    );
    assert_eq!(req.field("To"), "+14155550100");
    assert_eq!(req.field("From"), "+15005550006");
    assert_eq!(
        req.field("Twiml"),
        "<Response><Gather numDigits=\"1\" \
         action=\"https://esc.example.com/api/v1/integrations/twilio/voice?incident=4821&amp;user=alice\" \
         method=\"POST\"><Say>Escalator page. P1 incident #4821: Disk &lt;90% &amp; &quot;db&quot; down \
         Press 1 to acknowledge, 2 to resolve, 3 to escalate.</Say></Gather>\
         <Say>No input received. Goodbye.</Say></Response>"
    );
    match result {
        SendResult::Delivered { detail } => {
            assert!(
                detail.contains("CA1234567890abcdef1234567890abcdef"),
                "{detail}"
            )
        }
        other => panic!("expected delivery, got {other:?}"),
    }
}

#[tokio::test]
async fn voice_errors_are_classified_like_sms() {
    let vendor = Vendor::start(twilio_error(400, 21211, "Invalid 'To' Phone Number")).await;
    let voice = VoiceChannel::new(config(&vendor), "https://esc.example.com").unwrap();
    let result = voice.send(&page("+1")).await;
    assert!(matches!(result, SendResult::Permanent { .. }), "{result:?}");

    let vendor = Vendor::start(twilio_error(429, 20429, "Too Many Requests")).await;
    let voice = VoiceChannel::new(config(&vendor), "https://esc.example.com").unwrap();
    let result = voice.send(&page("+14155550100")).await;
    assert!(matches!(result, SendResult::Transient { .. }), "{result:?}");
}
