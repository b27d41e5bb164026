//! # rejoin-core
//!
//! The sans-I/O heart of rejoin, a NATS-protocol edge server. This crate decides; it never
//! acts. It does **not** open sockets, spawn tasks or threads, read clocks, or draw from a
//! global random number generator. Callers feed it inputs (bytes received, connections
//! opened and closed, timers, config reloads) together with the current time, and drain its
//! outputs (bytes to send, dials, closes, events) as values.
//!
//! That contract is what lets the same code run in the production binary (`rejoin`, tokio)
//! and in the simulator (`rejoin-sim`, turmoil), where a seed replays a fault schedule
//! byte for byte.
//!
//! Modules, one concept each:
//! - [`time`]: the `Instant` the core is given (a duration since start).
//! - [`subject`]: subject and token validation.
//! - [`sublist`]: the subscription index (`*`, `>`, queue groups, match cache).
//! - [`proto`]: the client and leafnode wire protocol: parser, encoder, INFO/CONNECT.
//! - [`conf`]: the NATS configuration file format, parsed into a tree.
//! - [`config`]: typed configuration, deserialized from that tree and validated.
//! - [`auth`]: authentication against configured users; accounts and permissions.
//! - [`session`]: one client connection's protocol state and liveness.
//! - [`leaf`]: one leafnode link's protocol state, both roles.
//! - [`remote`]: the outbound leafnode remotes state machine (reload, reconnect).
//! - [`presence`]: presence sessions, epochs, takeover and relay targets (incident 2).
//! - [`interest`]: which interest each leafnode link may see.
//! - [`event`]: what happened, as values (logs, monitoring, simulator event log).
//! - [`bugs`]: historical bugs that simulator builds can switch back on.
//! - [`backbone`]: the backbone broadcaster (buffer, recovery, resync, give-up, health).
//! - [`control`]: the server's one lifecycle machine, composing remotes, accepted leafs
//!   and backbones behind one `handle_input`/`poll_output` vocabulary.

pub mod auth;
pub mod backbone;
pub mod bugs;
pub mod conf;
pub mod config;
pub mod control;
pub mod event;
pub mod interest;
pub mod leaf;
pub mod presence;
pub mod proto;
pub mod remote;
pub mod session;
pub mod subject;
pub mod sublist;
pub mod time;
