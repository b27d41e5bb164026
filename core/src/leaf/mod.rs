//! Leafnode links: the protocol state of one leafnode connection, in either role, without I/O.
//!
//! A leafnode link joins two servers over one TCP connection bound to one account on each
//! side. The side that dialed (a `leafnodes { remotes }` entry) is the *soliciting* side,
//! normally the leaf; the side that accepted on its leafnode port is normally the hub
//! (`hub: true` on the remote swaps the hub/spoke relation, not the handshake). A
//! [`LeafSession`] runs that handshake and the steady state for one connection, in the same
//! style as [`crate::session::ClientSession`]: the connection task parses operations with
//! [`crate::proto::parse`] in [`crate::proto::Dialect::Leaf`], hands each one to
//! [`LeafSession::handle_op`], drains [`LeafSession::take_outbox`], then acts on the
//! [`LeafStep`].
//!
//! Handshake (nats-protocol.md §2.1, §2.4), as nats-server 2.9 runs it:
//! ```text
//! accepting side (Role::Accept)              soliciting side (Role::Solicit)
//!   INFO {client_id, leafnode_urls,   ──►    (waits ≤ 1 s for it; TLS here if asked)
//!         info_on_connect:true, ..}
//!                                     ◄──    CONNECT {name, cluster, headers, ..}
//!   [Ready → control plane → registered]
//!   INFO {connect_info:true,          ──►    [Ready → control plane → registered]
//!         remote_account}, LS+ dump
//!                                     ◄──    LS+ dump
//!   PING/PONG both ways from ~1 s on, then every ping_interval
//! ```
//!
//! Interest and messages then flow both ways as `LS+`/`LS-` and `LMSG`/`HMSG`. The session
//! only translates: it never decides what interest to announce. Propagation rules live in
//! the data plane, which must respect two invariants this module cannot check on its own
//! (§2.6, gotcha 8):
//! - never send a link the interest that link itself announced (no reflection); and
//! - in particular never send a link its peer's `$LDS.` subject: the peer reads that as a
//!   loop and drops the link for 30 s. As a last line of defence [`LeafSession::send_interest`]
//!   drops `$LDS.` subjects this link's peer announced, but only the data plane knows the
//!   origin of everything else.
//!
//! Call order (spurious calls are harmless):
//! - after each parsed op: `handle_op`, `take_outbox`, then act on the step; after a
//!   [`LeafStep::Ready`], call [`LeafSession::registered`] (or [`LeafSession::close`])
//!   *before* feeding the next op, because the peer's interest dump follows at once and
//!   loop detection needs the account's `$LDS.` subject;
//! - after [`LeafStep::StartTls`]: upgrade the socket, then [`LeafSession::tls_established`];
//! - after a parse error: `handle_proto_error`, `take_outbox`, close;
//! - when `poll_timeout`'s deadline passes: `handle_timeout`, `take_outbox`, then check
//!   `close_reason`.

mod creds;
mod perms;
mod session;

#[cfg(test)]
mod pair;
#[cfg(test)]
mod replay_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::auth::{Authenticator, Permissions, GLOBAL_ACCOUNT};
use crate::event::{Cid, CloseReason};
use crate::proto::Queues;
use crate::sublist::InterestChange;
use crate::time::Duration;

pub use creds::{base64url, CredsError, UserCreds};
pub use perms::{LinkPermissions, PeerInterest};
pub use session::LeafSession;

/// Which end of the link we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We dialed the peer's leafnode port (a configured remote).
    Solicit,
    /// The peer dialed our leafnode port.
    Accept,
}

/// Version written in our leafnode CONNECT. A hub with `min_version` compares it, so it
/// names the nats-server release whose leafnode protocol we speak, not our own version.
pub const COMPAT_VERSION: &str = "2.9.10";

/// How long a soliciting nats-server waits for the hub's first INFO (DEFAULT_LEAFNODE_INFO_WAIT).
pub const DEFAULT_FIRST_INFO_TIMEOUT: Duration = Duration::from_secs(1);

/// How long the soliciting side waits for the `connect_info` INFO after its CONNECT when
/// the hub promised one (`info_on_connect`); nats-server's connectProcessTimeout.
pub const CONNECT_INFO_TIMEOUT: Duration = Duration::from_secs(2);

/// Default time the accepting side allows for CONNECT (leafnodes authorization timeout).
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Servers ping each other early: the first PING goes out after `min(ping_interval, 1 s)`
/// (plus jitter) instead of the 2 s used for clients.
pub const FIRST_PING: Duration = Duration::from_secs(1);

/// Liveness settings of a link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PingConfig {
    /// Interval between PINGs after the first (server `ping_interval`, default 2 min).
    pub interval: Duration,
    /// Unanswered PINGs tolerated before `'Stale Connection'` (server `ping_max`, default 2).
    pub max_outstanding: u32,
    /// Fraction in `[0, 0.2)` added to the first PING's delay, drawn by the caller from its
    /// seeded RNG, so that links coming up together do not ping in lockstep.
    pub first_jitter: f64,
}

impl Default for PingConfig {
    fn default() -> Self {
        PingConfig {
            interval: Duration::from_secs(120),
            max_outstanding: 2,
            first_jitter: 0.0,
        }
    }
}

/// Settings of a link we dial (one `leafnodes.remotes` entry and the server around it).
#[derive(Clone, Debug)]
pub struct SolicitConfig {
    /// Connection id (for events).
    pub cid: Cid,
    /// Our server name; the hub uses it to detect duplicate leafs.
    pub server_name: String,
    /// Our server id.
    pub server_id: String,
    /// Our cluster name; `None` sends the server name, as nats-server does for a server
    /// with remotes and no cluster block.
    pub cluster: Option<String>,
    /// Local account this remote is bound to (remote `account`, default `$G`).
    pub account: Arc<str>,
    /// CONNECT `version` (see [`COMPAT_VERSION`]).
    pub version: String,
    /// Credentials: `user:pass` from the remote URL, else the remote's user/password.
    pub user: Option<String>,
    /// Password going with `user`.
    pub pass: Option<String>,
    /// Remote `credentials`: the user JWT and the seed that signs the hub's nonce. Takes
    /// precedence over `user`/`pass`, as in nats-server.
    pub creds: Option<Arc<UserCreds>>,
    /// Remote `hub: true`: we declare ourselves the hub of this link.
    pub is_hub: bool,
    /// Remote `deny_imports`, sent as CONNECT `deny_pub`; we also never announce interest
    /// in these subjects.
    pub deny_pub: Vec<String>,
    /// Remote `deny_exports`: messages on these subjects are never sent to the hub.
    pub deny_exports: Vec<String>,
    /// The remote demands TLS (a `tls` block or a `tls://` URL) even if the hub's INFO does not.
    pub tls: bool,
    /// How long to wait for the hub's INFO.
    pub first_info_timeout: Duration,
    /// Liveness.
    pub ping: PingConfig,
}

impl SolicitConfig {
    /// Settings with nats-server's defaults for everything but the server's identity.
    pub fn new(cid: Cid, server_name: impl Into<String>, server_id: impl Into<String>) -> Self {
        SolicitConfig {
            cid,
            server_name: server_name.into(),
            server_id: server_id.into(),
            cluster: None,
            account: Arc::from(GLOBAL_ACCOUNT),
            version: COMPAT_VERSION.to_string(),
            user: None,
            pass: None,
            creds: None,
            is_hub: false,
            deny_pub: Vec::new(),
            deny_exports: Vec::new(),
            tls: false,
            first_info_timeout: DEFAULT_FIRST_INFO_TIMEOUT,
            ping: PingConfig::default(),
        }
    }
}

/// Settings of a link a peer dialed (our `leafnodes` listener).
#[derive(Clone, Debug)]
pub struct AcceptConfig {
    /// Connection id; also written as the INFO `client_id` (a nats-server leaf refuses 0).
    pub cid: Cid,
    /// `leafnodes { authorization }`: one user/password/account, or `users`, each bound to
    /// an account. Without users every leaf is bound to `$G` whatever it presents.
    pub auth: Arc<Authenticator>,
    /// Time allowed for CONNECT (authorization `timeout`, default 2 s).
    pub auth_timeout: Duration,
    /// Our cluster name, if we have one: a leaf with the same one is refused.
    pub cluster_name: Option<String>,
    /// Liveness.
    pub ping: PingConfig,
}

impl AcceptConfig {
    /// Settings with nats-server's defaults.
    pub fn new(cid: Cid, auth: Arc<Authenticator>) -> Self {
        AcceptConfig {
            cid,
            auth,
            auth_timeout: DEFAULT_AUTH_TIMEOUT,
            cluster_name: None,
            ping: PingConfig::default(),
        }
    }
}

/// A completed handshake, for the control plane to register (or refuse) the link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkReady {
    /// Which end we are.
    pub role: Role,
    /// Connection id.
    pub cid: Cid,
    /// Our account this link is bound to: the remote's configured account (Solicit) or the
    /// account the leaf authenticated into (Accept).
    pub account: Arc<str>,
    /// Peer's server name: the hub's INFO `server_name` (its id when empty), or the leaf's
    /// CONNECT `name`. Duplicate detection keys on it (with `remote_cluster` and `account`).
    pub remote_name: String,
    /// Peer's server id, when it sent one.
    pub remote_id: Option<String>,
    /// Peer's cluster name (CONNECT `cluster`, or hub INFO `cluster`).
    pub remote_cluster: Option<String>,
    /// The peer is the hub of this link and we its spoke. A spoke forwards only local
    /// interest to its hub and never passes what a hub sent on to another hub.
    pub remote_is_hub: bool,
    /// Both ends understand header messages (`HMSG`); otherwise headers must be stripped,
    /// which [`LeafSession::send_msg`] does.
    pub headers: bool,
    /// Solicit: URLs the hub advertised (`leafnode_urls`), to try before the configured
    /// ones on reconnect. Empty for Accept.
    pub leafnode_urls: Vec<String>,
    /// Solicit: the account the hub bound us to (INFO `remote_account`).
    pub remote_account: Option<String>,
    /// Accept: the authenticated user, if any.
    pub user: Option<String>,
    /// Permissions on this link: Accept, the leaf user's; Solicit, the hub's INFO
    /// `export` (publish) and `import` (subscribe) blocks, which the leaf applies locally.
    pub permissions: Option<Arc<Permissions>>,
    /// Accept: subjects the leaf refuses to receive (CONNECT `deny_pub`, its `deny_imports`).
    pub deny_pub: Vec<String>,
    /// What the link may carry, all of the above combined (see [`LinkPermissions`]); `None`
    /// when unrestricted. The data plane filters the messages it sends with
    /// [`LinkPermissions::may_send`]; interest goes through the session, which filters it.
    pub link_permissions: Option<Arc<LinkPermissions>>,
}

/// What the data plane must do after an operation.
#[derive(Debug, PartialEq, Eq)]
pub enum LeafStep<'a> {
    /// Nothing (the outbox may hold a reply).
    Nothing,
    /// Solicit: the hub's INFO (or our config) asks for TLS. Upgrade the socket as a TLS
    /// client, then call [`LeafSession::tls_established`], which sends CONNECT. The TLS
    /// handshake deadline is the caller's.
    StartTls,
    /// The handshake is complete: register the link with the control plane, then call
    /// [`LeafSession::registered`] before feeding the next op, or [`LeafSession::close`].
    Ready(Box<LinkReady>),
    /// The peer has interest (`LS+`). For a queue, `weight` is the number of members behind
    /// the link; an `LS+` for a (subject, queue) pair already known replaces its weight.
    /// A repeated plain `LS+` changes nothing.
    InterestAdded {
        /// Subject (validated).
        subject: &'a str,
        /// Queue group and weight.
        queue: Option<(&'a str, u32)>,
    },
    /// The peer withdrew interest (`LS-`) in a (subject, queue) pair, whatever its weight.
    /// The pair may be unknown (nats-server ignores those).
    InterestRemoved {
        /// Subject (not validated: an unknown one simply matches nothing).
        subject: &'a str,
        /// Queue group.
        queue: Option<&'a str>,
    },
    /// Route a message from the peer: to local plain subscribers, plus one member of each
    /// listed queue group (none listed: plain subscribers only).
    Message {
        /// Subject.
        subject: &'a str,
        /// Reply subject.
        reply: Option<&'a str>,
        /// Queue groups the peer chose us to serve.
        queues: Queues<'a>,
        /// Header block (`HMSG`).
        headers: Option<&'a [u8]>,
        /// Payload. Not checked against `max_payload`, like nats-server 2.9.10 (§2.5).
        payload: &'a [u8],
    },
    /// The first PONG since the link was registered: the peer is alive end to end.
    Healthy,
    /// Solicit: a later hub INFO carried a new `leafnode_urls` list.
    LeafUrls(Vec<String>),
    /// Close the connection (any `-ERR` is already in the outbox).
    Close(CloseReason),
}

/// An interest change to announce to the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterestDelta<'a> {
    /// `LS+ subject` or `LS+ subject queue weight`: new interest, or a queue's new weight.
    Add {
        /// Subject.
        subject: &'a str,
        /// Queue group and the number of members we have for it.
        queue: Option<(&'a str, u32)>,
    },
    /// `LS- subject [queue]`: interest gone.
    Remove {
        /// Subject.
        subject: &'a str,
        /// Queue group.
        queue: Option<&'a str>,
    },
}

impl<'a> InterestDelta<'a> {
    /// The announcement a [`crate::sublist::Sublist`] change calls for, if any: `LS+` when a
    /// pair appears, again for each new queue weight, `LS-` when it disappears. A plain
    /// subject's count changing between non-zero values is not announced.
    pub fn from_change(
        subject: &'a str,
        queue: Option<&'a str>,
        change: InterestChange,
    ) -> Option<Self> {
        match (change, queue) {
            (InterestChange::First, q) => Some(InterestDelta::Add {
                subject,
                queue: q.map(|q| (q, 1)),
            }),
            (InterestChange::Count(n), Some(q)) => Some(InterestDelta::Add {
                subject,
                queue: Some((q, n)),
            }),
            (InterestChange::Count(_), None) | (InterestChange::Unchanged, _) => None,
            (InterestChange::Last, q) => Some(InterestDelta::Remove { subject, queue: q }),
        }
    }

    /// The subject concerned.
    pub fn subject(&self) -> &'a str {
        match *self {
            InterestDelta::Add { subject, .. } | InterestDelta::Remove { subject, .. } => subject,
        }
    }
}

/// Why the session wants to be woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeafTimer {
    /// Solicit: the hub's INFO did not arrive in time.
    FirstInfo,
    /// Solicit: the `connect_info` INFO the hub promised did not arrive in time.
    ConnectInfo,
    /// Accept: CONNECT did not arrive in time.
    AuthTimeout,
    /// Send a PING, or declare the link stale.
    Ping,
}

/// The close reason a received `-ERR` text stands for, or `None` for texts after which the
/// link stays up (nats-server keeps a leaf link open after an `-ERR`, relying on the sender
/// to close when it means to; these are the texts after which it does).
pub fn close_reason_for_err(text: &str) -> Option<CloseReason> {
    const TABLE: &[(&str, CloseReason)] = &[
        ("Loop detected", CloseReason::LoopDetected),
        ("Permissions Violation", CloseReason::PermissionsViolation),
        (
            "Duplicate Remote LeafNode Connection",
            CloseReason::Replaced,
        ),
        (
            "Authorization Violation",
            CloseReason::AuthorizationViolation,
        ),
        ("Authentication Timeout", CloseReason::AuthenticationTimeout),
        (
            "remote leafnode has same cluster name",
            CloseReason::ClusterNameConflict,
        ),
        ("Stale Connection", CloseReason::StaleConnection),
        ("Stale Leaf Node Connection", CloseReason::StaleConnection),
        (
            "attempted to connect to leaf node port",
            CloseReason::IncorrectPort,
        ),
        ("on the leafnode port", CloseReason::IncorrectPort),
        ("Unknown Protocol Operation", CloseReason::ProtocolViolation),
        (
            "maximum control line exceeded",
            CloseReason::MaxControlLineExceeded,
        ),
        (
            "cluster name cannot contain spaces",
            CloseReason::ProtocolViolation,
        ),
        ("minimum version required", CloseReason::ProtocolViolation),
    ];
    TABLE
        .iter()
        .find(|(needle, _)| text.contains(needle))
        .map(|(_, r)| r.clone())
}
