//! Presence and relay: which peer ids are online, announced in an order every subscriber can
//! trust, and directed delivery to the current session of an id (design.md §6, incident 2).
//!
//! A client whose CONNECT carries a peer id (its `name`, or its user with `id_from: user`)
//! in a participating account is a *presence session*. [`PresenceRegistry`] is the sans-I/O
//! state of one server's sessions; the shell feeds it connects, session ends, publishes
//! under the presence and relay prefixes, and presence events arriving over leafnode links,
//! and performs what it asks for as [`PresenceOutput`] values: publish an event into an
//! account, close a connection with an `-ERR`, answer a state request.
//!
//! # Guarantees, and how the registry keeps them
//! - **Epochs.** Every session of an id gets a strictly larger [`Epoch`] than any session of
//!   that id this server has issued or heard of. An epoch is a pair (counter, server id),
//!   compared in that order; the counter is a hybrid logical clock: `max(clock + 1,
//!   physical)`, where `clock` is the largest counter issued or observed in a remote event
//!   (Lamport) and `physical` is the wall-clock time in microseconds (the caller passes the
//!   wall time at start; the core adds its own `now`). The Lamport part makes a session that
//!   starts on server B after B heard of A's session newer than A's; the physical part keeps
//!   epochs increasing across a restart, which loses the clock. Two sessions started
//!   concurrently on two servers that had not heard of each other are ordered by the server
//!   id: arbitrary but the same everywhere.
//! - **Takeover.** A new session for an id that is live here closes the old connection
//!   (`-ERR`), then the replacer itself emits offline(old) and online(new), in that order,
//!   before anything else about the id (2A). The old session's own cleanup, whenever it runs,
//!   removes the entry only if it still holds it (delete-if-mine, 2C) and emits nothing
//!   otherwise (2B). A second takeover of an id within `takeover_backoff` is refused: the
//!   *new* connection gets the `-ERR` and the fight is counted.
//! - **What subscribers see.** Every event this server publishes about an id passes through
//!   that id's *view* (the last event delivered here). An event not newer than the view, by
//!   (epoch, online < offline), is dropped; an online over an online view is preceded by a
//!   synthesized offline of the viewed session; an offline of a session never announced here
//!   repairs the view instead of repeating "offline". So the stream for an id alternates,
//!   orders sessions by epoch and ends in the registry's belief. Because the shell publishes
//!   while holding the registry's lock, that stream reaches each subscriber's ordinary FIFO
//!   in exactly this order: nothing is batched or split by type.
//! - **Across servers.** Events are ordinary messages and cross leafnode links; each server
//!   feeds the ones it receives through [`PresenceRegistry::handle_link_message`] and
//!   republishes only what its view accepts. A newer remote session of an id held here closes
//!   the local one (takeover across servers). A lost link is *not* repaired: sessions behind
//!   it stay in the view until the next event about them.
//!
//! # Subjects (with the default prefixes)
//! - `$PRESENCE.<id>.online`, `$PRESENCE.<id>.offline`: events, JSON
//!   `{"id","epoch","server","cid","reason"}` ([`PresenceEvent`]). Clients may not publish
//!   them.
//! - `$PRESENCE.<id>.state` (request): the view of one id; `$PRESENCE.list` (request): every
//!   id the view has online. Answered by the server the requester is connected to.
//! - `$RELAY.<id>.<anything>`: delivered only to subscriptions of the id's current session
//!   (which subscribes to `$RELAY.<id>.>` like any subscription), forwarded over links when
//!   the session is on another server, and to nobody while the id is offline (requests then
//!   get no-responders).
//!
//! Call order: after every `handle_*`, drain [`PresenceRegistry::poll_output`] and perform
//! the outputs in order (publishes must reach subscribers' buffers before the next
//! `handle_*` call's publishes).

mod registry;
mod wire;

#[cfg(test)]
mod tests;

pub use registry::{PresenceRegistry, PresenceStats};
pub use wire::{Epoch, EventKind, PresenceEvent, WireError};

use crate::event::{Cid, CloseReason, Event};

/// Whether `id` can be a peer id: one literal subject token (no `.`, no whitespace, not a
/// wildcard), so that `<prefix>.<id>.online` is a literal subject.
pub fn is_valid_id(id: &str) -> bool {
    crate::subject::is_valid_token(id) && id != "*" && id != ">"
}

/// The `-ERR` text for a CONNECT whose peer id is not a valid subject token.
pub const ERR_INVALID_ID: &str = "'Invalid Presence Id'";

/// A client's CONNECT, as far as presence cares.
#[derive(Clone, Copy, Debug)]
pub struct Connect<'a> {
    /// The connection.
    pub cid: Cid,
    /// The account it is bound to.
    pub account: &'a str,
    /// CONNECT `name`.
    pub name: Option<&'a str>,
    /// The authenticated user.
    pub user: Option<&'a str>,
}

/// What the shell must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PresenceOutput {
    /// Publish `event` into `account` as an ordinary message (subject
    /// [`PresenceEvent::subject`], payload [`PresenceEvent::payload`]): to local subscribers
    /// and to leafnode links with interest, except the link a remote event came from.
    Publish {
        /// The account.
        account: String,
        /// The event.
        event: PresenceEvent,
    },
    /// Queue `-ERR <text>` on connection `cid`, then close it with `reason`.
    Close {
        /// The connection.
        cid: Cid,
        /// The error text, quotes included.
        text: String,
        /// Why.
        reason: CloseReason,
    },
    /// Publish `payload` to `reply` in `account`: the answer to a state request.
    Reply {
        /// The account.
        account: String,
        /// The requester's reply subject.
        reply: String,
        /// JSON.
        payload: Vec<u8>,
    },
    /// For logs, monitoring and the simulator's event log.
    Event(Event),
}

/// Where a relay message may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayTarget {
    /// Only to subscriptions of this local connection (the id's current session).
    Local(Cid),
    /// Only to leafnode links: the current session is on another server.
    Links,
    /// To nobody: the id is offline (or the subject names no id).
    Nobody,
}

/// What to do with a message a client published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientPublish {
    /// Not presence business: route it normally.
    Route,
    /// Refuse it with `-ERR <text>`; the connection stays open (a forged presence event).
    Refuse(String),
    /// Consumed (a state request; its answer is in the outputs).
    Answered,
    /// A relay message: route it only to this target.
    Relay(RelayTarget),
}

/// What to do with a message that arrived over a leafnode link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkPublish {
    /// Not presence business: route it normally.
    Route,
    /// A presence event, fed to the registry: do not route the original; publish the
    /// outputs instead (they are what this server's view accepted, possibly with a repair).
    Consumed,
    /// A relay message: route it only to this target.
    Relay(RelayTarget),
}
