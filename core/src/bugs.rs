//! Bug switches: historical bugs that can be switched back on, so that every incident
//! scenario in the simulator has a negative control that must fail.
//!
//! The switches exist only when the `bug-switches` cargo feature is enabled (the simulator
//! and test builds). In a production build [`BugSet`] is empty and [`BugSet::has`] is a
//! constant `false`, so the buggy branches compile away.

use std::fmt;
use std::str::FromStr;

/// One historical bug. Names are stable: scenario files refer to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BugSwitch {
    /// The server never PINGs clients, so a silently partitioned client is never detected.
    NoServerPing,
    /// Operations pipelined in the same read as CONNECT are dropped (breaks client
    /// resubscription after a reconnect, which pipelines CONNECT, SUBs and PING).
    DropPipelinedAfterConnect,
    /// A presence takeover does not announce the replaced session's end: subscribers see
    /// online, online (incident 2A, before netbird PR #4791).
    PresenceNoOfflineOnReplace,
    /// A replaced presence session's late cleanup announces its end anyway, after the new
    /// session's online (incident 2B, before netbird PR #4174).
    PresenceLateOffline,
    /// A presence session's cleanup removes its id's entry even when a newer session holds
    /// it (incident 2C, before netbird PR #2405).
    PresenceDeleteById,
    /// Disabling or removing a leafnode remote does not cancel its sleeping or in-flight
    /// attempt, which later dials or registers anyway (incident 1, timelines 1A/1B).
    LeafReloadNoCancel,
    /// A reload whose new remote list is empty is treated as "no change" (incident 1C).
    LeafRemoveAllNoop,
    /// A leafnode attempt is registered when its handshake completes even if it is no
    /// longer its remote's current attempt (incident 1B's missing validity check).
    LeafStaleRegister,
    /// The URL list is shuffled and rotated in place on the remote's configuration instead
    /// of a private copy, so the next reload's diff sees an identity change nobody made and
    /// bounces the link (nats-server #2273, fixed by #2274).
    LeafShuffleInPlace,
    /// A reload that removes a connected remote closes its link without marking it "no
    /// reconnect", so the link's close starts a reconnect of the removed remote (the
    /// `noReconnect` that nats-server PR #7937 sets before closing).
    LeafRemoveReconnects,
    /// After a link closes, "connect in progress" is set by the reconnect task when it
    /// starts instead of by the close path, so a reload landing in between sees nothing in
    /// progress and starts a second task (incident 1, review of nats-server PR #7937).
    LeafInProgressLate,
    /// A named remote's in-place URL edit updates its configuration but not its private
    /// dial list: reconnects keep dialing the old URLs (the #2273 family).
    LeafStaleUrlCopy,
    /// A hub refuses a leaf that reconnects from the same server and account while it
    /// still holds the old, half-open link, instead of replacing the old one (before
    /// nats-server PR #1607).
    LeafHubRefusesDuplicate,
    /// Losing the backbone closes every local client, again and again while it is down
    /// (incident 4A's storm).
    BackboneDropClientsOnLoss,
    /// The first connect of a fresh backbone remote (re-added, restarted) counts as a gap
    /// when any session ever existed, so it resyncs (incident 4, F1).
    BackboneGapOnFirstConnect,
    /// A gap whose reconnect comes while the previous recovery's announcement is pending
    /// is skipped: its buffer is never flushed and no resync covers it (incident 4, F2).
    BackboneSkipGapDuringRecovery,
    /// A backbone session that connects and closes without a PING/PONG resets the failure
    /// count, so `max_reconnect_attempts` never trips on a flapping hub (incident 4, F3).
    BackboneFlapResetsGiveUp,
    /// Requeueing the unsent tail of a partial flush into a full buffer evicts the newest
    /// entries instead of the oldest (incident 4, F5).
    BackboneRequeueEvictsNewest,
    /// Every recovery announces a resync at once: no cooldown, no coalescing (incident 4, F6).
    BackboneNoResyncCooldown,
    /// No silence watchdog and no fast PINGs on backbone links: a half-open backbone is
    /// never detected (#946).
    BackboneNoSilenceWatchdog,
    /// `/healthz` says ok whatever the backbone does (incident 4B).
    BackboneHealthzAlwaysOk,
    /// Messages for the hub published during a backbone gap are dropped instead of
    /// buffered: the pre-fix broadcaster had no replay (incident 4C).
    BackboneNoReplay,
}

impl BugSwitch {
    /// Every switch, in a stable order.
    pub const ALL: &'static [BugSwitch] = &[
        BugSwitch::NoServerPing,
        BugSwitch::DropPipelinedAfterConnect,
        BugSwitch::PresenceNoOfflineOnReplace,
        BugSwitch::PresenceLateOffline,
        BugSwitch::PresenceDeleteById,
        BugSwitch::LeafReloadNoCancel,
        BugSwitch::LeafRemoveAllNoop,
        BugSwitch::LeafStaleRegister,
        BugSwitch::LeafShuffleInPlace,
        BugSwitch::LeafRemoveReconnects,
        BugSwitch::LeafInProgressLate,
        BugSwitch::LeafStaleUrlCopy,
        BugSwitch::LeafHubRefusesDuplicate,
        BugSwitch::BackboneDropClientsOnLoss,
        BugSwitch::BackboneGapOnFirstConnect,
        BugSwitch::BackboneSkipGapDuringRecovery,
        BugSwitch::BackboneFlapResetsGiveUp,
        BugSwitch::BackboneRequeueEvictsNewest,
        BugSwitch::BackboneNoResyncCooldown,
        BugSwitch::BackboneNoSilenceWatchdog,
        BugSwitch::BackboneHealthzAlwaysOk,
        BugSwitch::BackboneNoReplay,
    ];

    /// The name used in scenario files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            BugSwitch::NoServerPing => "no-server-ping",
            BugSwitch::DropPipelinedAfterConnect => "drop-pipelined-after-connect",
            BugSwitch::PresenceNoOfflineOnReplace => "presence-no-offline-on-replace",
            BugSwitch::PresenceLateOffline => "presence-late-offline",
            BugSwitch::PresenceDeleteById => "presence-delete-by-id",
            BugSwitch::LeafReloadNoCancel => "leaf-reload-no-cancel",
            BugSwitch::LeafRemoveAllNoop => "leaf-remove-all-noop",
            BugSwitch::LeafStaleRegister => "leaf-stale-register",
            BugSwitch::LeafShuffleInPlace => "leaf-shuffle-in-place",
            BugSwitch::LeafRemoveReconnects => "leaf-remove-reconnects",
            BugSwitch::LeafInProgressLate => "leaf-in-progress-late",
            BugSwitch::LeafStaleUrlCopy => "leaf-stale-url-copy",
            BugSwitch::LeafHubRefusesDuplicate => "leaf-hub-refuses-duplicate",
            BugSwitch::BackboneDropClientsOnLoss => "backbone-drop-clients-on-loss",
            BugSwitch::BackboneGapOnFirstConnect => "backbone-gap-on-first-connect",
            BugSwitch::BackboneSkipGapDuringRecovery => "backbone-skip-gap-during-recovery",
            BugSwitch::BackboneFlapResetsGiveUp => "backbone-flap-resets-give-up",
            BugSwitch::BackboneRequeueEvictsNewest => "backbone-requeue-evicts-newest",
            BugSwitch::BackboneNoResyncCooldown => "backbone-no-resync-cooldown",
            BugSwitch::BackboneNoSilenceWatchdog => "backbone-no-silence-watchdog",
            BugSwitch::BackboneHealthzAlwaysOk => "backbone-healthz-always-ok",
            BugSwitch::BackboneNoReplay => "backbone-no-replay",
        }
    }

    /// What the bug did, for `rejoin-sim bugs`.
    pub fn description(self) -> &'static str {
        match self {
            BugSwitch::NoServerPing => {
                "server never sends PINGs: half-open and partitioned clients are never detected"
            }
            BugSwitch::DropPipelinedAfterConnect => {
                "SUB/UNSUB/PUB pipelined in the same read as CONNECT are dropped (PING is still answered): resubscription after reconnect is silently lost"
            }
            BugSwitch::PresenceNoOfflineOnReplace => {
                "a presence takeover emits online(new) without offline(old): subscribers keep a stale session"
            }
            BugSwitch::PresenceLateOffline => {
                "a replaced presence session's late cleanup emits offline after the new session's online"
            }
            BugSwitch::PresenceDeleteById => {
                "a replaced presence session's cleanup deletes the newer session's entry and announces it offline"
            }
            BugSwitch::LeafReloadNoCancel => {
                "disabling or removing a leaf remote leaves its sleeping or in-flight attempt running: duplicate leaf connections"
            }
            BugSwitch::LeafRemoveAllNoop => {
                "a reload that removes every leaf remote is treated as no change: the old links stay up"
            }
            BugSwitch::LeafStaleRegister => {
                "a leaf attempt that finishes its handshake after its remote was removed is still registered"
            }
            BugSwitch::LeafShuffleInPlace => {
                "a remote's URLs are shuffled and rotated in place on its configuration (nats-server #2273): a no-op or reordering reload sees a change and bounces the link"
            }
            BugSwitch::LeafRemoveReconnects => {
                "removing a connected remote closes its link without no-reconnect: the close starts a reconnect of the removed remote, which dials once its identity is back"
            }
            BugSwitch::LeafInProgressLate => {
                "connect-in-progress is set by the reconnect task, not by the close path: a disable/enable landing in between starts a second attempt"
            }
            BugSwitch::LeafStaleUrlCopy => {
                "a named remote's URL edit is not copied into its private dial list: reconnects keep dialing the old URLs"
            }
            BugSwitch::LeafHubRefusesDuplicate => {
                "a hub refuses a reconnecting leaf from the same server and account while it holds the half-open old link (before nats-server PR #1607)"
            }
            BugSwitch::BackboneDropClientsOnLoss => {
                "losing the backbone link closes every local client, repeatedly while it is down: a reconnect storm"
            }
            BugSwitch::BackboneGapOnFirstConnect => {
                "the first connect of a re-added or restarted backbone remote is taken for a gap: a spurious resync"
            }
            BugSwitch::BackboneSkipGapDuringRecovery => {
                "a gap that reconnects while the previous resync is pending is skipped: its buffer is never flushed"
            }
            BugSwitch::BackboneFlapResetsGiveUp => {
                "a backbone connect that closes before any PING/PONG resets the failure count: max_reconnect_attempts never trips"
            }
            BugSwitch::BackboneRequeueEvictsNewest => {
                "requeueing a partial flush into a full replay buffer evicts the newest messages instead of the oldest"
            }
            BugSwitch::BackboneNoResyncCooldown => {
                "every backbone recovery announces a resync at once: no cooldown, a flapping hub recycles clients each time"
            }
            BugSwitch::BackboneNoSilenceWatchdog => {
                "a connected but silent backbone link is never declared dead: half-open links wedge the broadcaster"
            }
            BugSwitch::BackboneHealthzAlwaysOk => {
                "/healthz reports ok even when the backbone gave up or is silent"
            }
            BugSwitch::BackboneNoReplay => {
                "messages published during a backbone gap are lost: no buffer, no replay (the fleet splits)"
            }
        }
    }

    fn bit(self) -> u64 {
        1 << (self as u64)
    }
}

impl fmt::Display for BugSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for an unknown switch name.
#[derive(Debug, thiserror::Error)]
#[error("unknown bug switch {0:?} (see `rejoin-sim bugs`)")]
pub struct UnknownBug(pub String);

impl FromStr for BugSwitch {
    type Err = UnknownBug;
    fn from_str(s: &str) -> Result<Self, UnknownBug> {
        BugSwitch::ALL
            .iter()
            .copied()
            .find(|b| b.name() == s)
            .ok_or_else(|| UnknownBug(s.to_string()))
    }
}

/// The set of switched-on bugs for one server instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BugSet {
    #[cfg_attr(not(feature = "bug-switches"), allow(dead_code))]
    bits: u64,
}

impl BugSet {
    /// No bugs: the fixed behaviour.
    pub const NONE: BugSet = BugSet { bits: 0 };

    /// Switch `bug` on. Without the `bug-switches` feature this is ignored.
    pub fn with(mut self, bug: BugSwitch) -> Self {
        if cfg!(feature = "bug-switches") {
            self.bits |= bug.bit();
        }
        self
    }

    /// Whether `bug` is switched on (always false in production builds).
    #[inline]
    pub fn has(&self, bug: BugSwitch) -> bool {
        cfg!(feature = "bug-switches") && self.bits & bug.bit() != 0
    }

    /// Switched-on bugs, in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = BugSwitch> + '_ {
        BugSwitch::ALL.iter().copied().filter(|b| self.has(*b))
    }
}

#[cfg(all(test, feature = "bug-switches"))]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for b in BugSwitch::ALL {
            assert_eq!(b.name().parse::<BugSwitch>().unwrap(), *b);
        }
        let set = BugSet::NONE.with(BugSwitch::NoServerPing);
        assert!(set.has(BugSwitch::NoServerPing));
        assert!(!set.has(BugSwitch::DropPipelinedAfterConnect));
    }
}
