//! Simulated NATS clients: the real client protocol over turmoil TCP.
//!
//! A client behaves like the stock clients on the points that matter to the server's
//! lifecycle code: on its first connect it sends `CONNECT` (name, `verbose: false`,
//! `headers: true`) + `PING`, then its `SUB`s once the `PONG` is back; on every reconnect
//! it sends `CONNECT`, all its `SUB`s and a `PING` pipelined in ONE write. It counts itself
//! connected only when the `PONG` after its SUBs arrives (so its subscriptions are in place),
//! answers server PINGs (unless told to be unresponsive), PINGs the server itself to detect
//! a dead link, and reconnects with a wait plus seeded jitter, rotating through its servers.
//!
//! Workloads are scheduled in world time: publish slot `k` of a workload is at
//! `start + (k-1) × every` and carries sequence number `k` in its payload (`CLIENT:k`), so
//! sequence numbers keep increasing across reconnects and even client restarts. A slot that
//! falls while the client is not connected is skipped, not buffered (stock clients buffer;
//! skipping keeps "what was sent" unambiguous for the delivery invariants).
//!
//! Writes go through a writer task: turmoil has no retransmission, so on a partitioned link
//! a writer eventually blocks forever on flow control — the session loop must keep running
//! its ping timer regardless.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Notify};
use turmoil::net::TcpStream;

use crate::scenario::{ClientSpec, PublishSpec};
use crate::trace::{Body, Inbox};

/// What a client reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ClientEvent {
    /// A dial or handshake failed.
    ConnectFailed {
        /// `HOST:PORT` from the scenario.
        server: String,
        /// Why.
        error: String,
    },
    /// The handshake PONG arrived: CONNECT and every SUB were processed.
    Connected {
        /// `HOST:PORT`.
        server: String,
    },
    /// A connection ended.
    Disconnected {
        /// `HOST:PORT`.
        server: String,
        /// `eof`, `io_error`, `ping_timeout`, `handshake_timeout`, `server_error`,
        /// `protocol_error`, `stopped`.
        reason: String,
    },
    /// The server sent `-ERR`.
    ServerError {
        /// `HOST:PORT`.
        server: String,
        /// The error text, quotes included.
        error: String,
    },
    /// A workload message was handed to the connection.
    Published {
        /// Subject.
        subject: String,
        /// Sequence number (slot).
        seq: u64,
    },
    /// A message arrived on a subscription.
    Received {
        /// Subject it was published to.
        subject: String,
        /// Publishing client (from the payload; `?` if foreign).
        from: String,
        /// Its sequence number (0 if foreign).
        seq: u64,
    },
    /// A request was sent.
    RequestSent {
        /// Subject.
        subject: String,
        /// Sequence number.
        seq: u64,
    },
    /// A reply arrived in time.
    ReplyReceived {
        /// Request subject.
        subject: String,
        /// Sequence number of the request.
        seq: u64,
    },
    /// No reply within the request's timeout.
    RequestTimedOut {
        /// Request subject.
        subject: String,
        /// Sequence number.
        seq: u64,
    },
    /// The client stopped (`client_stop`).
    Stopped,
}

/// The nemesis's handle on a client.
#[derive(Debug, Default)]
pub struct ClientCtl {
    unresponsive: AtomicBool,
    stopped: AtomicBool,
    stop: Notify,
}

impl ClientCtl {
    /// Reset for a new incarnation.
    pub fn reset(&self, unresponsive: bool) {
        self.unresponsive.store(unresponsive, Ordering::SeqCst);
        self.stopped.store(false, Ordering::SeqCst);
    }

    /// Stop answering (or answer again) server PINGs.
    pub fn set_unresponsive(&self, on: bool) {
        self.unresponsive.store(on, Ordering::SeqCst);
    }

    /// Ask the client to close its connection and stop.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.stop.notify_one();
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }
}

/// World time as the running host sees it.
fn world_now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

async fn sleep_until_world(t: Duration) {
    tokio::time::sleep(t.saturating_sub(world_now())).await;
}

/// A periodic workload (publish or request), scheduled in world time.
#[derive(Debug)]
struct Schedule {
    spec: PublishSpec,
    next_slot: u64,
}

impl Schedule {
    fn new(spec: PublishSpec) -> Self {
        Schedule { spec, next_slot: 1 }
    }

    fn slot_time(&self, k: u64) -> Duration {
        let steps = u32::try_from(k.saturating_sub(1)).unwrap_or(u32::MAX);
        self.spec.start.0 + self.spec.every.0.saturating_mul(steps)
    }

    fn exhausted(&self) -> bool {
        self.spec.count != 0 && self.next_slot > self.spec.count
    }

    fn next_due(&self) -> Option<Duration> {
        (!self.exhausted()).then(|| self.slot_time(self.next_slot))
    }

    /// Skip every slot before `now` (they fell while disconnected).
    fn skip_past(&mut self, now: Duration) {
        while !self.exhausted() && self.slot_time(self.next_slot) < now {
            self.next_slot += 1;
        }
    }

    /// The slots due at `now`, consumed.
    fn take_due(&mut self, now: Duration) -> Vec<u64> {
        let mut due = Vec::new();
        while !self.exhausted() && self.slot_time(self.next_slot) <= now {
            due.push(self.next_slot);
            self.next_slot += 1;
        }
        due
    }
}

/// What a subscription id is for.
#[derive(Clone, Debug)]
enum SidRole {
    Sub,
    Reply,
    Inbox,
}

/// An operation from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerOp {
    /// `INFO {...}`.
    Info,
    /// `MSG`/`HMSG` (headers dropped).
    Msg {
        /// Subject.
        subject: String,
        /// Subscription id.
        sid: u64,
        /// Reply subject.
        reply: Option<String>,
        /// Payload.
        payload: Vec<u8>,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK`.
    Ok,
    /// `-ERR '...'`.
    Err(String),
}

/// Parses one server operation from the front of `buf`: `Ok(None)` when more bytes are
/// needed, otherwise the op and how many bytes it used.
pub fn parse_op(buf: &[u8]) -> Result<Option<(ServerOp, usize)>, String> {
    let Some(nl) = buf.iter().position(|b| *b == b'\n') else {
        if buf.len() > 64 * 1024 {
            return Err("control line too long".into());
        }
        return Ok(None);
    };
    let line =
        std::str::from_utf8(&buf[..nl]).map_err(|_| "control line is not UTF-8".to_string())?;
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut words = line.split_whitespace();
    let op = words.next().unwrap_or("").to_ascii_uppercase();
    let args: Vec<&str> = words.collect();
    let after = nl + 1;
    let simple = |op: ServerOp| Ok(Some((op, after)));
    match op.as_str() {
        "INFO" => simple(ServerOp::Info),
        "PING" => simple(ServerOp::Ping),
        "PONG" => simple(ServerOp::Pong),
        "+OK" => simple(ServerOp::Ok),
        "-ERR" => simple(ServerOp::Err(line[4..].trim().to_string())),
        "MSG" | "HMSG" => {
            let headers = op == "HMSG";
            let nums = if headers { 2 } else { 1 };
            if args.len() != 2 + nums && args.len() != 3 + nums {
                return Err(format!("bad {op} line {line:?}"));
            }
            let num = |s: &str| {
                s.parse::<usize>()
                    .map_err(|_| format!("bad {op} line {line:?}"))
            };
            let total = num(args[args.len() - 1])?;
            let hdr = if headers {
                num(args[args.len() - 2])?
            } else {
                0
            };
            if hdr > total {
                return Err(format!("bad {op} line {line:?}"));
            }
            let sid = num(args[1])? as u64;
            let reply = (args.len() == 3 + nums).then(|| args[2].to_string());
            if buf.len() < after + total + 2 {
                return Ok(None);
            }
            if &buf[after + total..after + total + 2] != b"\r\n" {
                return Err(format!("{op} payload not followed by CRLF"));
            }
            let payload = buf[after + hdr..after + total].to_vec();
            Ok(Some((
                ServerOp::Msg {
                    subject: args[0].to_string(),
                    sid,
                    reply,
                    payload,
                },
                after + total + 2,
            )))
        }
        _ => Err(format!("unknown operation {line:?}")),
    }
}

/// The CONNECT line for `spec`.
fn connect_line(spec: &ClientSpec) -> String {
    let mut o = serde_json::json!({
        "verbose": false,
        "pedantic": false,
        "name": spec.name,
        "lang": "rejoin-sim",
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": 1,
        "headers": true,
        "no_responders": true,
        "echo": true,
    });
    if let Some(m) = o.as_object_mut() {
        if let Some(u) = &spec.user {
            m.insert("user".into(), u.clone().into());
        }
        if let Some(p) = &spec.password {
            m.insert("pass".into(), p.clone().into());
        }
        if let Some(t) = &spec.token {
            m.insert("auth_token".into(), t.clone().into());
        }
    }
    format!("CONNECT {o}\r\n")
}

/// Why a session ended.
struct Ended {
    reason: &'static str,
}

/// One client incarnation.
struct Client {
    spec: Arc<ClientSpec>,
    ctl: Arc<ClientCtl>,
    inbox: Inbox,
    rng: ChaCha8Rng,
    publish: Vec<Schedule>,
    request: Vec<Schedule>,
    sids: BTreeMap<u64, SidRole>,
    /// Outstanding requests: (schedule index, seq) -> deadline.
    pending: BTreeMap<(usize, u64), Duration>,
    /// Whether this incarnation completed a handshake before (then it resubscribes by
    /// pipelining).
    was_connected: bool,
}

/// Runs a client until it is stopped (turmoil host software).
pub async fn run(
    spec: Arc<ClientSpec>,
    ctl: Arc<ClientCtl>,
    inbox: Inbox,
    seed: u64,
) -> turmoil::Result {
    let mut c = Client {
        publish: spec.publish.iter().cloned().map(Schedule::new).collect(),
        request: spec.request.iter().cloned().map(Schedule::new).collect(),
        spec,
        ctl,
        inbox,
        rng: ChaCha8Rng::seed_from_u64(seed),
        sids: BTreeMap::new(),
        pending: BTreeMap::new(),
        was_connected: false,
    };
    c.run().await;
    Ok(())
}

impl Client {
    fn emit(&self, e: ClientEvent) {
        self.inbox.push(&self.spec.name, Body::Client(e));
    }

    async fn run(&mut self) {
        sleep_until_world(self.spec.start.0).await;
        let n = self.spec.servers.len();
        let mut attempt: usize = 0;
        loop {
            if self.ctl.is_stopped() {
                break;
            }
            let server = self.spec.servers[attempt % n].clone();
            if attempt > 0 {
                let wait = self.spec.reconnect_wait.0 + self.jitter();
                let stopped = tokio::select! {
                    biased;
                    _ = self.ctl.stop.notified() => true,
                    _ = tokio::time::sleep(wait) => false,
                };
                if stopped || self.ctl.is_stopped() {
                    break;
                }
            }
            attempt += 1;
            match self.dial(&server).await {
                Ok(stream) => {
                    let ended = self.session(&server, stream).await;
                    self.emit(ClientEvent::Disconnected {
                        server: server.clone(),
                        reason: ended.reason.into(),
                    });
                    if ended.reason == "stopped" {
                        break;
                    }
                }
                Err(error) => self.emit(ClientEvent::ConnectFailed { server, error }),
            }
        }
        self.emit(ClientEvent::Stopped);
    }

    fn jitter(&mut self) -> Duration {
        let j = self.spec.reconnect_jitter.0.as_micros() as u64;
        if j == 0 {
            Duration::ZERO
        } else {
            Duration::from_micros(self.rng.gen_range(0..j))
        }
    }

    async fn dial(&self, server: &str) -> Result<TcpStream, String> {
        match tokio::time::timeout(self.spec.connect_timeout.0, TcpStream::connect(server)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(format!("{:?}", e.kind())),
            Err(_) => Err("dial timeout".into()),
        }
    }

    /// Assigns subscription ids and renders every SUB line.
    fn sub_lines(&mut self) -> String {
        self.sids.clear();
        let mut out = String::new();
        let mut sid = 0u64;
        let spec = self.spec.clone();
        for s in &spec.subscribe {
            sid += 1;
            self.sids.insert(sid, SidRole::Sub);
            out.push_str(&format!("SUB {s} {sid}\r\n"));
        }
        for q in &spec.queue_subscribe {
            sid += 1;
            self.sids.insert(sid, SidRole::Sub);
            out.push_str(&format!("SUB {} {} {sid}\r\n", q.subject, q.queue));
        }
        for r in &spec.reply {
            sid += 1;
            self.sids.insert(sid, SidRole::Reply);
            out.push_str(&format!("SUB {r} {sid}\r\n"));
        }
        if !spec.request.is_empty() {
            sid += 1;
            self.sids.insert(sid, SidRole::Inbox);
            out.push_str(&format!("SUB _INBOX.{}.> {sid}\r\n", spec.name));
        }
        out
    }

    fn next_work(&self) -> Option<Duration> {
        let sched = self
            .publish
            .iter()
            .chain(&self.request)
            .filter_map(Schedule::next_due);
        let timeouts = self.pending.values().copied();
        sched.chain(timeouts).min()
    }

    async fn session(&mut self, server: &str, stream: TcpStream) -> Ended {
        let deadline = world_now() + self.spec.connect_timeout.0;
        let (mut rd, mut wr) = stream.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let writer = tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if wr.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            // Keep the write half (no FIN) until the session drops it with the task.
            std::future::pending::<()>().await;
        });
        let ended = self.converse(server, &mut rd, &tx, deadline).await;
        writer.abort();
        let _ = writer.await;
        ended
    }

    async fn converse(
        &mut self,
        server: &str,
        rd: &mut turmoil::net::tcp::OwnedReadHalf,
        tx: &mpsc::UnboundedSender<Vec<u8>>,
        deadline: Duration,
    ) -> Ended {
        let mut buf: Vec<u8> = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 16 * 1024];
        let mut got_info = false;
        let mut handshaking = true;
        let mut subs_pending = false;
        let mut pings_out: u32 = 0;
        let mut next_ping = Duration::MAX;
        let send = |bytes: Vec<u8>| {
            let _ = tx.send(bytes);
        };
        loop {
            if self.ctl.is_stopped() {
                return Ended { reason: "stopped" };
            }
            let work_at = if handshaking { None } else { self.next_work() };
            tokio::select! {
                biased;
                _ = self.ctl.stop.notified() => return Ended { reason: "stopped" },
                r = rd.read(&mut chunk) => {
                    let n = match r {
                        Ok(0) => return Ended { reason: "eof" },
                        Ok(n) => n,
                        Err(_) => return Ended { reason: "io_error" },
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    loop {
                        let (op, used) = match parse_op(&buf) {
                            Ok(Some(x)) => x,
                            Ok(None) => break,
                            Err(_) => return Ended { reason: "protocol_error" },
                        };
                        buf.drain(..used);
                        match op {
                            ServerOp::Info if !got_info => {
                                got_info = true;
                                let mut hello = connect_line(&self.spec);
                                if self.was_connected {
                                    // Reconnect: CONNECT, every SUB and PING in ONE write,
                                    // as real clients resubscribe.
                                    hello.push_str(&self.sub_lines());
                                } else {
                                    // First connect: CONNECT + PING; the SUBs follow the
                                    // PONG (the application subscribes once connected).
                                    subs_pending = true;
                                }
                                hello.push_str("PING\r\n");
                                send(hello.into_bytes());
                            }
                            ServerOp::Info | ServerOp::Ok => {}
                            ServerOp::Ping => {
                                if !self.ctl.unresponsive.load(Ordering::SeqCst) {
                                    send(b"PONG\r\n".to_vec());
                                }
                            }
                            ServerOp::Pong => {
                                if handshaking && got_info && subs_pending {
                                    // Confirm the first SUBs with a PING too, so that
                                    // `connected` always means "subscriptions in place".
                                    subs_pending = false;
                                    let mut subs = self.sub_lines();
                                    subs.push_str("PING\r\n");
                                    send(subs.into_bytes());
                                } else if handshaking && got_info {
                                    self.was_connected = true;
                                    handshaking = false;
                                    let now = world_now();
                                    next_ping = now + self.spec.ping_interval.0;
                                    for s in self.publish.iter_mut().chain(self.request.iter_mut()) {
                                        s.skip_past(now);
                                    }
                                    self.emit(ClientEvent::Connected { server: server.to_string() });
                                } else {
                                    pings_out = 0;
                                }
                            }
                            ServerOp::Err(error) => {
                                self.emit(ClientEvent::ServerError { server: server.to_string(), error });
                                if handshaking {
                                    return Ended { reason: "server_error" };
                                }
                            }
                            ServerOp::Msg { subject, sid, reply, payload } => {
                                self.on_msg(subject, sid, reply, payload, &send);
                            }
                        }
                    }
                }
                _ = sleep_until_world(deadline), if handshaking => {
                    return Ended { reason: "handshake_timeout" };
                }
                _ = sleep_until_world(next_ping), if !handshaking => {
                    if pings_out >= self.spec.max_pings_out {
                        return Ended { reason: "ping_timeout" };
                    }
                    pings_out += 1;
                    send(b"PING\r\n".to_vec());
                    next_ping = world_now() + self.spec.ping_interval.0;
                }
                _ = sleep_until_world(work_at.unwrap_or(Duration::MAX)), if work_at.is_some() => {
                    self.do_work(&send);
                }
            }
        }
    }

    fn on_msg(
        &mut self,
        subject: String,
        sid: u64,
        reply: Option<String>,
        payload: Vec<u8>,
        send: &impl Fn(Vec<u8>),
    ) {
        let text = String::from_utf8_lossy(&payload).into_owned();
        let (from, seq) = match text.rsplit_once(':') {
            Some((f, s)) => match s.parse::<u64>() {
                Ok(n) => (f.to_string(), n),
                Err(_) => ("?".to_string(), 0),
            },
            None => ("?".to_string(), 0),
        };
        match self.sids.get(&sid) {
            Some(SidRole::Sub) => self.emit(ClientEvent::Received { subject, from, seq }),
            Some(SidRole::Reply) => {
                if let Some(r) = reply {
                    send(format!("PUB {r} {}\r\n{text}\r\n", payload.len()).into_bytes());
                }
            }
            Some(SidRole::Inbox) => {
                let idx = subject
                    .rsplit('.')
                    .nth(1)
                    .and_then(|i| i.parse::<usize>().ok());
                if let Some(idx) = idx {
                    if self.pending.remove(&(idx, seq)).is_some() {
                        let subject = self.request[idx].spec.subject.clone();
                        self.emit(ClientEvent::ReplyReceived { subject, seq });
                    }
                }
            }
            None => {}
        }
    }

    fn do_work(&mut self, send: &impl Fn(Vec<u8>)) {
        let now = world_now();
        let name = self.spec.name.clone();
        for i in 0..self.publish.len() {
            for seq in self.publish[i].take_due(now) {
                let subject = self.publish[i].spec.subject.clone();
                let payload = format!("{name}:{seq}");
                send(format!("PUB {subject} {}\r\n{payload}\r\n", payload.len()).into_bytes());
                self.emit(ClientEvent::Published { subject, seq });
            }
        }
        for i in 0..self.request.len() {
            for seq in self.request[i].take_due(now) {
                let subject = self.request[i].spec.subject.clone();
                let payload = format!("{name}:{seq}");
                let inbox = format!("_INBOX.{name}.{i}.{seq}");
                send(
                    format!("PUB {subject} {inbox} {}\r\n{payload}\r\n", payload.len())
                        .into_bytes(),
                );
                self.pending
                    .insert((i, seq), now + self.request[i].spec.timeout.0);
                self.emit(ClientEvent::RequestSent { subject, seq });
            }
        }
        let expired: Vec<(usize, u64)> = self
            .pending
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(k, _)| *k)
            .collect();
        for (i, seq) in expired {
            self.pending.remove(&(i, seq));
            let subject = self.request[i].spec.subject.clone();
            self.emit(ClientEvent::RequestTimedOut { subject, seq });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_ops() {
        let buf = b"INFO {\"a\":1}\r\nPING\r\nMSG a.b 3 5\r\nhello\r\nMSG x 1 _INBOX.c.0.4 3\r\nc:4\r\n-ERR 'Stale Connection'\r\nHMSG h 2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n";
        let mut at = 0;
        let mut ops = Vec::new();
        while let Some((op, used)) = parse_op(&buf[at..]).unwrap() {
            ops.push(op);
            at += used;
        }
        assert_eq!(at, buf.len());
        assert_eq!(ops[0], ServerOp::Info);
        assert_eq!(ops[1], ServerOp::Ping);
        assert_eq!(
            ops[2],
            ServerOp::Msg {
                subject: "a.b".into(),
                sid: 3,
                reply: None,
                payload: b"hello".to_vec()
            }
        );
        assert_eq!(
            ops[3],
            ServerOp::Msg {
                subject: "x".into(),
                sid: 1,
                reply: Some("_INBOX.c.0.4".into()),
                payload: b"c:4".to_vec()
            }
        );
        assert_eq!(ops[4], ServerOp::Err("'Stale Connection'".into()));
        assert_eq!(
            ops[5],
            ServerOp::Msg {
                subject: "h".into(),
                sid: 2,
                reply: None,
                payload: b"hi".to_vec()
            }
        );
    }

    #[test]
    fn partial_input_waits_and_garbage_is_an_error() {
        assert_eq!(parse_op(b"MSG a 1 5\r\nhel").unwrap(), None);
        assert_eq!(parse_op(b"PIN").unwrap(), None);
        assert!(parse_op(b"BOGUS\r\n").is_err());
        assert!(parse_op(b"MSG a 1 x\r\n").is_err());
        assert!(parse_op(b"MSG a 1 2\r\nhiXX").is_err());
        assert!(parse_op(b"HMSG a 1 9 2\r\n").is_err());
    }

    #[test]
    fn schedules_count_slots_in_world_time() {
        let spec = PublishSpec {
            subject: "s".into(),
            every: crate::duration::Dur(Duration::from_millis(100)),
            count: 5,
            start: crate::duration::Dur(Duration::from_secs(1)),
            timeout: crate::duration::Dur(Duration::from_secs(1)),
        };
        let mut s = Schedule::new(spec);
        assert_eq!(s.next_due(), Some(Duration::from_secs(1)));
        assert_eq!(s.take_due(Duration::from_millis(1150)), vec![1, 2]);
        s.skip_past(Duration::from_millis(1350));
        assert_eq!(s.take_due(Duration::from_millis(1400)), vec![5]);
        assert!(s.exhausted());
        assert_eq!(s.next_due(), None);
    }

    #[test]
    fn connect_line_carries_name_and_credentials() {
        let spec: ClientSpec = toml::from_str(
            "name = \"c1\"\nservers = [\"s1:4222\"]\nuser = \"u\"\npassword = \"p\"",
        )
        .unwrap();
        let line = connect_line(&spec);
        assert!(line.starts_with("CONNECT {") && line.ends_with("}\r\n"));
        let v: serde_json::Value = serde_json::from_str(&line[8..line.len() - 2]).unwrap();
        assert_eq!(v["name"], "c1");
        assert_eq!(v["verbose"], false);
        assert_eq!(v["headers"], true);
        assert_eq!(v["user"], "u");
        assert_eq!(v["pass"], "p");
    }
}
