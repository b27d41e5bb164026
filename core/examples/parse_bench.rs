//! Micro benchmark of the wire codec's hot path: parsing 16-byte PUBs and writing the MSG
//! frames of a fan-out. Prints operations per second; run with
//! `cargo run --release -p rejoin-core --example parse_bench`.

// A benchmark needs the wall clock, which the core itself may never read.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::Instant;

use rejoin_core::proto::encode::{self, MsgTemplate};
use rejoin_core::proto::{parse, Dialect, Limits, Op, Parsed};

const OPS_PER_BUFFER: usize = 10_000;
const ROUNDS: usize = 200;

fn main() {
    let payload = [b'x'; 16];
    let mut buf = Vec::new();
    for _ in 0..OPS_PER_BUFFER {
        encode::publish(&mut buf, "orders.eu.created", None, &payload);
    }
    let limits = Limits::default();

    let start = Instant::now();
    let mut bytes = 0usize;
    for _ in 0..ROUNDS {
        let mut rest = &buf[..];
        while let Ok(Parsed::Op { op, consumed }) = parse(rest, Dialect::Client, &limits) {
            if let Op::Pub { payload, .. } = black_box(op) {
                bytes += payload.len();
            }
            rest = &rest[consumed..];
        }
    }
    report("parse PUB (16 B payload)", OPS_PER_BUFFER * ROUNDS, start);
    assert_eq!(bytes, OPS_PER_BUFFER * ROUNDS * payload.len());

    let mut out = Vec::with_capacity(64 * OPS_PER_BUFFER);
    let start = Instant::now();
    for _ in 0..ROUNDS {
        out.clear();
        for _ in 0..OPS_PER_BUFFER {
            encode::msg(
                &mut out,
                black_box("orders.eu.created"),
                black_box("42"),
                None,
                &payload,
            );
        }
        black_box(&out);
    }
    report("encode MSG", OPS_PER_BUFFER * ROUNDS, start);

    let template = MsgTemplate::new("orders.eu.created", None, payload.len());
    let start = Instant::now();
    for _ in 0..ROUNDS {
        out.clear();
        for _ in 0..OPS_PER_BUFFER {
            template.write(&mut out, black_box("42"), &payload);
        }
        black_box(&out);
    }
    report(
        "encode MSG from a template (fan-out)",
        OPS_PER_BUFFER * ROUNDS,
        start,
    );
}

fn report(what: &str, ops: usize, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{what:<40} {:>8.1} M ops/s  ({ops} ops in {secs:.3} s)",
        ops as f64 / secs / 1e6
    );
}
