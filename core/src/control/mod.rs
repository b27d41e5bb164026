//! [`Control`]: the one lifecycle state machine of a server.
//!
//! Everything about a server's links that must be decided in one place, in one order,
//! lives here: the outbound leafnode remotes ([`Remotes`](crate::remote::Remotes): dials,
//! reconnects, reloads), the registry of accepted leafnode links ([`AcceptedLeafs`]:
//! duplicates), and the backbone broadcaster of each backbone remote
//! ([`Backbone`](crate::backbone::Backbone): gaps, buffering, replay, resync, health,
//! give-up). Those machines are the parts; `Control` composes them behind one vocabulary:
//!
//! ```text
//! Control::new(&config, seed, now)
//! control.handle_input(now, Input)      // what the world did
//! control.handle_timeout(now)           // spurious calls are harmless
//! control.poll_output() -> Option<Output>   // drain after every handle_*
//! control.poll_timeout() -> Option<(Instant, Reason)>
//! ```
//!
//! Composition is where the subsystems' races used to hide, so it is decided here rather
//! than in the shell: a backbone session starts exactly when its remote's attempt is
//! registered, a report about a stale attempt counts for nothing in the backbone either,
//! and a reload is validated whole (restart-only keys, remote identities) before any part
//! of it is applied.
//!
//! Presence is not in here on purpose: its guarantee is about the order in which events
//! reach subscribers, which the shell gets by performing the
//! [`PresenceRegistry`](crate::presence::PresenceRegistry)'s outputs under the same lock
//! that decided them, in the connection task that caused them. Per-connection protocol
//! state ([`ClientSession`](crate::session::ClientSession),
//! [`LeafSession`](crate::leaf::LeafSession)) lives in each connection's task for the
//! same reason the data plane does: it must not wait for a control task.
//!
//! # Example
//!
//! ```
//! use rejoin_core::conf::MemSource;
//! use rejoin_core::config::Config;
//! use rejoin_core::control::{Control, Input, Output};
//! use rejoin_core::remote::RemoteInput;
//! use rejoin_core::time::{Duration, Instant};
//!
//! let text = r#"leafnodes { remotes: [ { url: "nats-leaf://hub:7422" } ] }"#;
//! let config = Config::parse(text, "leaf.conf", &MemSource::new()).unwrap();
//! let mut control = Control::new(&config, 7, Instant::ZERO);
//!
//! // The remote dials at once (events for logs and monitoring come along).
//! let (attempt, url) = std::iter::from_fn(|| control.poll_output())
//!     .find_map(|o| match o {
//!         Output::Dial { attempt, url, .. } => Some((attempt, url)),
//!         _ => None,
//!     })
//!     .expect("a dial");
//! assert_eq!(url, "nats-leaf://hub:7422");
//!
//! // The dial fails: the remote waits for `leafnodes.reconnect` (1s), then dials again.
//! let now = Instant::ZERO + Duration::from_millis(5);
//! let error = "connection refused".to_string();
//! control.handle_input(now, Input::Remote(RemoteInput::DialFailed { attempt, error }));
//! while control.poll_output().is_some() {}
//! let (due, _reason) = control.poll_timeout().unwrap();
//! control.handle_timeout(due);
//! assert!(std::iter::from_fn(|| control.poll_output())
//!     .any(|o| matches!(o, Output::Dial { .. })));
//! ```

mod accepted;
mod machine;
mod reload;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use accepted::{AcceptedLeafs, Admission, LeafKey};
pub use machine::{BackboneView, Control};
pub use reload::{restart_required, RestartRequired};

use crate::backbone::{BackboneOutput, BackboneTimer, Buffered, LinkId, Message};
use crate::config::{Config, RemoteConfig, RemoteId};
use crate::event::{Cid, CloseReason, Event};
use crate::remote::{AttemptId, ReloadSummary, RemoteIndex, RemoteInput, RemoteTimer};
use crate::time::{Duration, Instant};

/// What the shell reports to the control machine.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The configuration file was read again. Applied whole or not at all: the answer is
    /// an [`Output::Reloaded`] or an [`Output::ReloadRefused`], ahead of any output the
    /// reload causes.
    Reload(Box<Config>),
    /// Something happened to an outbound attempt or link (stale reports are recognised by
    /// the attempt's generation and count for nothing).
    Remote(RemoteInput),
    /// An accepted leafnode link finished its handshake.
    LeafReady { cid: Cid, key: LeafKey },
    /// An accepted leafnode link ended (registered or not).
    LeafClosed { cid: Cid },
    /// A backbone link's task is ending: sent by that task before the link's interest
    /// leaves the account, so that publishes are held from now on. The attempt's
    /// [`Input::Remote`] `LinkClosed` follows.
    BackboneLinkLost {
        remote: RemoteIndex,
        link: LinkId,
        silent: bool,
    },
    /// Bytes from the hub were last seen at `at` on `link` (the silence watchdog's input;
    /// reporting it when the watchdog is due is enough).
    BackboneHeard {
        remote: RemoteIndex,
        link: LinkId,
        at: Instant,
    },
    /// A local publish the hub wanted, while [`Control::holds`] says the remote is holding.
    BackboneOffer { remote: RemoteIndex, msg: Message },
    /// What became of an [`BackboneOutput::Flush`]: `sent` entries went out, `rest` (in
    /// order) did not; `failed` if the link could not take them.
    BackboneFlushed {
        remote: RemoteIndex,
        sent: u64,
        rest: Vec<Buffered>,
        failed: bool,
    },
}

/// What the control machine asks the shell to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// The answer to [`Input::Reload`]: applied; the shell applies its own settings now.
    Reloaded(ReloadSummary),
    /// The answer to [`Input::Reload`]: nothing changed, because of `error`.
    ReloadRefused { error: String },
    /// Start `attempt`: dial `url` (unredacted, for the dialer only), wait at most
    /// `first_info_timeout` for the hub's INFO, then handshake with `config` as it was when
    /// the attempt started.
    Dial {
        attempt: AttemptId,
        url: String,
        remote: RemoteId,
        first_info_timeout: Duration,
        config: Arc<RemoteConfig>,
    },
    /// The handshake of `attempt` is accepted: the link may now carry interest and
    /// messages. `backbone`: the link is its backbone remote's session (already started in
    /// the backbone machine).
    Register { attempt: AttemptId, backbone: bool },
    /// Cancel `attempt` if it is still dialing or handshaking, or close its link.
    Close {
        attempt: AttemptId,
        reason: CloseReason,
    },
    /// Register the accepted leafnode link `cid`.
    RegisterLeaf { cid: Cid },
    /// Close the accepted leafnode link `cid` (a duplicate).
    CloseLeaf { cid: Cid, reason: CloseReason },
    /// What the backbone remote `remote` asks for (never `Event`: those come as
    /// [`Output::Event`]).
    Backbone {
        remote: RemoteIndex,
        output: BackboneOutput,
    },
    /// Something happened (logs, monitoring, the simulator's event log).
    Event(Event),
}

/// Why [`Control::poll_timeout`]'s deadline is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A remote dials again.
    Remote(RemoteTimer),
    /// A backbone remote's timer.
    Backbone {
        remote: RemoteIndex,
        timer: BackboneTimer,
    },
}
