//! The NATS client protocol and the leafnode protocol as nats-server 2.9 speaks them.
//!
//! This module turns bytes into operations and operations into bytes; it decides nothing
//! about what an operation means for a connection (authorization, subject validity,
//! verbose `+OK`s, interest propagation), which is the sessions' business.
//!
//! - [`parser`]: a stateless, zero-copy, allocation-free parser: one operation from the
//!   front of a read buffer, in one of three [`parser::Dialect`]s (what clients send, what
//!   servers send to clients, the leafnode link).
//! - [`encode`]: the same operations written into any `bytes::BufMut`, byte-identical to
//!   nats-server's output, plus precomputed `MSG`/`HMSG` lines for fan-out.
//! - [`info`]: the `INFO` and `CONNECT` JSON documents, their defaults and their checks.
//! - [`headers`]: reading and editing `NATS/1.0` header blocks.
//! - [`error`]: parse errors and the exact `-ERR` texts nats-server sends.
//!
//! The facts behind every rule (captured from a live nats-server 2.9.10) are in
//! `nats-protocol.md` §1 and §2; the parser module lists where it deliberately differs.

pub mod encode;
pub mod error;
pub mod headers;
pub mod info;
pub mod parser;
mod queues;

pub use error::{texts, ProtoError};
pub use parser::{parse, Dialect, Limits, Op, Parsed};
pub use queues::{QueueNames, Queues};
