//! Routing one message from the task that received it to every matching subscriber.
//!
//! Delivery rules, as nats-server applies them:
//! - every plain subscriber gets the message, plus exactly one member of each matching queue
//!   group, local members preferred over members behind a leafnode link;
//! - a leafnode link gets at most one `LMSG` per message, listing the queue groups it should
//!   serve;
//! - a message never goes back to the link it came from, and a message from a hub is not
//!   sent to another hub (the same rule as interest propagation, see
//!   [`rejoin_core::interest`]);
//! - a message that arrived over a link with a queue list is delivered to plain subscribers
//!   and only to the listed groups.
//!
//! Frames are appended to subscribers' [`Outbound`](super::outbound::Outbound) buffers; the
//! buffers touched by a read batch are woken once, at its end ([`Router::wake_touched`]).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rejoin_core::leaf::LeafSession;
use rejoin_core::proto::encode;
use rejoin_core::sublist::MatchResult;

use super::outbound::Push;
use super::state::{splitmix64, Account, ConnKind, ConnShared, Shared, Subscription};

type Match = Arc<MatchResult<Arc<Subscription>>>;

/// Where the message being routed came from.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    /// Deliver to the sender's own subscriptions (client `echo`).
    pub echo: bool,
    /// Queue groups listed by an incoming `LMSG` (`None`: a client publish, all groups).
    pub queues: Option<&'a [&'a str]>,
}

/// Per-task routing state: match cache, wake-up batch, queue-choice RNG.
pub struct Router {
    shared: Arc<Shared>,
    conn: Arc<ConnShared>,
    account: Arc<Account>,
    /// Per-connection match cache valid for one account generation (nats-server's
    /// per-client result cache): a hit takes no lock.
    cache: HashMap<Box<str>, Match>,
    cache_gen: u64,
    touched: Vec<Arc<ConnShared>>,
    rng: u64,
    /// Scratch list of links to send one LMSG each, reused across messages.
    leaf_targets: Vec<(Arc<ConnShared>, Vec<Arc<str>>)>,
}

impl Router {
    /// A router for the connection `conn`, bound to `account`.
    pub fn new(
        shared: Arc<Shared>,
        conn: Arc<ConnShared>,
        account: Arc<Account>,
        seed: u64,
    ) -> Self {
        Router {
            shared,
            conn,
            account,
            cache: HashMap::new(),
            cache_gen: u64::MAX,
            touched: Vec::new(),
            rng: seed,
            leaf_targets: Vec::new(),
        }
    }

    /// The bound account.
    pub fn account(&self) -> &Arc<Account> {
        &self.account
    }

    /// Rebind to another account (a CONNECT authenticated into it).
    pub fn set_account(&mut self, account: Arc<Account>) {
        self.account = account;
        self.cache.clear();
        self.cache_gen = u64::MAX;
    }

    fn lookup(&mut self, subject: &str) -> Match {
        let gen = self.account.generation.load(Ordering::Acquire);
        if gen != self.cache_gen {
            self.cache.clear();
            self.cache_gen = gen;
        }
        if let Some(m) = self.cache.get(subject) {
            return m.clone();
        }
        let m = self
            .account
            .sublist
            .read()
            .expect("sublist lock")
            .matches(subject);
        if self.cache.len() >= 1024 {
            self.cache.clear();
        }
        self.cache.insert(subject.into(), m.clone());
        m
    }

    /// Whether `sub` may receive a message from this connection at all.
    fn eligible(&self, sub: &Subscription, echo: bool) -> bool {
        if sub.removed.load(Ordering::Acquire) {
            return false;
        }
        if sub.cid == self.conn.cid {
            return echo && self.conn.kind == ConnKind::Client;
        }
        // A hub's message is not forwarded to another hub.
        !(matches!(self.conn.kind, ConnKind::Leaf { solicited: true })
            && matches!(sub.conn.kind, ConnKind::Leaf { solicited: true }))
    }

    /// Route one message. Returns whether anybody at all had interest (for no-responders).
    pub fn route(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
        src: Source<'_>,
    ) -> bool {
        let m = self.lookup(subject);
        if m.plain.is_empty() && m.queues.is_empty() {
            // Nobody here, but a backbone hub that is away may have wanted it.
            return self.shared.backbones.holding()
                && self.hold_for_backbone(subject, reply, headers, payload, &m);
        }
        self.leaf_targets.clear();
        for sub in &m.plain {
            if !self.eligible(sub, src.echo) {
                continue;
            }
            if matches!(sub.conn.kind, ConnKind::Leaf { .. }) {
                if sub.conn.may_send(subject) {
                    self.leaf_target(&sub.conn);
                }
            } else {
                self.deliver(sub, subject, reply, headers, payload);
            }
        }
        for group in &m.queues {
            if let Some(listed) = src.queues {
                if !listed.iter().any(|q| **q == *group.name) {
                    continue;
                }
            }
            let members = &group.members;
            let n = members.len();
            self.rng = splitmix64(self.rng);
            let start = (self.rng % n.max(1) as u64) as usize;
            // Local members first, from a random start; a member that just went away must
            // not swallow the message meant for the group.
            let mut done = false;
            for i in 0..n {
                let sub = &members[(start + i) % n];
                if sub.conn.kind == ConnKind::Client
                    && self.eligible(sub, src.echo)
                    && self.deliver(sub, subject, reply, headers, payload)
                {
                    done = true;
                    break;
                }
            }
            if done {
                continue;
            }
            for i in 0..n {
                let sub = &members[(start + i) % n];
                if matches!(sub.conn.kind, ConnKind::Leaf { .. })
                    && self.eligible(sub, src.echo)
                    && sub.conn.may_send(subject)
                {
                    let idx = self.leaf_target(&sub.conn);
                    self.leaf_targets[idx].1.push(group.name.clone());
                    break;
                }
            }
        }
        if self.shared.backbones.holding() {
            self.hold_for_backbone(subject, reply, headers, payload, &m);
        }
        let targets = std::mem::take(&mut self.leaf_targets);
        for (conn, queues) in &targets {
            self.deliver_leaf(conn, subject, reply, queues, headers, payload);
        }
        self.leaf_targets = targets;
        true
    }

    /// While a backbone remote is in a gap, a message its hub wanted goes to the replay
    /// buffer instead of the (dead or not yet recovered) link: see [`super::backbone`].
    fn hold_for_backbone(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
        m: &MatchResult<Arc<Subscription>>,
    ) -> bool {
        super::backbone::hold(
            &self.shared,
            &self.account.name,
            self.conn.kind,
            subject,
            reply,
            headers,
            payload,
            m,
            &mut self.leaf_targets,
        )
    }

    /// Deliver to this server's clients only, never over a leafnode link: for messages the
    /// server itself publishes (the backbone resync announcement). Returns the deliveries.
    pub fn route_local(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> usize {
        let m = self.lookup(subject);
        let mut n = 0;
        for sub in &m.plain {
            if sub.conn.kind == ConnKind::Client
                && self.eligible(sub, false)
                && self.deliver(sub, subject, reply, headers, payload)
            {
                n += 1;
            }
        }
        for group in &m.queues {
            let members = &group.members;
            self.rng = splitmix64(self.rng);
            let start = (self.rng % members.len().max(1) as u64) as usize;
            for i in 0..members.len() {
                let sub = &members[(start + i) % members.len()];
                if sub.conn.kind == ConnKind::Client
                    && self.eligible(sub, false)
                    && self.deliver(sub, subject, reply, headers, payload)
                {
                    n += 1;
                    break;
                }
            }
        }
        self.wake_touched();
        n
    }

    fn leaf_target(&mut self, conn: &Arc<ConnShared>) -> usize {
        if let Some(i) = self
            .leaf_targets
            .iter()
            .position(|(c, _)| c.cid == conn.cid)
        {
            return i;
        }
        self.leaf_targets.push((conn.clone(), Vec::new()));
        self.leaf_targets.len() - 1
    }

    fn deliver_leaf(
        &mut self,
        conn: &Arc<ConnShared>,
        subject: &str,
        reply: Option<&str>,
        queues: &[Arc<str>],
        headers: Option<&[u8]>,
        payload: &[u8],
    ) {
        let headers = headers.filter(|_| conn.headers.load(Ordering::Relaxed));
        let q: Vec<&str> = queues.iter().map(|q| &**q).collect();
        let mut frame = Vec::with_capacity(subject.len() + payload.len() + 64);
        LeafSession::encode_msg(&mut frame, subject, reply, &q, headers, payload);
        let bytes = (payload.len() + headers.map_or(0, <[u8]>::len)) as u64;
        self.push(conn, frame.len(), bytes, |out| {
            out.extend_from_slice(&frame)
        });
    }

    /// Deliver one message to one client subscription; false if it was skipped.
    fn deliver(
        &mut self,
        sub: &Arc<Subscription>,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> bool {
        let max = sub.max.load(Ordering::Acquire);
        if max > 0 {
            let n = sub.delivered.fetch_add(1, Ordering::AcqRel) + 1;
            if n > max {
                return false;
            }
            if n == max {
                self.account.remove(sub);
            }
        } else {
            sub.delivered.fetch_add(1, Ordering::Relaxed);
        }
        let conn = sub.conn.clone();
        let headers = headers.filter(|_| conn.headers.load(Ordering::Relaxed));
        let len = encode::msg_len(subject, &sub.sid, reply, headers, payload);
        let bytes = (payload.len() + headers.map_or(0, <[u8]>::len)) as u64;
        self.push(&conn, len, bytes, |out| match headers {
            Some(h) => encode::hmsg(out, subject, &sub.sid, reply, h, payload),
            None => encode::msg(out, subject, &sub.sid, reply, payload),
        })
    }

    fn push(
        &mut self,
        conn: &Arc<ConnShared>,
        len: usize,
        bytes: u64,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> bool {
        match conn.outbound.push(len, write) {
            Push::Queued => {
                conn.outbound.out_msgs.fetch_add(1, Ordering::Relaxed);
                conn.outbound.out_bytes.fetch_add(bytes, Ordering::Relaxed);
                if conn.outbound.schedule() {
                    self.touched.push(conn.clone());
                }
                true
            }
            Push::BecameSlow => {
                self.shared
                    .stats
                    .slow_consumers
                    .fetch_add(1, Ordering::Relaxed);
                false
            }
            Push::Closed => false,
        }
    }

    /// A request nobody can answer: a 503 status message to the requester's own reply
    /// subscription.
    pub fn no_responders(&mut self, reply: &str) {
        let m = self.lookup(reply);
        const STATUS: &[u8] = b"NATS/1.0 503\r\n\r\n";
        let mine = m
            .plain
            .iter()
            .chain(m.queues.iter().flat_map(|g| g.members.iter()));
        let Some(sub) = mine.into_iter().find(|s| s.cid == self.conn.cid).cloned() else {
            return;
        };
        let len = encode::msg_len(reply, &sub.sid, None, Some(STATUS), b"");
        let conn = self.conn.clone();
        self.push(&conn, len, 0, |out| {
            encode::hmsg(out, reply, &sub.sid, None, STATUS, b"")
        });
    }

    /// Queue raw bytes (protocol replies) on our own connection, ahead of anything routed
    /// later.
    pub fn reply(&mut self, bytes: &[u8]) {
        let conn = self.conn.clone();
        let _ = conn
            .outbound
            .push(bytes.len(), |out| out.extend_from_slice(bytes));
        if conn.outbound.schedule() {
            self.touched.push(conn);
        }
    }

    /// Wake every buffer written to since the last call.
    pub fn wake_touched(&mut self) {
        for c in self.touched.drain(..) {
            c.outbound.wake_writer();
        }
    }
}

/// Presence relay support: restricted routing and routers for server-made messages.
impl Router {
    /// The connection this router routes for.
    pub fn cid(&self) -> rejoin_core::event::Cid {
        self.conn.cid
    }

    /// A router for the same connection bound to another account (server-made messages
    /// into an account other than the connection's own).
    pub fn for_account(&self, account: Arc<Account>) -> Router {
        Router::new(self.shared.clone(), self.conn.clone(), account, self.rng)
    }

    /// Route a message only to the subscriptions `keep` accepts (a relay message: the
    /// subscriptions of one peer's current session, or only leafnode links), with the usual
    /// rules otherwise: one member per queue group, local members first, one `LMSG` per
    /// link, no reflection. Returns whether anything was delivered or forwarded.
    pub fn route_only(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
        echo: bool,
        keep: impl Fn(&Subscription) -> bool,
    ) -> bool {
        let m = self.lookup(subject);
        let mut any = false;
        self.leaf_targets.clear();
        for sub in &m.plain {
            if !keep(sub) || !self.eligible(sub, echo) {
                continue;
            }
            if matches!(sub.conn.kind, ConnKind::Leaf { .. }) {
                if sub.conn.may_send(subject) {
                    self.leaf_target(&sub.conn);
                }
            } else {
                any |= self.deliver(sub, subject, reply, headers, payload);
            }
        }
        for group in &m.queues {
            let members: Vec<&Arc<Subscription>> = group
                .members
                .iter()
                .filter(|s| keep(s) && self.eligible(s, echo) && s.conn.may_send(subject))
                .collect();
            if let Some(sub) = members.iter().find(|s| s.conn.kind == ConnKind::Client) {
                any |= self.deliver(sub, subject, reply, headers, payload);
            } else if let Some(sub) = members.first() {
                let idx = self.leaf_target(&sub.conn);
                self.leaf_targets[idx].1.push(group.name.clone());
            }
        }
        let targets = std::mem::take(&mut self.leaf_targets);
        for (conn, queues) in &targets {
            self.deliver_leaf(conn, subject, reply, queues, headers, payload);
            any = true;
        }
        self.leaf_targets = targets;
        any
    }
}
