//! Message throughput with raw TCP load generators: publishers write pipelined `PUB` frames in
//! large batches, subscribers count delivered frames, one OS thread per connection.
//!
//! Publishers keep at most a window of undelivered messages in flight, so a subscriber that
//! falls behind slows the publishers down instead of turning into a slow consumer and voiding
//! the run (nats-server has no publisher back-pressure of its own).

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use super::wire::{handshake, pump, MsgCounter};

/// One throughput scenario.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub publishers: usize,
    pub subscribers: usize,
    /// Subscribers join one queue group instead of each getting every message.
    pub queue: bool,
    pub payload: usize,
    /// Messages published in total (split evenly across publishers).
    pub messages: u64,
}

impl Shape {
    /// Deliveries the run waits for.
    fn expected_deliveries(&self) -> u64 {
        if self.queue {
            self.messages
        } else {
            self.messages * self.subscribers as u64
        }
    }

    /// Deliveries each published message produces.
    fn fanout(&self) -> u64 {
        if self.queue {
            1
        } else {
            self.subscribers as u64
        }
    }
}

/// Bytes of undelivered payload allowed in flight per subscriber, far below the server's
/// `max_pending` in the benchmark config.
const WINDOW_BYTES: u64 = 8 << 20;
/// Size of one publisher write.
const BATCH_BYTES: usize = 64 * 1024;
/// A run that takes longer than this is reported as failed rather than waited for.
pub const RUN_LIMIT: Duration = Duration::from_secs(180);

const SUBJECT: &str = "bench.load";

#[derive(Default)]
struct Progress {
    published: AtomicU64,
    delivered: AtomicU64,
    stop: AtomicBool,
    failure: std::sync::Mutex<Option<String>>,
}

impl Progress {
    fn fail(&self, why: String) {
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(why);
        }
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Runs `shape` against the server at `addr`; returns delivered messages per second.
pub fn run(addr: SocketAddr, shape: Shape) -> Result<f64, String> {
    let progress = Arc::new(Progress::default());
    let sub_line = if shape.queue {
        format!("SUB {SUBJECT} workers 1\r\n")
    } else {
        format!("SUB {SUBJECT} 1\r\n")
    };
    // Connect everybody first (subscriptions registered via PING/PONG), then start together.
    let mut sub_streams = Vec::new();
    for _ in 0..shape.subscribers {
        sub_streams.push(handshake(addr, &sub_line).map_err(|e| format!("subscriber: {e}"))?);
    }
    let mut pub_streams = Vec::new();
    for _ in 0..shape.publishers {
        pub_streams.push(handshake(addr, "").map_err(|e| format!("publisher: {e}"))?);
    }
    let start = Arc::new(Barrier::new(shape.subscribers + shape.publishers + 1));

    let mut threads = Vec::new();
    for stream in sub_streams {
        let (progress, start) = (progress.clone(), start.clone());
        threads.push(thread::spawn(move || subscriber(stream, &progress, &start)));
    }
    let per_publisher = shape.messages / shape.publishers as u64;
    for (i, stream) in pub_streams.into_iter().enumerate() {
        let (progress, start) = (progress.clone(), start.clone());
        // The first publisher also sends the remainder of an uneven split.
        let count = if i == 0 {
            shape.messages - per_publisher * (shape.publishers as u64 - 1)
        } else {
            per_publisher
        };
        threads.push(thread::spawn(move || {
            publisher(stream, count, shape, &progress, &start)
        }));
    }

    start.wait();
    let began = Instant::now();
    let expected = shape.expected_deliveries();
    while progress.delivered.load(Ordering::SeqCst) < expected {
        if progress.stop.load(Ordering::SeqCst) {
            break;
        }
        if began.elapsed() > RUN_LIMIT {
            progress.fail(format!(
                "timed out after {RUN_LIMIT:?}: {} of {expected} delivered",
                progress.delivered.load(Ordering::SeqCst)
            ));
            break;
        }
        thread::sleep(Duration::from_millis(1));
    }
    let elapsed = began.elapsed();
    progress.stop.store(true, Ordering::SeqCst);
    for t in threads {
        let _ = t.join();
    }
    if let Ok(mut f) = progress.failure.lock() {
        if let Some(why) = f.take() {
            return Err(why);
        }
    }
    Ok(expected as f64 / elapsed.as_secs_f64())
}

fn subscriber(mut stream: TcpStream, progress: &Progress, start: &Barrier) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut counter = MsgCounter::default();
    let mut buf = vec![0u8; 256 * 1024];
    let mut reported = 0u64;
    start.wait();
    while !progress.stop.load(Ordering::Relaxed) {
        match pump(&mut stream, &mut buf, &mut counter) {
            Ok(true) => {}
            Ok(false) => return progress.fail("subscriber connection closed".into()),
            Err(e) => return progress.fail(format!("subscriber: {e}")),
        }
        if let Some(err) = counter.error.take() {
            return progress.fail(format!("subscriber got {err:?}"));
        }
        if counter.messages > reported {
            progress
                .delivered
                .fetch_add(counter.messages - reported, Ordering::SeqCst);
            reported = counter.messages;
        }
    }
}

fn publisher(
    mut stream: TcpStream,
    count: u64,
    shape: Shape,
    progress: &Progress,
    start: &Barrier,
) {
    let frame = {
        let mut f = format!("PUB {SUBJECT} {}\r\n", shape.payload).into_bytes();
        f.extend(std::iter::repeat_n(b'x', shape.payload));
        f.extend_from_slice(b"\r\n");
        f
    };
    let per_batch = (BATCH_BYTES / frame.len()).max(1) as u64;
    let batch: Vec<u8> = frame.repeat(per_batch as usize);
    let window = (WINDOW_BYTES / shape.payload.max(16) as u64).max(per_batch * 2) * shape.fanout();
    start.wait();
    let mut sent = 0u64;
    while sent < count {
        if progress.stop.load(Ordering::Relaxed) {
            return;
        }
        let in_flight = progress.published.load(Ordering::Relaxed) * shape.fanout()
            - progress
                .delivered
                .load(Ordering::Relaxed)
                .min(progress.published.load(Ordering::Relaxed) * shape.fanout());
        if in_flight > window {
            // Yield the core to the server and subscribers rather than spin.
            thread::sleep(Duration::from_micros(200));
            continue;
        }
        let n = per_batch.min(count - sent);
        let bytes = if n == per_batch {
            &batch[..]
        } else {
            &batch[..frame.len() * n as usize]
        };
        if let Err(e) = stream.write_all(bytes) {
            return progress.fail(format!("publisher: {e}"));
        }
        sent += n;
        progress.published.fetch_add(n, Ordering::Relaxed);
    }
    let _ = stream.flush();
    // Keep the connection open until the run ends: closing early is fine for the protocol but
    // would make the server tear down a connection while the measurement is still running.
    while !progress.stop.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_millis(5));
    }
}
