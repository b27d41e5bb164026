//! Throwaway TLS material for tests that need a `tls {}` block.
//!
//! [`self_signed`] uses the system `openssl` tool: the tests only need a PEM pair on disk,
//! and the server under test reads it like any operator-supplied file. A self-signed
//! certificate cannot be verified by a rustls client (webpki refuses a CA certificate as the
//! server's own), so tests with a verifying client use [`Pki`]: a CA and certificates it
//! signed, made with rcgen at test time.

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

/// A test CA with a server certificate (localhost, 127.0.0.1) and a client certificate it
/// signed, as PEM text.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

impl Pki {
    /// Fresh keys and certificates.
    pub fn generate() -> Result<Pki, rcgen::Error> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "rejoin-tests CA");
        let ca = ca.self_signed(&ca_key)?;
        let issue = |names: &[&str]| -> Result<(String, String), rcgen::Error> {
            let key = KeyPair::generate()?;
            let mut params =
                CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
            params.extended_key_usages = vec![
                rcgen::ExtendedKeyUsagePurpose::ServerAuth,
                rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            ];
            let cert = params.signed_by(&key, &ca, &ca_key)?;
            Ok((cert.pem(), key.serialize_pem()))
        };
        let (server_cert_pem, server_key_pem) = issue(&["localhost", "127.0.0.1"])?;
        let (client_cert_pem, client_key_pem) = issue(&["rejoin-tests client"])?;
        Ok(Pki {
            ca_pem: ca.pem(),
            server_cert_pem,
            server_key_pem,
            client_cert_pem,
            client_key_pem,
        })
    }

    /// The files a server config refers to as `./ca.pem`, `./cert.pem`, `./key.pem`, plus
    /// `client-cert.pem`/`client-key.pem` for clients; pass each to
    /// [`crate::TestServerBuilder::file`].
    pub fn files(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ca.pem", self.ca_pem.clone()),
            ("cert.pem", self.server_cert_pem.clone()),
            ("key.pem", self.server_key_pem.clone()),
            ("client-cert.pem", self.client_cert_pem.clone()),
            ("client-key.pem", self.client_key_pem.clone()),
        ]
    }
}
