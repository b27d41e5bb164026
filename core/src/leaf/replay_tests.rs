//! Replays of raw leafnode captures against a real nats-server 2.9.10
//! (`nats-captures/leafnode-leaf-hub.log`, `leafnode-auth-hubtrue.log`,
//! `fake-hub-experiments.log`): one side's bytes, at their captured times, are fed to a
//! [`LeafSession`] playing the other side, and what it sends back must match what the real
//! server sent, byte for byte where nats-server's output is deterministic (INFO, CONNECT,
//! PING/PONG timing, `-ERR`), and line for line where it is not (the order of an `LS+` dump
//! follows Go map iteration).

use std::sync::Arc;

use super::pair::{msg as lmsg, Rec};
use super::{AcceptConfig, LeafSession, PingConfig, SolicitConfig};
use crate::auth::{AuthSpec, Authenticator, User};
use crate::event::CloseReason;
use crate::proto::info::ServerInfo;
use crate::proto::{parse, Dialect, Limits, Parsed};
use crate::sublist::Interest;
use crate::time::{Duration, Instant};

use Dir::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    HubToLeaf,
    LeafToHub,
}

/// (ms since the connection was accepted, direction, bytes; `None` = the sender closed).
type Chunk = (u64, Dir, Option<&'static [u8]>);

fn added(s: &str) -> Rec {
    Rec::Added(s.into(), None)
}

fn added_q(s: &str, q: &str, w: u32) -> Rec {
    Rec::Added(s.into(), Some((q.into(), w)))
}

fn removed(s: &str, q: Option<&str>) -> Rec {
    Rec::Removed(s.into(), q.map(str::to_string))
}

fn at(ms: u64) -> Instant {
    Instant::from_start(Duration::from_millis(ms))
}

/// What a connection task does with a session: parse, handle, drain, register on Ready,
/// run timers. Everything sent is kept with its time.
struct Shell {
    session: LeafSession,
    inbuf: Vec<u8>,
    sent: Vec<(u64, Vec<u8>)>,
    steps: Vec<Rec>,
    lds: String,
    interest: Vec<Interest>,
    /// Chunks already replayed.
    pos: usize,
}

impl Shell {
    fn new(session: LeafSession, lds: &str, interest: &[&str]) -> Self {
        let interest = interest
            .iter()
            .map(|s| Interest {
                subject: s.to_string(),
                queue: None,
                count: 1,
            })
            .collect();
        let mut shell = Shell {
            session,
            inbuf: Vec::new(),
            sent: Vec::new(),
            steps: Vec::new(),
            lds: lds.into(),
            interest,
            pos: 0,
        };
        shell.drain(0);
        shell
    }

    fn drain(&mut self, ms: u64) {
        if let Some(out) = self.session.take_outbox() {
            self.sent.push((ms, out));
        }
    }

    /// Run every timer due up to `ms`, each at its own deadline.
    fn advance(&mut self, ms: u64) {
        for _ in 0..10_000 {
            match self.session.poll_timeout() {
                Some((t, _)) if t <= at(ms) => {
                    let t_ms = t.since_start().as_millis() as u64;
                    self.session.handle_timeout(t);
                    self.drain(t_ms);
                }
                _ => return,
            }
        }
        panic!("timer loop");
    }

    fn feed(&mut self, ms: u64, bytes: &[u8]) {
        self.advance(ms);
        self.inbuf.extend_from_slice(bytes);
        let limits = Limits {
            max_control_line: 4096,
            max_payload: None,
        };
        for _ in 0..10_000 {
            if self.session.close_reason().is_some() {
                return;
            }
            let buf = std::mem::take(&mut self.inbuf);
            match parse(&buf, Dialect::Leaf, &limits) {
                Ok(Parsed::Incomplete) => {
                    self.inbuf = buf;
                    return;
                }
                Err(e) => {
                    let r = self.session.handle_proto_error(&e);
                    self.steps.push(Rec::Close(r));
                    self.drain(ms);
                    return;
                }
                Ok(Parsed::Op { op, consumed }) => {
                    let step = Rec::of(&self.session.handle_op(at(ms), op));
                    self.drain(ms);
                    if let Some(Rec::Ready(_)) = step {
                        self.session.registered(at(ms), &self.lds, &self.interest);
                        self.drain(ms);
                    }
                    self.steps.extend(step);
                    self.inbuf = buf[consumed..].to_vec();
                }
            }
        }
        panic!("parse loop");
    }

    /// Feed the chunks travelling in `dir`, in capture time, from where the last call
    /// stopped until `until_ms`.
    fn replay(&mut self, chunks: &[Chunk], dir: Dir, until_ms: u64) {
        while let Some(&(ms, d, bytes)) = chunks.get(self.pos) {
            if ms > until_ms {
                break;
            }
            self.pos += 1;
            if d != dir {
                continue;
            }
            match bytes {
                Some(b) => self.feed(ms, b),
                None if self.session.close_reason().is_none() => {
                    self.advance(ms);
                    self.session.close(CloseReason::ClientClosed);
                    self.steps.push(Rec::Close(CloseReason::ClientClosed));
                }
                None => {}
            }
        }
    }

    fn sent_bytes(&self) -> Vec<u8> {
        self.sent.iter().flat_map(|(_, b)| b.clone()).collect()
    }
}

/// What the capture shows travelling in `dir`, up to `until_ms`, concatenated.
fn captured(chunks: &[Chunk], dir: Dir, until_ms: u64) -> Vec<u8> {
    chunks
        .iter()
        .filter(|c| c.1 == dir && c.0 <= until_ms)
        .filter_map(|c| c.2)
        .flatten()
        .copied()
        .collect()
}

/// Lines of `wire`, with each run of consecutive `LS+` lines sorted (nats-server writes
/// its interest dump in Go map order).
fn normalized(wire: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(wire);
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<String> = Vec::new();
    for line in text.split_inclusive("\r\n") {
        if line.starts_with("LS+ ") {
            run.push(line.to_string());
            continue;
        }
        run.sort();
        out.append(&mut run);
        out.push(line.to_string());
    }
    run.sort();
    out.append(&mut run);
    out
}

const SYS_SUBJECTS: [&str; 3] = [
    "$SYS.REQ.ACCOUNT.PING.CONNZ",
    "$SYS.REQ.ACCOUNT.PING.STATZ",
    "$SYS.REQ.SERVER.PING.CONNZ",
];

fn ping(jitter: f64) -> PingConfig {
    PingConfig {
        first_jitter: jitter,
        ..PingConfig::default()
    }
}

/// The JSON of an INFO chunk.
fn info_json(chunk: &[u8]) -> &[u8] {
    let line = &chunk[..chunk.iter().position(|&b| b == b'\n').unwrap() + 1];
    line.strip_prefix(b"INFO ")
        .unwrap()
        .strip_suffix(b" \r\n")
        .unwrap()
}

/// Our hub, configured like the captured one: its first INFO is parsed and handed back.
fn hub_like(chunks: &[Chunk], auth: AuthSpec, jitter: f64) -> LeafSession {
    let first = chunks
        .iter()
        .find(|c| c.1 == HubToLeaf)
        .and_then(|c| c.2)
        .unwrap();
    let info = ServerInfo::parse(info_json(first)).unwrap();
    let mut cfg = AcceptConfig::new(info.client_id.unwrap(), Arc::new(Authenticator::new(auth)));
    cfg.ping = ping(jitter);
    LeafSession::accept(cfg, at(0), info)
}

const LEAF1_ID: &str = "ND6EENLR3HNLRFUQ2D5VAODVN6GAS7SIKJ3E2FZKOHPO3KU6ZB5EYGIX";

#[test]
fn leaf1_solicit_side_answers_the_real_hub_byte_for_byte() {
    let mut cfg = SolicitConfig::new(1, "leaf1", LEAF1_ID);
    cfg.ping = ping(0.062);
    let mut leaf = Shell::new(
        LeafSession::solicit(cfg, at(0)),
        "$LDS.YU8PF7ONCFZzV9coPXUCTU",
        &SYS_SUBJECTS,
    );
    leaf.replay(LEAF1_C1, HubToLeaf, 1156);
    // CONNECT, the LS+ dump, our first PING (1 s + 6.2% jitter after registration), and the
    // PONG to the hub's PING: exactly what nats-server's leaf sent.
    assert_eq!(
        normalized(&leaf.sent_bytes()),
        normalized(&captured(LEAF1_C1, LeafToHub, 1156))
    );
    assert_eq!(
        leaf.sent[0],
        (1, captured(LEAF1_C1, LeafToHub, 1)),
        "CONNECT byte for byte"
    );
    assert!(leaf.sent.contains(&(1064, b"PING\r\n".to_vec())));

    leaf.replay(LEAF1_C1, HubToLeaf, u64::MAX);
    let Rec::Ready(ready) = &leaf.steps[0] else {
        panic!("{:?}", leaf.steps)
    };
    assert_eq!(ready.remote_name, "hub");
    assert_eq!(&*ready.account, "$G");
    assert_eq!(ready.remote_account.as_deref(), Some("$G"));
    assert_eq!(ready.leafnode_urls, ["127.0.0.1:37422"]);
    assert!(ready.headers && ready.remote_is_hub);
    let h: &[u8] = b"NATS/1.0\r\nX-A: 1\r\n\r\n";
    assert_eq!(
        leaf.steps[1..],
        [
            added("$SYS.REQ.ACCOUNT.PING.CONNZ"),
            added("$SYS.REQ.ACCOUNT.PING.STATZ"),
            added("$SYS.REQ.SERVER.PING.CONNZ"),
            added("$LDS.EIu1C6uX76jK4Psc8oMgvW"),
            Rec::Healthy,
            lmsg("foo", Some("rep.1"), &[], None, b"hello"),
            lmsg("foo", Some("rep.2"), &[], Some(h), b"hi"),
            lmsg("wq", None, &["grp"], None, b"q"),
            lmsg("wq", Some("rr"), &["grp"], None, b"r"),
            lmsg("wq", None, &["grp"], Some(h), b"hi"),
            lmsg("wild.x", None, &[], None, b"w"),
            lmsg("all.a.b", None, &[], None, b"a"),
            added("bar"),
            added_q("bar", "workers", 1),
            added_q("bar", "workers", 2),
            added_q("bar", "workers", 1),
            removed("bar", Some("workers")),
            removed("bar", None),
            added("big"),
            removed("big", None),
            added("mon.x"),
            added_q("mon.q", "grp", 1),
            removed("mon.x", None),
            removed("mon.q", Some("grp")),
            Rec::Close(CloseReason::ClientClosed),
        ]
    );
    // Nothing but the handshake and pings came from the session itself.
    assert_eq!(
        normalized(&leaf.sent_bytes()),
        normalized(&captured(LEAF1_C1, LeafToHub, 1156))
    );
}

#[test]
fn leaf1_accept_side_is_the_real_hub_byte_for_byte() {
    let session = hub_like(LEAF1_C1, AuthSpec::default(), 0.154);
    let mut hub = Shell::new(session, "$LDS.EIu1C6uX76jK4Psc8oMgvW", &SYS_SUBJECTS);
    hub.replay(LEAF1_C1, LeafToHub, 1156);
    let ours = hub.sent_bytes();
    let theirs = captured(LEAF1_C1, HubToLeaf, 1156);
    // Both INFOs byte for byte, then the same LS+ dump, PONG, and our PING at 1.155 s.
    assert_eq!(normalized(&ours), normalized(&theirs));
    let info_lines = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .split_inclusive("\r\n")
            .take(2)
            .collect::<String>()
    };
    assert_eq!(info_lines(&ours), info_lines(&theirs));
    assert!(hub.sent.contains(&(1155, b"PING\r\n".to_vec())));

    hub.replay(LEAF1_C1, LeafToHub, u64::MAX);
    let Rec::Ready(ready) = &hub.steps[0] else {
        panic!("{:?}", hub.steps)
    };
    assert_eq!(ready.remote_name, "leaf1");
    assert_eq!(ready.remote_id.as_deref(), Some(LEAF1_ID));
    assert_eq!(ready.remote_cluster.as_deref(), Some("leaf1"));
    assert!(ready.headers && !ready.remote_is_hub);
    let h: &[u8] = b"NATS/1.0\r\nX-A: 1\r\n\r\n";
    let big = vec![b'y'; 2000];
    assert_eq!(
        hub.steps[1..],
        [
            added("$SYS.REQ.ACCOUNT.PING.CONNZ"),
            added("$SYS.REQ.ACCOUNT.PING.STATZ"),
            added("$SYS.REQ.SERVER.PING.CONNZ"),
            added("$LDS.YU8PF7ONCFZzV9coPXUCTU"),
            Rec::Healthy,
            added("foo"),
            added_q("wq", "grp", 1),
            added_q("wq", "grp", 2),
            added("wild.*"),
            added("all.>"),
            lmsg("bar", Some("inbox.9"), &["workers"], None, b"abc"),
            lmsg("bar", None, &["workers"], Some(h), b"hi"),
            added_q("wq", "grp", 1),
            removed("wq", Some("grp")),
            removed("foo", None),
            added("_INBOX.x"),
            // 2000 bytes through a hub with max_payload 1024: not enforced on leaf links.
            lmsg("big", None, &[], None, &big),
            removed("all.>", None),
            removed("_INBOX.x", None),
            removed("wild.*", None),
            Rec::Close(CloseReason::ClientClosed),
        ]
    );
}

#[test]
fn leaf1_second_connection_odd_subjects_are_accepted() {
    let mut cfg = SolicitConfig::new(5, "leaf1", LEAF1_ID);
    cfg.ping = ping(0.018);
    let mut leaf = Shell::new(
        LeafSession::solicit(cfg, at(0)),
        "$LDS.YU8PF7ONCFZzV9coPXUCTU",
        &SYS_SUBJECTS,
    );
    leaf.replay(LEAF1_C5, HubToLeaf, u64::MAX);
    let wire = String::from_utf8(leaf.sent_bytes()).unwrap();
    assert!(!wire.contains("-ERR"), "{wire}");
    assert_eq!(
        leaf.steps.last(),
        Some(&Rec::Close(CloseReason::ClientClosed))
    );
    for s in ["foo*.bar", "foo.>bar", "*", ">", "a.*.>", "été.x"] {
        assert!(leaf.steps.contains(&added(s)), "{s}");
        assert!(leaf.steps.contains(&removed(s, None)), "{s}");
    }
    assert!(leaf.steps.contains(&added_q("q.y", "q..z", 1)));
    assert!(leaf.steps.contains(&added_q("mix", "g", 2)));
    // The link lived 520 s on the hub's PONGs: our PING every 2 minutes was answered.
    assert_eq!(wire.matches("PING\r\n").count(), 5);
}

#[test]
fn auth_and_hub_true_capture_both_sides() {
    // Soliciting side: user:pass from the URL and `hub: true`.
    let mut cfg = SolicitConfig::new(
        1,
        "leaf2",
        "NDQWQ3JLPQZUD7DQ6ECRUPZ44J3RIJ7RIBG4MOM3QPWYAXEYAB3KYDEB",
    );
    cfg.user = Some("lu".into());
    cfg.pass = Some("lp".into());
    cfg.is_hub = true;
    let mut leaf = Shell::new(
        LeafSession::solicit(cfg, at(0)),
        "$LDS.12bv7dqbib6c2UScDEQ4HD",
        &SYS_SUBJECTS,
    );
    leaf.replay(AUTH_C1, HubToLeaf, 1);
    assert_eq!(
        leaf.sent_bytes(),
        captured(AUTH_C1, LeafToHub, 1),
        "CONNECT byte for byte"
    );
    leaf.replay(AUTH_C1, HubToLeaf, u64::MAX);
    let Rec::Ready(ready) = &leaf.steps[0] else {
        panic!("{:?}", leaf.steps)
    };
    assert_eq!(ready.remote_account.as_deref(), Some("A"));
    assert!(!ready.remote_is_hub, "we declared ourselves the hub");
    assert!(leaf.steps.contains(&added("$LDS.DvhWbyC4OQr88G7DeVFwZ6")));

    // Accepting side: leafnodes authorization users, lu bound to account A.
    let auth = AuthSpec {
        users: vec![User {
            user: "lu".into(),
            password: "lp".into(),
            account: Arc::from("A"),
            permissions: None,
        }],
        ..AuthSpec::default()
    };
    let mut hub = Shell::new(
        hub_like(AUTH_C1, auth.clone(), 0.1),
        "$LDS.DvhWbyC4OQr88G7DeVFwZ6",
        &SYS_SUBJECTS,
    );
    hub.replay(AUTH_C1, LeafToHub, 1);
    let ours = hub.sent_bytes();
    let theirs = captured(AUTH_C1, HubToLeaf, 1);
    assert_eq!(
        normalized(&ours),
        normalized(&theirs),
        "INFO, connect_info INFO with remote_account A, dump"
    );
    let Rec::Ready(ready) = &hub.steps[0] else {
        panic!("{:?}", hub.steps)
    };
    assert_eq!(&*ready.account, "A");
    assert_eq!(ready.user.as_deref(), Some("lu"));
    assert!(
        ready.remote_is_hub,
        "the leaf said is_hub: we are its spoke"
    );

    // The wrong password, as the real hub refused it.
    let mut hub = Shell::new(hub_like(AUTH_C2, auth, 0.1), "$LDS.x", &[]);
    hub.replay(AUTH_C2, LeafToHub, u64::MAX);
    assert_eq!(hub.sent_bytes(), captured(AUTH_C2, HubToLeaf, u64::MAX));
    assert_eq!(
        hub.session.close_reason(),
        Some(&CloseReason::AuthorizationViolation)
    );
    let mut cfg = SolicitConfig::new(
        1,
        "leaf3",
        "ND4RMYDBVBPPCHL5NP2ECUR6SGUJCRVYV5TJOICBO2G2TCC6IWQ3AL3M",
    );
    cfg.user = Some("lu".into());
    cfg.pass = Some("WRONG".into());
    let mut leaf = Shell::new(LeafSession::solicit(cfg, at(0)), "$LDS.x", &[]);
    leaf.replay(AUTH_C2, HubToLeaf, u64::MAX);
    assert_eq!(leaf.sent_bytes(), captured(AUTH_C2, LeafToHub, u64::MAX));
    assert_eq!(
        leaf.steps,
        [Rec::Close(CloseReason::AuthorizationViolation)]
    );
}

// fake-hub-experiments.log: a raw socket playing the hub against a nats-server leaf
// (`leaf4`). Here our leaf plays nats-server's part.

fn leaf4() -> Shell {
    let cfg = SolicitConfig::new(
        1,
        "leaf4",
        "NCOX6DTC4MGPSFDM7ROL3YMFAA7LBX64ATJLVGDBGKGJZDS5AFYSHJMH",
    );
    Shell::new(
        LeafSession::solicit(cfg, at(0)),
        "$LDS.srccAiPouhzFdD2PcpsRE0",
        &SYS_SUBJECTS,
    )
}

#[test]
fn fake_hub_info_without_leafnode_keys_is_the_wrong_port() {
    for info in [
        &b"INFO {\"server_id\":\"FAKEHUB\",\"server_name\":\"fakehub\",\"version\":\"2.9.10\",\"proto\":1,\"headers\":true,\"max_payload\":1048576}\r\n"[..],
        b"INFO {\"server_id\":\"FAKEHUB\",\"server_name\":\"fakehub\",\"version\":\"2.9.10\",\"proto\":1,\"headers\":true,\"max_payload\":1048576,\"client_id\":5}\r\n",
    ] {
        let mut leaf = leaf4();
        leaf.feed(0, info);
        assert_eq!(leaf.sent_bytes(), b"", "closed without a word ([EOF])");
        assert_eq!(leaf.steps, [Rec::Close(CloseReason::IncorrectPort)]);
    }
}

#[test]
fn fake_hub_minimal_info() {
    let mut leaf = leaf4();
    leaf.feed(
        0,
        b"INFO {\"server_id\":\"FAKEHUB\",\"client_id\":5,\"leafnode_urls\":[]}\r\n",
    );
    let expected = [
        &b"CONNECT {\"version\":\"2.9.10\",\"tls_required\":false,\"server_id\":\"NCOX6DTC4MGPSFDM7ROL3YMFAA7LBX64ATJLVGDBGKGJZDS5AFYSHJMH\",\"name\":\"leaf4\",\"cluster\":\"leaf4\"}\r\n"[..],
        b"LS+ $SYS.REQ.ACCOUNT.PING.CONNZ\r\nLS+ $SYS.REQ.ACCOUNT.PING.STATZ\r\nLS+ $SYS.REQ.SERVER.PING.CONNZ\r\nLS+ $LDS.srccAiPouhzFdD2PcpsRE0\r\n",
    ]
    .concat();
    assert_eq!(normalized(&leaf.sent_bytes()), normalized(&expected));
    assert!(matches!(leaf.steps[..], [Rec::Ready(_)]));
    leaf.advance(1199);
    assert!(
        leaf.sent_bytes().ends_with(b"PING\r\n"),
        "pings from ~1 s on"
    );
}

#[test]
fn fake_hub_info_on_connect_without_connect_info() {
    let mut leaf = leaf4();
    leaf.feed(0, b"INFO {\"server_id\":\"FAKEHUB\",\"server_name\":\"fakehub\",\"client_id\":5,\"headers\":true,\"max_payload\":1048576,\"info_on_connect\":true,\"leafnode_urls\":[\"127.0.0.1:37500\"]}\r\n");
    assert_eq!(
        leaf.sent,
        [(0, b"CONNECT {\"version\":\"2.9.10\",\"tls_required\":false,\"server_id\":\"NCOX6DTC4MGPSFDM7ROL3YMFAA7LBX64ATJLVGDBGKGJZDS5AFYSHJMH\",\"name\":\"leaf4\",\"cluster\":\"leaf4\",\"headers\":true}\r\n".to_vec())]
    );
    leaf.advance(1999);
    assert_eq!(leaf.sent.len(), 1);
    leaf.advance(2000);
    assert_eq!(
        leaf.sent[1],
        (
            2000,
            b"-ERR 'Stale Leaf Node Connection - Closing'\r\n".to_vec()
        )
    );
    assert_eq!(
        leaf.session.close_reason(),
        Some(&CloseReason::StaleConnection)
    );
}

#[test]
fn fake_hub_info_on_connect_with_connect_info() {
    let mut leaf = leaf4();
    leaf.feed(0, b"INFO {\"server_id\":\"FAKEHUB\",\"server_name\":\"fakehub\",\"client_id\":5,\"headers\":true,\"max_payload\":1048576,\"info_on_connect\":true,\"leafnode_urls\":[\"127.0.0.1:37500\"]}\r\n");
    leaf.feed(3, b"INFO {\"server_id\":\"FAKEHUB\",\"server_name\":\"fakehub\",\"client_id\":5,\"headers\":true,\"max_payload\":1048576,\"info_on_connect\":true,\"leafnode_urls\":[\"127.0.0.1:37500\"],\"connect_info\":true,\"remote_account\":\"$G\"}\r\nLS+ fromfake\r\n");
    let Rec::Ready(r) = &leaf.steps[0] else {
        panic!("{:?}", leaf.steps)
    };
    assert_eq!(r.remote_name, "fakehub");
    assert_eq!(leaf.steps[1..], [added("fromfake")]);
    assert_eq!(leaf.sent[1].0, 3);
    assert_eq!(
        normalized(&leaf.sent[1].1),
        normalized(b"LS+ $SYS.REQ.ACCOUNT.PING.STATZ\r\nLS+ $SYS.REQ.SERVER.PING.CONNZ\r\nLS+ $LDS.srccAiPouhzFdD2PcpsRE0\r\nLS+ $SYS.REQ.ACCOUNT.PING.CONNZ\r\n")
    );
}

#[test]
fn fake_hub_info_too_late() {
    let mut leaf = leaf4();
    leaf.advance(1500);
    assert!(
        matches!(leaf.session.close_reason(), Some(CloseReason::Other(_))),
        "closed at 1 s"
    );
    leaf.feed(
        1500,
        b"INFO {\"server_id\":\"FAKEHUB\",\"client_id\":5,\"leafnode_urls\":[]}\r\n",
    );
    assert_eq!(leaf.sent_bytes(), b"");
}

/// `leafnode-leaf-hub.log`, connection `c1`, verbatim: (ms since accept, direction, bytes).
const LEAF1_C1: &[Chunk] = &[
    (1, HubToLeaf, Some(b"INFO {\"server_id\":\"NBCCMX5OK6SU4SFGGIWI4W6CLYAHU64OEBJQQPEFQQ5AJL4QGWROSR5P\",\"server_name\":\"hub\",\"version\":\"2.9.10\",\"proto\":1,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":37422,\"headers\":true,\"auth_required\":true,\"max_payload\":1024,\"ip\":\"127.0.0.1:37422\",\"client_id\":11,\"nonce\":\"lHy8hfpP4PwXUj4\",\"info_on_connect\":true,\"leafnode_urls\":[\"127.0.0.1:37422\"]} \r\n")),
    (1, LeafToHub, Some(b"CONNECT {\"version\":\"2.9.10\",\"tls_required\":false,\"server_id\":\"ND6EENLR3HNLRFUQ2D5VAODVN6GAS7SIKJ3E2FZKOHPO3KU6ZB5EYGIX\",\"name\":\"leaf1\",\"cluster\":\"leaf1\",\"headers\":true}\r\n")),
    (2, HubToLeaf, Some(b"INFO {\"server_id\":\"NBCCMX5OK6SU4SFGGIWI4W6CLYAHU64OEBJQQPEFQQ5AJL4QGWROSR5P\",\"server_name\":\"hub\",\"version\":\"2.9.10\",\"proto\":1,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":37422,\"headers\":true,\"auth_required\":true,\"max_payload\":1024,\"ip\":\"127.0.0.1:37422\",\"client_id\":11,\"info_on_connect\":true,\"connect_info\":true,\"leafnode_urls\":[\"127.0.0.1:37422\"],\"remote_account\":\"$G\"} \r\nLS+ $SYS.REQ.ACCOUNT.PING.CONNZ\r\nLS+ $SYS.REQ.ACCOUNT.PING.STATZ\r\nLS+ $SYS.REQ.SERVER.PING.CONNZ\r\nLS+ $LDS.EIu1C6uX76jK4Psc8oMgvW\r\n")),
    (2, LeafToHub, Some(b"LS+ $SYS.REQ.ACCOUNT.PING.CONNZ\r\nLS+ $SYS.REQ.ACCOUNT.PING.STATZ\r\nLS+ $SYS.REQ.SERVER.PING.CONNZ\r\nLS+ $LDS.YU8PF7ONCFZzV9coPXUCTU\r\n")),
    (1064, LeafToHub, Some(b"PING\r\n")),
    (1065, HubToLeaf, Some(b"PONG\r\n")),
    (1155, HubToLeaf, Some(b"PING\r\n")),
    (1156, LeafToHub, Some(b"PONG\r\n")),
    (17935, LeafToHub, Some(b"LS+ foo\r\n")),
    (18936, LeafToHub, Some(b"LS+ wq grp 1\r\nLS+ wq grp 2\r\nLS+ wild.*\r\nLS+ all.>\r\n")),
    (19937, HubToLeaf, Some(b"LMSG foo rep.1 5\r\nhello\r\n")),
    (20740, HubToLeaf, Some(b"HMSG foo rep.2 20 22\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhi\r\n")),
    (21542, HubToLeaf, Some(b"LMSG wq | grp 1\r\nq\r\nLMSG wq + rr grp 1\r\nr\r\n")),
    (22345, HubToLeaf, Some(b"HMSG wq | grp 20 22\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhi\r\n")),
    (23148, HubToLeaf, Some(b"LMSG wild.x 1\r\nw\r\nLMSG all.a.b 1\r\na\r\n")),
    (23951, HubToLeaf, Some(b"LS+ bar\r\nLS+ bar workers 1\r\nLS+ bar workers 2\r\n")),
    (24952, LeafToHub, Some(b"LMSG bar + inbox.9 workers 3\r\nabc\r\n")),
    (25755, LeafToHub, Some(b"HMSG bar | workers 20 22\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhi\r\n")),
    (26558, HubToLeaf, Some(b"LS+ bar workers 1\r\n")),
    (27559, HubToLeaf, Some(b"LS- bar workers\r\nLS- bar\r\n")),
    (28560, LeafToHub, Some(b"LS+ wq grp 1\r\n")),
    (29061, LeafToHub, Some(b"LS- wq grp\r\n")),
    (29561, LeafToHub, Some(b"LS- foo\r\n")),
    (30562, LeafToHub, Some(b"LS+ _INBOX.x\r\n")),
    (32068, HubToLeaf, Some(b"LS+ big\r\n")),
    (32568, LeafToHub, Some(b"LMSG big 2000\r\nyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\n")),
    (34075, LeafToHub, Some(b"LS- all.>\r\nLS- _INBOX.x\r\nLS- wild.*\r\n")),
    (34075, HubToLeaf, Some(b"LS- big\r\n")),
    (54448, HubToLeaf, Some(b"LS+ mon.x\r\nLS+ mon.q grp 1\r\n")),
    (54809, HubToLeaf, Some(b"LS- mon.x\r\nLS- mon.q grp\r\n")),
    (60500, HubToLeaf, None),
    (60500, LeafToHub, None),
];

/// `leafnode-leaf-hub.log`, connection `c5`, verbatim: (ms since accept, direction, bytes).
const LEAF1_C5: &[Chunk] = &[
    (6, HubToLeaf, Some(b"INFO {\"server_id\":\"NACYA2GO36UEH2JGZ277OZXXKBPYKT7NHRCDKF2VFRN4EGPJVEQMJWSF\",\"server_name\":\"hub\",\"version\":\"2.9.10\",\"proto\":1,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":37422,\"headers\":true,\"auth_required\":true,\"max_payload\":1024,\"ip\":\"127.0.0.1:37422\",\"client_id\":15,\"nonce\":\"ODpfycpn9h5toQM\",\"info_on_connect\":true,\"leafnode_urls\":[\"127.0.0.1:37422\"]} \r\n")),
    (7, LeafToHub, Some(b"CONNECT {\"version\":\"2.9.10\",\"tls_required\":false,\"server_id\":\"ND6EENLR3HNLRFUQ2D5VAODVN6GAS7SIKJ3E2FZKOHPO3KU6ZB5EYGIX\",\"name\":\"leaf1\",\"cluster\":\"leaf1\",\"headers\":true}\r\n")),
    (7, HubToLeaf, Some(b"INFO {\"server_id\":\"NACYA2GO36UEH2JGZ277OZXXKBPYKT7NHRCDKF2VFRN4EGPJVEQMJWSF\",\"server_name\":\"hub\",\"version\":\"2.9.10\",\"proto\":1,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":37422,\"headers\":true,\"auth_required\":true,\"max_payload\":1024,\"ip\":\"127.0.0.1:37422\",\"client_id\":15,\"info_on_connect\":true,\"connect_info\":true,\"leafnode_urls\":[\"127.0.0.1:37422\"],\"remote_account\":\"$G\"} \r\nLS+ $SYS.REQ.ACCOUNT.PING.CONNZ\r\nLS+ $SYS.REQ.ACCOUNT.PING.STATZ\r\nLS+ $SYS.REQ.SERVER.PING.CONNZ\r\nLS+ $LDS.QqLRhrxi23F7t2IvSRPIBl\r\n")),
    (8, LeafToHub, Some(b"LS+ $SYS.REQ.ACCOUNT.PING.CONNZ\r\nLS+ $SYS.REQ.ACCOUNT.PING.STATZ\r\nLS+ $SYS.REQ.SERVER.PING.CONNZ\r\nLS+ $LDS.YU8PF7ONCFZzV9coPXUCTU\r\n")),
    (1025, LeafToHub, Some(b"PING\r\n")),
    (1025, HubToLeaf, Some(b"PONG\r\n")),
    (1143, HubToLeaf, Some(b"PING\r\n")),
    (1144, LeafToHub, Some(b"PONG\r\n")),
    (121028, LeafToHub, Some(b"PING\r\n")),
    (121028, HubToLeaf, Some(b"PONG\r\n")),
    (205837, HubToLeaf, Some(b"LS+ t.>\r\n")),
    (205880, HubToLeaf, Some(b"LS+ _INBOX.ZAHmQrsFfokskFsNVX6JXu.*\r\n")),
    (205880, HubToLeaf, Some(b"LS+ svc grp 1\r\n")),
    (205881, HubToLeaf, Some(b"LS- t.>\r\n")),
    (205882, HubToLeaf, Some(b"LS- _INBOX.ZAHmQrsFfokskFsNVX6JXu.*\r\nLS- svc grp\r\n")),
    (211745, HubToLeaf, Some(b"LS+ t.>\r\n")),
    (211847, HubToLeaf, Some(b"LS+ _INBOX.ahnnRG33iJAqcf5qEzXeBL.*\r\n")),
    (211849, HubToLeaf, Some(b"LS+ svc grp 1\r\n")),
    (211850, HubToLeaf, Some(b"LS- t.>\r\nLS- _INBOX.ahnnRG33iJAqcf5qEzXeBL.*\r\nLS- svc grp\r\n")),
    (241025, LeafToHub, Some(b"PING\r\n")),
    (241026, HubToLeaf, Some(b"PONG\r\n")),
    (361027, LeafToHub, Some(b"PING\r\n")),
    (361027, HubToLeaf, Some(b"PONG\r\n")),
    (375855, HubToLeaf, Some(b"LS+ foo*.bar\r\n")),
    (376819, HubToLeaf, Some(b"LS+ q.x q.* 1\r\n")),
    (376980, HubToLeaf, Some(b"LS- q.x q.*\r\n")),
    (377061, HubToLeaf, Some(b"LS- foo*.bar\r\n")),
    (381734, HubToLeaf, Some(b"LS+ foo*.bar\r\n")),
    (381815, HubToLeaf, Some(b"LS+ foo.>bar\r\n")),
    (382056, HubToLeaf, Some(b"LS+ *\r\n")),
    (382137, HubToLeaf, Some(b"LS+ >\r\n")),
    (382217, HubToLeaf, Some(b"LS+ foo.>\r\n")),
    (382298, HubToLeaf, Some(b"LS+ a.*.>\r\n")),
    (382459, HubToLeaf, Some(b"LS+ \xc3\xa9t\xc3\xa9.x\r\n")),
    (382620, HubToLeaf, Some(b"LS+ dup\r\n")),
    (382780, HubToLeaf, Some(b"LS+ q.x q.* 1\r\n")),
    (382861, HubToLeaf, Some(b"LS+ q.y q..z 1\r\n")),
    (383023, HubToLeaf, Some(b"LS- q.x q.*\r\n")),
    (383101, HubToLeaf, Some(b"LS- dup\r\n")),
    (383262, HubToLeaf, Some(b"LS- *\r\nLS- a.*.>\r\nLS- foo.>\r\nLS- \xc3\xa9t\xc3\xa9.x\r\nLS- foo*.bar\r\nLS- foo.>bar\r\nLS- >\r\nLS- q.y q..z\r\n")),
    (404318, HubToLeaf, Some(b"LS+ mix\r\nLS+ mix g 1\r\nLS+ mix g 2\r\nLS+ mix h 1\r\n")),
    (406771, HubToLeaf, Some(b"LS+ back\r\nLS+ back g 1\r\nLS+ back k 1\r\n")),
    (407575, HubToLeaf, Some(b"LS- back\r\n")),
    (408378, HubToLeaf, Some(b"LS- back k\r\n")),
    (409188, HubToLeaf, Some(b"LS- mix\r\nLS- mix g\r\nLS- mix h\r\nLS- back g\r\nLS- back k\r\n")),
    (417643, HubToLeaf, Some(b"LS+ qq g 1\r\n")),
    (418295, HubToLeaf, Some(b"LS+ qq g 2\r\n")),
    (419809, HubToLeaf, Some(b"LS+ qq g 1\r\n")),
    (419810, HubToLeaf, Some(b"LS- qq g\r\n")),
    (481027, LeafToHub, Some(b"PING\r\n")),
    (481028, HubToLeaf, Some(b"PONG\r\n")),
    (520367, LeafToHub, None),
    (520367, HubToLeaf, None),
];

/// `leafnode-auth-hubtrue.log`, connection `c1`, verbatim: (ms since accept, direction, bytes).
const AUTH_C1: &[Chunk] = &[
    (0, HubToLeaf, Some(b"INFO {\"server_id\":\"NA6FNUUNWP23D3SVLB2AUODAQGCIHLQGS2YNXZ6WK4ZCOSLUA7Y5QVZ7\",\"server_name\":\"hub2\",\"version\":\"2.9.10\",\"proto\":1,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":47423,\"headers\":true,\"auth_required\":true,\"max_payload\":1048576,\"ip\":\"127.0.0.1:47423\",\"client_id\":6,\"nonce\":\"rR5iLM9ugdmu1D0\",\"info_on_connect\":true,\"leafnode_urls\":[\"127.0.0.1:47423\"]} \r\n")),
    (1, LeafToHub, Some(b"CONNECT {\"version\":\"2.9.10\",\"user\":\"lu\",\"pass\":\"lp\",\"tls_required\":false,\"server_id\":\"NDQWQ3JLPQZUD7DQ6ECRUPZ44J3RIJ7RIBG4MOM3QPWYAXEYAB3KYDEB\",\"name\":\"leaf2\",\"is_hub\":true,\"cluster\":\"leaf2\",\"headers\":true}\r\n")),
    (1, HubToLeaf, Some(b"INFO {\"server_id\":\"NA6FNUUNWP23D3SVLB2AUODAQGCIHLQGS2YNXZ6WK4ZCOSLUA7Y5QVZ7\",\"server_name\":\"hub2\",\"version\":\"2.9.10\",\"proto\":1,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":47423,\"headers\":true,\"auth_required\":true,\"max_payload\":1048576,\"ip\":\"127.0.0.1:47423\",\"client_id\":6,\"info_on_connect\":true,\"connect_info\":true,\"leafnode_urls\":[\"127.0.0.1:47423\"],\"remote_account\":\"A\"} \r\nLS+ $SYS.REQ.SERVER.PING.CONNZ\r\nLS+ $LDS.DvhWbyC4OQr88G7DeVFwZ6\r\nLS+ $SYS.REQ.ACCOUNT.PING.CONNZ\r\nLS+ $SYS.REQ.ACCOUNT.PING.STATZ\r\n")),
    (1, LeafToHub, Some(b"LS+ $LDS.12bv7dqbib6c2UScDEQ4HD\r\nLS+ $SYS.REQ.ACCOUNT.PING.CONNZ\r\nLS+ $SYS.REQ.ACCOUNT.PING.STATZ\r\nLS+ $SYS.REQ.SERVER.PING.CONNZ\r\n")),
    (1100, HubToLeaf, Some(b"PING\r\n")),
    (1101, LeafToHub, Some(b"PONG\r\n")),
    (1157, LeafToHub, Some(b"PING\r\n")),
    (1158, HubToLeaf, Some(b"PONG\r\n")),
];

/// `leafnode-auth-hubtrue.log`, connection `c2`, verbatim: (ms since accept, direction, bytes).
const AUTH_C2: &[Chunk] = &[
    (12, HubToLeaf, Some(b"INFO {\"server_id\":\"NA6FNUUNWP23D3SVLB2AUODAQGCIHLQGS2YNXZ6WK4ZCOSLUA7Y5QVZ7\",\"server_name\":\"hub2\",\"version\":\"2.9.10\",\"proto\":1,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":47423,\"headers\":true,\"auth_required\":true,\"max_payload\":1048576,\"ip\":\"127.0.0.1:47423\",\"client_id\":7,\"nonce\":\"5yGGg93KlBoTRxQ\",\"info_on_connect\":true,\"leafnode_urls\":[\"127.0.0.1:47423\"]} \r\n")),
    (13, LeafToHub, Some(b"CONNECT {\"version\":\"2.9.10\",\"user\":\"lu\",\"pass\":\"WRONG\",\"tls_required\":false,\"server_id\":\"ND4RMYDBVBPPCHL5NP2ECUR6SGUJCRVYV5TJOICBO2G2TCC6IWQ3AL3M\",\"name\":\"leaf3\",\"cluster\":\"leaf3\",\"headers\":true}\r\n")),
    (13, HubToLeaf, Some(b"-ERR 'Authorization Violation'\r\n")),
    (13, HubToLeaf, None),
    (14, LeafToHub, None),
];
