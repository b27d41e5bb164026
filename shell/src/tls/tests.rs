//! Configurations built from certificates made at test time (rcgen), and real handshakes
//! over in-memory pipes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("rejoin-tls-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, contents: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Ca {
            cert: params.self_signed(&key).unwrap(),
            key,
        }
    }

    /// A leaf certificate and key (PEM) for `names`, usable as server and client.
    fn issue(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Files for one CA, a server certificate for localhost/127.0.0.1 and a client certificate.
struct Pki {
    dir: Scratch,
}

impl Pki {
    fn new() -> Pki {
        let dir = Scratch::new();
        let ca = Ca::new("rejoin test CA");
        dir.write("ca.pem", &ca.cert.pem());
        let (cert, key) = ca.issue(&["localhost", "127.0.0.1"]);
        dir.write("server.pem", &cert);
        dir.write("server-key.pem", &key);
        let (cert, key) = ca.issue(&["client"]);
        dir.write("client.pem", &cert);
        dir.write("client-key.pem", &key);
        Pki { dir }
    }

    fn file(&self, name: &str) -> Option<String> {
        Some(self.dir.path(name))
    }

    fn server(&self) -> TlsConfig {
        TlsConfig {
            cert_file: self.file("server.pem"),
            key_file: self.file("server-key.pem"),
            timeout: Duration::from_secs(5),
            ..TlsConfig::default()
        }
    }

    fn verifying_server(&self) -> TlsConfig {
        TlsConfig {
            ca_file: self.file("ca.pem"),
            verify: true,
            ..self.server()
        }
    }

    fn client(&self) -> TlsConfig {
        TlsConfig {
            ca_file: self.file("ca.pem"),
            timeout: Duration::from_secs(5),
            ..TlsConfig::default()
        }
    }

    fn client_with_cert(&self) -> TlsConfig {
        TlsConfig {
            cert_file: self.file("client.pem"),
            key_file: self.file("client-key.pem"),
            ..self.client()
        }
    }
}

/// Handshake both ends over a pipe; on success, one line each way.
async fn handshake(
    acceptor: &Acceptor,
    connector: &Connector,
) -> (Result<(), HandshakeError>, Result<(), HandshakeError>) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let server = async {
        let mut s = acceptor.accept(a).await?;
        let mut line = [0u8; 6];
        s.read_exact(&mut line)
            .await
            .map_err(HandshakeError::Failed)?;
        assert_eq!(&line, b"PING\r\n");
        s.write_all(b"PONG\r\n")
            .await
            .map_err(HandshakeError::Failed)?;
        s.flush().await.map_err(HandshakeError::Failed)?;
        Ok(())
    };
    let client = async {
        let mut s = connector.connect(b).await?;
        s.write_all(b"PING\r\n")
            .await
            .map_err(HandshakeError::Failed)?;
        s.flush().await.map_err(HandshakeError::Failed)?;
        let mut line = [0u8; 6];
        s.read_exact(&mut line)
            .await
            .map_err(HandshakeError::Failed)?;
        assert_eq!(&line, b"PONG\r\n");
        Ok(())
    };
    tokio::join!(server, client)
}

#[tokio::test]
async fn server_and_client_talk_over_tls() {
    let pki = Pki::new();
    let acceptor = server_acceptor(&pki.server()).unwrap();
    assert!(!acceptor.verifies_peers() && !acceptor.handshake_first());
    assert_eq!(acceptor.timeout(), Duration::from_secs(5));
    for name in ["localhost", "127.0.0.1"] {
        let connector = client_connector(&pki.client(), name).unwrap();
        let (s, c) = handshake(&acceptor, &connector).await;
        s.unwrap();
        c.unwrap();
    }
}

#[tokio::test]
async fn verify_requires_a_client_certificate_signed_by_ca_file() {
    let pki = Pki::new();
    let acceptor = server_acceptor(&pki.verifying_server()).unwrap();
    assert!(acceptor.verifies_peers());

    let with_cert = client_connector(&pki.client_with_cert(), "localhost").unwrap();
    let (s, c) = handshake(&acceptor, &with_cert).await;
    s.unwrap();
    c.unwrap();

    let without = client_connector(&pki.client(), "localhost").unwrap();
    let (s, _) = handshake(&acceptor, &without).await;
    assert!(matches!(s, Err(HandshakeError::Failed(_))), "{s:?}");

    // A certificate from another CA is refused as well.
    let other = Ca::new("other CA");
    let (cert, key) = other.issue(&["client"]);
    let stranger = TlsConfig {
        cert_file: Some(pki.dir.write("stranger.pem", &cert)),
        key_file: Some(pki.dir.write("stranger-key.pem", &key)),
        ..pki.client()
    };
    let stranger = client_connector(&stranger, "localhost").unwrap();
    let (s, _) = handshake(&acceptor, &stranger).await;
    assert!(matches!(s, Err(HandshakeError::Failed(_))), "{s:?}");
}

#[tokio::test]
async fn client_refuses_unknown_ca_and_wrong_name() {
    let pki = Pki::new();
    let acceptor = server_acceptor(&pki.server()).unwrap();

    let wrong_name = client_connector(&pki.client(), "other.example").unwrap();
    let (_, c) = handshake(&acceptor, &wrong_name).await;
    assert!(matches!(c, Err(HandshakeError::Failed(_))), "{c:?}");

    let other = Ca::new("other CA");
    let untrusting = TlsConfig {
        ca_file: Some(pki.dir.write("other-ca.pem", &other.cert.pem())),
        ..pki.client()
    };
    let untrusting = client_connector(&untrusting, "localhost").unwrap();
    let (_, c) = handshake(&acceptor, &untrusting).await;
    let err = c.unwrap_err();
    assert!(err.to_string().starts_with("TLS handshake error:"), "{err}");
}

#[tokio::test]
async fn handshake_times_out_when_the_peer_is_silent() {
    let pki = Pki::new();
    let acceptor = server_acceptor(&TlsConfig {
        timeout: Duration::from_millis(100),
        ..pki.server()
    })
    .unwrap();
    // Keep the peer end open: a closed one would fail the handshake instead.
    let (a, _peer) = tokio::io::duplex(1024);
    let err = acceptor.accept(a).await.unwrap_err();
    assert!(
        matches!(err, HandshakeError::TimedOut(t) if t == Duration::from_millis(100)),
        "{err}"
    );
}

#[test]
fn server_names() {
    let pki = Pki::new();
    let cfg = pki.client();
    for (given, expected) in [
        ("hub.example", "hub.example"),
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
    ] {
        let c = client_connector(&cfg, given).unwrap();
        assert_eq!(c.server_name().to_str(), expected, "{given}");
    }
    let err = client_connector(&cfg, "not a name").unwrap_err();
    assert_eq!(err.to_string(), "invalid TLS server name \"not a name\"");
    let first = TlsConfig {
        handshake_first: true,
        ..cfg
    };
    assert!(client_connector(&first, "h").unwrap().handshake_first());
}

#[test]
fn load_errors_name_the_option_and_file() {
    let pki = Pki::new();
    let missing = pki.dir.path("missing.pem");
    let err = server_acceptor(&TlsConfig {
        cert_file: Some(missing.clone()),
        ..pki.server()
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::Read {
                option: "cert_file",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("cert_file {missing}: ")),
        "{err}"
    );

    let empty = pki.dir.write("empty.pem", "");
    let err = server_acceptor(&TlsConfig {
        cert_file: Some(empty.clone()),
        ..pki.server()
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cert_file {empty}: no certificate found")
    );

    let garbled = pki.dir.write(
        "garbled.pem",
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    );
    let err = client_connector(
        &TlsConfig {
            ca_file: Some(garbled.clone()),
            ..pki.client()
        },
        "h",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("ca_file {garbled}: invalid PEM")),
        "{err}"
    );

    // A certificate where the key should be.
    let server_pem = pki.dir.path("server.pem");
    let err = server_acceptor(&TlsConfig {
        key_file: Some(server_pem.clone()),
        ..pki.server()
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("key_file {server_pem}: no private key found")
    );

    // The client's key does not belong to the server's certificate.
    let err = server_acceptor(&TlsConfig {
        key_file: pki.file("client-key.pem"),
        ..pki.server()
    })
    .unwrap_err();
    assert!(matches!(err, TlsError::KeyPair { .. }), "{err}");
    assert!(err.to_string().contains("client-key.pem"), "{err}");
}

#[test]
fn missing_pieces() {
    let pki = Pki::new();
    let err = server_acceptor(&TlsConfig::default()).unwrap_err();
    assert!(matches!(err, TlsError::MissingCertificate), "{err}");
    let err = server_acceptor(&TlsConfig {
        verify: true,
        ..pki.server()
    })
    .unwrap_err();
    assert!(matches!(err, TlsError::MissingCa), "{err}");
    let err = client_connector(&TlsConfig::default(), "h").unwrap_err();
    assert!(matches!(err, TlsError::MissingCa), "{err}");
    // A CA file must hold at least one certificate.
    let err = client_connector(
        &TlsConfig {
            ca_file: pki.file("server-key.pem"),
            ..pki.client()
        },
        "h",
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::NoCertificate {
                option: "ca_file",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn check_files_reports_the_block() {
    let pki = Pki::new();
    let mut cfg = Config {
        tls: Some(pki.server()),
        ..Config::default()
    };
    check_files(&cfg).unwrap();
    cfg.leafnodes.tls = Some(TlsConfig {
        cert_file: Some(pki.dir.path("nope.pem")),
        ..pki.server()
    });
    let (path, err) = check_files(&cfg).unwrap_err();
    assert_eq!(path, "leafnodes.tls");
    assert!(matches!(err, TlsError::Read { .. }), "{err}");
    cfg.leafnodes.tls = None;
    cfg.leafnodes
        .remotes
        .push(rejoin_core::config::RemoteConfig {
            tls: Some(TlsConfig {
                key_file: Some(pki.dir.path("nope-key.pem")),
                ..pki.client_with_cert()
            }),
            ..Default::default()
        });
    let (path, err) = check_files(&cfg).unwrap_err();
    assert_eq!(path, "leafnodes.remotes[0].tls");
    assert!(
        matches!(
            err,
            TlsError::Read {
                option: "key_file",
                ..
            }
        ),
        "{err}"
    );
}
