//! Incident 2 timelines (2A/2B/2C, A1→A2→A3), takeover policy, remote events and requests.
//! Every incident test has a twin with its historical bug switched on that must show the
//! bug (compiled only with the `bug-switches` feature).

use std::time::Duration;

use super::*;
use crate::bugs::BugSet;
#[cfg(feature = "bug-switches")]
use crate::bugs::BugSwitch;
use crate::config::{IdFrom, Presence};
use crate::time::Instant;

fn at(ms: u64) -> Instant {
    Instant::from_start(Duration::from_millis(ms))
}

fn registry(bugs: BugSet) -> PresenceRegistry {
    PresenceRegistry::new(Presence::default(), "S1", 0, bugs)
}

fn connect(r: &mut PresenceRegistry, ms: u64, cid: Cid, name: &str) -> Vec<PresenceOutput> {
    r.handle_connect(
        at(ms),
        Connect {
            cid,
            account: "$G",
            name: Some(name),
            user: None,
        },
    );
    drain(r)
}

fn drain(r: &mut PresenceRegistry) -> Vec<PresenceOutput> {
    std::iter::from_fn(|| r.poll_output()).collect()
}

/// The published events as `on:<cid>` / `off:<cid>` (the cid identifies the session here).
fn published(outs: &[PresenceOutput]) -> Vec<String> {
    outs.iter()
        .filter_map(|o| match o {
            PresenceOutput::Publish { event, .. } => Some(match event.kind {
                EventKind::Online => format!("on:{}", event.cid),
                EventKind::Offline => format!("off:{}", event.cid),
            }),
            _ => None,
        })
        .collect()
}

fn closes(outs: &[PresenceOutput]) -> Vec<(Cid, String)> {
    outs.iter()
        .filter_map(|o| match o {
            PresenceOutput::Close { cid, text, .. } => Some((*cid, text.clone())),
            _ => None,
        })
        .collect()
}

fn events(outs: &[PresenceOutput]) -> Vec<PresenceEvent> {
    outs.iter()
        .filter_map(|o| match o {
            PresenceOutput::Publish { event, .. } => Some(event.clone()),
            _ => None,
        })
        .collect()
}

/// Incident 2 invariant 1 on one id's delivered stream: alternating, session-ordered (an
/// offline is for the session whose online precedes it), epochs strictly increasing.
fn check_alternates(stream: &[PresenceEvent]) -> Result<(), String> {
    let mut last: Option<&PresenceEvent> = None;
    for ev in stream {
        if let Some(prev) = last {
            if ev.key() <= prev.key() {
                return Err(format!("{ev:?} is not newer than {prev:?}"));
            }
            if prev.kind == ev.kind {
                return Err(format!("two {:?} in a row: {prev:?}, {ev:?}", ev.kind));
            }
            if ev.kind == EventKind::Offline && ev.epoch != prev.epoch {
                return Err(format!(
                    "offline {ev:?} is not for the online session {prev:?}"
                ));
            }
        }
        last = Some(ev);
    }
    Ok(())
}

/// 2A's timeline up to the replacement: A1 online, Alice closes A1 (cleanup held), A2
/// connects. Returns every output so far.
fn timeline_2a(r: &mut PresenceRegistry) -> Vec<PresenceOutput> {
    let mut outs = connect(r, 0, 1, "alice");
    r.handle_ending(1, &CloseReason::ClientClosed);
    outs.extend(drain(r));
    outs.extend(connect(r, 10, 2, "alice"));
    outs
}

#[test]
fn connect_and_close_announce_online_then_offline() {
    let mut r = registry(BugSet::NONE);
    let outs = connect(&mut r, 0, 1, "alice");
    let evs = events(&outs);
    assert_eq!(published(&outs), ["on:1"]);
    assert_eq!(evs[0].reason, "connect");
    assert_eq!(evs[0].subject("$PRESENCE"), "$PRESENCE.alice.online");
    r.handle_ending(1, &CloseReason::StaleConnection);
    r.handle_closed(at(5), 1, &CloseReason::ClientClosed);
    let outs = drain(&mut r);
    assert_eq!(published(&outs), ["off:1"]);
    assert_eq!(
        events(&outs)[0].reason,
        "stale_connection",
        "the first reason wins"
    );
    assert_eq!(r.local_session("$G", "alice"), None);
    assert_eq!(r.stats().sessions, 0);
}

#[test]
fn incident_2a_replacer_announces_offline_before_online() {
    let mut r = registry(BugSet::NONE);
    let outs = timeline_2a(&mut r);
    assert_eq!(published(&outs), ["on:1", "off:1", "on:2"]);
    let evs = events(&outs);
    assert_eq!(evs[1].reason, "client_closed");
    assert_eq!(
        evs[2].reason, "connect",
        "A1 was already gone: not a takeover"
    );
    assert!(
        closes(&outs).is_empty(),
        "nothing to close: A1 already ended"
    );
    // t=5: A1's cleanup runs late and emits nothing.
    r.handle_closed(at(20), 1, &CloseReason::ClientClosed);
    assert!(drain(&mut r).is_empty());
    check_alternates(&evs).unwrap();
    assert_eq!(r.local_session("$G", "alice").map(|s| s.0), Some(2));
    assert_eq!(r.stats().takeovers, 0);
}

#[cfg(feature = "bug-switches")]
#[test]
fn incident_2a_negative_control() {
    let mut r = registry(BugSet::NONE.with(BugSwitch::PresenceNoOfflineOnReplace));
    let mut outs = timeline_2a(&mut r);
    r.handle_closed(at(20), 1, &CloseReason::ClientClosed);
    outs.extend(drain(&mut r));
    assert_eq!(published(&outs), ["on:1", "on:2"], "offline(A1) is lost");
    assert!(check_alternates(&events(&outs)).is_err());
}

#[test]
fn incident_2b_late_cleanup_emits_nothing() {
    let mut r = registry(BugSet::NONE);
    let mut outs = timeline_2a(&mut r);
    r.handle_closed(at(20), 1, &CloseReason::ClientClosed);
    outs.extend(drain(&mut r));
    assert_eq!(published(&outs), ["on:1", "off:1", "on:2"]);
    assert_eq!(r.view("$G", "alice").map(|v| (v.0, v.2)), Some((true, 2)));
}

#[cfg(feature = "bug-switches")]
#[test]
fn incident_2b_negative_control() {
    let mut r = registry(BugSet::NONE.with(BugSwitch::PresenceLateOffline));
    let mut outs = timeline_2a(&mut r);
    r.handle_closed(at(20), 1, &CloseReason::ClientClosed);
    outs.extend(drain(&mut r));
    assert_eq!(published(&outs), ["on:1", "off:1", "on:2", "off:1"]);
    assert!(check_alternates(&events(&outs)).is_err());
}

#[test]
fn incident_2c_late_cleanup_deletes_only_its_own_entry() {
    let mut r = registry(BugSet::NONE);
    timeline_2a(&mut r);
    r.handle_closed(at(20), 1, &CloseReason::ClientClosed);
    assert!(drain(&mut r).is_empty());
    assert_eq!(r.local_session("$G", "alice").map(|s| s.0), Some(2));
    assert_eq!(r.relay_target("$G", Some("alice")), RelayTarget::Local(2));
}

#[cfg(feature = "bug-switches")]
#[test]
fn incident_2c_negative_control() {
    let mut r = registry(BugSet::NONE.with(BugSwitch::PresenceDeleteById));
    timeline_2a(&mut r);
    r.handle_closed(at(20), 1, &CloseReason::ClientClosed);
    let outs = drain(&mut r);
    assert_eq!(
        published(&outs),
        ["off:2"],
        "A2 announced offline while connected"
    );
    assert_eq!(r.local_session("$G", "alice"), None);
    assert_eq!(r.relay_target("$G", Some("alice")), RelayTarget::Nobody);
}

/// A1→A2→A3 in quick succession, each ending before the next connects, with the cleanups of
/// A2 and A1 released in reverse order while A3 is live, then A3's own end.
fn three_sessions(bugs: BugSet) -> (PresenceRegistry, Vec<PresenceOutput>) {
    let mut r = registry(bugs);
    let mut outs = connect(&mut r, 0, 1, "alice");
    r.handle_ending(1, &CloseReason::ClientClosed);
    outs.extend(connect(&mut r, 1, 2, "alice"));
    r.handle_ending(2, &CloseReason::ClientClosed);
    outs.extend(connect(&mut r, 2, 3, "alice"));
    r.handle_closed(at(3), 2, &CloseReason::ClientClosed);
    r.handle_closed(at(4), 1, &CloseReason::ClientClosed);
    outs.extend(drain(&mut r));
    (r, outs)
}

#[test]
fn three_sessions_with_reverse_cleanup() {
    let (mut r, mut outs) = three_sessions(BugSet::NONE);
    assert_eq!(r.local_session("$G", "alice").map(|s| s.0), Some(3));
    r.handle_closed(at(5), 3, &CloseReason::ClientClosed);
    outs.extend(drain(&mut r));
    assert_eq!(
        published(&outs),
        ["on:1", "off:1", "on:2", "off:2", "on:3", "off:3"]
    );
    check_alternates(&events(&outs)).unwrap();
    assert_eq!(r.stats().sessions, 0);
}

#[cfg(feature = "bug-switches")]
#[test]
fn three_sessions_negative_controls() {
    let (_, outs) = three_sessions(BugSet::NONE.with(BugSwitch::PresenceNoOfflineOnReplace));
    assert_eq!(published(&outs), ["on:1", "on:2", "on:3"]);
    assert!(check_alternates(&events(&outs)).is_err());

    let (_, outs) = three_sessions(BugSet::NONE.with(BugSwitch::PresenceLateOffline));
    assert_eq!(
        published(&outs),
        ["on:1", "off:1", "on:2", "off:2", "on:3", "off:2", "off:1"]
    );
    assert!(check_alternates(&events(&outs)).is_err());

    let (r, outs) = three_sessions(BugSet::NONE.with(BugSwitch::PresenceDeleteById));
    assert_eq!(
        published(&outs),
        ["on:1", "off:1", "on:2", "off:2", "on:3", "off:3"],
        "A2's cleanup announced A3 offline while it is connected"
    );
    assert_eq!(r.local_session("$G", "alice"), None);
}

#[test]
fn takeover_of_a_live_session_closes_it_first() {
    let mut r = registry(BugSet::NONE);
    connect(&mut r, 0, 1, "alice");
    let outs = connect(&mut r, 10, 2, "alice");
    // The close comes first, then offline(old), then online(new).
    let order: Vec<&str> = outs
        .iter()
        .filter_map(|o| match o {
            PresenceOutput::Close { .. } => Some("close"),
            PresenceOutput::Publish { event, .. } => Some(event.kind.token()),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["close", "offline", "online"]);
    assert_eq!(
        closes(&outs),
        [(
            1,
            "'Presence Session Replaced: Id \"alice\" Connected Again'".to_string()
        )]
    );
    let evs = events(&outs);
    assert_eq!(
        (evs[0].reason.as_str(), evs[1].reason.as_str()),
        ("replaced", "takeover")
    );
    assert!(outs.iter().any(|o| matches!(
        o,
        PresenceOutput::Event(Event::PresenceTakeover {
            old_cid: 1,
            new_cid: 2,
            ..
        })
    )));
    // The replaced session's cleanup is a no-op.
    r.handle_ending(1, &CloseReason::Replaced);
    r.handle_closed(at(11), 1, &CloseReason::Replaced);
    assert!(drain(&mut r).is_empty());
    assert_eq!(r.stats().takeovers, 1);
}

#[test]
fn takeover_backoff_refuses_the_new_connection_of_a_fight() {
    let mut r = registry(BugSet::NONE);
    connect(&mut r, 0, 1, "alice");
    connect(&mut r, 100, 2, "alice"); // takeover #1 at 100 ms
    let outs = connect(&mut r, 600, 3, "alice"); // within 1 s: refused
    assert!(published(&outs).is_empty());
    let c = closes(&outs);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].0, 3, "the NEW connection is refused");
    assert!(c[0].1.contains("Takeover Refused"), "{}", c[0].1);
    assert!(outs.iter().any(|o| matches!(
        o,
        PresenceOutput::Event(Event::PresenceFight { cid: 3, .. })
    )));
    assert_eq!(r.stats().fights, 1);
    assert_eq!(r.local_session("$G", "alice").map(|s| s.0), Some(2));
    // The refused connection's cleanup changes nothing.
    r.handle_closed(at(601), 3, &CloseReason::Other("refused".into()));
    assert!(drain(&mut r).is_empty());
    // After the window, a takeover is allowed again.
    let outs = connect(&mut r, 1100, 4, "alice");
    assert_eq!(published(&outs), ["off:2", "on:4"]);
    assert_eq!(r.stats().takeovers, 2);
}

#[test]
fn reconnect_after_the_old_connection_ended_is_never_a_fight() {
    let mut r = registry(BugSet::NONE);
    connect(&mut r, 0, 1, "alice");
    connect(&mut r, 1, 2, "alice"); // a takeover
                                    // Many quick reconnects, each after the previous connection ended but before its
                                    // cleanup: no fight, every one announced.
    let mut outs = Vec::new();
    for cid in 3..50u64 {
        r.handle_ending(cid - 1, &CloseReason::ClientClosed);
        outs.extend(connect(&mut r, cid, cid, "alice"));
        r.handle_closed(at(cid), cid - 1, &CloseReason::ClientClosed);
        outs.extend(drain(&mut r));
    }
    assert_eq!(r.stats().fights, 0);
    assert_eq!(published(&outs).len(), 2 * 47);
    check_alternates(&events(&outs)).unwrap();
}

#[test]
fn takeover_off_refuses_while_live() {
    let mut r = PresenceRegistry::new(
        Presence {
            takeover: false,
            ..Presence::default()
        },
        "S1",
        0,
        BugSet::NONE,
    );
    connect(&mut r, 0, 1, "alice");
    let outs = connect(&mut r, 5000, 2, "alice");
    assert_eq!(
        closes(&outs),
        [(2, "'Presence Id \"alice\" Is In Use'".to_string())]
    );
    assert_eq!(r.stats().refused, 1);
    // Once the old connection ended, a new one is welcome.
    r.handle_ending(1, &CloseReason::ClientClosed);
    let outs = connect(&mut r, 5001, 3, "alice");
    assert_eq!(published(&outs), ["off:1", "on:3"]);
}

#[test]
fn invalid_and_absent_ids() {
    let mut r = registry(BugSet::NONE);
    for bad in ["a.b", "a b", "*", ">"] {
        let outs = connect(&mut r, 0, 1, bad);
        assert_eq!(closes(&outs), [(1, ERR_INVALID_ID.to_string())], "{bad:?}");
        assert!(published(&outs).is_empty());
    }
    assert!(
        connect(&mut r, 0, 2, "").is_empty(),
        "empty name: no presence session"
    );
    r.handle_connect(
        at(0),
        Connect {
            cid: 3,
            account: "$G",
            name: None,
            user: Some("u"),
        },
    );
    assert!(
        drain(&mut r).is_empty(),
        "id_from name: the user is not the id"
    );
    assert_eq!(r.stats().refused, 4);
}

#[test]
fn id_from_user_and_account_scope() {
    let cfg = Presence {
        id_from: IdFrom::User,
        accounts: vec!["A".into()],
        ..Presence::default()
    };
    let mut r = PresenceRegistry::new(cfg, "S1", 0, BugSet::NONE);
    let c = |cid, account| Connect {
        cid,
        account,
        name: Some("ignored"),
        user: Some("bob"),
    };
    r.handle_connect(at(0), c(1, "B"));
    assert!(drain(&mut r).is_empty(), "account B does not take part");
    r.handle_connect(at(0), c(2, "A"));
    let outs = drain(&mut r);
    assert_eq!(events(&outs)[0].id, "bob");
    assert!(matches!(&outs[..], [.., PresenceOutput::Publish { account, .. }] if account == "A"));
    assert_eq!(
        r.handle_client_publish("B", "$PRESENCE.bob.online", None),
        ClientPublish::Route
    );
}

#[test]
fn epochs_are_a_hybrid_clock() {
    let mut r = PresenceRegistry::new(Presence::default(), "S1", 1_000_000, BugSet::NONE);
    let outs = connect(&mut r, 5, 1, "a");
    assert_eq!(
        events(&outs)[0].epoch.counter,
        1_005_000,
        "wall start + now, in µs"
    );
    // Two sessions in the same microsecond still get increasing epochs.
    let outs = connect(&mut r, 5, 2, "b");
    assert_eq!(events(&outs)[0].epoch.counter, 1_005_001);
    // A remote epoch far ahead pulls the clock forward (Lamport).
    let remote = PresenceEvent {
        kind: EventKind::Online,
        id: "c".into(),
        epoch: Epoch {
            counter: 9_000_000,
            server: "S0".into(),
        },
        cid: 4,
        reason: "connect".into(),
    };
    r.handle_remote(at(6), "$G", remote);
    drain(&mut r);
    let outs = connect(&mut r, 7, 3, "a");
    let e = &events(&outs)[1].epoch;
    assert!(e.counter > 9_000_000, "{e}");
}

fn remote(kind: EventKind, id: &str, counter: u64, server: &str, cid: Cid) -> PresenceEvent {
    PresenceEvent {
        kind,
        id: id.into(),
        epoch: Epoch {
            counter,
            server: server.into(),
        },
        cid,
        reason: match kind {
            EventKind::Online => "connect".into(),
            EventKind::Offline => "client_closed".into(),
        },
    }
}

#[test]
fn newer_remote_session_takes_over_the_local_one() {
    let mut r = registry(BugSet::NONE);
    let outs = connect(&mut r, 0, 1, "alice");
    let mine = events(&outs)[0].epoch.counter;
    r.handle_remote(
        at(1),
        "$G",
        remote(EventKind::Online, "alice", mine + 5, "S2", 9),
    );
    let outs = drain(&mut r);
    assert_eq!(
        closes(&outs),
        [(
            1,
            "'Presence Session Replaced: Id \"alice\" Connected On Another Server'".to_string()
        )]
    );
    assert_eq!(published(&outs), ["off:1", "on:9"]);
    assert_eq!(r.stats().remote_takeovers, 1);
    assert_eq!(r.relay_target("$G", Some("alice")), RelayTarget::Links);
    // Our replaced session's cleanup is a no-op.
    r.handle_closed(at(2), 1, &CloseReason::Replaced);
    assert!(drain(&mut r).is_empty());
    // The remote session ends: offline, and the id is nobody's.
    r.handle_remote(
        at(3),
        "$G",
        remote(EventKind::Offline, "alice", mine + 5, "S2", 9),
    );
    assert_eq!(published(&drain(&mut r)), ["off:9"]);
    assert_eq!(r.relay_target("$G", Some("alice")), RelayTarget::Nobody);
}

#[test]
fn older_remote_events_are_dropped() {
    let mut r = registry(BugSet::NONE);
    r.handle_remote(at(0), "$G", remote(EventKind::Online, "a", 50, "S2", 1));
    r.handle_remote(at(0), "$G", remote(EventKind::Online, "a", 40, "S3", 2));
    r.handle_remote(at(0), "$G", remote(EventKind::Offline, "a", 40, "S3", 2));
    r.handle_remote(at(0), "$G", remote(EventKind::Online, "a", 50, "S2", 1));
    let outs = drain(&mut r);
    assert_eq!(published(&outs), ["on:1"]);
    assert_eq!(r.stats().stale_dropped, 3);
    // A new local session is newer than everything observed (the clock saw epoch 50).
    let outs = connect(&mut r, 1, 7, "a");
    assert_eq!(published(&outs), ["off:1", "on:7"]);
    assert!(events(&outs)[1].epoch.counter > 50);
    // The remote server's older online (it had not heard of ours yet) is dropped.
    r.handle_remote(at(2), "$G", remote(EventKind::Online, "a", 45, "S2", 3));
    assert!(published(&drain(&mut r)).is_empty());
    assert_eq!(r.local_session("$G", "a").map(|s| s.0), Some(7));
}

#[test]
fn view_repair_never_repeats_offline() {
    let mut r = registry(BugSet::NONE);
    r.handle_remote(at(0), "$G", remote(EventKind::Online, "a", 10, "S2", 1));
    // The end of a later session we never saw online: announce the end of the one we saw.
    r.handle_remote(at(0), "$G", remote(EventKind::Offline, "a", 20, "S3", 2));
    // And a yet later end: subscribers already know "offline".
    r.handle_remote(at(0), "$G", remote(EventKind::Offline, "a", 30, "S3", 3));
    let outs = drain(&mut r);
    assert_eq!(published(&outs), ["on:1", "off:1"]);
    check_alternates(&events(&outs)).unwrap();
    assert_eq!(r.view("$G", "a").map(|v| v.0), Some(false));
}

#[test]
fn client_publishes_under_the_prefixes() {
    let mut r = registry(BugSet::NONE);
    connect(&mut r, 0, 1, "alice");
    assert_eq!(
        r.handle_client_publish("$G", "$PRESENCE.alice.offline", None),
        ClientPublish::Refuse(
            "'Permissions Violation for Publish to \"$PRESENCE.alice.offline\"'".into()
        )
    );
    assert_eq!(
        r.handle_client_publish("$G", "$PRESENCE.alice.state", Some("_INBOX.1")),
        ClientPublish::Answered
    );
    let outs = drain(&mut r);
    let [PresenceOutput::Reply { reply, payload, .. }] = &outs[..] else {
        panic!("{outs:?}")
    };
    assert_eq!(reply, "_INBOX.1");
    let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
    assert_eq!(v["id"], "alice");
    assert_eq!(v["online"], true);
    assert_eq!(v["cid"], 1);
    assert_eq!(v["server"], "S1");

    r.handle_client_publish("$G", "$PRESENCE.bob.state", Some("r"));
    let outs = drain(&mut r);
    let [PresenceOutput::Reply { payload, .. }] = &outs[..] else {
        panic!("{outs:?}")
    };
    assert_eq!(
        std::str::from_utf8(payload).unwrap(),
        r#"{"id":"bob","online":false}"#
    );

    connect(&mut r, 0, 2, "bob");
    r.handle_client_publish("$G", "$PRESENCE.list", Some("r"));
    let outs = drain(&mut r);
    let [PresenceOutput::Reply { payload, .. }] = &outs[..] else {
        panic!("{outs:?}")
    };
    let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
    let ids: Vec<&str> = v["online"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alice", "bob"]);

    assert_eq!(
        r.handle_client_publish("$G", "$RELAY.alice.hello", None),
        ClientPublish::Relay(RelayTarget::Local(1))
    );
    assert_eq!(
        r.handle_client_publish("$G", "$RELAY.carol.hello", None),
        ClientPublish::Relay(RelayTarget::Nobody)
    );
    assert_eq!(
        r.handle_client_publish("$G", "$RELAY.alice", None),
        ClientPublish::Relay(RelayTarget::Nobody)
    );
    assert_eq!(
        r.handle_client_publish("$G", "greet.alice", None),
        ClientPublish::Route
    );
    // While alice's connection is ending, nobody receives relay messages for her.
    r.handle_ending(1, &CloseReason::ClientClosed);
    assert_eq!(r.relay_target("$G", Some("alice")), RelayTarget::Nobody);
}

#[test]
fn link_messages() {
    let mut r = registry(BugSet::NONE);
    let ev = remote(EventKind::Online, "a", 10, "S2", 4);
    let subject = ev.subject("$PRESENCE");
    assert_eq!(
        r.handle_link_message(at(0), "$G", 99, &subject, &ev.payload()),
        LinkPublish::Consumed
    );
    assert_eq!(published(&drain(&mut r)), ["on:4"]);
    assert_eq!(
        r.handle_link_message(at(0), "$G", 99, "$PRESENCE.a.online", b"nonsense"),
        LinkPublish::Consumed
    );
    let outs = drain(&mut r);
    assert!(matches!(
        &outs[..],
        [PresenceOutput::Event(Event::PresenceBadEvent {
            cid: 99,
            ..
        })]
    ));
    assert_eq!(
        r.handle_link_message(at(0), "$G", 99, "$RELAY.a.x", b""),
        LinkPublish::Relay(RelayTarget::Links)
    );
    assert_eq!(
        r.handle_link_message(at(0), "$G", 99, "$PRESENCE.a.state", b""),
        LinkPublish::Route
    );
}

#[test]
fn offline_ids_are_forgotten_after_the_retention() {
    let mut r = registry(BugSet::NONE);
    connect(&mut r, 0, 1, "a");
    r.handle_closed(at(1), 1, &CloseReason::ClientClosed);
    drain(&mut r);
    assert_eq!(r.stats().ids, 1);
    let later = at(1) + Duration::from_secs(601);
    assert!(r.poll_timeout().is_some_and(|t| t <= later));
    r.handle_timeout(later);
    assert_eq!(r.stats().ids, 0);
}
