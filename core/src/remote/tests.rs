//! Incident 1's timelines, driven against the machine directly: feed inputs, drain
//! outputs, jump time to `poll_timeout`. Each bug switch has a twin test that shows the
//! historical outcome coming back.

use super::*;
use crate::bugs::BugSet;
#[cfg(feature = "bug-switches")]
use crate::bugs::BugSwitch;
use crate::config::{Backoff, RemoteUrl};

const RECONNECT: Duration = Duration::from_secs(1);

fn remote(urls: &[&str]) -> RemoteConfig {
    RemoteConfig {
        urls: urls.iter().map(|u| RemoteUrl::parse(u).unwrap()).collect(),
        no_randomize: true,
        ..RemoteConfig::default()
    }
}

fn named(name: &str, urls: &[&str]) -> RemoteConfig {
    RemoteConfig {
        name: Some(name.to_string()),
        ..remote(urls)
    }
}

fn disabled(cfg: &RemoteConfig) -> RemoteConfig {
    RemoteConfig {
        disabled: true,
        ..cfg.clone()
    }
}

/// One machine and a clock; outputs are drained after every call.
struct World {
    m: Remotes,
    now: Instant,
}

impl World {
    fn new(remotes: &[RemoteConfig]) -> (World, Vec<RemoteOutput>) {
        World::with_bugs(remotes, BugSet::NONE)
    }

    fn with_bugs(remotes: &[RemoteConfig], bugs: BugSet) -> (World, Vec<RemoteOutput>) {
        let mut w = World {
            m: Remotes::with_bugs(remotes, RECONNECT, 7, Instant::ZERO, bugs),
            now: Instant::ZERO,
        };
        let out = w.drain();
        (w, out)
    }

    fn drain(&mut self) -> Vec<RemoteOutput> {
        std::iter::from_fn(|| self.m.poll_output()).collect()
    }

    fn input(&mut self, input: RemoteInput) -> Vec<RemoteOutput> {
        self.m.handle_input(self.now, input);
        self.drain()
    }

    fn reload(&mut self, remotes: &[RemoteConfig]) -> (ReloadSummary, Vec<RemoteOutput>) {
        let summary = self.m.reload(self.now, remotes).unwrap();
        (summary, self.drain())
    }

    /// Jump to the next deadline and fire it (nothing if there is none).
    fn advance(&mut self) -> Vec<RemoteOutput> {
        if let Some((t, _)) = self.m.poll_timeout() {
            self.now = self.now.max(t);
        }
        self.m.handle_timeout(self.now);
        self.drain()
    }

    fn advance_by(&mut self, d: Duration) -> Vec<RemoteOutput> {
        self.now += d;
        self.m.handle_timeout(self.now);
        self.drain()
    }

    /// Dialed + HandshakeDone + PongSeen; returns the outputs of the handshake.
    fn connect(&mut self, attempt: AttemptId) -> Vec<RemoteOutput> {
        assert!(self.input(RemoteInput::Dialed { attempt }).is_empty());
        let out = self.input(RemoteInput::HandshakeDone {
            attempt,
            leafnode_urls: vec![],
        });
        assert!(self.input(RemoteInput::PongSeen { attempt }).is_empty());
        out
    }

    fn drop_link(&mut self, attempt: AttemptId) -> Vec<RemoteOutput> {
        self.input(RemoteInput::LinkClosed {
            attempt,
            reason: LinkEnd::Io,
        })
    }
}

fn dials(out: &[RemoteOutput]) -> Vec<AttemptId> {
    out.iter()
        .filter_map(|o| match o {
            RemoteOutput::Dial { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect()
}

fn dial_urls(out: &[RemoteOutput]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            RemoteOutput::Dial { url, .. } => Some(url.clone()),
            _ => None,
        })
        .collect()
}

fn one_dial(out: &[RemoteOutput]) -> AttemptId {
    match dials(out)[..] {
        [a] => a,
        _ => panic!("expected exactly one dial in {out:?}"),
    }
}

fn closes(out: &[RemoteOutput]) -> Vec<AttemptId> {
    out.iter()
        .filter_map(|o| match o {
            RemoteOutput::Close { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect()
}

fn registers(out: &[RemoteOutput]) -> Vec<AttemptId> {
    out.iter()
        .filter_map(|o| match o {
            RemoteOutput::Register { attempt } => Some(*attempt),
            _ => None,
        })
        .collect()
}

fn actions(out: &[RemoteOutput]) -> Vec<&RemoteOutput> {
    out.iter()
        .filter(|o| !matches!(o, RemoteOutput::Event(_)))
        .collect()
}

/// Start with `cfgs`, connect every remote; returns their attempts in config order.
fn connected(cfgs: &[RemoteConfig], bugs: BugSet) -> (World, Vec<AttemptId>) {
    let (mut w, out) = World::with_bugs(cfgs, bugs);
    let attempts = dials(&out);
    for &a in &attempts {
        assert_eq!(registers(&w.connect(a)), [a]);
    }
    (w, attempts)
}

fn assert_quiet(w: &World) {
    assert!(w.m.status().is_empty(), "{:?}", w.m.status());
    assert_eq!(w.m.poll_timeout(), None);
    assert!(w.m.live_attempts().is_empty());
}

#[test]
fn start_dials_enabled_remotes_in_config_order() {
    let a = remote(&["nats-leaf://a"]);
    let b = disabled(&remote(&["nats-leaf://b"]));
    let c = remote(&["nats-leaf://u:pw@c"]);
    let (w, out) = World::new(&[a, b, c]);
    assert_eq!(
        dial_urls(&out),
        ["nats-leaf://a:7422", "nats-leaf://u:pw@c:7422"]
    );
    // Events carry the redacted URL only.
    assert!(out.iter().any(|o| matches!(o,
        RemoteOutput::Event(Event::LeafDialing { url, .. }) if url == "nats-leaf://u:xxxxx@c:7422")));
    let status = w.m.status();
    assert_eq!(status.len(), 3);
    assert!(matches!(status[0].state, LinkState::Dialing { .. }));
    assert_eq!(status[1].state, LinkState::Disabled);
    assert_eq!(w.m.poll_timeout(), None);
}

#[test]
fn fixed_interval_reconnect_and_spurious_timeouts() {
    let (mut w, attempts) = connected(&[remote(&["nats-leaf://a"])], BugSet::NONE);
    let out = w.drop_link(attempts[0]);
    assert!(actions(&out).is_empty());
    let (deadline, label) = w.m.poll_timeout().unwrap();
    assert_eq!(deadline, w.now + RECONNECT);
    assert_eq!(
        label,
        RemoteTimer::Reconnect {
            remote: attempts[0].remote(),
            reason: WaitReason::Interval
        }
    );
    // Early and repeated calls do nothing.
    assert!(w.advance_by(Duration::from_millis(999)).is_empty());
    w.m.handle_timeout(Instant::ZERO);
    assert!(w.drain().is_empty());
    let next = one_dial(&w.advance_by(Duration::from_millis(1)));
    assert!(next.generation() > attempts[0].generation());
    assert_eq!(next.remote(), attempts[0].remote());
    assert!(w.advance().is_empty(), "no deadline while dialing");
}

#[test]
fn reconnect_interval_reload_applies_from_the_next_wait() {
    let (mut w, attempts) = connected(&[remote(&["nats-leaf://a"])], BugSet::NONE);
    w.drop_link(attempts[0]);
    w.m.set_reconnect(Duration::from_secs(5));
    assert_eq!(w.m.poll_timeout().unwrap().0, w.now + RECONNECT);
    let next = one_dial(&w.advance());
    w.input(RemoteInput::DialFailed {
        attempt: next,
        error: "refused".into(),
    });
    assert_eq!(
        w.m.poll_timeout().unwrap().0,
        w.now + Duration::from_secs(5)
    );
}

#[test]
fn timeline_1a_disable_enable_while_waiting() {
    let r = remote(&["nats-leaf://hub"]);
    let (mut w, attempts) = connected(std::slice::from_ref(&r), BugSet::NONE);
    // t=1: the link dies; the remote sleeps before redialing.
    assert!(actions(&w.drop_link(attempts[0])).is_empty());
    let (old_deadline, _) = w.m.poll_timeout().unwrap();
    // t=3: disable. No live connection to close, and the sleep is gone with it.
    let (summary, out) = w.reload(&[disabled(&r)]);
    assert_eq!(summary.disabled.len(), 1);
    assert!(actions(&out).is_empty());
    assert_eq!(w.m.poll_timeout(), None);
    assert_eq!(w.m.status()[0].state, LinkState::Disabled);
    assert!(w.m.live_attempts().is_empty());
    // t=4: enable: exactly one new attempt, at once.
    let (summary, out) = w.reload(std::slice::from_ref(&r));
    assert_eq!(summary.enabled.len(), 1);
    let second = one_dial(&out);
    // t=5: the old sleep's deadline passes: nothing wakes up.
    w.now = old_deadline + Duration::from_secs(5);
    w.m.handle_timeout(w.now);
    assert!(w.drain().is_empty());
    // t=6: one connection.
    assert_eq!(registers(&w.connect(second)), [second]);
    assert_eq!(w.m.live_attempts(), [second]);
}

#[cfg(feature = "bug-switches")]
#[test]
fn timeline_1a_with_reload_no_cancel_duplicates_the_connection() {
    let r = remote(&["nats-leaf://hub"]);
    let bugs = BugSet::NONE.with(BugSwitch::LeafReloadNoCancel);
    let (mut w, attempts) = connected(std::slice::from_ref(&r), bugs);
    w.drop_link(attempts[0]);
    w.reload(&[disabled(&r)]);
    let second = one_dial(&w.reload(std::slice::from_ref(&r)).1);
    // The sleeping "task" was never cancelled: it wakes, sees the remote enabled, dials.
    let zombie = one_dial(&w.advance());
    assert_ne!(zombie, second);
    assert_eq!(registers(&w.connect(second)), [second]);
    assert_eq!(registers(&w.connect(zombie)), [zombie]);
    assert_eq!(
        w.m.live_attempts().len(),
        2,
        "two connections for one identity"
    );
}

/// 1B up to t=3: the remote's reconnect is mid-handshake when it is removed and re-added.
fn timeline_1b(bugs: BugSet) -> (World, AttemptId, AttemptId, Vec<RemoteOutput>) {
    let r = remote(&["nats-leaf://hub"]);
    let (mut w, attempts) = connected(std::slice::from_ref(&r), bugs);
    w.drop_link(attempts[0]);
    let g1 = one_dial(&w.advance());
    assert!(w.input(RemoteInput::Dialed { attempt: g1 }).is_empty());
    let (summary, removal) = w.reload(&[]);
    assert_eq!(summary.removed.len(), 1);
    let (summary, out) = w.reload(&[r]);
    assert_eq!(summary.added.len(), 1);
    let g2 = one_dial(&out);
    (w, g1, g2, removal)
}

#[test]
fn timeline_1b_remove_readd_while_handshaking() {
    let (mut w, g1, g2, removal) = timeline_1b(BugSet::NONE);
    assert_eq!(
        closes(&removal),
        [g1],
        "removal cancels the handshake at once"
    );
    assert_ne!(g1, g2);
    assert_eq!(g1.remote(), g2.remote(), "same identity, same index");
    // t=5: the old handshake completes anyway: closed, never registered.
    let out = w.input(RemoteInput::HandshakeDone {
        attempt: g1,
        leafnode_urls: vec![],
    });
    assert_eq!(closes(&out), [g1]);
    assert!(registers(&out).is_empty());
    assert!(out.iter().any(|o| matches!(
        o,
        RemoteOutput::Close {
            reason: CloseReason::Replaced,
            ..
        }
    )));
    // Its close report is stale too: no reconnect is scheduled for it.
    assert!(actions(&w.drop_link(g1)).is_empty());
    assert_eq!(w.m.poll_timeout(), None);
    assert_eq!(registers(&w.connect(g2)), [g2]);
    assert_eq!(w.m.live_attempts(), [g2]);
    let status = &w.m.status()[0];
    assert_eq!(
        status.sessions_in_generation, 1,
        "the stale session never counted"
    );
}

#[cfg(feature = "bug-switches")]
#[test]
fn timeline_1b_with_reload_no_cancel_registers_the_removed_attempt() {
    let (mut w, g1, g2, removal) = timeline_1b(BugSet::NONE.with(BugSwitch::LeafReloadNoCancel));
    assert!(
        closes(&removal).is_empty(),
        "the in-flight handshake is not cancelled"
    );
    let out = w.input(RemoteInput::HandshakeDone {
        attempt: g1,
        leafnode_urls: vec![],
    });
    assert_eq!(registers(&out), [g1]);
    assert_eq!(registers(&w.connect(g2)), [g2]);
    assert_eq!(w.m.live_attempts().len(), 2);
}

#[cfg(feature = "bug-switches")]
#[test]
fn timeline_1b_with_stale_register_registers_the_removed_attempt() {
    let (mut w, g1, g2, removal) = timeline_1b(BugSet::NONE.with(BugSwitch::LeafStaleRegister));
    assert_eq!(closes(&removal), [g1]);
    let out = w.input(RemoteInput::HandshakeDone {
        attempt: g1,
        leafnode_urls: vec![],
    });
    assert_eq!(
        registers(&out),
        [g1],
        "registration did not check the attempt"
    );
    assert!(closes(&out).is_empty());
    assert_eq!(registers(&w.connect(g2)), [g2]);
}

#[test]
fn timeline_1c_remove_all() {
    let cfgs = [remote(&["nats-leaf://h1"]), remote(&["nats-leaf://h2"])];
    let (mut w, attempts) = connected(&cfgs, BugSet::NONE);
    let (summary, out) = w.reload(&[]);
    assert_eq!(summary.removed.len(), 2);
    assert_eq!(closes(&out), attempts, "one close each, in config order");
    assert!(out
        .iter()
        .all(|o| !matches!(o, RemoteOutput::Close { reason, .. }
        if *reason != CloseReason::ConfigRemoved)));
    assert_quiet(&w);
    // The shell's close reports arrive afterwards: stale, nothing restarts.
    for a in attempts {
        let out = w.input(RemoteInput::LinkClosed {
            attempt: a,
            reason: LinkEnd::ClosedByUs,
        });
        assert!(actions(&out).is_empty());
    }
    assert_quiet(&w);
}

#[cfg(feature = "bug-switches")]
#[test]
fn timeline_1c_with_remove_all_noop_keeps_the_links() {
    let cfgs = [remote(&["nats-leaf://h1"]), remote(&["nats-leaf://h2"])];
    let bugs = BugSet::NONE.with(BugSwitch::LeafRemoveAllNoop);
    let (mut w, attempts) = connected(&cfgs, bugs);
    // Removing one of two still works: the bug needs an empty list.
    let (summary, out) = w.reload(&cfgs[..1]);
    assert_eq!(summary.removed.len(), 1);
    assert_eq!(closes(&out), [attempts[1]]);
    let (summary, out) = w.reload(&[]);
    assert!(summary.is_noop());
    assert!(closes(&out).is_empty());
    assert_eq!(
        w.m.status().len(),
        1,
        "the last remote stays configured and connected"
    );
    assert_eq!(w.m.live_attempts(), [attempts[0]]);
}

#[test]
fn quit_schedule_i_link_drops_then_remove() {
    let r = remote(&["nats-leaf://hub"]);
    let (mut w, attempts) = connected(std::slice::from_ref(&r), BugSet::NONE);
    w.drop_link(attempts[0]);
    assert!(w.m.poll_timeout().is_some());
    let (_, out) = w.reload(&[]);
    assert!(actions(&out).is_empty(), "nothing live to close");
    assert_quiet(&w);
    assert!(w.advance_by(Duration::from_secs(60)).is_empty());
}

#[test]
fn quit_schedule_ii_remove_while_up_then_link_drops() {
    let r = remote(&["nats-leaf://hub"]);
    let (mut w, attempts) = connected(std::slice::from_ref(&r), BugSet::NONE);
    let (_, out) = w.reload(&[]);
    assert_eq!(closes(&out), attempts);
    assert!(actions(&w.drop_link(attempts[0])).is_empty());
    assert_quiet(&w);
    assert!(w.advance_by(Duration::from_secs(60)).is_empty());
}

#[test]
fn quit_schedule_iii_drop_racing_remove_and_readd_either_order() {
    let r = remote(&["nats-leaf://hub"]);
    for drop_first in [true, false] {
        let (mut w, attempts) = connected(std::slice::from_ref(&r), BugSet::NONE);
        let old = attempts[0];
        if drop_first {
            w.drop_link(old);
        }
        let (_, removal) = w.reload(&[]);
        assert_eq!(closes(&removal).len(), usize::from(!drop_first));
        let fresh = one_dial(&w.reload(std::slice::from_ref(&r)).1);
        if !drop_first {
            // The drop of the old link lands after the re-add: it must not touch the new one.
            assert!(actions(&w.drop_link(old)).is_empty());
        }
        assert_eq!(w.m.live_attempts(), [fresh], "drop_first={drop_first}");
        assert_eq!(w.m.poll_timeout(), None, "no second reconnect");
        assert!(w.advance_by(Duration::from_secs(60)).is_empty());
        assert_eq!(registers(&w.connect(fresh)), [fresh]);
    }
}

#[test]
fn no_op_reload_and_reorder_keep_every_link() {
    let cfgs = [
        remote(&["nats-leaf://h1"]),
        remote(&["nats-leaf://h2"]),
        remote(&["nats-leaf://h3"]),
    ];
    let (mut w, attempts) = connected(&cfgs, BugSet::NONE);
    let (summary, out) = w.reload(&cfgs);
    assert!(summary.is_noop());
    assert_eq!(summary.unchanged, 3);
    assert!(out.is_empty(), "a no-op reload emits nothing at all");
    // Reorder, and disable one (upstream's TestConfigReloadLeafNodeRemotesReorderOk).
    let reordered = [cfgs[2].clone(), disabled(&cfgs[1]), cfgs[0].clone()];
    let (summary, out) = w.reload(&reordered);
    assert_eq!(summary.unchanged, 2);
    assert_eq!(summary.disabled.len(), 1);
    assert_eq!(closes(&out), [attempts[1]]);
    assert!(dials(&out).is_empty());
    let status = w.m.status();
    assert_eq!(
        status.iter().map(|s| s.state.attempt()).collect::<Vec<_>>(),
        [Some(attempts[2]), None, Some(attempts[0])],
        "status follows the new order; unchanged links keep their attempt"
    );
}

#[test]
fn url_reorder_unnamed_is_remove_plus_add() {
    let before = remote(&["nats-leaf://a", "nats-leaf://b"]);
    let after = remote(&["nats-leaf://b", "nats-leaf://a"]);
    let (mut w, attempts) = connected(std::slice::from_ref(&before), BugSet::NONE);
    let generation = w.m.status()[0].remote_generation;
    let (summary, out) = w.reload(std::slice::from_ref(&after));
    assert_eq!((summary.removed.len(), summary.added.len()), (1, 1));
    assert_eq!(closes(&out), attempts, "the link bounces");
    assert_eq!(dial_urls(&out), ["nats-leaf://b:7422"]);
    let status = &w.m.status()[0];
    assert!(status.remote_generation > generation);
    assert_ne!(status.index, attempts[0].remote(), "a different identity");
}

#[test]
fn url_edit_named_is_in_place() {
    let before = named("hub", &["nats-leaf://a", "nats-leaf://b"]);
    let after = named("hub", &["nats-leaf://c", "nats-leaf://a"]);
    let (mut w, attempts) = connected(std::slice::from_ref(&before), BugSet::NONE);
    let generation = w.m.status()[0].remote_generation;
    let (summary, out) = w.reload(std::slice::from_ref(&after));
    assert_eq!(summary.updated.len(), 1);
    assert!(actions(&out).is_empty(), "the live link stays");
    let status = &w.m.status()[0];
    assert_eq!(
        status.state,
        LinkState::Connected {
            attempt: attempts[0]
        }
    );
    assert_eq!(status.remote_generation, generation);
    assert_eq!(status.urls, ["nats-leaf://c:7422", "nats-leaf://a:7422"]);
    // The new list applies from the next attempt.
    w.drop_link(attempts[0]);
    assert_eq!(dial_urls(&w.advance()), ["nats-leaf://c:7422"]);
}

#[test]
fn named_account_change_restarts_under_a_new_generation() {
    let before = named("hub", &["nats-leaf://a"]);
    let after = RemoteConfig {
        account: Some("ACME".into()),
        ..before.clone()
    };
    let (mut w, attempts) = connected(std::slice::from_ref(&before), BugSet::NONE);
    let generation = w.m.status()[0].remote_generation;
    let (summary, out) = w.reload(std::slice::from_ref(&after));
    assert_eq!(summary.restarted.len(), 1);
    assert_eq!(closes(&out), attempts);
    let fresh = one_dial(&out);
    let status = &w.m.status()[0];
    assert!(status.remote_generation > generation);
    assert_eq!(status.sessions_in_generation, 0);
    assert_eq!(status.account, "ACME");
    assert!(
        matches!(&out[..], [RemoteOutput::Close { .. }, ..]),
        "close before redial"
    );
    assert_eq!(registers(&w.connect(fresh)), [fresh]);
}

#[test]
fn duplicate_identity_rejected_with_redacted_urls_and_nothing_applied() {
    let (mut w, attempts) = connected(&[remote(&["nats-leaf://a"])], BugSet::NONE);
    let dup = [
        remote(&["nats-leaf://u:secret@h"]),
        remote(&["nats-leaf://x"]),
        remote(&["nats-leaf://u:secret@h:7422"]),
    ];
    let err = w.m.reload(w.now, &dup).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            ReloadError::Duplicate {
                first: 0,
                second: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(text.contains("nats-leaf://u:xxxxx@h:7422"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    // Named duplicates are caught too, whatever their URLs.
    let err =
        w.m.reload(
            w.now,
            &[named("n", &["nats://p"]), named("n", &["nats://q"])],
        )
        .unwrap_err();
    assert!(err.to_string().contains("name=\"n\""), "{err}");
    let err = w.m.reload(w.now, &[RemoteConfig::default()]).unwrap_err();
    assert!(matches!(err, ReloadError::NoUrls { index: 0, .. }));
    // All or nothing: not even the valid part was applied.
    assert!(w.drain().is_empty());
    assert_eq!(w.m.live_attempts(), attempts);
}

#[test]
fn initial_duplicates_are_skipped_not_fatal() {
    let (w, out) = World::new(&[remote(&["nats-leaf://h"]), remote(&["nats-leaf://h:7422"])]);
    assert_eq!(dials(&out).len(), 1);
    assert!(out
        .iter()
        .any(|o| matches!(o, RemoteOutput::Event(Event::RemoteRejected { .. }))));
    assert_eq!(w.m.status().len(), 1);
}

#[test]
fn backoff_doubles_with_equal_jitter_and_resets_after_a_healthy_session() {
    let min = Duration::from_millis(100);
    let max = Duration::from_millis(800);
    let cfg = RemoteConfig {
        backoff: Some(Backoff { min, max }),
        ..remote(&["nats-leaf://hub"])
    };
    let (mut w, out) = World::new(&[cfg]);
    let mut attempt = one_dial(&out);
    let mut delays = Vec::new();
    for failures in 1..=6u32 {
        w.input(RemoteInput::DialFailed {
            attempt,
            error: "connection refused".into(),
        });
        assert_eq!(w.m.status()[0].consecutive_failures, failures);
        let (deadline, label) = w.m.poll_timeout().unwrap();
        assert!(matches!(
            label,
            RemoteTimer::Reconnect {
                reason: WaitReason::Backoff,
                ..
            }
        ));
        let delay = deadline - w.now;
        let base = (min * 2u32.pow(failures - 1)).min(max);
        assert!(
            delay >= base / 2 && delay <= base,
            "failure {failures}: {delay:?} vs {base:?}"
        );
        delays.push(delay);
        attempt = one_dial(&w.advance());
    }
    // Capped: the last ones all sit in [max/2, max]; jitter makes them differ.
    assert!(delays[3..].iter().all(|d| *d >= max / 2 && *d <= max));
    assert!(
        delays[3] != delays[4] || delays[4] != delays[5],
        "{delays:?}"
    );
    // A session that never completes a PING/PONG still counts as failed...
    w.input(RemoteInput::Dialed { attempt });
    w.input(RemoteInput::HandshakeDone {
        attempt,
        leafnode_urls: vec![],
    });
    w.drop_link(attempt);
    assert_eq!(w.m.status()[0].consecutive_failures, 7);
    // ...and one that does resets the count, back to the minimum delay.
    let attempt = one_dial(&w.advance());
    w.connect(attempt);
    assert_eq!(w.m.status()[0].consecutive_failures, 0);
    w.drop_link(attempt);
    assert_eq!(w.m.status()[0].consecutive_failures, 0);
    let delay = w.m.poll_timeout().unwrap().0 - w.now;
    assert!(delay >= min / 2 && delay <= min, "{delay:?}");
}

#[test]
fn loop_and_permission_closes_wait_thirty_seconds() {
    for reason in [
        LinkEnd::LoopDetected,
        LinkEnd::PermissionViolation,
        LinkEnd::SameClusterName,
    ] {
        let (mut w, attempts) = connected(&[remote(&["nats-leaf://hub"])], BugSet::NONE);
        w.input(RemoteInput::LinkClosed {
            attempt: attempts[0],
            reason: reason.clone(),
        });
        let (deadline, label) = w.m.poll_timeout().unwrap();
        assert_eq!(deadline - w.now, ERROR_DELAY, "{reason:?}");
        assert!(matches!(
            label,
            RemoteTimer::Reconnect {
                reason: WaitReason::AfterError,
                ..
            }
        ));
        assert!(w.advance_by(Duration::from_secs(29)).is_empty());
        assert_eq!(dials(&w.advance_by(Duration::from_secs(1))).len(), 1);
    }
}

#[test]
fn urls_rotate_and_gossip_is_merged_first() {
    let cfg = remote(&["nats-leaf://u:p@a", "nats-leaf://u:p@b"]);
    let (mut w, out) = World::new(&[cfg]);
    assert_eq!(dial_urls(&out), ["nats-leaf://u:p@a:7422"]);
    let attempt = one_dial(&out);
    w.input(RemoteInput::DialFailed {
        attempt,
        error: "refused".into(),
    });
    let out = w.advance();
    assert_eq!(dial_urls(&out), ["nats-leaf://u:p@b:7422"]);
    let attempt = one_dial(&out);
    w.input(RemoteInput::Dialed { attempt });
    w.input(RemoteInput::HandshakeDone {
        attempt,
        leafnode_urls: vec!["c:7422".into(), "b:7422".into()],
    });
    w.drop_link(attempt);
    // Rotation over [c, a, b] (gossip first, deduplicated), continuing after b.
    let mut seen = Vec::new();
    for _ in 0..4 {
        let out = w.advance();
        seen.extend(dial_urls(&out));
        w.input(RemoteInput::DialFailed {
            attempt: one_dial(&out),
            error: "refused".into(),
        });
    }
    assert_eq!(
        seen,
        [
            "nats-leaf://u:p@c:7422",
            "nats-leaf://u:p@a:7422",
            "nats-leaf://u:p@b:7422",
            "nats-leaf://u:p@c:7422"
        ]
    );
}

#[test]
fn randomized_urls_depend_on_the_seed_only() {
    let urls: Vec<String> = (0..6).map(|i| format!("nats-leaf://h{i}")).collect();
    let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
    let cfg = RemoteConfig {
        no_randomize: false,
        ..remote(&refs)
    };
    let run = |seed| {
        let mut m = Remotes::new(std::slice::from_ref(&cfg), RECONNECT, seed, Instant::ZERO);
        let mut now = Instant::ZERO;
        let mut seen = Vec::new();
        for _ in 0..6 {
            let out: Vec<_> = std::iter::from_fn(|| m.poll_output()).collect();
            seen.extend(dial_urls(&out));
            let attempt = one_dial(&out);
            m.handle_input(
                now,
                RemoteInput::DialFailed {
                    attempt,
                    error: String::new(),
                },
            );
            now += RECONNECT;
            m.handle_timeout(now);
        }
        seen
    };
    assert_eq!(run(1), run(1));
    let mut sorted = run(1);
    sorted.sort();
    let expected: Vec<String> = (0..6).map(|i| format!("nats-leaf://h{i}:7422")).collect();
    assert_eq!(sorted, expected, "one round visits every URL once");
    assert!(
        (2..10).any(|s| run(s) != run(1)),
        "the seed drives the order"
    );
}

#[test]
fn remote_generation_changes_only_on_add_or_enable() {
    let r = remote(&["nats-leaf://hub"]);
    let (mut w, attempts) = connected(std::slice::from_ref(&r), BugSet::NONE);
    let g0 = w.m.status()[0].remote_generation;
    assert_eq!(w.m.status()[0].sessions_in_generation, 1);
    // A reconnect is a new session in the same remote generation (a backbone "gap").
    w.drop_link(attempts[0]);
    let a2 = one_dial(&w.advance());
    w.connect(a2);
    let s = &w.m.status()[0];
    assert_eq!((s.remote_generation, s.sessions_in_generation), (g0, 2));
    assert_eq!(s.attempts_in_generation, 2);
    // Disable + enable: a fresh remote generation, counting from zero.
    w.reload(&[disabled(&r)]);
    let a3 = one_dial(&w.reload(std::slice::from_ref(&r)).1);
    let s = &w.m.status()[0];
    assert!(s.remote_generation > g0);
    assert_eq!(s.sessions_in_generation, 0);
    w.connect(a3);
    assert_eq!(w.m.status()[0].sessions_in_generation, 1);
}

#[test]
fn out_of_order_and_unknown_inputs_are_harmless() {
    let (mut w, out) = World::new(&[remote(&["nats-leaf://hub"])]);
    let a = one_dial(&out);
    // PongSeen before the handshake, duplicate Dialed, duplicate HandshakeDone.
    assert!(w.input(RemoteInput::PongSeen { attempt: a }).is_empty());
    assert!(w.input(RemoteInput::Dialed { attempt: a }).is_empty());
    assert!(w.input(RemoteInput::Dialed { attempt: a }).is_empty());
    let hs = RemoteInput::HandshakeDone {
        attempt: a,
        leafnode_urls: vec![],
    };
    assert_eq!(registers(&w.input(hs.clone())), [a]);
    assert!(w.input(hs).is_empty());
    // An attempt id this machine never issued.
    let bogus = AttemptId::new(RemoteIndex(99), 12345);
    let out = w.input(RemoteInput::HandshakeDone {
        attempt: bogus,
        leafnode_urls: vec![],
    });
    assert_eq!(closes(&out), [bogus]);
    assert!(actions(&w.input(RemoteInput::LinkClosed {
        attempt: bogus,
        reason: LinkEnd::Io
    }))
    .is_empty());
    assert_eq!(w.m.live_attempts(), [a]);
}

#[test]
fn add_to_running_set_dials_only_the_new_one() {
    let a = remote(&["nats-leaf://a"]);
    let b = remote(&["nats-leaf://b"]);
    let (mut w, attempts) = connected(std::slice::from_ref(&a), BugSet::NONE);
    let (summary, out) = w.reload(&[b.clone(), a.clone()]);
    assert_eq!(summary.added, [b.identity()]);
    assert_eq!(summary.unchanged, 1);
    assert_eq!(dial_urls(&out), ["nats-leaf://b:7422"]);
    assert!(closes(&out).is_empty());
    assert!(w.m.is_current(attempts[0]));
}

/// Connect one randomised remote whose first configured URL refuses, as the simulator's
/// leaf-noop-reload does, then reload the very same list; returns the reload's summary and
/// outputs, the attempt that connected and whether a refused dial came first.
fn connect_past_dead_url_then_noop(
    seed: u64,
    bugs: BugSet,
) -> (ReloadSummary, Vec<RemoteOutput>, AttemptId, bool) {
    let r = RemoteConfig {
        no_randomize: false,
        ..remote(&["nats-leaf://hub:7423", "nats-leaf://hub:7422"])
    };
    let m = Remotes::with_bugs(
        std::slice::from_ref(&r),
        RECONNECT,
        seed,
        Instant::ZERO,
        bugs,
    );
    let mut w = World {
        m,
        now: Instant::ZERO,
    };
    let mut out = w.drain();
    let mut refused = false;
    let attempt = loop {
        let attempt = one_dial(&out);
        if dial_urls(&out) == ["nats-leaf://hub:7422"] {
            break attempt;
        }
        refused = true;
        let error = "refused".to_string();
        assert!(actions(&w.input(RemoteInput::DialFailed { attempt, error })).is_empty());
        out = w.advance();
    };
    assert_eq!(registers(&w.connect(attempt)), [attempt]);
    let (summary, out) = w.reload(std::slice::from_ref(&r));
    (summary, out, attempt, refused)
}

#[test]
fn randomised_urls_never_make_a_no_op_reload_bounce() {
    for seed in 0..16 {
        let (summary, out, _, _) = connect_past_dead_url_then_noop(seed, BugSet::NONE);
        assert!(summary.is_noop(), "seed {seed}: {summary:?}");
        assert!(actions(&out).is_empty(), "seed {seed}");
    }
}

#[cfg(feature = "bug-switches")]
#[test]
fn shuffle_in_place_bounces_a_no_op_reload_on_every_seed() {
    let bugs = BugSet::NONE.with(BugSwitch::LeafShuffleInPlace);
    let mut orders = std::collections::BTreeSet::new();
    for seed in 0..16 {
        let (summary, out, attempt, refused) = connect_past_dead_url_then_noop(seed, bugs);
        orders.insert(refused);
        assert_eq!(
            (summary.removed.len(), summary.added.len()),
            (1, 1),
            "seed {seed}: the diff saw the mutated list"
        );
        assert_eq!(closes(&out), [attempt], "seed {seed}: the link bounces");
        assert_eq!(dials(&out).len(), 1, "seed {seed}");
    }
    assert_eq!(orders.len(), 2, "both shuffle outcomes were exercised");
}

#[cfg(feature = "bug-switches")]
#[test]
fn remove_reconnects_dials_again_once_the_identity_is_back() {
    let r = remote(&["nats-leaf://hub"]);
    let bugs = BugSet::NONE.with(BugSwitch::LeafRemoveReconnects);
    // Removed for good: the leftover task wakes, finds nothing configured and ends.
    let (mut w, attempts) = connected(std::slice::from_ref(&r), bugs);
    assert_eq!(closes(&w.reload(&[]).1), attempts);
    assert!(w.m.live_attempts().is_empty(), "closing is not an attempt");
    assert!(actions(&w.drop_link(attempts[0])).is_empty());
    assert!(
        w.m.poll_timeout().is_some(),
        "the close started a reconnect"
    );
    assert!(w.advance().is_empty());
    assert_eq!(w.m.poll_timeout(), None);
    // Re-added meanwhile (quit schedule ii): the task dials next to the new attempt.
    let (mut w, attempts) = connected(std::slice::from_ref(&r), bugs);
    w.reload(&[]);
    w.drop_link(attempts[0]);
    let fresh = one_dial(&w.reload(std::slice::from_ref(&r)).1);
    let leftover = one_dial(&w.advance());
    assert_ne!(leftover, fresh);
    assert_eq!(w.m.live_attempts(), [fresh, leftover]);
}

#[cfg(feature = "bug-switches")]
#[test]
fn in_progress_late_lets_disable_enable_start_a_second_attempt() {
    let r = remote(&["nats-leaf://hub"]);
    let bugs = BugSet::NONE.with(BugSwitch::LeafInProgressLate);
    // Without a reload in the window the late task simply becomes the attempt.
    let (mut w, attempts) = connected(std::slice::from_ref(&r), bugs);
    w.drop_link(attempts[0]);
    let next = one_dial(&w.advance());
    assert!(w.m.is_current(next));
    // A disable and an enable during the reconnect sleep: two attempts.
    w.input(RemoteInput::DialFailed {
        attempt: next,
        error: "refused".to_string(),
    });
    let (summary, out) = w.reload(&[disabled(&r)]);
    assert_eq!(summary.disabled.len(), 1);
    assert!(actions(&out).is_empty(), "nothing in progress to cancel");
    let fresh = one_dial(&w.reload(std::slice::from_ref(&r)).1);
    let late = one_dial(&w.advance());
    assert_ne!(late, fresh);
    assert!(w.m.is_current(fresh) && !w.m.is_current(late));
    assert_eq!(w.m.live_attempts(), [fresh, late]);
}

#[cfg(feature = "bug-switches")]
#[test]
fn stale_url_copy_redials_the_old_urls_after_a_named_edit() {
    let before = named("hub", &["nats-leaf://a", "nats-leaf://b"]);
    let after = named("hub", &["nats-leaf://c", "nats-leaf://a"]);
    let bugs = BugSet::NONE.with(BugSwitch::LeafStaleUrlCopy);
    let (mut w, attempts) = connected(std::slice::from_ref(&before), bugs);
    let (summary, _) = w.reload(std::slice::from_ref(&after));
    assert_eq!(summary.updated.len(), 1);
    assert_eq!(
        w.m.status()[0].urls,
        ["nats-leaf://c:7422", "nats-leaf://a:7422"],
        "the configuration did change"
    );
    w.drop_link(attempts[0]);
    assert_eq!(dial_urls(&w.advance()), ["nats-leaf://b:7422"]);
}
