//! Email adapter: one plain-text message per page over SMTP. The Message-ID is
//! derived from the idempotency key, so a re-sent page threads with (and can be
//! deduplicated against) the first.

use crate::{Channel, Page, SendFuture, SendResult};
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sha2::{Digest, Sha256};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    /// `Escalator <pager@example.com>` or a bare address.
    pub from: String,
    /// Require STARTTLS (refuse to send in the clear) when true; plain SMTP
    /// when false, for a relay on localhost or a trusted network.
    pub starttls: bool,
    pub username: Option<String>,
    /// Never logged.
    pub password: Option<String>,
    /// The EHLO name; `localhost` when unset.
    pub hello_name: Option<String>,
    pub timeout: Duration,
    /// A PEM CA certificate trusted besides the system's, for a relay whose
    /// certificate a private CA signed.
    pub root_certificate: Option<Vec<u8>>,
}

/// Email settings that cannot work, found before the first page.
#[derive(Debug, thiserror::Error)]
pub enum EmailConfigError {
    #[error("email from address {from:?} is not valid: {reason}")]
    From { from: String, reason: String },
    #[error("email TLS set-up for {host:?} failed: {reason}")]
    Tls { host: String, reason: String },
}

#[derive(Clone)]
pub struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl EmailChannel {
    pub fn new(config: EmailConfig) -> Result<Self, EmailConfigError> {
        crate::install_crypto();
        let from: Mailbox = config.from.parse().map_err(|e| EmailConfigError::From {
            from: config.from.clone(),
            reason: format!("{e}"),
        })?;
        let tls = if config.starttls {
            let tls_error = |e: lettre::transport::smtp::Error| EmailConfigError::Tls {
                host: config.host.clone(),
                reason: e.to_string(),
            };
            let mut params = TlsParameters::builder(config.host.clone());
            if let Some(pem) = &config.root_certificate {
                // lettre takes a file without any certificate in it as none.
                const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
                if !pem.windows(BEGIN.len()).any(|w| w == BEGIN) {
                    return Err(EmailConfigError::Tls {
                        host: config.host.clone(),
                        reason: "the CA file holds no PEM certificate".into(),
                    });
                }
                params =
                    params.add_root_certificate(Certificate::from_pem(pem).map_err(tls_error)?);
            }
            Tls::Required(params.build().map_err(tls_error)?)
        } else {
            Tls::None
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        if let Some(name) = config.hello_name {
            builder = builder.hello_name(ClientId::Domain(name));
        }
        if let Some(username) = config.username {
            builder = builder.credentials(Credentials::new(
                username,
                config.password.unwrap_or_default(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }

    async fn deliver(&self, page: &Page) -> SendResult {
        let message = match email_message(&self.from, page) {
            Ok(m) => m,
            Err(error) => return SendResult::Permanent { error },
        };
        match self.transport.send(message).await {
            Ok(resp) => SendResult::Delivered {
                detail: format!(
                    "SMTP {}: {}",
                    resp.code(),
                    resp.message().collect::<Vec<_>>().join(" ")
                ),
            },
            Err(e) if e.is_permanent() => SendResult::Permanent {
                error: format!("SMTP {e}"),
            },
            Err(e) => SendResult::Transient {
                error: format!("SMTP {e}"),
            },
        }
    }
}

impl Channel for EmailChannel {
    fn name(&self) -> &'static str {
        "email"
    }

    fn send<'a>(&'a self, page: &'a Page) -> SendFuture<'a> {
        Box::pin(self.deliver(page))
    }
}

/// The message for `page`, or why it cannot be built (a bad address, which
/// no retry will fix).
pub fn email_message(from: &Mailbox, page: &Page) -> Result<Message, String> {
    let to: Mailbox = page
        .address
        .parse()
        .map_err(|e| format!("invalid email address {:?}: {e}", page.address))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&page.subject)
        .message_id(Some(message_id(&page.idempotency_key, from)))
        .header(IdempotencyKey(page.idempotency_key.clone()))
        .header(ContentType::TEXT_PLAIN)
        .body(email_body(page))
        .map_err(|e| format!("cannot build email: {e}"))
}

/// The plain-text body: the page text, then the links.
pub fn email_body(page: &Page) -> String {
    if page.notice {
        return format!(
            "{}\n\nOpen: {}\n\n-- \nEscalator: a notice for {}.\n",
            page.text, page.incident.url, page.user,
        );
    }
    if page.informational {
        return format!(
            "{}\n\nOpen the incident: {}\n\n-- \nEscalator: {} is kept informed of this incident.\n",
            page.text, page.incident.url, page.user,
        );
    }
    format!(
        "{}\n\nOpen the incident: {}\nAcknowledge: {}\n\n-- \nEscalator: {} is paged as {} (level {}, round {}).\n",
        page.text,
        page.incident.url,
        page.ack_url,
        page.user,
        page.contact_method,
        page.incident.level,
        page.incident.round,
    )
}

/// `<escalator.<hash of key>@<sender's domain>>`: stable across re-sends and
/// valid whatever characters the key holds.
fn message_id(key: &str, from: &Mailbox) -> String {
    let hash = hex::encode(&Sha256::digest(key.as_bytes())[..16]);
    format!("<escalator.{hash}@{}>", from.email.domain())
}

/// `X-Escalator-Idempotency-Key`: the raw key, for receivers that dedupe.
#[derive(Clone)]
struct IdempotencyKey(String);

impl Header for IdempotencyKey {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Escalator-Idempotency-Key")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}
