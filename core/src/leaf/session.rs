//! [`LeafSession`]: the handshake and steady state of one leafnode connection.
//!
//! The session is a small state machine; see the module docs of [`crate::leaf`] for the
//! handshake it runs and the call order it expects. What nats-server 2.9.10 does is the
//! reference throughout (nats-protocol.md §2; server/leafnode.go), with one deliberate
//! difference: both ends PING on every interval, where nats-server's hub side skips a PING
//! after recent traffic. Skipping would stretch the detection of a half-open link, and a
//! PING every two minutes costs nothing.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use crate::auth::{Credentials, Identity, Permissions, Rules};
use crate::event::{Cid, CloseReason, Event};
use crate::proto::encode;
use crate::proto::info::{ConnectError, LeafConnect, ServerInfo, SubjectPermission};
use crate::proto::{texts, Op, ProtoError};
use crate::subject::is_valid_subject;
use crate::sublist::Interest;
use crate::time::Instant;

use super::{
    close_reason_for_err, AcceptConfig, InterestDelta, LeafStep, LeafTimer, LinkPermissions,
    LinkReady, PeerInterest, PingConfig, Role, SolicitConfig, CONNECT_INFO_TIMEOUT, FIRST_PING,
};

/// Prefix of the per-account loop-detection subjects (`$LDS.<nuid>`).
const LDS_PREFIX: &str = "$LDS.";

#[derive(Debug)]
enum State {
    /// Solicit: waiting for the hub's INFO.
    AwaitInfo { deadline: Instant },
    /// Solicit: the caller is upgrading the socket to TLS.
    AwaitTls,
    /// Solicit: CONNECT sent; waiting for the `connect_info` INFO the hub promised.
    AwaitConnectInfo { deadline: Instant },
    /// Accept: INFO sent; waiting for CONNECT.
    AwaitConnect { deadline: Instant },
    /// `Ready` returned; waiting for `registered` or `close`.
    AwaitRegistration,
    /// Interest and messages flow.
    Open,
    /// Closed; every input is ignored.
    Closed,
}

/// What the peer told us during the handshake.
#[derive(Debug, Default)]
struct Peer {
    /// The INFO we received (Solicit) or sent (Accept).
    info: ServerInfo,
    /// The CONNECT we received (Accept).
    connect: Option<LeafConnect>,
    /// Accept: who the leaf authenticated as.
    identity: Option<Identity>,
    /// The peer sends and reads `HMSG`.
    headers: bool,
}

/// One leafnode connection's protocol state. See [`crate::leaf`] for the call order.
#[derive(Debug)]
pub struct LeafSession {
    role: Role,
    cid: Cid,
    solicit: Option<SolicitConfig>,
    accept: Option<AcceptConfig>,
    ping_cfg: PingConfig,
    state: State,
    peer: Peer,
    /// Our account on this link (Solicit: configured; Accept: known after CONNECT).
    account: Arc<str>,
    /// Our `$LDS.` subject for `account`, known from `registered` on.
    lds: Option<String>,
    /// `$LDS.` subjects the peer announced: never to be sent back to it.
    peer_lds: BTreeSet<String>,
    /// What the link may carry, known from the handshake on.
    perms: Option<Arc<LinkPermissions>>,
    /// TLS was negotiated (Solicit), for CONNECT `tls_required`.
    tls: bool,
    next_ping: Option<Instant>,
    pings_out: u32,
    healthy: bool,
    outbox: Vec<u8>,
    events: VecDeque<Event>,
    close: Option<CloseReason>,
}

impl LeafSession {
    /// A link we just dialed, at `now`. Nothing is sent until the hub's INFO arrives.
    pub fn solicit(cfg: SolicitConfig, now: Instant) -> Self {
        let deadline = now + cfg.first_info_timeout;
        let mut s = LeafSession::base(Role::Solicit, cfg.cid, cfg.ping, cfg.account.clone());
        s.state = State::AwaitInfo { deadline };
        s.solicit = Some(cfg);
        s
    }

    /// A link a peer just opened on our leafnode port, at `now`. Queues our INFO at once,
    /// built from `info` with the fields a nats-server leaf insists on forced: a non-zero
    /// `client_id` (the connection id), a `leafnode_urls` key, `auth_required` (always on a
    /// leafnode port), `info_on_connect` (we answer CONNECT with a `connect_info` INFO) and
    /// `headers`. The rest (`server_id`, `server_name`, `max_payload`, `nonce`, `tls_required`,
    /// advertised URLs...) is the caller's.
    pub fn accept(cfg: AcceptConfig, now: Instant, mut info: ServerInfo) -> Self {
        info.client_id = Some(cfg.cid.max(1));
        info.leafnode_urls.get_or_insert_with(Vec::new);
        info.auth_required = Some(true);
        info.info_on_connect = Some(true);
        info.headers = true;
        info.connect_info = None;
        info.remote_account = None;
        let mut s = LeafSession::base(Role::Accept, cfg.cid, cfg.ping, Arc::from(""));
        encode::info(&mut s.outbox, &info);
        s.peer.info = info;
        s.state = State::AwaitConnect {
            deadline: now + cfg.auth_timeout,
        };
        s.accept = Some(cfg);
        s
    }

    fn base(role: Role, cid: Cid, ping_cfg: PingConfig, account: Arc<str>) -> Self {
        LeafSession {
            role,
            cid,
            solicit: None,
            accept: None,
            ping_cfg,
            state: State::Closed,
            peer: Peer::default(),
            account,
            lds: None,
            peer_lds: BTreeSet::new(),
            perms: None,
            tls: false,
            next_ping: None,
            pings_out: 0,
            healthy: false,
            outbox: Vec::new(),
            events: VecDeque::new(),
            close: None,
        }
    }

    /// Which end we are.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Connection id.
    pub fn cid(&self) -> Cid {
        self.cid
    }

    /// Whether the link is registered and carrying interest and messages.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }

    /// Whether the peer reads header messages. Until the handshake completes: false.
    pub fn peer_headers(&self) -> bool {
        self.peer.headers
    }

    /// Why the session ended, once it has.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close.as_ref()
    }

    /// Bytes to send, in order. Drain after every call.
    pub fn take_outbox(&mut self) -> Option<Vec<u8>> {
        (!self.outbox.is_empty()).then(|| std::mem::take(&mut self.outbox))
    }

    /// Next event for logs and the simulator.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Handle one operation parsed in [`crate::proto::Dialect::Leaf`].
    pub fn handle_op<'a>(&mut self, now: Instant, op: Op<'a>) -> LeafStep<'a> {
        if let Op::Err(text) = op {
            // Before CONNECT even an -ERR is "any op but CONNECT" to the accepting side.
            if !matches!(self.state, State::AwaitConnect { .. }) {
                return self.peer_err(text);
            }
        }
        match self.state {
            State::Closed => LeafStep::Nothing,
            State::AwaitInfo { .. } => match op {
                Op::Info(json) => self.hub_info(now, json),
                // The hub speaks first; anything else means this is not a leafnode port.
                _ => self.close_silently(CloseReason::ProtocolViolation),
            },
            // No plaintext may arrive while the caller upgrades the socket.
            State::AwaitTls => self.close_silently(CloseReason::ProtocolViolation),
            State::AwaitConnectInfo { .. } => match op {
                Op::Info(json) => self.hub_connect_info(json),
                Op::Ping => self.pong(),
                Op::Pong | Op::Ok => LeafStep::Nothing,
                // A nats-server hub sends its connect_info INFO before any interest; we could
                // not route what came earlier anyway, as the link is not registered yet.
                _ => self.close_silently(CloseReason::ProtocolViolation),
            },
            State::AwaitConnect { .. } => match op {
                Op::Connect(json) => self.leaf_connect(json),
                // nats-server: any op but CONNECT first on an accepted leaf link.
                _ => self.fail(texts::AUTH_VIOLATION, CloseReason::AuthorizationViolation),
            },
            State::AwaitRegistration | State::Open => self.steady(op),
        }
    }

    /// A parse error on this link: queue its `-ERR` (if nats-server sends one) and return
    /// the close reason.
    pub fn handle_proto_error(&mut self, err: &ProtoError) -> CloseReason {
        let reason = match err {
            ProtoError::ControlLineTooLong => CloseReason::MaxControlLineExceeded,
            ProtoError::PayloadTooLarge => CloseReason::MaxPayloadExceeded,
            _ => CloseReason::ProtocolViolation,
        };
        if self.close.is_none() {
            if let Some(text) = err.err_text() {
                encode::err(&mut self.outbox, text);
            }
            self.set_closed(reason.clone());
        }
        reason
    }

    /// Solicit: the socket now speaks TLS (after [`LeafStep::StartTls`]). Sends CONNECT;
    /// returns [`LeafStep::Ready`] when the hub promised no `connect_info` INFO.
    pub fn tls_established(&mut self, now: Instant) -> LeafStep<'static> {
        if !matches!(self.state, State::AwaitTls) {
            return LeafStep::Nothing;
        }
        self.tls = true;
        self.send_connect(now)
    }

    /// The control plane registered the link announced by [`LeafStep::Ready`]. `lds_subject`
    /// is our `$LDS.<id>` subject for the link's account (it is announced first and is what
    /// loop detection watches for); `interest` is the account's current interest, announced
    /// after it, aggregated per (subject, queue) with the queue weight in `count`. The
    /// accepting side first sends its `connect_info` INFO. Starts the PINGs.
    pub fn registered(&mut self, now: Instant, lds_subject: &str, interest: &[Interest]) {
        if !matches!(self.state, State::AwaitRegistration) {
            return;
        }
        if self.role == Role::Accept {
            let mut info = self.peer.info.clone();
            info.nonce = None;
            info.connect_info = Some(true);
            info.remote_account = Some(self.account.to_string());
            if let Some(p) = self
                .peer
                .identity
                .as_ref()
                .and_then(|i| i.permissions.as_deref())
            {
                // The leaf enforces these locally: `import` is what it may receive (our
                // subscribe rules for its user), `export` what it may send.
                info.import = Some(subject_permission(&p.subscribe));
                info.export = Some(subject_permission(&p.publish));
            }
            encode::info(&mut self.outbox, &info);
        }
        encode::ls_plus(&mut self.outbox, lds_subject, None);
        for i in interest {
            if i.queue.is_none() && (i.subject == lds_subject || self.peer_lds.contains(&i.subject))
            {
                continue;
            }
            if !self.may_announce(&i.subject) {
                continue;
            }
            encode::ls_plus(
                &mut self.outbox,
                &i.subject,
                i.queue.as_deref().map(|q| (q, i.count.max(1))),
            );
        }
        self.lds = Some(lds_subject.to_string());
        self.state = State::Open;
        let first = self.ping_cfg.interval.min(FIRST_PING);
        let first = first + first.mul_f64(self.ping_cfg.first_jitter.clamp(0.0, 0.2));
        self.next_ping = Some(now + first);
        let remote = self.remote_name();
        self.events.push_back(Event::LeafLinkUp {
            cid: self.cid,
            solicited: self.role == Role::Solicit,
            remote,
            account: self.account.to_string(),
        });
    }

    /// Close the link for a reason decided outside the session (the control plane refused
    /// or replaced it, the server shuts down, the socket failed), queueing the `-ERR`
    /// nats-server sends in that case: `Replaced` → `'Duplicate Remote LeafNode
    /// Connection'`, `ClusterNameConflict` → `'remote leafnode has same cluster name'`,
    /// `LoopDetected` → the loop text. Others close silently.
    pub fn close(&mut self, reason: CloseReason) {
        if self.close.is_some() {
            return;
        }
        match reason {
            CloseReason::Replaced => encode::err(&mut self.outbox, texts::DUPLICATE_LEAF),
            CloseReason::ClusterNameConflict => {
                encode::err(&mut self.outbox, texts::SAME_CLUSTER_NAME)
            }
            CloseReason::LoopDetected => {
                encode::err(&mut self.outbox, &texts::loop_detected(&self.account))
            }
            _ => {}
        }
        self.set_closed(reason);
    }

    /// Earliest deadline and why.
    pub fn poll_timeout(&self) -> Option<(Instant, LeafTimer)> {
        match self.state {
            State::AwaitInfo { deadline } => Some((deadline, LeafTimer::FirstInfo)),
            State::AwaitConnectInfo { deadline } => Some((deadline, LeafTimer::ConnectInfo)),
            State::AwaitConnect { deadline } => Some((deadline, LeafTimer::AuthTimeout)),
            State::Open => self.next_ping.map(|t| (t, LeafTimer::Ping)),
            State::AwaitTls | State::AwaitRegistration | State::Closed => None,
        }
    }

    /// Run every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::AwaitInfo { deadline } if deadline <= now => {
                // nats-server gives up on the read ("Read Error") without a word.
                self.set_closed(CloseReason::Other("no INFO from the leafnode hub".into()));
            }
            State::AwaitConnectInfo { deadline } if deadline <= now => {
                encode::err(&mut self.outbox, texts::STALE_LEAF);
                self.set_closed(CloseReason::StaleConnection);
            }
            State::AwaitConnect { deadline } if deadline <= now => {
                encode::err(&mut self.outbox, texts::AUTH_TIMEOUT);
                self.set_closed(CloseReason::AuthenticationTimeout);
            }
            State::Open => self.ping_timer(now),
            _ => {}
        }
    }

    /// Announce an interest change to the peer. Ignored until the link is registered
    /// (the registration dump covers what came before), and for a `$LDS.` subject the peer
    /// itself announced (sending it back would make the peer see a loop). The caller must
    /// not send interest that came from this link (see [`crate::leaf`]).
    pub fn send_interest(&mut self, change: &InterestDelta<'_>) {
        if !self.is_open() {
            return;
        }
        if !self.may_announce(change.subject()) {
            return;
        }
        match *change {
            InterestDelta::Add { subject, queue } => {
                if queue.is_none() && self.peer_lds.contains(subject) {
                    return;
                }
                encode::ls_plus(&mut self.outbox, subject, queue);
            }
            InterestDelta::Remove { subject, queue } => {
                if queue.is_none() && self.peer_lds.contains(subject) {
                    return;
                }
                encode::ls_minus(&mut self.outbox, subject, queue);
            }
        }
    }

    /// Queue a message for the peer (see [`LeafSession::encode_msg`]), dropping the headers
    /// when the peer does not read them, as nats-server does. Ignored until registered.
    pub fn send_msg(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        queues: &[&str],
        headers: Option<&[u8]>,
        payload: &[u8],
    ) {
        if !self.is_open() || !self.may_send(subject) {
            return;
        }
        let headers = headers.filter(|_| self.peer.headers);
        Self::encode_msg(&mut self.outbox, subject, reply, queues, headers, payload);
    }

    /// Write one leafnode message in the shape nats-server uses: `LMSG subject [reply] size`
    /// with no queues; `LMSG subject + reply q.. size` / `LMSG subject | q.. size` when
    /// queue groups are listed (the peer then delivers to its plain subscribers and one
    /// member of each listed group); `HMSG` with the same shapes and a header size when
    /// `headers` is given. For writers that bypass the outbox; such a writer must strip
    /// headers itself when [`LeafSession::peer_headers`] is false.
    pub fn encode_msg(
        out: &mut Vec<u8>,
        subject: &str,
        reply: Option<&str>,
        queues: &[&str],
        headers: Option<&[u8]>,
        payload: &[u8],
    ) {
        match headers {
            Some(h) => encode::leaf_hmsg(out, subject, reply, queues, h, payload),
            None => encode::lmsg(out, subject, reply, queues, payload),
        }
    }

    // ---- Solicit handshake ----

    fn hub_info<'a>(&mut self, now: Instant, json: &[u8]) -> LeafStep<'a> {
        let Ok(info) = ServerInfo::parse(json) else {
            return self.close_silently(CloseReason::ProtocolViolation);
        };
        // A nats-server leaf refuses an INFO without these: it came from a client or route
        // port ("attempted to connect to wrong port").
        if info.client_id.unwrap_or(0) == 0 || info.leafnode_urls.is_none() {
            return self.close_silently(CloseReason::IncorrectPort);
        }
        let wants_tls =
            info.tls_required == Some(true) || self.solicit.as_ref().is_some_and(|c| c.tls);
        self.peer.headers = info.headers;
        self.peer.info = info;
        if wants_tls {
            self.state = State::AwaitTls;
            return LeafStep::StartTls;
        }
        self.send_connect(now)
    }

    fn send_connect<'a>(&mut self, now: Instant) -> LeafStep<'a> {
        let Some(cfg) = self.solicit.as_ref() else {
            return LeafStep::Nothing;
        };
        // Credentials first, then user/password: nats-server's precedence.
        let (jwt, sig, user, pass) = match cfg.creds.as_deref() {
            Some(creds) => {
                let nonce = self.peer.info.nonce.as_deref().unwrap_or_default();
                match creds.sign(nonce) {
                    Ok(sig) => (Some(creds.jwt().to_string()), Some(sig), None, None),
                    Err(e) => {
                        let reason = CloseReason::Other(e.to_string());
                        return self.close_silently(reason);
                    }
                }
            }
            None => (None, None, cfg.user.clone(), cfg.pass.clone()),
        };
        let connect = LeafConnect {
            version: Some(cfg.version.clone()),
            jwt,
            sig,
            user,
            pass,
            tls_required: self.tls,
            server_id: Some(cfg.server_id.clone()),
            name: Some(cfg.server_name.clone()),
            is_hub: cfg.is_hub,
            cluster: Some(
                cfg.cluster
                    .clone()
                    .unwrap_or_else(|| cfg.server_name.clone()),
            ),
            // nats-server claims headers only when the hub offered them.
            headers: self.peer.headers,
            deny_pub: cfg.deny_pub.clone(),
            ..LeafConnect::default()
        };
        encode::leaf_connect(&mut self.outbox, &connect);
        if self.peer.info.info_on_connect == Some(true) {
            self.state = State::AwaitConnectInfo {
                deadline: now + CONNECT_INFO_TIMEOUT,
            };
            return LeafStep::Nothing;
        }
        self.ready()
    }

    fn hub_connect_info<'a>(&mut self, json: &[u8]) -> LeafStep<'a> {
        let Ok(info) = ServerInfo::parse(json) else {
            return self.close_silently(CloseReason::ProtocolViolation);
        };
        self.merge_hub_info(info.clone());
        if info.connect_info != Some(true) {
            return LeafStep::Nothing;
        }
        self.ready()
    }

    /// Later hub INFOs refresh the URL list, the bound account and permissions.
    fn merge_hub_info(&mut self, info: ServerInfo) {
        let old = &mut self.peer.info;
        if info.leafnode_urls.as_ref().is_some_and(|u| !u.is_empty()) {
            old.leafnode_urls = info.leafnode_urls;
        }
        if info.remote_account.is_some() {
            old.remote_account = info.remote_account;
        }
        if info.import.is_some() || info.export.is_some() {
            old.import = info.import;
            old.export = info.export;
        }
    }

    // ---- Accept handshake ----

    fn leaf_connect<'a>(&mut self, json: &[u8]) -> LeafStep<'a> {
        let Ok(c) = LeafConnect::parse(json) else {
            // nats-server closes without -ERR on bad CONNECT JSON.
            return self.close_silently(CloseReason::ProtocolViolation);
        };
        let Some(cfg) = self.accept.as_ref() else {
            return LeafStep::Nothing;
        };
        // nats-server's order: credentials, then lang, same cluster name, gateway.
        let creds = Credentials {
            user: c.user.as_deref(),
            pass: c.pass.as_deref(),
            token: None,
        };
        let Ok(identity) = cfg.auth.authenticate(creds) else {
            return self.fail(texts::AUTH_VIOLATION, CloseReason::AuthorizationViolation);
        };
        let checked = c.validate();
        match &checked {
            Err(ConnectError::ClientOnLeafPort) => {
                return self.fail(texts::CLIENT_ON_LEAF_PORT, CloseReason::IncorrectPort);
            }
            Err(ConnectError::ClusterNameHasSpaces(_)) => {
                return self.fail(
                    texts::CLUSTER_NAME_HAS_SPACES,
                    CloseReason::ProtocolViolation,
                );
            }
            _ => {}
        }
        let ours = cfg.cluster_name.as_deref().filter(|n| !n.is_empty());
        if ours.is_some() && c.cluster.as_deref() == ours {
            return self.fail(texts::SAME_CLUSTER_NAME, CloseReason::ClusterNameConflict);
        }
        if let Err(e) = checked {
            let text = e
                .err_text()
                .unwrap_or_else(|| texts::UNKNOWN_OP.to_string());
            return self.fail(&text, CloseReason::IncorrectPort);
        }
        self.account = identity.account.clone();
        self.peer.headers = c.headers;
        self.peer.connect = Some(c);
        self.peer.identity = Some(identity);
        self.ready()
    }

    // ---- Both ----

    fn ready<'a>(&mut self) -> LeafStep<'a> {
        self.state = State::AwaitRegistration;
        let ready = self.link_ready();
        self.perms = ready.link_permissions.clone();
        LeafStep::Ready(Box::new(ready))
    }

    /// What the link may carry: the hub's (or the leaf user's) permissions, merged with the
    /// remote's `deny_imports`/`deny_exports` or the leaf's CONNECT `deny_pub`.
    fn link_permissions(&self) -> Option<Arc<LinkPermissions>> {
        match self.role {
            Role::Solicit => {
                let info = &self.peer.info;
                let cfg = self.solicit.as_ref()?;
                let hub = (info.import.is_some() || info.export.is_some()).then(|| Permissions {
                    publish: rules(info.export.as_ref()),
                    subscribe: rules(info.import.as_ref()),
                });
                LinkPermissions::solicit(
                    hub.as_ref(),
                    &cfg.deny_pub,
                    &cfg.deny_exports,
                    !cfg.is_hub,
                )
            }
            Role::Accept => {
                let c = self.peer.connect.as_ref()?;
                let user = self
                    .peer
                    .identity
                    .as_ref()
                    .and_then(|i| i.permissions.as_deref());
                LinkPermissions::accept(user, &c.deny_pub, c.is_hub)
            }
        }
        .map(Arc::new)
    }

    /// Whether we may announce interest in `subject` on this link.
    fn may_announce(&self, subject: &str) -> bool {
        self.perms.as_ref().is_none_or(|p| p.may_announce(subject))
    }

    /// Whether we may send this link's peer a message on `subject`.
    pub fn may_send(&self, subject: &str) -> bool {
        self.perms.as_ref().is_none_or(|p| p.may_send(subject))
    }

    fn link_ready(&self) -> LinkReady {
        let info = &self.peer.info;
        match self.role {
            Role::Solicit => {
                let is_hub = self.solicit.as_ref().is_some_and(|c| c.is_hub);
                let permissions = (info.import.is_some() || info.export.is_some()).then(|| {
                    Arc::new(Permissions {
                        publish: rules(info.export.as_ref()),
                        subscribe: rules(info.import.as_ref()),
                    })
                });
                LinkReady {
                    role: self.role,
                    cid: self.cid,
                    account: self.account.clone(),
                    remote_name: self.remote_name(),
                    remote_id: Some(info.server_id.clone()).filter(|s| !s.is_empty()),
                    remote_cluster: info.cluster.clone(),
                    remote_is_hub: !is_hub,
                    headers: self.peer.headers,
                    leafnode_urls: info.leafnode_urls.clone().unwrap_or_default(),
                    remote_account: info.remote_account.clone(),
                    user: None,
                    permissions,
                    deny_pub: Vec::new(),
                    link_permissions: self.link_permissions(),
                }
            }
            Role::Accept => {
                let c = self.peer.connect.clone().unwrap_or_default();
                let identity = self.peer.identity.as_ref();
                LinkReady {
                    role: self.role,
                    cid: self.cid,
                    account: self.account.clone(),
                    remote_name: self.remote_name(),
                    remote_id: c.server_id.filter(|s| !s.is_empty()),
                    remote_cluster: c.cluster.filter(|s| !s.is_empty()),
                    remote_is_hub: c.is_hub,
                    headers: self.peer.headers,
                    leafnode_urls: Vec::new(),
                    remote_account: None,
                    user: identity.and_then(|i| i.user.clone()),
                    permissions: identity.and_then(|i| i.permissions.clone()),
                    deny_pub: c.deny_pub,
                    link_permissions: self.link_permissions(),
                }
            }
        }
    }

    fn remote_name(&self) -> String {
        match self.role {
            Role::Solicit => {
                let info = &self.peer.info;
                // Pre-2.2 servers send no name; nats-server then uses the id.
                if info.server_name.is_empty() {
                    info.server_id.clone()
                } else {
                    info.server_name.clone()
                }
            }
            Role::Accept => self
                .peer
                .connect
                .as_ref()
                .and_then(|c| c.name.clone())
                .unwrap_or_default(),
        }
    }

    fn steady<'a>(&mut self, op: Op<'a>) -> LeafStep<'a> {
        match op {
            Op::Ping => self.pong(),
            Op::Pong => {
                self.pings_out = 0;
                if self.is_open() && !self.healthy {
                    self.healthy = true;
                    return LeafStep::Healthy;
                }
                LeafStep::Nothing
            }
            Op::Ok => LeafStep::Nothing,
            Op::LsPlus { subject, queue } => {
                if self.lds.as_deref() == Some(subject) {
                    encode::err(&mut self.outbox, &texts::loop_detected(&self.account));
                    return self.closed(CloseReason::LoopDetected);
                }
                if !is_valid_subject(subject) {
                    encode::err(&mut self.outbox, texts::INVALID_SUBSCRIPTION);
                    return LeafStep::Nothing;
                }
                match self.perms.as_ref().map(|p| p.peer_interest(subject)) {
                    Some(PeerInterest::Violation) => {
                        let text = texts::subscribe_violation(subject);
                        return self.fail(&text, CloseReason::PermissionsViolation);
                    }
                    Some(PeerInterest::Ignored) => return LeafStep::Nothing,
                    Some(PeerInterest::Allowed) | None => {}
                }
                if queue.is_none() && subject.starts_with(LDS_PREFIX) {
                    self.peer_lds.insert(subject.to_string());
                }
                LeafStep::InterestAdded { subject, queue }
            }
            Op::LsMinus { subject, queue } => {
                if queue.is_none() {
                    self.peer_lds.remove(subject);
                }
                LeafStep::InterestRemoved { subject, queue }
            }
            Op::Lmsg {
                subject,
                reply,
                queues,
                headers,
                payload,
            } => LeafStep::Message {
                subject,
                reply,
                queues,
                headers,
                payload,
            },
            Op::Info(json) => {
                if self.role == Role::Accept {
                    return LeafStep::Nothing;
                }
                let Ok(info) = ServerInfo::parse(json) else {
                    return self.close_silently(CloseReason::ProtocolViolation);
                };
                let urls = info.leafnode_urls.clone().filter(|u| !u.is_empty());
                let new_perms = info.import.is_some() || info.export.is_some();
                self.merge_hub_info(info);
                if new_perms {
                    // Interest and messages from now on follow the new permissions; what
                    // was announced before stays (nats-server does not resend either).
                    self.perms = self.link_permissions();
                }
                urls.map_or(LeafStep::Nothing, LeafStep::LeafUrls)
            }
            // A second CONNECT, or one sent to the soliciting side.
            Op::Connect(_) => self.close_silently(CloseReason::ProtocolViolation),
            // The leaf dialect parser never yields client or server operations; treat one as
            // the unknown operation it would be on a nats-server leaf link.
            _ => self.fail(texts::UNKNOWN_OP, CloseReason::ProtocolViolation),
        }
    }

    fn peer_err<'a>(&mut self, text: &str) -> LeafStep<'a> {
        if self.close.is_some() {
            return LeafStep::Nothing;
        }
        self.events.push_back(Event::LeafError {
            cid: self.cid,
            text: text.to_string(),
        });
        match close_reason_for_err(text) {
            Some(reason) => self.closed(reason),
            None => LeafStep::Nothing,
        }
    }

    fn pong<'a>(&mut self) -> LeafStep<'a> {
        encode::pong(&mut self.outbox);
        LeafStep::Nothing
    }

    fn ping_timer(&mut self, now: Instant) {
        let Some(due) = self.next_ping else { return };
        if due > now {
            return;
        }
        if self.pings_out + 1 > self.ping_cfg.max_outstanding {
            encode::err(&mut self.outbox, texts::STALE_CONNECTION);
            self.set_closed(CloseReason::StaleConnection);
            return;
        }
        self.pings_out += 1;
        encode::ping(&mut self.outbox);
        self.events.push_back(Event::PingSent {
            cid: self.cid,
            outstanding: self.pings_out,
        });
        self.next_ping = Some(now + self.ping_cfg.interval);
    }

    fn set_closed(&mut self, reason: CloseReason) {
        self.state = State::Closed;
        self.next_ping = None;
        self.close = Some(reason);
    }

    fn closed<'a>(&mut self, reason: CloseReason) -> LeafStep<'a> {
        self.set_closed(reason.clone());
        LeafStep::Close(reason)
    }

    fn fail<'a>(&mut self, quoted_text: &str, reason: CloseReason) -> LeafStep<'a> {
        encode::err(&mut self.outbox, quoted_text);
        self.closed(reason)
    }

    fn close_silently<'a>(&mut self, reason: CloseReason) -> LeafStep<'a> {
        self.closed(reason)
    }
}

fn subject_permission(r: &Rules) -> SubjectPermission {
    SubjectPermission {
        allow: r.allow.clone(),
        deny: r.deny.clone(),
    }
}

fn rules(p: Option<&SubjectPermission>) -> Rules {
    p.map(|p| Rules {
        allow: p.allow.clone(),
        deny: p.deny.clone(),
    })
    .unwrap_or_default()
}
