//! Harness for black-box tests of the `rejoin` binary.
//!
//! Every test starts a real server process on 127.0.0.1 and talks to it over TCP, either with
//! a real client (async-nats, nats-py) or with [`RawClient`], which speaks the wire protocol
//! byte by byte. The expectations are nats-server 2.9.10's observed behaviour
//! (`docs/nats-protocol.md` in the shared docs), so the very same tests can be pointed at the
//! real nats-server to check the tests themselves:
//!
//! ```text
//! REJOIN_TEST_SERVER=nats-server cargo test -p rejoin-tests   # validate the tests
//! cargo build -p rejoin && cargo test -p rejoin-tests          # test rejoin (default)
//! ```
//!
//! Tests whose expectations are rejoin's own (exit codes, error formats that nats-server does
//! not share) start with [`rejoin_only!`] and are skipped, with a printed reason, under
//! nats-server.
//!
//! The harness never sleeps to synchronise: waits poll for an observable event (a port that
//! accepts, a line that arrives, a process that exits) and are bounded by [`WAIT`].

pub mod bench;
pub mod client;
pub mod http;
pub mod jwt;
pub mod leafnode;
pub mod process;
pub mod python;
pub mod raw;
pub mod scratch;
pub mod server;
pub mod tls;

use std::time::Duration;

pub use http::{http_get, HttpResponse};
pub use raw::{Frame, Msg, RawClient, ReadError};
pub use server::{ServerKind, TestServer, TestServerBuilder};

/// Upper bound for anything the test expects to happen. Generous on purpose: the tests share
/// two cores with compilers and other test binaries, and a bound that is hit means a failure,
/// never a retry.
pub const WAIT: Duration = Duration::from_secs(10);

/// How long a test listens to conclude that nothing arrives. Long enough for loopback
/// round-trips on a loaded machine; a server that answers later than this would be broken
/// anyway.
pub const QUIET: Duration = Duration::from_millis(500);

/// Returns early from a test (printing why) unless the server under test is rejoin.
///
/// Use for behaviour that rejoin defines itself and nats-server does not share, so the test
/// still runs (and must pass) against rejoin while the nats-server validation run skips it.
#[macro_export]
macro_rules! rejoin_only {
    ($why:expr) => {
        if $crate::ServerKind::from_env() != $crate::ServerKind::Rejoin {
            eprintln!("skipped: rejoin-specific ({})", $why);
            return;
        }
    };
}
