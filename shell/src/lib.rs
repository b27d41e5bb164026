//! # rejoin (shell)
//!
//! The production side of rejoin: a tokio runtime, listeners, connection tasks, TLS,
//! signals, HTTP monitoring and logging. It performs what the sans-I/O core
//! ([`rejoin_core`]) decides and feeds back what happened. It is deliberately thin.
//!
//! The server is embeddable: [`serve`] runs one server instance on any [`Transport`]. The
//! `rejoin` binary calls it with real TCP; the simulator (`rejoin-sim`) calls it on turmoil's
//! simulated network, with an event sink, gates and commands from its nemesis.

pub mod conf_source;
pub mod gate;
pub mod monitor;
pub mod server;
pub mod tls;
pub mod transport;

use std::sync::Arc;

pub use gate::Gates;
use rejoin_core::bugs::BugSet;
use rejoin_core::event::Event;
use rejoin_core::time::Instant;
pub use server::run::serve;
pub use transport::{Listener, Stream, TokioTransport, Transport};

/// The version reported in INFO and `/varz`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where a server's events go (besides `tracing`). The simulator records them per host.
pub trait EventSink: Send + Sync + 'static {
    /// Record `event`, which happened at `at` (time since the server's start).
    fn event(&self, at: Instant, event: &Event);
}

/// An event sink that drops everything (production: events are logged via `tracing`).
pub struct NoEvents;

impl EventSink for NoEvents {
    fn event(&self, _: Instant, _: &Event) {}
}

/// A command from the outside world: signals in production, the nemesis in the simulator.
#[derive(Debug)]
pub enum Command {
    /// Apply a new configuration (already parsed). Validated whole, applied all-or-nothing.
    Reload(Box<rejoin_core::config::Config>),
    /// Graceful shutdown: stop accepting, flush pending writes, close, return.
    Shutdown,
    /// Lame-duck mode: stop accepting, ask clients to move, then shut down.
    LameDuck,
}

/// Everything a server instance gets from its embedder besides its config and transport.
pub struct Env {
    /// Seed for every random choice the server makes (jitter, queue member choice, ids).
    pub seed: u64,
    /// Where events go.
    pub events: Arc<dyn EventSink>,
    /// Named pause points (all open in production).
    pub gates: Gates,
    /// Historical bugs switched on (always empty in production builds).
    pub bugs: BugSet,
    /// Commands (reload, shutdown, lame duck).
    pub commands: tokio::sync::mpsc::UnboundedReceiver<Command>,
}

/// How a server instance ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Graceful shutdown completed (exit code 0).
    Shutdown,
    /// A backbone remote gave up reconnecting (documented non-zero exit code).
    BackboneGaveUp,
    /// Startup failed (e.g. a port could not be bound).
    StartupFailed(String),
}
