//! Property tests: the leafnode `Remotes` machine under random reload and link schedules.
//!
//! A small model of the shell sits beside the machine: it executes `Dial`/`Close`/
//! `Register` outputs and tracks every attempt that is physically dialing, handshaking or
//! connected. Random operations mix reloads (add, remove, disable, enable, reorder, URL edits
//! with and without a `name`, session-changing edits, no-ops, remove-all, invalid lists),
//! dial successes and failures, handshakes, PONGs, link drops, time jumps, and stale inputs
//! replayed late from a bag of old attempt ids. After every step the incident 1 invariants
//! must hold; after quiescence (every timer run, every dial succeeding) the connected
//! identities must be exactly the enabled ones of the last accepted configuration.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::sample::Index;
use rejoin_core::bugs::BugSet;
use rejoin_core::config::{Backoff, RemoteConfig, RemoteId, RemoteUrl};
use rejoin_core::remote::{
    AttemptId, LinkEnd, LinkState, RemoteInput, RemoteOutput, RemoteTimer, Remotes,
};
use rejoin_core::time::{Duration, Instant};

/// Remote configurations that the generated lists pick from. Several share an identity,
/// so picking one after another is an in-place update or a restart.
fn pool() -> Vec<RemoteConfig> {
    let base = |urls: &[&str]| RemoteConfig {
        urls: urls.iter().map(|u| RemoteUrl::parse(u).unwrap()).collect(),
        ..RemoteConfig::default()
    };
    let named = |name: &str, urls: &[&str]| RemoteConfig {
        name: Some(name.into()),
        ..base(urls)
    };
    let backoff = Some(Backoff {
        min: Duration::from_millis(100),
        max: Duration::from_secs(2),
    });
    vec![
        base(&["nats-leaf://a"]),
        base(&["nats-leaf://b", "nats-leaf://c"]),
        // URL reorder of the previous one: a different identity.
        base(&["nats-leaf://c", "nats-leaf://b"]),
        RemoteConfig {
            no_randomize: true,
            ..named("n", &["nats-leaf://d"])
        },
        // URL edit of "n": same identity, in place.
        named("n", &["nats-leaf://e", "nats-leaf://d"]),
        RemoteConfig {
            backoff,
            ..named("m", &["nats-leaf://u:pw@f"])
        },
        // Account change of "m": same identity, restart.
        RemoteConfig {
            backoff,
            account: Some("ACME".into()),
            ..named("m", &["nats-leaf://u:pw@f"])
        },
        // `hub` change of the first one: same identity, restart.
        RemoteConfig {
            hub: true,
            ..base(&["nats-leaf://a"])
        },
    ]
}

/// The servers the simulated hubs gossip in `leafnode_urls`.
const GOSSIPED: &[&str] = &["g1", "a"];

#[derive(Clone, Debug)]
enum Op {
    /// A new list: pool entries with a `disabled` flag (later duplicates of an identity are
    /// dropped so the list is valid).
    Reload(Vec<(usize, bool)>),
    ReloadSame,
    ReloadReversed,
    ReloadEmpty,
    /// Flip `disabled` of one remote.
    Toggle(Index),
    /// The current list plus a copy of one of its remotes: must be rejected.
    ReloadDuplicate(Index),
    DialOk(Index),
    DialFail(Index),
    Handshake(Index, bool),
    Pong(Index),
    Drop(Index, u8),
    /// Replay an input about an old attempt.
    Stale(Index, u8),
    Advance(u32),
    AdvanceToTimeout,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => prop::collection::vec((0..8usize, prop::bool::weighted(0.25)), 0..5).prop_map(Op::Reload),
        1 => Just(Op::ReloadSame),
        1 => Just(Op::ReloadReversed),
        1 => Just(Op::ReloadEmpty),
        2 => any::<Index>().prop_map(Op::Toggle),
        1 => any::<Index>().prop_map(Op::ReloadDuplicate),
        4 => any::<Index>().prop_map(Op::DialOk),
        2 => any::<Index>().prop_map(Op::DialFail),
        4 => (any::<Index>(), any::<bool>()).prop_map(|(i, g)| Op::Handshake(i, g)),
        2 => any::<Index>().prop_map(Op::Pong),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, r)| Op::Drop(i, r)),
        4 => (any::<Index>(), any::<u8>()).prop_map(|(i, k)| Op::Stale(i, k)),
        2 => (0u32..40_000).prop_map(Op::Advance),
        2 => Just(Op::AdvanceToTimeout),
    ]
}

/// What the shell physically has for one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phys {
    Dialing,
    Handshaking,
    Connected,
}

struct Harness {
    m: Remotes,
    now: Instant,
    pool: Vec<RemoteConfig>,
    /// The last accepted configuration (the reference model).
    config: Vec<RemoteConfig>,
    /// Attempts alive in the shell, with their identity.
    live: BTreeMap<AttemptId, (RemoteId, Phys)>,
    /// Every attempt that ever ended or was closed: late inputs come from here.
    bag: Vec<AttemptId>,
}

impl Harness {
    fn new(seed: u64, initial: Vec<RemoteConfig>, bugs: BugSet) -> Self {
        let m = Remotes::with_bugs(&initial, Duration::from_secs(1), seed, Instant::ZERO, bugs);
        let mut h = Harness {
            m,
            now: Instant::ZERO,
            pool: pool(),
            config: initial,
            live: BTreeMap::new(),
            bag: Vec::new(),
        };
        h.execute();
        h
    }

    /// Drain and execute the outputs as the shell would, checking the per-output rules.
    fn execute(&mut self) -> usize {
        let mut n = 0;
        while let Some(out) = self.m.poll_output() {
            n += 1;
            match out {
                RemoteOutput::Dial {
                    attempt,
                    remote,
                    url,
                    config,
                    ..
                } => {
                    assert!(
                        self.m.is_current(attempt),
                        "dial of a non-current {attempt}"
                    );
                    // A URL edit applies from the next attempt: only the attempt's own
                    // configured URLs, or servers a hub gossiped, are ever dialed.
                    let host = RemoteUrl::parse(&url).expect("a dialable URL").host;
                    assert!(
                        config.urls.iter().any(|u| u.host == host) || GOSSIPED.contains(&&*host),
                        "{attempt} dials {url}, which {remote} does not list"
                    );
                    let old = self.live.insert(attempt, (remote, Phys::Dialing));
                    assert!(old.is_none(), "attempt {attempt} dialed twice");
                }
                RemoteOutput::Register { attempt } => {
                    assert!(
                        self.m.is_current(attempt),
                        "invariant 4: registered stale attempt {attempt}"
                    );
                    let entry = self
                        .live
                        .get_mut(&attempt)
                        .expect("register of a dead attempt");
                    assert_eq!(entry.1, Phys::Handshaking, "register before handshake");
                    entry.1 = Phys::Connected;
                }
                RemoteOutput::Close { attempt, .. } => {
                    if self.live.remove(&attempt).is_some() {
                        self.bag.push(attempt);
                    }
                }
                RemoteOutput::Event(_) => {}
            }
        }
        n
    }

    fn input(&mut self, input: RemoteInput) {
        self.m.handle_input(self.now, input);
        self.execute();
    }

    fn pick(&self, i: &Index, phys: &[Phys]) -> Option<AttemptId> {
        let c: Vec<AttemptId> = self
            .live
            .iter()
            .filter(|(_, (_, p))| phys.contains(p))
            .map(|(a, _)| *a)
            .collect();
        (!c.is_empty()).then(|| *i.get(&c))
    }

    /// The attempt ended in the shell (it reported the end itself).
    fn end(&mut self, attempt: AttemptId) {
        self.live.remove(&attempt);
        self.bag.push(attempt);
    }

    fn reload(&mut self, new: Vec<RemoteConfig>) {
        let before: Vec<AttemptId> = self.live.keys().copied().collect();
        match self.m.reload(self.now, &new) {
            Ok(summary) => {
                let same = new == self.config;
                self.config = new;
                let outputs = self.execute();
                if same {
                    // Invariant 6: a no-op reload changes nothing at all.
                    assert!(summary.is_noop(), "{summary:?}");
                    assert_eq!(outputs, 0);
                    assert_eq!(self.live.keys().copied().collect::<Vec<_>>(), before);
                }
            }
            Err(e) => {
                assert!(!e.to_string().contains(":pw@"), "unredacted: {e}");
                assert_eq!(self.execute(), 0, "a rejected reload applies nothing");
            }
        }
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Reload(items) => {
                let mut seen = BTreeSet::new();
                let new = items
                    .iter()
                    .filter_map(|&(i, disabled)| {
                        let cfg = RemoteConfig {
                            disabled,
                            ..self.pool[i].clone()
                        };
                        seen.insert(cfg.identity()).then_some(cfg)
                    })
                    .collect();
                self.reload(new);
            }
            Op::ReloadSame => self.reload(self.config.clone()),
            Op::ReloadReversed => {
                let mut new = self.config.clone();
                new.reverse();
                self.reload(new);
            }
            Op::ReloadEmpty => self.reload(Vec::new()),
            Op::Toggle(i) => {
                if !self.config.is_empty() {
                    let mut new = self.config.clone();
                    let r = i.get_mut(&mut new);
                    r.disabled = !r.disabled;
                    self.reload(new);
                }
            }
            Op::ReloadDuplicate(i) => {
                if !self.config.is_empty() {
                    let mut new = self.config.clone();
                    new.push(i.get(&self.config).clone());
                    let status = self.m.status();
                    assert!(self.m.reload(self.now, &new).is_err());
                    assert_eq!(self.execute(), 0);
                    assert_eq!(self.m.status(), status);
                }
            }
            Op::DialOk(i) => {
                if let Some(attempt) = self.pick(i, &[Phys::Dialing]) {
                    self.live.get_mut(&attempt).unwrap().1 = Phys::Handshaking;
                    self.input(RemoteInput::Dialed { attempt });
                }
            }
            Op::DialFail(i) => {
                if let Some(attempt) = self.pick(i, &[Phys::Dialing]) {
                    self.end(attempt);
                    let error = "connection refused".into();
                    self.input(RemoteInput::DialFailed { attempt, error });
                }
            }
            Op::Handshake(i, gossip) => {
                if let Some(attempt) = self.pick(i, &[Phys::Handshaking]) {
                    let leafnode_urls = if *gossip {
                        GOSSIPED.iter().map(|h| format!("{h}:7422")).collect()
                    } else {
                        vec![]
                    };
                    self.input(RemoteInput::HandshakeDone {
                        attempt,
                        leafnode_urls,
                    });
                }
            }
            Op::Pong(i) => {
                if let Some(attempt) = self.pick(i, &[Phys::Connected]) {
                    self.input(RemoteInput::PongSeen { attempt });
                }
            }
            Op::Drop(i, r) => {
                if let Some(attempt) = self.pick(i, &[Phys::Handshaking, Phys::Connected]) {
                    self.end(attempt);
                    let reason = match r % 5 {
                        0 => LinkEnd::LoopDetected,
                        1 => LinkEnd::Stale,
                        2 => LinkEnd::Duplicate,
                        _ => LinkEnd::Io,
                    };
                    self.input(RemoteInput::LinkClosed { attempt, reason });
                }
            }
            Op::Stale(i, kind) => {
                if !self.bag.is_empty() {
                    let attempt = *i.get(&self.bag);
                    let input = match kind % 5 {
                        0 => RemoteInput::Dialed { attempt },
                        1 => RemoteInput::DialFailed {
                            attempt,
                            error: "late".into(),
                        },
                        2 => RemoteInput::HandshakeDone {
                            attempt,
                            leafnode_urls: vec!["late:1".into()],
                        },
                        3 => RemoteInput::LinkClosed {
                            attempt,
                            reason: LinkEnd::ClosedByUs,
                        },
                        _ => RemoteInput::PongSeen { attempt },
                    };
                    assert!(
                        !self.m.is_current(attempt),
                        "{attempt} in the bag is current"
                    );
                    let before: Vec<_> = self.m.status();
                    let timer = self.m.poll_timeout();
                    self.m.handle_input(self.now, input);
                    // A stale input changes no state and starts nothing.
                    assert_eq!(self.m.status(), before);
                    assert_eq!(self.m.poll_timeout(), timer);
                    self.execute();
                }
            }
            Op::Advance(ms) => {
                self.now += Duration::from_millis(u64::from(*ms));
                self.m.handle_timeout(self.now);
                self.execute();
            }
            Op::AdvanceToTimeout => {
                if let Some((t, _)) = self.m.poll_timeout() {
                    self.now = self.now.max(t);
                    self.m.handle_timeout(self.now);
                    self.execute();
                }
            }
        }
    }

    /// Invariants that hold after every step.
    fn check(&self) {
        // Invariants 1 and 2: at most one attempt (hence connection) per identity.
        let mut per_id: BTreeMap<&RemoteId, usize> = BTreeMap::new();
        for (id, _) in self.live.values() {
            *per_id.entry(id).or_default() += 1;
        }
        assert!(
            per_id.values().all(|n| *n <= 1),
            "duplicate attempts: {per_id:?}"
        );
        // The machine's view is the shell's view: every live attempt is current.
        let machine: BTreeSet<AttemptId> = self.m.live_attempts().into_iter().collect();
        let shell: BTreeSet<AttemptId> = self.live.keys().copied().collect();
        assert_eq!(machine, shell);
        for a in &shell {
            assert!(self.m.is_current(*a));
        }
        // The machine holds exactly the accepted configuration, in its order.
        let status = self.m.status();
        let ids: Vec<RemoteId> = status.iter().map(|s| s.id.clone()).collect();
        let expected: Vec<RemoteId> = self.config.iter().map(RemoteConfig::identity).collect();
        assert_eq!(ids, expected);
        for (s, cfg) in status.iter().zip(&self.config) {
            if cfg.disabled {
                // Invariant 3: disabled remotes hold no attempt and no timer.
                assert_eq!(s.state, LinkState::Disabled);
            } else {
                assert_ne!(s.state, LinkState::Disabled);
            }
        }
        // The next deadline belongs to an enabled, configured, waiting remote.
        if let Some((t, RemoteTimer::Reconnect { remote, .. })) = self.m.poll_timeout() {
            let s = status
                .iter()
                .find(|s| s.index == remote)
                .expect("timer of a removed remote");
            assert!(matches!(s.state, LinkState::Waiting { until, .. } if until == t));
        }
    }

    /// Run every timer and let every dial and handshake succeed, then compare with the
    /// reference model.
    fn quiesce(&mut self) {
        for _ in 0..50 {
            let pending: Vec<(AttemptId, Phys)> =
                self.live.iter().map(|(a, (_, p))| (*a, *p)).collect();
            let mut progressed = false;
            for (attempt, phys) in pending {
                match phys {
                    Phys::Dialing => {
                        self.live.get_mut(&attempt).unwrap().1 = Phys::Handshaking;
                        self.input(RemoteInput::Dialed { attempt });
                        progressed = true;
                    }
                    Phys::Handshaking => {
                        self.input(RemoteInput::HandshakeDone {
                            attempt,
                            leafnode_urls: vec![],
                        });
                        progressed = true;
                    }
                    Phys::Connected => self.input(RemoteInput::PongSeen { attempt }),
                }
                self.check();
            }
            if let Some((t, _)) = self.m.poll_timeout() {
                self.now = self.now.max(t);
                self.m.handle_timeout(self.now);
                self.execute();
                self.check();
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        assert_eq!(
            self.m.poll_timeout(),
            None,
            "still waiting after quiescence"
        );
        // Invariant 3: connected identities == enabled identities.
        let connected: BTreeSet<RemoteId> = self
            .live
            .values()
            .filter(|(_, p)| *p == Phys::Connected)
            .map(|(id, _)| id.clone())
            .collect();
        let enabled: BTreeSet<RemoteId> = self
            .config
            .iter()
            .filter(|c| !c.disabled)
            .map(RemoteConfig::identity)
            .collect();
        assert_eq!(connected, enabled);
        assert_eq!(self.live.len(), enabled.len());
    }
}

type Case = (u64, Vec<(usize, bool)>, Vec<Op>);

fn case() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        prop::collection::vec((0..8usize, prop::bool::weighted(0.2)), 0..4),
        prop::collection::vec(op(), 1..80),
    )
}

fn run_case((seed, initial, ops): &Case, bugs: BugSet) {
    let pool = pool();
    let mut seen = BTreeSet::new();
    let initial: Vec<RemoteConfig> = initial
        .iter()
        .filter_map(|&(i, disabled)| {
            let cfg = RemoteConfig {
                disabled,
                ..pool[i].clone()
            };
            seen.insert(cfg.identity()).then_some(cfg)
        })
        .collect();
    let mut h = Harness::new(*seed, initial, bugs);
    h.check();
    for op in ops {
        h.step(op);
        h.check();
    }
    h.quiesce();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn remotes_keep_incident_1_invariants(c in case()) {
        run_case(&c, BugSet::NONE);
    }
}

/// Negative controls: with each incident 1 bug switched back on, the same property finds
/// a violating schedule.
#[cfg(feature = "bug-switches")]
#[test]
fn each_leaf_bug_switch_breaks_the_property() {
    use proptest::test_runner::{Config, TestRunner};
    use rejoin_core::bugs::BugSwitch;
    for bug in [
        BugSwitch::LeafReloadNoCancel,
        BugSwitch::LeafRemoveAllNoop,
        BugSwitch::LeafStaleRegister,
        BugSwitch::LeafShuffleInPlace,
        BugSwitch::LeafRemoveReconnects,
        BugSwitch::LeafInProgressLate,
        BugSwitch::LeafStaleUrlCopy,
    ] {
        let mut runner = TestRunner::new(Config {
            cases: 1000,
            failure_persistence: None,
            max_shrink_iters: 16,
            ..Config::default()
        });
        let result = runner.run(&case(), |c| {
            run_case(&c, BugSet::NONE.with(bug));
            Ok(())
        });
        assert!(result.is_err(), "{bug} went unnoticed");
    }
}

/// The same seed and operations give the same outputs (the simulator's replay guarantee).
#[test]
fn runs_are_deterministic() {
    let run = || {
        let cfgs = pool();
        let mut m = Remotes::new(&cfgs[..2], Duration::from_secs(1), 99, Instant::ZERO);
        let mut trace = Vec::new();
        let mut now = Instant::ZERO;
        for round in 0..20u64 {
            while let Some(out) = m.poll_output() {
                trace.push(format!("{out:?}"));
                if let RemoteOutput::Dial { attempt, .. } = out {
                    let error = format!("refused {round}");
                    m.handle_input(now, RemoteInput::DialFailed { attempt, error });
                }
            }
            if let Some((t, _)) = m.poll_timeout() {
                now = t;
                m.handle_timeout(now);
            }
        }
        trace
    };
    let a = run();
    assert!(a.len() > 40);
    assert_eq!(a, run());
}
