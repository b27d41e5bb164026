//! TLS on the client port: async-nats over TLS, client certificates with `verify`,
//! plaintext clients against a TLS port, and `handshake_first`.
//!
//! Certificates are made at test time ([`Pki`]); the server reads them from files next to its
//! config, as an operator's would be.

use std::path::PathBuf;

use async_nats::ConnectOptions;
use bytes::Bytes;
use rejoin_tests::client::{barrier, next_msg};
use rejoin_tests::tls::Pki;
use rejoin_tests::{rejoin_only, RawClient, TestServer, TestServerBuilder, WAIT};

const TLS: &str = "tls {\n  cert_file: \"./cert.pem\"\n  key_file: \"./key.pem\"\n}\n";
const TLS_VERIFY: &str = "tls {\n  cert_file: \"./cert.pem\"\n  key_file: \"./key.pem\"\n  ca_file: \"./ca.pem\"\n  verify: true\n}\n";

fn with_pki(conf: &str, pki: &Pki) -> TestServerBuilder {
    pki.files()
        .into_iter()
        .fold(TestServer::builder(conf), |b, (name, pem)| {
            b.file(name, pem)
        })
}

fn path(server: &TestServer, name: &str) -> PathBuf {
    server.dir().join(name)
}

/// async-nats trusting the test CA, requiring TLS.
fn tls_options(server: &TestServer) -> ConnectOptions {
    ConnectOptions::new()
        .connection_timeout(WAIT)
        .add_root_certificates(path(server, "ca.pem"))
        .require_tls(true)
}

async fn connect(options: ConnectOptions, server: &TestServer) -> async_nats::Client {
    options.connect(server.url()).await.expect("TLS connect")
}

async fn round_trip(subscriber: &async_nats::Client, publisher: &async_nats::Client) {
    let mut sub = subscriber.subscribe("secure.x").await.unwrap();
    barrier(subscriber).await;
    for i in 0..5 {
        publisher
            .publish("secure.x", format!("hello {i}").into())
            .await
            .unwrap();
    }
    for i in 0..5 {
        let msg = next_msg(&mut sub).await;
        assert_eq!(msg.payload, Bytes::from(format!("hello {i}")));
    }
}

#[tokio::test]
async fn async_nats_publishes_and_receives_over_tls() {
    let pki = Pki::generate().expect("certificates");
    let server = with_pki(TLS, &pki).start();
    let subscriber = connect(tls_options(&server), &server).await;
    let publisher = connect(tls_options(&server), &server).await;
    let info = subscriber.server_info();
    assert!(info.tls_required, "{info:?}");
    round_trip(&subscriber, &publisher).await;
    // Requests ride the same TLS connections (no-responders reply included).
    let mut service = subscriber.subscribe("secure.svc").await.unwrap();
    barrier(&subscriber).await;
    let requester = publisher.clone();
    let request = tokio::spawn(async move { requester.request("secure.svc", "q".into()).await });
    let msg = next_msg(&mut service).await;
    subscriber
        .publish(msg.reply.expect("reply subject"), "a".into())
        .await
        .unwrap();
    let answer = tokio::time::timeout(WAIT, request)
        .await
        .expect("answer in time")
        .expect("request task")
        .expect("answer");
    assert_eq!(answer.payload, Bytes::from("a"));
}

#[test]
fn info_is_plaintext_and_announces_tls() {
    let pki = Pki::generate().expect("certificates");
    let server = with_pki(TLS_VERIFY, &pki).start();
    let mut c = RawClient::connect(server.addr());
    let info = c.read_info();
    assert_eq!(info["tls_required"], true, "{info}");
    assert_eq!(info["tls_verify"], true, "{info}");
    let server = with_pki(TLS, &pki).start();
    let mut c = RawClient::connect(server.addr());
    let info = c.read_info();
    assert_eq!(info["tls_required"], true, "{info}");
    assert!(info.get("tls_verify").is_none(), "{info}");
}

// A client that answers the INFO in plaintext gets no protocol reply: the server takes its
// bytes for a broken handshake and closes. (rustls answers with a TLS alert record first; Go's
// crypto/tls sends nothing to a peer whose first record is not TLS. Neither is protocol.)
#[test]
fn plaintext_client_is_closed() {
    let pki = Pki::generate().expect("certificates");
    let server = with_pki(TLS, &pki).start();
    let mut c = RawClient::connect(server.addr());
    c.read_info();
    c.send("CONNECT {\"verbose\":true}\r\nPING\r\n");
    let rest = c.expect_closed(WAIT);
    let text = String::from_utf8_lossy(&rest);
    assert!(
        !text.contains("PONG") && !text.contains("+OK") && !text.contains("-ERR"),
        "protocol reply to a plaintext client: {text:?}"
    );
    // The port still serves TLS clients afterwards.
    let mut again = RawClient::connect(server.addr());
    assert_eq!(again.read_info()["tls_required"], true);
}

#[tokio::test]
async fn verify_requires_a_client_certificate() {
    let pki = Pki::generate().expect("certificates");
    let server = with_pki(TLS_VERIFY, &pki).start();

    let with_cert = tls_options(&server).add_client_certificate(
        path(&server, "client-cert.pem"),
        path(&server, "client-key.pem"),
    );
    let a = connect(with_cert.clone(), &server).await;
    let b = connect(with_cert, &server).await;
    round_trip(&a, &b).await;

    // Without a certificate the server refuses the handshake. With TLS 1.3 the client's side
    // completes first, but the server closes before answering CONNECT, so async-nats (which
    // does not retry an initial connect unless told to) reports a failed connect.
    let refused = tokio::time::timeout(WAIT, tls_options(&server).connect(server.url())).await;
    match refused {
        Ok(Err(_)) => {}
        Ok(Ok(_)) => panic!("a client without a certificate was served"),
        Err(_) => panic!("connect without a certificate neither failed nor succeeded in {WAIT:?}"),
    }
}

#[tokio::test]
async fn handshake_first_speaks_tls_before_info() {
    rejoin_only!("handshake_first on the client port is nats-server 2.10+");
    let pki = Pki::generate().expect("certificates");
    let conf = "tls {\n  cert_file: \"./cert.pem\"\n  key_file: \"./key.pem\"\n  handshake_first: true\n  timeout: 0.5\n}\n";
    let server = with_pki(conf, &pki).start();
    let a = connect(tls_options(&server).tls_first(), &server).await;
    let b = connect(tls_options(&server).tls_first(), &server).await;
    assert!(a.server_info().tls_required);
    round_trip(&a, &b).await;

    // A plaintext client waiting for INFO gets nothing, and is closed after the timeout.
    let mut c = RawClient::connect(server.addr());
    c.expect_silent_close();
}

#[test]
fn reload_turns_tls_on_for_new_connections_only() {
    let pki = Pki::generate().expect("certificates");
    let server = with_pki("", &pki).start();
    let mut before = RawClient::connect_quiet(server.addr());
    let conf = std::fs::read_to_string(server.conf_path()).expect("read config");
    std::fs::write(server.conf_path(), format!("{TLS}{conf}")).expect("write config");
    server.signal("HUP");
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let info = RawClient::connect(server.addr()).read_info();
        if info["tls_required"] == true {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "TLS still off {WAIT:?} after the reload: {info}\n{}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The connection accepted before the reload stays plaintext and usable.
    before.send("PING\r\n");
    before.expect_line("PONG");
}
