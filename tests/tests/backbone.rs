//! The backbone broadcaster (docs/broadcaster.md) on the real binary: a rejoin edge whose
//! leafnode remote is a backbone, dialing a hub (rejoin, and the real nats-server when it
//! is installed).
//!
//! - `/healthz` stays 200 through an ordinary reconnect (hub killed and restarted), turns
//!   503 within one `silence_timeout` of a hub that stops answering (SIGSTOP: its sockets
//!   stay open and silent, the half-open case of #946), stays 503 while it is wedged, and
//!   is 200 again once the hub answers;
//! - messages published on the edge while the hub is down reach the hub's subscribers after
//!   it is back, in order, with the replay headers, and every edge client gets one resync
//!   announcement;
//! - with `max_reconnect_attempts: 2`, losing the hub ends the process with exit code 3
//!   after a graceful shutdown.
//!
//! These are rejoin's own features: under `REJOIN_TEST_SERVER=nats-server` the tests skip.

use std::time::{Duration, Instant};

use async_nats::Client;
use rejoin_tests::client::next_msg;
use rejoin_tests::leafnode::{
    connect, drain_quiet, hub_conf, leaf_conf, nats_server_available, start, start_hub,
    sync_interest, wait_for, wait_links,
};
use rejoin_tests::{http_get, rejoin_only, Frame, RawClient, ServerKind, TestServer, WAIT};
use serde_json::Value;

/// Small enough to keep the test short, large enough for a loaded two-core machine.
const SILENCE: Duration = Duration::from_secs(2);
/// Scheduling slack allowed on top of `silence_timeout` for the 503 to show.
const SLACK: Duration = Duration::from_millis(1000);
/// Long enough for the hub-side subscriber to reconnect to a restarted hub and subscribe
/// before the edge replays (which is what `settle` is for).
const SETTLE: &str = "2s";

/// The edge's backbone remote entry pointing at `leaf_port`; `extra` goes inside
/// `backbone { }`.
fn backbone_remote(leaf_port: u16, extra: &str) -> String {
    format!(
        "{{ name: hub, url: \"nats-leaf://127.0.0.1:{leaf_port}\", backbone {{ \
         silence_timeout: \"{}ms\", settle: \"{SETTLE}\", backoff {{ min: \"100ms\", max: \"500ms\" }}, \
         resync {{ cooldown: \"1s\" }}{extra} }} }}",
        SILENCE.as_millis(),
        extra = if extra.is_empty() { String::new() } else { format!(", {extra}") }
    )
}

fn edge(leaf_port: u16, extra: &str) -> TestServer {
    start(
        ServerKind::Rejoin,
        &leaf_conf("edge", &[backbone_remote(leaf_port, extra)], ""),
    )
}

/// Hub kinds to run against: rejoin always, nats-server when installed.
fn hub_kinds() -> Vec<ServerKind> {
    let mut kinds = vec![ServerKind::Rejoin];
    if nats_server_available() {
        kinds.push(ServerKind::NatsServer);
    } else {
        eprintln!("nats-server not installed: hub = rejoin only");
    }
    kinds
}

/// `(status, body)` of `/healthz`.
fn healthz(server: &TestServer) -> (u16, Value) {
    let r =
        http_get(server.http_addr(), "/healthz").unwrap_or_else(|e| panic!("GET /healthz: {e}"));
    (r.status, r.json())
}

/// The edge's `/varz` `backbone[0]`.
fn backbone_varz(server: &TestServer) -> Value {
    let r = http_get(server.http_addr(), "/varz").unwrap_or_else(|e| panic!("GET /varz: {e}"));
    r.json()["backbone"][0].clone()
}

/// Kill the hub and wait until the edge has noticed: from then on, what it publishes for
/// the hub is held.
fn kill_hub(mut hub: TestServer, edge: &TestServer) {
    hub.signal("KILL");
    assert!(hub.wait_exit(WAIT).is_some());
    wait_for(WAIT, "edge backbone state down", || {
        (backbone_varz(edge)["state"] == "down").then_some(())
    });
}

/// Sends SIGCONT on drop, so a failing test never leaves a stopped hub behind.
struct Stopped<'a>(&'a TestServer);

impl<'a> Stopped<'a> {
    fn stop(server: &'a TestServer) -> Self {
        server.signal("STOP");
        Stopped(server)
    }
}

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        let _ = rejoin_tests::process::send_signal(self.0.pid(), "CONT");
    }
}

/// Polls `/healthz` every 50 ms for `period`; panics if it is ever not 200.
fn assert_healthy_for(server: &TestServer, period: Duration, during: &str) {
    let end = Instant::now() + period;
    while Instant::now() < end {
        let (status, body) = healthz(server);
        assert_eq!(status, 200, "/healthz during {during}: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn health_through_reconnect_and_silence(hub_kind: ServerKind) {
    let conf = |port| hub_conf("hub", port, "");
    let (hub, leaf_port) = start_hub(hub_kind, conf);
    let edge = edge(leaf_port, "");
    wait_links(&edge, 1);
    let (status, body) = healthz(&edge);
    assert_eq!((status, body), (200, serde_json::json!({"status": "ok"})));

    // An ordinary reconnect: the hub dies (RST on every socket) and comes back.
    let mut hub = hub;
    hub.signal("KILL");
    assert!(hub.wait_exit(WAIT).is_some(), "hub did not die");
    assert_healthy_for(&edge, Duration::from_millis(1500), "the hub outage");
    let hub = start(hub_kind, &conf(leaf_port));
    let deadline = Instant::now() + WAIT;
    while edge_links(&edge) != 1 {
        let (status, body) = healthz(&edge);
        assert_eq!(status, 200, "/healthz while reconnecting: {body}");
        assert!(Instant::now() < deadline, "edge did not reconnect");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_healthy_for(&edge, Duration::from_millis(1500), "the recovery");

    // A silent hub: its process stops, its sockets stay open and say nothing.
    let stopped = Stopped::stop(&hub);
    let silent_since = Instant::now();
    let body = wait_for(SILENCE + SLACK + WAIT, "/healthz 503", || {
        let (status, body) = healthz(&edge);
        (status == 503).then_some(body)
    });
    let took = silent_since.elapsed();
    assert!(
        took <= SILENCE + SLACK,
        "/healthz flipped {took:?} after the hub went silent (silence_timeout {SILENCE:?})"
    );
    assert_eq!(body["status"], "unavailable", "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("silent"), "{body}");
    // Wedged, not reconnecting normally: it stays 503 while the edge keeps redialing.
    let end = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < end {
        assert_eq!(
            healthz(&edge).0,
            503,
            "flapped back while the hub is silent"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(backbone_varz(&edge)["state"], "silent");

    drop(stopped);
    wait_for(WAIT, "/healthz 200 after the hub answers again", || {
        (healthz(&edge).0 == 200).then_some(())
    });
    wait_links(&edge, 1);
    assert!(backbone_varz(&edge)["silences"].as_u64().unwrap_or(0) <= 1);
}

fn edge_links(edge: &TestServer) -> usize {
    rejoin_tests::leafnode::link_ports(edge).len()
}

#[test]
fn healthz_ok_through_reconnect_503_while_silent_rejoin_hub() {
    rejoin_only!("the backbone broadcaster is rejoin's own");
    health_through_reconnect_and_silence(ServerKind::Rejoin);
}

#[test]
fn healthz_ok_through_reconnect_503_while_silent_nats_server_hub() {
    rejoin_only!("the backbone broadcaster is rejoin's own");
    rejoin_tests::require_nats_server!();
    health_through_reconnect_and_silence(ServerKind::NatsServer);
}

async fn subscribe_resync(client: &Client) -> async_nats::Subscriber {
    let sub = client.subscribe("$REJOIN.RESYNC").await.unwrap();
    client.flush().await.unwrap();
    sub
}

async fn replay_after_outage(hub_kind: ServerKind) {
    let conf = |port| hub_conf("hub", port, "");
    let (hub, leaf_port) = start_hub(hub_kind, conf);
    let edge = edge(leaf_port, "");
    wait_links(&edge, 1);

    let publisher = connect(&edge).await;
    let watcher = connect(&edge).await;
    let mut resync_pub = subscribe_resync(&publisher).await;
    let mut resync_watch = subscribe_resync(&watcher).await;
    let local = watcher.subscribe("orders.>").await.unwrap();
    let mut local = local;

    let hub_client = connect(&hub).await;
    let mut remote = hub_client.subscribe("orders.>").await.unwrap();
    sync_interest(&hub_client, &publisher).await;
    publisher
        .publish("orders.0", "live-0".into())
        .await
        .unwrap();
    publisher.flush().await.unwrap();
    let m = next_msg(&mut remote).await;
    assert_eq!(&m.payload[..], b"live-0");
    assert!(
        m.headers.is_none(),
        "a live message carries no replay header"
    );
    assert_eq!(&next_msg(&mut local).await.payload[..], b"live-0");

    // The hub dies; once the edge has noticed, everything it publishes is held.
    drop(hub_client);
    kill_hub(hub, &edge);
    for i in 1..=5 {
        publisher
            .publish(format!("orders.{i}"), format!("gap-{i}").into())
            .await
            .unwrap();
    }
    publisher.flush().await.unwrap();
    // Local delivery goes on during the gap.
    for i in 1..=5 {
        let m = next_msg(&mut local).await;
        assert_eq!(m.payload, format!("gap-{i}").as_bytes());
    }
    wait_for(WAIT, "5 messages buffered", || {
        (backbone_varz(&edge)["buffered"] == 5).then_some(())
    });
    assert_eq!(healthz(&edge).0, 200, "an outage is not a wedge");

    // The hub returns (same leafnode port); its subscriber is back before the settle ends.
    let hub = start(hub_kind, &conf(leaf_port));
    let hub_client = connect(&hub).await;
    let mut remote = hub_client.subscribe("orders.>").await.unwrap();
    hub_client.flush().await.unwrap();

    for i in 1..=5 {
        let m = next_msg(&mut remote).await;
        assert_eq!(
            m.payload,
            format!("gap-{i}").as_bytes(),
            "replayed in order"
        );
        let headers = m.headers.as_ref().expect("replayed message has headers");
        let gap = headers.get("Rejoin-Gap").map(|v| v.as_str().to_string());
        assert_eq!(gap.as_deref(), Some("edge 1"), "gap header");
        let published = headers
            .get("Rejoin-Published")
            .map(|v| v.as_str().to_string())
            .unwrap_or_default();
        assert!(
            published.len() >= 20 && published.ends_with('Z'),
            "publish time header: {published:?}"
        );
    }

    // One announcement per edge client, after the flush.
    for sub in [&mut resync_pub, &mut resync_watch] {
        let m = next_msg(sub).await;
        let v: Value = serde_json::from_slice(&m.payload).expect("resync JSON");
        assert_eq!(v["remote"], "hub", "{v}");
        assert_eq!(
            (
                v["buffered"].as_u64(),
                v["replayed"].as_u64(),
                v["dropped"].as_u64()
            ),
            (Some(5), Some(5), Some(0)),
            "{v}"
        );
        assert_eq!(
            (v["first_gap"].as_u64(), v["last_gap"].as_u64()),
            (Some(1), Some(1)),
            "{v}"
        );
        for key in ["gap_started", "gap_ended"] {
            assert!(
                v[key].as_str().is_some_and(|t| t.ends_with('Z')),
                "{key}: {v}"
            );
        }
    }

    // Live again: a new message is not held and carries no replay header.
    publisher
        .publish("orders.6", "live-6".into())
        .await
        .unwrap();
    publisher.flush().await.unwrap();
    let m = next_msg(&mut remote).await;
    assert_eq!(&m.payload[..], b"live-6");
    assert!(m.headers.is_none());
    let extra = drain_quiet(&mut remote, Duration::from_millis(500)).await;
    assert!(extra.is_empty(), "nothing twice: {} extra", extra.len());
    // Exactly one announcement each (the cooldown is 1 s: anything else would be there).
    for sub in [&mut resync_pub, &mut resync_watch] {
        let extra = drain_quiet(sub, Duration::from_millis(1500)).await;
        assert!(
            extra.is_empty(),
            "{} extra resync announcements",
            extra.len()
        );
    }

    let v = backbone_varz(&edge);
    assert_eq!(v["state"], "up", "{v}");
    assert_eq!(
        (
            v["gaps"].as_u64(),
            v["replayed"].as_u64(),
            v["resyncs"].as_u64()
        ),
        (Some(1), Some(5), Some(1)),
        "{v}"
    );
    let metrics = http_get(edge.http_addr(), "/metrics").unwrap().text();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("rejoin_backbone_replayed_total{") && l.ends_with(" 5")),
        "{metrics}"
    );
}

#[tokio::test]
async fn outage_messages_are_replayed_with_headers_and_announced_rejoin_hub() {
    rejoin_only!("the backbone broadcaster is rejoin's own");
    replay_after_outage(ServerKind::Rejoin).await;
}

#[tokio::test]
async fn outage_messages_are_replayed_with_headers_and_announced_nats_server_hub() {
    rejoin_only!("the backbone broadcaster is rejoin's own");
    rejoin_tests::require_nats_server!();
    replay_after_outage(ServerKind::NatsServer).await;
}

#[test]
fn give_up_exits_with_code_3_after_a_graceful_shutdown() {
    rejoin_only!("the backbone broadcaster is rejoin's own");
    for hub_kind in hub_kinds().into_iter().take(1) {
        let (hub, leaf_port) = start_hub(hub_kind, |port| hub_conf("hub", port, ""));
        let mut edge = edge(leaf_port, "max_reconnect_attempts: 2");
        wait_links(&edge, 1);
        let mut hub = hub;
        hub.signal("KILL");
        assert!(hub.wait_exit(WAIT).is_some());
        let status = edge
            .wait_exit(WAIT)
            .unwrap_or_else(|| panic!("edge still running after its backbone gave up"));
        assert_eq!(status.code(), Some(3), "exit status {status}");
        let log = edge.log();
        assert!(log.contains("gave up"), "{log}");
        assert!(log.contains("Server Exiting"), "graceful shutdown: {log}");
    }
}

/// `resync { mode: lameduck }`: after the announcement every edge client gets an INFO with
/// `ldm: true` and is then closed, spread over `window`.
#[test]
fn lameduck_resync_tells_clients_to_move_then_closes_them_over_the_window() {
    rejoin_only!("the backbone broadcaster is rejoin's own");
    let conf = |port| hub_conf("hub", port, "");
    let (hub, leaf_port) = start_hub(ServerKind::Rejoin, conf);
    let edge = edge(leaf_port, "resync { mode: lameduck, window: \"1s\" }");
    wait_links(&edge, 1);
    let mut clients: Vec<RawClient> = (0..2)
        .map(|_| {
            let mut c = RawClient::connect_quiet(edge.addr());
            c.send("SUB $REJOIN.RESYNC 1\r\nPING\r\n");
            c.expect_line("PONG");
            c
        })
        .collect();

    let mut hub = hub;
    hub.signal("KILL");
    assert!(hub.wait_exit(WAIT).is_some());
    wait_for(WAIT, "edge backbone state down", || {
        (backbone_varz(&edge)["state"] == "down").then_some(())
    });
    let _hub = start(ServerKind::Rejoin, &conf(leaf_port));

    for c in &mut clients {
        let mut saw_resync = false;
        let mut saw_ldm = false;
        let deadline = Instant::now() + WAIT;
        while !saw_ldm {
            let left = deadline.saturating_duration_since(Instant::now());
            match c.read_frame(left) {
                Ok(Frame::Msg(m)) => {
                    assert_eq!(m.subject, "$REJOIN.RESYNC");
                    assert!(!saw_ldm, "the announcement comes before the lame-duck INFO");
                    saw_resync = true;
                }
                Ok(Frame::Info(info)) => {
                    assert_eq!(info["ldm"], true, "{info}");
                    assert!(saw_resync, "INFO ldm before the announcement");
                    saw_ldm = true;
                }
                Ok(other) => panic!("unexpected {other:?}"),
                Err(e) => panic!("waiting for resync and INFO ldm: {e}"),
            }
        }
    }
    // Closed within the 1 s window (plus slack).
    for c in &mut clients {
        c.expect_closed(Duration::from_secs(3));
    }
    let v = backbone_varz(&edge);
    assert_eq!(v["resyncs"], 1, "{v}");
}

/// A gap holds only what the live link would have sent: the remote's `deny_exports` (and
/// the hub's `export` rules) judge held messages too, so nothing forbidden is buffered or
/// replayed.
#[tokio::test]
async fn a_gap_holds_nothing_deny_exports_forbids() {
    rejoin_only!("the backbone broadcaster is rejoin's own");
    let conf = |port| hub_conf("hub", port, "");
    let (hub, leaf_port) = start_hub(ServerKind::Rejoin, conf);
    let remote = backbone_remote(leaf_port, "").replacen(
        "{ name: hub,",
        "{ name: hub, deny_exports: [\"secret.>\"],",
        1,
    );
    let edge = start(ServerKind::Rejoin, &leaf_conf("edge", &[remote], ""));
    wait_links(&edge, 1);
    let publisher = connect(&edge).await;
    let hub_client = connect(&hub).await;
    // The hub's interest in both, known to the edge before the gap.
    let _open = hub_client.subscribe("open.>").await.unwrap();
    let _secret = hub_client.subscribe("secret.>").await.unwrap();
    sync_interest(&hub_client, &publisher).await;

    drop(hub_client);
    kill_hub(hub, &edge);
    for i in 1..=3 {
        for kind in ["secret", "open"] {
            let subject = format!("{kind}.{i}");
            publisher.publish(subject, "gap".into()).await.unwrap();
        }
    }
    publisher.flush().await.unwrap();
    wait_for(WAIT, "3 messages buffered", || {
        (backbone_varz(&edge)["buffered"] == 3).then_some(())
    });

    let hub = start(ServerKind::Rejoin, &conf(leaf_port));
    let hub_client = connect(&hub).await;
    let mut open = hub_client.subscribe("open.>").await.unwrap();
    let mut secret = hub_client.subscribe("secret.>").await.unwrap();
    hub_client.flush().await.unwrap();
    for i in 1..=3 {
        assert_eq!(
            next_msg(&mut open).await.subject.as_str(),
            format!("open.{i}")
        );
    }
    let leaked = drain_quiet(&mut secret, Duration::from_millis(1000)).await;
    assert!(
        leaked.is_empty(),
        "{} denied messages replayed",
        leaked.len()
    );
    let v = backbone_varz(&edge);
    assert_eq!(
        (v["buffered"].as_u64(), v["replayed"].as_u64()),
        (Some(3), Some(3)),
        "{v}"
    );
}
