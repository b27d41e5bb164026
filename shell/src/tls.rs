//! TLS with rustls: turning `tls {}` blocks into rustls configurations, and the handshakes
//! themselves, each bounded by the block's `timeout`.
//!
//! Two sides, each one type:
//! - [`Acceptor`] ([`server_acceptor`]): a listener's side. The client port and the leafnode
//!   listener write their INFO in plaintext, then call [`Acceptor::accept`]; with
//!   `handshake_first` they call it before writing anything.
//! - [`Connector`] ([`client_connector`]): a dialing side (leafnode remotes). After reading
//!   the peer's plaintext INFO it calls [`Connector::connect`] before sending CONNECT; with
//!   `handshake_first` right after dialing.
//!
//! Trust comes from `ca_file` only: rejoin deliberately bundles no public roots and reads no
//! system store, so what a server accepts is exactly what its configuration names.
//! Certificates and keys are read when the configuration is loaded (startup and reload);
//! errors name the option and the file.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use rejoin_core::config::{Config, TlsConfig};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::transport::Stream;

/// A stream after a server-side handshake.
pub type ServerStream<S> = tokio_rustls::server::TlsStream<S>;
/// A stream after a client-side handshake.
pub type ClientStream<S> = tokio_rustls::client::TlsStream<S>;

/// Why a `tls {}` block cannot be turned into a rustls configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A named file could not be read.
    #[error("{option} {file}: {source}")]
    Read {
        /// `cert_file`, `key_file` or `ca_file`.
        option: &'static str,
        file: String,
        source: io::Error,
    },
    /// A named file is not valid PEM.
    #[error("{option} {file}: invalid PEM: {reason}")]
    Pem {
        option: &'static str,
        file: String,
        reason: String,
    },
    /// A certificate file holds no certificate.
    #[error("{option} {file}: no certificate found")]
    NoCertificate { option: &'static str, file: String },
    /// The key file holds no private key.
    #[error("key_file {file}: no private key found")]
    NoKey { file: String },
    /// rustls refused the certificate and key (unsupported key, or they do not match).
    #[error("cert_file {cert} and key_file {key}: {source}")]
    KeyPair {
        cert: String,
        key: String,
        source: Box<rustls::Error>,
    },
    /// rustls refused a CA certificate.
    #[error("ca_file {file}: {reason}")]
    Ca { file: String, reason: String },
    /// A listener needs its own certificate.
    #[error("cert_file and key_file are required to accept TLS")]
    MissingCertificate,
    /// Verifying a peer needs something to trust.
    #[error("ca_file is required (rejoin trusts no system roots)")]
    MissingCa,
    /// The name to verify the peer's certificate against is not a DNS name or IP address.
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    /// rustls refused the protocol versions (only with a broken crypto provider).
    #[error("TLS setup: {0}")]
    Setup(#[source] Box<rustls::Error>),
}

/// Why a handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The peer did not finish within the block's `timeout`.
    #[error("TLS handshake timed out after {0:?}")]
    TimedOut(Duration),
    /// The peer spoke something else, refused our certificate, or presented a bad one.
    #[error("TLS handshake error: {0}")]
    Failed(#[source] io::Error),
}

/// A listener's TLS side, built from its `tls {}` block.
#[derive(Clone)]
pub struct Acceptor {
    inner: tokio_rustls::TlsAcceptor,
    timeout: Duration,
    verify: bool,
    handshake_first: bool,
}

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acceptor")
            .field("timeout", &self.timeout)
            .field("verify", &self.verify)
            .field("handshake_first", &self.handshake_first)
            .finish_non_exhaustive()
    }
}

impl Acceptor {
    /// Run the server side of the handshake on `stream`, within the block's `timeout`.
    ///
    /// The peer must not have been sent anything it could mistake for TLS, and nothing may
    /// have been read from `stream` past the point where the peer starts its handshake
    /// (buffered bytes would be lost).
    pub async fn accept<S: Stream>(&self, stream: S) -> Result<ServerStream<S>, HandshakeError> {
        match tokio::time::timeout(self.timeout, self.inner.accept(stream)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(HandshakeError::Failed(e)),
            Err(_) => Err(HandshakeError::TimedOut(self.timeout)),
        }
    }

    /// The handshake timeout (INFO `tls_timeout`, `/varz`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether peers must present a certificate signed by `ca_file` (INFO `tls_verify`).
    pub fn verifies_peers(&self) -> bool {
        self.verify
    }

    /// Whether the handshake comes before any protocol byte (else after our INFO).
    pub fn handshake_first(&self) -> bool {
        self.handshake_first
    }
}

/// A dialing side's TLS settings for one peer name, built from a remote's `tls {}` block.
#[derive(Clone)]
pub struct Connector {
    inner: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
    timeout: Duration,
    handshake_first: bool,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("server_name", &self.server_name)
            .field("timeout", &self.timeout)
            .field("handshake_first", &self.handshake_first)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Upgrade an established connection: run the client side of the handshake on `stream`,
    /// within the block's `timeout`, verifying the peer against `ca_file` and the server
    /// name.
    ///
    /// Leafnode soliciting side: dial, read the hub's INFO line in plaintext, then (when the
    /// INFO says `tls_required` or the remote has a `tls {}` block) call this and send
    /// CONNECT over the returned stream. The hub writes nothing after its INFO until the
    /// handshake, so reading exactly up to the INFO's `\r\n` loses nothing; do not hand over
    /// a stream whose reader buffered further bytes. With [`Connector::handshake_first`],
    /// call this right after dialing and read INFO over TLS.
    pub async fn connect<S: Stream>(&self, stream: S) -> Result<ClientStream<S>, HandshakeError> {
        let connect = self.inner.connect(self.server_name.clone(), stream);
        match tokio::time::timeout(self.timeout, connect).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(HandshakeError::Failed(e)),
            Err(_) => Err(HandshakeError::TimedOut(self.timeout)),
        }
    }

    /// Whether the handshake comes before any protocol byte (else after the peer's INFO).
    pub fn handshake_first(&self) -> bool {
        self.handshake_first
    }

    /// The name the peer's certificate is checked against (and sent as SNI when a DNS name).
    pub fn server_name(&self) -> &ServerName<'static> {
        &self.server_name
    }
}

/// The accepting side of `cfg`: its certificate and key, and with `verify` a requirement for
/// peer certificates signed by `ca_file`.
pub fn server_acceptor(cfg: &TlsConfig) -> Result<Acceptor, TlsError> {
    Ok(Acceptor {
        inner: tokio_rustls::TlsAcceptor::from(server_config(cfg)?),
        timeout: cfg.handshake_timeout(),
        verify: cfg.verify,
        handshake_first: cfg.handshake_first,
    })
}

/// The dialing side of `cfg` towards `server_name` (a URL's host: a DNS name or an IP
/// address, IPv6 with or without brackets). `cert_file`/`key_file`, when given, are
/// presented to peers that ask for a client certificate.
pub fn client_connector(cfg: &TlsConfig, server_name: &str) -> Result<Connector, TlsError> {
    let host = server_name
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(server_name);
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| TlsError::ServerName(server_name.to_string()))?;
    Ok(Connector {
        inner: tokio_rustls::TlsConnector::from(client_config(cfg)?),
        server_name: name,
        timeout: cfg.handshake_timeout(),
        handshake_first: cfg.handshake_first,
    })
}

/// The rustls server configuration for a listener's `tls {}` block.
pub fn server_config(cfg: &TlsConfig) -> Result<Arc<ServerConfig>, TlsError> {
    let (Some(cert), Some(key)) = (&cfg.cert_file, &cfg.key_file) else {
        return Err(TlsError::MissingCertificate);
    };
    let chain = load_certs("cert_file", cert)?;
    let private = load_key(key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(Box::new(e)))?;
    let builder = if cfg.verify {
        let ca = cfg.ca_file.as_deref().ok_or(TlsError::MissingCa)?;
        let roots = load_roots(ca)?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| TlsError::Ca {
                file: ca.to_string(),
                reason: e.to_string(),
            })?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(chain, private)
        .map_err(|source| TlsError::KeyPair {
            cert: cert.clone(),
            key: key.clone(),
            source: Box::new(source),
        })?;
    Ok(Arc::new(config))
}

/// The rustls client configuration for a remote's `tls {}` block.
pub fn client_config(cfg: &TlsConfig) -> Result<Arc<ClientConfig>, TlsError> {
    let ca = cfg.ca_file.as_deref().ok_or(TlsError::MissingCa)?;
    let roots = load_roots(ca)?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(Box::new(e)))?
        .with_root_certificates(roots);
    let config = match (&cfg.cert_file, &cfg.key_file) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(load_certs("cert_file", cert)?, load_key(key)?)
            .map_err(|source| TlsError::KeyPair {
                cert: cert.clone(),
                key: key.clone(),
                source: Box::new(source),
            })?,
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Read every file a configuration's `tls {}` blocks name, so a bad file is reported when
/// the configuration is loaded (`-t`, startup, reload) rather than at the first connection.
/// Listener blocks are built completely; remote blocks only have their files read (whether
/// a remote can be dialed is the leafnode code's call).
pub fn check_files(cfg: &Config) -> Result<(), (String, TlsError)> {
    let listeners = [
        ("tls", cfg.tls.as_ref()),
        ("leafnodes.tls", cfg.leafnodes.tls.as_ref()),
    ];
    for (path, tls) in listeners {
        if let Some(tls) = tls {
            server_config(tls).map_err(|e| (path.to_string(), e))?;
        }
    }
    for (i, r) in cfg.leafnodes.remotes.iter().enumerate() {
        let Some(tls) = &r.tls else { continue };
        let path = || format!("leafnodes.remotes[{i}].tls");
        for (option, file) in [("cert_file", &tls.cert_file), ("ca_file", &tls.ca_file)] {
            if let Some(file) = file {
                load_certs(option, file).map_err(|e| (path(), e))?;
            }
        }
        if let Some(key) = &tls.key_file {
            load_key(key).map_err(|e| (path(), e))?;
        }
    }
    Ok(())
}

/// Only ring is compiled in; naming it explicitly keeps us independent of rustls' process-wide
/// default provider.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(option: &'static str, file: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(file).map_err(|source| TlsError::Read {
        option,
        file: file.to_string(),
        source,
    })
}

fn load_certs(option: &'static str, file: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(option, file)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            option,
            file: file.to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            option,
            file: file.to_string(),
        });
    }
    Ok(certs)
}

fn load_key(file: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read("key_file", file)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            file: file.to_string(),
        },
        e => TlsError::Pem {
            option: "key_file",
            file: file.to_string(),
            reason: e.to_string(),
        },
    })
}

fn load_roots(file: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs("ca_file", file)? {
        roots.add(cert).map_err(|e| TlsError::Ca {
            file: file.to_string(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests;
