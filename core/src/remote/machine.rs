//! [`Remotes`]: the state machine itself (the design is in the module docs of
//! [`crate::remote`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::backoff::{reconnect_delay, ERROR_DELAY};
use super::url_list::UrlList;
use super::{
    AttemptId, LinkEnd, LinkState, ReloadError, ReloadSummary, RemoteIndex, RemoteInput,
    RemoteOutput, RemoteStatus, RemoteTimer, WaitReason,
};
use crate::bugs::{BugSet, BugSwitch};
use crate::config::{RemoteConfig, RemoteId, RemoteUrl};
use crate::event::{CloseReason, Event};
use crate::time::{Duration, Instant};

/// Every outbound leafnode remote of one server (see the [module docs](crate::remote)).
#[derive(Debug)]
pub struct Remotes {
    /// `leafnodes.reconnect`: the delay of remotes without a backoff.
    reconnect: Duration,
    rng: ChaCha8Rng,
    bugs: BugSet,
    /// Last generation handed out, to an attempt or a remote; 0 means none yet.
    last_generation: u64,
    /// Identity table: an identity keeps its index forever, so an `AttemptId` of a removed
    /// remote still names something a trace can print. It grows only with identities that
    /// some configuration actually listed, which is a handful per server.
    index_of: BTreeMap<RemoteId, RemoteIndex>,
    slots: Vec<Slot>,
    /// Configured remotes (present in `slots` with `remote: Some`), in configuration order.
    order: Vec<RemoteIndex>,
    outputs: VecDeque<RemoteOutput>,
    /// Attempts that a reload should have cancelled but did not: only ever non-empty with
    /// the `leaf-reload-no-cancel` bug switch, which models nats-server's pre-fix
    /// reconnect goroutines that outlived their remote's removal.
    orphans: Vec<Orphan>,
    /// Links of removed remotes whose close report will start a reconnect: only ever
    /// non-empty with the `leaf-remove-reconnects` bug switch (the removal closed them
    /// without setting nats-server's `noReconnect`).
    closing: Vec<AttemptId>,
}

#[derive(Debug)]
struct Slot {
    id: RemoteId,
    /// `None` while the identity is not configured.
    remote: Option<Remote>,
}

/// One configured remote.
#[derive(Debug)]
struct Remote {
    config: Arc<RemoteConfig>,
    state: LinkState,
    generation: u64,
    sessions: u64,
    attempts: u64,
    failures: u32,
    pong_seen: bool,
    urls: UrlList,
    /// URL of the current or last attempt.
    url: Option<RemoteUrl>,
}

#[derive(Debug)]
struct Orphan {
    remote: RemoteIndex,
    state: LinkState,
    /// A reconnect task that has not yet marked its remote "connect in progress"
    /// (`leaf-in-progress-late`): on waking it becomes the remote's current attempt if the
    /// remote is idle, and dials alongside whatever attempt a reload started otherwise.
    adopt: bool,
}

impl Remotes {
    /// A machine for `remotes` (already validated as part of the configuration), with
    /// `reconnect` the `leafnodes.reconnect` interval. Enabled remotes dial at once: drain
    /// [`Remotes::poll_output`] next.
    ///
    /// A remote that reload validation would reject (no URL, or the identity of an earlier
    /// one) is skipped with an [`Event::RemoteRejected`]; configuration validation makes
    /// that impossible in practice.
    pub fn new(remotes: &[RemoteConfig], reconnect: Duration, seed: u64, now: Instant) -> Self {
        Remotes::with_bugs(remotes, reconnect, seed, now, BugSet::NONE)
    }

    /// [`Remotes::new`] with historical bugs switched on (simulator and test builds only;
    /// without the `bug-switches` feature `bugs` is always empty).
    pub fn with_bugs(
        remotes: &[RemoteConfig],
        reconnect: Duration,
        seed: u64,
        now: Instant,
        bugs: BugSet,
    ) -> Self {
        let mut machine = Remotes {
            reconnect,
            rng: ChaCha8Rng::seed_from_u64(seed),
            bugs,
            last_generation: 0,
            index_of: BTreeMap::new(),
            slots: Vec::new(),
            order: Vec::new(),
            outputs: VecDeque::new(),
            orphans: Vec::new(),
            closing: Vec::new(),
        };
        let mut accepted = Vec::new();
        let mut ids = Vec::new();
        for cfg in remotes {
            let id = cfg.identity();
            let error = if cfg.urls.is_empty() {
                Some("no URL".to_string())
            } else if ids.contains(&id) {
                Some("duplicate identity".to_string())
            } else {
                None
            };
            match error {
                Some(error) => machine.event(Event::RemoteRejected {
                    remote: id.to_string(),
                    error,
                }),
                None => {
                    accepted.push(cfg.clone());
                    ids.push(id);
                }
            }
        }
        machine.apply(now, &accepted, ids);
        machine
    }

    /// Feed what the shell saw about an attempt. Then drain [`Remotes::poll_output`].
    pub fn handle_input(&mut self, now: Instant, input: RemoteInput) {
        let attempt = input.attempt();
        if self.current(attempt).is_some() {
            self.handle_current(now, input);
        } else if let Some(i) = self
            .orphans
            .iter()
            .position(|o| o.state.attempt() == Some(attempt))
        {
            self.handle_orphan(now, i, input);
        } else if let Some(i) = self.closing.iter().position(|&a| a == attempt) {
            self.handle_closing(now, i, input);
        } else {
            self.handle_stale(input);
        }
    }

    /// Start every attempt whose reconnect deadline is at or before `now`, in
    /// configuration order. Spurious or early calls do nothing. Then drain
    /// [`Remotes::poll_output`].
    pub fn handle_timeout(&mut self, now: Instant) {
        for idx in self.order.clone() {
            let due = matches!(
                self.remote(idx).map(|r| r.state),
                Some(LinkState::Waiting { until, .. }) if until <= now
            );
            if due {
                self.start_attempt(now, idx);
            }
        }
        self.wake_orphans(now);
    }

    /// The next output, or `None` when drained. Call until `None` after every `new`,
    /// `handle_*` and `reload`.
    pub fn poll_output(&mut self) -> Option<RemoteOutput> {
        self.outputs.pop_front()
    }

    /// The earliest reconnect deadline and whose it is; `None` when no remote is waiting.
    /// Ties go to the remote configured first.
    pub fn poll_timeout(&self) -> Option<(Instant, RemoteTimer)> {
        let waiting = self
            .order
            .iter()
            .filter_map(|&idx| Some((idx, self.remote(idx)?.state)))
            .chain(self.orphans.iter().map(|o| (o.remote, o.state)));
        let mut earliest: Option<(Instant, RemoteTimer)> = None;
        for (remote, state) in waiting {
            if let LinkState::Waiting { until, reason } = state {
                if earliest.is_none_or(|(t, _)| until < t) {
                    earliest = Some((until, RemoteTimer::Reconnect { remote, reason }));
                }
            }
        }
        earliest
    }

    /// Apply a new remote list, all or nothing: on `Err` nothing changed. Never asks to
    /// try again: removed and disabled remotes are cancelled at once (see the module
    /// docs). Then drain [`Remotes::poll_output`].
    pub fn reload(
        &mut self,
        now: Instant,
        new: &[RemoteConfig],
    ) -> Result<ReloadSummary, ReloadError> {
        let ids = validate(new)?;
        if new.is_empty() && self.bugs.has(BugSwitch::LeafRemoveAllNoop) {
            return Ok(ReloadSummary::default());
        }
        Ok(self.apply(now, new, ids))
    }

    /// Apply a reloaded `leafnodes.reconnect`. A remote already waiting keeps its
    /// deadline; the new interval applies from the next wait.
    pub fn set_reconnect(&mut self, reconnect: Duration) {
        self.reconnect = reconnect;
    }

    /// Every configured remote, in configuration order.
    pub fn status(&self) -> Vec<RemoteStatus> {
        self.order
            .iter()
            .filter_map(|&idx| {
                let slot = self.slots.get(idx.0 as usize)?;
                let r = slot.remote.as_ref()?;
                Some(RemoteStatus {
                    index: idx,
                    id: slot.id.clone(),
                    name: r.config.name.clone(),
                    urls: r.config.redacted_urls(),
                    account: r.config.local_account().to_string(),
                    backbone: r.config.is_backbone(),
                    state: r.state,
                    url: r.url.as_ref().map(RemoteUrl::redacted),
                    remote_generation: r.generation,
                    sessions_in_generation: r.sessions,
                    attempts_in_generation: r.attempts,
                    consecutive_failures: r.failures,
                    pong_seen: r.pong_seen,
                })
            })
            .collect()
    }

    /// Every attempt the machine considers dialing, handshaking or connected. In a
    /// correct build these are exactly the current attempts of `status()`; with the
    /// `leaf-reload-no-cancel` bug switch it also lists the attempts a reload failed to
    /// cancel, which is what the simulator's "one attempt per identity" invariant counts.
    pub fn live_attempts(&self) -> Vec<AttemptId> {
        self.order
            .iter()
            .filter_map(|&idx| self.remote(idx)?.state.attempt())
            .chain(self.orphans.iter().filter_map(|o| o.state.attempt()))
            .collect()
    }

    /// Whether `attempt` is its remote's current attempt (inputs about it are not stale).
    pub fn is_current(&self, attempt: AttemptId) -> bool {
        self.current(attempt).is_some()
    }

    /// The identity behind an index (also for remotes removed since).
    pub fn identity(&self, index: RemoteIndex) -> Option<&RemoteId> {
        self.slots.get(index.0 as usize).map(|s| &s.id)
    }

    fn remote(&self, idx: RemoteIndex) -> Option<&Remote> {
        self.slots.get(idx.0 as usize)?.remote.as_ref()
    }

    fn remote_mut(&mut self, idx: RemoteIndex) -> Option<&mut Remote> {
        self.slots.get_mut(idx.0 as usize)?.remote.as_mut()
    }

    fn current(&self, attempt: AttemptId) -> Option<&Remote> {
        self.remote(attempt.remote())
            .filter(|r| r.state.attempt() == Some(attempt))
    }

    fn shown(&self, idx: RemoteIndex) -> String {
        self.identity(idx)
            .map_or_else(|| format!("remote#{}", idx.0), ToString::to_string)
    }

    fn next_generation(&mut self) -> u64 {
        self.last_generation += 1;
        self.last_generation
    }

    fn event(&mut self, event: Event) {
        self.outputs.push_back(RemoteOutput::Event(event));
    }

    fn intern(&mut self, id: &RemoteId) -> RemoteIndex {
        if let Some(&idx) = self.index_of.get(id) {
            return idx;
        }
        // More than 4 billion distinct identities in one process is not a configuration.
        let idx = RemoteIndex(u32::try_from(self.slots.len()).unwrap_or(u32::MAX));
        self.slots.push(Slot {
            id: id.clone(),
            remote: None,
        });
        self.index_of.insert(id.clone(), idx);
        idx
    }

    /// The diff of a validated list against the current one (see the module docs).
    fn apply(&mut self, now: Instant, new: &[RemoteConfig], ids: Vec<RemoteId>) -> ReloadSummary {
        let mut summary = ReloadSummary::default();
        let wanted: BTreeSet<&RemoteId> = ids.iter().collect();
        let in_place = self.bugs.has(BugSwitch::LeafShuffleInPlace);
        for idx in std::mem::take(&mut self.order) {
            let id = self.slots[idx.0 as usize].id.clone();
            // The bug diffs the configuration object the rotation mutated, not the
            // identity the remote was configured with.
            let seen = match self.remote(idx) {
                Some(r) if in_place => r.config.identity(),
                _ => id.clone(),
            };
            if !wanted.contains(&seen) {
                self.retire(idx);
                self.slots[idx.0 as usize].remote = None;
                self.event(Event::RemoteRemoved {
                    remote: id.to_string(),
                });
                summary.removed.push(id);
            }
        }
        let mut order = Vec::with_capacity(new.len());
        for (cfg, id) in new.iter().zip(&ids) {
            let idx = self.intern(id);
            order.push(idx);
            if self.remote(idx).is_some() {
                self.update(now, idx, cfg, &mut summary);
            } else {
                self.add(now, idx, cfg);
                summary.added.push(id.clone());
            }
        }
        self.order = order;
        summary
    }

    fn add(&mut self, now: Instant, idx: RemoteIndex, cfg: &RemoteConfig) {
        let generation = self.next_generation();
        let mut config = cfg.clone();
        let urls = if self.bugs.has(BugSwitch::LeafShuffleInPlace) {
            if !config.no_randomize {
                config.urls.shuffle(&mut self.rng);
            }
            UrlList::new(&config.urls, true, &mut self.rng)
        } else {
            UrlList::new(&cfg.urls, cfg.no_randomize, &mut self.rng)
        };
        self.slots[idx.0 as usize].remote = Some(Remote {
            config: Arc::new(config),
            state: LinkState::Disabled,
            generation,
            sessions: 0,
            attempts: 0,
            failures: 0,
            pong_seen: false,
            urls,
            url: None,
        });
        self.event(Event::RemoteAdded {
            remote: self.shown(idx),
            generation,
        });
        if !cfg.disabled {
            self.start_attempt(now, idx);
        }
    }

    fn update(
        &mut self,
        now: Instant,
        idx: RemoteIndex,
        cfg: &RemoteConfig,
        summary: &mut ReloadSummary,
    ) {
        let id = self.slots[idx.0 as usize].id.clone();
        let stale_copy = self.bugs.has(BugSwitch::LeafStaleUrlCopy);
        let Some(remote) = self.slots[idx.0 as usize].remote.as_mut() else {
            return;
        };
        if *remote.config == *cfg {
            summary.unchanged += 1;
            return;
        }
        let old = std::mem::replace(&mut remote.config, Arc::new(cfg.clone()));
        if (old.urls != cfg.urls || old.no_randomize != cfg.no_randomize) && !stale_copy {
            // Gossip from the old URLs' hub may describe a cluster we no longer dial.
            remote.urls = UrlList::new(&cfg.urls, cfg.no_randomize, &mut self.rng);
        }
        match (old.disabled, cfg.disabled) {
            (false, true) => {
                self.retire(idx);
                self.event(Event::RemoteDisabled {
                    remote: id.to_string(),
                });
                summary.disabled.push(id);
            }
            (true, false) => {
                let generation = self.renew(idx);
                self.event(Event::RemoteEnabled {
                    remote: id.to_string(),
                    generation,
                });
                self.start_attempt(now, idx);
                summary.enabled.push(id);
            }
            (false, false) if session_changed(&old, cfg) => {
                self.retire(idx);
                let generation = self.renew(idx);
                self.event(Event::RemoteUpdated {
                    remote: id.to_string(),
                    restarted: true,
                    generation,
                });
                self.start_attempt(now, idx);
                summary.restarted.push(id);
            }
            _ => {
                let generation = self.remote(idx).map_or(0, |r| r.generation);
                self.event(Event::RemoteUpdated {
                    remote: id.to_string(),
                    restarted: false,
                    generation,
                });
                summary.updated.push(id);
            }
        }
    }

    /// Start a new remote generation: counters restart, the failure streak is forgotten.
    fn renew(&mut self, idx: RemoteIndex) -> u64 {
        let generation = self.next_generation();
        if let Some(r) = self.remote_mut(idx) {
            r.generation = generation;
            r.sessions = 0;
            r.attempts = 0;
            r.failures = 0;
            r.pong_seen = false;
        }
        generation
    }

    /// End whatever the remote is doing because the configuration no longer wants it:
    /// close its attempt, drop its deadline. The remote is left `Disabled`.
    fn retire(&mut self, idx: RemoteIndex) {
        let no_cancel = self.bugs.has(BugSwitch::LeafReloadNoCancel);
        let reconnects = self.bugs.has(BugSwitch::LeafRemoveReconnects);
        let Some(remote) = self.remote_mut(idx) else {
            return;
        };
        let state = std::mem::replace(&mut remote.state, LinkState::Disabled);
        remote.pong_seen = false;
        match state {
            LinkState::Disabled => {}
            LinkState::Waiting { .. }
            | LinkState::Dialing { .. }
            | LinkState::Handshaking { .. }
                if no_cancel =>
            {
                self.orphans.push(Orphan {
                    remote: idx,
                    state,
                    adopt: false,
                });
            }
            LinkState::Connected { attempt } if reconnects => {
                self.closing.push(attempt);
                self.outputs.push_back(RemoteOutput::Close {
                    attempt,
                    reason: CloseReason::ConfigRemoved,
                });
            }
            LinkState::Waiting { .. } => {}
            LinkState::Dialing { attempt }
            | LinkState::Handshaking { attempt }
            | LinkState::Connected { attempt } => {
                self.outputs.push_back(RemoteOutput::Close {
                    attempt,
                    reason: CloseReason::ConfigRemoved,
                });
            }
        }
    }

    fn start_attempt(&mut self, now: Instant, idx: RemoteIndex) {
        let generation = self.next_generation();
        let attempt = AttemptId::new(idx, generation);
        let reconnect = self.reconnect;
        let in_place = self.bugs.has(BugSwitch::LeafShuffleInPlace);
        let Some(remote) = self.remote_mut(idx) else {
            return;
        };
        let next = if in_place {
            pick_next_url_in_place(remote)
        } else {
            remote.urls.next_url()
        };
        let Some(url) = next else {
            // Validation keeps URL-less remotes out; should one slip in, it idles harmlessly.
            remote.state = LinkState::Waiting {
                until: now + reconnect,
                reason: WaitReason::Interval,
            };
            return;
        };
        remote.state = LinkState::Dialing { attempt };
        remote.attempts += 1;
        remote.pong_seen = false;
        remote.url = Some(url.clone());
        let config = Arc::clone(&remote.config);
        self.dial(attempt, &url, config);
    }

    fn dial(&mut self, attempt: AttemptId, url: &RemoteUrl, config: Arc<RemoteConfig>) {
        let remote = self.slots[attempt.remote().0 as usize].id.clone();
        self.outputs.push_back(RemoteOutput::Dial {
            attempt,
            url: url.unredacted(),
            remote: remote.clone(),
            first_info_timeout: config.first_info_timeout,
            config,
        });
        self.event(Event::LeafDialing {
            remote: remote.to_string(),
            attempt: attempt.generation(),
            url: url.redacted(),
        });
    }

    fn handle_current(&mut self, now: Instant, input: RemoteInput) {
        let attempt = input.attempt();
        let idx = attempt.remote();
        let shown = self.shown(idx);
        let Some(remote) = self.remote_mut(idx) else {
            return;
        };
        match input {
            RemoteInput::Dialed { .. } => {
                if let LinkState::Dialing { attempt } = remote.state {
                    remote.state = LinkState::Handshaking { attempt };
                }
            }
            RemoteInput::HandshakeDone { leafnode_urls, .. } => {
                if matches!(remote.state, LinkState::Connected { .. }) {
                    return;
                }
                remote.state = LinkState::Connected { attempt };
                remote.sessions += 1;
                if let Some(url) = &remote.url {
                    remote.urls.merge_gossip(&leafnode_urls, url);
                }
                let event = Event::LeafConnected {
                    remote: shown,
                    attempt: attempt.generation(),
                    url: remote
                        .url
                        .as_ref()
                        .map(RemoteUrl::redacted)
                        .unwrap_or_default(),
                    session: remote.sessions,
                };
                self.outputs.push_back(RemoteOutput::Register { attempt });
                self.event(event);
            }
            RemoteInput::PongSeen { .. } => {
                if matches!(remote.state, LinkState::Connected { .. }) {
                    remote.pong_seen = true;
                    remote.failures = 0;
                }
            }
            RemoteInput::DialFailed { error, .. } => {
                let retry = self.end_attempt(now, idx, None);
                self.detach_reconnect(idx);
                self.event(Event::LeafDialFailed {
                    remote: shown,
                    attempt: attempt.generation(),
                    error,
                    retry_in_ms: millis(retry),
                });
            }
            RemoteInput::LinkClosed { reason, .. } => {
                let retry = self.end_attempt(now, idx, Some(&reason));
                self.detach_reconnect(idx);
                self.event(Event::LeafClosed {
                    remote: shown,
                    attempt: attempt.generation(),
                    reason: reason.name().to_string(),
                    retry_in_ms: millis(retry),
                });
            }
        }
    }

    /// The current attempt ended on its own: count it, and sleep before the next one.
    /// Returns the delay.
    fn end_attempt(&mut self, now: Instant, idx: RemoteIndex, end: Option<&LinkEnd>) -> Duration {
        let interval = self.reconnect;
        let Some(remote) = self.slots[idx.0 as usize].remote.as_mut() else {
            return Duration::ZERO;
        };
        let healthy = matches!(remote.state, LinkState::Connected { .. }) && remote.pong_seen;
        remote.failures = if healthy {
            0
        } else {
            remote.failures.saturating_add(1)
        };
        remote.pong_seen = false;
        // A backbone remote without its own backoff uses the backbone's.
        let backoff = remote
            .config
            .backoff
            .or_else(|| remote.config.backbone.as_ref().map(|b| b.backoff));
        let (delay, reason) = if end.is_some_and(LinkEnd::delays_reconnect) {
            (ERROR_DELAY, WaitReason::AfterError)
        } else if backoff.is_some() {
            let d = reconnect_delay(interval, backoff, remote.failures, &mut self.rng);
            (d, WaitReason::Backoff)
        } else {
            (interval, WaitReason::Interval)
        };
        remote.state = LinkState::Waiting {
            until: now + delay,
            reason,
        };
        delay
    }

    /// With `leaf-in-progress-late`, the reconnect wait that [`Remotes::end_attempt`] just
    /// set becomes a task of its own and the remote is left idle ("not in progress") until
    /// that task wakes, which is the window a reload can land in.
    fn detach_reconnect(&mut self, idx: RemoteIndex) {
        if !self.bugs.has(BugSwitch::LeafInProgressLate) {
            return;
        }
        let Some(remote) = self.remote_mut(idx) else {
            return;
        };
        let state = std::mem::replace(&mut remote.state, LinkState::Disabled);
        if matches!(state, LinkState::Waiting { .. }) {
            self.orphans.push(Orphan {
                remote: idx,
                state,
                adopt: true,
            });
        }
    }

    /// The close report of a link a removal closed without "no reconnect"
    /// (`leaf-remove-reconnects`): it starts a reconnect task whatever the configuration
    /// says; the task checks only when it wakes.
    fn handle_closing(&mut self, now: Instant, i: usize, input: RemoteInput) {
        if let RemoteInput::LinkClosed { attempt, .. } = input {
            self.closing.remove(i);
            self.orphans.push(Orphan {
                remote: attempt.remote(),
                state: LinkState::Waiting {
                    until: now + self.reconnect,
                    reason: WaitReason::Interval,
                },
                adopt: false,
            });
        }
    }

    fn handle_stale(&mut self, input: RemoteInput) {
        let attempt = input.attempt();
        match input {
            RemoteInput::HandshakeDone { .. } if self.bugs.has(BugSwitch::LeafStaleRegister) => {
                self.outputs.push_back(RemoteOutput::Register { attempt });
            }
            RemoteInput::Dialed { .. } | RemoteInput::HandshakeDone { .. } => {
                // If the remote is still wanted, this attempt lost to a newer one of its own.
                let reason = if self.still_valid(attempt.remote()) {
                    CloseReason::Replaced
                } else {
                    CloseReason::ConfigRemoved
                };
                self.outputs
                    .push_back(RemoteOutput::Close { attempt, reason });
            }
            RemoteInput::DialFailed { .. }
            | RemoteInput::LinkClosed { .. }
            | RemoteInput::PongSeen { .. } => {}
        }
        self.event(Event::LeafStaleInput {
            remote: self.shown(attempt.remote()),
            attempt: attempt.generation(),
            input: input.kind().to_string(),
        });
    }

    /// Configured and enabled.
    fn still_valid(&self, idx: RemoteIndex) -> bool {
        self.remote(idx).is_some_and(|r| !r.config.disabled)
    }

    /// An attempt that outlived its remote's removal (bug switch only), acting like the
    /// pre-fix reconnect goroutine: it registers whatever it connects, and retries as long
    /// as *some* remote with its identity is enabled.
    fn handle_orphan(&mut self, now: Instant, i: usize, input: RemoteInput) {
        let attempt = input.attempt();
        let orphan = &mut self.orphans[i];
        let idx = orphan.remote;
        match input {
            RemoteInput::Dialed { .. } => {
                if let LinkState::Dialing { attempt } = orphan.state {
                    orphan.state = LinkState::Handshaking { attempt };
                }
            }
            RemoteInput::HandshakeDone { .. } => {
                if !matches!(orphan.state, LinkState::Connected { .. }) {
                    orphan.state = LinkState::Connected { attempt };
                    self.outputs.push_back(RemoteOutput::Register { attempt });
                }
            }
            RemoteInput::PongSeen { .. } => {}
            RemoteInput::DialFailed { .. } | RemoteInput::LinkClosed { .. } => {
                if self.still_valid(idx) {
                    self.orphans[i].state = LinkState::Waiting {
                        until: now + self.reconnect,
                        reason: WaitReason::Interval,
                    };
                } else {
                    self.orphans.remove(i);
                }
            }
        }
    }

    fn wake_orphans(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.orphans.len() {
            let idx = self.orphans[i].remote;
            if matches!(self.orphans[i].state, LinkState::Waiting { until, .. } if until <= now) {
                if !self.still_valid(idx) {
                    self.orphans.remove(i);
                    continue;
                }
                let idle = self
                    .remote(idx)
                    .is_some_and(|r| r.state == LinkState::Disabled);
                if self.orphans[i].adopt && idle {
                    // The late "connect in progress": the task becomes the remote's attempt.
                    self.orphans.remove(i);
                    self.start_attempt(now, idx);
                    continue;
                }
                let generation = self.next_generation();
                let attempt = AttemptId::new(idx, generation);
                let Some(remote) = self.remote_mut(idx) else {
                    self.orphans.remove(i);
                    continue;
                };
                let Some(url) = remote.urls.next_url() else {
                    self.orphans.remove(i);
                    continue;
                };
                let config = Arc::clone(&remote.config);
                self.orphans[i].state = LinkState::Dialing { attempt };
                self.dial(attempt, &url, config);
            }
            i += 1;
        }
    }
}

/// nats-server's `pickNextURL` run on the configuration itself (`leaf-shuffle-in-place`):
/// when the URL dialed last is first in the list, it is rotated to the back; then the
/// first URL is dialed.
fn pick_next_url_in_place(remote: &mut Remote) -> Option<RemoteUrl> {
    let config = Arc::make_mut(&mut remote.config);
    if config.urls.len() > 1 && remote.url.as_ref() == config.urls.first() {
        config.urls.rotate_left(1);
    }
    config.urls.first().cloned()
}

/// Settings a live session was established with: changing them means a new session.
/// (For unnamed remotes URLs, account and credentials are identity, so they never get
/// here changed.)
fn session_changed(old: &RemoteConfig, new: &RemoteConfig) -> bool {
    old.local_account() != new.local_account()
        || old.credentials != new.credentials
        || old.hub != new.hub
        || old.deny_imports != new.deny_imports
        || old.deny_exports != new.deny_exports
        || old.backbone != new.backbone
}

/// Check the whole list before anything is applied.
fn validate(new: &[RemoteConfig]) -> Result<Vec<RemoteId>, ReloadError> {
    let mut first_of: BTreeMap<RemoteId, usize> = BTreeMap::new();
    let mut ids = Vec::with_capacity(new.len());
    for (index, cfg) in new.iter().enumerate() {
        let id = cfg.identity();
        if cfg.urls.is_empty() {
            return Err(ReloadError::NoUrls {
                index,
                identity: id.to_string(),
            });
        }
        if let Some(&first) = first_of.get(&id) {
            return Err(ReloadError::Duplicate {
                identity: id.to_string(),
                first,
                second: index,
                first_urls: new[first].redacted_urls(),
                second_urls: cfg.redacted_urls(),
            });
        }
        first_of.insert(id.clone(), index);
        ids.push(id);
    }
    Ok(ids)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
