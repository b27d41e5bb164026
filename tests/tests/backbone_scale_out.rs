//! Scale-out through a real hub (issue #5, item 6): two rejoin edges whose backbone remotes
//! dial one Debian nats-server hub. The hub is killed, the first edge publishes during the
//! outage, the hub comes back on the same leafnode port, and then:
//!
//! - a subscriber on the second edge gets everything the first edge buffered, in order,
//!   with the replay headers (`Rejoin-Gap`, `Rejoin-Published`), and nothing twice;
//! - every client of both edges gets exactly one resync announcement (each edge had a gap
//!   of its own: the first with the buffered messages, the second with none);
//! - no client of either edge was disconnected (`notify` mode), by the client's own view
//!   (async-nats connection events and connect count) and by the server's (`/connz` cids);
//! - both edges' `/healthz` stayed 200 throughout (an outage is not a wedge);
//! - live traffic from the first edge to the second flows again, without replay headers.
//!
//! The hub must be nats-server: it is the fleet this is for. Without it installed the test
//! skips with a printed reason (CI installs it). The edges are rejoin's backbone feature, so
//! under `REJOIN_TEST_SERVER=nats-server` it skips too.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_nats::{Client, ConnectOptions, Event, Subscriber};
use futures::future::join_all;
use rejoin_tests::client::next_msg;
use rejoin_tests::leafnode::{
    drain_quiet, hub_conf, leaf_conf, start, start_hub, sync_interest, wait_links,
};
use rejoin_tests::{http_get, rejoin_only, ServerKind, TestServer, WAIT};
use serde_json::Value;

/// Messages published on the first edge during the outage.
const N: usize = 20;
/// Backoff of both edges' backbone remotes: both redial the restarted hub within about
/// `BACKOFF_MAX` (plus jitter) of each other.
const BACKOFF_MIN: &str = "50ms";
const BACKOFF_MAX: &str = "250ms";
/// The first edge replays `SETTLE` after its link is healthy again; the second edge must be
/// back on the hub with its interest by then, or the hub has nowhere to send the replay. So
/// this is a few times the reconnect skew allowed by `BACKOFF_MAX`, with room for a loaded
/// two-core machine, and still small.
const SETTLE: &str = "1s";
/// Announcements closer together than this are merged; a second announcement would show
/// within it, so the "exactly one" check listens for longer than that.
const COOLDOWN: Duration = Duration::from_secs(1);
const RESYNC_SUBJECT: &str = "$REJOIN.RESYNC";

/// A backbone remote to the hub's leafnode port, named `hub` (the announcement's `remote`).
fn backbone_remote(leaf_port: u16) -> String {
    format!(
        "{{ name: hub, url: \"nats-leaf://127.0.0.1:{leaf_port}\", backbone {{ \
         settle: \"{SETTLE}\", backoff {{ min: \"{BACKOFF_MIN}\", max: \"{BACKOFF_MAX}\" }}, \
         resync {{ mode: notify, cooldown: \"{}ms\" }} }} }}",
        COOLDOWN.as_millis()
    )
}

/// A rejoin edge named `name` (the `Rejoin-Gap` header's server name).
fn edge(name: &str, leaf_port: u16) -> TestServer {
    start(
        ServerKind::Rejoin,
        &leaf_conf(name, &[backbone_remote(leaf_port)], ""),
    )
}

/// The edge's `/varz` `backbone[0]`.
fn backbone_varz(server: &TestServer) -> Value {
    let r = http_get(server.http_addr(), "/varz").unwrap_or_else(|e| panic!("GET /varz: {e}"));
    r.json()["backbone"][0].clone()
}

/// The cids of the server's client connections (`/connz`), sorted.
fn client_cids(server: &TestServer) -> Vec<u64> {
    let r = http_get(server.http_addr(), "/connz").unwrap_or_else(|e| panic!("GET /connz: {e}"));
    let body = r.json();
    let mut cids: Vec<u64> = body["connections"]
        .as_array()
        .unwrap_or_else(|| panic!("/connz without connections: {body}"))
        .iter()
        .map(|c| {
            c["cid"]
                .as_u64()
                .unwrap_or_else(|| panic!("/connz entry without cid: {c}"))
        })
        .collect();
    cids.sort_unstable();
    cids
}

/// Polls `check` every 25 ms without blocking the runtime; panics naming `what` after
/// [`WAIT`].
async fn poll_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// An edge client that records what its own connection went through.
struct Observed {
    name: &'static str,
    client: Client,
    /// Every connection event async-nats reported, as text.
    events: Arc<Mutex<Vec<String>>>,
    resync: Subscriber,
}

impl Observed {
    /// Connects to `server` (one attempt) and subscribes to the resync subject.
    async fn connect(name: &'static str, server: &TestServer) -> Observed {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let client = ConnectOptions::new()
            .name(name)
            .connection_timeout(WAIT)
            .event_callback(move |event: Event| {
                let sink = Arc::clone(&sink);
                async move {
                    sink.lock().expect("events lock").push(event.to_string());
                }
            })
            .connect(server.url())
            .await
            .unwrap_or_else(|e| panic!("{name}: connect to {}: {e}", server.url()));
        let resync = client.subscribe(RESYNC_SUBJECT).await.expect("subscribe");
        client.flush().await.expect("flush");
        Observed {
            name,
            client,
            events,
            resync,
        }
    }

    /// Asserts the connection was never lost: async-nats reported no disconnect (or
    /// anything else beyond the first connect), connected once, and is connected now.
    fn assert_never_disconnected(&self) {
        let events = self.events.lock().expect("events lock").clone();
        assert!(
            events.iter().all(|e| e == "connected"),
            "{}: connection events {events:?}",
            self.name
        );
        let connects = self.client.statistics().connects.load(Ordering::Relaxed);
        assert_eq!(connects, 1, "{}: connected {connects} times", self.name);
        assert_eq!(
            self.client.connection_state(),
            async_nats::connection::State::Connected,
            "{}",
            self.name
        );
    }
}

/// Polls both edges' `/healthz` every 50 ms on a thread of its own until stopped, keeping
/// every answer that was not a 200.
struct HealthWatch {
    stop: Arc<AtomicBool>,
    polls: Arc<AtomicU64>,
    thread: Option<JoinHandle<Vec<String>>>,
}

impl HealthWatch {
    fn start(edges: [(&'static str, SocketAddr); 2]) -> HealthWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let polls = Arc::new(AtomicU64::new(0));
        let (stop2, polls2) = (Arc::clone(&stop), Arc::clone(&polls));
        let thread = std::thread::spawn(move || {
            let mut bad = Vec::new();
            // Bounded by the stop flag, and by a cap far beyond the test's length so a
            // test that panics before stopping it cannot leave it running forever.
            for _ in 0..20_000 {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                for (name, addr) in edges {
                    match http_get(addr, "/healthz") {
                        Ok(r) if r.status == 200 => {}
                        Ok(r) => bad.push(format!("{name}: {} {}", r.status, r.text())),
                        Err(e) => bad.push(format!("{name}: {e}")),
                    }
                }
                polls2.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
            bad
        });
        HealthWatch {
            stop,
            polls,
            thread: Some(thread),
        }
    }

    fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// Stops polling and returns the answers that were not 200.
    fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| t.join().expect("health thread panicked"))
            .unwrap_or_default()
    }
}

impl Drop for HealthWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The resync announcement's JSON, checked for the fields every announcement has.
fn announcement(client: &str, msg: &async_nats::Message) -> Value {
    assert_eq!(msg.subject.as_str(), RESYNC_SUBJECT, "{client}");
    let v: Value = serde_json::from_slice(&msg.payload)
        .unwrap_or_else(|e| panic!("{client}: resync is not JSON ({e}): {:?}", msg.payload));
    assert_eq!(v["remote"], "hub", "{client}: {v}");
    let started = v["gap_started"].as_str().unwrap_or_default();
    let ended = v["gap_ended"].as_str().unwrap_or_default();
    for t in [started, ended] {
        // RFC 3339 UTC with microseconds, so equal lengths and text order is time order.
        assert!(
            t.len() == "2026-08-21T10:00:00.000000Z".len() && t.ends_with('Z'),
            "{client}: gap times {v}"
        );
    }
    assert!(started <= ended, "{client}: gap ends before it starts: {v}");
    assert_eq!(
        (v["first_gap"].as_u64(), v["last_gap"].as_u64()),
        (Some(1), Some(1)),
        "{client}: {v}"
    );
    v
}

fn counts(v: &Value) -> (Option<u64>, Option<u64>, Option<u64>) {
    (
        v["buffered"].as_u64(),
        v["replayed"].as_u64(),
        v["dropped"].as_u64(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_edges_through_a_nats_server_hub_replay_and_resync_without_disconnects() {
    rejoin_only!("the backbone broadcaster is rejoin's own");
    rejoin_tests::require_nats_server!();

    let hub_conf = |port| hub_conf("hub", port, "");
    let (hub, leaf_port) = start_hub(ServerKind::NatsServer, hub_conf);
    let e1 = edge("edge1", leaf_port);
    let e2 = edge("edge2", leaf_port);
    wait_links(&e1, 1);
    wait_links(&e2, 1);
    wait_links(&hub, 2);

    let mut publisher = Observed::connect("e1-publisher", &e1).await;
    let mut watch1 = Observed::connect("e1-watcher", &e1).await;
    let mut sub2 = Observed::connect("e2-subscriber", &e2).await;
    let mut watch2 = Observed::connect("e2-watcher", &e2).await;
    let mut local = watch1.client.subscribe("orders.>").await.unwrap();
    watch1.client.flush().await.unwrap();
    let mut remote = sub2.client.subscribe("orders.>").await.unwrap();
    // E2's `orders.>` has crossed E2→hub→E1 once a probe from E1 reaches E2 (interest is
    // forwarded in order), so E1 knows the hub wants `orders.>` and will hold it in the gap.
    // The second probe covers the watcher's local subscription the same way.
    sync_interest(&sub2.client, &publisher.client).await;
    sync_interest(&watch1.client, &publisher.client).await;

    publisher
        .client
        .publish("orders.0", "live-0".into())
        .await
        .unwrap();
    publisher.client.flush().await.unwrap();
    let m = next_msg(&mut remote).await;
    assert_eq!(&m.payload[..], b"live-0");
    assert!(
        m.headers.is_none(),
        "a live message carries no replay header"
    );
    assert_eq!(&next_msg(&mut local).await.payload[..], b"live-0");

    let cids1 = client_cids(&e1);
    let cids2 = client_cids(&e2);
    assert_eq!((cids1.len(), cids2.len()), (2, 2), "{cids1:?} {cids2:?}");
    let health = HealthWatch::start([("edge1", e1.http_addr()), ("edge2", e2.http_addr())]);

    // The hub dies without a goodbye; both edges notice.
    let mut hub = hub;
    hub.signal("KILL");
    assert!(hub.wait_exit(WAIT).is_some(), "hub did not die");
    drop(hub);
    for (name, e) in [("edge1", &e1), ("edge2", &e2)] {
        poll_until(&format!("{name} backbone state down"), || {
            (backbone_varz(e)["state"] == "down").then_some(())
        })
        .await;
    }
    let polls_at_kill = health.polls();

    // E1 publishes during the outage: its local watcher gets each message live, the hub's
    // share is held.
    for i in 1..=N {
        publisher
            .client
            .publish(format!("orders.{i}"), format!("gap-{i}").into())
            .await
            .unwrap();
    }
    publisher.client.flush().await.unwrap();
    for i in 1..=N {
        let m = next_msg(&mut local).await;
        assert_eq!(
            m.payload,
            format!("gap-{i}").as_bytes(),
            "local delivery in order"
        );
        assert!(m.headers.is_none());
    }
    poll_until(&format!("edge1 buffered {N}"), || {
        (backbone_varz(&e1)["buffer_msgs"] == N).then_some(())
    })
    .await;
    // Let the health watch see the outage for at least a few polls before the hub is back.
    poll_until("/healthz polled during the outage", || {
        (health.polls() >= polls_at_kill + 5).then_some(())
    })
    .await;
    assert_eq!(
        backbone_varz(&e1)["state"],
        "down",
        "still in the gap before the restart"
    );

    // The hub comes back on the same leafnode port; both edges redial it.
    let hub = start(ServerKind::NatsServer, &hub_conf(leaf_port));

    for i in 1..=N {
        let m = next_msg(&mut remote).await;
        assert_eq!(
            m.payload,
            format!("gap-{i}").as_bytes(),
            "replayed in order on edge2"
        );
        assert_eq!(m.subject.as_str(), format!("orders.{i}"));
        let headers = m
            .headers
            .as_ref()
            .unwrap_or_else(|| panic!("replayed gap-{i} without headers"));
        let gap = headers.get("Rejoin-Gap").map(|v| v.as_str().to_string());
        assert_eq!(gap.as_deref(), Some("edge1 1"), "gap header of gap-{i}");
        let published = headers
            .get("Rejoin-Published")
            .map(|v| v.as_str().to_string())
            .unwrap_or_default();
        assert!(
            published.len() == "2026-08-21T10:00:00.000000Z".len() && published.ends_with('Z'),
            "publish time header of gap-{i}: {published:?}"
        );
    }

    // One announcement per client of each edge, each about that edge's own gap.
    let mut announced = Vec::new();
    for c in [&mut publisher, &mut watch1, &mut sub2, &mut watch2] {
        announced.push((c.name, next_msg(&mut c.resync).await));
    }
    for (name, msg) in &announced {
        let v = announcement(name, msg);
        let expected = if name.starts_with("e1-") {
            (Some(N as u64), Some(N as u64), Some(0))
        } else {
            (Some(0), Some(0), Some(0))
        };
        assert_eq!(counts(&v), expected, "{name}: {v}");
    }
    // Both clients of one edge got the same announcement.
    assert_eq!(announced[0].1.payload, announced[1].1.payload, "edge1");
    assert_eq!(announced[2].1.payload, announced[3].1.payload, "edge2");

    // Live again: E1 → hub → E2 without holding and without replay headers.
    publisher
        .client
        .publish("orders.live", "live-1".into())
        .await
        .unwrap();
    publisher.client.flush().await.unwrap();
    let m = next_msg(&mut remote).await;
    assert_eq!(&m.payload[..], b"live-1");
    assert!(m.headers.is_none(), "live after recovery: {:?}", m.headers);
    assert_eq!(&next_msg(&mut local).await.payload[..], b"live-1");

    // Nothing twice: no second replay, no second announcement (one would be due at the
    // latest a cooldown after the first, so listening for longer than that is enough).
    let quiet = COOLDOWN + Duration::from_millis(500);
    let extra_resyncs = join_all(
        [&mut publisher, &mut watch1, &mut sub2, &mut watch2]
            .into_iter()
            .map(|c| async move { (c.name, drain_quiet(&mut c.resync, quiet).await) }),
    );
    let (extra_resyncs, extra_remote) =
        tokio::join!(extra_resyncs, drain_quiet(&mut remote, quiet));
    for (name, extra) in extra_resyncs {
        let bodies: Vec<_> = extra
            .iter()
            .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
            .collect();
        assert!(bodies.is_empty(), "{name}: extra announcements {bodies:?}");
    }
    assert!(
        extra_remote.is_empty(),
        "edge2 got {} messages twice or late",
        extra_remote.len()
    );

    // Health stayed 200 on both edges from before the kill until now.
    let polls = health.polls();
    let bad = health.finish();
    assert!(bad.is_empty(), "/healthz was not 200: {bad:?}");
    assert!(polls > polls_at_kill, "health watch did not run");

    // No client of either edge was disconnected: by their own account and by the edges'.
    for c in [&publisher, &watch1, &sub2, &watch2] {
        c.assert_never_disconnected();
    }
    assert_eq!(
        client_cids(&e1),
        cids1,
        "edge1's client connections changed"
    );
    assert_eq!(
        client_cids(&e2),
        cids2,
        "edge2's client connections changed"
    );

    // The edges' own accounts of the gap.
    for (name, e, replayed) in [("edge1", &e1, N as u64), ("edge2", &e2, 0)] {
        let v = backbone_varz(e);
        assert_eq!(v["state"], "up", "{name}: {v}");
        assert_eq!(
            (
                v["gaps"].as_u64(),
                v["buffered"].as_u64(),
                v["replayed"].as_u64(),
                v["dropped"].as_u64(),
                v["resyncs"].as_u64(),
                v["buffer_msgs"].as_u64(),
            ),
            (
                Some(1),
                Some(replayed),
                Some(replayed),
                Some(0),
                Some(1),
                Some(0)
            ),
            "{name}: {v}"
        );
    }
    wait_links(&hub, 2);
}
