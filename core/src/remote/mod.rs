//! Leafnode remotes: the sans-I/O state machine that owns every outbound leafnode link.
//!
//! [`Remotes`] decides when each configured remote dials, which URL it dials, when a
//! finished handshake may be registered, when a link is closed, and how a configuration
//! reload changes all of that. The shell executes its [`RemoteOutput`]s (dial, register,
//! close) and reports back what happened as [`RemoteInput`]s. It never dials, sleeps or
//! closes a leafnode link on its own initiative.
//!
//! # One state per remote, one generation per attempt
//!
//! Each remote is in exactly one [`LinkState`]: `Disabled`, `Waiting { until }` (the
//! reconnect sleep is only a deadline here, not a task), `Dialing`, `Handshaking` or
//! `Connected`, the last three naming the remote's single current [`AttemptId`]. So there
//! is at most one attempt and at most one connection per remote identity by construction
//! (incident 1, invariants 1 and 2), not because a flag was checked at the right moment.
//!
//! Every attempt gets a fresh generation from one counter per machine, and every input
//! names the attempt it is about. An input whose attempt is not its remote's current one is
//! **stale**: the remote was removed, disabled, re-added, restarted, or the attempt already
//! ended. A stale input changes nothing. If it reports a live connection (`Dialed`,
//! `HandshakeDone`) it is answered with [`RemoteOutput::Close`] for that attempt; it is never
//! registered and never schedules a reconnect (invariant 4).
//!
//! nats-server solves the same problem with a quit channel per remote, a
//! connect-in-progress flag, a map of removed configs kept alive while a connect runs, a
//! validity check at registration time, and reload errors that say "try again" (PR #7937).
//! Each of those is a rendezvous between concurrent tasks that is correct only under a
//! particular lock order and signal-draining discipline, and incident 1 is the list of
//! schedules where one of them was missing. Here the reconnect "task" is a deadline in the
//! remote's state, so a reload that removes the remote removes the deadline with it; and a
//! connect that was already on the wire is recognised as stale whenever it reports back,
//! however late. There is nothing to signal, so nothing can be missed, and a reload never
//! has to answer "try again": it applies at once, all or nothing.
//!
//! # Reload
//! [`Remotes::reload`] validates the whole new list first (no duplicate identity, at least
//! one URL each) and only then diffs it against the current one by [`RemoteId`]:
//! - **removed** or **disabled**: the current attempt (if any) is closed, the deadline
//!   dropped: zero connections, attempts and timers;
//! - **added** or **enabled**: a new remote generation and an immediate dial;
//! - **unchanged**: untouched, so the same attempt (hence the same connection) survives a
//!   no-op reload or a reordering of the remote list;
//! - **updated**: settings that only matter when dialing (URLs of a named remote, TLS,
//!   `first_info_timeout`, `backoff`, `no_randomize`) apply from the next attempt while the
//!   live link stays;
//! - **restarted**: settings baked into a live session (local account or credentials of a
//!   named remote, `hub`, `deny_imports`/`deny_exports`, `backbone`) close the link and
//!   redial under a new remote generation.
//!
//! Identity follows [`RemoteConfig::identity`]: without a `name`, the URL list in
//! configured order is part of it, so reordering the URLs inside one unnamed remote is a
//! remove plus an add (the link bounces, as in nats-server); with a `name` it is an
//! in-place update.
//!
//! # Reconnect
//! After an attempt ends the remote waits `leafnodes.reconnect` (or its `backoff`, see
//! [`reconnect_delay`]), or [`ERROR_DELAY`] after a loop or permission
//! error, then dials the next URL of its rotation (gossiped `leafnode_urls` first,
//! configured ones after; see [`MAX_GOSSIPED_URLS`]). It never gives up: the count of
//! consecutive failed sessions is in [`RemoteStatus`] for whoever decides to.
//!
//! # Remote generations
//! Apart from attempt generations, each remote has a *remote generation* that changes only
//! when it is (re-)added, (re-)enabled or restarted. [`RemoteStatus`] exposes it with the
//! number of sessions registered within it, so a later module can tell "a reconnect within
//! the same remote generation" (a gap) from "the first connect of a fresh remote".
//!
//! # Call order
//! After every `new`, `handle_input`, `handle_timeout` and `reload`, drain
//! [`Remotes::poll_output`] until `None`, then sleep until [`Remotes::poll_timeout`] (if
//! any) and call [`Remotes::handle_timeout`]. Spurious or early `handle_timeout` calls are
//! harmless. Outputs come in a stable order (configuration order), and every random choice
//! comes from a `ChaCha8Rng` seeded by the caller, so one seed replays one run exactly.
//!
//! ```
//! use rejoin_core::config::{RemoteConfig, RemoteUrl};
//! use rejoin_core::remote::{RemoteInput, RemoteOutput, Remotes};
//! use rejoin_core::time::{Duration, Instant};
//!
//! let hub = RemoteConfig {
//!     urls: vec![RemoteUrl::parse("nats-leaf://hub:7422").unwrap()],
//!     ..RemoteConfig::default()
//! };
//! let now = Instant::ZERO;
//! let mut remotes = Remotes::new(&[hub], Duration::from_secs(1), 42, now);
//! let drain = |r: &mut Remotes| std::iter::from_fn(|| r.poll_output()).collect::<Vec<_>>();
//!
//! // Start: the remote is added and dials its URL.
//! let attempt = drain(&mut remotes)
//!     .iter()
//!     .find_map(|o| match o {
//!         RemoteOutput::Dial { attempt, url, .. } if url == "nats-leaf://hub:7422" => Some(*attempt),
//!         _ => None,
//!     })
//!     .expect("a dial");
//! remotes.handle_input(now, RemoteInput::Dialed { attempt });
//!
//! // The operator removes the remote while its handshake is still running: the attempt
//! // is cancelled at once, and nothing is left: no state, no timer.
//! remotes.reload(now, &[]).unwrap();
//! let out = drain(&mut remotes);
//! assert!(matches!(out[0], RemoteOutput::Close { attempt: a, .. } if a == attempt));
//! assert!(remotes.status().is_empty());
//! assert_eq!(remotes.poll_timeout(), None);
//!
//! // The handshake completes anyway (the shell had it queued): it is stale, so the
//! // connection is closed and never registered.
//! remotes.handle_input(now, RemoteInput::HandshakeDone { attempt, leafnode_urls: vec![] });
//! let out = drain(&mut remotes);
//! assert!(matches!(out[0], RemoteOutput::Close { attempt: a, .. } if a == attempt));
//! assert!(!out.iter().any(|o| matches!(o, RemoteOutput::Register { .. })));
//! ```

mod backoff;
mod machine;
mod url_list;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

pub use backoff::{reconnect_delay, ERROR_DELAY};
pub use machine::Remotes;
pub use url_list::MAX_GOSSIPED_URLS;

use crate::config::{RemoteConfig, RemoteId};
use crate::event::{CloseReason, Event};
use crate::time::{Duration, Instant};

/// A remote's slot in the machine's identity table. One identity keeps its index for the
/// machine's lifetime, across removal and re-adding (only the generations change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RemoteIndex(pub u32);

/// One attempt to connect a remote: its identity index and a generation unique within the
/// machine. Attempts of one machine compare in creation order by generation.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttemptId {
    remote: RemoteIndex,
    generation: u64,
}

impl AttemptId {
    pub(crate) fn new(remote: RemoteIndex, generation: u64) -> Self {
        AttemptId { remote, generation }
    }

    /// The remote the attempt belongs to (see [`Remotes::identity`]).
    pub fn remote(self) -> RemoteIndex {
        self.remote
    }

    /// The attempt's generation, unique per machine; also its number in events.
    pub fn generation(self) -> u64 {
        self.generation
    }
}

/// `r<index>#<generation>`, short enough for traces.
impl fmt::Debug for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}#{}", self.remote.0, self.generation)
    }
}

impl fmt::Display for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What the shell reports about an attempt. Every input names its attempt; inputs about
/// attempts that are no longer current are stale (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteInput {
    /// TCP (and TLS, when it comes first) connected; the handshake is starting.
    Dialed { attempt: AttemptId },
    /// The dial failed (refused, unreachable, timed out, TLS error).
    DialFailed { attempt: AttemptId, error: String },
    /// The hub's INFO / our CONNECT exchange completed; `leafnode_urls` is the hub's gossip.
    HandshakeDone {
        attempt: AttemptId,
        leafnode_urls: Vec<String>,
    },
    /// The link or the attempt ended (after `Dialed`; before it, report `DialFailed`).
    LinkClosed { attempt: AttemptId, reason: LinkEnd },
    /// The first PING/PONG round trip completed on this link: the session is healthy.
    PongSeen { attempt: AttemptId },
}

impl RemoteInput {
    /// The attempt the input is about.
    pub fn attempt(&self) -> AttemptId {
        match self {
            RemoteInput::Dialed { attempt }
            | RemoteInput::DialFailed { attempt, .. }
            | RemoteInput::HandshakeDone { attempt, .. }
            | RemoteInput::LinkClosed { attempt, .. }
            | RemoteInput::PongSeen { attempt } => *attempt,
        }
    }

    /// The input's name in events.
    pub fn kind(&self) -> &'static str {
        match self {
            RemoteInput::Dialed { .. } => "dialed",
            RemoteInput::DialFailed { .. } => "dial_failed",
            RemoteInput::HandshakeDone { .. } => "handshake_done",
            RemoteInput::LinkClosed { .. } => "link_closed",
            RemoteInput::PongSeen { .. } => "pong_seen",
        }
    }
}

/// Why a leafnode link or attempt ended, as the shell saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEnd {
    /// EOF or a read/write error.
    Io,
    /// PINGs went unanswered.
    Stale,
    /// No INFO within `first_info_timeout`, or the handshake otherwise timed out.
    HandshakeTimeout,
    /// The hub said `Loop detected for leafnode account=...` (waits [`ERROR_DELAY`]).
    LoopDetected,
    /// The hub reported a permissions violation (waits [`ERROR_DELAY`]).
    PermissionViolation,
    /// The hub has our cluster name (waits [`ERROR_DELAY`]).
    SameClusterName,
    /// The hub rejected our credentials.
    AuthViolation,
    /// The hub replaced this link with a newer one from the same server.
    Duplicate,
    /// The peer broke the protocol.
    ProtocolError,
    /// The shell closed it (a [`RemoteOutput::Close`], or shutdown).
    ClosedByUs,
}

impl LinkEnd {
    /// The name used in events.
    pub fn name(&self) -> &'static str {
        match self {
            LinkEnd::Io => "io",
            LinkEnd::Stale => "stale",
            LinkEnd::HandshakeTimeout => "handshake_timeout",
            LinkEnd::LoopDetected => "loop_detected",
            LinkEnd::PermissionViolation => "permission_violation",
            LinkEnd::SameClusterName => "same_cluster_name",
            LinkEnd::AuthViolation => "auth_violation",
            LinkEnd::Duplicate => "duplicate",
            LinkEnd::ProtocolError => "protocol_error",
            LinkEnd::ClosedByUs => "closed_by_us",
        }
    }

    /// Whether redialing soon would only repeat the same rejection.
    pub fn delays_reconnect(&self) -> bool {
        matches!(
            self,
            LinkEnd::LoopDetected | LinkEnd::PermissionViolation | LinkEnd::SameClusterName
        )
    }
}

/// What the machine asks the shell to do.
#[derive(Clone, Debug, PartialEq)]
pub enum RemoteOutput {
    /// Start `attempt`: dial `url` (unredacted, for the dialer only; events carry the
    /// redacted form), wait at most `first_info_timeout` for the hub's INFO, then run the
    /// handshake with `config` (account, credentials, `tls`, deny lists) as it was when the
    /// attempt started.
    Dial {
        attempt: AttemptId,
        url: String,
        remote: RemoteId,
        first_info_timeout: Duration,
        config: Arc<RemoteConfig>,
    },
    /// The handshake of `attempt` is accepted: the link may now carry interest and messages.
    Register { attempt: AttemptId },
    /// Cancel `attempt` if it is still dialing or handshaking, or close its link. Harmless
    /// if it has already ended.
    Close {
        attempt: AttemptId,
        reason: CloseReason,
    },
    /// Something happened (logs, monitoring, the simulator's event log).
    Event(Event),
}

/// Why a remote is waiting before its next dial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// The fixed `leafnodes.reconnect` interval.
    Interval,
    /// The remote's exponential backoff.
    Backoff,
    /// [`ERROR_DELAY`] after a loop, permission or cluster-name rejection.
    AfterError,
}

/// The label of [`Remotes::poll_timeout`]'s deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteTimer {
    /// `remote` dials again.
    Reconnect {
        remote: RemoteIndex,
        reason: WaitReason,
    },
}

/// Where a remote is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Configured with `disabled: true`: no attempt, no timer.
    Disabled,
    /// Sleeping before the next dial: only a deadline.
    Waiting { until: Instant, reason: WaitReason },
    /// `attempt` is dialing.
    Dialing { attempt: AttemptId },
    /// `attempt` connected and is exchanging INFO/CONNECT.
    Handshaking { attempt: AttemptId },
    /// `attempt` is registered and carries traffic.
    Connected { attempt: AttemptId },
}

impl LinkState {
    /// The current attempt, if one exists.
    pub fn attempt(&self) -> Option<AttemptId> {
        match self {
            LinkState::Dialing { attempt }
            | LinkState::Handshaking { attempt }
            | LinkState::Connected { attempt } => Some(*attempt),
            LinkState::Disabled | LinkState::Waiting { .. } => None,
        }
    }
}

/// One configured remote as `/leafz`, `/varz` and the simulator's invariants see it.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteStatus {
    pub index: RemoteIndex,
    pub id: RemoteId,
    /// The explicit `name`, if any.
    pub name: Option<String>,
    /// Configured URLs, redacted, in configured order.
    pub urls: Vec<String>,
    /// Local account (`$G` when unset).
    pub account: String,
    pub backbone: bool,
    pub state: LinkState,
    /// The URL of the current (or last) attempt, redacted.
    pub url: Option<String>,
    /// Changes only when the remote is (re-)added, (re-)enabled or restarted.
    pub remote_generation: u64,
    /// Sessions registered within the current remote generation.
    pub sessions_in_generation: u64,
    /// Attempts started within the current remote generation.
    pub attempts_in_generation: u64,
    /// Consecutive sessions that ended without a completed PING/PONG (0 while healthy).
    pub consecutive_failures: u32,
    /// Whether the current session completed a PING/PONG round trip.
    pub pong_seen: bool,
}

/// What a reload changed, by identity, each list in configuration order (removals in the
/// old order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    pub added: Vec<RemoteId>,
    pub removed: Vec<RemoteId>,
    pub enabled: Vec<RemoteId>,
    pub disabled: Vec<RemoteId>,
    /// Changed in place; the live link (if any) stays.
    pub updated: Vec<RemoteId>,
    /// Changed in a way that closed the live link and redialed.
    pub restarted: Vec<RemoteId>,
    /// Remotes left exactly as they were.
    pub unchanged: usize,
}

impl ReloadSummary {
    /// Whether the reload changed nothing.
    pub fn is_noop(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.enabled.is_empty()
            && self.disabled.is_empty()
            && self.updated.is_empty()
            && self.restarted.is_empty()
    }
}

/// Why a new remote list was rejected; nothing was applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    /// Two remotes have one identity. Shows redacted URLs only.
    #[error(
        "duplicate leafnode remote {identity}: remotes[{first}] (urls [{first_urls}]) and remotes[{second}] (urls [{second_urls}])",
        first_urls = .first_urls.join(", "),
        second_urls = .second_urls.join(", ")
    )]
    Duplicate {
        identity: String,
        first: usize,
        second: usize,
        first_urls: Vec<String>,
        second_urls: Vec<String>,
    },
    /// A remote without any URL.
    #[error("leafnode remote remotes[{index}] ({identity}) has no URL")]
    NoUrls { index: usize, identity: String },
}
