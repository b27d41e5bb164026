//! Slow consumers: a subscriber whose outbound backlog exceeds `max_pending` is disconnected
//! without any `-ERR`, while the publisher and the other subscribers carry on untouched, and
//! `/varz` counts it (protocol notes §1.7).

use std::sync::mpsc;
use std::thread;

use rejoin_tests::{http_get, RawClient, TestServer, WAIT};

const PAYLOAD: usize = 1024;
/// Messages per publish batch. A batch (~33 KB on the wire) stays below `max_pending`, so the
/// reading subscriber can never be flagged, whatever the scheduler does to its thread.
const BATCH: usize = 32;
/// Upper bound of the flood. The idle subscriber's kernel buffers hold a few MB at most, so
/// the server must have run into `max_pending` long before this.
const MAX_FLOOD_BYTES: usize = 20 << 20;

fn payload(seq: usize) -> String {
    let head = format!("{seq:010}");
    format!("{head}{}", "x".repeat(PAYLOAD - head.len()))
}

fn slow_consumers(server: &TestServer) -> u64 {
    let varz = http_get(server.http_addr(), "/varz")
        .expect("GET /varz")
        .json();
    varz["slow_consumers"]
        .as_u64()
        .unwrap_or_else(|| panic!("slow_consumers missing: {varz}"))
}

/// Reads `flood` messages in order until the `flood.end` marker; reports each sequence number.
fn reading_subscriber(
    mut client: RawClient,
    progress: mpsc::Sender<usize>,
) -> thread::JoinHandle<Result<usize, String>> {
    thread::spawn(move || {
        let mut next = 0usize;
        loop {
            let msg = match client.read_frame(WAIT) {
                Ok(rejoin_tests::Frame::Msg(msg)) => msg,
                Ok(other) => return Err(format!("reader got {other:?}")),
                Err(e) => return Err(format!("reader after {next} messages: {e}")),
            };
            if msg.subject == "flood.end" {
                return Ok(next);
            }
            let seq: usize = std::str::from_utf8(&msg.payload[..10])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad payload head {:?}", &msg.payload[..10]))?;
            if seq != next || msg.payload.len() != PAYLOAD {
                return Err(format!("expected message {next}, got {seq}"));
            }
            next += 1;
            if progress.send(seq).is_err() {
                return Err("test gave up".into());
            }
        }
    })
}

#[test]
fn idle_subscriber_is_dropped_silently_and_others_are_unaffected() {
    // nats-server marks the connection closed at once but only closes the socket when its
    // blocked write gives up at write_deadline (10 s by default), so keep that short.
    let server =
        TestServer::builder("max_pending: 65536\nmax_payload: 65536\nwrite_deadline: \"2s\"")
            .http()
            .start();

    let mut idle = RawClient::connect_quiet(server.addr());
    idle.send("SUB flood 1\r\n");
    idle.sync_clean();
    let mut reader = RawClient::connect_quiet(server.addr());
    reader.send("SUB flood 1\r\nSUB flood.end 2\r\n");
    reader.sync_clean();
    let (progress_tx, progress) = mpsc::channel();
    let reader = reading_subscriber(reader, progress_tx);
    let mut publisher = RawClient::connect_quiet(server.addr());

    let mut sent = 0usize;
    let mut flagged = false;
    // Ask /varz about once per MB flooded, to stop as soon as the server has acted.
    let mut next_check = 0usize;
    while sent * PAYLOAD < MAX_FLOOD_BYTES {
        let mut batch = String::with_capacity(BATCH * (PAYLOAD + 32));
        for seq in sent..sent + BATCH {
            batch.push_str(&format!("PUB flood {PAYLOAD}\r\n{}\r\n", payload(seq)));
        }
        publisher.send(batch);
        sent += BATCH;
        // Pace on the reading subscriber, so only the idle one builds a backlog.
        loop {
            match progress.recv_timeout(WAIT) {
                Ok(seq) if seq + 1 == sent => break,
                Ok(_) => {}
                Err(e) => panic!("reader stalled at {sent} sent: {e}"),
            }
        }
        if sent >= next_check {
            next_check = sent + (1 << 20) / PAYLOAD;
            if slow_consumers(&server) >= 1 {
                flagged = true;
                break;
            }
        }
    }
    assert!(
        flagged || slow_consumers(&server) >= 1,
        "no slow consumer after {} MB",
        (sent * PAYLOAD) >> 20
    );

    // The publisher's connection is fine and keeps publishing after the drop.
    publisher.sync_clean();
    for seq in sent..sent + BATCH {
        publisher.send(format!("PUB flood {PAYLOAD}\r\n{}\r\n", payload(seq)));
    }
    sent += BATCH;
    publisher.send("PUB flood.end 0\r\n\r\n");
    publisher.sync_clean();
    let received = reader.join().expect("reader thread").expect("reader");
    assert_eq!(
        received, sent,
        "the reading subscriber got every message in order"
    );

    // The idle subscriber: whatever was already in flight, then a close with no -ERR.
    let tail = idle.expect_closed(WAIT);
    let text = String::from_utf8_lossy(&tail);
    assert!(
        !text.contains("-ERR"),
        "slow consumer must be closed without -ERR"
    );
}
