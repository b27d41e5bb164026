//! Property tests: the presence registry against a reference model of who really holds each
//! id, over random orderings of connects, connection ends, (late) cleanups, remote events
//! with epochs around the known ones, and time passing.
//!
//! The model knows every session of every id (local ones from accepted connects, remote
//! ones from events) and whether it ended; the truth about an id is its newest session.
//! Checked after every step, on the stream of published events (which is exactly what a
//! local subscriber of `$PRESENCE.>` receives, in order) — incident 2's invariants:
//! 1. per id the stream alternates online/offline, is ordered by (epoch, online < offline),
//!    and every offline is for the session whose online precedes it;
//! 2. every announced local session gets exactly one offline once every connection is
//!    cleaned up, and no session ever gets two;
//! 3. after quiescence the last event per id is the model's truth;
//! 4. the registry holds an id only for the session the model says is current (a late
//!    cleanup never removes a newer session), and relay targets follow.
//!
//! Plus the takeover policy: exactly the expected connections are closed (old session on a
//! takeover, new one when refused by `takeover_backoff` or `takeover: false`) and every new
//! epoch is newer than all epochs known for its id. With each historical bug switched on,
//! the same property must fail for some case (negative controls).

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError};
use rejoin_core::bugs::BugSet;
use rejoin_core::config::Presence;
use rejoin_core::event::{Cid, CloseReason};
use rejoin_core::presence::{
    Connect, Epoch, EventKind, PresenceEvent, PresenceOutput, PresenceRegistry, RelayTarget,
};
use rejoin_core::time::Instant;

const IDS: [&str; 3] = ["a", "b", "c"];
const ACCOUNT: &str = "$G";
/// Remote servers: one sorting before ours (`S1`) and one after, so counter ties go both ways.
const REMOTES: [&str; 2] = ["S0", "S2"];

#[derive(Debug, Clone)]
enum Op {
    Connect(usize),
    /// A live connection's reader stops (its cleanup comes later).
    End(Index),
    /// An ended connection's cleanup runs.
    Cleanup(Index),
    Remote {
        id: usize,
        online: bool,
        delta: i64,
        server: usize,
    },
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..IDS.len()).prop_map(Op::Connect),
        3 => any::<Index>().prop_map(Op::End),
        3 => any::<Index>().prop_map(Op::Cleanup),
        2 => (0..IDS.len(), any::<bool>(), -2i64..=3, 0..REMOTES.len()).prop_map(
            |(id, online, delta, server)| Op::Remote { id, online, delta, server }
        ),
        2 => (0u64..1500).prop_map(Op::Advance),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    takeover: bool,
    backoff_ms: u64,
    ops: Vec<Op>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![4 => Just(true), 1 => Just(false)],
        prop_oneof![Just(0u64), Just(1000u64)],
        proptest::collection::vec(op(), 1..60),
    )
        .prop_map(|(takeover, backoff_ms, ops)| Case {
            takeover,
            backoff_ms,
            ops,
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Live,
    Ending,
    Cleaned,
}

#[derive(Debug)]
struct Conn {
    id: usize,
    phase: Phase,
}

#[derive(Debug, Clone)]
struct Sess {
    epoch: Epoch,
    /// `Some(cid)` for a session on this server.
    local: Option<Cid>,
    ended: bool,
}

#[derive(Debug, Default)]
struct IdModel {
    sessions: Vec<Sess>,
    last_takeover: Option<Instant>,
}

impl IdModel {
    fn newest(&self) -> Option<&Sess> {
        self.sessions.iter().max_by(|a, b| a.epoch.cmp(&b.epoch))
    }
    fn live_local(&mut self) -> Option<&mut Sess> {
        self.sessions
            .iter_mut()
            .find(|s| s.local.is_some() && !s.ended)
    }
    fn max_counter(&self) -> u64 {
        self.sessions
            .iter()
            .map(|s| s.epoch.counter)
            .max()
            .unwrap_or(0)
    }
}

struct Run {
    reg: PresenceRegistry,
    takeover: bool,
    backoff: Duration,
    now: Instant,
    next_cid: Cid,
    conns: BTreeMap<Cid, Conn>,
    ids: Vec<IdModel>,
    /// Everything published, per id, in order.
    streams: Vec<Vec<PresenceEvent>>,
}

fn id_index(id: &str) -> usize {
    IDS.iter().position(|i| *i == id).expect("known id")
}

impl Run {
    fn new(c: &Case, bugs: BugSet) -> Run {
        let cfg = Presence {
            takeover: c.takeover,
            takeover_backoff: Duration::from_millis(c.backoff_ms),
            ..Presence::default()
        };
        Run {
            reg: PresenceRegistry::new(cfg, "S1", 0, bugs),
            takeover: c.takeover,
            backoff: Duration::from_millis(c.backoff_ms),
            now: Instant::ZERO,
            next_cid: 1,
            conns: BTreeMap::new(),
            ids: IDS.iter().map(|_| IdModel::default()).collect(),
            streams: IDS.iter().map(|_| Vec::new()).collect(),
        }
    }

    /// Drain outputs: record publishes, return the closed connections (sorted).
    fn drain(&mut self) -> Result<Vec<Cid>, TestCaseError> {
        let mut closes = Vec::new();
        while let Some(o) = self.reg.poll_output() {
            match o {
                PresenceOutput::Publish { account, event } => {
                    prop_assert_eq!(account, ACCOUNT);
                    self.streams[id_index(&event.id)].push(event);
                }
                PresenceOutput::Close { cid, .. } => closes.push(cid),
                PresenceOutput::Reply { .. } | PresenceOutput::Event(_) => {}
            }
        }
        closes.sort_unstable();
        Ok(closes)
    }

    fn pick(&self, phase: Phase, i: &Index) -> Option<Cid> {
        let cands: Vec<Cid> = self
            .conns
            .iter()
            .filter(|(_, c)| c.phase == phase)
            .map(|(cid, _)| *cid)
            .collect();
        (!cands.is_empty()).then(|| cands[i.index(cands.len())])
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Advance(ms) => self.now += Duration::from_millis(*ms),
            Op::Connect(id) => self.connect(*id)?,
            Op::End(i) => {
                if let Some(cid) = self.pick(Phase::Live, i) {
                    self.conns.get_mut(&cid).expect("conn").phase = Phase::Ending;
                    self.reg.handle_ending(cid, &CloseReason::ClientClosed);
                    prop_assert_eq!(self.drain()?, Vec::<Cid>::new());
                }
            }
            Op::Cleanup(i) => {
                if let Some(cid) = self.pick(Phase::Ending, i) {
                    self.cleanup(cid)?;
                }
            }
            Op::Remote {
                id,
                online,
                delta,
                server,
            } => self.remote(*id, *online, *delta, *server)?,
        }
        self.check_always()
    }

    fn connect(&mut self, id: usize) -> Result<(), TestCaseError> {
        let cid = self.next_cid;
        self.next_cid += 1;
        self.conns.insert(
            cid,
            Conn {
                id,
                phase: Phase::Live,
            },
        );
        let known_max = self.ids[id].newest().map(|s| s.epoch.clone());
        let now = self.now;
        // The model's decision.
        let m = &self.ids[id];
        let holder = m.newest().filter(|s| !s.ended).cloned();
        let alive = match &holder {
            Some(Sess { local: Some(c), .. }) => self.conns[c].phase == Phase::Live,
            Some(_) => true,
            None => false,
        };
        let mut expect_close = Vec::new();
        let mut accepted = true;
        if alive {
            let local = holder.as_ref().is_some_and(|h| h.local.is_some());
            if (local && !self.takeover) || m.last_takeover.is_some_and(|t| now < t + self.backoff)
            {
                accepted = false;
                expect_close.push(cid);
            } else if let Some(old) = holder.as_ref().and_then(|h| h.local) {
                expect_close.push(old);
            }
        }
        self.reg.handle_connect(
            now,
            Connect {
                cid,
                account: ACCOUNT,
                name: Some(IDS[id]),
                user: None,
            },
        );
        let before = self.streams[id].len();
        let closes = self.drain()?;
        expect_close.sort_unstable();
        prop_assert_eq!(&closes, &expect_close, "closes after connect {}", cid);
        if !accepted {
            return Ok(());
        }
        let m = &mut self.ids[id];
        if alive {
            m.last_takeover = Some(now);
        }
        if let Some(h) = holder {
            if let Some(s) = m.sessions.iter_mut().find(|s| s.epoch == h.epoch) {
                s.ended = true;
            }
        }
        let epoch = match self.reg.session_epoch(cid) {
            Some(e) => e.clone(),
            None => return Err(TestCaseError::fail(format!("no session for {cid}"))),
        };
        if let Some(k) = known_max {
            prop_assert!(epoch > k, "new epoch {} not newer than known {}", epoch, k);
        }
        // Its online is published now, last (unless a bug swallowed or reordered it).
        if let Some(last) = self.streams[id][before..].last() {
            prop_assert!(
                last.kind != EventKind::Online || last.cid == cid,
                "last published is not the new online: {:?}",
                last
            );
        }
        self.ids[id].sessions.push(Sess {
            epoch,
            local: Some(cid),
            ended: false,
        });
        Ok(())
    }

    fn cleanup(&mut self, cid: Cid) -> Result<(), TestCaseError> {
        let conn = self.conns.get_mut(&cid).expect("conn");
        conn.phase = Phase::Cleaned;
        let id = conn.id;
        self.reg
            .handle_closed(self.now, cid, &CloseReason::ClientClosed);
        prop_assert_eq!(self.drain()?, Vec::<Cid>::new());
        if let Some(s) = self.ids[id]
            .sessions
            .iter_mut()
            .find(|s| s.local == Some(cid))
        {
            s.ended = true;
        }
        Ok(())
    }

    fn remote(
        &mut self,
        id: usize,
        online: bool,
        delta: i64,
        server: usize,
    ) -> Result<(), TestCaseError> {
        let m = &mut self.ids[id];
        let counter = (m.max_counter() as i64 + delta).max(1) as u64;
        let epoch = Epoch {
            counter,
            server: REMOTES[server].into(),
        };
        // One remote session per epoch, with a stable cid.
        let remote_cid = 1_000_000 + counter * 2 + server as u64;
        let kind = if online {
            EventKind::Online
        } else {
            EventKind::Offline
        };
        let mut expect_close = Vec::new();
        if let Some(l) = m.live_local() {
            if epoch > l.epoch || (!online && epoch == l.epoch) {
                l.ended = true;
                let lcid = l.local.expect("local");
                m.last_takeover = Some(self.now);
                if self.conns[&lcid].phase == Phase::Live {
                    expect_close.push(lcid);
                }
            }
        }
        match m.sessions.iter_mut().find(|s| s.epoch == epoch) {
            Some(s) => s.ended |= !online,
            None => m.sessions.push(Sess {
                epoch: epoch.clone(),
                local: None,
                ended: !online,
            }),
        }
        let ev = PresenceEvent {
            kind,
            id: IDS[id].into(),
            epoch,
            cid: remote_cid,
            reason: "test".into(),
        };
        self.reg.handle_remote(self.now, ACCOUNT, ev);
        prop_assert_eq!(self.drain()?, expect_close, "closes after a remote event");
        Ok(())
    }

    /// Invariants 1 and 4, after every step.
    fn check_always(&mut self) -> Result<(), TestCaseError> {
        for (i, stream) in self.streams.iter().enumerate() {
            let mut prev: Option<&PresenceEvent> = None;
            for ev in stream {
                if let Some(p) = prev {
                    prop_assert!(
                        (&ev.epoch, ev.kind) > (&p.epoch, p.kind),
                        "{}: {:?} after {:?}",
                        IDS[i],
                        ev,
                        p
                    );
                    prop_assert!(
                        p.kind != ev.kind,
                        "{}: two in a row: {:?}, {:?}",
                        IDS[i],
                        p,
                        ev
                    );
                    if ev.kind == EventKind::Offline {
                        prop_assert_eq!(
                            &ev.epoch,
                            &p.epoch,
                            "{}: offline for another session",
                            IDS[i]
                        );
                    }
                }
                prev = Some(ev);
            }
        }
        for (i, m) in self.ids.iter_mut().enumerate() {
            let expect = m.live_local().and_then(|s| s.local);
            let held = self.reg.local_session(ACCOUNT, IDS[i]).map(|(c, _)| c);
            prop_assert_eq!(held, expect, "{}: registry holds the wrong session", IDS[i]);
            let relay = match m.newest().filter(|s| !s.ended) {
                Some(Sess { local: Some(c), .. }) if self.conns[c].phase == Phase::Live => {
                    RelayTarget::Local(*c)
                }
                Some(Sess { local: None, .. }) => RelayTarget::Links,
                _ => RelayTarget::Nobody,
            };
            prop_assert_eq!(
                self.reg.relay_target(ACCOUNT, Some(IDS[i])),
                relay,
                "{}: relay",
                IDS[i]
            );
        }
        Ok(())
    }

    /// End and clean up every connection, then invariants 2 and 3.
    fn quiesce(&mut self) -> Result<(), TestCaseError> {
        let cids: Vec<Cid> = self.conns.keys().copied().collect();
        for cid in &cids {
            if self.conns[cid].phase == Phase::Live {
                self.conns.get_mut(cid).expect("conn").phase = Phase::Ending;
                self.reg.handle_ending(*cid, &CloseReason::ClientClosed);
                self.drain()?;
            }
        }
        for cid in &cids {
            if self.conns[cid].phase == Phase::Ending {
                self.cleanup(*cid)?;
            }
        }
        self.check_always()?;
        for (i, stream) in self.streams.iter().enumerate() {
            // 2: each announced session gets at most one offline; local ones exactly one.
            for (k, on) in stream.iter().enumerate() {
                if on.kind != EventKind::Online {
                    continue;
                }
                let offs = stream[k + 1..]
                    .iter()
                    .filter(|e| e.kind == EventKind::Offline && e.epoch == on.epoch)
                    .count();
                let local = &*on.epoch.server == "S1";
                let last = k + 1 == stream.len();
                prop_assert!(offs <= 1, "{}: {} offlines for {:?}", IDS[i], offs, on);
                prop_assert!(
                    offs == 1 || (!local && last),
                    "{}: no offline for {:?}",
                    IDS[i],
                    on
                );
            }
            // 3: the stream ends in the truth.
            let truth = self.ids[i].newest().filter(|s| !s.ended);
            match (truth, stream.last()) {
                (Some(t), Some(last)) => {
                    prop_assert!(
                        last.kind == EventKind::Online && last.epoch == t.epoch,
                        "{}: ends in {:?}, truth online {}",
                        IDS[i],
                        last,
                        t.epoch
                    );
                }
                (Some(t), None) => {
                    return Err(TestCaseError::fail(format!(
                        "{}: never announced, truth online {}",
                        IDS[i], t.epoch
                    )))
                }
                (None, Some(last)) => prop_assert_eq!(
                    last.kind,
                    EventKind::Offline,
                    "{}: ends online, truth offline",
                    IDS[i]
                ),
                (None, None) => {}
            }
        }
        prop_assert_eq!(self.reg.stats().sessions, 0);
        Ok(())
    }
}

fn check(c: &Case, bugs: BugSet) -> Result<(), TestCaseError> {
    let mut run = Run::new(c, bugs);
    for op in &c.ops {
        run.step(op)?;
    }
    run.quiesce()
}

proptest! {
    #![proptest_config(Config::with_cases(1000))]

    #[test]
    fn registry_keeps_incident_2_invariants(c in case()) {
        check(&c, BugSet::NONE)?;
    }
}

/// With a historical bug switched on, the same property must find a failing case: the
/// checker can fail, and each bug is one it catches.
#[cfg(feature = "bug-switches")]
#[test]
fn negative_controls_are_caught() {
    use proptest::test_runner::TestRunner;
    use rejoin_core::bugs::BugSwitch;
    for bug in [
        BugSwitch::PresenceNoOfflineOnReplace,
        BugSwitch::PresenceLateOffline,
        BugSwitch::PresenceDeleteById,
    ] {
        let mut runner = TestRunner::new(Config {
            cases: 1000,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&case(), |c| check(&c, BugSet::NONE.with(bug)));
        assert!(result.is_err(), "{bug} was not caught");
    }
}
