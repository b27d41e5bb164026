//! One client connection's protocol state, without I/O.
//!
//! A [`ClientSession`] runs inside its connection's task. The task parses operations from the
//! socket with [`crate::proto::parser`] and hands each to [`ClientSession::handle_op`], which
//! enforces the per-connection rules of the NATS client protocol (CONNECT and auth, verbose
//! `+OK`, pedantic checks, permissions, headers support) and answers with a [`Step`]: what
//! the data plane must do (route a publish, add or remove a subscription) or nothing.
//! Protocol replies (`+OK`, `PONG`, `PING`, `-ERR`) accumulate in an outbox the task drains
//! with [`ClientSession::take_outbox`] after every call, *before* acting on the step, which is
//! what keeps a verbose `+OK` ahead of the `MSG` its own `PUB` triggers.
//!
//! Liveness is here too: the session owns the ping timer and the auth timer
//! ([`ClientSession::poll_timeout`] / [`ClientSession::handle_timeout`]). TCP can stay silent
//! forever on a half-open link, so unanswered PINGs are the only reliable death signal.
//!
//! Call order (spurious calls are harmless):
//! - after each parsed op: `handle_op`, then `take_outbox`, then act on the step;
//! - after a parse error: `handle_proto_error`, then `take_outbox`, then close;
//! - when `poll_timeout`'s deadline passes: `handle_timeout`, then `take_outbox`,
//!   then check `close_reason`.

use std::sync::Arc;

use crate::auth::{Authenticator, Credentials, Identity, Permissions};
use crate::bugs::{BugSet, BugSwitch};
use crate::event::{Cid, CloseReason, Event};
use crate::proto::info::ClientConnect;
use crate::proto::parser::Op;
use crate::proto::ProtoError;
use crate::subject::{is_valid_literal_subject, is_valid_subject};
use crate::time::{Duration, Instant};

/// Per-server settings every session reads (shared, rebuilt on reload).
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Interval between server PINGs.
    pub ping_interval: Duration,
    /// Unanswered PINGs tolerated before `'Stale Connection'`.
    pub ping_max: u32,
    /// Time allowed for CONNECT when auth is required.
    pub auth_timeout: Duration,
    /// Authentication.
    pub auth: Arc<Authenticator>,
}

/// The first PING goes out after `min(ping_interval, 2s)` plus this jitter fraction (0..20%),
/// as nats-server does, so that a fleet of clients reconnecting together does not ping in
/// lockstep. The caller draws the fraction from its seeded RNG.
pub const FIRST_PING_CAP: Duration = Duration::from_secs(2);

/// What the data plane must do after an operation.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// Nothing (the outbox may hold a reply).
    Nothing,
    /// CONNECT accepted: bind the connection to this identity.
    Connected(Box<Connected>),
    /// Route a message.
    Publish {
        /// Subject.
        subject: &'a str,
        /// Reply subject.
        reply: Option<&'a str>,
        /// Header block (HPUB).
        headers: Option<&'a [u8]>,
        /// Payload.
        payload: &'a [u8],
    },
    /// Add a subscription. Call [`ClientSession::ack`] after it was accepted, or
    /// [`ClientSession::reject`] with the reason.
    Subscribe {
        /// Subject (validated).
        subject: &'a str,
        /// Queue group.
        queue: Option<&'a str>,
        /// Subscription id.
        sid: &'a str,
    },
    /// Remove a subscription now, or after `max` total deliveries.
    Unsubscribe {
        /// Subscription id.
        sid: &'a str,
        /// Auto-unsubscribe after this many deliveries in total.
        max: Option<u64>,
    },
    /// Close the connection (any `-ERR` is already in the outbox).
    Close(CloseReason),
}

/// The result of an accepted CONNECT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connected {
    /// Who the client is.
    pub identity: Identity,
    /// CONNECT `name`.
    pub name: Option<String>,
    /// CONNECT `lang`.
    pub lang: Option<String>,
    /// CONNECT `version`.
    pub version: Option<String>,
}

/// Client options negotiated by CONNECT (nats-server defaults before CONNECT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientOpts {
    /// `+OK` after each CONNECT/SUB/PUB/UNSUB.
    pub verbose: bool,
    /// Check publish subjects.
    pub pedantic: bool,
    /// Deliver own publishes to own subscriptions.
    pub echo: bool,
    /// The client understands HMSG.
    pub headers: bool,
    /// The client wants 503 status messages for requests nobody can answer.
    pub no_responders: bool,
}

impl Default for ClientOpts {
    fn default() -> Self {
        // A CONNECT's JSON is applied on top of these; `CONNECT {}` turns verbose on.
        ClientOpts {
            verbose: true,
            pedantic: true,
            echo: true,
            headers: false,
            no_responders: false,
        }
    }
}

/// Why the session wants to be woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerReason {
    /// Send a PING or declare the connection stale.
    Ping,
    /// CONNECT did not arrive in time.
    AuthTimeout,
}

/// One client connection's protocol state. See the module docs for the call order.
#[derive(Debug)]
pub struct ClientSession {
    cid: Cid,
    cfg: Arc<SessionConfig>,
    bugs: BugSet,
    opts: ClientOpts,
    connected: bool,
    permissions: Option<Arc<Permissions>>,
    next_ping: Instant,
    pings_out: u32,
    auth_deadline: Option<Instant>,
    outbox: Vec<u8>,
    events: Vec<Event>,
    close: Option<CloseReason>,
}

impl ClientSession {
    /// A new session for connection `cid`, accepted at `now`. `info` is the complete INFO
    /// line (it is the first thing sent). `first_ping_jitter` is a fraction in `[0, 0.2)`
    /// drawn by the caller from its seeded RNG.
    pub fn new(
        cid: Cid,
        cfg: Arc<SessionConfig>,
        now: Instant,
        info: &[u8],
        first_ping_jitter: f64,
        bugs: BugSet,
    ) -> Self {
        let first = cfg.ping_interval.min(FIRST_PING_CAP);
        let first = first + first.mul_f64(first_ping_jitter.clamp(0.0, 0.2));
        let auth_deadline = cfg.auth.required().then(|| now + cfg.auth_timeout);
        let permissions = if cfg.auth.required() {
            None
        } else {
            cfg.auth.anonymous().permissions
        };
        ClientSession {
            cid,
            cfg,
            bugs,
            opts: ClientOpts::default(),
            connected: false,
            permissions,
            next_ping: now + first,
            pings_out: 0,
            auth_deadline,
            outbox: info.to_vec(),
            events: Vec::new(),
            close: None,
        }
    }

    /// Connection id.
    pub fn cid(&self) -> Cid {
        self.cid
    }

    /// The options in force (defaults until CONNECT).
    pub fn opts(&self) -> ClientOpts {
        self.opts
    }

    /// Whether a CONNECT was accepted.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Why the session ended, once it has.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close.as_ref()
    }

    /// Bytes to send, in order. Drain after every `handle_*` call.
    pub fn take_outbox(&mut self) -> Option<Vec<u8>> {
        (!self.outbox.is_empty()).then(|| std::mem::take(&mut self.outbox))
    }

    /// Next event for logs and the simulator.
    pub fn poll_event(&mut self) -> Option<Event> {
        (!self.events.is_empty()).then(|| self.events.remove(0))
    }

    /// Handle one parsed operation.
    pub fn handle_op<'a>(&mut self, now: Instant, op: Op<'a>) -> Step<'a> {
        let _ = now;
        if self.close.is_some() {
            return Step::Nothing;
        }
        if !self.connected && self.cfg.auth.required() && !matches!(op, Op::Connect(_)) {
            return self.fail(
                "'Authorization Violation'",
                CloseReason::AuthorizationViolation,
            );
        }
        match op {
            Op::Connect(json) => self.connect(json),
            Op::Ping => {
                self.outbox.extend_from_slice(b"PONG\r\n");
                Step::Nothing
            }
            Op::Pong => {
                self.pings_out = 0;
                Step::Nothing
            }
            Op::Pub {
                subject,
                reply,
                payload,
            } => self.publish(subject, reply, None, payload),
            Op::Hpub {
                subject,
                reply,
                headers,
                payload,
            } => {
                if !self.opts.headers {
                    // nats-server closes silently: "message headers not supported".
                    return self.close_silently(CloseReason::ProtocolViolation);
                }
                self.publish(subject, reply, Some(headers), payload)
            }
            Op::Sub {
                subject,
                queue,
                sid,
            } => {
                if !is_valid_subject(subject) || queue.is_some_and(str::is_empty) {
                    self.err("'Invalid Subject'");
                    return Step::Nothing;
                }
                if let Some(p) = &self.permissions {
                    if !p.subscribe.permits(subject) {
                        let text =
                            format!("'Permissions Violation for Subscription to \"{subject}\"'");
                        self.err(&text);
                        return Step::Nothing;
                    }
                }
                Step::Subscribe {
                    subject,
                    queue,
                    sid,
                }
            }
            Op::Unsub { sid, max } => {
                self.ack();
                Step::Unsubscribe { sid, max }
            }
            // The client dialect parser never yields server or leaf operations; treat one as
            // the protocol violation it would be.
            _ => self.fail(
                "'Unknown Protocol Operation'",
                CloseReason::ProtocolViolation,
            ),
        }
    }

    /// A parse error on this connection: queue its `-ERR` (if nats-server sends one) and
    /// return the close reason.
    pub fn handle_proto_error(&mut self, err: &ProtoError) -> CloseReason {
        let reason = match err {
            ProtoError::PayloadTooLarge => CloseReason::MaxPayloadExceeded,
            ProtoError::ControlLineTooLong => CloseReason::MaxControlLineExceeded,
            _ => CloseReason::ProtocolViolation,
        };
        if let Some(text) = err.err_text() {
            self.err(text);
        }
        self.close = Some(reason.clone());
        reason
    }

    /// A subscription was accepted: `+OK` when verbose.
    pub fn ack(&mut self) {
        if self.opts.verbose {
            self.outbox.extend_from_slice(b"+OK\r\n");
        }
    }

    /// An operation was refused with `-ERR <text>` (connection stays open).
    pub fn reject(&mut self, text: &str) {
        self.err(text);
    }

    /// Earliest deadline and why.
    pub fn poll_timeout(&self) -> Option<(Instant, TimerReason)> {
        if self.close.is_some() {
            return None;
        }
        let ping = (!self.bugs.has(BugSwitch::NoServerPing))
            .then_some((self.next_ping, TimerReason::Ping));
        let auth = self.auth_deadline.map(|d| (d, TimerReason::AuthTimeout));
        match (ping, auth) {
            (Some(p), Some(a)) => Some(if a.0 <= p.0 { a } else { p }),
            (p, a) => p.or(a),
        }
    }

    /// Run every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.close.is_some() {
            return;
        }
        if self.auth_deadline.is_some_and(|d| d <= now) {
            self.fail(
                "'Authentication Timeout'",
                CloseReason::AuthenticationTimeout,
            );
            return;
        }
        if self.bugs.has(BugSwitch::NoServerPing) || self.next_ping > now {
            return;
        }
        // Always ping, even on a busy connection: delaying pings for activity (as
        // nats-server does) would stretch detection of a half-open link past
        // ping_interval × (ping_max + 1).
        if self.pings_out + 1 > self.cfg.ping_max {
            self.fail("'Stale Connection'", CloseReason::StaleConnection);
            return;
        }
        self.pings_out += 1;
        self.outbox.extend_from_slice(b"PING\r\n");
        self.events.push(Event::PingSent {
            cid: self.cid,
            outstanding: self.pings_out,
        });
        self.next_ping = now + self.cfg.ping_interval;
    }

    fn connect<'a>(&mut self, json: &[u8]) -> Step<'a> {
        let Ok(c) = ClientConnect::parse(json) else {
            // nats-server closes without -ERR on bad CONNECT JSON.
            return self.close_silently(CloseReason::ProtocolViolation);
        };
        if let Err(e) = c.validate() {
            return match e.err_text() {
                Some(text) => self.fail(&text, CloseReason::ProtocolViolation),
                None => self.close_silently(CloseReason::ProtocolViolation),
            };
        }
        let creds = Credentials {
            user: c.user.as_deref(),
            pass: c.pass.as_deref(),
            token: c.auth_token.as_deref(),
        };
        let Ok(identity) = self.cfg.auth.authenticate(creds) else {
            return self.fail(
                "'Authorization Violation'",
                CloseReason::AuthorizationViolation,
            );
        };
        self.opts = ClientOpts {
            verbose: c.verbose,
            pedantic: c.pedantic,
            echo: c.echo,
            headers: c.headers,
            no_responders: c.no_responders,
        };
        self.connected = true;
        self.auth_deadline = None;
        self.permissions = identity.permissions.clone();
        self.ack();
        self.events.push(Event::ClientConnected {
            cid: self.cid,
            name: c.name.clone(),
            account: identity.account.to_string(),
        });
        Step::Connected(Box::new(Connected {
            identity,
            name: c.name,
            lang: c.lang,
            version: c.version,
        }))
    }

    fn publish<'a>(
        &mut self,
        subject: &'a str,
        reply: Option<&'a str>,
        headers: Option<&'a [u8]>,
        payload: &'a [u8],
    ) -> Step<'a> {
        if self.opts.pedantic && !is_valid_literal_subject(subject) {
            self.err("'Invalid Publish Subject'");
            return Step::Nothing;
        }
        if let Some(p) = &self.permissions {
            if !p.publish.permits(subject) {
                let text = format!("'Permissions Violation for Publish to \"{subject}\"'");
                self.err(&text);
                return Step::Nothing;
            }
        }
        self.ack();
        Step::Publish {
            subject,
            reply,
            headers,
            payload,
        }
    }

    fn err(&mut self, quoted_text: &str) {
        self.outbox.extend_from_slice(b"-ERR ");
        self.outbox.extend_from_slice(quoted_text.as_bytes());
        self.outbox.extend_from_slice(b"\r\n");
    }

    fn fail<'a>(&mut self, quoted_text: &str, reason: CloseReason) -> Step<'a> {
        self.err(quoted_text);
        self.close = Some(reason.clone());
        Step::Close(reason)
    }

    fn close_silently<'a>(&mut self, reason: CloseReason) -> Step<'a> {
        self.close = Some(reason.clone());
        Step::Close(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthSpec, User};

    fn cfg(auth: AuthSpec) -> Arc<SessionConfig> {
        Arc::new(SessionConfig {
            ping_interval: Duration::from_secs(1),
            ping_max: 2,
            auth_timeout: Duration::from_secs(2),
            auth: Arc::new(Authenticator::new(auth)),
        })
    }

    fn at(ms: u64) -> Instant {
        Instant::from_start(Duration::from_millis(ms))
    }

    fn session(auth: AuthSpec) -> ClientSession {
        let mut s = ClientSession::new(1, cfg(auth), at(0), b"INFO {} \r\n", 0.1, BugSet::NONE);
        assert_eq!(s.take_outbox().unwrap(), b"INFO {} \r\n");
        s
    }

    fn out(s: &mut ClientSession) -> String {
        String::from_utf8(s.take_outbox().unwrap_or_default()).unwrap()
    }

    #[test]
    fn defaults_are_verbose_before_connect() {
        let mut s = session(AuthSpec::default());
        let step = s.handle_op(
            at(1),
            Op::Pub {
                subject: "a",
                reply: None,
                payload: b"hi",
            },
        );
        assert!(matches!(step, Step::Publish { subject: "a", .. }));
        assert_eq!(out(&mut s), "+OK\r\n");
        s.handle_op(at(1), Op::Ping);
        assert_eq!(out(&mut s), "PONG\r\n");
    }

    #[test]
    fn connect_applies_options() {
        let mut s = session(AuthSpec::default());
        let step = s.handle_op(
            at(1),
            Op::Connect(
                br#"{"verbose":false,"pedantic":false,"echo":false,"headers":true,"name":null}"#,
            ),
        );
        assert!(matches!(step, Step::Connected(_)));
        assert!(s.take_outbox().is_none());
        assert!(!s.opts().echo && s.opts().headers);
        let step = s.handle_op(
            at(1),
            Op::Pub {
                subject: "a..b",
                reply: None,
                payload: b"",
            },
        );
        assert!(
            matches!(step, Step::Publish { .. }),
            "non-pedantic publishes anything"
        );
    }

    #[test]
    fn pedantic_rejects_bad_publish_subject_and_stays_open() {
        let mut s = session(AuthSpec::default());
        let step = s.handle_op(
            at(1),
            Op::Pub {
                subject: "foo.*",
                reply: None,
                payload: b"",
            },
        );
        assert_eq!(step, Step::Nothing);
        assert_eq!(out(&mut s), "-ERR 'Invalid Publish Subject'\r\n");
        assert!(s.close_reason().is_none());
    }

    #[test]
    fn invalid_sub_subject() {
        let mut s = session(AuthSpec::default());
        let step = s.handle_op(
            at(1),
            Op::Sub {
                subject: "foo.>.bar",
                queue: None,
                sid: "1",
            },
        );
        assert_eq!(step, Step::Nothing);
        assert_eq!(out(&mut s), "-ERR 'Invalid Subject'\r\n");
    }

    #[test]
    fn protocol_2_is_refused() {
        let mut s = session(AuthSpec::default());
        let step = s.handle_op(at(1), Op::Connect(br#"{"protocol":2}"#));
        assert!(matches!(step, Step::Close(_)));
        assert_eq!(out(&mut s), "-ERR 'invalid client protocol'\r\n");
    }

    #[test]
    fn bad_connect_json_closes_silently() {
        let mut s = session(AuthSpec::default());
        let step = s.handle_op(at(1), Op::Connect(b"{nope"));
        assert_eq!(step, Step::Close(CloseReason::ProtocolViolation));
        assert!(s.take_outbox().is_none());
    }

    fn with_user() -> AuthSpec {
        AuthSpec {
            users: vec![User {
                user: "u".into(),
                password: "p".into(),
                account: Arc::from("A"),
                permissions: None,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn auth_required_before_other_ops() {
        let mut s = session(with_user());
        let step = s.handle_op(at(1), Op::Ping);
        assert_eq!(step, Step::Close(CloseReason::AuthorizationViolation));
        assert_eq!(out(&mut s), "-ERR 'Authorization Violation'\r\n");
    }

    #[test]
    fn wrong_password_and_right_password() {
        let mut s = session(with_user());
        let step = s.handle_op(
            at(1),
            Op::Connect(br#"{"user":"u","pass":"x","verbose":false}"#),
        );
        assert_eq!(step, Step::Close(CloseReason::AuthorizationViolation));
        let mut s = session(with_user());
        match s.handle_op(
            at(1),
            Op::Connect(br#"{"user":"u","pass":"p","verbose":false}"#),
        ) {
            Step::Connected(c) => assert_eq!(&*c.identity.account, "A"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn auth_timeout() {
        let mut s = session(with_user());
        assert_eq!(s.poll_timeout(), Some((at(1100), TimerReason::Ping)));
        s.handle_timeout(at(1999));
        assert!(s.close_reason().is_none());
        s.handle_timeout(at(2000));
        assert_eq!(s.close_reason(), Some(&CloseReason::AuthenticationTimeout));
        assert!(out(&mut s).contains("-ERR 'Authentication Timeout'"));
    }

    #[test]
    fn stale_connection_after_ping_max_unanswered() {
        let mut s = session(AuthSpec::default());
        // First ping at min(1s, 2s) * 1.1 = 1.1s, then every second.
        assert_eq!(s.poll_timeout(), Some((at(1100), TimerReason::Ping)));
        s.handle_timeout(at(1100));
        assert_eq!(out(&mut s), "PING\r\n");
        s.handle_timeout(at(2100));
        assert_eq!(out(&mut s), "PING\r\n");
        s.handle_timeout(at(3100));
        assert_eq!(out(&mut s), "-ERR 'Stale Connection'\r\n");
        assert_eq!(s.close_reason(), Some(&CloseReason::StaleConnection));
    }

    #[test]
    fn pong_resets_outstanding_pings() {
        let mut s = session(AuthSpec::default());
        for i in 0..10u64 {
            s.handle_timeout(at(1100 + i * 1000));
            s.handle_op(at(1100 + i * 1000), Op::Pong);
        }
        assert!(s.close_reason().is_none());
    }

    #[cfg(feature = "bug-switches")]
    #[test]
    fn no_server_ping_switch_disables_liveness() {
        let bugs = BugSet::NONE.with(BugSwitch::NoServerPing);
        let s = ClientSession::new(1, cfg(AuthSpec::default()), at(0), b"", 0.0, bugs);
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn hpub_without_headers_closes_silently() {
        let mut s = session(AuthSpec::default());
        let step = s.handle_op(
            at(1),
            Op::Hpub {
                subject: "a",
                reply: None,
                headers: b"NATS/1.0\r\n\r\n",
                payload: b"",
            },
        );
        assert_eq!(step, Step::Close(CloseReason::ProtocolViolation));
        assert!(s.take_outbox().is_none());
    }
}
