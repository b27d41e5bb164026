//! Invariants about the backbone broadcaster (incident 4): what one gap's buffer replayed.
//!
//! The edge does not log each message it buffers; what the log has is the publisher's
//! `published`, the far subscriber's `received`, and the edge's `backbone_gap_started` and
//! `backbone_flushed {replayed, dropped}`. That is enough: the buffer is a FIFO that drops
//! its oldest entries, so of what was published after the gap started, the messages that
//! never arrive must be the oldest ones, as many as the edge says it dropped, and the
//! replay must have kept as many as the buffer holds.

use std::collections::BTreeSet;
use std::time::Duration;

use rejoin_core::event::Event;

use super::{Ctx, Invariant};
use crate::client::ClientEvent;
use crate::duration::stamp;
use crate::trace::{Body, Record};

/// Always: `to` receives `from`'s messages in strictly increasing order. Eventually: for
/// the first gap of `server` after the reference point, let `n` be the messages `from`
/// published after the gap started (up to `grace` before the end). The ones `to` never
/// received are the oldest of those `n` (a prefix), their number equals the `dropped` of
/// the first `backbone_flushed` after the gap, and the flush replayed at least
/// `min(buffered, max_msgs)` (so "nothing buffered, everything dropped" fails; messages
/// published while a flush batch is out are replayed behind it, hence "at least").
pub struct BackboneReplay {
    pub name: String,
    pub from: String,
    pub to: String,
    pub server: String,
    pub max_msgs: u64,
    pub after: Option<String>,
    pub grace: Duration,
    pub last_seq: Option<u64>,
}

impl Invariant for BackboneReplay {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn observe(&mut self, r: &Record) -> Option<String> {
        let Body::Client(ClientEvent::Received { from, seq, .. }) = &r.body else {
            return None;
        };
        if r.host != self.to || *from != self.from {
            return None;
        }
        if self.last_seq.is_some_and(|l| *seq <= l) {
            return Some(format!(
                "{} received {}:{seq} after {}:{} at {} (duplicate or out of order)",
                self.to,
                self.from,
                self.from,
                self.last_seq.unwrap_or(0),
                stamp(r.t)
            ));
        }
        self.last_seq = Some(*seq);
        None
    }

    fn finish(&mut self, log: &[Record], ctx: &Ctx) -> Result<String, String> {
        let a = ctx.reference(self.after.as_deref())?;
        let server_event = |r: &&Record| -> Option<Event> {
            match &r.body {
                Body::Server { event, .. } if r.host == self.server && r.t >= a => {
                    Some(event.clone())
                }
                _ => None,
            }
        };
        let gap = log
            .iter()
            .find(|r| matches!(server_event(r), Some(Event::BackboneGapStarted { .. })))
            .ok_or("no backbone_gap_started after the reference point")?;
        let (flushed_at, replayed, dropped) = log
            .iter()
            .filter(|r| r.t >= gap.t)
            .find_map(|r| match server_event(&r) {
                Some(Event::BackboneFlushed {
                    replayed, dropped, ..
                }) => Some((r.t, replayed, dropped)),
                _ => None,
            })
            .ok_or_else(|| format!("the gap of {} was never flushed", stamp(gap.t)))?;
        let until = ctx.end.saturating_sub(self.grace);
        let published: Vec<u64> = log
            .iter()
            .filter(|r| r.host == self.from && r.t > gap.t && r.t <= until)
            .filter_map(|r| match &r.body {
                Body::Client(ClientEvent::Published { seq, .. }) => Some(*seq),
                _ => None,
            })
            .collect();
        let received: BTreeSet<u64> = log
            .iter()
            .filter(|r| r.host == self.to)
            .filter_map(|r| match &r.body {
                Body::Client(ClientEvent::Received { from, seq, .. }) if *from == self.from => {
                    Some(*seq)
                }
                _ => None,
            })
            .collect();
        if published.is_empty() {
            return Err("nothing was published after the gap started: nothing checked".into());
        }
        let missing: Vec<u64> = published
            .iter()
            .copied()
            .filter(|s| !received.contains(s))
            .collect();
        let prefix = &published[..missing.len()];
        let detail = format!(
            "gap at {}, flushed at {} (replayed {replayed}, dropped {dropped}); {} published \
             after the gap, {} never arrived",
            stamp(gap.t),
            stamp(flushed_at),
            published.len(),
            missing.len()
        );
        if missing != prefix {
            let shown: Vec<String> = missing.iter().take(5).map(u64::to_string).collect();
            return Err(format!(
                "{detail}: the lost ones are not the oldest (lost {}{})",
                shown.join(" "),
                if missing.len() > 5 { " ..." } else { "" }
            ));
        }
        if missing.len() as u64 != dropped {
            return Err(format!("{detail}: the edge counted {dropped} dropped"));
        }
        // Messages published while a batch is out are buffered behind it and replayed too,
        // so a full buffer can replay a little more than it holds, never less.
        let want = (replayed + dropped).min(self.max_msgs);
        if replayed < want {
            return Err(format!(
                "{detail}: a buffer of {} should have replayed at least {want}",
                self.max_msgs
            ));
        }
        Ok(detail)
    }
}

/// Always: `server`'s resync announcements cover its gaps in order without a hole or an
/// overlap: each one's `first_gap` is the previous one's `last_gap + 1` (from gap 1, per
/// server incarnation). Eventually: the last one covers gap `gaps`.
pub struct ResyncsCoverGaps {
    pub name: String,
    pub server: String,
    pub gaps: u64,
    pub inc: u32,
    pub covered: u64,
    pub seen: u64,
}

impl Invariant for ResyncsCoverGaps {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn observe(&mut self, r: &Record) -> Option<String> {
        let Body::Server { inc, event } = &r.body else {
            return None;
        };
        if r.host != self.server {
            return None;
        }
        if *inc != self.inc {
            self.inc = *inc;
            self.covered = 0;
        }
        let Event::BackboneResync {
            first_gap,
            last_gap,
            ..
        } = event
        else {
            return None;
        };
        self.seen += 1;
        if *first_gap != self.covered + 1 || last_gap < first_gap {
            return Some(format!(
                "announcement at {} covers gaps {first_gap}..={last_gap}, after gaps up to {} \
                 were covered",
                stamp(r.t),
                self.covered
            ));
        }
        self.covered = *last_gap;
        None
    }

    fn finish(&mut self, _: &[Record], _: &Ctx) -> Result<String, String> {
        let detail = format!(
            "{} announcement(s) covering gaps 1..={}",
            self.seen, self.covered
        );
        if self.covered == self.gaps {
            Ok(detail)
        } else {
            Err(format!("{detail}, not 1..={}", self.gaps))
        }
    }
}
