//! Presence and relay as applications see them (issue #6, incident 2): events on
//! `$PRESENCE.<id>.online|offline` in the right order through a thousand reconnects,
//! takeover of a live id with its `-ERR`, the takeover backoff against fighting clients,
//! relay delivery to the current session only, state requests, refused ids, and takeover
//! across a leafnode link. rejoin only: nats-server has no presence.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::{ConnectOptions, RequestErrorKind};
use bytes::Bytes;
use futures::StreamExt;
use rejoin_tests::client::{barrier, next_msg, try_next_msg};
use rejoin_tests::server::free_port;
use rejoin_tests::{http_get, RawClient, ServerKind, TestServer, WAIT};
use serde_json::Value;

/// Skips a test when the suite runs against nats-server (`REJOIN_TEST_SERVER`), which has no
/// presence.
fn rejoin_only(server: &TestServer) -> bool {
    server.kind() == ServerKind::Rejoin
}

/// An async-nats client, named `name` (a presence session) if given. Once connected it
/// would reconnect only after a minute: a session closed by a takeover must not come back
/// within a test and take its id over again. (async-nats counts the first connect and the
/// first reconnect alike, hence the flag.)
async fn client(server: &TestServer, name: Option<&str>) -> async_nats::Client {
    let connected = Arc::new(AtomicBool::new(false));
    let flag = connected.clone();
    let mut opts = ConnectOptions::new()
        .connection_timeout(WAIT)
        .reconnect_delay_callback(move |_| {
            if flag.load(Ordering::Relaxed) {
                Duration::from_secs(60)
            } else {
                Duration::ZERO
            }
        });
    if let Some(name) = name {
        opts = opts.name(name);
    }
    let c = opts.connect(server.url()).await.expect("connect");
    connected.store(true, Ordering::Relaxed);
    c
}

/// One received presence event.
#[derive(Debug, Clone)]
struct Seen {
    id: String,
    online: bool,
    epoch: u64,
    server: String,
    cid: u64,
    reason: String,
}

fn parse(msg: &async_nats::Message) -> Seen {
    let mut tokens = msg.subject.as_str().rsplitn(2, '.');
    let kind = tokens.next().unwrap_or_default();
    let v: Value = serde_json::from_slice(&msg.payload)
        .unwrap_or_else(|e| panic!("{}: bad payload {:?}: {e}", msg.subject, msg.payload));
    Seen {
        id: v["id"].as_str().expect("id").to_string(),
        online: match kind {
            "online" => true,
            "offline" => false,
            other => panic!(
                "unexpected presence subject kind {other:?} in {}",
                msg.subject
            ),
        },
        epoch: v["epoch"].as_u64().expect("epoch"),
        server: v["server"].as_str().expect("server").to_string(),
        cid: v["cid"].as_u64().expect("cid"),
        reason: v["reason"].as_str().expect("reason").to_string(),
    }
}

/// The next `n` presence events of `sub`.
async fn events(sub: &mut async_nats::Subscriber, n: usize) -> Vec<Seen> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.push(parse(&next_msg(sub).await));
    }
    out
}

/// Incident 2 invariant 1 on one id's stream: alternating, session-ordered, increasing.
fn assert_alternates(stream: &[Seen]) {
    for w in stream.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        assert_ne!(a.online, b.online, "two in a row: {a:?}, {b:?}");
        if b.online {
            assert!(
                (b.epoch, &b.server) > (a.epoch, &a.server),
                "epoch not increasing: {a:?} then {b:?}"
            );
        } else {
            assert_eq!(
                (a.epoch, &a.server, a.cid),
                (b.epoch, &b.server, b.cid),
                "offline is not for the session announced online: {a:?} then {b:?}"
            );
        }
    }
}

async fn state(c: &async_nats::Client, subject: &str) -> Value {
    let msg = tokio::time::timeout(WAIT, c.request(subject.to_string(), Bytes::new()))
        .await
        .expect("state request timed out")
        .expect("state request");
    serde_json::from_slice(&msg.payload).expect("state JSON")
}

fn varz(server: &TestServer) -> Value {
    http_get(server.http_addr(), "/varz")
        .expect("GET /varz")
        .json()
}

const CONNECT: &str =
    r#""verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1"#;

/// A raw client presenting `name`, after its CONNECT was accepted.
fn raw_session(server: &TestServer, name: &str) -> RawClient {
    RawClient::connect_with(server.addr(), &format!(r#"{{{CONNECT},"name":"{name}"}}"#)).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_reconnects_announce_offline_then_online_each_time() {
    // No takeover backoff here: a reconnect can reach the server before it has noticed the
    // previous connection's end, which makes it a takeover, and this test is about the
    // order of events under any interleaving, not about rate limiting.
    let server = TestServer::start("presence { takeover_backoff: 0s }");
    if !rejoin_only(&server) {
        return;
    }
    let watcher = client(&server, None).await;
    let mut sub = watcher.subscribe("$PRESENCE.>").await.unwrap();
    barrier(&watcher).await;

    const CYCLES: usize = 1000;
    let mut last = None;
    for i in 0..CYCLES {
        let alice = client(&server, Some("alice")).await;
        if i + 1 < CYCLES {
            // Connect, then drop at once (closing the socket without waiting).
            drop(alice);
        } else {
            last = Some(alice);
        }
    }
    let alice = last.expect("the last session stays");
    // on1, (off, on) × 999.
    let stream = events(&mut sub, 2 * CYCLES - 1).await;
    assert!(stream.iter().all(|e| e.id == "alice"));
    assert!(stream[0].online);
    assert_alternates(&stream);
    let final_online = stream.last().unwrap();
    assert!(final_online.online, "ends online: {final_online:?}");
    // Nothing else arrives: no late offline of an old session (2B).
    barrier(&watcher).await;
    assert!(try_next_msg(&mut sub).is_none(), "an extra event arrived");
    // The server's answer agrees with the stream.
    let s = state(&watcher, "$PRESENCE.alice.state").await;
    assert_eq!(s["online"], true);
    assert_eq!(s["epoch"].as_u64(), Some(final_online.epoch));
    assert_eq!(s["cid"].as_u64(), Some(final_online.cid));
    // Its end is announced too.
    alice.drain().await.unwrap();
    let end = events(&mut sub, 1).await;
    assert!(
        !end[0].online && end[0].epoch == final_online.epoch,
        "{end:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_closes_the_old_connection_with_an_error() {
    let server = TestServer::builder("presence {}").http().start();
    if !rejoin_only(&server) {
        return;
    }
    let watcher = client(&server, None).await;
    let mut sub = watcher.subscribe("$PRESENCE.bob.*").await.unwrap();
    barrier(&watcher).await;

    let mut old = raw_session(&server, "bob");
    let on1 = events(&mut sub, 1).await;
    assert!(on1[0].online && on1[0].reason == "connect", "{on1:?}");
    let _new = raw_session(&server, "bob");
    old.expect_err_and_close("Presence Session Replaced: Id \"bob\" Connected Again");
    let stream = events(&mut sub, 2).await;
    assert!(
        !stream[0].online && stream[0].reason == "replaced",
        "{stream:?}"
    );
    assert_eq!(stream[0].cid, on1[0].cid, "offline is for the old session");
    assert!(
        stream[1].online && stream[1].reason == "takeover",
        "{stream:?}"
    );
    let mut all = on1.clone();
    all.extend(stream);
    assert_alternates(&all);

    // A third client with the same id within takeover_backoff (1 s): the fight is refused
    // for the newcomer, and the live session keeps its id.
    let mut third = RawClient::connect(server.addr());
    third.read_info();
    third.send(format!(
        "CONNECT {{{CONNECT},\"name\":\"bob\"}}\r\nPING\r\n"
    ));
    let line = third.read_line(WAIT).expect("an -ERR");
    assert!(
        line.starts_with("-ERR 'Presence Takeover Refused: Id \"bob\""),
        "{line}"
    );
    third.expect_closed(WAIT);
    barrier(&watcher).await;
    assert!(
        try_next_msg(&mut sub).is_none(),
        "a refused session is not announced"
    );

    let v = varz(&server);
    let p = &v["presence"];
    assert_eq!(p["enabled"], true, "{p}");
    assert_eq!(p["takeovers"], 1, "{p}");
    assert_eq!(p["fights"], 1, "{p}");
    assert_eq!(p["sessions"], 1, "{p}");
    assert!(
        server.log().contains("fighting over id \"bob\""),
        "the fight is logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_reaches_only_the_current_session() {
    let server = TestServer::start("presence {}");
    if !rejoin_only(&server) {
        return;
    }
    let carol = client(&server, Some("carol")).await;
    let mut inbox = carol.subscribe("$RELAY.carol.>").await.unwrap();
    barrier(&carol).await;
    let snooper = client(&server, None).await;
    let mut snoop = snooper.subscribe("$RELAY.>").await.unwrap();
    barrier(&snooper).await;
    let sender = client(&server, None).await;

    sender
        .publish("$RELAY.carol.hello", "hi".into())
        .await
        .unwrap();
    let msg = next_msg(&mut inbox).await;
    assert_eq!(msg.subject.as_str(), "$RELAY.carol.hello");
    assert_eq!(msg.payload, Bytes::from("hi"));

    // Request/reply through the relay.
    let responder = carol.clone();
    let mut requests = carol.subscribe("$RELAY.carol.rpc").await.unwrap();
    barrier(&carol).await;
    let answer = tokio::spawn(async move {
        let req = next_msg(&mut requests).await;
        responder
            .publish(req.reply.expect("reply subject"), "pong".into())
            .await
            .unwrap();
        responder.flush().await.unwrap();
    });
    let reply = tokio::time::timeout(WAIT, sender.request("$RELAY.carol.rpc", "ping".into()))
        .await
        .expect("relay request timed out")
        .expect("relay request");
    assert_eq!(reply.payload, Bytes::from("pong"));
    answer.await.unwrap();

    // An offline id: nobody receives it, and a request gets no-responders at once.
    let err = tokio::time::timeout(WAIT, sender.request("$RELAY.dave.x", "?".into()))
        .await
        .expect("no-responders in time")
        .expect_err("nobody may answer for an offline id");
    assert_eq!(err.kind(), RequestErrorKind::NoResponders);

    // A new session of carol takes over: the old one's subscription hears nothing more.
    let carol2 = client(&server, Some("carol")).await;
    let mut inbox2 = carol2.subscribe("$RELAY.carol.>").await.unwrap();
    barrier(&carol2).await;
    sender
        .publish("$RELAY.carol.again", "2".into())
        .await
        .unwrap();
    let msg = next_msg(&mut inbox2).await;
    assert_eq!(msg.subject.as_str(), "$RELAY.carol.again");

    barrier(&snooper).await;
    barrier(&sender).await;
    assert!(
        try_next_msg(&mut snoop).is_none(),
        "a subscriber that is not the peer never receives relay messages"
    );
    // The replaced session never saw the later message.
    while let Some(m) = try_next_msg(&mut inbox) {
        assert_ne!(m.subject.as_str(), "$RELAY.carol.again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_requests_answer_from_the_registry() {
    let server = TestServer::start("presence {}");
    if !rejoin_only(&server) {
        return;
    }
    let asker = client(&server, None).await;
    let _erin = raw_session(&server, "erin");
    let _frank = raw_session(&server, "frank");
    let s = state(&asker, "$PRESENCE.erin.state").await;
    assert_eq!(s["id"], "erin");
    assert_eq!(s["online"], true);
    assert!(s["epoch"].as_u64().is_some_and(|e| e > 0), "{s}");
    assert_eq!(s["server"], asker.server_info().server_id.as_str());
    let s = state(&asker, "$PRESENCE.nobody.state").await;
    assert_eq!(s, serde_json::json!({"id": "nobody", "online": false}));
    let list = state(&asker, "$PRESENCE.list").await;
    let ids: Vec<&str> = list["online"]
        .as_array()
        .expect("online list")
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["erin", "frank"]);
}

#[test]
fn invalid_ids_are_refused_at_connect() {
    let server = TestServer::start("presence {}");
    if !rejoin_only(&server) {
        return;
    }
    for bad in ["a.b", "a b", "*", ">"] {
        let mut c = RawClient::connect(server.addr());
        c.read_info();
        c.send(format!(
            "CONNECT {{{CONNECT},\"name\":\"{bad}\"}}\r\nPING\r\n"
        ));
        c.expect_err_and_close("Invalid Presence Id");
    }
    // No name (or an empty one) is simply not a presence session.
    let mut plain = RawClient::connect_quiet(server.addr());
    let mut empty = raw_session(&server, "");
    plain.send("PING\r\n");
    plain.expect_line("PONG");
    empty.send("PING\r\n");
    empty.expect_line("PONG");
}

#[test]
fn clients_cannot_publish_presence_events() {
    let server = TestServer::start("presence {}");
    if !rejoin_only(&server) {
        return;
    }
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("PUB $PRESENCE.x.online 2\r\n{}\r\n");
    c.expect_err_open("Permissions Violation for Publish to \"$PRESENCE.x.online\"");
}

#[test]
fn presence_off_leaves_the_subjects_alone() {
    let server = TestServer::builder("").http().start();
    if !rejoin_only(&server) {
        return;
    }
    let mut sub = RawClient::connect_quiet(server.addr());
    sub.send("SUB $RELAY.> 1\r\nPING\r\n");
    sub.expect_line("PONG");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("PUB $RELAY.x.y 1\r\nz\r\nPING\r\n");
    c.expect_line("PONG");
    assert_eq!(sub.expect_msg().subject, "$RELAY.x.y");
    assert_eq!(varz(&server)["presence"]["enabled"], false);
}

/// Polls `/varz` of `server` until `check` holds (bounded by [`WAIT`]).
fn wait_varz(server: &TestServer, check: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = varz(server);
        if check(&v) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/varz never satisfied the check: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_and_relay_across_a_leafnode_link() {
    let leaf_port = free_port();
    let hub = TestServer::builder(&format!(
        "presence {{}}\nleafnodes {{ listen: \"127.0.0.1:{leaf_port}\" }}"
    ))
    .http()
    .start();
    if !rejoin_only(&hub) {
        return;
    }
    let leaf = TestServer::builder(&format!(
        "presence {{}}\nleafnodes {{ remotes: [ {{ url: \"nats-leaf://127.0.0.1:{leaf_port}\" }} ] }}"
    ))
    .http()
    .start();
    wait_varz(&hub, |v| v["leafnodes"] == 1);
    wait_varz(&leaf, |v| v["leafnodes"] == 1);

    let watcher = client(&hub, None).await;
    let mut sub = watcher.subscribe("$PRESENCE.alice.*").await.unwrap();
    barrier(&watcher).await;
    let hub_id = watcher.server_info().server_id;

    // alice on the hub, then alice on the leaf: the hub closes its session.
    let mut alice1 = raw_session(&hub, "alice");
    let on1 = events(&mut sub, 1).await;
    assert_eq!(on1[0].server, hub_id);
    // The leaf hears about alice1 before alice2 arrives, or alice2's epoch is newer anyway.
    let alice2 = client(&leaf, Some("alice")).await;
    let mut inbox = alice2.subscribe("$RELAY.alice.>").await.unwrap();
    barrier(&alice2).await;
    alice1.expect_err_and_close(
        "Presence Session Replaced: Id \"alice\" Connected On Another Server",
    );
    let stream = events(&mut sub, 2).await;
    assert!(
        !stream[0].online && stream[0].cid == on1[0].cid,
        "{stream:?}"
    );
    assert!(stream[1].online && stream[1].server != hub_id, "{stream:?}");
    let mut all = on1;
    all.extend(stream);
    assert_alternates(&all);

    // Relay from the hub to alice's current session on the leaf. Interest crosses the link
    // asynchronously, so retry (bounded) until the first message arrives.
    let sender = client(&hub, None).await;
    let deadline = Instant::now() + WAIT;
    loop {
        sender
            .publish("$RELAY.alice.hello", "hi".into())
            .await
            .unwrap();
        sender.flush().await.unwrap();
        match tokio::time::timeout(Duration::from_millis(200), inbox.next()).await {
            Ok(Some(msg)) => {
                assert_eq!(msg.subject.as_str(), "$RELAY.alice.hello");
                break;
            }
            Ok(None) => panic!("subscription ended"),
            Err(_) => assert!(Instant::now() < deadline, "relay never crossed the link"),
        }
    }
    // The hub's view answers state requests for the remote session.
    let s = state(&sender, "$PRESENCE.alice.state").await;
    assert_eq!(s["online"], true);
    assert_ne!(s["server"], hub_id.as_str());

    // alice leaves the leaf: the hub's watcher hears it.
    alice2.drain().await.unwrap();
    let end = events(&mut sub, 1).await;
    assert!(!end[0].online, "{end:?}");
    assert_eq!(
        varz(&hub)["presence"]["remote_takeovers"],
        1,
        "the hub counted the takeover from the leaf"
    );
}
