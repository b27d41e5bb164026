//! Leafnode links over TLS, in both roles, as async-nats clients on each end see them:
//! rejoin leaf → nats-server hub, nats-server leaf → rejoin hub, rejoin ↔ rejoin (also with
//! `handshake_first`), client certificates against a `verify` hub, a leaf trusting the wrong
//! CA or no CA at all, a plaintext leaf against a TLS hub, mismatched `handshake_first`, and
//! a TLS hub that is killed and restarted. The numbered comments are the cases of issue #4
//! item 4.
//!
//! Certificates are made at test time ([`Pki`]) and written once per test to a scratch
//! directory; configs name them by absolute path, so a hub restarted in a fresh directory
//! finds the same files. Under `REJOIN_TEST_SERVER=nats-server` every rejoin role is played
//! by nats-server 2.9.10, except `handshake_first`, which that version does not have.
//!
//! "The leaf keeps retrying" is observed through [`CountingProxy`] between leaf and hub: it
//! counts TCP connections, which is the same for both implementations and independent of
//! what either logs.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rejoin_tests::client::{barrier, next_msg};
use rejoin_tests::leafnode::{
    assert_links_stable, connect, drain_quiet, leaf_conf, link_ports, start, start_hub,
    sync_interest, wait_for, wait_links, Role, RECONNECT,
};
use rejoin_tests::scratch::ScratchDir;
use rejoin_tests::tls::Pki;
use rejoin_tests::{rejoin_only, ServerKind, TestServer, QUIET, WAIT};

/// How long a refused link must stay absent: several reconnect intervals, so a leaf that
/// got through on a later attempt would show.
const REFUSED_FOR: Duration = Duration::from_secs(3);

/// A test CA's files on disk for the lifetime of a test.
struct Certs {
    dir: ScratchDir,
}

impl Certs {
    fn generate() -> Certs {
        let pki = Pki::generate().expect("test certificates");
        let dir = ScratchDir::new("leaftls").expect("scratch dir");
        for (name, pem) in pki.files() {
            dir.write(name, &pem).expect("write certificate");
        }
        Certs { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// The hub's `leafnodes { tls {} }` block: its certificate for 127.0.0.1, and with
    /// `verify` the CA that must have signed the leaf's certificate.
    fn hub_tls(&self, verify: bool, handshake_first: bool) -> String {
        let mut block = format!(
            "  tls {{\n    cert_file: \"{}\"\n    key_file: \"{}\"\n    timeout: 2\n",
            self.path("cert.pem"),
            self.path("key.pem")
        );
        if verify {
            block.push_str(&format!(
                "    ca_file: \"{}\"\n    verify: true\n",
                self.path("ca.pem")
            ));
        }
        // Only written when set: nats-server 2.9 refuses the key as unknown.
        if handshake_first {
            block.push_str("    handshake_first: true\n");
        }
        block.push_str("  }\n");
        block
    }

    /// A remote's `tls {}` block trusting this CA, optionally presenting the client
    /// certificate this CA signed.
    fn leaf_tls(&self, client_cert: bool, handshake_first: bool) -> String {
        let mut block = format!("tls {{ ca_file: \"{}\"", self.path("ca.pem"));
        if client_cert {
            block.push_str(&format!(
                ", cert_file: \"{}\", key_file: \"{}\"",
                self.path("client-cert.pem"),
                self.path("client-key.pem")
            ));
        }
        if handshake_first {
            block.push_str(", handshake_first: true");
        }
        block.push_str(" }");
        block
    }
}

/// A hub listening for leafs on `leaf_port` with `tls` (a block from [`Certs::hub_tls`], or
/// empty) inside `leafnodes`.
fn hub_conf(leaf_port: u16, tls: &str) -> String {
    format!("server_name: hub\nleafnodes {{\n  listen: \"127.0.0.1:{leaf_port}\"\n{tls}}}\n")
}

/// A remote entry dialing `url` with `tls` (a block from [`Certs::leaf_tls`], or empty).
fn tls_remote(url: &str, tls: &str) -> String {
    format!("{{ url: \"{url}\", {tls} }}")
}

fn tls_url(port: u16) -> String {
    format!("tls://127.0.0.1:{port}")
}

/// Whether both roles can run here; prints why not.
fn available(roles: &[Role]) -> bool {
    if roles.iter().all(|r| r.available()) {
        true
    } else {
        eprintln!(
            "skipped: nats-server is not installed at {}",
            rejoin_tests::server::NATS_SERVER_PATH
        );
        false
    }
}

/// Subscribes on one end and publishes on the other, both ways, with fresh async-nats
/// clients; every message arrives once, in order, and nothing else does.
async fn messages_both_ways(hub: &TestServer, leaf: &TestServer, tag: &str) {
    for (from_name, from, to) in [("hub", hub, leaf), ("leaf", leaf, hub)] {
        let publisher = connect(from).await;
        let subscriber = connect(to).await;
        let subject = format!("tls.{tag}.from_{from_name}");
        let mut sub = subscriber.subscribe(subject.clone()).await.unwrap();
        sync_interest(&subscriber, &publisher).await;
        for i in 0..10 {
            publisher
                .publish(subject.clone(), format!("m{i}").into())
                .await
                .unwrap();
        }
        publisher.flush().await.unwrap();
        for i in 0..10 {
            let msg = next_msg(&mut sub).await;
            assert_eq!(
                msg.payload,
                Bytes::from(format!("m{i}")),
                "{tag}: from the {from_name}, in order"
            );
        }
        let extra = drain_quiet(&mut sub, QUIET).await;
        assert!(
            extra.is_empty(),
            "{tag}: {} extra message(s) from the {from_name}",
            extra.len()
        );
    }
}

/// Asserts the hub still serves its own clients: a round trip through it.
async fn hub_serves_clients(hub: &TestServer) {
    let a = connect(hub).await;
    let b = connect(hub).await;
    let mut sub = a.subscribe("local.only").await.unwrap();
    barrier(&a).await;
    b.publish("local.only", "here".into()).await.unwrap();
    b.flush().await.unwrap();
    assert_eq!(next_msg(&mut sub).await.payload, Bytes::from("here"));
}

/// A hub with TLS and a leaf dialing it, linked; panics with both logs when they do not link.
async fn tls_pair(
    hub: Role,
    leaf: Role,
    hub_tls: &str,
    leaf_tls: &str,
) -> (TestServer, TestServer, u16) {
    let (hub, port) = start_hub(hub.kind(), |port| hub_conf(port, hub_tls));
    let leaf = start(
        leaf.kind(),
        &leaf_conf("leaf", &[tls_remote(&tls_url(port), leaf_tls)], ""),
    );
    wait_links(&hub, 1);
    wait_links(&leaf, 1);
    (hub, leaf, port)
}

/// A TCP relay on loopback that counts the connections it accepted, so a test can see a leaf
/// dial again without knowing what the leaf logs. Each connection is copied byte for byte in
/// both directions by two threads, which end when either side closes. Stops accepting when
/// dropped.
struct CountingProxy {
    port: u16,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl CountingProxy {
    fn start(upstream: SocketAddr) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        let port = listener.local_addr().expect("proxy addr").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let accepted = accepted.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for down in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(down) = down else { continue };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let Ok(up) = TcpStream::connect(upstream) else {
                        continue;
                    };
                    relay(down, up);
                }
            })
        };
        CountingProxy {
            port,
            accepted,
            stop,
            acceptor: Some(acceptor),
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Copies `a` to `b` and `b` to `a` on two threads; each direction's end shuts both sockets
/// so the other thread ends too.
fn relay(a: TcpStream, b: TcpStream) {
    let pairs = [
        (a.try_clone(), b.try_clone()),
        (b.try_clone(), a.try_clone()),
    ];
    for (from, to) in pairs {
        let (Ok(mut from), Ok(mut to)) = (from, to) else {
            return;
        };
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        });
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocked accept so the thread sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// The refused-link checks shared by every negative case: the leaf's remote
/// (`leaf_remote(proxy port)`) dials the TLS hub through a [`CountingProxy`]; the hub lists
/// no link for [`REFUSED_FOR`], the leaf dials again at least twice within that time, and
/// the hub still serves its own clients afterwards.
async fn refused_link(
    hub_role: Role,
    leaf_role: Role,
    hub_tls: &str,
    leaf_remote: impl Fn(u16) -> String,
) {
    // Without `no_advertise` the leaf learns the hub's own address from INFO and dials it
    // directly on every other attempt, past the proxy.
    let hub_tls = format!("  no_advertise: true\n{hub_tls}");
    let (hub, port) = start_hub(hub_role.kind(), |port| hub_conf(port, &hub_tls));
    let proxy = CountingProxy::start(SocketAddr::from(([127, 0, 0, 1], port)));
    let leaf = start(
        leaf_role.kind(),
        &leaf_conf("leaf", &[leaf_remote(proxy.port)], ""),
    );
    wait_for(WAIT, "the leaf's first dial", || {
        (proxy.accepted() >= 1).then_some(())
    });
    let first = proxy.accepted();
    let since = Instant::now();
    // How long a refused attempt takes depends on the refusal (an alert at once, or a
    // timeout waiting for INFO), so the dials are awaited up to WAIT while the link must
    // stay absent all along, and for at least REFUSED_FOR.
    loop {
        let links = link_ports(&hub);
        let dials = proxy.accepted() - first;
        let elapsed = since.elapsed();
        assert!(
            links.is_empty(),
            "the {} hub listed link(s) {links:?} after {elapsed:?}",
            hub.kind().name()
        );
        if dials >= 2 && elapsed >= REFUSED_FOR {
            break;
        }
        assert!(
            elapsed < WAIT,
            "the {} leaf dialed {dials} more time(s) in {WAIT:?} (reconnect {RECONNECT:?})",
            leaf.kind().name()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    hub_serves_clients(&hub).await;
    assert_links_stable(&hub, &[], QUIET);
    eprintln!(
        "{} hub, {} leaf: no link, {} dials",
        hub.kind().name(),
        leaf.kind().name(),
        proxy.accepted()
    );
}

// 1. rejoin leaf → nats-server hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejoin_leaf_links_to_nats_server_hub_over_tls() {
    if !available(&[Role::NatsServer]) {
        return;
    }
    let certs = Certs::generate();
    let (hub, leaf, _) = tls_pair(
        Role::NatsServer,
        Role::UnderTest,
        &certs.hub_tls(false, false),
        &certs.leaf_tls(false, false),
    )
    .await;
    messages_both_ways(&hub, &leaf, "rl_nh").await;
}

// 2. nats-server leaf → rejoin hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_leaf_links_to_rejoin_hub_over_tls() {
    if !available(&[Role::NatsServer]) {
        return;
    }
    let certs = Certs::generate();
    let (hub, leaf, _) = tls_pair(
        Role::UnderTest,
        Role::NatsServer,
        &certs.hub_tls(false, false),
        &certs.leaf_tls(false, false),
    )
    .await;
    messages_both_ways(&hub, &leaf, "nl_rh").await;
}

// 3. rejoin ↔ rejoin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejoin_links_to_rejoin_over_tls() {
    let certs = Certs::generate();
    let (hub, leaf, _) = tls_pair(
        Role::UnderTest,
        Role::UnderTest,
        &certs.hub_tls(false, false),
        &certs.leaf_tls(false, false),
    )
    .await;
    messages_both_ways(&hub, &leaf, "rr").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejoin_links_to_rejoin_with_handshake_first() {
    rejoin_only!("leafnode handshake_first is nats-server 2.10+");
    let certs = Certs::generate();
    let (hub, leaf, _) = tls_pair(
        Role::UnderTest,
        Role::UnderTest,
        &certs.hub_tls(false, true),
        &certs.leaf_tls(false, true),
    )
    .await;
    messages_both_ways(&hub, &leaf, "rr_first").await;
}

// 4. Mutual TLS: a `verify` hub links a leaf that presents a certificate signed by its CA
// and never one that presents none.
async fn verify_hub_admits_only_certified_leafs(hub_role: Role, leaf_role: Role) {
    if !available(&[hub_role, leaf_role]) {
        return;
    }
    let certs = Certs::generate();
    let hub_tls = certs.hub_tls(true, false);
    let (hub, leaf, _) =
        tls_pair(hub_role, leaf_role, &hub_tls, &certs.leaf_tls(true, false)).await;
    messages_both_ways(&hub, &leaf, "mtls").await;
    drop((hub, leaf));

    refused_link(hub_role, leaf_role, &hub_tls, |port| {
        tls_remote(&tls_url(port), &certs.leaf_tls(false, false))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_rejoin_hub_rejoin_leaf() {
    verify_hub_admits_only_certified_leafs(Role::UnderTest, Role::UnderTest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_rejoin_hub_nats_server_leaf() {
    verify_hub_admits_only_certified_leafs(Role::UnderTest, Role::NatsServer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_nats_server_hub_rejoin_leaf() {
    verify_hub_admits_only_certified_leafs(Role::NatsServer, Role::UnderTest).await;
}

// 5. A leaf that trusts another CA never links; the hub keeps serving its clients.
async fn wrong_ca_gets_no_link(hub_role: Role) {
    if !available(&[hub_role]) {
        return;
    }
    let certs = Certs::generate();
    let other = Certs::generate();
    refused_link(
        hub_role,
        Role::UnderTest,
        &certs.hub_tls(false, false),
        |port| tls_remote(&tls_url(port), &other.leaf_tls(false, false)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_ca_rejoin_hub() {
    wrong_ca_gets_no_link(Role::UnderTest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_ca_nats_server_hub() {
    wrong_ca_gets_no_link(Role::NatsServer).await;
}

// 5. A plaintext leaf (`nats-leaf://`, no tls block) against a TLS hub never links.
async fn plaintext_leaf_gets_no_link(hub_role: Role) {
    if !available(&[hub_role]) {
        return;
    }
    let certs = Certs::generate();
    refused_link(
        hub_role,
        Role::UnderTest,
        &certs.hub_tls(false, false),
        |port| format!("{{ url: \"nats-leaf://127.0.0.1:{port}\" }}"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_leaf_rejoin_hub() {
    plaintext_leaf_gets_no_link(Role::UnderTest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_leaf_nats_server_hub() {
    plaintext_leaf_gets_no_link(Role::NatsServer).await;
}

// 6. The hub is killed (SIGKILL) and started again with the same TLS config on the same
// leafnode port: the leaf links again over TLS and messages flow both ways.
async fn link_returns_after_tls_hub_restart(hub_role: Role, handshake_first: bool) {
    if !available(&[hub_role]) {
        return;
    }
    let certs = Certs::generate();
    let hub_tls = certs.hub_tls(true, handshake_first);
    let (mut hub, leaf, port) = tls_pair(
        hub_role,
        Role::UnderTest,
        &hub_tls,
        &certs.leaf_tls(true, handshake_first),
    )
    .await;
    messages_both_ways(&hub, &leaf, "before").await;

    hub.signal("KILL");
    assert!(
        hub.wait_exit(WAIT).is_some(),
        "hub did not die from SIGKILL"
    );
    drop(hub);
    wait_links(&leaf, 0);

    let hub = start(hub_role.kind(), &hub_conf(port, &hub_tls));
    wait_links(&hub, 1);
    wait_links(&leaf, 1);
    messages_both_ways(&hub, &leaf, "after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_rejoin_hub() {
    link_returns_after_tls_hub_restart(Role::UnderTest, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_rejoin_hub_handshake_first() {
    rejoin_only!("leafnode handshake_first is nats-server 2.10+");
    link_returns_after_tls_hub_restart(Role::UnderTest, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_nats_server_hub() {
    link_returns_after_tls_hub_restart(Role::NatsServer, false).await;
}

// 5. Only `ca_file` is trusted: a `tls://` remote without a tls block has nothing that
// vouches for the test CA (nats-server would consult the system roots, which do not know it
// either), so no link. rejoin does not even dial such a remote; it logs why on every attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_url_without_ca_file_gets_no_link() {
    let certs = Certs::generate();
    let (hub, port) = start_hub(ServerKind::from_env(), |port| {
        hub_conf(port, &certs.hub_tls(false, false))
    });
    let leaf = start(
        ServerKind::from_env(),
        &leaf_conf("leaf", &[format!("{{ url: \"{}\" }}", tls_url(port))], ""),
    );
    assert_links_stable(&hub, &[], REFUSED_FOR);
    assert_links_stable(&leaf, &[], QUIET);
    hub_serves_clients(&hub).await;
    if leaf.kind() == ServerKind::Rejoin {
        let log = leaf.log();
        assert!(
            log.matches("ca_file is required").count() >= 2,
            "the leaf should say why on each attempt:\n{log}"
        );
    }
}

// 3. The two `handshake_first` settings must agree: a leaf that waits for the hub's INFO
// meets a hub that waits for a ClientHello, and neither speaks first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_first_hub_and_info_first_leaf_never_link() {
    rejoin_only!("leafnode handshake_first is nats-server 2.10+");
    let certs = Certs::generate();
    refused_link(
        Role::UnderTest,
        Role::UnderTest,
        &certs.hub_tls(false, true),
        |port| tls_remote(&tls_url(port), &certs.leaf_tls(false, false)),
    )
    .await;
}
