//! One leafnode link: a connection we dialed to a hub (solicited) or one a leaf dialed to
//! our leafnode port (accepted).
//!
//! The reader task owns the sans-I/O [`LeafSession`] (handshake, liveness, loop detection)
//! and performs what it decides: the peer's interest becomes subscriptions in the account's
//! index, owned by this link; its messages are routed like a client's (with the link rules
//! in [`super::route`]). Whether the link may carry traffic at all is not the link's call:
//! after the handshake it reports to the control loop and waits for [`LinkCmd::Register`]
//! or [`LinkCmd::Close`]. That is where stale attempts (a remote removed or re-added while
//! this handshake ran) and duplicate leafs are refused, in one place.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use rejoin_core::event::{Cid, CloseReason, Event};
use rejoin_core::leaf::{LeafSession, LeafStep, LinkReady, Role};
use rejoin_core::proto::parser::{parse, Dialect, Limits, Parsed};
use rejoin_core::remote::{AttemptId, LinkEnd, RemoteInput};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::client::{sleep_until_opt, write_loop};
use super::outbound::Outbound;
use super::route::{Router, Source};
use super::state::{ConnInfo, ConnKind, ConnShared, Shared, Subscription};
use crate::transport::{Stream, Transport};

/// What the control loop tells a link after its handshake.
#[derive(Debug)]
pub enum LinkCmd {
    /// Carry traffic.
    Register,
    /// Close now (the remote was removed or disabled, the attempt is stale, or a newer
    /// duplicate replaced this link).
    Close(CloseReason),
}

/// What a link tells the control loop.
#[derive(Debug)]
pub enum LinkReport {
    /// Progress of a solicited link, for the remotes state machine.
    Remote(RemoteInput),
    /// An accepted leaf completed its handshake and asks to be registered.
    AcceptedReady {
        /// Connection id.
        cid: Cid,
        /// Who it is.
        ready: Box<LinkReady>,
    },
    /// An accepted leaf's connection ended.
    AcceptedClosed {
        /// Connection id.
        cid: Cid,
    },
    /// A backbone flush batch was written (or not): its result for the machine.
    BackboneFlushed(super::backbone::FlushDone),
}

/// The control loop's handle on a link task.
#[derive(Clone)]
pub struct LinkHandle {
    /// Connection id.
    pub cid: Cid,
    /// Commands to the task.
    pub cmd: mpsc::UnboundedSender<LinkCmd>,
}

/// How long a dial may take before it counts as failed (nats-server's leafnode dial timeout).
const DIAL_TIMEOUT: Duration = Duration::from_secs(1);

/// Map why a solicited link closed to what the remotes machine needs to know.
pub fn link_end(reason: &CloseReason) -> LinkEnd {
    match reason {
        CloseReason::StaleConnection => LinkEnd::Stale,
        CloseReason::LoopDetected => LinkEnd::LoopDetected,
        CloseReason::PermissionsViolation => LinkEnd::PermissionViolation,
        CloseReason::ClusterNameConflict => LinkEnd::SameClusterName,
        CloseReason::AuthorizationViolation | CloseReason::AuthenticationTimeout => {
            LinkEnd::AuthViolation
        }
        CloseReason::Replaced => LinkEnd::Duplicate,
        CloseReason::ProtocolViolation | CloseReason::IncorrectPort => LinkEnd::ProtocolError,
        CloseReason::ConfigRemoved | CloseReason::ServerShutdown => LinkEnd::ClosedByUs,
        _ => LinkEnd::Io,
    }
}

/// Dial a hub for `attempt` and run the link until it closes.
#[allow(clippy::too_many_arguments)]
pub async fn solicit<T: Transport>(
    shared: Arc<Shared>,
    transport: T,
    cid: Cid,
    attempt: AttemptId,
    url: String,
    mut session: LeafSession,
    tls: Option<crate::tls::Connector>,
    report: mpsc::UnboundedSender<LinkReport>,
    mut cmd: mpsc::UnboundedReceiver<LinkCmd>,
) {
    let addr = match rejoin_core::config::RemoteUrl::parse(&url) {
        Ok(u) => format!("{}:{}", u.host, u.port),
        Err(e) => {
            let _ = report.send(LinkReport::Remote(RemoteInput::DialFailed {
                attempt,
                error: e,
            }));
            return;
        }
    };
    shared.gates.pass("leaf.before_dial").await;
    let stream = match tokio::time::timeout(DIAL_TIMEOUT, transport.connect(&addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let error = e.to_string();
            let _ = report.send(LinkReport::Remote(RemoteInput::DialFailed {
                attempt,
                error,
            }));
            return;
        }
        Err(_) => {
            let error = "dial timeout".to_string();
            let _ = report.send(LinkReport::Remote(RemoteInput::DialFailed {
                attempt,
                error,
            }));
            return;
        }
    };
    // A close decided while we were dialing wins: never start a handshake for it.
    if let Ok(LinkCmd::Close(_)) = cmd.try_recv() {
        let _ = report.send(LinkReport::Remote(RemoteInput::LinkClosed {
            attempt,
            reason: LinkEnd::ClosedByUs,
        }));
        return;
    }
    let _ = report.send(LinkReport::Remote(RemoteInput::Dialed { attempt }));
    let reason = match tls {
        None => {
            run(
                shared,
                stream,
                cid,
                addr,
                session,
                Some(attempt),
                false,
                None,
                &report,
                &mut cmd,
            )
            .await
        }
        Some(connector) => match upgrade_solicited(&shared, stream, &mut session, &connector).await
        {
            Ok((tls_stream, ready)) => {
                run(
                    shared,
                    tls_stream,
                    cid,
                    addr,
                    session,
                    Some(attempt),
                    true,
                    ready,
                    &report,
                    &mut cmd,
                )
                .await
            }
            Err(reason) => {
                shared.emit(Event::ClientClosed {
                    cid,
                    reason: reason.clone(),
                });
                reason
            }
        },
    };
    let _ = report.send(LinkReport::Remote(RemoteInput::LinkClosed {
        attempt,
        reason: link_end(&reason),
    }));
}

/// The TLS phase of a solicited link. With `handshake_first` the socket speaks TLS before
/// any protocol byte; otherwise the hub's INFO comes in plaintext and is read here byte by
/// byte (nothing past its line end may be consumed from the raw socket), then the socket
/// is upgraded and the session told, which sends CONNECT over TLS.
async fn upgrade_solicited<S: Stream>(
    shared: &Shared,
    mut stream: S,
    session: &mut LeafSession,
    connector: &crate::tls::Connector,
) -> Result<(crate::tls::ClientStream<S>, Option<Box<LinkReady>>), CloseReason> {
    let tls_failed = |e: crate::tls::HandshakeError| {
        CloseReason::Other(format!("TLS handshake with the hub failed: {e}"))
    };
    if connector.handshake_first() {
        // INFO arrives over TLS; the session asks for TLS then, and `run` confirms it.
        return connector
            .connect(stream)
            .await
            .map(|s| (s, None))
            .map_err(tls_failed);
    }
    let limit = shared.settings().max_control_line;
    let wait = session
        .poll_timeout()
        .map(|(t, _)| shared.start + t.since_start());
    let mut line = Vec::with_capacity(512);
    let read_line = async {
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\n") && line.len() <= limit {
            match stream.read(&mut byte).await {
                Ok(1) => line.push(byte[0]),
                _ => return false,
            }
        }
        true
    };
    let complete = match wait {
        Some(deadline) => tokio::time::timeout_at(deadline, read_line)
            .await
            .unwrap_or(false),
        None => read_line.await,
    };
    if !complete {
        session.handle_timeout(shared.now());
        return Err(session
            .close_reason()
            .cloned()
            .unwrap_or(CloseReason::ClientClosed));
    }
    let limits = Limits {
        max_control_line: limit,
        max_payload: None,
    };
    let step = match parse(&line, Dialect::Leaf, &limits) {
        Ok(Parsed::Op { op, .. }) => session.handle_op(shared.now(), op),
        _ => return Err(CloseReason::ProtocolViolation),
    };
    match step {
        LeafStep::StartTls => {}
        LeafStep::Close(r) => return Err(r),
        _ => {
            return Err(CloseReason::Other(
                "the hub's first message was not INFO".into(),
            ))
        }
    }
    let tls = connector.connect(stream).await.map_err(tls_failed)?;
    let ready = match session.tls_established(shared.now()) {
        LeafStep::Ready(r) => Some(r),
        _ => None,
    };
    Ok((tls, ready))
}

/// Run an accepted leaf connection until it closes. With TLS configured on the leafnode
/// listener, INFO goes out in plaintext first (the leaf upgrades after reading it), or the
/// handshake comes first with `handshake_first`.
#[allow(clippy::too_many_arguments)]
pub async fn accept<S: Stream>(
    shared: Arc<Shared>,
    mut stream: S,
    cid: Cid,
    addr: String,
    mut session: LeafSession,
    tls: Option<crate::tls::Acceptor>,
    report: mpsc::UnboundedSender<LinkReport>,
    mut cmd: mpsc::UnboundedReceiver<LinkCmd>,
) {
    match tls {
        None => {
            let _ = run(
                shared, stream, cid, addr, session, None, false, None, &report, &mut cmd,
            )
            .await;
        }
        Some(acceptor) => {
            if !acceptor.handshake_first() {
                if let Some(info) = session.take_outbox() {
                    use tokio::io::AsyncWriteExt;
                    if stream.write_all(&info).await.is_err() {
                        let _ = report.send(LinkReport::AcceptedClosed { cid });
                        return;
                    }
                }
            }
            match acceptor.accept(stream).await {
                Ok(tls_stream) => {
                    let _ = run(
                        shared, tls_stream, cid, addr, session, None, true, None, &report, &mut cmd,
                    )
                    .await;
                }
                Err(e) => {
                    let reason =
                        CloseReason::Other(format!("TLS handshake with the leaf failed: {e}"));
                    shared.emit(Event::ClientClosed { cid, reason });
                }
            }
        }
    }
    let _ = report.send(LinkReport::AcceptedClosed { cid });
}

#[allow(clippy::too_many_arguments)]
async fn run<S: Stream>(
    shared: Arc<Shared>,
    stream: S,
    cid: Cid,
    addr: String,
    session: LeafSession,
    attempt: Option<AttemptId>,
    tls: bool,
    initial: Option<Box<LinkReady>>,
    report: &mpsc::UnboundedSender<LinkReport>,
    cmd: &mut mpsc::UnboundedReceiver<LinkCmd>,
) -> CloseReason {
    let settings = shared.settings();
    let solicited = session.role() == Role::Solicit;
    let conn = Arc::new(ConnShared {
        cid,
        kind: ConnKind::Leaf { solicited },
        // A link's buffer is bounded like a client's: a hub that stops reading is a slow
        // consumer too, and reconnecting is cheaper than unbounded memory.
        outbound: Outbound::new(settings.max_pending),
        headers: Default::default(),
        info: std::sync::Mutex::new(ConnInfo {
            addr,
            start: shared.now(),
            ..Default::default()
        }),
        leaf_perms: Default::default(),
    });
    let (reader, writer) = tokio::io::split(stream);
    let writer_task = tokio::spawn(write_loop(shared.clone(), conn.clone(), writer));
    let account = shared.account(rejoin_core::auth::GLOBAL_ACCOUNT);
    let seed = shared.derive_seed(cid ^ 0x1eaf);
    let mut link = Link {
        shared: shared.clone(),
        conn: conn.clone(),
        session,
        router: Router::new(shared.clone(), conn.clone(), account, seed),
        subs: BTreeMap::new(),
        attempt,
        registered: false,
        awaiting: None,
        ready_report: None,
        next_sub: 0,
        backbone: None,
        tls,
    };
    link.flush_session();
    if let Some(ready) = initial {
        // The handshake completed during the TLS phase (hub INFO without info_on_connect).
        let _ = link.act(LeafStep::Ready(ready), report);
    }
    shared
        .leafs
        .lock()
        .expect("leafs lock")
        .insert(cid, conn.clone());
    let reason = link.read_loop(reader, report, cmd).await;
    link.session.close(reason.clone());
    link.flush_session();
    if let (Some(tap), Some(attempt)) = (&link.backbone, link.attempt) {
        // Before the hub's interest leaves the account: from here on its messages are held.
        tap.link_lost(&shared, attempt.generation(), &reason);
    }
    link.cleanup();
    shared.leafs.lock().expect("leafs lock").remove(&cid);
    shared.emit(Event::ClientClosed {
        cid,
        reason: reason.clone(),
    });
    conn.outbound.close(reason.clone());
    let _ = writer_task.await;
    reason
}

struct Link {
    shared: Arc<Shared>,
    conn: Arc<ConnShared>,
    session: LeafSession,
    router: Router,
    /// The peer's interest, as subscriptions owned by this link.
    subs: BTreeMap<(String, Option<String>), Arc<Subscription>>,
    attempt: Option<AttemptId>,
    registered: bool,
    /// Handshake done, waiting for the control loop's verdict; parsing is paused.
    awaiting: Option<Box<LinkReady>>,
    /// The finished handshake's report, sent from the read loop so the simulator can hold
    /// it at the gate `leaf.before_handshake_done`.
    ready_report: Option<LinkReport>,
    next_sub: u64,
    /// The socket speaks TLS.
    tls: bool,
    /// Set when this is a backbone remote's registered link.
    backbone: Option<Arc<super::backbone::Tap>>,
}

impl Link {
    async fn read_loop<R: tokio::io::AsyncRead + Unpin>(
        &mut self,
        mut reader: R,
        report: &mpsc::UnboundedSender<LinkReport>,
        cmd: &mut mpsc::UnboundedReceiver<LinkCmd>,
    ) -> CloseReason {
        let mut shutdown = self.shared.shutdown.subscribe();
        // Idle connections are the common case: start small and grow to the large buffer
        // only once a read fills what we have (see `ReadSizing`).
        let mut buf = BytesMut::new();
        let mut sizing = super::client::ReadSizing::default();
        let limits = Limits {
            max_control_line: self.shared.settings().max_control_line,
            max_payload: None,
        };
        loop {
            if let Some(msg) = self.ready_report.take() {
                // Incident 1B holds an attempt here, handshake done but not yet reported,
                // while its remote is removed and re-added.
                self.shared.gates.pass("leaf.before_handshake_done").await;
                let _ = report.send(msg);
            }
            if let Some(reason) = self.conn.outbound.close_reason() {
                return reason;
            }
            if let Some(r) = self.session.close_reason() {
                return r.clone();
            }
            let deadline = self
                .session
                .poll_timeout()
                .map(|(t, _)| self.shared.start + t.since_start());
            sizing.prepare(&mut buf);
            let paused = self.awaiting.is_some();
            tokio::select! {
                biased;
                _ = self.conn.outbound.reader_wake.notified() => {}
                _ = shutdown.changed() => return CloseReason::ServerShutdown,
                c = cmd.recv() => match c {
                    Some(LinkCmd::Register) => {
                        if let Some(ready) = self.awaiting.take() {
                            self.register(&ready);
                            if let Some(r) = self.process(&mut buf, &limits, report) {
                                return r;
                            }
                        }
                    }
                    Some(LinkCmd::Close(reason)) => return reason,
                    None => return CloseReason::ServerShutdown,
                },
                _ = sleep_until_opt(deadline) => {
                    self.session.handle_timeout(self.shared.now());
                    self.flush_session();
                    self.router.wake_touched();
                }
                r = reader.read_buf(&mut buf), if !paused => match r {
                    Ok(0) | Err(_) => return CloseReason::ClientClosed,
                    Ok(n) => {
                        sizing.observe(n);
                        if let Some(tap) = &self.backbone {
                            tap.heard(self.shared.now());
                        }
                        if let Some(r) = self.process(&mut buf, &limits, report) {
                            return r;
                        }
                    }
                },
            }
        }
    }

    fn process(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
        report: &mpsc::UnboundedSender<LinkReport>,
    ) -> Option<CloseReason> {
        let mut used = 0;
        let now = self.shared.now();
        let mut result = None;
        while used < buf.len() && self.awaiting.is_none() {
            match parse(&buf[used..], Dialect::Leaf, limits) {
                Ok(Parsed::Incomplete) => break,
                Ok(Parsed::Op { op, consumed }) => {
                    used += consumed;
                    let step = self.session.handle_op(now, op);
                    self.flush_session();
                    if let Some(r) = self.act(step, report) {
                        result = Some(r);
                        break;
                    }
                }
                Err(e) => {
                    result = Some(self.session.handle_proto_error(&e));
                    self.flush_session();
                    break;
                }
            }
        }
        buf.advance(used);
        self.router.wake_touched();
        result
    }

    fn act(
        &mut self,
        step: LeafStep<'_>,
        report: &mpsc::UnboundedSender<LinkReport>,
    ) -> Option<CloseReason> {
        match step {
            LeafStep::Nothing | LeafStep::LeafUrls(_) => None,
            LeafStep::StartTls if self.tls => {
                // Already TLS (handshake_first): confirm, which sends CONNECT.
                let step = self.session.tls_established(self.shared.now());
                self.flush_session();
                self.act(step, report)
            }
            LeafStep::StartTls => Some(CloseReason::Other(
                "the hub requires TLS but this remote has no tls block".into(),
            )),
            LeafStep::Ready(ready) => {
                self.conn.headers.store(ready.headers, Ordering::Release);
                let msg = match self.attempt {
                    Some(attempt) => LinkReport::Remote(RemoteInput::HandshakeDone {
                        attempt,
                        leafnode_urls: ready.leafnode_urls.clone(),
                    }),
                    None => LinkReport::AcceptedReady {
                        cid: self.conn.cid,
                        ready: ready.clone(),
                    },
                };
                self.ready_report = Some(msg);
                self.awaiting = Some(ready);
                None
            }
            LeafStep::Healthy => {
                if let Some(attempt) = self.attempt {
                    let _ = report.send(LinkReport::Remote(RemoteInput::PongSeen { attempt }));
                }
                None
            }
            LeafStep::InterestAdded { subject, queue } => {
                self.interest_added(subject, queue);
                None
            }
            LeafStep::InterestRemoved { subject, queue } => {
                if let Some(tap) = &self.backbone {
                    tap.interest_removed(subject, queue);
                }
                let key = (subject.to_string(), queue.map(str::to_string));
                if let Some(sub) = self.subs.remove(&key) {
                    self.router.account().remove(&sub);
                    self.publish_subscriptions();
                }
                None
            }
            LeafStep::Message {
                subject,
                reply,
                queues,
                headers,
                payload,
            } => {
                let listed: Vec<&str> = queues.iter().collect();
                let src = Source {
                    echo: false,
                    queues: Some(&listed),
                };
                let presence = super::presence::on_link_message(
                    &self.shared,
                    &mut self.router,
                    self.conn.cid,
                    subject,
                    reply,
                    headers,
                    payload,
                );
                if !presence {
                    self.router.route(subject, reply, headers, payload, src);
                }
                let mut i = self.conn.info.lock().expect("info lock");
                i.in_msgs += 1;
                i.last_activity = self.shared.now();
                i.in_bytes += (payload.len() + headers.map_or(0, <[u8]>::len)) as u64;
                None
            }
            LeafStep::Close(r) => Some(r),
        }
    }

    fn register(&mut self, ready: &LinkReady) {
        let account = self.shared.account(&ready.account);
        self.router.set_account(account.clone());
        {
            let mut i = self.conn.info.lock().expect("info lock");
            i.account = account.name.to_string();
            i.name = Some(ready.remote_name.clone());
            i.user = ready.user.clone();
        }
        if let Some(p) = &ready.link_permissions {
            // Before the link is added: from then on other connections send to it.
            let _ = self.conn.leaf_perms.set(p.clone());
        }
        let solicited = matches!(self.conn.kind, ConnKind::Leaf { solicited: true });
        if solicited {
            self.backbone = self.shared.backbones.tap_for_link(self.conn.cid);
            if let Some(tap) = &self.backbone {
                tap.begin_session(ready.link_permissions.clone());
            }
        }
        let now = self.shared.now();
        let session = &mut self.session;
        let conn = &self.conn;
        // The dump and everything announced after it must reach the peer in order, so the
        // dump is queued while the account's interest lock is held.
        account.add_link_with(conn.clone(), solicited, |dump| {
            session.registered(now, &account.lds, dump);
            if let Some(bytes) = session.take_outbox() {
                let _ = conn
                    .outbound
                    .push(bytes.len(), |out| out.extend_from_slice(&bytes));
            }
        });
        self.conn.outbound.wake_writer();
        self.registered = true;
        self.flush_session();
    }

    fn interest_added(&mut self, subject: &str, queue: Option<(&str, u32)>) {
        let key = (subject.to_string(), queue.map(|(q, _)| q.to_string()));
        let weight = queue.map_or(1, |(_, w)| w.max(1));
        if let Some(tap) = &self.backbone {
            tap.interest_added(subject, queue.map(|(q, _)| q));
        }
        if let Some(sub) = self.subs.get(&key) {
            if queue.is_some() && sub.weight.load(Ordering::Relaxed) != weight {
                self.router.account().reweight(sub, weight);
            }
            return;
        }
        self.next_sub += 1;
        let sub = Arc::new(Subscription {
            id: self.shared.next_sub_id.fetch_add(1, Ordering::Relaxed),
            cid: self.conn.cid,
            sid: format!("leaf{}", self.next_sub).into(),
            subject: subject.into(),
            queue: key.1.as_deref().map(Into::into),
            conn: self.conn.clone(),
            max: Default::default(),
            delivered: Default::default(),
            removed: Default::default(),
            weight: weight.into(),
        });
        if self.router.account().insert(sub.clone()) {
            self.subs.insert(key, sub);
            self.publish_subscriptions();
        }
    }

    /// Mirror the peer's interest into the monitoring info (`/leafz?subs=1`).
    fn publish_subscriptions(&self) {
        let mut i = self.conn.info.lock().expect("info lock");
        i.subscriptions = self.subs.keys().map(|(s, _)| s.clone()).collect();
        i.subscriptions.dedup();
    }

    fn flush_session(&mut self) {
        if let Some(bytes) = self.session.take_outbox() {
            self.router.reply(&bytes);
        }
        while let Some(ev) = self.session.poll_event() {
            if let Event::LeafError { cid, text } = &ev {
                // The peer's reason for refusing us (auth, permissions, loops): operators
                // need it at the default log level, as nats-server prints it.
                let addr = self.conn.info.lock().expect("info lock").addr.clone();
                tracing::error!("leafnode {addr} cid:{cid} - Leafnode Error {text}");
            }
            self.shared.emit(ev);
        }
    }

    fn cleanup(&mut self) {
        self.router.wake_touched();
        let account = self.router.account().clone();
        for (_, sub) in std::mem::take(&mut self.subs) {
            account.remove(&sub);
        }
        if self.registered {
            account.remove_link(self.conn.cid);
        }
    }
}
