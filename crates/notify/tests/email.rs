//! Email over SMTP against a real SMTP server: aiosmtpd (PyPI package
//! `aiosmtpd`) with the `smtp_sink.py` handler beside this file, which stores
//! every accepted message and rejects two special recipients as relays do.

#[path = "support/certs.rs"]
mod certs;
mod common;

use common::page;
use escalator_notify::{Channel, EmailChannel, EmailConfig, SendResult};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running aiosmtpd, stopped when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    out_dir: PathBuf,
}

impl SmtpServer {
    fn start(name: &str) -> Self {
        Self::start_with(name, &[])
    }

    /// With STARTTLS offered, and required, with this certificate and key.
    fn start_tls(name: &str, cert: &Path, key: &Path) -> Self {
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        Self::start_with(name, &["--tlscert", &cert, "--tlskey", &key])
    }

    fn start_with(name: &str, options: &[&str]) -> Self {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let out_dir =
            std::env::temp_dir().join(format!("escalator-smtp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out_dir);
        std::fs::create_dir_all(&out_dir).unwrap();
        let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        let mut child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(options)
            .args(["-c", "smtp_sink.Sink"])
            .arg(&out_dir)
            .env("PYTHONPATH", &tests_dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect(
                "cannot run python3; the email tests need python3 with the PyPI package `aiosmtpd`",
            );
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut stderr = String::new();
                use std::io::Read;
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr)
                    .unwrap();
                panic!(
                    "aiosmtpd exited ({status}) before listening. The email tests need the PyPI \
                     package `aiosmtpd` (pip install aiosmtpd). Its error:\n{stderr}"
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on {addr} within 15 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            out_dir,
        }
    }

    fn channel(&self) -> EmailChannel {
        EmailChannel::new(config(self.port, false)).unwrap()
    }

    /// Every message received, as raw RFC 5322 text.
    fn received(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(&self.out_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.out_dir);
    }
}

fn config(port: u16, starttls: bool) -> EmailConfig {
    EmailConfig {
        host: "127.0.0.1".into(),
        port,
        from: "Escalator <pager@esc.example.com>".into(),
        starttls,
        username: None,
        password: None,
        hello_name: Some("escalator.test".into()),
        timeout: Duration::from_secs(10),
        root_certificate: None,
    }
}

/// The value of header `name` in a raw message (first occurrence, unfolded).
fn header<'a>(raw: &'a str, name: &str) -> &'a str {
    let head = raw.split("\r\n\r\n").next().unwrap();
    head.split("\r\n")
        .find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .unwrap_or_else(|| panic!("no {name} header in:\n{raw}"))
}

/// The body, decoded from quoted-printable (which lettre picks for text).
fn body(raw: &str) -> String {
    assert_eq!(header(raw, "Content-Transfer-Encoding"), "quoted-printable");
    let encoded = raw.split_once("\r\n\r\n").unwrap().1.replace("=\r\n", "");
    let mut bytes = Vec::new();
    let mut rest = encoded.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'=' && tail.len() >= 2 {
            let hex = std::str::from_utf8(&tail[..2]).unwrap();
            bytes.push(u8::from_str_radix(hex, 16).unwrap());
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).unwrap().replace("\r\n", "\n")
}

#[tokio::test]
async fn sends_a_plain_text_page_with_links_and_idempotency_headers() {
    let smtp = SmtpServer::start("delivers");
    let page = page("alice@example.com");

    let result = smtp.channel().send(&page).await;

    assert!(matches!(result, SendResult::Delivered { .. }), "{result:?}");
    let received = smtp.received();
    assert_eq!(received.len(), 1);
    let raw = &received[0];
    assert_eq!(header(raw, "X-Envelope-From"), "pager@esc.example.com");
    assert_eq!(header(raw, "X-Envelope-To"), "alice@example.com");
    assert_eq!(header(raw, "From"), "Escalator <pager@esc.example.com>");
    assert_eq!(header(raw, "To"), "alice@example.com");
    assert_eq!(
        header(raw, "Subject"),
        "[P1] #4821 Checkout latency high (checkout, triggered)"
    );
    assert_eq!(
        header(raw, "X-Escalator-Idempotency-Key"),
        "notif-77-attempt-key"
    );
    let message_id = header(raw, "Message-ID");
    assert!(
        message_id.starts_with("<escalator.") && message_id.ends_with("@esc.example.com>"),
        "{message_id}"
    );
    assert!(header(raw, "Content-Type").starts_with("text/plain"));
    let body = body(raw);
    assert!(body.contains(&page.text), "{body}");
    assert!(
        body.contains("https://esc.example.com/incidents/4821"),
        "{body}"
    );
    assert!(
        body.contains("https://esc.example.com/ack/4821?user=alice&sig=abc"),
        "{body}"
    );
}

#[tokio::test]
async fn a_re_sent_page_keeps_its_message_id() {
    let smtp = SmtpServer::start("resend");
    let channel = smtp.channel();
    let page = page("alice@example.com");
    channel.send(&page).await;
    channel.send(&page).await;
    let mut other = page.clone();
    other.idempotency_key = "another-notification".into();
    channel.send(&other).await;

    let ids: Vec<String> = smtp
        .received()
        .iter()
        .map(|raw| header(raw, "Message-ID").to_owned())
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
}

#[tokio::test]
async fn an_invalid_address_is_permanent_and_nothing_is_sent() {
    let smtp = SmtpServer::start("invalid");
    let result = smtp.channel().send(&page("not an address")).await;
    assert!(matches!(result, SendResult::Permanent { .. }), "{result:?}");
    assert!(smtp.received().is_empty());
}

#[tokio::test]
async fn a_5xx_rejection_is_permanent() {
    let smtp = SmtpServer::start("rejects");
    match smtp.channel().send(&page("rejected@example.com")).await {
        SendResult::Permanent { error } => assert!(error.contains("550"), "{error}"),
        other => panic!("expected permanent, got {other:?}"),
    }
}

#[tokio::test]
async fn a_4xx_rejection_is_transient() {
    let smtp = SmtpServer::start("busy");
    match smtp.channel().send(&page("busy@example.com")).await {
        SendResult::Transient { error } => assert!(error.contains("451"), "{error}"),
        other => panic!("expected transient, got {other:?}"),
    }
}

#[tokio::test]
async fn required_starttls_refuses_to_send_in_the_clear() {
    let smtp = SmtpServer::start("starttls");
    let channel = EmailChannel::new(config(smtp.port, true)).unwrap();
    let result = channel.send(&page("alice@example.com")).await;
    assert!(
        !matches!(result, SendResult::Delivered { .. }),
        "{result:?}"
    );
    assert!(smtp.received().is_empty());
}

#[tokio::test]
async fn sends_over_starttls_to_a_relay_whose_private_ca_is_trusted() {
    let (ca, cert, key) = certs::test_certificates();
    let smtp = SmtpServer::start_tls("tls", &cert, &key);
    let mut trusting = config(smtp.port, true);
    trusting.root_certificate = Some(std::fs::read(&ca).unwrap());
    let result = EmailChannel::new(trusting)
        .unwrap()
        .send(&page("alice@example.com"))
        .await;
    assert!(matches!(result, SendResult::Delivered { .. }), "{result:?}");
    let received = smtp.received();
    assert_eq!(received.len(), 1);
    assert_eq!(header(&received[0], "To"), "alice@example.com");

    // Without the CA the certificate is not trusted, and nothing is sent:
    // neither in the clear (the relay requires STARTTLS) nor unverified.
    let result = EmailChannel::new(config(smtp.port, true))
        .unwrap()
        .send(&page("bob@example.com"))
        .await;
    assert!(
        !matches!(result, SendResult::Delivered { .. }),
        "{result:?}"
    );
    assert_eq!(smtp.received().len(), 1);
}

#[test]
fn a_ca_file_that_is_not_pem_is_a_configuration_error() {
    let mut cfg = config(25, true);
    cfg.root_certificate = Some(b"not a certificate".to_vec());
    assert!(EmailChannel::new(cfg).is_err());
}

#[tokio::test]
async fn an_unreachable_server_is_transient() {
    let channel = EmailChannel::new(config(9, false)).unwrap();
    let result = channel.send(&page("alice@example.com")).await;
    assert!(matches!(result, SendResult::Transient { .. }), "{result:?}");
}

#[test]
fn a_bad_from_address_is_a_configuration_error() {
    let mut cfg = config(25, false);
    cfg.from = "nobody".into();
    assert!(EmailChannel::new(cfg).is_err());
}
