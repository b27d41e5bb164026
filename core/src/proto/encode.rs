//! Encode protocol operations by appending to any [`bytes::BufMut`] (`Vec<u8>`,
//! `BytesMut`), in the exact byte form nats-server writes, without allocating.
//!
//! Output is canonical: single spaces, upper-case names, CRLF line ends. Parsing it back
//! with [`crate::proto::parser::parse`] yields the same operation, which the round-trip
//! tests check for every operation and dialect.
//!
//! For fan-out, where one message goes to many subscriptions that differ only in sid,
//! [`MsgTemplate`] and [`HmsgTemplate`] format the control line once and then write each
//! frame with three copies.

use bytes::BufMut;

use super::info::{LeafConnect, ServerInfo};
use super::parser::Op;

const CRLF: &[u8] = b"\r\n";

/// Append `n` in decimal.
fn put_uint<B: BufMut>(out: &mut B, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&digits[i..]);
}

/// Number of decimal digits of `n`.
fn digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

fn put_size<B: BufMut>(out: &mut B, n: usize) {
    put_uint(out, n as u64);
}

fn put_reply<B: BufMut>(out: &mut B, reply: Option<&str>) {
    if let Some(r) = reply {
        out.put_slice(r.as_bytes());
        out.put_u8(b' ');
    }
}

/// `MSG <subject> <sid> [reply] <size>\r\n<payload>\r\n`
pub fn msg<B: BufMut>(out: &mut B, subject: &str, sid: &str, reply: Option<&str>, payload: &[u8]) {
    out.put_slice(b"MSG ");
    out.put_slice(subject.as_bytes());
    out.put_u8(b' ');
    out.put_slice(sid.as_bytes());
    out.put_u8(b' ');
    put_reply(out, reply);
    put_size(out, payload.len());
    out.put_slice(CRLF);
    out.put_slice(payload);
    out.put_slice(CRLF);
}

/// `HMSG <subject> <sid> [reply] <header size> <total size>\r\n<headers><payload>\r\n`
pub fn hmsg<B: BufMut>(
    out: &mut B,
    subject: &str,
    sid: &str,
    reply: Option<&str>,
    headers: &[u8],
    payload: &[u8],
) {
    out.put_slice(b"HMSG ");
    out.put_slice(subject.as_bytes());
    out.put_u8(b' ');
    out.put_slice(sid.as_bytes());
    out.put_u8(b' ');
    put_reply(out, reply);
    put_size(out, headers.len());
    out.put_u8(b' ');
    put_size(out, headers.len() + payload.len());
    out.put_slice(CRLF);
    out.put_slice(headers);
    out.put_slice(payload);
    out.put_slice(CRLF);
}

/// Exact length of the frame [`msg`] (headers `None`) or [`hmsg`] (headers `Some`) would
/// write, for reserving space or checking an outbound limit before writing.
pub fn msg_len(
    subject: &str,
    sid: &str,
    reply: Option<&str>,
    headers: Option<&[u8]>,
    payload: &[u8],
) -> usize {
    let reply = reply.map_or(0, |r| r.len() + 1);
    let common = subject.len() + 1 + sid.len() + 1 + reply + CRLF.len() + CRLF.len();
    match headers {
        None => "MSG ".len() + common + digits(payload.len()) + payload.len(),
        Some(h) => {
            let total = h.len() + payload.len();
            "HMSG ".len() + common + digits(h.len()) + 1 + digits(total) + total
        }
    }
}

/// `PUB <subject> [reply] <size>\r\n<payload>\r\n`
pub fn publish<B: BufMut>(out: &mut B, subject: &str, reply: Option<&str>, payload: &[u8]) {
    out.put_slice(b"PUB ");
    out.put_slice(subject.as_bytes());
    out.put_u8(b' ');
    put_reply(out, reply);
    put_size(out, payload.len());
    out.put_slice(CRLF);
    out.put_slice(payload);
    out.put_slice(CRLF);
}

/// `HPUB <subject> [reply] <header size> <total size>\r\n<headers><payload>\r\n`
pub fn hpublish<B: BufMut>(
    out: &mut B,
    subject: &str,
    reply: Option<&str>,
    headers: &[u8],
    payload: &[u8],
) {
    out.put_slice(b"HPUB ");
    out.put_slice(subject.as_bytes());
    out.put_u8(b' ');
    put_reply(out, reply);
    put_size(out, headers.len());
    out.put_u8(b' ');
    put_size(out, headers.len() + payload.len());
    out.put_slice(CRLF);
    out.put_slice(headers);
    out.put_slice(payload);
    out.put_slice(CRLF);
}

/// `SUB <subject> [queue] <sid>\r\n`
pub fn sub<B: BufMut>(out: &mut B, subject: &str, queue: Option<&str>, sid: &str) {
    out.put_slice(b"SUB ");
    out.put_slice(subject.as_bytes());
    out.put_u8(b' ');
    if let Some(q) = queue {
        out.put_slice(q.as_bytes());
        out.put_u8(b' ');
    }
    out.put_slice(sid.as_bytes());
    out.put_slice(CRLF);
}

/// `UNSUB <sid> [max]\r\n`
pub fn unsub<B: BufMut>(out: &mut B, sid: &str, max: Option<u64>) {
    out.put_slice(b"UNSUB ");
    out.put_slice(sid.as_bytes());
    if let Some(m) = max {
        out.put_u8(b' ');
        put_uint(out, m);
    }
    out.put_slice(CRLF);
}

/// `PING\r\n`
pub fn ping<B: BufMut>(out: &mut B) {
    out.put_slice(b"PING\r\n");
}

/// `PONG\r\n`
pub fn pong<B: BufMut>(out: &mut B) {
    out.put_slice(b"PONG\r\n");
}

/// `+OK\r\n`
pub fn ok<B: BufMut>(out: &mut B) {
    out.put_slice(b"+OK\r\n");
}

/// `-ERR <quoted_text>\r\n`, with the text written verbatim: pass it with its single quotes,
/// as [`crate::proto::ProtoError::err_text`] and [`crate::proto::error::texts`] give it.
pub fn err<B: BufMut>(out: &mut B, quoted_text: &str) {
    out.put_slice(b"-ERR ");
    out.put_slice(quoted_text.as_bytes());
    out.put_slice(CRLF);
}

/// `-ERR '<message>'\r\n`: quotes added.
pub fn err_quoted<B: BufMut>(out: &mut B, message: &str) {
    out.put_slice(b"-ERR '");
    out.put_slice(message.as_bytes());
    out.put_slice(b"'\r\n");
}

/// `INFO <json> \r\n`, with the space before CRLF that nats-server writes on client and
/// leafnode ports.
pub fn info<B: BufMut>(out: &mut B, info: &ServerInfo) {
    out.put_slice(b"INFO ");
    put_json(out, info);
    out.put_slice(b" \r\n");
}

/// `INFO <json> \r\n` from JSON already serialized.
pub fn info_raw<B: BufMut>(out: &mut B, json: &[u8]) {
    out.put_slice(b"INFO ");
    out.put_slice(json);
    out.put_slice(b" \r\n");
}

/// `CONNECT <json>\r\n` from JSON already serialized.
pub fn connect<B: BufMut>(out: &mut B, json: &[u8]) {
    out.put_slice(b"CONNECT ");
    out.put_slice(json);
    out.put_slice(CRLF);
}

/// `CONNECT <json>\r\n` for a soliciting leafnode.
pub fn leaf_connect<B: BufMut>(out: &mut B, connect: &LeafConnect) {
    out.put_slice(b"CONNECT ");
    put_json(out, connect);
    out.put_slice(CRLF);
}

fn put_json<B: BufMut, T: serde::Serialize>(out: &mut B, value: &T) {
    // Writing to a BufMut cannot fail, and these structs have only string keys and plain
    // values, so serialization cannot either: an error here is a bug in this module.
    serde_json::to_writer((&mut *out).writer(), value)
        .expect("INFO/CONNECT structs always serialize");
}

/// `LS+ <subject> [<queue> <weight>]\r\n`
pub fn ls_plus<B: BufMut>(out: &mut B, subject: &str, queue: Option<(&str, u32)>) {
    out.put_slice(b"LS+ ");
    out.put_slice(subject.as_bytes());
    if let Some((q, weight)) = queue {
        out.put_u8(b' ');
        out.put_slice(q.as_bytes());
        out.put_u8(b' ');
        put_uint(out, u64::from(weight));
    }
    out.put_slice(CRLF);
}

/// `LS- <subject> [queue]\r\n`
pub fn ls_minus<B: BufMut>(out: &mut B, subject: &str, queue: Option<&str>) {
    out.put_slice(b"LS- ");
    out.put_slice(subject.as_bytes());
    if let Some(q) = queue {
        out.put_u8(b' ');
        out.put_slice(q.as_bytes());
    }
    out.put_slice(CRLF);
}

/// The routing part of a leaf message after the subject: ` [reply]`, or ` + reply q..` /
/// ` | q..` when queue groups are listed (the `+`/`|` marker appears only with queues, as
/// nats-server writes it).
fn put_leaf_routing<B, I>(out: &mut B, reply: Option<&str>, queues: I)
where
    B: BufMut,
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    let mut queues = queues.into_iter().peekable();
    if queues.peek().is_none() {
        if let Some(r) = reply {
            out.put_u8(b' ');
            out.put_slice(r.as_bytes());
        }
    } else {
        match reply {
            Some(r) => {
                out.put_slice(b" + ");
                out.put_slice(r.as_bytes());
            }
            None => out.put_slice(b" |"),
        }
        for q in queues {
            out.put_u8(b' ');
            out.put_slice(q.as_ref().as_bytes());
        }
    }
}

/// `LMSG <subject> [reply | + reply q.. | | q..] <size>\r\n<payload>\r\n`
pub fn lmsg<B, I>(out: &mut B, subject: &str, reply: Option<&str>, queues: I, payload: &[u8])
where
    B: BufMut,
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    out.put_slice(b"LMSG ");
    out.put_slice(subject.as_bytes());
    put_leaf_routing(out, reply, queues);
    out.put_u8(b' ');
    put_size(out, payload.len());
    out.put_slice(CRLF);
    out.put_slice(payload);
    out.put_slice(CRLF);
}

/// Leafnode header message: `HMSG <subject> [reply | + reply q.. | | q..] <header size>
/// <total size>\r\n<headers><payload>\r\n` (nats-server uses `HMSG`, not a leaf-specific
/// name, for these).
pub fn leaf_hmsg<B, I>(
    out: &mut B,
    subject: &str,
    reply: Option<&str>,
    queues: I,
    headers: &[u8],
    payload: &[u8],
) where
    B: BufMut,
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    out.put_slice(b"HMSG ");
    out.put_slice(subject.as_bytes());
    put_leaf_routing(out, reply, queues);
    out.put_u8(b' ');
    put_size(out, headers.len());
    out.put_u8(b' ');
    put_size(out, headers.len() + payload.len());
    out.put_slice(CRLF);
    out.put_slice(headers);
    out.put_slice(payload);
    out.put_slice(CRLF);
}

/// Encode any parsed operation in canonical form (proxies, simulators, tests).
/// `Op::Err` gets its quotes back; `Op::Info` gets nats-server's trailing space.
pub fn op<B: BufMut>(out: &mut B, op: &Op<'_>) {
    match *op {
        Op::Connect(json) => connect(out, json),
        Op::Info(json) => info_raw(out, json),
        Op::Pub {
            subject,
            reply,
            payload,
        } => publish(out, subject, reply, payload),
        Op::Hpub {
            subject,
            reply,
            headers,
            payload,
        } => hpublish(out, subject, reply, headers, payload),
        Op::Sub {
            subject,
            queue,
            sid,
        } => sub(out, subject, queue, sid),
        Op::Unsub { sid, max } => unsub(out, sid, max),
        Op::Msg {
            subject,
            sid,
            reply,
            payload,
        } => msg(out, subject, sid, reply, payload),
        Op::Hmsg {
            subject,
            sid,
            reply,
            headers,
            payload,
        } => hmsg(out, subject, sid, reply, headers, payload),
        Op::Ping => ping(out),
        Op::Pong => pong(out),
        Op::Ok => ok(out),
        Op::Err(text) => err_quoted(out, text),
        Op::LsPlus { subject, queue } => ls_plus(out, subject, queue),
        Op::LsMinus { subject, queue } => ls_minus(out, subject, queue),
        Op::Lmsg {
            subject,
            reply,
            queues,
            headers: None,
            payload,
        } => lmsg(out, subject, reply, queues, payload),
        Op::Lmsg {
            subject,
            reply,
            queues,
            headers: Some(h),
            payload,
        } => leaf_hmsg(out, subject, reply, queues, h, payload),
    }
}

/// A `MSG` control line formatted once for a message delivered to many subscriptions:
/// everything but the sid is precomputed. Reuse one template across messages with
/// [`MsgTemplate::reset`] to keep its buffer.
#[derive(Clone, Debug, Default)]
pub struct MsgTemplate {
    /// `MSG <subject> ` then ` [reply ]<size>\r\n`; the sid goes at `split`.
    line: Vec<u8>,
    split: usize,
    payload_len: usize,
    reply_len: Option<usize>,
}

impl MsgTemplate {
    /// A template for `payload_len`-byte messages on `subject`.
    pub fn new(subject: &str, reply: Option<&str>, payload_len: usize) -> Self {
        let mut t = MsgTemplate::default();
        t.reset(subject, reply, payload_len);
        t
    }

    /// Re-target the template, reusing its buffer.
    pub fn reset(&mut self, subject: &str, reply: Option<&str>, payload_len: usize) {
        self.line.clear();
        self.line.extend_from_slice(b"MSG ");
        self.line.extend_from_slice(subject.as_bytes());
        self.line.push(b' ');
        self.split = self.line.len();
        self.line.push(b' ');
        put_reply(&mut self.line, reply);
        put_size(&mut self.line, payload_len);
        self.line.extend_from_slice(CRLF);
        self.payload_len = payload_len;
        self.reply_len = reply.map(str::len);
    }

    /// Exact length of the frame [`MsgTemplate::write`] appends for `sid`.
    pub fn frame_len(&self, sid: &str) -> usize {
        self.line.len() + sid.len() + self.payload_len + CRLF.len()
    }

    /// Append the frame for `sid`. `payload` should be as long as the template says; if it
    /// is not, the frame is formatted from scratch so that the output is always correct.
    pub fn write<B: BufMut>(&self, out: &mut B, sid: &str, payload: &[u8]) {
        if payload.len() != self.payload_len {
            debug_assert!(false, "MsgTemplate used with a payload of another length");
            let (subject, reply) = template_names(&self.line, 4, self.split, self.reply_len);
            return msg(out, subject, sid, reply, payload);
        }
        out.put_slice(&self.line[..self.split]);
        out.put_slice(sid.as_bytes());
        out.put_slice(&self.line[self.split..]);
        out.put_slice(payload);
        out.put_slice(CRLF);
    }
}

/// Subject and reply back out of a template line (`<OP> <subject> ` + sid gap + ` [reply ]`).
fn template_names(
    line: &[u8],
    op_len: usize,
    split: usize,
    reply_len: Option<usize>,
) -> (&str, Option<&str>) {
    // Both were written from &str, so these conversions cannot fail.
    let subject = std::str::from_utf8(&line[op_len..split - 1]).unwrap_or_default();
    let reply =
        reply_len.and_then(|n| std::str::from_utf8(line.get(split + 1..split + 1 + n)?).ok());
    (subject, reply)
}

/// The `HMSG` counterpart of [`MsgTemplate`].
#[derive(Clone, Debug, Default)]
pub struct HmsgTemplate {
    /// `HMSG <subject> ` then ` [reply ]<hdr> <total>\r\n`; the sid goes at `split`.
    line: Vec<u8>,
    split: usize,
    headers_len: usize,
    payload_len: usize,
    reply_len: Option<usize>,
}

impl HmsgTemplate {
    /// A template for messages with a `headers_len`-byte header block and a
    /// `payload_len`-byte payload on `subject`.
    pub fn new(subject: &str, reply: Option<&str>, headers_len: usize, payload_len: usize) -> Self {
        let mut t = HmsgTemplate::default();
        t.reset(subject, reply, headers_len, payload_len);
        t
    }

    /// Re-target the template, reusing its buffer.
    pub fn reset(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers_len: usize,
        payload_len: usize,
    ) {
        self.line.clear();
        self.line.extend_from_slice(b"HMSG ");
        self.line.extend_from_slice(subject.as_bytes());
        self.line.push(b' ');
        self.split = self.line.len();
        self.line.push(b' ');
        put_reply(&mut self.line, reply);
        put_size(&mut self.line, headers_len);
        self.line.push(b' ');
        put_size(&mut self.line, headers_len + payload_len);
        self.line.extend_from_slice(CRLF);
        self.headers_len = headers_len;
        self.payload_len = payload_len;
        self.reply_len = reply.map(str::len);
    }

    /// Exact length of the frame [`HmsgTemplate::write`] appends for `sid`.
    pub fn frame_len(&self, sid: &str) -> usize {
        self.line.len() + sid.len() + self.headers_len + self.payload_len + CRLF.len()
    }

    /// Append the frame for `sid`; like [`MsgTemplate::write`], falls back to formatting
    /// from scratch if the lengths differ from the template's.
    pub fn write<B: BufMut>(&self, out: &mut B, sid: &str, headers: &[u8], payload: &[u8]) {
        if headers.len() != self.headers_len || payload.len() != self.payload_len {
            debug_assert!(false, "HmsgTemplate used with a body of another length");
            let (subject, reply) = template_names(&self.line, 5, self.split, self.reply_len);
            return hmsg(out, subject, sid, reply, headers, payload);
        }
        out.put_slice(&self.line[..self.split]);
        out.put_slice(sid.as_bytes());
        out.put_slice(&self.line[self.split..]);
        out.put_slice(headers);
        out.put_slice(payload);
        out.put_slice(CRLF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::parser::{parse, Dialect, Limits, Parsed, Queues};

    fn bytes(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        f(&mut out);
        out
    }

    #[test]
    fn client_protocol_frames() {
        assert_eq!(
            bytes(|o| msg(o, "foo", "1", Some("bar.reply"), b"hi")),
            b"MSG foo 1 bar.reply 2\r\nhi\r\n"
        );
        assert_eq!(
            bytes(|o| msg(o, "foo", "1", None, b"")),
            b"MSG foo 1 0\r\n\r\n"
        );
        assert_eq!(
            bytes(|o| hmsg(
                o,
                "foo",
                "1",
                Some("reply.x"),
                b"NATS/1.0\r\nA: b\r\nC: d\r\n\r\n",
                b"hello"
            )),
            b"HMSG foo 1 reply.x 24 29\r\nNATS/1.0\r\nA: b\r\nC: d\r\n\r\nhello\r\n"
        );
        assert_eq!(
            bytes(|o| hmsg(o, "_INBOX.1", "1", None, b"NATS/1.0 503\r\n\r\n", b"")),
            b"HMSG _INBOX.1 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
        );
        assert_eq!(
            bytes(|o| publish(o, "foo", Some("bar.reply"), b"hi")),
            b"PUB foo bar.reply 2\r\nhi\r\n"
        );
        assert_eq!(
            bytes(|o| hpublish(o, "foo", None, b"NATS/1.0\r\n\r\n", b"")),
            b"HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n"
        );
        assert_eq!(
            bytes(|o| sub(o, "svc", Some("grp"), "3")),
            b"SUB svc grp 3\r\n"
        );
        assert_eq!(bytes(|o| sub(o, "foo", None, "1")), b"SUB foo 1\r\n");
        assert_eq!(bytes(|o| unsub(o, "7", Some(2))), b"UNSUB 7 2\r\n");
        assert_eq!(bytes(|o| unsub(o, "1", None)), b"UNSUB 1\r\n");
        assert_eq!(bytes(ping), b"PING\r\n");
        assert_eq!(bytes(pong), b"PONG\r\n");
        assert_eq!(bytes(ok), b"+OK\r\n");
        assert_eq!(
            bytes(|o| err(o, "'Stale Connection'")),
            b"-ERR 'Stale Connection'\r\n"
        );
        assert_eq!(
            bytes(|o| err_quoted(o, "Stale Connection")),
            b"-ERR 'Stale Connection'\r\n"
        );
        assert_eq!(bytes(|o| connect(o, b"{}")), b"CONNECT {}\r\n");
        assert_eq!(bytes(|o| info_raw(o, b"{}")), b"INFO {} \r\n");
    }

    #[test]
    fn leaf_frames_match_captures() {
        assert_eq!(bytes(|o| ls_plus(o, "foo", None)), b"LS+ foo\r\n");
        assert_eq!(
            bytes(|o| ls_plus(o, "wq", Some(("grp", 2)))),
            b"LS+ wq grp 2\r\n"
        );
        assert_eq!(
            bytes(|o| ls_minus(o, "bar", Some("workers"))),
            b"LS- bar workers\r\n"
        );
        assert_eq!(bytes(|o| ls_minus(o, "bar", None)), b"LS- bar\r\n");
        let none: [&str; 0] = [];
        assert_eq!(
            bytes(|o| lmsg(o, "foo", Some("rep.1"), none, b"hello")),
            b"LMSG foo rep.1 5\r\nhello\r\n"
        );
        assert_eq!(
            bytes(|o| lmsg(o, "wild.x", None, none, b"w")),
            b"LMSG wild.x 1\r\nw\r\n"
        );
        assert_eq!(
            bytes(|o| lmsg(o, "wq", None, ["grp"], b"q")),
            b"LMSG wq | grp 1\r\nq\r\n"
        );
        assert_eq!(
            bytes(|o| lmsg(o, "wq", Some("rr"), ["grp"], b"r")),
            b"LMSG wq + rr grp 1\r\nr\r\n"
        );
        assert_eq!(
            bytes(|o| lmsg(
                o,
                "back",
                None,
                vec!["g".to_string(), "k".to_string()],
                b"x"
            )),
            b"LMSG back | g k 1\r\nx\r\n"
        );
        assert_eq!(
            bytes(|o| lmsg(
                o,
                "bar",
                Some("inbox.9"),
                Queues::from_raw("workers"),
                b"abc"
            )),
            b"LMSG bar + inbox.9 workers 3\r\nabc\r\n"
        );
        let h = b"NATS/1.0\r\nX-A: 1\r\n\r\n";
        assert_eq!(
            bytes(|o| leaf_hmsg(o, "foo", Some("rep.2"), none, h, b"hi")),
            b"HMSG foo rep.2 20 22\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhi\r\n"
        );
        assert_eq!(
            bytes(|o| leaf_hmsg(o, "wq", None, ["grp"], h, b"hi")),
            b"HMSG wq | grp 20 22\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhi\r\n"
        );
        assert_eq!(
            bytes(|o| leaf_hmsg(o, "bar", None, ["workers"], h, b"hi")),
            b"HMSG bar | workers 20 22\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhi\r\n"
        );
    }

    #[test]
    fn msg_len_is_exact() {
        for (subject, sid, reply, headers, payload) in [
            ("foo", "1", None, None, &b"hi"[..]),
            (
                "foo.bar",
                "123456",
                Some("_INBOX.x"),
                None,
                &[0u8; 1234][..],
            ),
            (
                "foo",
                "1",
                None,
                Some(&b"NATS/1.0 503\r\n\r\n"[..]),
                &b""[..],
            ),
            (
                "a",
                "0",
                Some("r"),
                Some(&b"NATS/1.0\r\nA: b\r\n\r\n"[..]),
                &[1u8; 99_999][..],
            ),
        ] {
            let frame = bytes(|o| match headers {
                Some(h) => hmsg(o, subject, sid, reply, h, payload),
                None => msg(o, subject, sid, reply, payload),
            });
            assert_eq!(msg_len(subject, sid, reply, headers, payload), frame.len());
        }
    }

    #[test]
    fn integers_format_without_allocating() {
        for n in [0u64, 9, 10, 99, 100, 123_456_789, u64::MAX] {
            assert_eq!(bytes(|o| put_uint(o, n)), n.to_string().into_bytes());
        }
        for n in [0usize, 9, 10, 11, 999, 1000, usize::MAX] {
            assert_eq!(digits(n), n.to_string().len());
        }
    }

    #[test]
    fn templates_write_the_same_bytes_as_msg_and_hmsg() {
        let mut t = MsgTemplate::new("foo.bar", Some("_INBOX.1"), 5);
        let mut with_template = Vec::new();
        let mut direct = Vec::new();
        for sid in ["1", "22", "s0"] {
            assert_eq!(
                t.frame_len(sid),
                msg_len("foo.bar", sid, Some("_INBOX.1"), None, b"hello")
            );
            t.write(&mut with_template, sid, b"hello");
            msg(&mut direct, "foo.bar", sid, Some("_INBOX.1"), b"hello");
        }
        assert_eq!(with_template, direct);
        t.reset("x", None, 0);
        assert_eq!(bytes(|o| t.write(o, "9", b"")), b"MSG x 9 0\r\n\r\n");

        let h = b"NATS/1.0\r\nA: b\r\n\r\n";
        let mut t = HmsgTemplate::new("foo", None, h.len(), 2);
        assert_eq!(
            bytes(|o| t.write(o, "7", h, b"hi")),
            bytes(|o| hmsg(o, "foo", "7", None, h, b"hi"))
        );
        assert_eq!(t.frame_len("7"), msg_len("foo", "7", None, Some(h), b"hi"));
        t.reset("foo", Some("r.1"), h.len(), 0);
        assert_eq!(
            bytes(|o| t.write(o, "7", h, b"")),
            bytes(|o| hmsg(o, "foo", "7", Some("r.1"), h, b""))
        );
    }

    #[test]
    #[cfg(not(debug_assertions))]
    fn templates_stay_correct_when_misused() {
        let t = MsgTemplate::new("foo", Some("r"), 5);
        assert_eq!(
            bytes(|o| t.write(o, "1", b"hi")),
            b"MSG foo 1 r 2\r\nhi\r\n"
        );
        let t = HmsgTemplate::new("foo", Some("r"), 12, 5);
        assert_eq!(
            bytes(|o| t.write(o, "1", b"NATS/1.0\r\n\r\n", b"hi")),
            b"HMSG foo 1 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
        );
    }

    #[test]
    fn bytes_mut_works_too() {
        let mut out = bytes::BytesMut::new();
        msg(&mut out, "foo", "1", None, b"hi");
        ls_plus(&mut out, "foo", Some(("q", 1)));
        assert_eq!(&out[..], b"MSG foo 1 2\r\nhi\r\nLS+ foo q 1\r\n");
    }

    /// The live samples of nats-protocol.md §1.4 and §2.5 parse and re-encode byte for byte.
    #[test]
    fn live_samples_round_trip_byte_identically() {
        let client: &[&[u8]] = &[
            b"PUB foo bar.reply 2\r\nhi\r\n",
            b"HPUB foo reply.x 24 29\r\nNATS/1.0\r\nA: b\r\nC: d\r\n\r\nhello\r\n",
            b"HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n",
            b"PUB foo 0\r\n\r\n",
            b"SUB svc grp 3\r\n",
            b"SUB _INBOX.ahnnRG33iJAqcf5qEzXeBL.* 0\r\n",
            b"UNSUB 7 2\r\n",
            b"PING\r\n",
            b"PONG\r\n",
            b"CONNECT {\"echo\": true, \"headers\": true, \"lang\": \"python3\", \"name\": \"pycheck\", \"no_responders\": true, \"pedantic\": false, \"protocol\": 1, \"verbose\": false, \"version\": \"2.16.0\"}\r\n",
        ];
        let server: &[&[u8]] = &[
            b"MSG foo 1 bar.reply 2\r\nhi\r\n",
            b"HMSG foo 1 reply.x 24 29\r\nNATS/1.0\r\nA: b\r\nC: d\r\n\r\nhello\r\n",
            b"HMSG foo 1 12 12\r\nNATS/1.0\r\n\r\n\r\n",
            b"MSG foo 1 0\r\n\r\n",
            b"HMSG _INBOX.1 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
            b"MSG t.a 1 5\r\nhello\r\n",
            b"HMSG t.b 1 20 22\r\nNATS/1.0\r\nX-K: v\r\n\r\nhh\r\n",
            b"INFO {\"server_id\":\"NCDX\",\"server_name\":\"hub\",\"version\":\"2.9.10\",\"proto\":1,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":14222,\"headers\":true,\"max_payload\":1024,\"client_id\":4,\"client_ip\":\"127.0.0.1\"} \r\n",
            b"-ERR 'Stale Connection'\r\n",
            b"+OK\r\n",
        ];
        let leaf: &[&[u8]] = &[
            b"LS+ $SYS.REQ.ACCOUNT.PING.CONNZ\r\n",
            b"LS+ wq grp 1\r\n",
            b"LS+ wq grp 2\r\n",
            b"LS+ all.>\r\n",
            b"LMSG foo rep.1 5\r\nhello\r\n",
            b"HMSG foo rep.2 20 22\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhi\r\n",
            b"LMSG wq | grp 1\r\nq\r\n",
            b"LMSG wq + rr grp 1\r\nr\r\n",
            b"HMSG wq | grp 20 22\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhi\r\n",
            b"LMSG wild.x 1\r\nw\r\n",
            b"LMSG bar + inbox.9 workers 3\r\nabc\r\n",
            b"HMSG bar | workers 20 22\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhi\r\n",
            b"LS- bar workers\r\n",
            b"LS- bar\r\n",
            b"LMSG back | g k 1\r\nx\r\n",
            b"CONNECT {\"version\":\"2.9.10\",\"tls_required\":false,\"server_id\":\"ND6E\",\"name\":\"leaf1\",\"cluster\":\"leaf1\",\"headers\":true}\r\n",
            b"-ERR 'Loop detected for leafnode account=\"$G\". Delaying attempt to reconnect for 30s'\r\n",
        ];
        let limits = Limits {
            max_control_line: 4096,
            max_payload: None,
        };
        for (dialect, samples) in [
            (Dialect::Client, client),
            (Dialect::Server, server),
            (Dialect::Leaf, leaf),
        ] {
            for sample in samples {
                let Ok(Parsed::Op {
                    op: parsed,
                    consumed,
                }) = parse(sample, dialect, &limits)
                else {
                    panic!(
                        "{dialect:?} failed to parse {:?}",
                        String::from_utf8_lossy(sample)
                    );
                };
                assert_eq!(consumed, sample.len());
                assert_eq!(
                    bytes(|o| op(o, &parsed)),
                    *sample,
                    "{:?}",
                    String::from_utf8_lossy(sample)
                );
            }
        }
    }
}
