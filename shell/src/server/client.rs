//! One client connection: a reader task that parses and routes, and a writer task that
//! flushes the connection's outbound buffer.
//!
//! The reader owns the sans-I/O [`ClientSession`] (protocol rules, liveness timers) and
//! performs what it decides against the shared subscription index. Routing happens right
//! here in the publisher's task: each matching subscriber's frame is appended to that
//! subscriber's [`Outbound`] and its writer is woken once per read batch, so there is no
//! per-message hand-off between threads.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use rejoin_core::bugs::BugSwitch;
use rejoin_core::event::{Cid, CloseReason, Event};
use rejoin_core::proto::encode;
use rejoin_core::proto::parser::{parse, Dialect, Limits, Op, Parsed};
use rejoin_core::session::{ClientSession, Step};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::outbound::Outbound;
use super::route::{Router, Source};
use super::state::{splitmix64, ConnInfo, ConnKind, ConnShared, Shared, Subscription};
use crate::transport::Stream;

/// How a connection reached [`run`].
#[derive(Clone, Copy, Debug)]
pub struct Opening {
    /// When it was accepted: the auth and first-PING timers count from here.
    pub accepted: rejoin_core::time::Instant,
    /// INFO already went out in plaintext, ahead of the TLS handshake.
    pub info_sent: bool,
}

impl Opening {
    /// Accepted just now, nothing sent yet.
    pub fn now(shared: &Shared) -> Opening {
        Opening {
            accepted: shared.now(),
            info_sent: false,
        }
    }
}

/// Serve one accepted client connection until it closes.
pub async fn run<S: Stream>(
    shared: Arc<Shared>,
    stream: S,
    cid: Cid,
    addr: String,
    opening: Opening,
) {
    let settings = shared.settings();
    let conn = Arc::new(ConnShared {
        cid,
        kind: ConnKind::Client,
        outbound: Outbound::new(settings.max_pending),
        headers: Default::default(),
        info: std::sync::Mutex::new(ConnInfo {
            addr,
            start: opening.accepted,
            ..Default::default()
        }),
        leaf_perms: Default::default(),
    });
    let (reader, writer) = tokio::io::split(stream);
    let writer_task = tokio::spawn(write_loop(shared.clone(), conn.clone(), writer));

    let mut rng = splitmix64(shared.derive_seed(cid));
    let jitter = (rng % 1000) as f64 / 5000.0; // [0, 0.2)
    rng = splitmix64(rng);
    let info = info_line(&shared, &settings, cid);
    let session = ClientSession::new(
        cid,
        settings.session.clone(),
        opening.accepted,
        &info,
        jitter,
        shared.bugs,
    );
    let account = shared.account(&settings.auth().anonymous().account);
    shared
        .conns
        .lock()
        .expect("conns lock")
        .insert(cid, conn.clone());
    {
        let mut i = conn.info.lock().expect("info lock");
        i.account = account.name.to_string();
    }
    shared.emit(Event::ClientAccepted { cid });

    let mut client = Client {
        shared: shared.clone(),
        conn: conn.clone(),
        session,
        router: Router::new(shared.clone(), conn.clone(), account, rng),
        subs: HashMap::new(),
        limits: Limits {
            max_control_line: settings.max_control_line,
            max_payload: Some(settings.max_payload),
        },
        max_subs: settings.max_subscriptions,
        in_msgs: 0,
        in_bytes: 0,
        subs_generation: 0,
    };
    if opening.info_sent {
        let _ = client.session.take_outbox();
    }
    client.flush_session();
    let reason = client.read_loop(reader).await;
    super::presence::on_ending(&shared, cid, &reason);
    shared.gates.pass(super::presence::CLEANUP_GATE).await;
    client.cleanup(reason.clone());
    conn.outbound.close(reason);
    let _ = writer_task.await;
}

pub(crate) fn info_line(shared: &Shared, s: &super::settings::Settings, cid: Cid) -> Vec<u8> {
    let mut info = rejoin_core::proto::info::ServerInfo {
        server_id: shared.server_id.clone(),
        server_name: shared.server_name(),
        version: crate::VERSION.to_string(),
        proto: 1,
        host: s.host.clone(),
        port: s.port,
        headers: true,
        max_payload: s.max_payload as u64,
        client_id: Some(cid),
        ..Default::default()
    };
    if s.auth().auth_configured() {
        info.auth_required = Some(true);
    }
    if let Some(tls) = &s.tls {
        info.tls_required = Some(true);
        info.tls_verify = tls.verifies_peers().then_some(true);
    }
    let mut out = Vec::with_capacity(256);
    encode::info(&mut out, &info);
    out
}

struct Client {
    shared: Arc<Shared>,
    conn: Arc<ConnShared>,
    session: ClientSession,
    router: Router,
    subs: HashMap<Box<str>, Arc<Subscription>>,
    limits: Limits,
    max_subs: usize,
    in_msgs: u64,
    in_bytes: u64,
    /// Bumped when `subs` changes, so monitoring's copy is rebuilt only then.
    subs_generation: u64,
}

impl Client {
    async fn read_loop<R: tokio::io::AsyncRead + Unpin>(&mut self, mut reader: R) -> CloseReason {
        let mut shutdown = self.shared.shutdown.subscribe();
        // Idle connections are the common case: start small and grow to the large buffer
        // only once a read fills what we have (see `ReadSizing`).
        let mut buf = BytesMut::new();
        let mut sizing = super::client::ReadSizing::default();
        loop {
            if let Some(reason) = self.conn.outbound.close_reason() {
                return reason;
            }
            let deadline = self
                .session
                .poll_timeout()
                .map(|(t, _)| self.shared.start + t.since_start());
            sizing.prepare(&mut buf);
            tokio::select! {
                biased;
                _ = self.conn.outbound.reader_wake.notified() => {}
                _ = shutdown.changed() => return CloseReason::ServerShutdown,
                _ = sleep_until_opt(deadline) => {
                    self.session.handle_timeout(self.shared.now());
                    self.flush_session();
                    self.router.wake_touched();
                    if let Some(r) = self.session.close_reason() {
                        return r.clone();
                    }
                }
                r = reader.read_buf(&mut buf) => {
                    match r {
                        Ok(0) | Err(_) => return CloseReason::ClientClosed,
                        Ok(n) => {
                            sizing.observe(n);
                            let closed = self.process(&mut buf);
                            self.router.wake_touched();
                            self.publish_counters();
                            if let Some(r) = closed {
                                return r;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Parse and act on every complete operation in `buf`.
    fn process(&mut self, buf: &mut BytesMut) -> Option<CloseReason> {
        let mut used = 0;
        let now = self.shared.now();
        let mut result = None;
        let mut dropping = false;
        while used < buf.len() {
            let parsed = parse(&buf[used..], Dialect::Client, &self.limits);
            match parsed {
                Ok(Parsed::Incomplete) => break,
                Ok(Parsed::Op { op, consumed }) => {
                    used += consumed;
                    if dropping
                        && matches!(
                            op,
                            Op::Sub { .. } | Op::Unsub { .. } | Op::Pub { .. } | Op::Hpub { .. }
                        )
                    {
                        // Bug switch: what a real client pipelines after CONNECT is lost
                        // (PING is still answered, so the client believes it is connected).
                        continue;
                    }
                    let is_connect = matches!(op, Op::Connect(_));
                    let step = self.session.handle_op(now, op);
                    self.flush_session();
                    if let Some(r) = self.act(step) {
                        result = Some(r);
                        break;
                    }
                    dropping |=
                        is_connect && self.shared.bugs.has(BugSwitch::DropPipelinedAfterConnect);
                }
                Err(e) => {
                    result = Some(self.session.handle_proto_error(&e));
                    self.flush_session();
                    break;
                }
            }
        }
        buf.advance(used);
        result
    }

    fn act(&mut self, step: Step<'_>) -> Option<CloseReason> {
        match step {
            Step::Nothing => None,
            Step::Close(r) => Some(r),
            Step::Connected(c) => {
                let headers = self.session.opts().headers;
                self.conn.headers.store(headers, Ordering::Release);
                if *c.identity.account != *self.router.account().name {
                    let account = self.shared.account(&c.identity.account);
                    self.router.set_account(account);
                }
                let presence = super::presence::on_connected(
                    &self.shared,
                    &mut self.router,
                    self.conn.cid,
                    c.name.as_deref(),
                    c.identity.user.as_deref(),
                );
                let mut i = self.conn.info.lock().expect("info lock");
                i.name = c.name;
                i.lang = c.lang;
                i.version = c.version;
                i.user = c.identity.user;
                i.account = self.router.account().name.to_string();
                presence
            }
            Step::Publish {
                subject,
                reply,
                headers,
                payload,
            } => {
                self.in_msgs += 1;
                self.in_bytes += (payload.len() + headers.map_or(0, <[u8]>::len)) as u64;
                let src = Source {
                    echo: self.session.opts().echo,
                    queues: None,
                };
                let interest = match super::presence::on_client_publish(
                    &self.shared,
                    &mut self.router,
                    subject,
                    reply,
                    headers,
                    payload,
                ) {
                    Some(interest) => interest,
                    None => self.router.route(subject, reply, headers, payload, src),
                };
                let opts = self.session.opts();
                if !interest && opts.no_responders && opts.headers {
                    if let Some(reply) = reply {
                        self.router.no_responders(reply);
                    }
                }
                None
            }
            Step::Subscribe {
                subject,
                queue,
                sid,
            } => {
                self.subscribe(subject, queue, sid);
                None
            }
            Step::Unsubscribe { sid, max } => {
                self.unsubscribe(sid, max);
                None
            }
        }
    }

    fn subscribe(&mut self, subject: &str, queue: Option<&str>, sid: &str) {
        if let Some(existing) = self.subs.get(sid) {
            if !existing.removed.load(Ordering::Acquire) {
                // nats-server keeps the first subscription and ignores the duplicate.
                self.session.ack();
                self.flush_session();
                return;
            }
        }
        if self.max_subs > 0 && self.live_subs() >= self.max_subs {
            self.session.reject("'maximum subscriptions exceeded'");
            self.flush_session();
            return;
        }
        let sub = Arc::new(Subscription {
            id: self.shared.next_sub_id.fetch_add(1, Ordering::Relaxed),
            cid: self.conn.cid,
            sid: sid.into(),
            subject: subject.into(),
            queue: queue.map(Into::into),
            conn: self.conn.clone(),
            max: Default::default(),
            delivered: Default::default(),
            removed: Default::default(),
            weight: 1.into(),
        });
        self.router.account().insert(sub.clone());
        self.subs.insert(sid.into(), sub);
        self.subs_generation += 1;
        self.session.ack();
        self.flush_session();
    }

    fn live_subs(&self) -> usize {
        self.subs
            .values()
            .filter(|s| !s.removed.load(Ordering::Relaxed))
            .count()
    }

    fn unsubscribe(&mut self, sid: &str, max: Option<u64>) {
        let Some(sub) = self.subs.get(sid).cloned() else {
            return;
        };
        if let Some(max) = max.filter(|m| *m > 0) {
            if max > sub.delivered.load(Ordering::Acquire) {
                sub.max.store(max, Ordering::Release);
                return;
            }
        }
        self.router.account().remove(&sub);
        self.subs.remove(sid);
        self.subs_generation += 1;
    }

    /// Move the session's protocol replies into our outbound buffer, ahead of anything
    /// routing adds next.
    fn flush_session(&mut self) {
        if let Some(bytes) = self.session.take_outbox() {
            self.router.reply(&bytes);
        }
        while let Some(ev) = self.session.poll_event() {
            self.shared.emit(ev);
        }
    }

    /// Make this connection's counters and subscriptions visible to monitoring (once per
    /// read batch: cheap, and `/connz` is never more than one batch behind).
    fn publish_counters(&self) {
        let mut i = self.conn.info.lock().expect("info lock");
        i.in_msgs = self.in_msgs;
        i.in_bytes = self.in_bytes;
        i.last_activity = self.shared.now();
        if i.subs_generation != self.subs_generation {
            i.subs_generation = self.subs_generation;
            i.subscriptions = self
                .subs
                .values()
                .filter(|s| !s.removed.load(Ordering::Relaxed))
                .map(|s| s.subject.to_string())
                .collect();
            i.subscriptions.sort();
        }
    }

    fn cleanup(&mut self, reason: CloseReason) {
        self.router.wake_touched();
        for (_, sub) in self.subs.drain() {
            self.router.account().remove(&sub);
        }
        // Leave the registry before folding counters in, so /varz never counts them twice.
        self.shared
            .conns
            .lock()
            .expect("conns lock")
            .remove(&self.conn.cid);
        let stats = &self.shared.stats;
        let out = &self.conn.outbound;
        stats.in_msgs.fetch_add(self.in_msgs, Ordering::Relaxed);
        stats.in_bytes.fetch_add(self.in_bytes, Ordering::Relaxed);
        stats
            .out_msgs
            .fetch_add(out.out_msgs.load(Ordering::Relaxed), Ordering::Relaxed);
        stats
            .out_bytes
            .fetch_add(out.out_bytes.load(Ordering::Relaxed), Ordering::Relaxed);
        super::presence::on_closed(&self.shared, &mut self.router, self.conn.cid, &reason);
        self.shared.emit(Event::ClientClosed {
            cid: self.conn.cid,
            reason,
        });
    }
}

/// Read-buffer sizing: idle connections (most of them) keep a small buffer; one whose reads
/// fill the buffer switches to a large one so a busy publisher is read in big batches.
#[derive(Default)]
pub(crate) struct ReadSizing {
    busy: bool,
    last_spare: usize,
}

impl ReadSizing {
    const SMALL: usize = 512;
    const LARGE: usize = 64 * 1024;

    /// Make room for the next read.
    pub(crate) fn prepare(&mut self, buf: &mut BytesMut) {
        let want = if self.busy { Self::LARGE } else { Self::SMALL };
        if buf.capacity() - buf.len() < want / 4 {
            buf.reserve(want);
        }
        self.last_spare = buf.capacity() - buf.len();
    }

    /// A read returned `n` bytes.
    pub(crate) fn observe(&mut self, n: usize) {
        if n >= self.last_spare {
            self.busy = true;
        }
    }
}

/// Sleep until `deadline`, or forever when there is none.
pub(crate) async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Flush a connection's outbound buffer to its socket until the connection closes.
pub(crate) async fn write_loop<W: tokio::io::AsyncWrite + Unpin>(
    shared: Arc<Shared>,
    conn: Arc<ConnShared>,
    mut w: W,
) {
    let mut buf = Vec::new();
    loop {
        let close = conn.outbound.take(&mut buf);
        if matches!(close, Some(CloseReason::SlowConsumer)) {
            break;
        }
        if !buf.is_empty() {
            let deadline = shared.settings().write_deadline;
            match tokio::time::timeout(deadline, w.write_all(&buf)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    conn.outbound.close(CloseReason::WriteError);
                    break;
                }
                Err(_) => {
                    shared.stats.slow_consumers.fetch_add(1, Ordering::Relaxed);
                    conn.outbound.close(CloseReason::SlowConsumer);
                    break;
                }
            }
            // Large bursts grow the buffer; don't keep megabytes per idle connection.
            if buf.capacity() > 1024 * 1024 {
                buf = Vec::new();
            }
            continue;
        }
        if close.is_some() {
            break;
        }
        conn.outbound.writer_wake.notified().await;
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), w.shutdown()).await;
}
