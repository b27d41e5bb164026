//! Tests of the composition: each part has its own tests; these check what only the
//! whole decides (reload verdicts, backbone sessions following remote attempts, stale
//! reports, duplicates, determinism).

use super::*;
use crate::backbone::BackboneOutput;
use crate::conf::MemSource;
use crate::remote::{LinkEnd, RemoteInput};
use crate::time::{Duration, Instant};

fn cfg(text: &str) -> Config {
    Config::parse(text, "t.conf", &MemSource::new()).expect("valid config")
}

fn at(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

fn leaf_key() -> LeafKey {
    LeafKey {
        server: "leaf".into(),
        cluster: String::new(),
        account: "$G".into(),
    }
}

fn drain(c: &mut Control) -> Vec<Output> {
    std::iter::from_fn(|| c.poll_output()).collect()
}

fn dials(out: &[Output]) -> Vec<AttemptId> {
    out.iter()
        .filter_map(|o| match o {
            Output::Dial { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect()
}

const BACKBONE: &str = r#"
server_name: edge
leafnodes {
  reconnect: "100ms"
  remotes: [ { name: hub, url: "nats-leaf://hub:7422", backbone {
    settle: "200ms", backoff { min: "100ms", max: "100ms" }
  } } ]
}
"#;

/// Bring `attempt` up to a registered, healthy session.
fn connect(c: &mut Control, now: Instant, attempt: AttemptId) -> Vec<Output> {
    c.handle_input(now, Input::Remote(RemoteInput::Dialed { attempt }));
    let hs = RemoteInput::HandshakeDone {
        attempt,
        leafnode_urls: vec![],
    };
    c.handle_input(now, Input::Remote(hs));
    c.handle_input(now, Input::Remote(RemoteInput::PongSeen { attempt }));
    drain(c)
}

#[test]
fn a_reload_that_needs_a_restart_changes_nothing() {
    let mut c = Control::new(&cfg(BACKBONE), 1, Instant::ZERO);
    let first = dials(&drain(&mut c));
    assert_eq!(first.len(), 1);
    let mut text = BACKBONE.replace("server_name: edge", "server_name: other");
    text = text.replace("remotes: [", "remotes: [ { url: \"nats-leaf://h2:7422\" },");
    c.handle_input(at(1), Input::Reload(Box::new(cfg(&text))));
    let out = drain(&mut c);
    assert!(
        matches!(&out[..], [Output::ReloadRefused { error }] if error.contains("server_name")),
        "{out:?}"
    );
    assert_eq!(c.remotes().len(), 1);
    assert_eq!(c.config().server_name.as_deref(), Some("edge"));
}

#[test]
fn the_verdict_comes_before_what_the_reload_causes() {
    let mut c = Control::new(&cfg(BACKBONE), 1, Instant::ZERO);
    drain(&mut c);
    let text = BACKBONE.replace("remotes: [", "remotes: [ { url: \"nats-leaf://h2:7422\" },");
    c.handle_input(at(1), Input::Reload(Box::new(cfg(&text))));
    let out = drain(&mut c);
    assert!(
        matches!(out[0], Output::Reloaded(ref s) if s.added.len() == 1),
        "{out:?}"
    );
    assert_eq!(dials(&out).len(), 1);
}

#[test]
fn a_backbone_gap_is_held_replayed_and_announced() {
    let mut c = Control::new(&cfg(BACKBONE), 1, Instant::ZERO);
    let a1 = dials(&drain(&mut c))[0];
    let r = a1.remote();
    let out = connect(&mut c, at(10), a1);
    assert!(out.contains(&Output::Register {
        attempt: a1,
        backbone: true
    }));
    assert!(!c.holds(r));

    // The link's task reports the loss first, then the attempt's close.
    c.handle_input(
        at(1000),
        Input::BackboneLinkLost {
            remote: r,
            link: a1.generation(),
            silent: false,
        },
    );
    assert!(c.holds(r), "publishes are held from the moment of the loss");
    let closed = RemoteInput::LinkClosed {
        attempt: a1,
        reason: LinkEnd::Io,
    };
    c.handle_input(at(1000), Input::Remote(closed));
    drain(&mut c);
    let msg = crate::backbone::Message {
        subject: "x".into(),
        reply: None,
        queues: vec![],
        headers: None,
        payload: b"1".to_vec(),
    };
    c.handle_input(at(1001), Input::BackboneOffer { remote: r, msg });
    assert_eq!(c.backbone_buffer(r).map(|b| b.len()), Some(1));

    // Reconnect: the backoff timer dials, the session comes up, settles, flushes.
    let (due, reason) = c.poll_timeout().expect("a reconnect is timed");
    assert!(matches!(reason, Reason::Remote(_)), "{reason:?}");
    c.handle_timeout(due);
    let a2 = dials(&drain(&mut c))[0];
    assert_eq!(a2.remote(), r);
    connect(&mut c, due, a2);
    let (settled, reason) = c.poll_timeout().expect("settle is timed");
    assert!(
        matches!(reason, Reason::Backbone { remote, .. } if remote == r),
        "{reason:?}"
    );
    c.handle_timeout(settled);
    let out = drain(&mut c);
    let batch = out
        .iter()
        .find_map(|o| match o {
            Output::Backbone {
                output: BackboneOutput::Flush(b),
                ..
            } => Some(b.clone()),
            _ => None,
        })
        .expect("the buffer is flushed");
    assert_eq!(batch.len(), 1);
    c.handle_input(
        settled,
        Input::BackboneFlushed {
            remote: r,
            sent: 1,
            rest: vec![],
            failed: false,
        },
    );
    let out = drain(&mut c);
    assert!(
        out.iter().any(|o| matches!(
            o,
            Output::Backbone {
                output: BackboneOutput::PublishResync(n),
                ..
            } if n.replayed == 1
        )),
        "{out:?}"
    );
    assert!(!c.holds(r));
}

#[test]
fn a_stale_attempt_counts_for_nothing_in_the_backbone() {
    let mut c = Control::new(&cfg(BACKBONE), 1, Instant::ZERO);
    let a1 = dials(&drain(&mut c))[0];
    let r = a1.remote();
    connect(&mut c, at(10), a1);
    // Disabled by a reload: the backbone retires, holds nothing.
    let disabled = BACKBONE.replace("name: hub,", "name: hub, disabled: true,");
    c.handle_input(at(20), Input::Reload(Box::new(cfg(&disabled))));
    let out = drain(&mut c);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Close { attempt, .. } if *attempt == a1)));
    assert!(c.backbones().all(|b| b.retired));
    // The closed link's late report is stale: no gap, nothing held, nothing unhealthy.
    let closed = RemoteInput::LinkClosed {
        attempt: a1,
        reason: LinkEnd::ClosedByUs,
    };
    c.handle_input(at(30), Input::Remote(closed));
    assert!(!c.holds(r));
    assert!(c.unhealthy().is_empty());
    assert!(c.poll_timeout().is_none(), "{:?}", c.poll_timeout());
}

/// Two links from one leaf server, cid 5 then cid 9: what the hub decides about the second.
fn second_leaf(bugs: crate::bugs::BugSet) -> Vec<Output> {
    let mut c = Control::with_bugs(&cfg("leafnodes { port: 7422 }"), 1, Instant::ZERO, bugs);
    let first = Input::LeafReady {
        cid: 5,
        key: leaf_key(),
    };
    c.handle_input(at(1), first);
    assert_eq!(drain(&mut c), vec![Output::RegisterLeaf { cid: 5 }]);
    let second = Input::LeafReady {
        cid: 9,
        key: leaf_key(),
    };
    c.handle_input(at(2), second);
    drain(&mut c)
}

#[test]
fn a_second_leaf_from_one_server_replaces_the_first() {
    assert_eq!(
        second_leaf(crate::bugs::BugSet::NONE),
        vec![
            Output::CloseLeaf {
                cid: 5,
                reason: CloseReason::Replaced
            },
            Output::RegisterLeaf { cid: 9 }
        ]
    );
}

#[cfg(feature = "bug-switches")]
#[test]
fn the_historical_hub_refuses_the_second_leaf() {
    use crate::bugs::{BugSet, BugSwitch};
    let bugs = BugSet::NONE.with(BugSwitch::LeafHubRefusesDuplicate);
    assert_eq!(
        second_leaf(bugs),
        vec![Output::CloseLeaf {
            cid: 9,
            reason: CloseReason::Replaced
        }]
    );
}

#[test]
fn the_same_seed_makes_the_same_decisions() {
    let text = r#"leafnodes { remotes: [
        { urls: ["nats-leaf://a:7422", "nats-leaf://b:7422", "nats-leaf://c:7422"],
          backoff { min: "100ms", max: "2s" } } ] }"#;
    let run = |seed| {
        let mut c = Control::new(&cfg(text), seed, Instant::ZERO);
        let mut trace = Vec::new();
        let mut now = Instant::ZERO;
        for _ in 0..20 {
            for o in drain(&mut c) {
                if let Output::Dial { attempt, url, .. } = &o {
                    let error = "refused".to_string();
                    let failed = RemoteInput::DialFailed {
                        attempt: *attempt,
                        error,
                    };
                    c.handle_input(now, Input::Remote(failed));
                    trace.push(format!("{now:?} {url}"));
                }
            }
            if let Some((due, _)) = c.poll_timeout() {
                now = due;
                c.handle_timeout(now);
            }
        }
        trace
    };
    assert_eq!(run(3), run(3));
    assert_ne!(
        run(3),
        run(4),
        "the seed drives the jitter and the URL order"
    );
}
