//! The channel adapters a node sends through, built from the configuration's
//! `channels:` section: secrets are read from the environment here, at build
//! time, and never stored or logged. A channel that cannot be built is left
//! out, so its pages fail at once and fall back to the user's next contact
//! method, with the reason on the log.

use escalator_core::config::TwilioChannel as TwilioSection;
use escalator_core::config::{
    Channels as ChannelConfig, SlackChannel as SlackSection, SmtpChannel,
};
use escalator_notify::{
    Breakers, Channel, ChannelSet, EmailChannel, EmailConfig, SlackChannel, SlackConfig,
    SmsChannel, TeamsChannel, TwilioConfig, VoiceChannel, WebhookSender,
};
use std::sync::Arc;
use std::time::Duration;

/// The adapters for the configuration in force, shared by the notifier and
/// the hand-off notices, rebuilt when a new revision is applied; the circuit
/// breakers outlive them.
pub struct ChannelCache {
    webhook: WebhookSender,
    public_url: String,
    breakers: Arc<Breakers>,
    built: std::sync::Mutex<Option<(i64, Arc<ChannelSet>)>>,
}

impl ChannelCache {
    pub fn new(webhook: WebhookSender, public_url: String, breakers: Arc<Breakers>) -> Self {
        Self {
            webhook,
            public_url,
            breakers,
            built: std::sync::Mutex::new(None),
        }
    }

    /// The adapters for `catalog`'s configuration.
    pub fn for_catalog(&self, catalog: &escalator_core::directory::Catalog) -> Arc<ChannelSet> {
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        match &*built {
            Some((revision, set)) if *revision == catalog.revision() => set.clone(),
            _ => {
                let set = Arc::new(build(
                    &catalog.config().channels,
                    &self.webhook,
                    &self.public_url,
                    self.breakers.clone(),
                ));
                *built = Some((catalog.revision(), set.clone()));
                set
            }
        }
    }
}

/// How long one send may take on any channel.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

type Built = Result<Arc<dyn Channel>, String>;

/// The adapters for `config`, guarded by `breakers` (kept across rebuilds).
pub fn build(
    config: &ChannelConfig,
    webhook: &WebhookSender,
    public_url: &str,
    breakers: Arc<Breakers>,
) -> ChannelSet {
    let mut set = ChannelSet::new(breakers).with(Arc::new(webhook.clone()));
    let mut add = |name: &str, built: Built| match built {
        Ok(channel) => set.insert(channel),
        Err(e) => tracing::error!("{name} channel left out: {e}"),
    };
    add("teams", teams());
    if let Some(smtp) = &config.smtp {
        add("email", email(smtp));
    }
    if let Some(slack) = &config.slack {
        add("slack", slack_channel(slack));
    }
    if let Some(twilio) = &config.twilio {
        add("sms", twilio_channel(twilio, None));
        add("voice", twilio_channel(twilio, Some(public_url)));
    }
    set
}

fn teams() -> Built {
    Ok(Arc::new(
        TeamsChannel::new(SEND_TIMEOUT).map_err(|e| e.to_string())?,
    ))
}

fn email(smtp: &SmtpChannel) -> Built {
    let password = smtp
        .password
        .as_ref()
        .map(|p| p.resolve())
        .transpose()
        .map_err(|e| e.to_string())?;
    let root_certificate = smtp
        .ca_file
        .as_ref()
        .map(|path| std::fs::read(path).map_err(|e| format!("channels.smtp.ca_file {path:?}: {e}")))
        .transpose()?;
    let email = EmailChannel::new(EmailConfig {
        host: smtp.host.clone(),
        port: smtp.port,
        from: smtp.from.clone(),
        starttls: smtp.starttls,
        username: smtp.username.clone(),
        password,
        hello_name: None,
        timeout: SEND_TIMEOUT,
        root_certificate,
    })
    .map_err(|e| e.to_string())?;
    Ok(Arc::new(email))
}

fn slack_channel(slack: &SlackSection) -> Built {
    let bot_token = slack.bot_token.resolve().map_err(|e| e.to_string())?;
    let slack = SlackChannel::new(SlackConfig {
        api_url: slack.api_url.clone(),
        bot_token,
        timeout: SEND_TIMEOUT,
    })
    .map_err(|e| e.to_string())?;
    Ok(Arc::new(slack))
}

/// SMS, or voice when given the public URL Twilio calls back for key presses.
fn twilio_channel(twilio: &TwilioSection, voice_callbacks_to: Option<&str>) -> Built {
    let config = TwilioConfig {
        api_url: twilio.api_url.clone(),
        account_sid: twilio.account_sid.clone(),
        auth_token: twilio.auth_token.resolve().map_err(|e| e.to_string())?,
        from: twilio.from.clone(),
        timeout: SEND_TIMEOUT,
    };
    Ok(match voice_callbacks_to {
        None => Arc::new(SmsChannel::new(config).map_err(|e| e.to_string())?),
        Some(public_url) => {
            Arc::new(VoiceChannel::new(config, public_url).map_err(|e| e.to_string())?)
        }
    })
}
