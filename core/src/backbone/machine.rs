//! [`Backbone`]: the state machine of one backbone remote (the design is in the module
//! docs of [`crate::backbone`]).

use std::collections::VecDeque;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::buffer::{Buffered, Message, ReplayBuffer};
use super::{
    BackboneInput, BackboneOutput, BackboneState, BackboneStats, BackboneTimer, Health, LinkId,
    ResyncNotice,
};
use crate::bugs::{BugSet, BugSwitch};
use crate::config::{Backbone as BackboneConfig, ResyncMode};
use crate::event::Event;
use crate::time::{Duration, Instant};

/// Most entries one [`BackboneOutput::Flush`] carries.
pub const FLUSH_BATCH_MSGS: usize = 256;
/// Most bytes one [`BackboneOutput::Flush`] carries (a bigger single entry goes alone).
pub const FLUSH_BATCH_BYTES: u64 = 1024 * 1024;
/// Wait before retrying a flush the link was too full to take.
pub const FLUSH_RETRY: Duration = Duration::from_millis(20);
/// Wait before retrying a flush the link refused; normally the link's loss arrives first
/// and aborts the recovery, this only keeps a lost report from wedging it.
const FLUSH_RETRY_FAILED: Duration = Duration::from_secs(1);
/// How often the `backbone-drop-clients-on-loss` storm drops clients again.
pub const STORM_INTERVAL: Duration = Duration::from_secs(1);
/// Upper bound of the random extra settle, as a fraction of `settle`: edges that lost the
/// same hub reconnect together and must not flush and resync in lockstep.
const SETTLE_JITTER: f64 = 0.1;

/// One backbone remote (see the [module docs](crate::backbone)).
#[derive(Debug)]
pub struct Backbone {
    remote: String,
    cfg: BackboneConfig,
    bugs: BugSet,
    rng: ChaCha8Rng,
    buffer: ReplayBuffer,
    /// Remote generation of the latest registered session.
    generation: Option<u64>,
    /// A session was registered in `generation` (the F1 rule).
    had_session: bool,
    /// A session was ever registered (what the F1 bug looked at instead).
    ever_registered: bool,
    link: Link,
    failures: u32,
    gave_up: bool,
    buffering: bool,
    gap: Option<OpenGap>,
    /// Gaps so far; also the number of the latest.
    gaps: u64,
    /// A gap reconnected and wants a recovery run (F2's "rerun requested").
    needs_recovery: bool,
    run: Run,
    /// A flush batch is out and not yet reported.
    batch_out: bool,
    /// The batch out belongs to a remote generation that has ended: its unsent entries are
    /// dropped when it is reported, not put back.
    batch_void: bool,
    flush_retry: Option<Instant>,
    /// An announcement waiting for the cooldown (or for the running recovery to finish).
    pending: Option<(ResyncNotice, Instant)>,
    last_resync: Option<Instant>,
    /// Declared silent (#946), until a later session is healthy.
    silent: bool,
    storm_at: Option<Instant>,
    /// Start and reconnect of the latest gap, for monitoring.
    last_gap: Option<(Instant, Option<Instant>)>,
    health: Health,
    stats: Counters,
    outputs: VecDeque<BackboneOutput>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// No session in this generation yet.
    Idle,
    Up {
        link: LinkId,
        healthy: bool,
        heard: Option<Instant>,
    },
    Down,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Run {
    Idle,
    Settling { until: Instant },
    Flushing,
}

/// The gaps the next announcement will cover.
#[derive(Clone, Debug)]
struct OpenGap {
    started: Instant,
    ended: Option<Instant>,
    first: u64,
    last: u64,
    buffered: u64,
    dropped: u64,
    replayed: u64,
    /// The most the buffer held while these gaps were open (messages, bytes).
    peak_msgs: u64,
    peak_bytes: u64,
}

#[derive(Clone, Debug, Default)]
struct Counters {
    buffered: u64,
    dropped: u64,
    replayed: u64,
    resyncs: u64,
    silences: u64,
}

impl Backbone {
    /// The machine of the backbone remote shown as `remote`, configured by `cfg`.
    pub fn new(remote: impl Into<String>, cfg: BackboneConfig, seed: u64, now: Instant) -> Self {
        Backbone::with_bugs(remote, cfg, seed, now, BugSet::NONE)
    }

    /// [`Backbone::new`] with historical bugs switched on (simulator and test builds only).
    pub fn with_bugs(
        remote: impl Into<String>,
        cfg: BackboneConfig,
        seed: u64,
        _now: Instant,
        bugs: BugSet,
    ) -> Self {
        let buffer = ReplayBuffer::new(cfg.buffer)
            .with_requeue_bug(bugs.has(BugSwitch::BackboneRequeueEvictsNewest));
        Backbone {
            remote: remote.into(),
            cfg,
            bugs,
            rng: ChaCha8Rng::seed_from_u64(seed),
            buffer,
            generation: None,
            had_session: false,
            ever_registered: false,
            link: Link::Idle,
            failures: 0,
            gave_up: false,
            buffering: false,
            gap: None,
            gaps: 0,
            needs_recovery: false,
            run: Run::Idle,
            batch_out: false,
            batch_void: false,
            flush_retry: None,
            pending: None,
            last_resync: None,
            silent: false,
            storm_at: None,
            last_gap: None,
            health: Health::Ok,
            stats: Counters::default(),
            outputs: VecDeque::new(),
        }
    }

    /// Feed what happened to the remote. Then drain [`Backbone::poll_output`].
    pub fn handle_input(&mut self, now: Instant, input: BackboneInput) {
        match input {
            BackboneInput::Flushed { sent, rest, failed } => self.flushed(now, sent, rest, failed),
            _ if self.gave_up => {}
            BackboneInput::LinkUp {
                link,
                remote_generation,
                session,
            } => self.link_up(now, link, remote_generation, session),
            BackboneInput::Healthy { link } => self.healthy(now, link),
            BackboneInput::Heard { link, at } => {
                if let Link::Up {
                    link: current,
                    heard,
                    ..
                } = &mut self.link
                {
                    if *current == link && heard.is_none_or(|h| h < at) {
                        *heard = Some(at);
                    }
                }
            }
            BackboneInput::LinkDown { link, silent } => {
                if matches!(self.link, Link::Up { link: current, .. } if current == link) {
                    self.link_down(now, silent);
                }
            }
            BackboneInput::AttemptFailed => {
                if !matches!(self.link, Link::Up { .. }) {
                    self.fail();
                }
            }
        }
        self.publish_due(now);
    }

    /// Run every timer due at `now`. Spurious calls do nothing. Then drain
    /// [`Backbone::poll_output`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.gave_up {
            return;
        }
        if let Run::Settling { until } = self.run {
            if until <= now {
                self.run = Run::Flushing;
                self.flush_step(now);
            }
        }
        if self.flush_retry.is_some_and(|t| t <= now) {
            self.flush_retry = None;
            self.flush_step(now);
        }
        if let Some(deadline) = self.silence_deadline() {
            if deadline <= now {
                self.declare_silent(now);
            }
        }
        if self.storm_at.is_some_and(|t| t <= now) {
            self.storm_at = Some(now + STORM_INTERVAL);
            self.outputs.push_back(BackboneOutput::DropClients);
        }
        self.publish_due(now);
    }

    /// Offer a message published locally that the hub wanted. While the remote is in a gap
    /// (or recovering from one) it is buffered and `Ok` is returned; otherwise it is handed
    /// back to be delivered live. Produces no outputs.
    pub fn offer(&mut self, now: Instant, msg: Message) -> Result<(), Message> {
        if !self.buffering {
            return Err(msg);
        }
        let gap = self.gap.as_ref().map_or(self.gaps, |g| g.last);
        if self.bugs.has(BugSwitch::BackboneNoReplay) {
            // The pre-fix broadcaster: the publish to the backbone fails and is gone.
            self.stats.buffered += 1;
            self.stats.dropped += 1;
            if let Some(g) = &mut self.gap {
                g.buffered += 1;
                g.dropped += 1;
            }
            return Ok(());
        }
        let dropped = self.buffer.push(Buffered {
            msg,
            published: now,
            gap,
        });
        self.stats.buffered += 1;
        self.stats.dropped += dropped;
        if let Some(g) = &mut self.gap {
            g.buffered += 1;
            g.dropped += dropped;
            g.saw(&self.buffer);
        }
        Ok(())
    }

    /// The remote was removed or disabled by a reload: nothing is held for it any more
    /// (what was buffered is dropped and counted), no recovery runs, its link is forgotten.
    /// An announcement already due for flushed gaps is still made. The machine is kept:
    /// if the remote comes back it does so under a new remote generation, whose first
    /// connect is not a gap (F1).
    pub fn retire(&mut self) {
        self.new_generation();
        self.link = Link::Idle;
        self.storm_at = None;
    }

    /// Whether messages for the hub are being buffered instead of sent live.
    pub fn is_buffering(&self) -> bool {
        self.buffering
    }

    /// The next output, or `None` when drained.
    pub fn poll_output(&mut self) -> Option<BackboneOutput> {
        self.outputs.pop_front()
    }

    /// The earliest deadline and why; `None` when nothing is timed.
    pub fn poll_timeout(&self) -> Option<(Instant, BackboneTimer)> {
        if self.gave_up {
            return None;
        }
        let candidates = [
            match self.run {
                Run::Settling { until } => Some((until, BackboneTimer::Settle)),
                _ => None,
            },
            self.flush_retry.map(|t| (t, BackboneTimer::FlushRetry)),
            self.pending
                .as_ref()
                .filter(|_| self.run == Run::Idle)
                .map(|(_, due)| (*due, BackboneTimer::Resync)),
            self.silence_deadline().map(|t| (t, BackboneTimer::Silence)),
            self.storm_at.map(|t| (t, BackboneTimer::Storm)),
        ];
        candidates.into_iter().flatten().min_by_key(|(t, _)| *t)
    }

    /// Apply a reloaded configuration: buffer bounds at once (dropping the oldest if they
    /// shrank), everything else from its next use.
    pub fn set_config(&mut self, cfg: BackboneConfig) {
        let dropped = self.buffer.set_limits(cfg.buffer);
        self.stats.dropped += dropped;
        if let Some(g) = &mut self.gap {
            g.dropped += dropped;
        }
        self.cfg = cfg;
    }

    /// What `/healthz` should say about this remote.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Whether the remote gave up.
    pub fn gave_up(&self) -> bool {
        self.gave_up
    }

    /// The buffer (read-only: for monitoring and tests).
    pub fn buffer(&self) -> &ReplayBuffer {
        &self.buffer
    }

    /// Counters and state for monitoring.
    pub fn stats(&self) -> BackboneStats {
        let state = if self.gave_up {
            BackboneState::GaveUp
        } else if self.silent {
            BackboneState::Silent
        } else {
            match self.link {
                Link::Idle => BackboneState::Connecting,
                Link::Down => BackboneState::Down,
                Link::Up { .. } if self.buffering || self.run != Run::Idle => {
                    BackboneState::Recovering
                }
                Link::Up { .. } => BackboneState::Up,
            }
        };
        BackboneStats {
            state,
            gaps: self.gaps,
            buffered: self.stats.buffered,
            dropped: self.stats.dropped,
            replayed: self.stats.replayed,
            resyncs: self.stats.resyncs,
            silences: self.stats.silences,
            failures: self.failures,
            buffer_msgs: self.buffer.len() as u64,
            buffer_bytes: self.buffer.bytes(),
            last_gap: self.last_gap,
        }
    }

    fn event(&mut self, event: Event) {
        self.outputs.push_back(BackboneOutput::Event(event));
    }

    fn link_up(&mut self, now: Instant, link: LinkId, generation: u64, session: u64) {
        if let Link::Up { link: old, .. } = self.link {
            if old == link {
                return;
            }
            // The old session's end was never reported; it has ended all the same.
            self.link_down(now, false);
            if self.gave_up {
                return;
            }
        }
        if self.generation != Some(generation) {
            if self.generation.is_some() {
                self.new_generation();
            }
            self.generation = Some(generation);
            self.had_session = false;
        }
        let is_gap = if self.bugs.has(BugSwitch::BackboneGapOnFirstConnect) {
            self.ever_registered
        } else {
            self.had_session || session > 1
        };
        self.had_session = true;
        self.ever_registered = true;
        self.link = Link::Up {
            link,
            healthy: false,
            heard: None,
        };
        self.storm_at = None;
        if self.bugs.has(BugSwitch::BackboneFlapResetsGiveUp) {
            self.failures = 0;
        }
        if !is_gap {
            return;
        }
        if self.gap.is_none() {
            // Only reachable with F1's bug (or a lost report): a gap without a loss.
            self.gaps += 1;
            self.gap = Some(OpenGap::new(now, self.gaps));
            self.last_gap = Some((now, None));
        }
        let late = self.run != Run::Idle || self.pending.is_some();
        let gap_no = self.gaps;
        if let Some(g) = &mut self.gap {
            g.ended = Some(now);
        }
        if let Some((_, ended)) = &mut self.last_gap {
            *ended = Some(now);
        }
        self.event(Event::BackboneReconnected {
            remote: self.remote.clone(),
            gap: gap_no,
            session,
        });
        if late && self.bugs.has(BugSwitch::BackboneSkipGapDuringRecovery) {
            // The historical single-flight check: a recovery is "running", so this gap is
            // dropped on the floor. Live traffic resumes; the buffer stays unflushed.
            self.gap = None;
            self.buffering = false;
            return;
        }
        self.needs_recovery = true;
    }

    /// A new remote generation (re-added, re-enabled, restarted): whatever the old one
    /// left buffered is void, and its first connect is not a gap.
    fn new_generation(&mut self) {
        let dropped = self.buffer.clear();
        self.stats.dropped += dropped;
        self.gap = None;
        self.needs_recovery = false;
        self.batch_void = self.batch_out;
        self.run = Run::Idle;
        self.flush_retry = None;
        self.buffering = false;
        self.failures = 0;
        if self.silent {
            self.silent = false;
            self.update_health();
        }
    }

    fn healthy(&mut self, now: Instant, link: LinkId) {
        let Link::Up {
            link: current,
            healthy,
            ..
        } = &mut self.link
        else {
            return;
        };
        if *current != link {
            return;
        }
        *healthy = true;
        if !self.bugs.has(BugSwitch::BackboneFlapResetsGiveUp) {
            self.failures = 0;
        }
        if self.silent {
            self.silent = false;
            self.update_health();
        }
        self.maybe_start_run(now);
    }

    fn maybe_start_run(&mut self, now: Instant) {
        let healthy = matches!(self.link, Link::Up { healthy: true, .. });
        if !self.needs_recovery || self.run != Run::Idle || !healthy {
            return;
        }
        // Cleared at the top of the run: a gap that reconnects from here on asks again.
        self.needs_recovery = false;
        let jitter = self
            .cfg
            .settle
            .mul_f64(self.rng.gen_range(0.0..SETTLE_JITTER));
        self.run = Run::Settling {
            until: now + self.cfg.settle + jitter,
        };
        let (first_gap, last_gap) = self.gap.as_ref().map_or((0, 0), |g| (g.first, g.last));
        self.event(Event::BackboneRecoveryStarted {
            remote: self.remote.clone(),
            first_gap,
            last_gap,
        });
    }

    fn link_down(&mut self, now: Instant, silent: bool) {
        let healthy = matches!(self.link, Link::Up { healthy: true, .. });
        self.link = Link::Down;
        if !healthy {
            self.fail();
            if self.gave_up {
                return;
            }
        }
        if silent && !self.silent && !self.bugs.has(BugSwitch::BackboneNoSilenceWatchdog) {
            self.silent = true;
            self.update_health();
        }
        // A recovery cannot settle or flush over a dead link; the gap goes on and the
        // next reconnect runs it again.
        self.run = Run::Idle;
        self.flush_retry = None;
        self.gaps += 1;
        match &mut self.gap {
            Some(g) => {
                g.last = self.gaps;
                g.ended = None;
            }
            None => self.gap = Some(OpenGap::new(now, self.gaps)),
        }
        self.last_gap = Some((now, None));
        self.buffering = true;
        self.event(Event::BackboneGapStarted {
            remote: self.remote.clone(),
            gap: self.gaps,
        });
        if self.bugs.has(BugSwitch::BackboneDropClientsOnLoss) {
            self.outputs.push_back(BackboneOutput::DropClients);
            self.storm_at = Some(now + STORM_INTERVAL);
        }
    }

    /// A session or attempt failed; give up when the streak reaches the limit.
    fn fail(&mut self) {
        self.failures = self.failures.saturating_add(1);
        let max = self.cfg.max_reconnect_attempts;
        if max == 0 || self.failures < max || self.gave_up {
            return;
        }
        self.gave_up = true;
        self.run = Run::Idle;
        self.flush_retry = None;
        self.storm_at = None;
        self.outputs.push_back(BackboneOutput::GiveUp);
        self.event(Event::BackboneGaveUp {
            remote: self.remote.clone(),
            failures: self.failures,
        });
        self.update_health();
    }

    fn flushed(&mut self, now: Instant, sent: u64, rest: Vec<Buffered>, failed: bool) {
        self.batch_out = false;
        self.stats.replayed += sent;
        if std::mem::take(&mut self.batch_void) {
            // The batch was taken before a reload restarted or retired the remote: what it
            // did not send is void with the rest of that generation's buffer.
            self.stats.dropped += rest.len() as u64;
            if self.run == Run::Flushing && !self.gave_up {
                // A recovery of the new generation waited for this batch to come back.
                self.flush_step(now);
            }
            return;
        }
        if let Some(g) = &mut self.gap {
            g.replayed += sent;
        }
        let stalled = failed || !rest.is_empty();
        if !rest.is_empty() {
            let dropped = self.buffer.requeue_front(rest);
            self.stats.dropped += dropped;
            if let Some(g) = &mut self.gap {
                g.dropped += dropped;
                g.saw(&self.buffer);
            }
        }
        if self.run != Run::Flushing || self.gave_up {
            return;
        }
        if stalled {
            let wait = if failed {
                FLUSH_RETRY_FAILED
            } else {
                FLUSH_RETRY
            };
            self.flush_retry = Some(now + wait);
        } else {
            self.flush_step(now);
        }
    }

    fn flush_step(&mut self, now: Instant) {
        if self.run != Run::Flushing || self.batch_out || self.flush_retry.is_some() {
            return;
        }
        if self.buffer.is_empty() {
            self.finish_run(now);
            return;
        }
        let batch = self.buffer.take_batch(FLUSH_BATCH_MSGS, FLUSH_BATCH_BYTES);
        self.batch_out = true;
        self.outputs.push_back(BackboneOutput::Flush(batch));
    }

    /// The buffer is empty and nothing is out: live traffic resumes, and the gaps flushed
    /// are announced (after the cooldown).
    fn finish_run(&mut self, now: Instant) {
        self.run = Run::Idle;
        self.buffering = false;
        let Some(g) = self.gap.take() else {
            return;
        };
        self.event(Event::BackboneFlushed {
            remote: self.remote.clone(),
            first_gap: g.first,
            last_gap: g.last,
            replayed: g.replayed,
            dropped: g.dropped,
            peak_msgs: g.peak_msgs,
            peak_bytes: g.peak_bytes,
        });
        let notice = ResyncNotice {
            remote: self.remote.clone(),
            gap_started: g.started,
            gap_ended: g.ended.unwrap_or(now),
            buffered: g.buffered,
            replayed: g.replayed,
            dropped: g.dropped,
            first_gap: g.first,
            last_gap: g.last,
        };
        if self.bugs.has(BugSwitch::BackboneNoResyncCooldown) {
            self.publish(now, notice);
            return;
        }
        match &mut self.pending {
            Some((p, _)) => p.merge(notice),
            None => {
                let due = self
                    .last_resync
                    .map_or(now, |t| (t + self.cfg.resync.cooldown).max(now));
                self.pending = Some((notice, due));
            }
        }
    }

    /// Publish the pending announcement if its cooldown is over and no recovery is
    /// flushing (one about to complete merges into it instead).
    fn publish_due(&mut self, now: Instant) {
        if self.run != Run::Idle || self.gave_up {
            return;
        }
        if self.pending.as_ref().is_some_and(|(_, due)| *due <= now) {
            if let Some((notice, _)) = self.pending.take() {
                self.publish(now, notice);
            }
        }
    }

    fn publish(&mut self, now: Instant, notice: ResyncNotice) {
        let lameduck = self.cfg.resync.mode == ResyncMode::Lameduck;
        self.event(Event::BackboneResync {
            remote: self.remote.clone(),
            first_gap: notice.first_gap,
            last_gap: notice.last_gap,
            buffered: notice.buffered,
            replayed: notice.replayed,
            dropped: notice.dropped,
            lameduck,
        });
        self.outputs
            .push_back(BackboneOutput::PublishResync(notice));
        if lameduck {
            self.outputs.push_back(BackboneOutput::LameDuckClients {
                window: self.cfg.resync.window,
            });
        }
        self.last_resync = Some(now);
        self.stats.resyncs += 1;
    }

    fn silence_deadline(&self) -> Option<Instant> {
        if self.silent || self.gave_up || self.bugs.has(BugSwitch::BackboneNoSilenceWatchdog) {
            return None;
        }
        match self.link {
            Link::Up { heard: Some(h), .. } => Some(h + self.cfg.silence_timeout),
            _ => None,
        }
    }

    fn declare_silent(&mut self, now: Instant) {
        let Link::Up {
            link,
            heard: Some(h),
            ..
        } = self.link
        else {
            return;
        };
        self.silent = true;
        self.stats.silences += 1;
        self.outputs.push_back(BackboneOutput::CloseLink { link });
        self.event(Event::BackboneSilent {
            remote: self.remote.clone(),
            silent_ms: u64::try_from((now - h).as_millis()).unwrap_or(u64::MAX),
        });
        self.update_health();
    }

    fn current_health(&self) -> Health {
        if self.bugs.has(BugSwitch::BackboneHealthzAlwaysOk) {
            return Health::Ok;
        }
        if self.gave_up {
            return Health::Unavailable {
                why: format!(
                    "backbone remote {} gave up after {} failed reconnect attempts",
                    self.remote, self.failures
                ),
            };
        }
        if self.silent {
            return Health::Unavailable {
                why: format!(
                    "backbone remote {} silent for more than {:?}",
                    self.remote, self.cfg.silence_timeout
                ),
            };
        }
        Health::Ok
    }

    fn update_health(&mut self) {
        let health = self.current_health();
        if health == self.health {
            return;
        }
        self.health = health.clone();
        self.event(Event::BackboneHealth {
            remote: self.remote.clone(),
            error: match &health {
                Health::Ok => None,
                Health::Unavailable { why } => Some(why.clone()),
            },
        });
        self.outputs.push_back(BackboneOutput::Health(health));
    }
}

impl OpenGap {
    fn new(started: Instant, number: u64) -> Self {
        OpenGap {
            started,
            ended: None,
            first: number,
            last: number,
            buffered: 0,
            dropped: 0,
            replayed: 0,
            peak_msgs: 0,
            peak_bytes: 0,
        }
    }

    /// Note what the buffer holds now.
    fn saw(&mut self, buffer: &ReplayBuffer) {
        self.peak_msgs = self.peak_msgs.max(buffer.len() as u64);
        self.peak_bytes = self.peak_bytes.max(buffer.bytes());
    }
}
