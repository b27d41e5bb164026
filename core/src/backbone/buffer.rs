//! [`ReplayBuffer`]: the bounded FIFO of messages a backbone link could not carry.
//!
//! Two bounds, messages and bytes; whichever is exceeded drops from the *front* (the oldest),
//! and every drop is counted. The one subtle operation is [`ReplayBuffer::requeue_front`],
//! which puts back the unsent tail of a partially flushed batch. Incident 4's F5 was that
//! step done as "extend at the left of a full bounded deque", which evicts from the right:
//! the newest entries were lost and the oldest kept. Here the requeue rebuilds the sequence
//! as unsent-then-existing and trims from the front, so the bound always drops the oldest
//! entries, exactly as if nothing had ever been taken out.

use std::collections::VecDeque;

use crate::config::BufferLimits;
use crate::time::Instant;

/// One message published locally that the hub was interested in, as it would have crossed
/// the link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub reply: Option<String>,
    /// Queue groups the hub should serve (the `LMSG` queue list); plain interest at the
    /// hub is always served.
    pub queues: Vec<String>,
    /// The header block as published, if any.
    pub headers: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

impl Message {
    /// What the message costs against `max_bytes`: everything it carries.
    pub fn size(&self) -> u64 {
        let queues: usize = self.queues.iter().map(String::len).sum();
        (self.subject.len()
            + self.reply.as_ref().map_or(0, String::len)
            + queues
            + self.headers.as_ref().map_or(0, Vec::len)
            + self.payload.len()) as u64
    }
}

/// A buffered message with where and when it was published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buffered {
    pub msg: Message,
    /// When it was published (the replay header carries it, see F4 in the docs).
    pub published: Instant,
    /// The number of the gap it was buffered in (1-based per remote).
    pub gap: u64,
}

impl Buffered {
    pub fn size(&self) -> u64 {
        self.msg.size()
    }
}

/// A FIFO bounded by message count and bytes that drops its oldest entries.
///
/// A bound of `0` messages or `0` bytes holds nothing: every message is dropped (and
/// counted), which is how buffering is switched off.
#[derive(Clone, Debug)]
pub struct ReplayBuffer {
    entries: VecDeque<Buffered>,
    bytes: u64,
    limits: BufferLimits,
    dropped: u64,
    /// F5's historical requeue (bug switch `backbone-requeue-evicts-newest`).
    evict_newest_on_requeue: bool,
}

impl ReplayBuffer {
    pub fn new(limits: BufferLimits) -> Self {
        ReplayBuffer {
            entries: VecDeque::new(),
            bytes: 0,
            limits,
            dropped: 0,
            evict_newest_on_requeue: false,
        }
    }

    /// Restore F5: a requeue that overflows evicts the newest entries.
    pub(crate) fn with_requeue_bug(mut self, on: bool) -> Self {
        self.evict_newest_on_requeue = on;
        self
    }

    /// Append `entry`, then drop from the front until both bounds hold. Returns how many
    /// entries were dropped (an entry bigger than `max_bytes` is itself dropped).
    pub fn push(&mut self, entry: Buffered) -> u64 {
        if !self.fits_alone(&entry) {
            self.dropped += 1;
            return 1;
        }
        self.bytes += entry.size();
        self.entries.push_back(entry);
        self.trim_front()
    }

    /// Put back the unsent tail of a flushed batch, ahead of everything buffered since:
    /// the result is `unsent` then the existing entries, trimmed from the front. So the
    /// oldest entries are the ones that go, never the ones published during the flush.
    /// Returns how many entries were dropped.
    pub fn requeue_front(&mut self, unsent: Vec<Buffered>) -> u64 {
        if unsent.is_empty() {
            return 0;
        }
        let mut dropped = 0;
        let mut front: VecDeque<Buffered> = VecDeque::with_capacity(unsent.len());
        for e in unsent {
            if self.fits_alone(&e) {
                self.bytes += e.size();
                front.push_back(e);
            } else {
                dropped += 1;
            }
        }
        if self.evict_newest_on_requeue {
            // Like `deque.extendleft` on a full bounded deque: what falls off is the newest.
            for e in front.into_iter().rev() {
                self.entries.push_front(e);
            }
            while self.over() {
                let Some(e) = self.entries.pop_back() else {
                    break;
                };
                self.bytes -= e.size();
                dropped += 1;
            }
            self.dropped += dropped;
            return dropped;
        }
        front.append(&mut self.entries);
        self.entries = front;
        self.dropped += dropped;
        dropped + self.trim_front()
    }

    /// Take up to `max_msgs` entries, and up to `max_bytes` of them (at least one when the
    /// buffer is not empty), from the front.
    pub fn take_batch(&mut self, max_msgs: usize, max_bytes: u64) -> Vec<Buffered> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        while batch.len() < max_msgs.max(1) {
            let Some(front) = self.entries.front() else {
                break;
            };
            if !batch.is_empty() && bytes + front.size() > max_bytes {
                break;
            }
            let Some(e) = self.entries.pop_front() else {
                break;
            };
            bytes += e.size();
            self.bytes -= e.size();
            batch.push(e);
        }
        batch
    }

    /// New bounds; applied at once (dropping the oldest if needed). Returns the drops.
    pub fn set_limits(&mut self, limits: BufferLimits) -> u64 {
        self.limits = limits;
        self.trim_front()
    }

    /// Drop everything (counted). Returns how many entries went.
    pub fn clear(&mut self) -> u64 {
        let n = self.entries.len() as u64;
        self.entries.clear();
        self.bytes = 0;
        self.dropped += n;
        n
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held (the sum of [`Buffered::size`]).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Entries dropped since creation.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn limits(&self) -> BufferLimits {
        self.limits
    }

    /// The entries, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Buffered> {
        self.entries.iter()
    }

    fn fits_alone(&self, e: &Buffered) -> bool {
        self.limits.max_msgs > 0 && e.size() <= self.limits.max_bytes
    }

    fn over(&self) -> bool {
        self.entries.len() as u64 > self.limits.max_msgs || self.bytes > self.limits.max_bytes
    }

    fn trim_front(&mut self) -> u64 {
        let mut dropped = 0;
        while self.over() {
            let Some(e) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= e.size();
            dropped += 1;
        }
        self.dropped += dropped;
        dropped
    }
}
