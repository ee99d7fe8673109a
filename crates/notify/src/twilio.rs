//! SMS and voice through a Twilio-compatible REST API. Both create a resource
//! (`Messages.json`, `Calls.json`) with a form post and share how Twilio's
//! errors (`{"code":…,"message":…,"status":…}`) map to retry decisions.

use crate::channel::{http_client, is_transient_status, request_error};
use crate::{Channel, Page, SendFuture, SendResult};
use serde_json::Value;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct TwilioConfig {
    /// `https://api.twilio.com` in production.
    pub api_url: String,
    pub account_sid: String,
    /// Never logged.
    pub auth_token: String,
    /// The sending number, E.164.
    pub from: String,
    pub timeout: Duration,
}

impl TwilioConfig {
    pub const DEFAULT_API_URL: &str = "https://api.twilio.com";
}

/// Twilio error codes that mean this number cannot be reached this way, named
/// in the error so an operator sees why a contact method failed.
const NUMBER_ERRORS: &[(u64, &str)] = &[
    (21211, "invalid 'To' number"),
    (21214, "'To' number cannot be reached"),
    (21217, "'To' number is not a valid phone number"),
    (21408, "no permission to send to this region"),
    (21610, "recipient unsubscribed (replied STOP)"),
    (21612, "'To' number cannot receive from this 'From' number"),
    (21614, "'To' number is not a mobile number"),
];

#[derive(Clone)]
struct TwilioClient {
    client: reqwest::Client,
    api_url: String,
    account_sid: String,
    auth_token: String,
    from: String,
}

impl TwilioClient {
    fn new(config: TwilioConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: http_client(config.timeout)?,
            api_url: config.api_url.trim_end_matches('/').to_owned(),
            account_sid: config.account_sid,
            auth_token: config.auth_token,
            from: config.from,
        })
    }

    /// Creates `resource` (`Messages` or `Calls`) with `form` plus `To` and `From`.
    async fn create(
        &self,
        what: &str,
        resource: &str,
        page: &Page,
        form: &[(&str, &str)],
    ) -> SendResult {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/{resource}.json",
            self.api_url, self.account_sid
        );
        let mut fields = vec![("To", page.address.as_str()), ("From", self.from.as_str())];
        fields.extend_from_slice(form);
        // Twilio reports the message's or call's fate there: delivered, or not.
        if let Some(url) = &page.status_callback {
            fields.push(("StatusCallback", url.as_str()));
        }
        let request = self
            .client
            .post(url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .header("I-Twilio-Idempotency-Token", &page.idempotency_key)
            .form(&fields);
        let resp = match request.send().await {
            Ok(resp) => resp,
            Err(e) => return request_error(what, &e.without_url()),
        };
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        classify(what, status, &body)
    }
}

fn classify(what: &str, status: reqwest::StatusCode, body: &Value) -> SendResult {
    let http = status.as_u16();
    if status.is_success() {
        let sid = body["sid"].as_str().unwrap_or("?");
        return SendResult::Delivered {
            detail: format!("{what} sid={sid}"),
        };
    }
    let code = body["code"].as_u64();
    let message = body["message"].as_str().unwrap_or("");
    let known = code.and_then(|c| NUMBER_ERRORS.iter().find(|(n, _)| *n == c));
    let error = match (code, known) {
        (Some(c), Some((_, why))) => format!("{what} HTTP {http}, Twilio {c} ({why}): {message}"),
        (Some(c), None) => format!("{what} HTTP {http}, Twilio {c}: {message}"),
        (None, _) => format!("{what} HTTP {http}"),
    };
    if is_transient_status(status) {
        SendResult::Transient { error }
    } else {
        SendResult::Permanent { error }
    }
}

/// Text messages: the page text, then how to answer by reply.
#[derive(Clone)]
pub struct SmsChannel {
    twilio: TwilioClient,
}

impl SmsChannel {
    pub fn new(config: TwilioConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            twilio: TwilioClient::new(config)?,
        })
    }
}

/// The SMS body: the page text and the reply commands the server understands.
pub fn sms_body(page: &Page) -> String {
    if page.informational {
        return page.text.clone();
    }
    let id = page.incident.id;
    format!("{} Reply \"ack {id}\" or \"resolve {id}\"", page.text)
}

impl Channel for SmsChannel {
    fn name(&self) -> &'static str {
        "sms"
    }

    /// Messages and calls go through one provider's API.
    fn breaker_key(&self, _address: &str) -> String {
        "twilio".to_owned()
    }

    fn send<'a>(&'a self, page: &'a Page) -> SendFuture<'a> {
        Box::pin(async move {
            let body = sms_body(page);
            self.twilio
                .create("SMS", "Messages", page, &[("Body", &body)])
                .await
        })
    }
}

/// Phone calls that read the page and take one digit: 1 acknowledge,
/// 2 resolve, 3 escalate.
///
/// Twilio posts the digit to
/// `{public_url}/api/v1/integrations/twilio/voice?incident={id}&user={user}`.
#[derive(Clone)]
pub struct VoiceChannel {
    twilio: TwilioClient,
    public_url: String,
}

impl VoiceChannel {
    /// `public_url` is Escalator's externally reachable base URL.
    pub fn new(
        config: TwilioConfig,
        public_url: impl Into<String>,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            twilio: TwilioClient::new(config)?,
            public_url: public_url.into().trim_end_matches('/').to_owned(),
        })
    }

    /// Where Twilio posts the digit pressed: the voice callback, naming the
    /// incident and the user called.
    fn gather_url(&self, page: &Page) -> String {
        let query: String = reqwest::Url::parse_with_params(
            "http://x/",
            [
                ("incident", page.incident.id.to_string().as_str()),
                ("user", page.user.as_str()),
            ],
        )
        .ok()
        .and_then(|u| u.query().map(str::to_owned))
        .unwrap_or_default();
        format!(
            "{}/api/v1/integrations/twilio/voice?{query}",
            self.public_url
        )
    }
}

/// The TwiML for one call; every piece of text is XML-escaped.
pub fn voice_twiml(page: &Page, gather_url: &str) -> String {
    if page.informational {
        return format!(
            "<Response><Say>Escalator update. {}</Say></Response>",
            xml_escape(&page.text)
        );
    }
    format!(
        "<Response><Gather numDigits=\"1\" action=\"{}\" method=\"POST\"><Say>Escalator page. {} \
         Press 1 to acknowledge, 2 to resolve, 3 to escalate.</Say></Gather>\
         <Say>No input received. Goodbye.</Say></Response>",
        xml_escape(gather_url),
        xml_escape(&page.text),
    )
}

/// `s` as XML text or attribute content (TwiML).
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if c.is_control() && !matches!(c, '\n' | '\t' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

impl Channel for VoiceChannel {
    fn name(&self) -> &'static str {
        "voice"
    }

    /// Messages and calls go through one provider's API.
    fn breaker_key(&self, _address: &str) -> String {
        "twilio".to_owned()
    }

    fn send<'a>(&'a self, page: &'a Page) -> SendFuture<'a> {
        Box::pin(async move {
            let twiml = voice_twiml(page, &self.gather_url(page));
            self.twilio
                .create("voice", "Calls", page, &[("Twiml", &twiml)])
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode as S;
    use serde_json::json;

    #[test]
    fn xml_special_characters_are_escaped() {
        assert_eq!(
            xml_escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/a&gt;"
        );
    }

    #[test]
    fn twilio_invalid_number_errors_are_permanent_and_named() {
        let body =
            json!({"code": 21211, "message": "The 'To' number +1555 is not valid.", "status": 400});
        match classify("SMS", S::BAD_REQUEST, &body) {
            SendResult::Permanent { error } => assert!(error.contains("21211"), "{error}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn twilio_rate_limits_and_outages_are_transient() {
        let body = json!({"code": 20429, "message": "Too Many Requests", "status": 429});
        assert!(matches!(
            classify("SMS", S::TOO_MANY_REQUESTS, &body),
            SendResult::Transient { .. }
        ));
        assert!(matches!(
            classify("SMS", S::SERVICE_UNAVAILABLE, &Value::Null),
            SendResult::Transient { .. }
        ));
    }
}
