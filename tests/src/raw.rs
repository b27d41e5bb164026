//! A byte-level NATS client for protocol tests.
//!
//! Real clients hide exactly what the protocol tests look at (exact `-ERR` texts, `+OK`
//! placement, whether the socket closes), so this one sends what it is told and reads what
//! arrives. It is blocking: every read takes a deadline and the socket read timeout is set to
//! what remains of it, so no call can hang a test.
//!
//! Server `PING`s are answered and skipped by default so that long tests are not dropped as
//! stale; liveness tests turn that off with [`RawClient::answer_pings`].

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::{QUIET, WAIT};

/// Why a read did not produce what was asked for.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("timed out; unconsumed bytes: {0:?}")]
    Timeout(String),
    #[error("connection closed by the server; unconsumed bytes: {0:?}")]
    Closed(String),
    #[error("line not terminated by CRLF: {0:?}")]
    BareLf(String),
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// A delivered message (`MSG` or `HMSG`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub subject: String,
    pub sid: String,
    pub reply: Option<String>,
    /// The raw header block for `HMSG`, `None` for `MSG`.
    pub headers: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

/// One server-to-client operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Info(serde_json::Value),
    Msg(Msg),
    Ping,
    Pong,
    Ok,
    Err(String),
}

/// A raw protocol connection to the server under test.
#[derive(Debug)]
pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
    answer_pings: bool,
    closed: bool,
}

impl RawClient {
    /// Opens a TCP connection; panics if the server does not accept (the test cannot go on).
    pub fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect_timeout(&addr, WAIT)
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        let _ = stream.set_nodelay(true);
        RawClient {
            stream,
            buf: Vec::new(),
            answer_pings: true,
            closed: false,
        }
    }

    /// Connects, reads INFO, sends `CONNECT <json>` and `PING`, and waits for the `PONG`: the
    /// same handshake real clients do. Returns the INFO object.
    pub fn connect_with(addr: SocketAddr, connect_json: &str) -> (RawClient, serde_json::Value) {
        let mut client = RawClient::connect(addr);
        let info = client.read_info();
        client.send(format!("CONNECT {connect_json}\r\nPING\r\n"));
        client.expect_line("PONG");
        (client, info)
    }

    /// The usual quiet client: non-verbose, non-pedantic, headers and no_responders on.
    pub fn connect_quiet(addr: SocketAddr) -> RawClient {
        RawClient::connect_with(
            addr,
            r#"{"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1}"#,
        )
        .0
    }

    /// Whether server PINGs are answered with PONG and hidden from the reader (default on).
    pub fn answer_pings(&mut self, yes: bool) {
        self.answer_pings = yes;
    }

    /// Writes all bytes; panics on failure (the server closing early shows up on the next read
    /// instead, which gives a better message, so a broken pipe is ignored here).
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        match self.stream.write_all(bytes.as_ref()) {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => {}
            Err(e) => panic!("send failed: {e}"),
        }
    }

    /// Like [`send`](Self::send) but reports failures (for load loops that expect a close).
    pub fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
        self.stream.write_all(bytes.as_ref())
    }

    /// The underlying socket (for tests that need to tune buffers or half-close).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Half-closes the write side, as a client that is done sending.
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Reads the next line (without its CRLF) within `timeout`, answering server PINGs if
    /// enabled.
    pub fn read_line(&mut self, timeout: Duration) -> Result<String, ReadError> {
        let deadline = Instant::now() + timeout;
        loop {
            let line = self.next_line(deadline)?;
            if self.answer_pings && line == "PING" {
                self.send("PONG\r\n");
                continue;
            }
            return Ok(line);
        }
    }

    fn next_line(&mut self, deadline: Instant) -> Result<String, ReadError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.buf.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&raw).into_owned();
                return match text.strip_suffix("\r\n") {
                    Some(line) => Ok(line.to_string()),
                    None => Err(ReadError::BareLf(text)),
                };
            }
            self.fill(deadline)?;
        }
    }

    /// Reads exactly `n` bytes within `timeout` (payloads).
    pub fn read_bytes(&mut self, n: usize, timeout: Duration) -> Result<Vec<u8>, ReadError> {
        let deadline = Instant::now() + timeout;
        while self.buf.len() < n {
            self.fill(deadline)?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads one more chunk from the socket into the buffer, or fails at the deadline/EOF.
    fn fill(&mut self, deadline: Instant) -> Result<(), ReadError> {
        if self.closed {
            return Err(ReadError::Closed(self.pending_text()));
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(ReadError::Timeout(self.pending_text()));
        }
        self.stream.set_read_timeout(Some(deadline - now))?;
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.closed = true;
                Err(ReadError::Closed(self.pending_text()))
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(ReadError::Timeout(self.pending_text()))
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
            // A reset is the server closing on us while our data was still unread.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ) =>
            {
                self.closed = true;
                Err(ReadError::Closed(self.pending_text()))
            }
            Err(e) => Err(ReadError::Io(e)),
        }
    }

    fn pending_text(&self) -> String {
        let shown = &self.buf[..self.buf.len().min(512)];
        String::from_utf8_lossy(shown).into_owned()
    }

    /// Reads the next line and asserts it starts with `prefix`; returns the whole line.
    pub fn expect_line(&mut self, prefix: &str) -> String {
        match self.read_line(WAIT) {
            Ok(line) if line.starts_with(prefix) => line,
            Ok(line) => panic!("expected a line starting with {prefix:?}, got {line:?}"),
            Err(e) => panic!("expected a line starting with {prefix:?}: {e}"),
        }
    }

    /// Asserts the next bytes on the wire are exactly `expected`.
    pub fn expect_bytes(&mut self, expected: &[u8]) {
        match self.read_bytes(expected.len(), WAIT) {
            Ok(got) => assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(expected),
                "unexpected bytes on the wire"
            ),
            Err(e) => panic!(
                "expected bytes {:?}: {e}",
                String::from_utf8_lossy(expected)
            ),
        }
    }

    /// Reads the INFO line that the server writes first and returns its JSON.
    pub fn read_info(&mut self) -> serde_json::Value {
        let line = self.expect_line("INFO ");
        let json = line["INFO ".len()..].trim();
        serde_json::from_str(json).unwrap_or_else(|e| panic!("INFO is not JSON ({e}): {line:?}"))
    }

    /// Reads and parses the next server operation.
    pub fn read_frame(&mut self, timeout: Duration) -> Result<Frame, ReadError> {
        let deadline = Instant::now() + timeout;
        let line = self.read_line(timeout)?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let malformed = || ReadError::Malformed(line.clone());
        if line == "PING" {
            return Ok(Frame::Ping);
        }
        if line == "PONG" {
            return Ok(Frame::Pong);
        }
        if line == "+OK" {
            return Ok(Frame::Ok);
        }
        if let Some(text) = line.strip_prefix("-ERR ") {
            return Ok(Frame::Err(text.to_string()));
        }
        if let Some(json) = line.strip_prefix("INFO ") {
            return serde_json::from_str(json.trim())
                .map(Frame::Info)
                .map_err(|_| malformed());
        }
        let args: Vec<&str> = line.split_ascii_whitespace().collect();
        let number = |s: &str| s.parse::<usize>().map_err(|_| malformed());
        match args.as_slice() {
            ["MSG", subject, sid, rest @ ..] => {
                let (reply, size) = match rest {
                    [size] => (None, number(size)?),
                    [reply, size] => (Some(reply.to_string()), number(size)?),
                    _ => return Err(malformed()),
                };
                let payload = self.read_payload(size, remaining)?;
                Ok(Frame::Msg(Msg {
                    subject: subject.to_string(),
                    sid: sid.to_string(),
                    reply,
                    headers: None,
                    payload,
                }))
            }
            ["HMSG", subject, sid, rest @ ..] => {
                let (reply, hdr, total) = match rest {
                    [hdr, total] => (None, number(hdr)?, number(total)?),
                    [reply, hdr, total] => (Some(reply.to_string()), number(hdr)?, number(total)?),
                    _ => return Err(malformed()),
                };
                if hdr > total {
                    return Err(malformed());
                }
                let mut body = self.read_payload(total, remaining)?;
                let payload = body.split_off(hdr);
                Ok(Frame::Msg(Msg {
                    subject: subject.to_string(),
                    sid: sid.to_string(),
                    reply,
                    headers: Some(body),
                    payload,
                }))
            }
            _ => Err(malformed()),
        }
    }

    fn read_payload(&mut self, size: usize, timeout: Duration) -> Result<Vec<u8>, ReadError> {
        let mut body = self.read_bytes(size + 2, timeout)?;
        if !body.ends_with(b"\r\n") {
            return Err(ReadError::Malformed(format!(
                "payload of {size} bytes not followed by CRLF: {:?}",
                String::from_utf8_lossy(&body)
            )));
        }
        body.truncate(size);
        Ok(body)
    }

    /// Reads the next frame and asserts it is a message.
    pub fn expect_msg(&mut self) -> Msg {
        match self.read_frame(WAIT) {
            Ok(Frame::Msg(msg)) => msg,
            Ok(other) => panic!("expected MSG/HMSG, got {other:?}"),
            Err(e) => panic!("expected MSG/HMSG: {e}"),
        }
    }

    /// Sends `PING` and reads up to the `PONG`, returning the frames that came before it. Once
    /// the PONG arrives the server has processed everything this client sent before the PING.
    pub fn sync(&mut self) -> Vec<Frame> {
        self.send("PING\r\n");
        let mut before = Vec::new();
        let deadline = Instant::now() + WAIT;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.read_frame(remaining) {
                Ok(Frame::Pong) => return before,
                Ok(frame) => before.push(frame),
                Err(e) => panic!("waiting for PONG after {before:?}: {e}"),
            }
        }
    }

    /// Like [`sync`](Self::sync) but asserts nothing else came before the PONG.
    pub fn sync_clean(&mut self) {
        let before = self.sync();
        assert!(
            before.is_empty(),
            "unexpected frames before PONG: {before:?}"
        );
    }

    /// Asserts the server closes the connection within `timeout`; returns the bytes that
    /// arrived before the close.
    pub fn expect_closed(&mut self, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.fill(deadline) {
                Ok(()) => {}
                Err(ReadError::Closed(_)) => return std::mem::take(&mut self.buf),
                Err(e) => panic!("expected the server to close the connection: {e}"),
            }
        }
    }

    /// Asserts the next line is `-ERR '<text>'` and then the connection closes with nothing
    /// after it.
    pub fn expect_err_and_close(&mut self, text: &str) {
        let expected = format!("-ERR '{text}'");
        match self.read_line(WAIT) {
            Ok(line) => assert_eq!(line, expected, "wrong error line"),
            Err(e) => panic!("expected {expected:?}: {e}"),
        }
        let rest = self.expect_closed(WAIT);
        assert!(
            rest.is_empty(),
            "bytes after {expected:?}: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }

    /// Asserts the connection is closed without any further bytes (the silent closes of the
    /// error table).
    pub fn expect_silent_close(&mut self) {
        let rest = self.expect_closed(WAIT);
        assert!(
            rest.is_empty(),
            "expected a silent close, got {:?}",
            String::from_utf8_lossy(&rest)
        );
    }

    /// Asserts the next line is `-ERR '<text>'` and the connection stays usable.
    pub fn expect_err_open(&mut self, text: &str) {
        let expected = format!("-ERR '{text}'");
        match self.read_line(WAIT) {
            Ok(line) => assert_eq!(line, expected, "wrong error line"),
            Err(e) => panic!("expected {expected:?}: {e}"),
        }
        self.sync_clean();
    }

    /// Asserts that nothing arrives (and the connection is not closed) for `dur`.
    pub fn expect_nothing(&mut self, dur: Duration) {
        match self.read_line(dur) {
            Err(ReadError::Timeout(pending)) if pending.is_empty() => {}
            Err(ReadError::Timeout(pending)) => panic!("expected silence, got {pending:?}"),
            Ok(line) => panic!("expected silence, got {line:?}"),
            Err(e) => panic!("expected silence: {e}"),
        }
    }

    /// [`expect_nothing`](Self::expect_nothing) for the default quiet period.
    pub fn expect_quiet(&mut self) {
        self.expect_nothing(QUIET);
    }
}
