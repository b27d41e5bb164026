//! Test harness: two [`LeafSession`]s, a hub (Accept) and a leaf (Solicit), wired together
//! in memory. Bytes move from each outbox to the other side's read buffer, are parsed in the
//! leaf dialect and fed back in; time only moves when a test says so, jumping to the earlier
//! of the two sessions' deadlines. Steps are recorded as owned values so tests can assert on
//! everything each side told its data plane.

use std::sync::Arc;

use crate::auth::{AuthSpec, Authenticator};
use crate::event::CloseReason;
use crate::proto::info::ServerInfo;
use crate::proto::{parse, Dialect, Limits, Parsed};
use crate::sublist::Interest;
use crate::time::{Duration, Instant};

use super::{AcceptConfig, LeafSession, LeafStep, LinkReady, SolicitConfig};

/// One step, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rec {
    StartTls,
    Ready(LinkReady),
    Added(String, Option<(String, u32)>),
    Removed(String, Option<String>),
    Msg {
        subject: String,
        reply: Option<String>,
        queues: Vec<String>,
        headers: Option<Vec<u8>>,
        payload: Vec<u8>,
    },
    Healthy,
    Urls(Vec<String>),
    Close(CloseReason),
}

impl Rec {
    pub fn of(step: &LeafStep<'_>) -> Option<Rec> {
        Some(match step {
            LeafStep::Nothing => return None,
            LeafStep::StartTls => Rec::StartTls,
            LeafStep::Ready(r) => Rec::Ready((**r).clone()),
            LeafStep::InterestAdded { subject, queue } => {
                Rec::Added(subject.to_string(), queue.map(|(q, w)| (q.to_string(), w)))
            }
            LeafStep::InterestRemoved { subject, queue } => {
                Rec::Removed(subject.to_string(), queue.map(str::to_string))
            }
            LeafStep::Message {
                subject,
                reply,
                queues,
                headers,
                payload,
            } => Rec::Msg {
                subject: subject.to_string(),
                reply: reply.map(str::to_string),
                queues: queues.iter().map(str::to_string).collect(),
                headers: headers.map(<[u8]>::to_vec),
                payload: payload.to_vec(),
            },
            LeafStep::Healthy => Rec::Healthy,
            LeafStep::LeafUrls(u) => Rec::Urls(u.clone()),
            LeafStep::Close(r) => Rec::Close(r.clone()),
        })
    }
}

/// A message step, as tests write what they expect.
pub fn msg(
    subject: &str,
    reply: Option<&str>,
    queues: &[&str],
    headers: Option<&[u8]>,
    payload: &[u8],
) -> Rec {
    Rec::Msg {
        subject: subject.into(),
        reply: reply.map(str::to_string),
        queues: queues.iter().map(|q| q.to_string()).collect(),
        headers: headers.map(<[u8]>::to_vec),
        payload: payload.to_vec(),
    }
}

/// One end of the pair with what it needs to answer `Ready` on its own.
pub struct Side {
    pub session: LeafSession,
    /// Bytes received and not parsed yet.
    pub inbuf: Vec<u8>,
    /// Every byte this side sent, for shape assertions.
    pub sent: Vec<u8>,
    pub log: Vec<Rec>,
    pub lds: String,
    pub interest: Vec<Interest>,
    /// Answer `Ready` with `registered` (otherwise the test does it).
    pub auto_register: bool,
    /// Answer `StartTls` with `tls_established`.
    pub auto_tls: bool,
    /// The socket is closed: nothing more is sent or received.
    pub eof: bool,
    /// A silent partition: bytes sent to this side are lost.
    pub deaf: bool,
}

impl Side {
    fn new(session: LeafSession, lds: &str) -> Self {
        Side {
            session,
            inbuf: Vec::new(),
            sent: Vec::new(),
            log: Vec::new(),
            lds: lds.to_string(),
            interest: Vec::new(),
            auto_register: true,
            auto_tls: true,
            eof: false,
            deaf: false,
        }
    }

    /// Records after (and including) the handshake, without Ready/Healthy noise.
    pub fn data(&self) -> Vec<Rec> {
        self.log
            .iter()
            .filter(|r| !matches!(r, Rec::Ready(_) | Rec::Healthy | Rec::StartTls))
            .cloned()
            .collect()
    }

    pub fn sent_text(&self) -> String {
        String::from_utf8_lossy(&self.sent).into_owned()
    }
}

pub const HUB_LDS: &str = "$LDS.HUBHUBHUBHUBHUBHUBHUBHUB";
pub const LEAF_LDS: &str = "$LDS.LEAFLEAFLEAFLEAFLEAFLEAF";

pub fn hub_info() -> ServerInfo {
    ServerInfo {
        server_id: "NHUB".into(),
        server_name: "hub".into(),
        version: "2.9.10".into(),
        proto: 1,
        host: "127.0.0.1".into(),
        port: 7422,
        max_payload: 1024,
        leafnode_urls: Some(vec!["127.0.0.1:7422".into()]),
        ..ServerInfo::default()
    }
}

pub fn leaf_cfg() -> SolicitConfig {
    SolicitConfig::new(21, "leaf1", "NLEAF")
}

pub fn hub_cfg(auth: AuthSpec) -> AcceptConfig {
    AcceptConfig::new(11, Arc::new(Authenticator::new(auth)))
}

pub struct Pair {
    pub now: Instant,
    pub hub: Side,
    pub leaf: Side,
}

impl Pair {
    /// Both sessions created at t=0; nothing exchanged yet.
    pub fn new(hub_cfg: AcceptConfig, info: ServerInfo, leaf_cfg: SolicitConfig) -> Self {
        let now = Instant::ZERO;
        Pair {
            now,
            hub: Side::new(LeafSession::accept(hub_cfg, now, info), HUB_LDS),
            leaf: Side::new(LeafSession::solicit(leaf_cfg, now), LEAF_LDS),
        }
    }

    pub fn default_pair() -> Self {
        Pair::new(hub_cfg(AuthSpec::default()), hub_info(), leaf_cfg())
    }

    /// Exchange bytes until neither side has anything to send. Bounded: a session pair
    /// that keeps talking without time passing is a bug.
    pub fn drive(&mut self) {
        for _ in 0..1000 {
            let a = Self::flush(&mut self.hub, &mut self.leaf);
            let b = Self::flush(&mut self.leaf, &mut self.hub);
            let c = Self::consume(self.now, &mut self.hub);
            let d = Self::consume(self.now, &mut self.leaf);
            if !(a || b || c || d) {
                return;
            }
        }
        panic!("pair did not go quiet");
    }

    /// Jump to the earlier deadline of the two sessions (if any, and not past `limit`), run
    /// the timers, and exchange. Returns false when nothing was due before `limit`.
    pub fn step_time(&mut self, limit: Instant) -> bool {
        let next = [
            self.hub.session.poll_timeout(),
            self.leaf.session.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .map(|(t, _)| t)
        .min();
        let Some(t) = next.filter(|t| *t <= limit) else {
            self.now = self.now.max(limit);
            return false;
        };
        self.now = self.now.max(t);
        self.hub.session.handle_timeout(self.now);
        self.leaf.session.handle_timeout(self.now);
        self.drive();
        true
    }

    /// Run timers and traffic until `now + d`.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        for _ in 0..100_000 {
            if !self.step_time(limit) {
                return;
            }
        }
        panic!("too many timer steps");
    }

    /// Move `from`'s outbox to `to`'s read buffer; a closed sender's peer then sees EOF.
    fn flush(from: &mut Side, to: &mut Side) -> bool {
        let mut progress = false;
        if !from.eof {
            if let Some(bytes) = from.session.take_outbox() {
                from.sent.extend_from_slice(&bytes);
                if !to.eof && !to.deaf {
                    to.inbuf.extend_from_slice(&bytes);
                }
                progress = true;
            }
            if from.session.close_reason().is_some() {
                from.eof = true;
                progress = true;
            }
        }
        if from.eof && to.inbuf.is_empty() && to.session.close_reason().is_none() {
            // The socket is gone: the peer's read returns EOF.
            to.session.close(CloseReason::ClientClosed);
            to.log.push(Rec::Close(CloseReason::ClientClosed));
            progress = true;
        }
        progress
    }

    /// What a shell does right after a step: register on `Ready`, upgrade on `StartTls`.
    fn follow_up(now: Instant, side: &mut Side, rec: &Rec) {
        match rec {
            Rec::Ready(_) if side.auto_register => {
                side.session.registered(now, &side.lds, &side.interest);
            }
            Rec::StartTls if side.auto_tls => {
                let step = side.session.tls_established(now);
                if let Some(r) = Rec::of(&step) {
                    side.log.push(r.clone());
                    Self::follow_up(now, side, &r);
                }
            }
            _ => {}
        }
    }

    /// Parse and handle everything complete in `side`'s read buffer.
    fn consume(now: Instant, side: &mut Side) -> bool {
        let limits = Limits {
            max_control_line: 4096,
            max_payload: None,
        };
        let mut progress = false;
        loop {
            if side.eof || side.session.close_reason().is_some() {
                side.inbuf.clear();
                return progress;
            }
            let buf = std::mem::take(&mut side.inbuf);
            let consumed = match parse(&buf, Dialect::Leaf, &limits) {
                Ok(Parsed::Incomplete) => {
                    side.inbuf = buf;
                    return progress;
                }
                Err(e) => {
                    let reason = side.session.handle_proto_error(&e);
                    side.log.push(Rec::Close(reason));
                    return true;
                }
                Ok(Parsed::Op { op, consumed }) => {
                    let step = side.session.handle_op(now, op);
                    let rec = Rec::of(&step);
                    drop(step);
                    if let Some(rec) = rec {
                        side.log.push(rec.clone());
                        Self::follow_up(now, side, &rec);
                    }
                    consumed
                }
            };
            side.inbuf = buf[consumed..].to_vec();
            progress = true;
        }
    }
}

pub fn plain(subject: &str) -> Interest {
    Interest {
        subject: subject.into(),
        queue: None,
        count: 1,
    }
}

pub fn queue(subject: &str, q: &str, n: u32) -> Interest {
    Interest {
        subject: subject.into(),
        queue: Some(q.into()),
        count: n,
    }
}
