//! A connection's outbound buffer: where every publisher writes frames for this connection.
//!
//! Publishers append under a short lock and never wait for the socket. The connection's writer
//! task swaps the buffer out and writes it. Wake-ups are batched: a publisher marks the buffer
//! scheduled and the *read batch* that produced the frames notifies each touched buffer once
//! (see [`Outbound::schedule`]), so a burst of a thousand messages costs one cross-task wake-up,
//! not a thousand.
//!
//! The buffer is bounded by `max_pending`: a frame that would push it over closes the
//! connection as a slow consumer (nats-server sends no `-ERR` for that), so one stuck reader
//! can never slow publishers or grow memory without bound.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use rejoin_core::event::CloseReason;
use tokio::sync::Notify;

/// Result of appending a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Push {
    /// Appended.
    Queued,
    /// The connection is closing; the frame was dropped.
    Closed,
    /// This frame made the connection a slow consumer (reported once per connection).
    BecameSlow,
}

struct Inner {
    buf: Vec<u8>,
    /// Set when the connection must close: after flushing `buf` unless the reason says
    /// otherwise (a slow consumer's backlog is discarded).
    close: Option<CloseReason>,
}

/// The shared outbound side of one connection.
pub struct Outbound {
    inner: Mutex<Inner>,
    scheduled: AtomicBool,
    /// Wakes the writer task.
    pub writer_wake: Notify,
    /// Wakes the reader task (the writer failed, or a publisher closed us as slow).
    pub reader_wake: Notify,
    max_pending: usize,
    /// Messages delivered to this connection.
    pub out_msgs: AtomicU64,
    /// Payload bytes delivered to this connection.
    pub out_bytes: AtomicU64,
}

impl Outbound {
    /// A new buffer bounded by `max_pending` bytes.
    pub fn new(max_pending: usize) -> Self {
        Outbound {
            inner: Mutex::new(Inner {
                buf: Vec::new(),
                close: None,
            }),
            scheduled: AtomicBool::new(false),
            writer_wake: Notify::new(),
            reader_wake: Notify::new(),
            max_pending,
            out_msgs: AtomicU64::new(0),
            out_bytes: AtomicU64::new(0),
        }
    }

    /// Append a frame of `len` bytes written by `write`.
    pub fn push(&self, len: usize, write: impl FnOnce(&mut Vec<u8>)) -> Push {
        let mut g = self.inner.lock().expect("outbound lock");
        if g.close.is_some() {
            return Push::Closed;
        }
        if g.buf.len() + len > self.max_pending {
            g.close = Some(CloseReason::SlowConsumer);
            g.buf = Vec::new();
            drop(g);
            self.writer_wake.notify_one();
            self.reader_wake.notify_one();
            return Push::BecameSlow;
        }
        write(&mut g.buf);
        Push::Queued
    }

    /// Mark this buffer as needing a flush; returns true if the caller must call
    /// [`Outbound::wake_writer`] (once, typically at the end of its read batch).
    #[inline]
    pub fn schedule(&self) -> bool {
        !self.scheduled.swap(true, Ordering::AcqRel)
    }

    /// Wake the writer.
    pub fn wake_writer(&self) {
        self.writer_wake.notify_one();
    }

    /// Writer side: take everything queued, leaving `spare` (cleared) in its place.
    /// Returns the close reason if the connection must close after writing what was taken.
    pub fn take(&self, spare: &mut Vec<u8>) -> Option<CloseReason> {
        // Clear the flag before taking, so a frame appended after the take schedules again.
        self.scheduled.store(false, Ordering::Release);
        let mut g = self.inner.lock().expect("outbound lock");
        spare.clear();
        std::mem::swap(&mut g.buf, spare);
        g.close.clone()
    }

    /// Ask the connection to close with `reason` after flushing what is queued (the first
    /// reason wins).
    pub fn close(&self, reason: CloseReason) {
        let mut g = self.inner.lock().expect("outbound lock");
        if g.close.is_none() {
            g.close = Some(reason);
        }
        drop(g);
        self.writer_wake.notify_one();
        self.reader_wake.notify_one();
    }

    /// The close reason, if closing.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.inner.lock().expect("outbound lock").close.clone()
    }

    /// Bytes queued and not yet taken by the writer.
    pub fn pending(&self) -> usize {
        self.inner.lock().expect("outbound lock").buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_consumer_closes_and_drops_backlog() {
        let ob = Outbound::new(10);
        assert_eq!(ob.push(6, |b| b.extend_from_slice(b"123456")), Push::Queued);
        assert_eq!(
            ob.push(6, |b| b.extend_from_slice(b"123456")),
            Push::BecameSlow
        );
        assert_eq!(ob.push(1, |b| b.push(b'x')), Push::Closed);
        let mut spare = Vec::new();
        assert_eq!(ob.take(&mut spare), Some(CloseReason::SlowConsumer));
        assert!(spare.is_empty());
    }

    #[test]
    fn schedule_once_until_taken() {
        let ob = Outbound::new(100);
        assert!(ob.schedule());
        assert!(!ob.schedule());
        let mut spare = Vec::new();
        ob.take(&mut spare);
        assert!(ob.schedule());
    }
}
