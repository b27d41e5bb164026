//! Properties of the wire codec (`rejoin_core::proto`):
//! 1. a client stream encoded, then delivered in any chunking (every single split point, and
//!    random chunkings), parses back to the same operations;
//! 2. every operation of every dialect survives encode -> parse unchanged, leaf queue shapes
//!    included;
//! 3. the parser never panics, always makes progress, and is consistent with itself on
//!    prefixes: more bytes never turn a decided result into a different one.

use proptest::prelude::*;
use rejoin_core::proto::encode;
use rejoin_core::proto::{parse, Dialect, Limits, Op, Parsed, ProtoError, Queues};

/// An operation that owns its bytes, so that generated values can be compared with parsed,
/// borrowed ones.
#[derive(Clone, Debug)]
enum Model {
    Connect(String),
    Info(String),
    Pub {
        subject: String,
        reply: Option<String>,
        payload: Vec<u8>,
    },
    Hpub {
        subject: String,
        reply: Option<String>,
        headers: Vec<u8>,
        payload: Vec<u8>,
    },
    Sub {
        subject: String,
        queue: Option<String>,
        sid: String,
    },
    Unsub {
        sid: String,
        max: Option<u64>,
    },
    Msg {
        subject: String,
        sid: String,
        reply: Option<String>,
        payload: Vec<u8>,
    },
    Hmsg {
        subject: String,
        sid: String,
        reply: Option<String>,
        headers: Vec<u8>,
        payload: Vec<u8>,
    },
    Ping,
    Pong,
    Ok,
    Err(String),
    LsPlus {
        subject: String,
        queue: Option<(String, u32)>,
    },
    LsMinus {
        subject: String,
        queue: Option<String>,
    },
    Lmsg {
        subject: String,
        reply: Option<String>,
        queues: String,
        headers: Option<Vec<u8>>,
        payload: Vec<u8>,
    },
}

impl Model {
    fn op(&self) -> Op<'_> {
        match self {
            Model::Connect(j) => Op::Connect(j.as_bytes()),
            Model::Info(j) => Op::Info(j.as_bytes()),
            Model::Pub {
                subject,
                reply,
                payload,
            } => Op::Pub {
                subject,
                reply: reply.as_deref(),
                payload,
            },
            Model::Hpub {
                subject,
                reply,
                headers,
                payload,
            } => Op::Hpub {
                subject,
                reply: reply.as_deref(),
                headers,
                payload,
            },
            Model::Sub {
                subject,
                queue,
                sid,
            } => Op::Sub {
                subject,
                queue: queue.as_deref(),
                sid,
            },
            Model::Unsub { sid, max } => Op::Unsub { sid, max: *max },
            Model::Msg {
                subject,
                sid,
                reply,
                payload,
            } => Op::Msg {
                subject,
                sid,
                reply: reply.as_deref(),
                payload,
            },
            Model::Hmsg {
                subject,
                sid,
                reply,
                headers,
                payload,
            } => Op::Hmsg {
                subject,
                sid,
                reply: reply.as_deref(),
                headers,
                payload,
            },
            Model::Ping => Op::Ping,
            Model::Pong => Op::Pong,
            Model::Ok => Op::Ok,
            Model::Err(t) => Op::Err(t),
            Model::LsPlus { subject, queue } => Op::LsPlus {
                subject,
                queue: queue.as_ref().map(|(q, w)| (q.as_str(), *w)),
            },
            Model::LsMinus { subject, queue } => Op::LsMinus {
                subject,
                queue: queue.as_deref(),
            },
            Model::Lmsg {
                subject,
                reply,
                queues,
                headers,
                payload,
            } => Op::Lmsg {
                subject,
                reply: reply.as_deref(),
                queues: Queues::from_raw(queues),
                headers: headers.as_deref(),
                payload,
            },
        }
    }
}

fn encode_all(models: &[Model]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in models {
        encode::op(&mut out, &m.op());
    }
    out
}

// Subjects and other tokens: no blanks or line ends, some non-ASCII.
fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.*>$+|é-]{1,16}"
}

fn sid() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]{1,8}"
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn json() -> impl Strategy<Value = String> {
    r#"\{[a-z0-9":, ]{0,24}\}"#
}

// Anything but line ends; the parser strips one pair of surrounding quotes, which the
// encoder adds.
fn err_text() -> impl Strategy<Value = String> {
    "[^\r\n]{0,24}"
}

fn size() -> impl Strategy<Value = u64> {
    0u64..1_000_000_000
}

fn client_model() -> impl Strategy<Value = Model> {
    prop_oneof![
        4 => (token(), prop::option::of(token()), bytes(48)).prop_map(|(subject, reply, payload)| Model::Pub { subject, reply, payload }),
        2 => (token(), prop::option::of(token()), bytes(24), bytes(24))
            .prop_map(|(subject, reply, headers, payload)| Model::Hpub { subject, reply, headers, payload }),
        2 => (token(), prop::option::of(token()), sid()).prop_map(|(subject, queue, sid)| Model::Sub { subject, queue, sid }),
        1 => (sid(), prop::option::of(size())).prop_map(|(sid, max)| Model::Unsub { sid, max }),
        1 => Just(Model::Ping),
        1 => Just(Model::Pong),
    ]
}

fn any_client_model() -> impl Strategy<Value = Model> {
    prop_oneof![
        6 => client_model(),
        1 => json().prop_map(Model::Connect),
        1 => json().prop_map(Model::Info),
        1 => Just(Model::Ok),
        1 => err_text().prop_map(Model::Err),
    ]
}

fn server_model() -> impl Strategy<Value = Model> {
    prop_oneof![
        3 => (token(), sid(), prop::option::of(token()), bytes(48))
            .prop_map(|(subject, sid, reply, payload)| Model::Msg { subject, sid, reply, payload }),
        2 => (token(), sid(), prop::option::of(token()), bytes(24), bytes(24))
            .prop_map(|(subject, sid, reply, headers, payload)| Model::Hmsg { subject, sid, reply, headers, payload }),
        1 => json().prop_map(Model::Info),
        1 => Just(Model::Ping),
        1 => Just(Model::Pong),
        1 => Just(Model::Ok),
        1 => err_text().prop_map(Model::Err),
    ]
}

fn leaf_model() -> impl Strategy<Value = Model> {
    prop_oneof![
        2 => (token(), prop::option::of((token(), 0u32..1_000_000_000)))
            .prop_map(|(subject, queue)| Model::LsPlus { subject, queue }),
        1 => (token(), prop::option::of(token())).prop_map(|(subject, queue)| Model::LsMinus { subject, queue }),
        4 => (token(), prop::option::of(token()), prop::collection::vec(token(), 0..4), prop::option::of(bytes(24)), bytes(48))
            .prop_map(|(subject, reply, queues, headers, payload)| Model::Lmsg {
                subject,
                reply,
                queues: queues.join(" "),
                headers,
                payload
            }),
        1 => json().prop_map(Model::Connect),
        1 => json().prop_map(Model::Info),
        1 => Just(Model::Ping),
        1 => Just(Model::Pong),
        1 => Just(Model::Ok),
        1 => err_text().prop_map(Model::Err),
    ]
}

const CLIENT: Limits = Limits {
    max_control_line: 4096,
    max_payload: Some(1 << 20),
};
const LEAF: Limits = Limits {
    max_control_line: 4096,
    max_payload: None,
};

/// Feed `chunks` one at a time into a read buffer, parsing after each, the way a connection
/// task does. Returns the canonical re-encoding of every operation parsed, in order.
fn feed<'c>(
    chunks: impl IntoIterator<Item = &'c [u8]>,
    dialect: Dialect,
    limits: &Limits,
) -> Result<Vec<u8>, ProtoError> {
    let mut pending: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        pending.extend_from_slice(chunk);
        let mut used = 0;
        while let Parsed::Op { op, consumed } = parse(&pending[used..], dialect, limits)? {
            assert!(consumed > 0);
            encode::op(&mut out, &op);
            used += consumed;
        }
        pending.drain(..used);
    }
    assert!(
        pending.is_empty(),
        "bytes left over: {:?}",
        String::from_utf8_lossy(&pending)
    );
    Ok(out)
}

/// Parse a whole buffer to the list of operations, checked against the models.
fn assert_parses_to(buf: &[u8], models: &[Model], dialect: Dialect, limits: &Limits) {
    let mut rest = buf;
    for m in models {
        match parse(rest, dialect, limits) {
            Ok(Parsed::Op { op, consumed }) => {
                assert_eq!(op, m.op());
                rest = &rest[consumed..];
            }
            other => panic!("{dialect:?}: expected {:?}, got {other:?}", m.op()),
        }
    }
    assert!(rest.is_empty());
}

fn chunk<'b>(buf: &'b [u8], sizes: &[usize]) -> Vec<&'b [u8]> {
    let mut chunks = Vec::new();
    let mut at = 0;
    for s in sizes.iter().cycle() {
        if at >= buf.len() {
            break;
        }
        let end = (at + s).min(buf.len());
        chunks.push(&buf[at..end]);
        at = end;
    }
    chunks
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// (1) Every split point of a client stream.
    #[test]
    fn client_stream_survives_every_split(models in prop::collection::vec(client_model(), 1..8)) {
        let stream = encode_all(&models);
        assert_parses_to(&stream, &models, Dialect::Client, &CLIENT);
        for k in 0..=stream.len() {
            let (a, b) = stream.split_at(k);
            prop_assert_eq!(&feed([a, b], Dialect::Client, &CLIENT).unwrap(), &stream, "split at {}", k);
        }
    }

    /// (1) Random chunkings, down to one byte at a time.
    #[test]
    fn client_stream_survives_random_chunking(
        models in prop::collection::vec(client_model(), 1..16),
        sizes in prop::collection::vec(1usize..24, 1..8),
    ) {
        let stream = encode_all(&models);
        prop_assert_eq!(&feed(chunk(&stream, &sizes), Dialect::Client, &CLIENT).unwrap(), &stream);
        prop_assert_eq!(&feed(chunk(&stream, &[1]), Dialect::Client, &CLIENT).unwrap(), &stream);
    }

    /// (2) Round trip of every operation in every dialect.
    #[test]
    fn every_op_round_trips(
        client in prop::collection::vec(any_client_model(), 1..6),
        server in prop::collection::vec(server_model(), 1..6),
        leaf in prop::collection::vec(leaf_model(), 1..6),
    ) {
        for (models, dialect, limits) in [(client, Dialect::Client, CLIENT), (server, Dialect::Server, CLIENT), (leaf, Dialect::Leaf, LEAF)] {
            let stream = encode_all(&models);
            assert_parses_to(&stream, &models, dialect, &limits);
            // Canonical output: parsing and re-encoding changes nothing.
            prop_assert_eq!(&feed([&stream[..]], dialect, &limits).unwrap(), &stream);
            let sizes = [3, 1, 7];
            prop_assert_eq!(&feed(chunk(&stream, &sizes), dialect, &limits).unwrap(), &stream);
        }
    }

    /// (3) Arbitrary bytes: no panic, progress on every op.
    #[test]
    fn arbitrary_bytes_never_panic(buf in bytes(256), mcl in 0usize..64, max_payload in prop::option::of(0usize..64)) {
        let limits = Limits { max_control_line: mcl, max_payload };
        for dialect in [Dialect::Client, Dialect::Server, Dialect::Leaf] {
            let mut rest = &buf[..];
            while let Ok(Parsed::Op { consumed, .. }) = parse(rest, dialect, &limits) {
                prop_assert!(consumed > 0 && consumed <= rest.len());
                rest = &rest[consumed..];
            }
        }
    }

    /// (3) Damaged valid streams: no panic, and a decided result never changes with more
    /// bytes (a prefix is either Incomplete or decides exactly what the whole buffer does).
    #[test]
    fn damaged_streams_decide_consistently(
        client in prop::collection::vec(any_client_model(), 1..4),
        leaf in prop::collection::vec(leaf_model(), 1..4),
        server in prop::collection::vec(server_model(), 1..4),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..4),
        mcl in prop_oneof![Just(4096usize), 0usize..48],
    ) {
        let limits = Limits { max_control_line: mcl, max_payload: Some(40) };
        for (models, dialect) in [(client, Dialect::Client), (leaf, Dialect::Leaf), (server, Dialect::Server)] {
            let mut buf = encode_all(&models);
            for (at, byte, kind) in &edits {
                let i = at.index(buf.len() + 1);
                match kind {
                    0 if i < buf.len() => buf[i] = *byte,
                    1 => buf.insert(i, *byte),
                    _ if i < buf.len() => { buf.remove(i); }
                    _ => {}
                }
            }
            let mut rest = &buf[..];
            loop {
                let whole = parse(rest, dialect, &limits);
                for k in 0..rest.len() {
                    let prefix = parse(&rest[..k], dialect, &limits);
                    if prefix != Ok(Parsed::Incomplete) {
                        prop_assert_eq!(&prefix, &whole, "prefix {} of {:?}", k, String::from_utf8_lossy(rest));
                    }
                }
                match whole {
                    Ok(Parsed::Op { consumed, .. }) => {
                        prop_assert!(consumed > 0 && consumed <= rest.len());
                        rest = &rest[consumed..];
                    }
                    _ => break,
                }
            }
        }
    }
}
