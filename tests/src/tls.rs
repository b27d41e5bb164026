//! Throwaway TLS material for tests that need a `tls {}` block.
//!
//! Generated with the system `openssl` tool rather than a Rust crate: the tests only need a
//! PEM pair on disk, and the server under test reads it like any operator-supplied file.

use std::path::Path;
use std::time::Duration;

use crate::process::run_to_exit;
use crate::scratch::ScratchDir;

/// A self-signed certificate for `localhost`/127.0.0.1 and its private key, as PEM text.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Generates a fresh self-signed EC certificate, or says why it could not.
pub fn self_signed() -> Result<SelfSigned, String> {
    let dir = ScratchDir::new("tls").map_err(|e| e.to_string())?;
    let finished = run_to_exit(
        Path::new("openssl"),
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        dir.path(),
        Duration::from_secs(30),
    )?;
    if !finished.status.success() {
        return Err(format!("openssl failed: {}", finished.output()));
    }
    let read = |name: &str| {
        std::fs::read_to_string(dir.path().join(name)).map_err(|e| format!("{name}: {e}"))
    };
    Ok(SelfSigned {
        cert_pem: read("cert.pem")?,
        key_pem: read("key.pem")?,
    })
}
