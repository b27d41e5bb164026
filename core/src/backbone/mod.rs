//! The backbone broadcaster: what an edge does while its link to the hub (a leafnode
//! remote with a `backbone { }` block) is down, and how it recovers (design.md §6,
//! incident 4).
//!
//! [`Backbone`] is the state machine of one backbone remote. The shell feeds it what
//! happened to the remote's link ([`BackboneInput`]) and the messages that would have
//! crossed the link while it is down ([`Backbone::offer`]); it answers with
//! [`BackboneOutput`]s: flush this batch to the hub, publish this resync announcement,
//! close this silent link, the health changed, give up.
//!
//! # Gaps
//! A *gap* starts when a registered session of the remote ends and lasts until the
//! recovery after the reconnect has flushed the buffer. A reconnect is a gap's end only
//! within the same *remote generation* (see [`crate::remote`]) and after a session was
//! registered in it (F1): the first connect of a fresh remote, a re-added or restarted
//! one, or a server restart is never a gap and never triggers a resync.
//!
//! # Recovery
//! While a gap is open the buffer takes every message the hub wanted (by its interest as
//! last known), oldest dropped first over the bounds. After the reconnect, once the link is
//! healthy (first PING/PONG: the hub has processed our CONNECT and sent its interest), the
//! machine waits `settle`, flushes the buffer in order in batches, and only then queues a
//! [`ResyncNotice`]. Messages published during the settle and the flush are appended to
//! the buffer instead of going live, so one publisher's messages reach the hub in the order
//! it published them.
//!
//! One recovery runs at a time (F2). A link loss during the settle or the flush aborts the
//! run; the gap simply continues, and the next reconnect starts the run again. A gap whose
//! reconnect happens while an announcement is still waiting out its cooldown (the late
//! phase of the previous recovery) starts its own run: it is never skipped.
//!
//! Announcements are rate limited by `resync.cooldown` (F6): one due during the cooldown
//! waits for its end and is merged with any other that becomes due meanwhile. None is ever
//! dropped; every gap is covered by exactly one announcement (its `first_gap..=last_gap`).
//!
//! # Give-up and health
//! A session that never completed a PING/PONG round trip, and a dial or handshake that
//! failed, count as failed; only a healthy session resets the count (F3: a connect that
//! closes at once must not). After `max_reconnect_attempts` (when non-zero) failures in a
//! row the machine emits [`BackboneOutput::GiveUp`] once; the shell shuts down gracefully
//! and exits non-zero.
//!
//! The silence watchdog (#946) is armed once the hub has been heard on a session: a link
//! silent for `silence_timeout` is declared dead ([`BackboneOutput::CloseLink`]). Health is
//! unavailable from then (or from a link that ended because its PINGs went unanswered)
//! until a later session is healthy, and for good after a give-up. An ordinary reconnect
//! leaves health alone: no flapping.
//!
//! # Call order
//! After every `new`, `handle_input`, `handle_timeout` and `set_config`, drain
//! [`Backbone::poll_output`] until `None`; sleep until [`Backbone::poll_timeout`]. Spurious
//! timeouts are harmless. [`Backbone::offer`] never produces outputs, so data-plane tasks
//! may call it under the same lock without draining.

mod buffer;
mod machine;

#[cfg(test)]
mod tests;

use serde::Serialize;

pub use buffer::{Buffered, Message, ReplayBuffer};
pub use machine::{Backbone, FLUSH_BATCH_BYTES, FLUSH_BATCH_MSGS, FLUSH_RETRY, STORM_INTERVAL};

use crate::event::Event;
use crate::time::{Duration, Instant};

/// Identifies one link of the remote: its attempt generation, unique per server.
pub type LinkId = u64;

/// What the shell reports about the backbone remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackboneInput {
    /// A session was registered: `remote_generation` and `session` as in
    /// [`crate::remote::RemoteStatus`] (`session` counts sessions in that generation from 1).
    LinkUp {
        link: LinkId,
        remote_generation: u64,
        session: u64,
    },
    /// The session's first PING/PONG round trip completed: the hub has our interest and
    /// we have its interest.
    Healthy { link: LinkId },
    /// Bytes from the hub were last seen at `at` on `link` (the silence watchdog's input;
    /// reporting it lazily, when the watchdog is due, is enough).
    Heard { link: LinkId, at: Instant },
    /// A registered session ended; `silent` when it ended because the hub stopped
    /// answering (unanswered PINGs, or a [`BackboneOutput::CloseLink`]). Reports about a
    /// link that is not the current one are ignored, so this may be sent twice.
    LinkDown { link: LinkId, silent: bool },
    /// A dial or handshake ended without a registered session.
    AttemptFailed,
    /// What became of the last [`BackboneOutput::Flush`]: `sent` entries went out, `rest`
    /// (in order) did not. `failed`: the link could not take them; otherwise it was only
    /// full and the rest is retried after [`FLUSH_RETRY`].
    Flushed {
        sent: u64,
        rest: Vec<Buffered>,
        failed: bool,
    },
}

/// What the machine asks the shell to do.
#[derive(Clone, Debug, PartialEq)]
pub enum BackboneOutput {
    /// Send these entries, in order, to the hub over the current link (with the replay
    /// header), then report [`BackboneInput::Flushed`].
    Flush(Vec<Buffered>),
    /// The link was silent past `silence_timeout`: close it (then report `LinkDown`).
    CloseLink { link: LinkId },
    /// Publish this announcement to local clients on `resync.subject`.
    PublishResync(ResyncNotice),
    /// `resync.mode = lameduck`: send local clients INFO with `ldm: true`, then close them
    /// spread over `window`.
    LameDuckClients { window: Duration },
    /// Close every local client (only with the `backbone-drop-clients-on-loss` bug switch:
    /// incident 4A's storm).
    DropClients,
    /// Health changed.
    Health(Health),
    /// `max_reconnect_attempts` exhausted: shut down gracefully and exit non-zero.
    /// Emitted once.
    GiveUp,
    /// Something happened (logs, monitoring, the simulator's event log).
    Event(Event),
}

/// What `/healthz` should say about this remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    Ok,
    Unavailable { why: String },
}

impl Health {
    pub fn is_ok(&self) -> bool {
        matches!(self, Health::Ok)
    }
}

/// The label of [`Backbone::poll_timeout`]'s deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackboneTimer {
    /// The settle delay before a flush ends.
    Settle,
    /// A paused or failed flush is retried.
    FlushRetry,
    /// A resync announcement's cooldown ends.
    Resync,
    /// The link has been silent for `silence_timeout` unless it was heard meanwhile.
    Silence,
    /// Bug switch `backbone-drop-clients-on-loss` only: clients are dropped again.
    Storm,
}

/// The resync announcement, published as JSON (see [`ResyncNotice::to_json`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResyncNotice {
    pub remote: String,
    /// Start of the first gap covered.
    pub gap_started: Instant,
    /// Reconnect of the last gap covered.
    pub gap_ended: Instant,
    /// Messages buffered during the covered gaps (and their recoveries).
    pub buffered: u64,
    /// Messages flushed to the hub.
    pub replayed: u64,
    /// Messages dropped by the buffer's bounds.
    pub dropped: u64,
    /// Gap numbers covered, `first_gap..=last_gap` (more than one when merged).
    pub first_gap: u64,
    pub last_gap: u64,
}

#[derive(Serialize)]
struct NoticeJson<'a> {
    remote: &'a str,
    gap_started: String,
    gap_ended: String,
    buffered: u64,
    replayed: u64,
    dropped: u64,
    gaps: u64,
    first_gap: u64,
    last_gap: u64,
}

impl ResyncNotice {
    /// The announcement's body; `time` renders an instant (the shell: RFC 3339 wall
    /// clock). Fields: `remote, gap_started, gap_ended, buffered, replayed, dropped`, plus
    /// `gaps, first_gap, last_gap` naming the gaps covered (the replay header's gap
    /// numbers).
    pub fn to_json(&self, time: impl Fn(Instant) -> String) -> String {
        let body = NoticeJson {
            remote: &self.remote,
            gap_started: time(self.gap_started),
            gap_ended: time(self.gap_ended),
            buffered: self.buffered,
            replayed: self.replayed,
            dropped: self.dropped,
            gaps: self.last_gap + 1 - self.first_gap.min(self.last_gap + 1),
            first_gap: self.first_gap,
            last_gap: self.last_gap,
        };
        serde_json::to_string(&body).unwrap_or_default()
    }

    /// Fold a later notice into this one.
    fn merge(&mut self, later: ResyncNotice) {
        self.gap_started = self.gap_started.min(later.gap_started);
        self.gap_ended = self.gap_ended.max(later.gap_ended);
        self.buffered += later.buffered;
        self.replayed += later.replayed;
        self.dropped += later.dropped;
        self.first_gap = self.first_gap.min(later.first_gap);
        self.last_gap = self.last_gap.max(later.last_gap);
    }
}

/// Where the remote is, for `/varz` and `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackboneState {
    /// No session registered yet in this remote generation.
    Connecting,
    /// Connected, nothing pending.
    Up,
    /// In a gap: the link is down and messages are buffered.
    Down,
    /// Connected again; settling or flushing.
    Recovering,
    /// Declared silent (#946), waiting for a healthy session.
    Silent,
    /// Gave up reconnecting.
    GaveUp,
}

impl BackboneState {
    pub fn name(self) -> &'static str {
        match self {
            BackboneState::Connecting => "connecting",
            BackboneState::Up => "up",
            BackboneState::Down => "down",
            BackboneState::Recovering => "recovering",
            BackboneState::Silent => "silent",
            BackboneState::GaveUp => "gave_up",
        }
    }
}

/// Counters of one backbone remote since start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackboneStats {
    pub state: BackboneState,
    pub gaps: u64,
    /// Messages accepted into the buffer.
    pub buffered: u64,
    /// Messages dropped by the buffer's bounds (or discarded with a remote generation).
    pub dropped: u64,
    /// Messages flushed to the hub.
    pub replayed: u64,
    /// Resync announcements published.
    pub resyncs: u64,
    /// Links declared dead by the silence watchdog.
    pub silences: u64,
    /// Consecutive failed sessions.
    pub failures: u32,
    pub buffer_msgs: u64,
    pub buffer_bytes: u64,
    /// Start and (once reconnected) end of the latest gap.
    pub last_gap: Option<(Instant, Option<Instant>)>,
}
