//! TLS material for tests, made with openssl: a private CA and a leaf for
//! localhost and 127.0.0.1 that it signed, as a real deployment has. Shared
//! by the notify tests (an SMTP relay with STARTTLS) and the cli tests
//! (`--tls-cert`, an HTTPS webhook), which include this file by path.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Returns (ca.pem, cert.pem, key.pem) in a new temporary directory.
pub fn test_certificates() -> (PathBuf, PathBuf, PathBuf) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("escalator-certs-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let openssl = |args: &str| {
        let status = Command::new("openssl")
            .current_dir(&dir)
            .args(args.split(' '))
            .stderr(Stdio::null())
            .status()
            .expect("openssl is needed to make test certificates");
        assert!(status.success(), "openssl {args}");
    };
    openssl(
        "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=escalator-test-ca -keyout ca.key -out ca.pem",
    );
    openssl("req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out leaf.csr");
    openssl(
        "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile leaf.ext -out cert.pem",
    );
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}
