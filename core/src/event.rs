//! Events: what happened, as values.
//!
//! The core emits events as outputs; the shell logs them with `tracing` and forwards them to
//! an event sink. In the simulator that sink is the per-host event log that invariants read
//! and the trace prints, so events carry only deterministic data (ids, names, reasons —
//! never addresses chosen by the OS or wall-clock times).

use serde::Serialize;

/// Connection id, unique per server instance (like nats-server's `cid`), starting at 1.
pub type Cid = u64;

/// Why a connection was closed. Names follow nats-server's `/connz` `reason` strings where
/// one exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The peer closed the socket (EOF) or it failed on read/write.
    ClientClosed,
    /// The server is shutting down.
    ServerShutdown,
    /// `ping_max` PINGs went unanswered.
    StaleConnection,
    /// Bad credentials, or an operation before CONNECT with auth on.
    AuthorizationViolation,
    /// No CONNECT within the auth timeout.
    AuthenticationTimeout,
    /// A malformed or unknown protocol operation (with or without an -ERR).
    ProtocolViolation,
    /// A message bigger than `max_payload`.
    MaxPayloadExceeded,
    /// A control line longer than `max_control_line`.
    MaxControlLineExceeded,
    /// `max_connections` reached.
    MaxConnectionsExceeded,
    /// Outbound pending bytes exceeded `max_pending`, or a write missed `write_deadline`.
    SlowConsumer,
    /// Write error on the socket.
    WriteError,
    /// Replaced by a newer session (duplicate leafnode, presence takeover).
    Replaced,
    /// The configuration no longer wants this connection (reload removed or disabled it).
    ConfigRemoved,
    /// Lame-duck mode or a resync asked the client to reconnect.
    LameDuck,
    /// Leafnode: the peer announced our own `$LDS.` subject, or told us it saw its own.
    /// The soliciting side waits 30 s before redialing.
    LoopDetected,
    /// Leafnode: the peer refused interest or a message its permissions forbid. The
    /// soliciting side waits 30 s before redialing.
    PermissionsViolation,
    /// Leafnode: the peer is not a leafnode port (its INFO lacks `client_id` or
    /// `leafnode_urls`), or a client or gateway dialed our leafnode port.
    IncorrectPort,
    /// Leafnode: both ends have the same cluster name. The soliciting side waits 30 s.
    ClusterNameConflict,
    /// Anything else, with text.
    Other(String),
}

/// One thing that happened on a server, for logs, monitoring and the simulator's event log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The server is listening and ready for clients.
    ServerReady { server_name: String },
    /// A client TCP connection was accepted.
    ClientAccepted { cid: Cid },
    /// A client's CONNECT was accepted (authenticated, bound to `account`).
    ClientConnected {
        cid: Cid,
        name: Option<String>,
        account: String,
    },
    /// The server sent a PING because the connection was quiet.
    PingSent { cid: Cid, outstanding: u32 },
    /// A connection was closed.
    ClientClosed { cid: Cid, reason: CloseReason },
    /// A configuration reload was applied.
    ConfigReloaded,
    /// A configuration reload was rejected; nothing changed.
    ReloadFailed { error: String },
    /// Graceful shutdown began.
    ShutdownStarted,
    /// Lame-duck mode began.
    LameDuckStarted,
    /// A presence event was published (this server's view accepted it, see
    /// [`crate::presence`]).
    PresenceChanged {
        account: String,
        id: String,
        online: bool,
        epoch: u64,
        server: String,
        cid: Cid,
        reason: String,
    },
    /// A new session took over a live presence id. The cids are on `old_server` and
    /// `new_server` (server ids); either may be another server.
    PresenceTakeover {
        account: String,
        id: String,
        old_cid: Cid,
        old_server: String,
        new_cid: Cid,
        new_server: String,
    },
    /// A takeover was refused because the id was taken over less than `takeover_backoff`
    /// ago: two live clients are fighting over it. The new connection `cid` is closed.
    PresenceFight {
        account: String,
        id: String,
        cid: Cid,
    },
    /// A presence session was refused at CONNECT (invalid id, or id in use with takeover
    /// off).
    PresenceRefused {
        account: String,
        id: String,
        cid: Cid,
        reason: String,
    },
    /// A presence event that arrived over link `cid` was malformed and dropped.
    PresenceBadEvent {
        cid: Cid,
        subject: String,
        error: String,
    },
    /// A leafnode remote started an attempt: it dials `url` (redacted). `attempt` is the
    /// attempt's generation, unique per server instance.
    LeafDialing {
        remote: String,
        attempt: u64,
        url: String,
    },
    /// A leafnode attempt's dial (TCP or TLS) failed; the next one starts after `retry_in_ms`.
    LeafDialFailed {
        remote: String,
        attempt: u64,
        error: String,
        retry_in_ms: u64,
    },
    /// A leafnode attempt completed its handshake and was registered: the `session`-th
    /// session of the remote's current generation.
    LeafConnected {
        remote: String,
        attempt: u64,
        url: String,
        session: u64,
    },
    /// A leafnode attempt or link ended on its own; the next attempt starts after
    /// `retry_in_ms`.
    LeafClosed {
        remote: String,
        attempt: u64,
        reason: String,
        retry_in_ms: u64,
    },
    /// An input about an attempt that is no longer its remote's current one was dropped
    /// (and, if it reported a live connection, that connection closed).
    LeafStaleInput {
        remote: String,
        attempt: u64,
        input: String,
    },
    /// A reload (or the start) added a leafnode remote; `generation` is its new remote
    /// generation.
    RemoteAdded { remote: String, generation: u64 },
    /// A reload removed a leafnode remote: no connection, attempt or timer is left.
    RemoteRemoved { remote: String },
    /// A reload enabled a leafnode remote (a new remote generation).
    RemoteEnabled { remote: String, generation: u64 },
    /// A reload disabled a leafnode remote: no connection, attempt or timer is left.
    RemoteDisabled { remote: String },
    /// A reload changed a remote's settings in place; when `restarted`, its link was closed
    /// and redialed under the new remote `generation`.
    RemoteUpdated {
        remote: String,
        restarted: bool,
        generation: u64,
    },
    /// A remote in the initial configuration was skipped (duplicate identity or no URL);
    /// configuration validation normally makes this impossible.
    RemoteRejected { remote: String, error: String },
    /// A leafnode link (either role) completed its handshake and was registered;
    /// `remote` is the peer's server name.
    LeafLinkUp {
        cid: Cid,
        solicited: bool,
        remote: String,
        account: String,
    },
    /// A leafnode peer sent `-ERR` (nats-server logs these as "Leafnode Error").
    LeafError { cid: Cid, text: String },
    /// A backbone remote's registered session ended: gap number `gap` (from 1 per remote)
    /// began and messages for the hub are buffered.
    BackboneGapStarted { remote: String, gap: u64 },
    /// A backbone remote reconnected within its remote generation: the reconnect of gap
    /// `gap`, the `session`-th session of the generation.
    BackboneReconnected {
        remote: String,
        gap: u64,
        session: u64,
    },
    /// A backbone recovery run began (settle, then flush) for gaps `first_gap..=last_gap`.
    BackboneRecoveryStarted {
        remote: String,
        first_gap: u64,
        last_gap: u64,
    },
    /// A backbone recovery flushed its buffer: gaps `first_gap..=last_gap` are replayed.
    /// `peak_msgs` and `peak_bytes` are the most the buffer held during those gaps (and
    /// their recoveries): never above its bounds.
    BackboneFlushed {
        remote: String,
        first_gap: u64,
        last_gap: u64,
        replayed: u64,
        dropped: u64,
        peak_msgs: u64,
        peak_bytes: u64,
    },
    /// A resync announcement was published to local clients.
    BackboneResync {
        remote: String,
        first_gap: u64,
        last_gap: u64,
        buffered: u64,
        replayed: u64,
        dropped: u64,
        lameduck: bool,
    },
    /// A backbone link was silent for `silent_ms` and is declared dead.
    BackboneSilent { remote: String, silent_ms: u64 },
    /// A backbone remote gave up after `failures` failed sessions in a row.
    BackboneGaveUp { remote: String, failures: u32 },
    /// A backbone remote's health changed (`error` is `None` when healthy again).
    BackboneHealth {
        remote: String,
        error: Option<String>,
    },
    /// Local clients were closed because the backbone was lost (only with the
    /// `backbone-drop-clients-on-loss` bug switch: incident 4A).
    BackboneDroppedClients { remote: String, clients: u64 },
}
