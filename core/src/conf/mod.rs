//! The NATS configuration file format, parsed by our own parser into a tree of positioned
//! values, plus a serde `Deserializer` over that tree. No I/O happens here: `include`
//! files and `$ENV` variables come from a [`Source`] the caller passes.
//!
//! ```
//! use rejoin_core::conf::{self, MemSource, Value};
//!
//! let src = MemSource::new()
//!     .with_file("etc/users.conf", "users: [ {user: a, password: $PASS} ]")
//!     .with_env("PASS", "s3cret");
//! let text = "
//!     port: 4222
//!     max_payload: 1MB           # units are applied while lexing
//!     leafnodes { listen: 127.0.0.1:7422 }
//!     authorization { include users.conf }
//! ";
//! let map = conf::parse(text, "etc/rejoin.conf", &src).unwrap();
//! assert_eq!(map.get("max_payload").unwrap().value, Value::Int(1 << 20));
//! let leaf = map.get("leafnodes").unwrap().as_map().unwrap();
//! assert_eq!(leaf.get("listen").unwrap().as_str(), Some("127.0.0.1:7422"));
//! assert_eq!(leaf.get("listen").unwrap().pos.to_string(), "etc/rejoin.conf:4:25");
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Small { port: u16 }
//! let err = conf::from_map::<Small>(&map).err().unwrap();
//! assert_eq!(err.to_string(), "etc/rejoin.conf:3:5: unknown field \"max_payload\"");
//! ```
//!
//! # The format
//! - Comments `#` and `//` to the end of the line.
//! - `key: value`, `key = value` or `key value`; a value ends at a new line, `;` or `,`.
//!   Keys may be quoted. `key { ... }` needs no separator.
//! - Maps `{ }` and arrays `[ ]` (items separated by `,` or new lines) nest freely; the
//!   whole file may be wrapped in `{ }`.
//! - Strings: bare words, `"double"` (escapes `\t \n \r \" \\ \xHH`), `'single'` (raw),
//!   and blocks `( ... )` closed by a `)` alone at the start of its line.
//! - Integers (optionally negative) with unit suffixes `k kb ki kib m mb ... e eb`
//!   (case-insensitive; decimal without `b`/`i`, binary with), floats, ISO8601 Zulu
//!   datetimes, booleans `true false yes no on off` (case-insensitive).
//! - A bare value that starts with digits and continues with other characters is a string
//!   (`1abc`, `10mbx`), except that `1.2.3` style values (IP addresses, `127.0.0.1:4222`)
//!   are strings too and `1.5x` is an error — the same as nats-server.
//! - `$NAME` as a whole value: the key `NAME` of an enclosing map, innermost first, seen
//!   so far; otherwise the environment variable `NAME`, whose value is parsed as a value.
//!   `$2a$...` (bcrypt hashes) stays a string. No interpolation inside strings.
//! - `include path` merges the top-level keys of another file (path relative to the
//!   including file, quotes optional) at that point, at any map level.
//!
//! # Where we intentionally differ from nats-server 2.9.10
//! - Unbalanced braces are errors. nats-server silently accepts a file that opens `{`
//!   and never closes it, or a stray `}` at the end.
//! - `key{` (no space before the brace) opens a map; nats-server reads `key{` as the key.
//! - A number directly followed by `]` is a number: nats-server 2.9.10 makes the last item
//!   of `[1, 2]` the *string* `"2"`.
//! - A key with no value at the end of the file, a map key followed directly by `}`, and
//!   an empty `include` are errors (nats-server ignores them or fails obscurely).
//! - Include cycles are reported as errors (nats-server recurses until it crashes), and
//!   include/environment expansion is limited to 16 levels, nesting to 128.
//! - Column numbers are 1-based everywhere (nats-server's are 0-based on line 1 and
//!   1-based after it).
//! - A `\xHH` sequence must leave valid UTF-8; Go strings may hold any bytes.
//! - Block strings may end with `)\r\n` (CRLF files); nats-server requires `)\n`.
//! - A key referenced as `$key` is kept in the tree and marked
//!   ([`Entry::used_as_variable`]); the deserializer skips it where it is not a known
//!   option, at every level. This is what `nats-server -t` does (it accepts
//!   `leafnodes { X = 1, port: $X }` and rejects a defined-but-unused variable as an
//!   unknown field); dropping the key from the tree would instead lose an option that is
//!   also used as a variable (`port: 4222, listen: $port`).

mod de;
mod error;
mod parser;
mod source;
mod tree;
pub mod units;

pub use de::{from_map, from_node};
pub use error::{ConfError, ConfErrorKind};
pub use source::{MemSource, Source};
pub use tree::{Entry, Map, Node, Pos, Value};

/// Parses configuration `text`, read from `file` (used in positions and to resolve
/// `include` paths), taking includes and environment variables from `src`.
pub fn parse(text: &str, file: &str, src: &dyn Source) -> Result<Map, ConfError> {
    parser::Parser::new(text, file, src).parse_document()
}

#[cfg(test)]
mod tests;
