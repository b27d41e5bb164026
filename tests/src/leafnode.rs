//! Leafnode topologies for black-box tests: a hub and leafs of either implementation side by
//! side on loopback, with generated configs.
//!
//! The hub's leafnode port is chosen here and written into both configs, so a hub that is
//! killed can be started again on the same port and the leaf finds it where it was. Every
//! server is started with monitoring, because `/leafz` is the one view of a link both
//! implementations share: each side lists its links there, with the peer's port, so a
//! connection that was replaced shows up as a changed port.
//!
//! Waiting for interest to cross a link uses a probe rather than monitoring: the subscribing
//! connection subscribes to a fresh subject and the publishing side publishes it until one
//! arrives. A server handles one connection's operations in order and forwards interest
//! over a link in order, so once the probe's interest has crossed, every subscription the
//! same connection made before it has crossed too.
//!
//! When the server under test is nats-server (`REJOIN_TEST_SERVER=nats-server`), the
//! "rejoin" role is played by nats-server too, which is how these expectations are checked
//! against nats-server↔nats-server.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use async_nats::{Client, ConnectOptions};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;

use crate::server::{free_port, NATS_SERVER_PATH};
use crate::{http_get, ServerKind, TestServer, WAIT};

/// The leaf's reconnect interval in every generated config (`leafnodes { reconnect: 1 }`),
/// the base of the reconnect-time bound the tests assert.
pub const RECONNECT: Duration = Duration::from_secs(1);

/// `max_payload` of every generated config: large enough for 512 KiB test payloads.
pub const MAX_PAYLOAD: usize = 1_048_576;

/// Whether the real nats-server is installed (CI installs it; developer machines may not).
pub fn nats_server_available() -> bool {
    Path::new(NATS_SERVER_PATH).exists()
}

/// Returns early from a test (printing why) when nats-server is not installed.
#[macro_export]
macro_rules! require_nats_server {
    () => {
        if !$crate::leafnode::nats_server_available() {
            eprintln!(
                "skipped: nats-server is not installed at {}",
                $crate::server::NATS_SERVER_PATH
            );
            return;
        }
    };
}

/// Which implementation plays a role in a topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The server under test: rejoin, or nats-server when validating the tests.
    UnderTest,
    /// Always the real nats-server.
    NatsServer,
}

impl Role {
    pub fn kind(self) -> ServerKind {
        match self {
            Role::UnderTest => ServerKind::from_env(),
            Role::NatsServer => ServerKind::NatsServer,
        }
    }

    /// Whether this role can run here; `false` means the test must skip.
    pub fn available(self) -> bool {
        self.kind() != ServerKind::NatsServer || nats_server_available()
    }
}

/// The config of a hub listening for leafs on `leaf_port`; `extra` is appended verbatim
/// (top-level keys, or a whole `leafnodes` block when `leafnodes` is `None`).
pub fn hub_conf(name: &str, leaf_port: u16, extra: &str) -> String {
    format!(
        "server_name: {name}\nmax_payload: {MAX_PAYLOAD}\n\
         leafnodes {{\n  listen: \"127.0.0.1:{leaf_port}\"\n}}\n{extra}\n"
    )
}

/// A remote entry (`{ url: ... }`) pointing at a hub's leafnode port.
pub fn remote(leaf_port: u16) -> String {
    format!("{{ url: \"nats-leaf://127.0.0.1:{leaf_port}\" }}")
}

/// The config of a leaf with the given remote entries (see [`remote`]) and
/// `reconnect: 1`; `extra` is appended verbatim.
pub fn leaf_conf(name: &str, remotes: &[String], extra: &str) -> String {
    format!(
        "server_name: {name}\nmax_payload: {MAX_PAYLOAD}\n\
         leafnodes {{\n  reconnect: {}\n  remotes: [\n    {}\n  ]\n}}\n{extra}\n",
        RECONNECT.as_secs(),
        remotes.join("\n    ")
    )
}

/// Starts a server of `kind` with monitoring.
pub fn start(kind: ServerKind, conf: &str) -> TestServer {
    TestServer::builder(conf).kind(kind).http().start()
}

/// Starts a hub whose config is `conf(leaf_port)` on a free leafnode port, retrying with a
/// fresh port when another process took the one picked. Returns the server and its port.
pub fn start_hub(kind: ServerKind, conf: impl Fn(u16) -> String) -> (TestServer, u16) {
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port();
        match TestServer::builder(&conf(port))
            .kind(kind)
            .http()
            .try_start()
        {
            Ok(server) => return (server, port),
            Err(e) if e.to_ascii_lowercase().contains("in use") => last = e,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("hub could not bind a free leafnode port:\n{last}");
}

/// Replaces a running server's config file with `body` plus the `listen:`/`http:` lines the
/// harness added at start, so a reload does not move the ports. For servers started by this
/// module (config listen, monitoring on).
pub fn rewrite_conf(server: &TestServer, body: &str) {
    let mut conf = body.to_string();
    if !conf.ends_with('\n') {
        conf.push('\n');
    }
    conf.push_str(&format!(
        "listen: {}\nhttp: {}\n",
        server.addr(),
        server.http_addr()
    ));
    std::fs::write(server.conf_path(), conf)
        .unwrap_or_else(|e| panic!("cannot rewrite {}: {e}", server.conf_path().display()));
}

/// How many times `needle` occurs in the server's log so far.
pub fn log_count(server: &TestServer, needle: &str) -> usize {
    server.log().matches(needle).count()
}

/// The log line rejoin and nats-server both write after an applied reload.
pub const RELOADED: &str = "Reloaded server configuration";
/// The start of the log line both write after a refused reload.
pub const RELOAD_FAILED: &str = "Failed to reload";

/// Sends SIGHUP and waits until the log shows one more line containing `outcome`
/// ([`RELOADED`] or [`RELOAD_FAILED`]) than before.
pub fn hup_and_wait(server: &TestServer, outcome: &str) {
    let before = log_count(server, outcome);
    server.signal("HUP");
    wait_for(WAIT, &format!("log line {outcome:?} after SIGHUP"), || {
        (log_count(server, outcome) > before).then_some(())
    });
}

/// Rewrites the config (see [`rewrite_conf`]), sends SIGHUP and waits for `outcome`.
pub fn reload(server: &TestServer, body: &str, outcome: &str) {
    rewrite_conf(server, body);
    hup_and_wait(server, outcome);
}

/// Polls `check` every 25 ms until it returns a value; panics naming `what` after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The `leafs` array of `/leafz` (each link with `ip`, `port`, `account`, ...).
pub fn leafz(monitor: SocketAddr) -> Vec<Value> {
    let response = http_get(monitor, "/leafz?subs=1")
        .unwrap_or_else(|e| panic!("GET /leafz from {monitor}: {e}"));
    assert_eq!(response.status, 200, "/leafz: {}", response.text());
    let body = response.json();
    match body.get("leafs") {
        Some(Value::Array(leafs)) => leafs.clone(),
        // nats-server omits an empty list.
        None | Some(Value::Null) => Vec::new(),
        Some(other) => panic!("/leafz leafs is not an array: {other}"),
    }
}

/// The peer ports of the server's leafnode links, sorted: an identity for each link that
/// changes when a link is replaced.
pub fn link_ports(server: &TestServer) -> Vec<u16> {
    let mut ports: Vec<u16> = leafz(server.http_addr())
        .iter()
        .map(|l| {
            l.get("port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or_else(|| panic!("/leafz entry without a port: {l}"))
        })
        .collect();
    ports.sort_unstable();
    ports
}

/// Waits until the server has exactly `n` leafnode links and returns their ports.
pub fn wait_links(server: &TestServer, n: usize) -> Vec<u16> {
    wait_for(
        WAIT,
        &format!("{} to list {n} leafnode link(s)", server.kind().name()),
        || {
            let ports = link_ports(server);
            (ports.len() == n).then_some(ports)
        },
    )
}

/// Asserts the server's links stay exactly `ports` for `period` (polled every 50 ms).
pub fn assert_links_stable(server: &TestServer, ports: &[u16], period: Duration) {
    let end = Instant::now() + period;
    while Instant::now() < end {
        let now = link_ports(server);
        assert_eq!(
            now,
            ports,
            "{}'s leafnode links changed (ports were {ports:?})",
            server.kind().name()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A hub and one leaf connected to it, both running and linked.
pub struct Pair {
    /// `None` while the hub is killed.
    hub: Option<TestServer>,
    pub leaf: TestServer,
    hub_kind: ServerKind,
    hub_conf: String,
    pub leaf_port: u16,
}

impl Pair {
    /// Starts a hub and a leaf dialing it and waits until both list the link. `None` (after
    /// printing why) when one of the roles cannot run here.
    pub fn start(hub: Role, leaf: Role) -> Option<Pair> {
        for role in [hub, leaf] {
            if !role.available() {
                eprintln!("skipped: nats-server is not installed at {NATS_SERVER_PATH}");
                return None;
            }
        }
        let hub_kind = hub.kind();
        let (hub, leaf_port) = start_hub(hub_kind, |port| hub_conf("hub", port, ""));
        let hub_conf = hub_conf("hub", leaf_port, "");
        let leaf = start(leaf.kind(), &leaf_conf("leaf", &[remote(leaf_port)], ""));
        let pair = Pair {
            hub: Some(hub),
            leaf,
            hub_kind,
            hub_conf,
            leaf_port,
        };
        pair.wait_linked();
        Some(pair)
    }

    pub fn hub(&self) -> &TestServer {
        self.hub.as_ref().expect("the hub is killed")
    }

    /// Waits until both ends list the link.
    pub fn wait_linked(&self) {
        wait_links(self.hub(), 1);
        wait_links(&self.leaf, 1);
    }

    /// Kills the hub with SIGKILL (no goodbye on any socket) and waits for it to be gone.
    pub fn kill_hub(&mut self) {
        let mut hub = self.hub.take().expect("the hub is already killed");
        hub.signal("KILL");
        assert!(
            hub.wait_exit(WAIT).is_some(),
            "hub did not die from SIGKILL"
        );
    }

    /// Starts the hub again with the same config, so on the same leafnode port (client and
    /// monitoring ports are new).
    pub fn restart_hub(&mut self) {
        assert!(self.hub.is_none(), "the hub is still running");
        self.hub = Some(start(self.hub_kind, &self.hub_conf));
    }
}

/// Connects an async-nats client (no reconnect attempts beyond the first connect matter to
/// the tests; a dropped client is simply replaced).
pub async fn connect(server: &TestServer) -> Client {
    ConnectOptions::new()
        .connection_timeout(WAIT)
        .connect(server.url())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "connect to {} ({}): {e}",
                server.url(),
                server.kind().name()
            )
        })
}

/// Subject prefix of interest probes, so tests that watch wide wildcards can skip them.
pub const PROBE_PREFIX: &str = "_rejoin_probe";

/// Returns once every subscription `subscriber` made so far is known on `publisher`'s side:
/// publishes a probe from `publisher` every 25 ms until `subscriber` receives it (bounded by
/// [`WAIT`]). Returns how long that took.
pub async fn sync_interest(subscriber: &Client, publisher: &Client) -> Duration {
    let subject = format!(
        "{PROBE_PREFIX}.{}",
        subscriber.new_inbox().replace('.', "_")
    );
    let mut sub = subscriber
        .subscribe(subject.clone())
        .await
        .expect("probe subscribe");
    let start = Instant::now();
    loop {
        publisher
            .publish(subject.clone(), Bytes::new())
            .await
            .expect("probe publish");
        publisher.flush().await.expect("probe flush");
        match tokio::time::timeout(Duration::from_millis(25), sub.next()).await {
            Ok(Some(_)) => break,
            Ok(None) => panic!("probe subscription ended"),
            Err(_) if start.elapsed() >= WAIT => {
                panic!("interest did not cross the leafnode link within {WAIT:?}")
            }
            Err(_) => {}
        }
    }
    let took = start.elapsed();
    sub.unsubscribe().await.expect("probe unsubscribe");
    took
}

/// Everything `sub` receives within `quiet` of the previous message (at least `quiet` long).
pub async fn drain_quiet(
    sub: &mut async_nats::Subscriber,
    quiet: Duration,
) -> Vec<async_nats::Message> {
    let mut out = Vec::new();
    while let Ok(Some(msg)) = tokio::time::timeout(quiet, sub.next()).await {
        out.push(msg);
        // Bounded by what was published: a server that sends forever fails on the count.
        if out.len() > 100_000 {
            break;
        }
    }
    out
}

/// A TCP proxy on loopback that holds back everything the upstream (a hub) sends for
/// `delay` after each accept, so a leaf dialing through it stays mid-handshake (connected,
/// waiting for INFO) for that long. Stops when dropped.
pub struct SlowStartProxy {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl SlowStartProxy {
    /// Listens on a free loopback port and forwards each connection to `upstream`.
    pub async fn start(upstream: SocketAddr, delay: Duration) -> SlowStartProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy bind");
        let port = listener.local_addr().expect("proxy addr").port();
        let task = tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(up) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut down_read, mut down_write) = down.into_split();
                    let (mut up_read, mut up_write) = up.into_split();
                    let to_up = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut down_read, &mut up_write).await;
                        let _ = tokio::io::AsyncWriteExt::shutdown(&mut up_write).await;
                    });
                    tokio::time::sleep(delay).await;
                    let _ = tokio::io::copy(&mut up_read, &mut down_write).await;
                    let _ = tokio::io::AsyncWriteExt::shutdown(&mut down_write).await;
                    to_up.abort();
                });
            }
        });
        SlowStartProxy { port, task }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for SlowStartProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
