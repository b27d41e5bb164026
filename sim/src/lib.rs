//! # rejoin-sim
//!
//! A deterministic simulator for rejoin. A scenario file describes a small world (rejoin
//! servers and simulated NATS clients on turmoil's simulated network), a fault timeline
//! (fixed, or drawn from a menu by the seed) and invariants over the event log. One seed
//! replays one run byte for byte; `explore` runs many seeds, `shrink` minimises a failing
//! random fault plan, and `check` proves a scenario passes with the fix and fails with its
//! historical bug switched back on.
//!
//! Modules, one concept each:
//! - [`scenario`]: the file format, parsed and validated.
//! - [`world`]: one run: the turmoil `Sim`, its hosts, the step loop.
//! - [`nemesis`]: applies faults between steps; [`fault_plan`]: the fault language and
//!   random plans.
//! - [`client`]: simulated NATS clients; [`transport`]: rejoin's transport on turmoil.
//! - [`invariant`]: predicates over the log; [`trace`]: the log and its JSON-lines trace;
//!   [`timeline`]: the trace as an HTML timeline.
//! - [`explore`]: many seeds on several threads, and `check`; [`shrink`]: minimal plans.

pub mod client;
pub mod duration;
pub mod explore;
pub mod fault_plan;
pub mod invariant;
pub mod nemesis;
pub mod scenario;
pub mod seed;
pub mod shrink;
pub mod timeline;
pub mod trace;
pub mod transport;
pub mod world;

/// The commit this simulator was built from (`unknown` outside a git checkout).
pub const COMMIT: &str = env!("REJOIN_SIM_COMMIT");
