//! Incident 4's timelines and review findings against the machine directly: feed inputs,
//! drain outputs, jump time to `poll_timeout`. Each bug switch has a twin test showing the
//! historical outcome coming back. Then proptests of the buffer and of the machine under
//! random link histories (incident 4, invariants 4–7).

use proptest::prelude::*;

use super::*;
use crate::bugs::BugSet;
#[cfg(feature = "bug-switches")]
use crate::bugs::BugSwitch;
use crate::config::{Backbone as BackboneConfig, BufferLimits, ResyncMode};

const SETTLE: Duration = Duration::from_secs(2);
const COOLDOWN: Duration = Duration::from_secs(30);
const SILENCE: Duration = Duration::from_secs(10);

fn config() -> BackboneConfig {
    let mut c = BackboneConfig {
        settle: SETTLE,
        silence_timeout: SILENCE,
        ..BackboneConfig::default()
    };
    c.resync.cooldown = COOLDOWN;
    c
}

fn msg(n: u64) -> Message {
    Message {
        subject: "orders.new".into(),
        reply: None,
        queues: vec![],
        headers: None,
        payload: n.to_string().into_bytes(),
    }
}

fn id_of(b: &Buffered) -> u64 {
    String::from_utf8_lossy(&b.msg.payload)
        .parse()
        .unwrap_or(u64::MAX)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// How the simulated hub link takes a flush.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Take {
    All,
    /// Takes `n` entries, then the link fails.
    FailAfter(usize),
    /// Takes `n` entries, then is full (the rest is retried).
    PauseAfter(usize),
}

/// One machine, a clock, and a hub that records what was flushed to it.
struct World {
    m: Backbone,
    now: Instant,
    next_link: LinkId,
    link: Option<LinkId>,
    generation: u64,
    session: u64,
    take: Take,
    /// The hub answers: a live link is heard whenever the clock moves.
    answering: bool,
    hub: Vec<Buffered>,
    out: Vec<BackboneOutput>,
    /// Flush batches are kept here instead of being written (the shell's flush task held
    /// at its gate) until [`World::release_flush`].
    hold_flush: bool,
    held: Option<Vec<Buffered>>,
}

impl World {
    fn new(cfg: BackboneConfig) -> World {
        World::with_bugs(cfg, BugSet::NONE)
    }

    fn with_bugs(cfg: BackboneConfig, bugs: BugSet) -> World {
        let mut w = World {
            m: Backbone::with_bugs("hub", cfg, 7, Instant::ZERO, bugs),
            now: Instant::ZERO,
            next_link: 100,
            link: None,
            generation: 1,
            session: 0,
            take: Take::All,
            answering: true,
            hub: Vec::new(),
            out: Vec::new(),
            hold_flush: false,
            held: None,
        };
        w.drain();
        w
    }

    fn drain(&mut self) {
        while let Some(o) = self.m.poll_output() {
            if let BackboneOutput::Flush(batch) = &o {
                let batch = batch.clone();
                self.out.push(o);
                if self.hold_flush {
                    assert!(self.held.is_none(), "one batch out at a time");
                    self.held = Some(batch);
                } else {
                    self.flush(batch);
                }
                continue;
            }
            self.out.push(o);
        }
    }

    fn flush(&mut self, batch: Vec<Buffered>) {
        let (n, failed) = match (self.take, self.link) {
            (_, None) => (0, true),
            (Take::All, _) => (batch.len(), false),
            (Take::FailAfter(n), _) => (n.min(batch.len()), n < batch.len()),
            (Take::PauseAfter(n), _) => (n.min(batch.len()), false),
        };
        let mut batch = batch;
        let rest = batch.split_off(n);
        self.hub.extend(batch);
        self.m.handle_input(
            self.now,
            BackboneInput::Flushed {
                sent: n as u64,
                rest,
                failed,
            },
        );
    }

    /// Write the held batch (to the link as it is now) and report it.
    fn release_flush(&mut self) {
        self.hold_flush = false;
        if let Some(batch) = self.held.take() {
            self.flush(batch);
            self.drain();
        }
    }

    fn input(&mut self, input: BackboneInput) {
        self.m.handle_input(self.now, input);
        self.drain();
    }

    /// Register a new session (heard at once), without the first PONG.
    fn register(&mut self) -> LinkId {
        self.next_link += 1;
        self.session += 1;
        let link = self.next_link;
        self.link = Some(link);
        self.input(BackboneInput::LinkUp {
            link,
            remote_generation: self.generation,
            session: self.session,
        });
        self.input(BackboneInput::Heard { link, at: self.now });
        link
    }

    /// Register a session and complete its first PING/PONG.
    fn connect(&mut self) -> LinkId {
        let link = self.register();
        self.input(BackboneInput::Healthy { link });
        link
    }

    fn lose(&mut self) {
        self.lose_with(false);
    }

    fn lose_with(&mut self, silent: bool) {
        if let Some(link) = self.link.take() {
            self.input(BackboneInput::LinkDown { link, silent });
        }
    }

    fn fail_attempt(&mut self) {
        self.input(BackboneInput::AttemptFailed);
    }

    /// The remote was re-added or restarted: a new remote generation.
    fn new_generation(&mut self) {
        self.lose();
        self.generation += 1;
        self.session = 0;
    }

    fn publish(&mut self, n: u64) -> bool {
        self.m.offer(self.now, msg(n)).is_ok()
    }

    /// Advance the clock by `d`, running every timer due on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..10_000 {
            match self.m.poll_timeout() {
                Some((t, _)) if t <= end => {
                    self.now = self.now.max(t);
                    self.heard();
                    self.m.handle_timeout(self.now);
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = end;
        self.heard();
        self.m.handle_timeout(self.now);
        self.drain();
    }

    fn heard(&mut self) {
        if let (true, Some(link)) = (self.answering, self.link) {
            self.input(BackboneInput::Heard { link, at: self.now });
        }
    }

    fn take_out(&mut self) -> Vec<BackboneOutput> {
        std::mem::take(&mut self.out)
    }

    fn notices(&self) -> Vec<ResyncNotice> {
        self.out
            .iter()
            .filter_map(|o| match o {
                BackboneOutput::PublishResync(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }

    fn count(&self, f: impl Fn(&BackboneOutput) -> bool) -> usize {
        self.out.iter().filter(|o| f(o)).count()
    }

    fn hub_ids(&self) -> Vec<u64> {
        self.hub.iter().map(id_of).collect()
    }
}

fn is_resync(o: &BackboneOutput) -> bool {
    matches!(o, BackboneOutput::PublishResync(_))
}

// ---------------------------------------------------------------------------------------
// The buffer.

fn entry(n: u64, size: usize) -> Buffered {
    Buffered {
        msg: Message {
            subject: "s".into(),
            reply: None,
            queues: vec![],
            headers: None,
            payload: {
                let mut p = n.to_string().into_bytes();
                p.resize(size.max(p.len()), b' ');
                p
            },
        },
        published: Instant::ZERO,
        gap: 1,
    }
}

fn ids(b: &ReplayBuffer) -> Vec<u64> {
    b.iter()
        .map(|e| {
            String::from_utf8_lossy(&e.msg.payload)
                .trim()
                .parse()
                .unwrap_or(u64::MAX)
        })
        .collect()
}

#[test]
fn buffer_is_fifo_and_drops_the_oldest_by_count() {
    let mut b = ReplayBuffer::new(BufferLimits {
        max_msgs: 3,
        max_bytes: 1 << 20,
    });
    for n in 1..=5 {
        b.push(entry(n, 0));
    }
    assert_eq!(ids(&b), vec![3, 4, 5]);
    assert_eq!(b.dropped(), 2);
}

#[test]
fn buffer_drops_the_oldest_by_bytes_and_refuses_a_message_bigger_than_the_bound() {
    // Each entry is 1 (subject) + 10 (payload) = 11 bytes.
    let mut b = ReplayBuffer::new(BufferLimits {
        max_msgs: 100,
        max_bytes: 33,
    });
    for n in 1..=4 {
        b.push(entry(n, 10));
    }
    assert_eq!(ids(&b), vec![2, 3, 4]);
    assert_eq!(b.bytes(), 33);
    assert_eq!(
        b.push(entry(9, 100)),
        1,
        "bigger than max_bytes: dropped itself"
    );
    assert_eq!(ids(&b), vec![2, 3, 4], "and nothing else went");
    assert_eq!(b.dropped(), 2);
}

#[test]
fn zero_bounds_hold_nothing() {
    let mut b = ReplayBuffer::new(BufferLimits {
        max_msgs: 0,
        max_bytes: 1 << 20,
    });
    b.push(entry(1, 0));
    assert!(b.is_empty());
    assert_eq!(b.dropped(), 1);
}

/// F5 (`test_partial_replay_requeue_preserves_drop_oldest`): the buffer is full, a flush
/// takes a batch, newer messages refill it, the flush fails half way. The requeue keeps the
/// newest and drops the oldest: the unsent tail, being oldest, goes first.
#[test]
fn f5_requeue_after_partial_flush_preserves_drop_oldest() {
    let mut b = ReplayBuffer::new(BufferLimits {
        max_msgs: 4,
        max_bytes: 1 << 20,
    });
    for n in 1..=4 {
        b.push(entry(n, 0));
    }
    let mut batch = b.take_batch(4, u64::MAX);
    for n in 5..=7 {
        b.push(entry(n, 0));
    }
    let unsent = batch.split_off(1); // 1 was sent; 2, 3, 4 were not
    b.requeue_front(unsent);
    assert_eq!(ids(&b), vec![4, 5, 6, 7]);
    assert_eq!(b.dropped(), 2);
}

#[cfg(feature = "bug-switches")]
#[test]
fn f5_bug_requeue_evicts_the_newest() {
    let mut b = ReplayBuffer::new(BufferLimits {
        max_msgs: 4,
        max_bytes: 1 << 20,
    })
    .with_requeue_bug(true);
    for n in 1..=4 {
        b.push(entry(n, 0));
    }
    let mut batch = b.take_batch(4, u64::MAX);
    for n in 5..=7 {
        b.push(entry(n, 0));
    }
    let unsent = batch.split_off(1);
    b.requeue_front(unsent);
    assert_eq!(ids(&b), vec![2, 3, 4, 5], "the newest (6, 7) were evicted");
}

/// F5 through the machine, with the shell's asynchronous flush: a batch is out, newer
/// messages fill the buffer, the link dies before the batch is written. What the next
/// recovery replays is the newest `max_msgs`, and the drops are counted.
fn f5_late_report(bugs: BugSet) -> World {
    let mut cfg = config();
    cfg.buffer = BufferLimits {
        max_msgs: 4,
        max_bytes: 1 << 20,
    };
    let mut w = World::with_bugs(cfg, bugs);
    w.connect();
    w.lose();
    for n in 1..=4 {
        assert!(w.publish(n));
    }
    w.connect();
    w.hold_flush = true;
    w.advance(SETTLE.mul_f64(1.2));
    assert_eq!(w.held.as_ref().map(Vec::len), Some(4), "batch 1..=4 is out");
    for n in 5..=9 {
        assert!(w.publish(n), "a batch is out: still buffering");
    }
    w.lose();
    w.release_flush();
    w.connect();
    w.advance(SETTLE.mul_f64(1.2));
    w
}

#[test]
fn f5_batch_failing_after_the_buffer_filled_keeps_the_newest() {
    let w = f5_late_report(BugSet::NONE);
    assert_eq!(w.hub_ids(), vec![6, 7, 8, 9]);
    let n = w.notices();
    assert_eq!(n.len(), 1);
    assert_eq!((n[0].buffered, n[0].replayed, n[0].dropped), (9, 4, 5));
    assert_eq!(n[0].buffered, n[0].replayed + n[0].dropped);
    let peaks: Vec<(u64, u64)> = w
        .out
        .iter()
        .filter_map(|o| match o {
            BackboneOutput::Event(Event::BackboneFlushed {
                peak_msgs,
                peak_bytes,
                ..
            }) => Some((*peak_msgs, *peak_bytes)),
            _ => None,
        })
        .collect();
    assert_eq!(peaks, vec![(4, 4 * msg(9).size())]);
}

#[cfg(feature = "bug-switches")]
#[test]
fn f5_bug_batch_failing_after_the_buffer_filled_evicts_the_newest() {
    let w = f5_late_report(BugSet::NONE.with(BugSwitch::BackboneRequeueEvictsNewest));
    assert_eq!(
        w.hub_ids(),
        vec![1, 2, 3, 4],
        "the newest (6..=9) were evicted"
    );
}

/// A batch out when a reload retires the remote is void: its unsent entries are dropped
/// (counted), not put back into the buffer of the next generation.
#[test]
fn a_batch_reported_after_a_new_generation_is_dropped_not_requeued() {
    let mut w = World::new(config());
    w.connect();
    w.lose();
    assert!(w.publish(1) && w.publish(2));
    w.connect();
    w.hold_flush = true;
    w.advance(SETTLE.mul_f64(1.2));
    assert!(w.held.is_some());
    w.m.retire();
    w.drain();
    w.link = None;
    w.release_flush();
    assert!(w.m.buffer().is_empty());
    assert_eq!(w.m.stats().dropped, 2);
    // The next generation recovers normally, and the void batch holds nothing up.
    w.generation += 1;
    w.session = 0;
    w.connect();
    w.lose();
    assert!(w.publish(3));
    w.connect();
    w.advance(secs(60));
    assert_eq!(w.hub_ids(), vec![3]);
}

/// The void batch is reported while the next generation's recovery is already flushing:
/// that recovery goes on as soon as the batch is back.
#[test]
fn a_void_batch_reported_late_does_not_stall_the_next_recovery() {
    let mut w = World::new(config());
    w.connect();
    w.lose();
    assert!(w.publish(1));
    w.connect();
    w.hold_flush = true;
    w.advance(SETTLE.mul_f64(1.2));
    let void = w.held.take();
    assert!(void.is_some());
    w.m.retire();
    w.drain();
    w.generation += 1;
    w.session = 0;
    w.hold_flush = false;
    w.connect();
    w.lose();
    assert!(w.publish(2));
    w.connect();
    w.advance(SETTLE.mul_f64(1.2));
    assert!(
        w.hub.is_empty(),
        "no second batch while the void one is out"
    );
    w.m.handle_input(
        w.now,
        BackboneInput::Flushed {
            sent: 0,
            rest: void.unwrap_or_default(),
            failed: true,
        },
    );
    w.drain();
    assert_eq!(w.hub_ids(), vec![2]);
}

#[test]
fn take_batch_respects_both_bounds_but_always_takes_one() {
    let mut b = ReplayBuffer::new(BufferLimits {
        max_msgs: 100,
        max_bytes: 1 << 20,
    });
    for n in 1..=5 {
        b.push(entry(n, 10));
    }
    assert_eq!(b.take_batch(2, u64::MAX).len(), 2);
    assert_eq!(
        b.take_batch(10, 5).len(),
        1,
        "one entry even over the byte bound"
    );
    assert_eq!(b.take_batch(10, 22).len(), 2);
    assert!(b.is_empty());
    assert_eq!(b.bytes(), 0);
}

// ---------------------------------------------------------------------------------------
// Gaps, recovery, resync.

#[test]
fn nothing_is_buffered_before_the_first_session_or_while_connected() {
    let mut w = World::new(config());
    assert!(!w.publish(1), "boot: no gap");
    w.connect();
    assert!(!w.publish(2));
    w.advance(secs(60));
    assert!(w.notices().is_empty());
    assert_eq!(w.m.stats().state, BackboneState::Up);
}

/// Incident 4C, fixed: publish during the gap is buffered; after the reconnect the machine
/// waits for health plus settle, flushes in order, and only then announces the resync.
#[test]
fn gap_buffers_then_settles_flushes_in_order_and_announces() {
    let mut w = World::new(config());
    w.connect();
    w.advance(secs(5));
    w.lose();
    assert_eq!(w.m.stats().state, BackboneState::Down);
    assert!(w.publish(1) && w.publish(2));
    w.advance(secs(3));
    let link = w.register();
    assert!(
        w.publish(3),
        "reconnected but not recovered: still buffered"
    );
    w.advance(secs(1));
    assert!(w.hub.is_empty(), "no flush before the link is healthy");
    w.input(BackboneInput::Healthy { link });
    assert!(w.m.stats().state == BackboneState::Recovering);
    let (settle_end, why) = w.m.poll_timeout().unwrap();
    assert_eq!(why, BackboneTimer::Settle);
    assert!(settle_end >= w.now + SETTLE && settle_end <= w.now + SETTLE.mul_f64(1.1));
    assert!(
        w.publish(4),
        "published during the settle: queued behind the gap's messages"
    );
    w.advance(SETTLE.mul_f64(0.99));
    assert!(w.hub.is_empty(), "flush waits for the settle");
    w.advance(SETTLE);
    assert_eq!(w.hub_ids(), vec![1, 2, 3, 4]);
    assert!(!w.publish(5), "recovered: live again");
    // Order of outputs: every flush before the announcement.
    let out = w.take_out();
    let last_flush = out
        .iter()
        .rposition(|o| matches!(o, BackboneOutput::Flush(_)))
        .unwrap();
    let resync = out.iter().position(is_resync).unwrap();
    assert!(last_flush < resync);
    let BackboneOutput::PublishResync(n) = &out[resync] else {
        unreachable!()
    };
    assert_eq!((n.buffered, n.replayed, n.dropped), (4, 4, 0));
    assert_eq!((n.first_gap, n.last_gap), (1, 1));
    assert_eq!(n.gap_started, Instant::from_start(secs(5)));
    assert_eq!(n.gap_ended, Instant::from_start(secs(8)));
    assert!(w.hub.iter().all(|e| e.gap == 1));
    assert_eq!(w.hub[0].published, Instant::from_start(secs(5)));
    assert_eq!(w.m.stats().state, BackboneState::Up);
}

#[test]
fn resync_json_carries_the_documented_fields() {
    let n = ResyncNotice {
        remote: "hub".into(),
        gap_started: Instant::from_start(secs(1)),
        gap_ended: Instant::from_start(secs(4)),
        buffered: 5,
        replayed: 4,
        dropped: 1,
        first_gap: 2,
        last_gap: 3,
    };
    let v: serde_json::Value =
        serde_json::from_str(&n.to_json(|t| format!("{}", t.since_start().as_secs()))).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"remote": "hub", "gap_started": "1", "gap_ended": "4",
            "buffered": 5, "replayed": 4, "dropped": 1, "gaps": 2, "first_gap": 2, "last_gap": 3})
    );
}

#[test]
fn lameduck_mode_asks_to_recycle_clients_after_the_announcement() {
    let mut cfg = config();
    cfg.resync.mode = ResyncMode::Lameduck;
    cfg.resync.window = secs(7);
    let mut w = World::new(cfg);
    w.connect();
    w.lose();
    w.connect();
    w.advance(secs(5));
    let out = w.take_out();
    let resync = out.iter().position(is_resync).unwrap();
    assert_eq!(
        out[resync + 1],
        BackboneOutput::LameDuckClients { window: secs(7) }
    );
}

/// Invariant 3: an ordinary reconnect (however long) never touches health.
#[test]
fn ordinary_reconnect_keeps_health_ok() {
    let mut w = World::new(config());
    w.connect();
    w.lose();
    for _ in 0..5 {
        w.fail_attempt();
        w.advance(secs(20));
    }
    w.connect();
    w.advance(secs(60));
    assert!(w.m.health().is_ok());
    assert_eq!(w.count(|o| matches!(o, BackboneOutput::Health(_))), 0);
}

// F1 ----------------------------------------------------------------------------------

/// F1 (`test_fresh_reader_task_does_not_recover_on_first_connect`): a remote re-added (new
/// remote generation) connects for the first time: no gap, no resync.
#[test]
fn f1_first_connect_of_a_fresh_remote_generation_is_not_a_gap() {
    let mut w = World::new(config());
    w.connect();
    w.advance(secs(5));
    w.new_generation();
    w.advance(secs(1));
    w.connect();
    w.advance(secs(120));
    assert!(w.notices().is_empty());
    assert!(!w.publish(1));
}

#[test]
fn f1_a_new_generation_discards_what_the_old_one_buffered() {
    let mut w = World::new(config());
    w.connect();
    w.lose();
    assert!(w.publish(1));
    w.new_generation();
    w.connect();
    w.advance(secs(120));
    assert!(w.hub.is_empty());
    assert!(w.notices().is_empty());
    assert_eq!(w.m.stats().dropped, 1);
}

/// A removed or disabled remote holds nothing; when it comes back (a new remote
/// generation) its first connect is not a gap.
#[test]
fn f1_retired_remote_stops_buffering_and_its_return_is_not_a_gap() {
    let mut w = World::new(config());
    w.connect();
    w.lose();
    assert!(w.publish(1));
    w.m.retire();
    w.drain();
    assert!(!w.publish(2), "a retired remote holds nothing");
    assert_eq!(w.m.stats().dropped, 1);
    assert_eq!(w.m.stats().state, BackboneState::Connecting);
    w.generation += 1;
    w.session = 0;
    w.connect();
    w.advance(secs(60));
    assert!(w.notices().is_empty());
}

#[cfg(feature = "bug-switches")]
#[test]
fn f1_bug_a_retired_remote_returning_resyncs() {
    let mut w = World::with_bugs(
        config(),
        BugSet::NONE.with(BugSwitch::BackboneGapOnFirstConnect),
    );
    w.connect();
    w.m.retire();
    w.generation += 1;
    w.session = 0;
    w.link = None;
    w.connect();
    w.advance(secs(60));
    assert_eq!(w.notices().len(), 1);
}

#[cfg(feature = "bug-switches")]
#[test]
fn no_replay_bug_loses_what_the_gap_published() {
    let mut w = World::with_bugs(config(), BugSet::NONE.with(BugSwitch::BackboneNoReplay));
    w.connect();
    w.lose();
    assert!(w.publish(1));
    w.connect();
    w.advance(secs(5));
    assert!(w.hub.is_empty());
    assert_eq!(w.notices()[0].dropped, 1);
}

#[cfg(feature = "bug-switches")]
#[test]
fn f1_bug_first_connect_of_a_fresh_remote_resyncs() {
    let mut w = World::with_bugs(
        config(),
        BugSet::NONE.with(BugSwitch::BackboneGapOnFirstConnect),
    );
    w.connect();
    w.new_generation();
    w.connect();
    w.advance(secs(120));
    assert_eq!(w.notices().len(), 1, "spurious resync");
}

// F2 ----------------------------------------------------------------------------------

/// F2 (`test_recovery_reruns_for_gap_during_late_phase`): a gap that closes while the
/// previous recovery's announcement waits out its cooldown still gets its own settle and
/// flush, and the announcement covers both.
#[test]
fn f2_gap_during_the_late_phase_reruns_the_recovery() {
    let mut w = World::new(config());
    w.connect();
    w.lose();
    w.connect();
    w.advance(secs(5)); // gap 1 recovered and announced at once (no previous resync)
    assert_eq!(w.notices().len(), 1);
    w.lose();
    w.connect();
    w.advance(secs(5)); // gap 2 recovered; its announcement waits for the cooldown
    w.lose(); // gap 3 during the late phase of gap 2's recovery
    assert!(w.publish(30));
    w.connect();
    w.advance(secs(5));
    assert_eq!(w.hub_ids(), vec![30], "gap 3's buffer was flushed");
    assert_eq!(w.notices().len(), 1, "announcement still cooling down");
    w.advance(COOLDOWN);
    let notices = w.notices();
    assert_eq!(notices.len(), 2);
    assert_eq!(
        (notices[1].first_gap, notices[1].last_gap),
        (2, 3),
        "merged"
    );
    assert!(!w.publish(31), "live again");
}

/// F2's flap during settle (`test_resync_is_single_flight_across_a_flap_during_settle`):
/// the run is aborted and rerun; never two at once, and every gap is announced once.
#[test]
fn f2_flap_during_settle_reruns_single_flight() {
    let mut w = World::new(config());
    w.connect();
    w.lose();
    assert!(w.publish(1));
    w.connect();
    w.advance(secs(1)); // settling
    w.lose();
    assert!(w.publish(2));
    w.connect();
    w.advance(secs(1));
    assert!(w.hub.is_empty(), "the aborted run did not flush");
    w.advance(secs(5));
    assert_eq!(w.hub_ids(), vec![1, 2]);
    let notices = w.notices();
    assert_eq!(notices.len(), 1);
    assert_eq!((notices[0].first_gap, notices[0].last_gap), (1, 2));
    let started = w
        .out
        .iter()
        .filter(|o| {
            matches!(
                o,
                BackboneOutput::Event(Event::BackboneRecoveryStarted { .. })
            )
        })
        .count();
    assert_eq!(started, 2, "the run ran again after the flap");
}

#[cfg(feature = "bug-switches")]
#[test]
fn f2_bug_skips_the_gap_during_the_late_phase() {
    let mut w = World::with_bugs(
        config(),
        BugSet::NONE.with(BugSwitch::BackboneSkipGapDuringRecovery),
    );
    w.connect();
    w.lose();
    w.connect();
    w.advance(secs(5));
    w.lose();
    w.connect();
    w.advance(secs(5));
    w.lose();
    assert!(w.publish(30));
    w.connect();
    w.advance(COOLDOWN * 2);
    assert!(w.hub.is_empty(), "gap 3's buffer never flushed");
    assert!(
        w.notices().iter().all(|n| n.last_gap < 3),
        "no announcement covers gap 3"
    );
}

// F3 ----------------------------------------------------------------------------------

fn give_up_after(n: u32) -> BackboneConfig {
    BackboneConfig {
        max_reconnect_attempts: n,
        ..config()
    }
}

/// F3 (`test_flap_loop_counts_toward_give_up`): a hub that accepts and closes before any
/// PING/PONG counts as a failure each time.
#[test]
fn f3_flapping_sessions_count_toward_give_up() {
    let mut w = World::new(give_up_after(3));
    w.connect();
    w.lose(); // healthy session: not a failure
    w.register();
    w.lose();
    w.register();
    w.lose();
    assert!(!w.m.gave_up());
    w.fail_attempt();
    assert!(w.m.gave_up());
    assert_eq!(w.count(|o| *o == BackboneOutput::GiveUp), 1);
    assert!(!w.m.health().is_ok());
    // Later inputs change nothing: exactly once.
    w.fail_attempt();
    w.connect();
    assert_eq!(w.count(|o| *o == BackboneOutput::GiveUp), 1);
    assert_eq!(w.m.poll_timeout(), None);
}

/// `test_reader_recovers_within_max_retries`: a healthy session resets the streak.
#[test]
fn f3_a_healthy_session_resets_the_count() {
    let mut w = World::new(give_up_after(2));
    w.connect();
    for _ in 0..5 {
        w.lose();
        w.fail_attempt();
        w.connect();
    }
    assert!(!w.m.gave_up());
    assert!(w.m.health().is_ok());
}

#[test]
fn f3_zero_never_gives_up() {
    let mut w = World::new(give_up_after(0));
    for _ in 0..1000 {
        w.fail_attempt();
    }
    assert!(!w.m.gave_up());
}

#[cfg(feature = "bug-switches")]
#[test]
fn f3_bug_flaps_reset_the_count_and_never_give_up() {
    let mut w = World::with_bugs(
        give_up_after(3),
        BugSet::NONE.with(BugSwitch::BackboneFlapResetsGiveUp),
    );
    w.connect();
    for _ in 0..20 {
        w.lose();
        w.register();
    }
    assert!(!w.m.gave_up());
}

// F5 in the machine -------------------------------------------------------------------

#[test]
fn f5_partial_flush_failure_requeues_in_order_and_the_rerun_finishes_it() {
    let mut w = World::new(config());
    w.connect();
    w.lose();
    for n in 1..=10 {
        assert!(w.publish(n));
    }
    w.take = Take::FailAfter(4);
    w.connect();
    // Past the settle (at most 2.2 s), before the 1 s retry of the failed flush.
    w.advance(Duration::from_millis(2500));
    assert_eq!(w.hub_ids(), vec![1, 2, 3, 4]);
    assert!(
        w.notices().is_empty(),
        "no announcement after a failed flush"
    );
    w.take = Take::All;
    w.lose(); // the link that refused the flush dies
    assert!(w.publish(11));
    w.connect();
    w.advance(secs(3));
    assert_eq!(w.hub_ids(), (1..=11).collect::<Vec<_>>());
    assert_eq!(w.notices().len(), 1);
}

#[test]
fn a_full_link_pauses_the_flush_and_resumes_in_order() {
    let mut w = World::new(config());
    w.connect();
    w.lose();
    for n in 1..=600 {
        assert!(w.publish(n));
    }
    w.take = Take::PauseAfter(100);
    w.connect();
    w.advance(secs(3));
    w.take = Take::All;
    w.advance(secs(1));
    assert_eq!(w.hub_ids(), (1..=600).collect::<Vec<_>>());
    assert_eq!(w.notices().len(), 1);
    assert_eq!(w.notices()[0].replayed, 600);
}

// F6 ----------------------------------------------------------------------------------

/// F6: flap every 3 s for 60 s: at most 1 + 60/cooldown announcements, none lost.
#[test]
fn f6_resyncs_are_rate_limited_and_coalesced_never_dropped() {
    let mut w = World::new(config());
    w.connect();
    for _ in 0..20 {
        w.lose();
        w.advance(Duration::from_millis(500));
        w.connect();
        w.advance(Duration::from_millis(2500));
    }
    let during = w.notices().len();
    assert!(during as u64 <= 1 + 60 / COOLDOWN.as_secs());
    w.advance(COOLDOWN);
    let notices = w.notices();
    let covered: Vec<u64> = notices
        .iter()
        .flat_map(|n| n.first_gap..=n.last_gap)
        .collect();
    assert_eq!(
        covered,
        (1..=20).collect::<Vec<_>>(),
        "every gap exactly once"
    );
}

#[cfg(feature = "bug-switches")]
#[test]
fn f6_bug_announces_every_flap() {
    let mut w = World::with_bugs(
        config(),
        BugSet::NONE.with(BugSwitch::BackboneNoResyncCooldown),
    );
    w.connect();
    for _ in 0..20 {
        w.lose();
        w.advance(secs(1));
        w.connect();
        w.advance(secs(3));
    }
    assert_eq!(w.notices().len(), 20);
}

// #946 --------------------------------------------------------------------------------

/// #946: a connected link that goes silent is declared dead within `silence_timeout` of
/// the last time the hub was heard, health flips, and a healthy session restores it.
#[test]
fn silent_link_is_declared_dead_and_health_recovers_with_a_healthy_session() {
    let mut w = World::new(config());
    let link = w.connect();
    w.advance(secs(4));
    w.answering = false;
    let heard = w.now;
    w.advance(SILENCE - Duration::from_millis(1));
    assert!(w.m.health().is_ok(), "heard 4 s in: not silent yet");
    w.advance(Duration::from_millis(1));
    assert_eq!(w.now, heard + SILENCE);
    assert!(w.out.contains(&BackboneOutput::CloseLink { link }));
    assert!(!w.m.health().is_ok());
    w.lose_with(true);
    w.fail_attempt();
    w.advance(secs(5));
    assert!(!w.m.health().is_ok(), "still wedged while reconnecting");
    w.answering = true;
    let link = w.register();
    assert!(!w.m.health().is_ok(), "registered is not yet healthy");
    w.input(BackboneInput::Healthy { link });
    assert!(w.m.health().is_ok());
    let flips: Vec<bool> = w
        .out
        .iter()
        .filter_map(|o| match o {
            BackboneOutput::Health(h) => Some(h.is_ok()),
            _ => None,
        })
        .collect();
    assert_eq!(flips, vec![false, true]);
}

#[test]
fn silence_watchdog_is_armed_only_after_the_hub_was_heard() {
    let mut w = World::new(config());
    w.next_link += 1;
    w.session += 1;
    w.link = Some(w.next_link);
    w.input(BackboneInput::LinkUp {
        link: w.next_link,
        remote_generation: 1,
        session: 1,
    });
    assert_eq!(w.m.poll_timeout(), None);
    w.advance(SILENCE * 3);
    assert!(w.m.health().is_ok());
}

#[test]
fn a_link_closed_for_unanswered_pings_is_silent_too() {
    let mut w = World::new(config());
    w.connect();
    w.lose_with(true);
    assert!(!w.m.health().is_ok());
    assert_eq!(w.m.stats().state, BackboneState::Silent);
}

#[cfg(feature = "bug-switches")]
#[test]
fn no_silence_watchdog_bug_never_declares_the_link_dead() {
    let mut w = World::with_bugs(
        config(),
        BugSet::NONE.with(BugSwitch::BackboneNoSilenceWatchdog),
    );
    w.connect();
    w.advance(SILENCE * 10);
    assert_eq!(
        w.count(|o| matches!(o, BackboneOutput::CloseLink { .. })),
        0
    );
    assert!(w.m.health().is_ok());
}

// 4A, 4B ------------------------------------------------------------------------------

#[test]
fn losing_the_backbone_never_drops_clients() {
    let mut w = World::new(config());
    w.connect();
    w.lose();
    w.advance(secs(30));
    assert_eq!(w.count(|o| *o == BackboneOutput::DropClients), 0);
}

#[cfg(feature = "bug-switches")]
#[test]
fn storm_bug_drops_clients_on_loss_and_again_while_down() {
    let mut w = World::with_bugs(
        config(),
        BugSet::NONE.with(BugSwitch::BackboneDropClientsOnLoss),
    );
    w.connect();
    w.lose();
    w.advance(secs(3) + Duration::from_millis(1));
    assert_eq!(w.count(|o| *o == BackboneOutput::DropClients), 4);
    w.connect();
    w.advance(secs(10));
    assert_eq!(w.count(|o| *o == BackboneOutput::DropClients), 4);
}

#[cfg(feature = "bug-switches")]
#[test]
fn healthz_bug_reports_ok_after_give_up() {
    let mut w = World::with_bugs(
        give_up_after(1),
        BugSet::NONE.with(BugSwitch::BackboneHealthzAlwaysOk),
    );
    w.fail_attempt();
    assert!(w.m.gave_up());
    assert!(w.m.health().is_ok());
}

#[test]
fn shrinking_the_buffer_on_reload_drops_the_oldest() {
    let mut w = World::new(config());
    w.connect();
    w.lose();
    for n in 1..=5 {
        w.publish(n);
    }
    let mut cfg = config();
    cfg.buffer.max_msgs = 2;
    w.m.set_config(cfg);
    w.connect();
    w.advance(secs(5));
    assert_eq!(w.hub_ids(), vec![4, 5]);
    assert_eq!(w.notices()[0].dropped, 3);
}

// ---------------------------------------------------------------------------------------
// Proptests.

#[derive(Clone, Debug)]
enum BufOp {
    Push(usize),
    /// Take a batch of up to n, then put back everything after the first `sent`.
    Flush {
        n: usize,
        sent: usize,
        refill: u8,
    },
}

fn buf_op() -> impl Strategy<Value = BufOp> {
    prop_oneof![
        3 => (0usize..40).prop_map(BufOp::Push),
        1 => (1usize..10, 0usize..10, 0u8..6).prop_map(|(n, sent, refill)| BufOp::Flush { n, sent, refill }),
    ]
}

proptest! {
    /// Against a plain `Vec` model: bounds never exceeded, FIFO, drop-oldest; while a batch
    /// is out the bounds apply to what is held, and a requeue (F5) yields exactly "unsent,
    /// then everything held, trimmed from the front". Every message pushed is accounted
    /// for: held, sent, or counted as dropped.
    #[test]
    fn buffer_bounds_fifo_and_requeue_law(
        max_msgs in 0u64..8,
        max_bytes in 0u64..200,
        ops in prop::collection::vec(buf_op(), 0..60),
    ) {
        let mut b = ReplayBuffer::new(BufferLimits { max_msgs, max_bytes });
        let mut sizes = std::collections::BTreeMap::new();
        let mut model: Vec<u64> = Vec::new();
        let next = std::cell::Cell::new(0u64);
        let mut sent_total = 0u64;
        let trim = |m: &mut Vec<u64>, sizes: &std::collections::BTreeMap<u64, u64>| {
            while m.len() as u64 > max_msgs || m.iter().map(|i| sizes[i]).sum::<u64>() > max_bytes {
                m.remove(0);
            }
        };
        let push = |b: &mut ReplayBuffer, m: &mut Vec<u64>, size: usize, sizes: &mut std::collections::BTreeMap<u64, u64>| {
            next.set(next.get() + 1);
            let id = next.get();
            let e = entry(id, size);
            sizes.insert(id, e.size());
            if max_msgs > 0 && e.size() <= max_bytes {
                m.push(id);
            }
            b.push(e);
            trim(m, sizes);
        };
        for op in ops {
            match op {
                BufOp::Push(size) => push(&mut b, &mut model, size, &mut sizes),
                BufOp::Flush { n, sent, refill } => {
                    let mut batch = b.take_batch(n, u64::MAX);
                    let taken: Vec<u64> = model.drain(..batch.len()).collect();
                    let batch_ids: Vec<u64> = batch.iter().map(|e| {
                        String::from_utf8_lossy(&e.msg.payload).trim().parse::<u64>().unwrap()
                    }).collect();
                    prop_assert_eq!(&batch_ids, &taken, "a batch is the oldest entries");
                    let sent = sent.min(batch.len());
                    sent_total += sent as u64;
                    let unsent = batch.split_off(sent);
                    for _ in 0..refill {
                        push(&mut b, &mut model, 5, &mut sizes);
                    }
                    let mut rebuilt = taken[sent..].to_vec();
                    rebuilt.append(&mut model);
                    trim(&mut rebuilt, &sizes);
                    model = rebuilt;
                    b.requeue_front(unsent);
                }
            }
            prop_assert!(b.len() as u64 <= max_msgs);
            prop_assert!(b.bytes() <= max_bytes);
            prop_assert_eq!(ids(&b), model.clone());
            prop_assert!(model.windows(2).all(|p| p[0] < p[1]), "FIFO");
            prop_assert_eq!(next.get(), b.len() as u64 + sent_total + b.dropped());
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// A session that completes its first PING/PONG.
    Connect,
    /// A session that is registered and closes before any PONG.
    Flap,
    /// The current session ends (if any).
    Lose,
    /// The current session goes silent until the watchdog fires.
    Silence,
    /// A dial fails.
    DialFail,
    Publish(u8),
    Advance(u16),
    /// How the hub takes the next flushes.
    Take(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Connect),
        1 => Just(Op::Flap),
        3 => Just(Op::Lose),
        1 => Just(Op::Silence),
        2 => Just(Op::DialFail),
        3 => (1u8..20).prop_map(Op::Publish),
        3 => (1u16..8000).prop_map(Op::Advance),
        1 => (0u8..3).prop_map(Op::Take),
    ]
}

/// The test's own model of F3: the streak of failed sessions.
struct Model {
    streak: u32,
    gave_up_at: Option<u32>,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random link histories. Checked along the way and after a final stable period:
    /// - (4) announcements cover only gaps that happened, each gap at most once (exactly
    ///   once at the end), and no gap ever starts on a first connect;
    /// - (5) after the hub is stable, every gap was recovered and announced;
    /// - (6) the hub receives the messages in publish order, each at most once, and no
    ///   announcement is made while a message of a gap it covers is still buffered;
    ///   the buffer never exceeds its bounds;
    /// - (7) give-up fires exactly once, exactly when the failure streak reaches the limit;
    /// - F6: at most 1 + elapsed/cooldown announcements.
    #[test]
    fn machine_invariants_under_random_link_histories(
        ops in prop::collection::vec(op(), 0..80),
        max_reconnect in 0u32..5,
        max_msgs in 1u64..30,
    ) {
        let mut cfg = config();
        cfg.max_reconnect_attempts = max_reconnect;
        cfg.buffer.max_msgs = max_msgs;
        let mut w = World::new(cfg);
        let mut model = Model { streak: 0, gave_up_at: None };
        let mut next_msg = 0u64;
        let mut healthy = false;
        let mut seen_out = 0;
        let check = |w: &World, seen_out: &mut usize| -> Result<(), TestCaseError> {
            for o in &w.out[*seen_out..] {
                if let BackboneOutput::PublishResync(n) = o {
                    prop_assert!(n.first_gap >= 1 && n.first_gap <= n.last_gap);
                    prop_assert!(n.last_gap <= w.m.stats().gaps);
                }
            }
            *seen_out = w.out.len();
            prop_assert!(w.m.buffer().len() as u64 <= max_msgs);
            let ids = w.hub_ids();
            prop_assert!(ids.windows(2).all(|p| p[0] < p[1]), "hub order {:?}", ids);
            Ok(())
        };
        for op in ops {
            if w.m.gave_up() {
                break;
            }
            match op {
                Op::Connect => {
                    if w.link.is_none() {
                        w.connect();
                        healthy = true;
                        model.streak = 0;
                    }
                }
                Op::Flap => {
                    if w.link.is_none() {
                        w.register();
                        w.lose();
                        model.streak += 1;
                    }
                }
                Op::Lose => {
                    if w.link.is_some() {
                        w.lose();
                        if !healthy { model.streak += 1; }
                        healthy = false;
                    }
                }
                Op::Silence => {
                    if let Some(link) = w.link {
                        w.answering = false;
                        w.advance(SILENCE);
                        w.answering = true;
                        let closed = w.out.contains(&BackboneOutput::CloseLink { link });
                        prop_assert!(closed);
                        prop_assert!(!w.m.health().is_ok());
                        w.lose_with(true);
                        if !healthy { model.streak += 1; }
                        healthy = false;
                    }
                }
                Op::DialFail => {
                    if w.link.is_none() {
                        w.fail_attempt();
                        model.streak += 1;
                    }
                }
                Op::Publish(n) => {
                    for _ in 0..n {
                        next_msg += 1;
                        w.publish(next_msg);
                    }
                }
                Op::Advance(ms) => w.advance(Duration::from_millis(u64::from(ms))),
                Op::Take(t) => {
                    w.take = match t {
                        0 => Take::All,
                        1 => Take::FailAfter(2),
                        _ => Take::PauseAfter(3),
                    };
                }
            }
            if max_reconnect > 0 && model.streak >= max_reconnect && model.gave_up_at.is_none() {
                model.gave_up_at = Some(model.streak);
            }
            prop_assert_eq!(w.m.gave_up(), model.gave_up_at.is_some(), "streak {}", model.streak);
            check(&w, &mut seen_out)?;
        }
        prop_assert!(w.count(|o| *o == BackboneOutput::GiveUp) <= 1);
        if w.m.gave_up() {
            return Ok(());
        }
        // Stabilise: the hub comes back and stays; time passes.
        w.take = Take::All;
        if w.link.is_none() {
            w.connect();
        }
        for _ in 0..10 {
            w.advance(secs(5));
        }
        w.advance(COOLDOWN);
        check(&w, &mut seen_out)?;
        prop_assert!(w.m.health().is_ok());
        prop_assert!(w.m.buffer().is_empty());
        prop_assert!(!w.m.is_buffering());
        let gaps = w.m.stats().gaps;
        let covered: Vec<u64> = w.notices().iter().flat_map(|n| n.first_gap..=n.last_gap).collect();
        prop_assert_eq!(covered, (1..=gaps).collect::<Vec<_>>(), "each gap announced exactly once");
        // Everything accepted was replayed or dropped, nothing twice.
        let s = w.m.stats();
        prop_assert_eq!(s.buffered, s.replayed + s.dropped);
        prop_assert_eq!(s.replayed, w.hub.len() as u64);
        // F6.
        let elapsed = w.now.since_start().as_secs();
        prop_assert!(s.resyncs <= 1 + elapsed / COOLDOWN.as_secs());
    }
}
