//! Both roles driven against each other through [`super::pair::Pair`], plus single-session
//! checks of every refusal, timer and `-ERR` nats-server 2.9.10 produces on a leafnode link.

use std::sync::Arc;

use proptest::prelude::*;

use super::pair::*;
use super::*;
use crate::auth::{AuthSpec, Rules, User};
use crate::event::{CloseReason, Event};
use crate::proto::info::{LeafConnect, ServerInfo};
use crate::proto::{parse, Dialect, Limits, Op, Parsed};
use crate::time::{Duration, Instant};

fn at(ms: u64) -> Instant {
    Instant::from_start(Duration::from_millis(ms))
}

fn text(bytes: Option<Vec<u8>>) -> String {
    String::from_utf8(bytes.unwrap_or_default()).unwrap()
}

/// The JSON of the first line of `wire` (an INFO or CONNECT).
fn json_of_first_line(wire: &str, op: &str) -> serde_json::Value {
    let line = wire
        .lines()
        .find(|l| l.starts_with(op))
        .unwrap_or_else(|| panic!("no {op} in {wire:?}"));
    serde_json::from_str(line[op.len()..].trim()).unwrap()
}

fn open_pair() -> Pair {
    let mut p = Pair::default_pair();
    p.drive();
    assert!(
        p.hub.session.is_open() && p.leaf.session.is_open(),
        "{:?} / {:?}",
        p.hub.log,
        p.leaf.log
    );
    p
}

fn users() -> AuthSpec {
    AuthSpec {
        users: vec![
            User {
                user: "lu".into(),
                password: "lp".into(),
                account: Arc::from("A"),
                permissions: None,
            },
            User {
                user: "other".into(),
                password: "op".into(),
                account: Arc::from("B"),
                permissions: None,
            },
        ],
        ..AuthSpec::default()
    }
}

// ---------------------------------------------------------------- handshake

#[test]
fn full_handshake_in_nats_server_order() {
    let mut p = Pair::default_pair();
    p.hub.interest = vec![plain("foo"), queue("bar", "workers", 2)];
    p.leaf.interest = vec![plain("$SYS.REQ.SERVER.PING.CONNZ")];
    p.drive();

    let hub = p.hub.sent_text();
    let lines: Vec<&str> = hub.split("\r\n").collect();
    assert!(
        lines[0].starts_with("INFO {") && lines[0].ends_with("} "),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("INFO {"));
    assert_eq!(
        &lines[2..5],
        [
            format!("LS+ {HUB_LDS}").as_str(),
            "LS+ foo",
            "LS+ bar workers 2"
        ]
    );

    let first = json_of_first_line(lines[0], "INFO");
    assert_eq!(first["client_id"], 11);
    assert_eq!(
        first["leafnode_urls"],
        serde_json::json!(["127.0.0.1:7422"])
    );
    assert_eq!(first["auth_required"], true);
    assert_eq!(first["info_on_connect"], true);
    assert_eq!(first["headers"], true);
    assert_eq!(first["max_payload"], 1024);
    assert!(first.get("connect_info").is_none());
    let second = json_of_first_line(lines[1], "INFO");
    assert_eq!(second["connect_info"], true);
    assert_eq!(second["remote_account"], "$G");
    assert!(second.get("nonce").is_none());

    let leaf = p.leaf.sent_text();
    let lines: Vec<&str> = leaf.split("\r\n").collect();
    let connect = json_of_first_line(lines[0], "CONNECT");
    assert_eq!(
        connect,
        serde_json::json!({"version": "2.9.10", "tls_required": false, "server_id": "NLEAF",
            "name": "leaf1", "cluster": "leaf1", "headers": true})
    );
    assert_eq!(
        &lines[1..3],
        [
            format!("LS+ {LEAF_LDS}").as_str(),
            "LS+ $SYS.REQ.SERVER.PING.CONNZ"
        ]
    );

    // Each side saw the other's dump, $LDS included (the data plane forwards it elsewhere).
    assert_eq!(
        p.leaf.data(),
        [
            Rec::Added(HUB_LDS.into(), None),
            Rec::Added("foo".into(), None),
            Rec::Added("bar".into(), Some(("workers".into(), 2)))
        ]
    );
    assert_eq!(
        p.hub.data(),
        [
            Rec::Added(LEAF_LDS.into(), None),
            Rec::Added("$SYS.REQ.SERVER.PING.CONNZ".into(), None)
        ]
    );
}

#[test]
fn ready_describes_the_link_on_both_sides() {
    let mut p = Pair::new(hub_cfg(users()), hub_info(), {
        let mut c = leaf_cfg();
        c.user = Some("lu".into());
        c.pass = Some("lp".into());
        c.deny_pub = vec!["private.>".into()];
        c.account = Arc::from("LOCAL");
        c
    });
    p.drive();
    let Some(Rec::Ready(hub)) = p.hub.log.first().cloned() else {
        panic!("{:?}", p.hub.log)
    };
    assert_eq!(hub.role, Role::Accept);
    assert_eq!(&*hub.account, "A");
    assert_eq!(hub.user.as_deref(), Some("lu"));
    assert_eq!(hub.remote_name, "leaf1");
    assert_eq!(hub.remote_id.as_deref(), Some("NLEAF"));
    assert_eq!(hub.remote_cluster.as_deref(), Some("leaf1"));
    assert!(!hub.remote_is_hub);
    assert!(hub.headers);
    assert_eq!(hub.deny_pub, ["private.>"]);

    let Some(Rec::Ready(leaf)) = p.leaf.log.first().cloned() else {
        panic!("{:?}", p.leaf.log)
    };
    assert_eq!(leaf.role, Role::Solicit);
    assert_eq!(&*leaf.account, "LOCAL");
    assert_eq!(leaf.remote_name, "hub");
    assert_eq!(leaf.remote_id.as_deref(), Some("NHUB"));
    assert_eq!(leaf.remote_account.as_deref(), Some("A"));
    assert_eq!(leaf.leafnode_urls, ["127.0.0.1:7422"]);
    assert!(leaf.remote_is_hub);
    assert!(leaf.headers);

    let connect = json_of_first_line(&p.leaf.sent_text(), "CONNECT");
    assert_eq!(connect["user"], "lu");
    assert_eq!(connect["pass"], "lp");
    assert_eq!(connect["deny_pub"], serde_json::json!(["private.>"]));
    assert!(connect.get("lang").is_none() && connect.get("gateway").is_none());
    // The loop text names the local account of each side.
    p.leaf.session.close(CloseReason::LoopDetected);
    assert!(text(p.leaf.session.take_outbox()).contains("account=\"LOCAL\""));
}

#[test]
fn credentials_sign_the_hub_nonce_and_replace_user_and_password() {
    let kp = nkeys::KeyPair::new_from_raw(nkeys::KeyPairType::User, [3u8; 32]).unwrap();
    let creds =
        UserCreds::new("eyJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.x", &kp.seed().unwrap()).unwrap();
    let mut info = hub_info();
    info.nonce = Some("lHy8hfpP4PwXUj4".into());
    let mut cfg = leaf_cfg();
    cfg.user = Some("lu".into());
    cfg.pass = Some("lp".into());
    cfg.creds = Some(Arc::new(creds));
    let mut p = Pair::new(hub_cfg(AuthSpec::default()), info, cfg);
    p.drive();
    let connect = json_of_first_line(&p.leaf.sent_text(), "CONNECT");
    assert_eq!(connect["jwt"], "eyJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.x");
    assert!(connect.get("user").is_none() && connect.get("pass").is_none());
    let sig = connect["sig"].as_str().unwrap();
    let raw = decode_base64url(sig);
    kp.verify(b"lHy8hfpP4PwXUj4", &raw).unwrap();
    assert!(kp.verify(b"another nonce", &raw).is_err());
}

fn decode_base64url(s: &str) -> Vec<u8> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {s}"),
        };
        bits = (bits << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

#[test]
fn hub_true_reverses_the_roles() {
    let mut cfg = leaf_cfg();
    cfg.is_hub = true;
    let mut p = Pair::new(hub_cfg(AuthSpec::default()), hub_info(), cfg);
    p.drive();
    assert_eq!(
        json_of_first_line(&p.leaf.sent_text(), "CONNECT")["is_hub"],
        true
    );
    let Some(Rec::Ready(hub)) = p.hub.log.first().cloned() else {
        panic!()
    };
    assert!(hub.remote_is_hub, "the accepting side becomes the spoke");
    let Some(Rec::Ready(leaf)) = p.leaf.log.first().cloned() else {
        panic!()
    };
    assert!(!leaf.remote_is_hub);
}

#[test]
fn user_permissions_travel_in_connect_info() {
    let perms = Permissions {
        publish: Rules {
            allow: vec!["up.>".into()],
            deny: vec![],
        },
        subscribe: Rules {
            allow: vec![],
            deny: vec!["secret.>".into()],
        },
    };
    let mut auth = users();
    auth.users[0].permissions = Some(Arc::new(perms.clone()));
    let mut cfg = leaf_cfg();
    cfg.user = Some("lu".into());
    cfg.pass = Some("lp".into());
    let mut p = Pair::new(hub_cfg(auth), hub_info(), cfg);
    p.drive();
    let hub = p.hub.sent_text();
    let second = json_of_first_line(hub.split("\r\n").nth(1).unwrap(), "INFO");
    assert_eq!(second["import"], serde_json::json!({"deny": ["secret.>"]}));
    assert_eq!(second["export"], serde_json::json!({"allow": ["up.>"]}));
    let Some(Rec::Ready(leaf)) = p.leaf.log.first().cloned() else {
        panic!()
    };
    assert_eq!(leaf.permissions.as_deref(), Some(&perms));
}

#[test]
fn tls_required_by_hub_or_config_comes_before_connect() {
    for (hub_tls, cfg_tls) in [(true, false), (false, true)] {
        let mut info = hub_info();
        info.tls_required = Some(hub_tls).filter(|t| *t);
        let mut cfg = leaf_cfg();
        cfg.tls = cfg_tls;
        let mut p = Pair::new(hub_cfg(AuthSpec::default()), info, cfg);
        p.leaf.auto_tls = false;
        p.drive();
        assert_eq!(p.leaf.log, [Rec::StartTls]);
        assert_eq!(p.leaf.sent_text(), "", "nothing before the TLS upgrade");
        assert_eq!(
            p.leaf.session.poll_timeout(),
            None,
            "the TLS deadline is the shell's"
        );
        assert_eq!(
            p.leaf.session.tls_established(p.now),
            LeafStep::Nothing,
            "waits for connect_info"
        );
        assert_eq!(
            json_of_first_line(&text(p.leaf.session.take_outbox()), "CONNECT")["tls_required"],
            true
        );
        // A second call is harmless.
        assert_eq!(p.leaf.session.tls_established(p.now), LeafStep::Nothing);
        assert!(p.leaf.session.take_outbox().is_none());
    }
}

#[test]
fn plaintext_during_tls_upgrade_closes() {
    let mut info = hub_info();
    info.tls_required = Some(true);
    info.client_id = Some(3);
    let mut s = LeafSession::solicit(leaf_cfg(), at(0));
    let json = serde_json::to_vec(&info).unwrap();
    assert_eq!(s.handle_op(at(1), Op::Info(&json)), LeafStep::StartTls);
    assert_eq!(
        s.handle_op(at(2), Op::Ping),
        LeafStep::Close(CloseReason::ProtocolViolation)
    );
}

// ---------------------------------------------------------------- solicit side alone

fn solicit_with(info: &str) -> (LeafSession, Option<Rec>) {
    let mut s = LeafSession::solicit(leaf_cfg(), at(0));
    let step = s.handle_op(at(10), Op::Info(info.as_bytes()));
    let rec = Rec::of(&step);
    (s, rec)
}

#[test]
fn no_info_within_first_info_timeout_closes_silently() {
    let mut s = LeafSession::solicit(leaf_cfg(), at(0));
    assert_eq!(s.poll_timeout(), Some((at(1000), LeafTimer::FirstInfo)));
    s.handle_timeout(at(999));
    assert!(s.close_reason().is_none());
    s.handle_timeout(at(1000));
    assert!(matches!(s.close_reason(), Some(CloseReason::Other(_))));
    assert!(s.take_outbox().is_none());
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn info_must_come_first() {
    let mut s = LeafSession::solicit(leaf_cfg(), at(0));
    assert_eq!(
        s.handle_op(at(1), Op::Ping),
        LeafStep::Close(CloseReason::ProtocolViolation)
    );
    assert!(s.take_outbox().is_none());
}

#[test]
fn wrong_port_info_is_refused_like_nats_server() {
    // Captured fake-hub scenarios: neither key, then client_id without leafnode_urls.
    for info in [
        r#"{"server_id":"FAKEHUB","server_name":"fakehub","version":"2.9.10","proto":1,"headers":true,"max_payload":1048576}"#,
        r#"{"server_id":"FAKEHUB","client_id":5}"#,
        r#"{"server_id":"FAKEHUB","client_id":0,"leafnode_urls":[]}"#,
        r#"{"server_id":"FAKEHUB","client_id":5,"leafnode_urls":null}"#,
    ] {
        let (mut s, step) = solicit_with(info);
        assert_eq!(step, Some(Rec::Close(CloseReason::IncorrectPort)), "{info}");
        assert!(s.take_outbox().is_none());
    }
    let (_, step) = solicit_with("not json");
    assert_eq!(step, Some(Rec::Close(CloseReason::ProtocolViolation)));
}

#[test]
fn minimal_info_without_info_on_connect_is_ready_after_connect() {
    let (mut s, step) = solicit_with(r#"{"server_id":"FAKEHUB","client_id":5,"leafnode_urls":[]}"#);
    let Some(Rec::Ready(r)) = step else {
        panic!("{step:?}")
    };
    assert_eq!(r.remote_name, "FAKEHUB", "no server_name: the id stands in");
    assert!(!r.headers);
    let out = text(s.take_outbox());
    // As captured: no headers key when the hub did not offer headers.
    assert_eq!(
        out,
        "CONNECT {\"version\":\"2.9.10\",\"tls_required\":false,\"server_id\":\"NLEAF\",\"name\":\"leaf1\",\"cluster\":\"leaf1\"}\r\n"
    );
    s.registered(at(10), LEAF_LDS, &[plain("a")]);
    assert_eq!(
        text(s.take_outbox()),
        format!("LS+ {LEAF_LDS}\r\nLS+ a\r\n")
    );
}

#[test]
fn missing_connect_info_is_a_stale_leaf() {
    let (mut s, step) = solicit_with(
        r#"{"server_id":"FAKEHUB","client_id":5,"headers":true,"info_on_connect":true,"leafnode_urls":["127.0.0.1:37500"]}"#,
    );
    assert_eq!(step, None);
    assert!(text(s.take_outbox()).starts_with("CONNECT "));
    assert_eq!(s.poll_timeout(), Some((at(2010), LeafTimer::ConnectInfo)));
    // PINGs are answered meanwhile; an INFO without connect_info does not complete.
    assert_eq!(s.handle_op(at(500), Op::Ping), LeafStep::Nothing);
    assert_eq!(text(s.take_outbox()), "PONG\r\n");
    assert_eq!(
        s.handle_op(at(600), Op::Info(br#"{"leafnode_urls":["x:1"]}"#)),
        LeafStep::Nothing
    );
    s.handle_timeout(at(2009));
    assert!(s.close_reason().is_none());
    s.handle_timeout(at(2010));
    assert_eq!(
        text(s.take_outbox()),
        "-ERR 'Stale Leaf Node Connection - Closing'\r\n"
    );
    assert_eq!(s.close_reason(), Some(&CloseReason::StaleConnection));
}

#[test]
fn interest_before_connect_info_closes() {
    let (mut s, _) = solicit_with(
        r#"{"server_id":"H","client_id":5,"info_on_connect":true,"leafnode_urls":[]}"#,
    );
    let step = s.handle_op(
        at(20),
        Op::LsPlus {
            subject: "foo",
            queue: None,
        },
    );
    assert_eq!(step, LeafStep::Close(CloseReason::ProtocolViolation));
}

#[test]
fn later_hub_info_updates_urls() {
    let mut p = open_pair();
    let json =
        br#"{"server_id":"NHUB","client_id":11,"leafnode_urls":["10.0.0.1:7422","10.0.0.2:7422"]}"#;
    let step = p.leaf.session.handle_op(p.now, Op::Info(json));
    assert_eq!(
        step,
        LeafStep::LeafUrls(vec!["10.0.0.1:7422".into(), "10.0.0.2:7422".into()])
    );
    assert_eq!(
        p.leaf
            .session
            .handle_op(p.now, Op::Info(br#"{"leafnode_urls":[]}"#)),
        LeafStep::Nothing
    );
    // The accepting side ignores INFO from its leaf.
    assert_eq!(
        p.hub.session.handle_op(p.now, Op::Info(json)),
        LeafStep::Nothing
    );
}

// ---------------------------------------------------------------- accept side alone

fn accept(auth: AuthSpec) -> LeafSession {
    let mut s = LeafSession::accept(hub_cfg(auth), at(0), hub_info());
    assert!(text(s.take_outbox()).starts_with("INFO {"));
    s
}

#[test]
fn accept_forces_the_info_fields_a_nats_leaf_needs() {
    let mut cfg = hub_cfg(AuthSpec::default());
    cfg.cid = 0;
    let info = ServerInfo {
        server_id: "X".into(),
        nonce: Some("abc".into()),
        ..ServerInfo::default()
    };
    let mut s = LeafSession::accept(cfg, at(0), info);
    let out = text(s.take_outbox());
    assert!(out.starts_with("INFO {") && out.ends_with("} \r\n"));
    let v = json_of_first_line(&out, "INFO");
    assert_eq!(v["client_id"], 1, "never 0");
    assert_eq!(v["leafnode_urls"], serde_json::json!([]));
    assert_eq!(v["auth_required"], true);
    assert_eq!(v["info_on_connect"], true);
    assert_eq!(v["headers"], true);
    assert_eq!(v["nonce"], "abc");
}

#[test]
fn auth_timeout() {
    let mut s = accept(AuthSpec::default());
    assert_eq!(s.poll_timeout(), Some((at(2000), LeafTimer::AuthTimeout)));
    s.handle_timeout(at(1999));
    assert!(s.close_reason().is_none());
    s.handle_timeout(at(2000));
    assert_eq!(text(s.take_outbox()), "-ERR 'Authentication Timeout'\r\n");
    assert_eq!(s.close_reason(), Some(&CloseReason::AuthenticationTimeout));
}

#[test]
fn first_op_must_be_connect() {
    for op in [
        Op::Ping,
        Op::LsPlus {
            subject: "a",
            queue: None,
        },
        Op::Info(b"{}"),
        Op::Err("Stale Connection"),
    ] {
        let mut s = accept(AuthSpec::default());
        assert_eq!(
            s.handle_op(at(1), op),
            LeafStep::Close(CloseReason::AuthorizationViolation)
        );
        assert_eq!(text(s.take_outbox()), "-ERR 'Authorization Violation'\r\n");
    }
}

fn connect_result(auth: AuthSpec, json: &str) -> (Option<Rec>, String) {
    let mut s = accept(auth);
    let step = s.handle_op(at(1), Op::Connect(json.as_bytes()));
    let rec = Rec::of(&step);
    (rec, text(s.take_outbox()))
}

#[test]
fn connect_refusals_with_exact_texts() {
    let cases: &[(&str, CloseReason, &str)] = &[
        (
            r#"{"lang":"go","name":"c"}"#,
            CloseReason::IncorrectPort,
            "-ERR 'attempted to connect to leaf node port'\r\n",
        ),
        (
            r#"{"gateway":"gw1","name":"g"}"#,
            CloseReason::IncorrectPort,
            "-ERR 'Rejecting connection from gateway \"gw1\" on the leafnode port'\r\n",
        ),
        (
            r#"{"cluster":"a b"}"#,
            CloseReason::ProtocolViolation,
            "-ERR 'cluster name cannot contain spaces'\r\n",
        ),
        (r#"{nope"#, CloseReason::ProtocolViolation, ""),
    ];
    for (json, reason, err) in cases {
        let (step, out) = connect_result(AuthSpec::default(), json);
        assert_eq!(step, Some(Rec::Close(reason.clone())), "{json}");
        assert_eq!(&out, err, "{json}");
    }
    // An empty lang is not a client.
    let (step, _) = connect_result(AuthSpec::default(), r#"{"lang":""}"#);
    assert!(matches!(step, Some(Rec::Ready(_))));
    // `CONNECT {}` is the minimal accepted leaf CONNECT (§2.4).
    let (step, _) = connect_result(AuthSpec::default(), "{}");
    assert!(matches!(step, Some(Rec::Ready(_))));
}

#[test]
fn credentials_checked_before_lang() {
    let (step, out) = connect_result(users(), r#"{"lang":"go","user":"lu","pass":"WRONG"}"#);
    assert_eq!(step, Some(Rec::Close(CloseReason::AuthorizationViolation)));
    assert_eq!(out, "-ERR 'Authorization Violation'\r\n");
}

#[test]
fn credentials_and_account_binding() {
    let (step, out) = connect_result(users(), r#"{"user":"lu","pass":"WRONG","name":"leaf3"}"#);
    assert_eq!(step, Some(Rec::Close(CloseReason::AuthorizationViolation)));
    assert_eq!(out, "-ERR 'Authorization Violation'\r\n");
    let (step, _) = connect_result(users(), r#"{"name":"anon"}"#);
    assert_eq!(
        step,
        Some(Rec::Close(CloseReason::AuthorizationViolation)),
        "no creds with users configured"
    );
    let (step, out) = connect_result(users(), r#"{"user":"other","pass":"op","name":"leaf3"}"#);
    let Some(Rec::Ready(r)) = step else {
        panic!("{step:?}")
    };
    assert_eq!(&*r.account, "B");
    assert_eq!(out, "", "connect_info waits for registration");
    // Without users, whatever is presented binds to $G.
    let (step, _) = connect_result(AuthSpec::default(), r#"{"user":"x","pass":"y"}"#);
    let Some(Rec::Ready(r)) = step else { panic!() };
    assert_eq!(&*r.account, "$G");
}

#[test]
fn same_cluster_name_is_refused() {
    let mut cfg = hub_cfg(AuthSpec::default());
    cfg.cluster_name = Some("east".into());
    let mut s = LeafSession::accept(cfg, at(0), hub_info());
    s.take_outbox();
    let step = s.handle_op(at(1), Op::Connect(br#"{"cluster":"east","name":"l"}"#));
    assert_eq!(step, LeafStep::Close(CloseReason::ClusterNameConflict));
    assert_eq!(
        text(s.take_outbox()),
        "-ERR 'remote leafnode has same cluster name'\r\n"
    );
}

#[test]
fn registration_can_be_refused_as_a_duplicate() {
    let mut p = Pair::default_pair();
    p.hub.auto_register = false;
    p.drive();
    assert!(matches!(p.hub.log[..], [Rec::Ready(_)]));
    p.hub.session.close(CloseReason::Replaced);
    p.drive();
    assert!(p
        .hub
        .sent_text()
        .ends_with("-ERR 'Duplicate Remote LeafNode Connection'\r\n"));
    assert_eq!(p.leaf.session.close_reason(), Some(&CloseReason::Replaced));
}

// ---------------------------------------------------------------- steady state

#[test]
fn interest_changes_cross_the_link() {
    let mut p = open_pair();
    let before = p.hub.log.len();
    p.leaf.session.send_interest(&InterestDelta::Add {
        subject: "wq",
        queue: Some(("grp", 1)),
    });
    p.leaf.session.send_interest(&InterestDelta::Add {
        subject: "wq",
        queue: Some(("grp", 2)),
    });
    p.leaf.session.send_interest(&InterestDelta::Add {
        subject: "wild.*",
        queue: None,
    });
    p.leaf.session.send_interest(&InterestDelta::Remove {
        subject: "wq",
        queue: Some("grp"),
    });
    p.leaf.session.send_interest(&InterestDelta::Remove {
        subject: "wild.*",
        queue: None,
    });
    p.drive();
    assert!(p
        .leaf
        .sent_text()
        .ends_with("LS+ wq grp 1\r\nLS+ wq grp 2\r\nLS+ wild.*\r\nLS- wq grp\r\nLS- wild.*\r\n"));
    assert_eq!(
        p.hub.log[before..],
        [
            Rec::Added("wq".into(), Some(("grp".into(), 1))),
            Rec::Added("wq".into(), Some(("grp".into(), 2))),
            Rec::Added("wild.*".into(), None),
            Rec::Removed("wq".into(), Some("grp".into())),
            Rec::Removed("wild.*".into(), None),
        ]
    );
}

#[test]
fn send_before_registration_is_dropped() {
    let mut s = LeafSession::solicit(leaf_cfg(), at(0));
    s.send_interest(&InterestDelta::Add {
        subject: "a",
        queue: None,
    });
    s.send_msg("a", None, &[], None, b"x");
    assert!(s.take_outbox().is_none());
}

#[test]
fn peer_lds_is_never_reflected() {
    let mut p = open_pair();
    let sent = p.leaf.sent.len();
    // The data plane (wrongly) tries to send the hub's own $LDS subject back.
    p.leaf.session.send_interest(&InterestDelta::Add {
        subject: HUB_LDS,
        queue: None,
    });
    p.leaf.session.send_interest(&InterestDelta::Remove {
        subject: HUB_LDS,
        queue: None,
    });
    p.leaf.session.send_interest(&InterestDelta::Add {
        subject: "$LDS.someone.else",
        queue: None,
    });
    p.drive();
    assert_eq!(&p.leaf.sent[sent..], b"LS+ $LDS.someone.else\r\n");
    assert!(p.hub.session.is_open());
    // Once the hub withdraws it, it is an ordinary subject again.
    p.hub.session.send_interest(&InterestDelta::Remove {
        subject: HUB_LDS,
        queue: None,
    });
    p.drive();
    p.leaf.session.send_interest(&InterestDelta::Add {
        subject: HUB_LDS,
        queue: None,
    });
    p.drive();
    assert_eq!(
        p.hub.session.close_reason(),
        Some(&CloseReason::LoopDetected)
    );
}

#[test]
fn messages_in_every_shape() {
    let mut p = open_pair();
    let h: &[u8] = b"NATS/1.0\r\nX-A: 1\r\n\r\n";
    // (reply, queues, headers, wire form)
    type Case<'a> = (Option<&'a str>, Vec<&'a str>, Option<&'a [u8]>, &'a str);
    let cases: Vec<Case> = vec![
        (None, vec![], None, "LMSG foo 5\r\nhello\r\n"),
        (Some("rep.1"), vec![], None, "LMSG foo rep.1 5\r\nhello\r\n"),
        (None, vec!["grp"], None, "LMSG foo | grp 5\r\nhello\r\n"),
        (
            Some("rr"),
            vec!["g", "k"],
            None,
            "LMSG foo + rr g k 5\r\nhello\r\n",
        ),
        (
            None,
            vec![],
            Some(h),
            "HMSG foo 20 25\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhello\r\n",
        ),
        (
            Some("rep.2"),
            vec![],
            Some(h),
            "HMSG foo rep.2 20 25\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhello\r\n",
        ),
        (
            None,
            vec!["grp"],
            Some(h),
            "HMSG foo | grp 20 25\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhello\r\n",
        ),
        (
            Some("r"),
            vec!["workers"],
            Some(h),
            "HMSG foo + r workers 20 25\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhello\r\n",
        ),
    ];
    for (reply, queues, headers, wire) in cases {
        for (from_hub, side) in [(true, "hub"), (false, "leaf")] {
            let (tx, rx) = if from_hub {
                (&mut p.hub, &mut p.leaf)
            } else {
                (&mut p.leaf, &mut p.hub)
            };
            let sent = tx.sent.len();
            let got = rx.log.len();
            tx.session
                .send_msg("foo", reply, &queues, headers, b"hello");
            p.drive();
            let (tx, rx) = if from_hub {
                (&p.hub, &p.leaf)
            } else {
                (&p.leaf, &p.hub)
            };
            assert_eq!(
                String::from_utf8_lossy(&tx.sent[sent..]),
                wire,
                "from {side}"
            );
            assert_eq!(
                rx.log[got..],
                [msg("foo", reply, &queues, headers, b"hello")],
                "to {side}"
            );
        }
    }
}

#[test]
fn headers_are_stripped_for_a_peer_without_them() {
    let mut info = hub_info();
    info.leafnode_urls = Some(vec![]);
    // A leaf that did not say headers:true in CONNECT.
    let mut s = LeafSession::accept(hub_cfg(AuthSpec::default()), at(0), info);
    s.take_outbox();
    assert!(matches!(
        s.handle_op(at(1), Op::Connect(b"{}")),
        LeafStep::Ready(_)
    ));
    s.registered(at(1), HUB_LDS, &[]);
    s.take_outbox();
    assert!(!s.peer_headers());
    s.send_msg("foo", Some("r"), &["q"], Some(b"NATS/1.0\r\n\r\n"), b"hi");
    assert_eq!(text(s.take_outbox()), "LMSG foo + r q 2\r\nhi\r\n");
    // The static encoder writes what it is given.
    let mut out = Vec::new();
    LeafSession::encode_msg(&mut out, "foo", None, &[], Some(b"NATS/1.0\r\n\r\n"), b"");
    assert_eq!(out, b"HMSG foo 12 12\r\nNATS/1.0\r\n\r\n\r\n");
}

#[test]
fn max_payload_is_not_enforced_on_leaf_messages() {
    let mut p = open_pair();
    let big = vec![b'y'; 2000];
    p.leaf.session.send_msg("big", None, &[], None, &big);
    p.drive();
    assert_eq!(p.hub.log.last(), Some(&msg("big", None, &[], None, &big)));
    assert!(p.hub.session.is_open());
}

#[test]
fn invalid_ls_plus_subject_keeps_the_link() {
    let mut p = open_pair();
    let got = p.hub.log.len();
    p.hub
        .inbuf
        .extend_from_slice(b"LS+ foo..bar\r\nLS+ foo.>.x\r\nLS+ ok.* q..z 1\r\n");
    p.drive();
    assert!(p
        .hub
        .sent_text()
        .ends_with("-ERR 'Invalid Subscription'\r\n-ERR 'Invalid Subscription'\r\n"));
    // Queue names are not validated (the hub relayed `LS+ q.y q..z 1` live).
    assert_eq!(
        p.hub.log[got..],
        [Rec::Added("ok.*".into(), Some(("q..z".into(), 1)))]
    );
    assert!(p.hub.session.is_open());
}

#[test]
fn unknown_operation_closes_with_err() {
    let mut p = open_pair();
    p.hub.inbuf.extend_from_slice(b"SUB foo 1\r\n");
    p.drive();
    assert!(p
        .hub
        .sent_text()
        .ends_with("-ERR 'Unknown Protocol Operation'\r\n"));
    assert_eq!(
        p.hub.session.close_reason(),
        Some(&CloseReason::ProtocolViolation)
    );
    assert_eq!(
        p.leaf.session.close_reason(),
        Some(&CloseReason::ProtocolViolation),
        "mapped from the -ERR"
    );
    // The same for an op that reaches the session without the parser's filter.
    let mut p = open_pair();
    let step = p.leaf.session.handle_op(
        p.now,
        Op::Sub {
            subject: "a",
            queue: None,
            sid: "1",
        },
    );
    assert_eq!(step, LeafStep::Close(CloseReason::ProtocolViolation));
    assert_eq!(
        text(p.leaf.session.take_outbox()),
        "-ERR 'Unknown Protocol Operation'\r\n"
    );
}

#[test]
fn second_connect_closes() {
    let mut p = open_pair();
    let step = p.hub.session.handle_op(p.now, Op::Connect(b"{}"));
    assert_eq!(step, LeafStep::Close(CloseReason::ProtocolViolation));
}

// ---------------------------------------------------------------- loops and -ERR

#[test]
fn loop_detected_by_the_leaf() {
    let mut p = open_pair();
    // The hub's session refuses to reflect the leaf's own $LDS on this link...
    let sent = p.hub.sent.len();
    p.hub.session.send_interest(&InterestDelta::Add {
        subject: LEAF_LDS,
        queue: None,
    });
    p.drive();
    assert_eq!(p.hub.sent.len(), sent);
    // ...but in a real loop it comes back round through other servers, as a subject this
    // link never announced.
    p.leaf
        .inbuf
        .extend_from_slice(format!("LS+ {LEAF_LDS}\r\n").as_bytes());
    p.drive();
    let err = "-ERR 'Loop detected for leafnode account=\"$G\". Delaying attempt to reconnect for 30s'\r\n";
    assert!(p.leaf.sent_text().ends_with(err));
    assert_eq!(
        p.leaf.session.close_reason(),
        Some(&CloseReason::LoopDetected)
    );
    assert_eq!(
        p.hub.session.close_reason(),
        Some(&CloseReason::LoopDetected)
    );
    assert!(p.hub.session.poll_event().is_some());
}

#[test]
fn loop_detected_by_the_hub_names_the_bound_account() {
    let mut cfg = leaf_cfg();
    cfg.user = Some("lu".into());
    cfg.pass = Some("lp".into());
    let mut p = Pair::new(hub_cfg(users()), hub_info(), cfg);
    p.drive();
    p.hub
        .inbuf
        .extend_from_slice(format!("LS+ {HUB_LDS}\r\n").as_bytes());
    p.drive();
    let err = "-ERR 'Loop detected for leafnode account=\"A\". Delaying attempt to reconnect for 30s'\r\n";
    assert!(p.hub.sent_text().ends_with(err));
    assert_eq!(
        p.leaf.session.close_reason(),
        Some(&CloseReason::LoopDetected)
    );
}

#[test]
fn received_errors_map_to_close_reasons() {
    let cases = [
        (
            "Loop detected for leafnode account=\"$G\". Delaying attempt to reconnect for 30s",
            Some(CloseReason::LoopDetected),
        ),
        (
            "Permissions Violation for Subscription to \"x\"",
            Some(CloseReason::PermissionsViolation),
        ),
        (
            "Permissions Violation for Publish to \"x\"",
            Some(CloseReason::PermissionsViolation),
        ),
        (
            "Duplicate Remote LeafNode Connection",
            Some(CloseReason::Replaced),
        ),
        (
            "Authorization Violation",
            Some(CloseReason::AuthorizationViolation),
        ),
        (
            "Authentication Timeout",
            Some(CloseReason::AuthenticationTimeout),
        ),
        (
            "remote leafnode has same cluster name",
            Some(CloseReason::ClusterNameConflict),
        ),
        (
            "Stale Leaf Node Connection - Closing",
            Some(CloseReason::StaleConnection),
        ),
        (
            "attempted to connect to leaf node port",
            Some(CloseReason::IncorrectPort),
        ),
        ("Invalid Subscription", None),
        ("something new", None),
    ];
    for (err, reason) in cases {
        // In the steady state and during the handshake alike.
        let mut p = open_pair();
        let step = p.leaf.session.handle_op(p.now, Op::Err(err));
        assert_eq!(
            step,
            reason.clone().map_or(LeafStep::Nothing, LeafStep::Close),
            "{err}"
        );
        let (mut s, _) = solicit_with(
            r#"{"server_id":"H","client_id":5,"info_on_connect":true,"leafnode_urls":[]}"#,
        );
        assert_eq!(
            s.handle_op(at(20), Op::Err(err)),
            reason.map_or(LeafStep::Nothing, LeafStep::Close),
            "{err}"
        );
        // Logged either way, and never answered.
        let events: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
        assert_eq!(
            events,
            [Event::LeafError {
                cid: 21,
                text: err.to_string()
            }]
        );
        assert!(!text(s.take_outbox()).contains("-ERR"));
    }
}

#[test]
fn wrong_password_end_to_end() {
    let mut cfg = leaf_cfg();
    cfg.user = Some("lu".into());
    cfg.pass = Some("WRONG".into());
    let mut p = Pair::new(hub_cfg(users()), hub_info(), cfg);
    p.drive();
    assert!(p
        .hub
        .sent_text()
        .ends_with("-ERR 'Authorization Violation'\r\n"));
    assert_eq!(
        p.hub.session.close_reason(),
        Some(&CloseReason::AuthorizationViolation)
    );
    assert_eq!(
        p.leaf.session.close_reason(),
        Some(&CloseReason::AuthorizationViolation)
    );
}

// ---------------------------------------------------------------- liveness

fn ping_cfg(interval_ms: u64, jitter: f64) -> PingConfig {
    PingConfig {
        interval: Duration::from_millis(interval_ms),
        max_outstanding: 2,
        first_jitter: jitter,
    }
}

#[test]
fn pings_both_ways_and_first_pong_is_reported() {
    let mut hub = hub_cfg(AuthSpec::default());
    hub.ping = ping_cfg(120_000, 0.15);
    let mut leaf = leaf_cfg();
    leaf.ping = ping_cfg(120_000, 0.06);
    let mut p = Pair::new(hub, hub_info(), leaf);
    p.drive();
    assert_eq!(
        p.leaf.session.poll_timeout(),
        Some((at(1060), LeafTimer::Ping))
    );
    assert_eq!(
        p.hub.session.poll_timeout(),
        Some((at(1150), LeafTimer::Ping))
    );
    p.run_for(Duration::from_millis(1200));
    assert_eq!(p.leaf.log.iter().filter(|r| **r == Rec::Healthy).count(), 1);
    assert_eq!(p.hub.log.iter().filter(|r| **r == Rec::Healthy).count(), 1);
    assert!(p.leaf.sent_text().ends_with("PING\r\nPONG\r\n"));
    assert!(p.hub.sent_text().ends_with("PONG\r\nPING\r\n"));
    assert_eq!(
        p.leaf.session.poll_timeout(),
        Some((at(121_060), LeafTimer::Ping))
    );
    // Hours of pings keep the link up and report health only once.
    p.run_for(Duration::from_secs(3 * 3600));
    assert!(p.hub.session.is_open() && p.leaf.session.is_open());
    assert_eq!(p.leaf.log.iter().filter(|r| **r == Rec::Healthy).count(), 1);
    let pings = p.leaf.sent_text().matches("PING").count();
    assert_eq!(pings, 1 + (3 * 3600 * 1000 + 1200 - 1060) / 120_000);
    let sent: Vec<Event> = std::iter::from_fn(|| p.leaf.session.poll_event()).collect();
    assert!(sent.contains(&Event::PingSent {
        cid: 21,
        outstanding: 1
    }));
    assert!(!sent.contains(&Event::PingSent {
        cid: 21,
        outstanding: 2
    }));
}

#[test]
fn silent_peer_is_stale_after_ping_max() {
    let mut hub = hub_cfg(AuthSpec::default());
    hub.ping = ping_cfg(1000, 0.1);
    let mut p = Pair::new(hub, hub_info(), leaf_cfg());
    p.drive();
    p.leaf.deaf = true;
    // PING at 1.1 s and 2.1 s, stale at 3.1 s (as measured against nats-server for clients).
    p.run_for(Duration::from_millis(3099));
    assert!(p.hub.session.is_open());
    p.run_for(Duration::from_millis(1));
    assert!(p
        .hub
        .sent_text()
        .ends_with("PING\r\nPING\r\n-ERR 'Stale Connection'\r\n"));
    assert_eq!(
        p.hub.session.close_reason(),
        Some(&CloseReason::StaleConnection)
    );
    assert_eq!(p.hub.session.poll_timeout(), None);
}

#[test]
fn parse_errors_follow_nats_server() {
    let mut p = open_pair();
    let r = p
        .leaf
        .session
        .handle_proto_error(&crate::proto::ProtoError::BadArgs("LS+"));
    assert_eq!(r, CloseReason::ProtocolViolation);
    assert!(p.leaf.session.take_outbox().is_none());
    let mut p = open_pair();
    let r = p
        .leaf
        .session
        .handle_proto_error(&crate::proto::ProtoError::ControlLineTooLong);
    assert_eq!(r, CloseReason::MaxControlLineExceeded);
    assert_eq!(
        text(p.leaf.session.take_outbox()),
        "-ERR 'maximum control line exceeded'\r\n"
    );
}

#[test]
fn closed_session_ignores_everything() {
    let mut p = open_pair();
    p.leaf.session.close(CloseReason::ServerShutdown);
    assert!(
        p.leaf.session.take_outbox().is_none(),
        "shutdown sends nothing"
    );
    assert_eq!(p.leaf.session.handle_op(p.now, Op::Ping), LeafStep::Nothing);
    assert_eq!(
        p.leaf
            .session
            .handle_op(p.now, Op::Err("Authorization Violation")),
        LeafStep::Nothing
    );
    p.leaf.session.handle_timeout(at(10_000_000));
    p.leaf.session.close(CloseReason::Replaced);
    assert!(p.leaf.session.take_outbox().is_none());
    assert_eq!(
        p.leaf.session.close_reason(),
        Some(&CloseReason::ServerShutdown)
    );
}

#[test]
fn interest_delta_from_sublist_changes() {
    use crate::sublist::InterestChange as C;
    assert_eq!(
        InterestDelta::from_change("a", None, C::First),
        Some(InterestDelta::Add {
            subject: "a",
            queue: None
        })
    );
    assert_eq!(InterestDelta::from_change("a", None, C::Count(3)), None);
    assert_eq!(
        InterestDelta::from_change("a", None, C::Last),
        Some(InterestDelta::Remove {
            subject: "a",
            queue: None
        })
    );
    assert_eq!(
        InterestDelta::from_change("a", Some("q"), C::First),
        Some(InterestDelta::Add {
            subject: "a",
            queue: Some(("q", 1))
        })
    );
    assert_eq!(
        InterestDelta::from_change("a", Some("q"), C::Count(2)),
        Some(InterestDelta::Add {
            subject: "a",
            queue: Some(("q", 2))
        })
    );
    assert_eq!(
        InterestDelta::from_change("a", Some("q"), C::Last),
        Some(InterestDelta::Remove {
            subject: "a",
            queue: Some("q")
        })
    );
    assert_eq!(
        InterestDelta::from_change("a", Some("q"), C::Unchanged),
        None
    );
}

#[test]
fn connect_json_round_trips_through_the_codec() {
    // What the leaf writes is what the hub reads.
    let p = open_pair();
    let wire = p.leaf.sent.clone();
    let Ok(Parsed::Op {
        op: Op::Connect(json),
        ..
    }) = parse(
        &wire,
        Dialect::Leaf,
        &Limits {
            max_control_line: 4096,
            max_payload: None,
        },
    )
    else {
        panic!()
    };
    let c = LeafConnect::parse(json).unwrap();
    assert_eq!(c.name.as_deref(), Some("leaf1"));
    assert!(c.headers && c.lang.is_none() && c.gateway.is_none());
}

// ---------------------------------------------------------------- proptest

#[derive(Clone, Debug)]
enum Action {
    Interest {
        from_hub: bool,
        add: bool,
        subject: usize,
        queue: Option<(usize, u32)>,
    },
    Msg {
        from_hub: bool,
        subject: usize,
        reply: bool,
        queues: Vec<usize>,
        headers: bool,
        payload: Vec<u8>,
    },
    Deliver,
    Time(u64),
}

const SUBJECTS: &[&str] = &["a", "a.b", "a.*", "a.>", ">", "x.y.z", "élan.x"];
const QUEUES: &[&str] = &["g", "workers", "q.x"];

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (
            any::<bool>(),
            any::<bool>(),
            0..SUBJECTS.len(),
            proptest::option::of((0..QUEUES.len(), 1u32..5))
        )
            .prop_map(|(from_hub, add, subject, queue)| Action::Interest {
                from_hub,
                add,
                subject,
                queue
            }),
        (
            any::<bool>(),
            0..SUBJECTS.len(),
            any::<bool>(),
            proptest::collection::vec(0..QUEUES.len(), 0..3),
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(
                |(from_hub, subject, reply, queues, headers, payload)| Action::Msg {
                    from_hub,
                    subject,
                    reply,
                    queues,
                    headers,
                    payload
                }
            ),
        Just(Action::Deliver),
        (0u64..90_000).prop_map(Action::Time),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the data planes send, in whatever interleaving with deliveries and time
    /// (pings included), each side sees exactly the other's sequence, in order.
    #[test]
    fn interleaved_interest_and_messages_arrive_intact_and_in_order(actions in proptest::collection::vec(action(), 0..60)) {
        let mut p = open_pair();
        let base_hub = p.hub.data().len();
        let base_leaf = p.leaf.data().len();
        let mut to_hub = Vec::new();
        let mut to_leaf = Vec::new();
        let h: &[u8] = b"NATS/1.0\r\nK: v\r\n\r\n";
        for a in actions {
            match a {
                Action::Interest { from_hub, add, subject, queue } => {
                    let subject = SUBJECTS[subject];
                    let (delta, rec) = if add {
                        let q = queue.map(|(q, w)| (QUEUES[q], w));
                        (InterestDelta::Add { subject, queue: q }, Rec::Added(subject.into(), q.map(|(q, w)| (q.into(), w))))
                    } else {
                        let q = queue.map(|(q, _)| QUEUES[q]);
                        (InterestDelta::Remove { subject, queue: q }, Rec::Removed(subject.into(), q.map(str::to_string)))
                    };
                    let (tx, log) = if from_hub { (&mut p.hub, &mut to_leaf) } else { (&mut p.leaf, &mut to_hub) };
                    tx.session.send_interest(&delta);
                    log.push(rec);
                }
                Action::Msg { from_hub, subject, reply, queues, headers, payload } => {
                    let queues: Vec<&str> = queues.into_iter().map(|q| QUEUES[q]).collect();
                    let reply = reply.then_some("_INBOX.r1");
                    let headers = headers.then_some(h);
                    let (tx, log) = if from_hub { (&mut p.hub, &mut to_leaf) } else { (&mut p.leaf, &mut to_hub) };
                    tx.session.send_msg(SUBJECTS[subject], reply, &queues, headers, &payload);
                    log.push(msg(SUBJECTS[subject], reply, &queues, headers, &payload));
                }
                Action::Deliver => p.drive(),
                Action::Time(ms) => p.run_for(Duration::from_millis(ms)),
            }
        }
        p.drive();
        prop_assert!(p.hub.session.is_open() && p.leaf.session.is_open());
        prop_assert_eq!(&p.hub.data()[base_hub..], &to_hub[..]);
        prop_assert_eq!(&p.leaf.data()[base_leaf..], &to_leaf[..]);
    }
}

// ---------------------------------------------------------------- permissions

/// The leaf user of the nats-server 2.9.10 experiment in [`super::perms`]: publish `up.>`,
/// subscribe `down.>` minus `down.secret`.
fn restricted_pair(leaf: SolicitConfig, hub_interest: Vec<crate::sublist::Interest>) -> Pair {
    let perms = Permissions {
        publish: Rules {
            allow: vec!["up.>".into()],
            deny: vec![],
        },
        subscribe: Rules {
            allow: vec!["down.>".into()],
            deny: vec!["down.secret".into()],
        },
    };
    let mut auth = users();
    auth.users[0].permissions = Some(Arc::new(perms));
    let mut cfg = leaf;
    cfg.user = Some("lu".into());
    cfg.pass = Some("lp".into());
    let mut p = Pair::new(hub_cfg(auth), hub_info(), cfg);
    p.hub.interest = hub_interest;
    p.drive();
    assert!(p.hub.session.is_open() && p.leaf.session.is_open());
    p
}

#[test]
fn hub_announces_only_what_the_leaf_user_may_publish() {
    let mut p = restricted_pair(
        leaf_cfg(),
        vec![
            plain("up.a"),
            plain("nope.b"),
            queue("up.q", "g", 2),
            plain(">"),
        ],
    );
    let hub = p.hub.sent_text();
    assert!(hub.contains("LS+ up.a\r\n") && hub.contains("LS+ up.q g 2\r\n"));
    assert!(!hub.contains("nope.b") && !hub.contains("LS+ >"), "{hub}");
    assert!(hub.contains(&format!("LS+ {HUB_LDS}\r\n")));
    let sent = p.hub.sent.len();
    for subject in ["nope.c", "up.c"] {
        p.hub.session.send_interest(&InterestDelta::Add {
            subject,
            queue: None,
        });
    }
    p.hub.session.send_interest(&InterestDelta::Remove {
        subject: "nope.c",
        queue: None,
    });
    p.drive();
    assert_eq!(&p.hub.sent[sent..], b"LS+ up.c\r\n");
}

#[test]
fn hub_refuses_literal_interest_outside_the_leaf_users_subscribe_rules() {
    for bad in [
        "LS+ other.x\r\n",
        "LS+ down.secret\r\n",
        "LS+ other.q g 1\r\n",
        "LS+ $foo.bar\r\n",
    ] {
        let mut p = restricted_pair(leaf_cfg(), vec![]);
        let subject = bad.split(' ').nth(1).unwrap().trim();
        p.hub.inbuf.extend_from_slice(bad.as_bytes());
        p.drive();
        assert!(
            p.hub.sent_text().ends_with(&format!(
                "-ERR 'Permissions Violation for Subscription to \"{subject}\"'\r\n"
            )),
            "{bad}: {}",
            p.hub.sent_text()
        );
        assert_eq!(
            p.hub.session.close_reason(),
            Some(&CloseReason::PermissionsViolation)
        );
        // The leaf reads it as a permissions violation (and waits 30 s to reconnect).
        assert_eq!(
            p.leaf.session.close_reason(),
            Some(&CloseReason::PermissionsViolation)
        );
    }
}

#[test]
fn hub_accepts_wildcards_and_filters_each_message() {
    let mut p = restricted_pair(leaf_cfg(), vec![]);
    let got = p.hub.log.len();
    p.hub
        .inbuf
        .extend_from_slice(b"LS+ down.*\r\nLS+ >\r\nLS+ down.y\r\nLS+ $LDS.other\r\n");
    p.drive();
    assert!(p.hub.session.is_open());
    assert_eq!(p.hub.log.len() - got, 4);
    let sent = p.hub.sent.len();
    for subject in ["down.a", "down.secret", "other.a"] {
        assert_eq!(p.hub.session.may_send(subject), subject == "down.a");
        p.hub.session.send_msg(subject, None, &[], None, b"x");
    }
    p.drive();
    assert_eq!(&p.hub.sent[sent..], b"LMSG down.a 1\r\nx\r\n");
    // What the leaf sends is not checked by the hub (nats-server 2.9.10 delivers it).
    let got = p.hub.log.len();
    p.hub.inbuf.extend_from_slice(b"LMSG nope.x 2\r\nhi\r\n");
    p.drive();
    assert_eq!(p.hub.log.len() - got, 1);
}

#[test]
fn leaf_applies_the_hub_permissions_locally_without_violations() {
    let mut p = restricted_pair(leaf_cfg(), vec![]);
    let Some(Rec::Ready(ready)) = p.leaf.log.first().cloned() else {
        panic!("{:?}", p.leaf.log)
    };
    let perms = ready.link_permissions.expect("restricted link");
    assert!(perms.may_announce("down.a") && !perms.may_announce("other"));
    assert!(perms.may_send("up.a") && !perms.may_send("nope"));
    let sent = p.leaf.sent.len();
    for subject in ["other.x", "down.x", "down.secret"] {
        p.leaf.session.send_interest(&InterestDelta::Add {
            subject,
            queue: None,
        });
    }
    p.leaf.session.send_msg("nope.x", None, &[], None, b"x");
    p.leaf.session.send_msg("up.x", None, &[], None, b"y");
    p.drive();
    assert_eq!(
        &p.leaf.sent[sent..],
        b"LS+ down.x\r\nLMSG up.x 1\r\ny\r\n".as_slice()
    );
    // The hub's interest in what we may not send: ignored, the link stays.
    let got = p.leaf.log.len();
    p.leaf
        .inbuf
        .extend_from_slice(b"LS+ nope.x\r\nLS+ up.y\r\n");
    p.drive();
    assert!(p.leaf.session.is_open());
    assert_eq!(p.leaf.log[got..], [Rec::Added("up.y".into(), None)]);
}

#[test]
fn deny_imports_and_exports_restrict_the_leaf_and_travel_as_deny_pub() {
    let mut cfg = leaf_cfg();
    cfg.deny_pub = vec!["private.in".into()];
    cfg.deny_exports = vec!["private.out".into()];
    let mut p = Pair::new(hub_cfg(AuthSpec::default()), hub_info(), cfg);
    p.leaf.interest = vec![plain("private.in"), plain("public")];
    p.hub.interest = vec![plain("private.out"), plain("private.*")];
    p.drive();
    assert!(p.hub.session.is_open() && p.leaf.session.is_open());
    // Leaf: deny_imports is never announced (and the hub is told, as deny_pub).
    let leaf = p.leaf.sent_text();
    assert!(
        !leaf.contains("LS+ private.in") && leaf.contains("LS+ public\r\n"),
        "{leaf}"
    );
    // Leaf: the hub's literal interest in a deny_exports subject is dropped, the
    // wildcard one is kept and its messages filtered.
    assert!(!p
        .leaf
        .data()
        .contains(&Rec::Added("private.out".into(), None)));
    assert!(p
        .leaf
        .data()
        .contains(&Rec::Added("private.*".into(), None)));
    assert!(!p.leaf.session.may_send("private.out") && p.leaf.session.may_send("private.x"));
    // Hub: deny_pub filters what it sends and refuses the literal interest.
    assert!(!p.hub.session.may_send("private.in") && p.hub.session.may_send("public"));
    p.hub.inbuf.extend_from_slice(b"LS+ private.in\r\n");
    p.drive();
    assert!(p
        .hub
        .sent_text()
        .ends_with("-ERR 'Permissions Violation for Subscription to \"private.in\"'\r\n"));
}
