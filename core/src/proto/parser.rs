//! Parse one operation from the front of a read buffer, without copying or allocating.
//!
//! # Contract
//! [`parse`] is stateless. The caller owns a read buffer and calls it in a loop:
//! - `Ok(Parsed::Op { op, consumed })`: handle `op` (it borrows the buffer), then advance
//!   the buffer by `consumed` and call again.
//! - `Ok(Parsed::Incomplete)`: the front of the buffer is a valid prefix of an operation;
//!   read more bytes, append them, and call again with the whole unconsumed buffer. Nothing
//!   was consumed. Calling again without new bytes is harmless.
//! - `Err(e)`: the connection is broken; send `e.err_text()` if any, then close.
//!
//! Re-parsing the control line after an `Incomplete` costs at most `max_control_line`
//! bytes, and a large payload is never scanned, so a message split across many reads costs
//! one short line scan per read, not a rescan of its body.
//!
//! # Rules (nats-server 2.9.10 as observed live, see `nats-protocol.md` §1.1, §1.8, §2.5)
//! - Operation names are case-insensitive. Names that take arguments must be followed by a
//!   space or TAB (`PUB\r\n` and `SUBfoo` are unknown operations); `CONNECT` and `INFO` may
//!   be followed by their JSON directly; whatever follows `PING`, `PONG` and `+OK` on the
//!   same line is ignored (`PINGX\r\n` is a PING).
//! - Arguments are separated by runs of spaces and TABs; leading and trailing whitespace is
//!   ignored (nats-py sends `SUB t.>  1` and `UNSUB 1 `).
//! - A control line ends at LF, with an optional CR before it. A payload must be followed by
//!   exactly CRLF.
//! - The argument part of a control line (after the name and its separator, before the line
//!   end) may be at most `max_control_line` bytes, checked also before its line end arrives.
//! - Sizes are 1 to 9 ASCII digits, as nats-server's `parseSize`; anything else is a bad
//!   argument. An `UNSUB` max that does not parse becomes `None` ("remove now"), which is
//!   what nats-server does with it.
//!
//! # Deliberate differences from nats-server
//! - Subjects, replies, sids, queue names and `-ERR` texts must be UTF-8 (nats-server
//!   accepts any bytes); otherwise [`ProtoError::InvalidUtf8`], a silent close.
//! - `PING`/`PONG`/`+OK` lines, and the whitespace after an operation name, are bounded by
//!   `max_control_line` too (nats-server does not bound them, but a stateless parser must).
//! - Leaf dialect: a `PUB`/`HPUB`/`SUB`/`UNSUB` on a leaf link is an unknown operation
//!   (nats-server tolerates them; no server sends them). `LS+` with an unparsable queue
//!   weight, and `LS-` with no or too many arguments, are bad arguments (nats-server keeps
//!   the link open and ignores or misuses them).
//! - Checking that a connection may send `HPUB` (it said `headers:true`) is the session's
//!   job; the parser cannot know.

use memchr::memchr;

pub use super::error::ProtoError;
pub use super::queues::Queues;

/// Who is speaking, which decides the operations accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// What a client sends to a server: CONNECT, PUB, HPUB, SUB, UNSUB, PING, PONG, and
    /// INFO, +OK, -ERR (nats-server accepts these from clients: INFO and +OK are ignored,
    /// -ERR closes the connection).
    Client,
    /// What a server sends to a client: INFO, MSG, HMSG, PING, PONG, +OK, -ERR.
    Server,
    /// A leafnode link, both directions: INFO, CONNECT, LS+, LS-, LMSG, HMSG (leaf shapes),
    /// PING, PONG, +OK, -ERR.
    Leaf,
}

/// Per-connection limits the parser enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum length of a control line's arguments (nats-server `max_control_line`).
    pub max_control_line: usize,
    /// Maximum declared message size (total size for header messages), or `None` for no
    /// limit. nats-server 2.9.10 does not enforce max_payload on leafnode messages, so leaf
    /// links pass `None`.
    pub max_payload: Option<usize>,
}

impl Default for Limits {
    /// nats-server's defaults: 4096-byte control lines, 1 MiB payloads.
    fn default() -> Self {
        Limits {
            max_control_line: 4096,
            max_payload: Some(1024 * 1024),
        }
    }
}

/// The outcome of one [`parse`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// One complete operation, which took `consumed` bytes from the front of the buffer.
    Op { op: Op<'a>, consumed: usize },
    /// The buffer holds only the beginning of an operation; nothing was consumed.
    Incomplete,
}

/// One protocol operation, borrowing from the read buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op<'a> {
    /// `CONNECT <json>`: the raw JSON, trailing whitespace removed.
    Connect(&'a [u8]),
    /// `INFO <json>`: the raw JSON, trailing whitespace removed.
    Info(&'a [u8]),
    /// `PUB <subject> [reply] <size>` and its payload.
    Pub {
        subject: &'a str,
        reply: Option<&'a str>,
        payload: &'a [u8],
    },
    /// `HPUB <subject> [reply] <header size> <total size>`, split into header block and
    /// payload.
    Hpub {
        subject: &'a str,
        reply: Option<&'a str>,
        headers: &'a [u8],
        payload: &'a [u8],
    },
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        subject: &'a str,
        queue: Option<&'a str>,
        sid: &'a str,
    },
    /// `UNSUB <sid> [max]`; `max` is `None` when absent or unparsable (both mean "remove
    /// now" to nats-server, as does `Some(0)`).
    Unsub { sid: &'a str, max: Option<u64> },
    /// `MSG <subject> <sid> [reply] <size>` and its payload (server dialect).
    Msg {
        subject: &'a str,
        sid: &'a str,
        reply: Option<&'a str>,
        payload: &'a [u8],
    },
    /// `HMSG <subject> <sid> [reply] <header size> <total size>` (server dialect).
    Hmsg {
        subject: &'a str,
        sid: &'a str,
        reply: Option<&'a str>,
        headers: &'a [u8],
        payload: &'a [u8],
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK`.
    Ok,
    /// `-ERR <text>`: the text without its surrounding single quotes.
    Err(&'a str),
    /// `LS+ <subject> [<queue> <weight>]`: interest, with the number of queue members behind
    /// the link for queue interest.
    LsPlus {
        subject: &'a str,
        queue: Option<(&'a str, u32)>,
    },
    /// `LS- <subject> [queue]`: interest removed.
    LsMinus {
        subject: &'a str,
        queue: Option<&'a str>,
    },
    /// A leafnode message: `LMSG` (headers `None`) or the leaf shape of `HMSG` (headers
    /// `Some`), in any of the forms `<subject> [reply]`, `<subject> + <reply> <queues..>`,
    /// `<subject> | <queues..>`, followed by the sizes.
    Lmsg {
        subject: &'a str,
        reply: Option<&'a str>,
        queues: Queues<'a>,
        headers: Option<&'a [u8]>,
        payload: &'a [u8],
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Pub,
    Hpub,
    Sub,
    Unsub,
    Msg,
    Hmsg,
    Ping,
    Pong,
    Connect,
    Info,
    Ok,
    Err,
    LsPlus,
    LsMinus,
    Lmsg,
}

// Names in upper case, most frequent first. Within a table no name is a prefix of another.
const CLIENT_OPS: &[(&[u8], Kind)] = &[
    (b"PUB", Kind::Pub),
    (b"HPUB", Kind::Hpub),
    (b"SUB", Kind::Sub),
    (b"UNSUB", Kind::Unsub),
    (b"PING", Kind::Ping),
    (b"PONG", Kind::Pong),
    (b"CONNECT", Kind::Connect),
    (b"INFO", Kind::Info),
    (b"+OK", Kind::Ok),
    (b"-ERR", Kind::Err),
];
const SERVER_OPS: &[(&[u8], Kind)] = &[
    (b"MSG", Kind::Msg),
    (b"HMSG", Kind::Hmsg),
    (b"PING", Kind::Ping),
    (b"PONG", Kind::Pong),
    (b"INFO", Kind::Info),
    (b"+OK", Kind::Ok),
    (b"-ERR", Kind::Err),
];
const LEAF_OPS: &[(&[u8], Kind)] = &[
    (b"LMSG", Kind::Lmsg),
    (b"HMSG", Kind::Hmsg),
    (b"LS+", Kind::LsPlus),
    (b"LS-", Kind::LsMinus),
    (b"PING", Kind::Ping),
    (b"PONG", Kind::Pong),
    (b"CONNECT", Kind::Connect),
    (b"INFO", Kind::Info),
    (b"+OK", Kind::Ok),
    (b"-ERR", Kind::Err),
];

/// Parse one operation from the front of `buf`. See the module documentation for the
/// calling contract and the rules.
pub fn parse<'a>(
    buf: &'a [u8],
    dialect: Dialect,
    limits: &Limits,
) -> Result<Parsed<'a>, ProtoError> {
    if buf.is_empty() {
        return Ok(Parsed::Incomplete);
    }
    let table = match dialect {
        Dialect::Client => CLIENT_OPS,
        Dialect::Server => SERVER_OPS,
        Dialect::Leaf => LEAF_OPS,
    };
    let Some((kind, name_len)) = match_name(buf, table)? else {
        return Ok(Parsed::Incomplete);
    };
    let mcl = limits.max_control_line;

    let arg_start = match kind {
        Kind::Ping | Kind::Pong | Kind::Ok => Some(name_len),
        Kind::Connect | Kind::Info => skip_blanks(buf, name_len, mcl)?,
        _ => match buf.get(name_len) {
            None => None,
            Some(b' ' | b'\t') => skip_blanks(buf, name_len + 1, mcl)?,
            Some(_) => return Err(ProtoError::UnknownOp),
        },
    };
    let Some(arg_start) = arg_start else {
        return Ok(Parsed::Incomplete);
    };

    // A line end further than max_control_line (+ CR LF) away is already a violation, so
    // never scan further than that.
    let window = buf
        .len()
        .min(arg_start.saturating_add(mcl).saturating_add(2));
    let Some(nl) = memchr(b'\n', &buf[arg_start..window]) else {
        let mut pending = buf.len() - arg_start;
        // A CR that may turn out to precede the LF is not part of the arguments.
        if pending > 0 && buf.last() == Some(&b'\r') {
            pending -= 1;
        }
        return if pending > mcl {
            Err(ProtoError::ControlLineTooLong)
        } else {
            Ok(Parsed::Incomplete)
        };
    };
    let nl = arg_start + nl;
    let arg_end = if nl > arg_start && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    if arg_end - arg_start > mcl {
        return Err(ProtoError::ControlLineTooLong);
    }
    let arg = &buf[arg_start..arg_end];
    let line_len = nl + 1;
    let done = |op| {
        Ok(Parsed::Op {
            op,
            consumed: line_len,
        })
    };

    match kind {
        Kind::Ping => done(Op::Ping),
        Kind::Pong => done(Op::Pong),
        Kind::Ok => done(Op::Ok),
        Kind::Connect => done(Op::Connect(trim_end(arg))),
        Kind::Info => done(Op::Info(trim_end(arg))),
        Kind::Err => done(Op::Err(text(unquote(trim_end(arg)))?)),
        Kind::Sub => parse_sub(arg).and_then(done),
        Kind::Unsub => parse_unsub(arg).and_then(done),
        Kind::LsPlus => parse_ls_plus(arg).and_then(done),
        Kind::LsMinus => parse_ls_minus(arg).and_then(done),
        Kind::Pub => parse_pub(buf, arg, line_len, limits),
        Kind::Hpub => parse_hpub(buf, arg, line_len, limits),
        Kind::Msg => parse_msg(buf, arg, line_len, limits),
        Kind::Hmsg if dialect == Dialect::Leaf => parse_leaf_hmsg(buf, arg, line_len, limits),
        Kind::Hmsg => parse_hmsg(buf, arg, line_len, limits),
        Kind::Lmsg => parse_lmsg(buf, arg, line_len, limits),
    }
}

/// Match an operation name at the front of `buf`: `Ok(None)` if `buf` ends inside a name.
fn match_name(buf: &[u8], table: &[(&[u8], Kind)]) -> Result<Option<(Kind, usize)>, ProtoError> {
    let mut partial = false;
    for &(name, kind) in table {
        let n = name.len().min(buf.len());
        if buf[..n]
            .iter()
            .zip(name)
            .all(|(b, c)| b.to_ascii_uppercase() == *c)
        {
            if n == name.len() {
                return Ok(Some((kind, n)));
            }
            partial = true;
        }
    }
    if partial {
        Ok(None)
    } else {
        Err(ProtoError::UnknownOp)
    }
}

/// Index of the first byte at or after `from` that is not a space or TAB; `Ok(None)` if the
/// buffer ends first.
fn skip_blanks(buf: &[u8], from: usize, mcl: usize) -> Result<Option<usize>, ProtoError> {
    let limit = buf.len().min(from.saturating_add(mcl).saturating_add(1));
    match buf[from.min(limit)..limit]
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
    {
        Some(i) => Ok(Some(from + i)),
        None if limit - from.min(limit) > mcl => Err(ProtoError::ControlLineTooLong),
        None => Ok(None),
    }
}

fn is_blank(b: u8) -> bool {
    // CR counts as a separator inside a line, as in nats-server's splitArg.
    matches!(b, b' ' | b'\t' | b'\r')
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., last] = s {
        if !is_blank(*last) {
            break;
        }
        s = rest;
    }
    s
}

fn unquote(s: &[u8]) -> &[u8] {
    match s {
        [b'\'', inner @ .., b'\''] => inner,
        _ => s,
    }
}

fn text(b: &[u8]) -> Result<&str, ProtoError> {
    std::str::from_utf8(b).map_err(|_| ProtoError::InvalidUtf8)
}

/// nats-server's `parseSize`: 1 to 9 ASCII digits, nothing else.
fn parse_size(b: &[u8]) -> Option<usize> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    b.iter().try_fold(0usize, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + usize::from(d - b'0'))
    })
}

/// Argument tokens of a control line, without allocating: the spans of the first four and
/// the last three tokens, which covers every operation's fixed positions, plus the count.
/// A leaf message's queue list is the single span between those fixed positions.
struct Args<'a> {
    line: &'a [u8],
    first: [(usize, usize); 4],
    last: [(usize, usize); 3],
    n: usize,
}

impl<'a> Args<'a> {
    fn split(line: &'a [u8]) -> Self {
        let mut args = Args {
            line,
            first: [(0, 0); 4],
            last: [(0, 0); 3],
            n: 0,
        };
        let mut i = 0;
        while i < line.len() {
            if is_blank(line[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < line.len() && !is_blank(line[i]) {
                i += 1;
            }
            if args.n < args.first.len() {
                args.first[args.n] = (start, i);
            }
            args.last = [(start, i), args.last[0], args.last[1]];
            args.n += 1;
        }
        args
    }

    /// Span of token `i`; valid for `i < 4` or `n - 3 <= i < n`.
    fn span(&self, i: usize) -> (usize, usize) {
        if i < self.first.len() {
            self.first[i]
        } else {
            self.last[self.n - 1 - i]
        }
    }

    fn bytes(&self, i: usize) -> &'a [u8] {
        let (s, e) = self.span(i);
        &self.line[s..e]
    }

    fn str(&self, i: usize) -> Result<&'a str, ProtoError> {
        text(self.bytes(i))
    }

    fn size(&self, i: usize, op: &'static str) -> Result<usize, ProtoError> {
        parse_size(self.bytes(i)).ok_or(ProtoError::BadArgs(op))
    }

    /// Tokens `from..to` as one span (queue names with their separators).
    fn run(&self, from: usize, to: usize) -> Result<&'a str, ProtoError> {
        if from >= to {
            return Ok("");
        }
        text(&self.line[self.span(from).0..self.span(to - 1).1])
    }
}

fn check_payload(size: usize, limits: &Limits) -> Result<(), ProtoError> {
    match limits.max_payload {
        Some(max) if size > max => Err(ProtoError::PayloadTooLarge),
        _ => Ok(()),
    }
}

/// The `size`-byte body starting at `start` and the end of its CRLF: `Ok(None)` if not all
/// of it has arrived. A wrong terminator is reported as soon as its first byte is visible.
fn body(buf: &[u8], start: usize, size: usize) -> Result<Option<(&[u8], usize)>, ProtoError> {
    let end = start.saturating_add(size);
    match buf.get(end) {
        None => return Ok(None),
        Some(b'\r') => {}
        Some(_) => return Err(ProtoError::PayloadTerminator),
    }
    match buf.get(end + 1) {
        None => Ok(None),
        Some(b'\n') => Ok(Some((&buf[start..end], end + 2))),
        Some(_) => Err(ProtoError::PayloadTerminator),
    }
}

fn with_body<'a>(
    buf: &'a [u8],
    line_len: usize,
    size: usize,
    op: impl FnOnce(&'a [u8]) -> Op<'a>,
) -> Result<Parsed<'a>, ProtoError> {
    Ok(match body(buf, line_len, size)? {
        Some((bytes, consumed)) => Parsed::Op {
            op: op(bytes),
            consumed,
        },
        None => Parsed::Incomplete,
    })
}

fn parse_pub<'a>(
    buf: &'a [u8],
    arg: &'a [u8],
    line_len: usize,
    limits: &Limits,
) -> Result<Parsed<'a>, ProtoError> {
    let a = Args::split(arg);
    let (reply, size) = match a.n {
        2 => (None, a.size(1, "PUB")?),
        3 => (Some(a.str(1)?), a.size(2, "PUB")?),
        _ => return Err(ProtoError::BadArgs("PUB")),
    };
    check_payload(size, limits)?;
    let subject = a.str(0)?;
    with_body(buf, line_len, size, |payload| Op::Pub {
        subject,
        reply,
        payload,
    })
}

/// Header and total size of a header message; header size above total is its own error.
fn header_sizes(
    a: &Args<'_>,
    hdr: usize,
    op: &'static str,
    limits: &Limits,
) -> Result<(usize, usize), ProtoError> {
    let h = a.size(hdr, op)?;
    let total = a.size(hdr + 1, op)?;
    if h > total {
        return Err(ProtoError::BadHeaderSize);
    }
    check_payload(total, limits)?;
    Ok((h, total))
}

fn parse_hpub<'a>(
    buf: &'a [u8],
    arg: &'a [u8],
    line_len: usize,
    limits: &Limits,
) -> Result<Parsed<'a>, ProtoError> {
    let a = Args::split(arg);
    let (reply, hdr) = match a.n {
        3 => (None, 1),
        4 => (Some(a.str(1)?), 2),
        _ => return Err(ProtoError::BadArgs("HPUB")),
    };
    let (h, total) = header_sizes(&a, hdr, "HPUB", limits)?;
    let subject = a.str(0)?;
    with_body(buf, line_len, total, |body| {
        let (headers, payload) = body.split_at(h);
        Op::Hpub {
            subject,
            reply,
            headers,
            payload,
        }
    })
}

fn parse_msg<'a>(
    buf: &'a [u8],
    arg: &'a [u8],
    line_len: usize,
    limits: &Limits,
) -> Result<Parsed<'a>, ProtoError> {
    let a = Args::split(arg);
    let (reply, size) = match a.n {
        3 => (None, a.size(2, "MSG")?),
        4 => (Some(a.str(2)?), a.size(3, "MSG")?),
        _ => return Err(ProtoError::BadArgs("MSG")),
    };
    check_payload(size, limits)?;
    let (subject, sid) = (a.str(0)?, a.str(1)?);
    with_body(buf, line_len, size, |payload| Op::Msg {
        subject,
        sid,
        reply,
        payload,
    })
}

fn parse_hmsg<'a>(
    buf: &'a [u8],
    arg: &'a [u8],
    line_len: usize,
    limits: &Limits,
) -> Result<Parsed<'a>, ProtoError> {
    let a = Args::split(arg);
    let (reply, hdr) = match a.n {
        4 => (None, 2),
        5 => (Some(a.str(2)?), 3),
        _ => return Err(ProtoError::BadArgs("HMSG")),
    };
    let (h, total) = header_sizes(&a, hdr, "HMSG", limits)?;
    let (subject, sid) = (a.str(0)?, a.str(1)?);
    with_body(buf, line_len, total, |body| {
        let (headers, payload) = body.split_at(h);
        Op::Hmsg {
            subject,
            sid,
            reply,
            headers,
            payload,
        }
    })
}

fn parse_sub(arg: &[u8]) -> Result<Op<'_>, ProtoError> {
    let a = Args::split(arg);
    let (queue, sid) = match a.n {
        2 => (None, a.str(1)?),
        3 => (Some(a.str(1)?), a.str(2)?),
        _ => return Err(ProtoError::BadArgs("SUB")),
    };
    Ok(Op::Sub {
        subject: a.str(0)?,
        queue,
        sid,
    })
}

fn parse_unsub(arg: &[u8]) -> Result<Op<'_>, ProtoError> {
    let a = Args::split(arg);
    let max = match a.n {
        1 => None,
        2 => parse_size(a.bytes(1)).map(|m| m as u64),
        _ => return Err(ProtoError::BadArgs("UNSUB")),
    };
    Ok(Op::Unsub {
        sid: a.str(0)?,
        max,
    })
}

fn parse_ls_plus(arg: &[u8]) -> Result<Op<'_>, ProtoError> {
    let a = Args::split(arg);
    let queue = match a.n {
        1 => None,
        3 => {
            // At most 9 digits, so the weight always fits.
            let weight = a.size(2, "LS+")? as u32;
            Some((a.str(1)?, weight))
        }
        _ => return Err(ProtoError::BadArgs("LS+")),
    };
    Ok(Op::LsPlus {
        subject: a.str(0)?,
        queue,
    })
}

fn parse_ls_minus(arg: &[u8]) -> Result<Op<'_>, ProtoError> {
    let a = Args::split(arg);
    let queue = match a.n {
        1 => None,
        2 => Some(a.str(1)?),
        _ => return Err(ProtoError::BadArgs("LS-")),
    };
    Ok(Op::LsMinus {
        subject: a.str(0)?,
        queue,
    })
}

/// Reply and queue list of a leaf message whose fixed trailing sizes take `sizes` tokens:
/// `[reply]` when there is room for at most one more token, otherwise the `+ reply q..` or
/// `| q..` forms, exactly as nats-server's processLeafMsgArgs decides (so `LMSG s | 1`,
/// three tokens, has the reply `|`).
fn leaf_routing<'a>(
    a: &Args<'a>,
    sizes: usize,
    op: &'static str,
) -> Result<(Option<&'a str>, Queues<'a>), ProtoError> {
    let fixed = 1 + sizes;
    if a.n < fixed {
        return Err(ProtoError::BadArgs(op));
    }
    if a.n == fixed {
        return Ok((None, Queues::EMPTY));
    }
    if a.n == fixed + 1 {
        return Ok((Some(a.str(1)?), Queues::EMPTY));
    }
    let queues_end = a.n - sizes;
    match a.bytes(1) {
        b"+" => Ok((Some(a.str(2)?), Queues::from_raw(a.run(3, queues_end)?))),
        b"|" => Ok((None, Queues::from_raw(a.run(2, queues_end)?))),
        _ => Err(ProtoError::BadArgs(op)),
    }
}

fn parse_lmsg<'a>(
    buf: &'a [u8],
    arg: &'a [u8],
    line_len: usize,
    limits: &Limits,
) -> Result<Parsed<'a>, ProtoError> {
    let a = Args::split(arg);
    let (reply, queues) = leaf_routing(&a, 1, "LMSG")?;
    let size = a.size(a.n - 1, "LMSG")?;
    check_payload(size, limits)?;
    let subject = a.str(0)?;
    with_body(buf, line_len, size, |payload| Op::Lmsg {
        subject,
        reply,
        queues,
        headers: None,
        payload,
    })
}

fn parse_leaf_hmsg<'a>(
    buf: &'a [u8],
    arg: &'a [u8],
    line_len: usize,
    limits: &Limits,
) -> Result<Parsed<'a>, ProtoError> {
    let a = Args::split(arg);
    let (reply, queues) = leaf_routing(&a, 2, "HMSG")?;
    let (h, total) = header_sizes(&a, a.n - 2, "HMSG", limits)?;
    let subject = a.str(0)?;
    with_body(buf, line_len, total, |body| {
        let (headers, payload) = body.split_at(h);
        Op::Lmsg {
            subject,
            reply,
            queues,
            headers: Some(headers),
            payload,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: Limits = Limits {
        max_control_line: 4096,
        max_payload: Some(1024),
    };
    const LEAF: Limits = Limits {
        max_control_line: 4096,
        max_payload: None,
    };

    fn one<'a>(buf: &'a [u8], d: Dialect, l: &Limits) -> Result<(Op<'a>, usize), ProtoError> {
        match parse(buf, d, l)? {
            Parsed::Op { op, consumed } => Ok((op, consumed)),
            Parsed::Incomplete => panic!("incomplete: {:?}", String::from_utf8_lossy(buf)),
        }
    }

    fn client(buf: &[u8]) -> Result<Op<'_>, ProtoError> {
        one(buf, Dialect::Client, &CLIENT).map(|(op, n)| {
            assert_eq!(n, buf.len(), "whole input consumed");
            op
        })
    }

    fn leaf(buf: &[u8]) -> Result<Op<'_>, ProtoError> {
        one(buf, Dialect::Leaf, &LEAF).map(|(op, n)| {
            assert_eq!(n, buf.len(), "whole input consumed");
            op
        })
    }

    fn server(buf: &[u8]) -> Result<Op<'_>, ProtoError> {
        one(buf, Dialect::Server, &CLIENT).map(|(op, n)| {
            assert_eq!(n, buf.len(), "whole input consumed");
            op
        })
    }

    /// Every proper prefix of `buf` must be Incomplete.
    fn prefixes_incomplete(buf: &[u8], d: Dialect, l: &Limits) {
        for i in 0..buf.len() {
            assert_eq!(
                parse(&buf[..i], d, l),
                Ok(Parsed::Incomplete),
                "prefix {i} of {:?}",
                String::from_utf8_lossy(buf)
            );
        }
    }

    #[test]
    fn pub_shapes() {
        assert_eq!(
            client(b"PUB foo 2\r\nhi\r\n"),
            Ok(Op::Pub {
                subject: "foo",
                reply: None,
                payload: b"hi"
            })
        );
        assert_eq!(
            client(b"PUB foo bar.reply 2\r\nhi\r\n"),
            Ok(Op::Pub {
                subject: "foo",
                reply: Some("bar.reply"),
                payload: b"hi"
            })
        );
        assert_eq!(
            client(b"PUB foo 0\r\n\r\n"),
            Ok(Op::Pub {
                subject: "foo",
                reply: None,
                payload: b""
            })
        );
        // nats-py: empty reply as a double space.
        assert_eq!(
            client(b"PUB t.a  5\r\nhello\r\n"),
            Ok(Op::Pub {
                subject: "t.a",
                reply: None,
                payload: b"hello"
            })
        );
        // Live: tabs, mixed case, trailing space, leading zeros.
        assert_eq!(
            client(b"PuB\tfoo\t\t2 \r\nhi\r\n"),
            Ok(Op::Pub {
                subject: "foo",
                reply: None,
                payload: b"hi"
            })
        );
        assert_eq!(
            client(b"pub foo 000000002\r\nhi\r\n"),
            Ok(Op::Pub {
                subject: "foo",
                reply: None,
                payload: b"hi"
            })
        );
        // Bare LF ends a control line (live), the payload may contain CR/LF.
        assert_eq!(
            client(b"PUB foo 4\n\r\n\r\n\r\n"),
            Ok(Op::Pub {
                subject: "foo",
                reply: None,
                payload: b"\r\n\r\n"
            })
        );
    }

    #[test]
    fn pub_bad_args_close_silently() {
        for line in [
            &b"PUB foo\r\n"[..],
            b"PUB foo abc\r\n",
            b"PUB \r\n",
            b"PUB foo bar baz 2\r\n",
            b"PUB foo -1\r\n",
            b"PUB foo +2\r\n",
            b"PUB foo 0123456789\r\n",
        ] {
            let e = client(line).unwrap_err();
            assert_eq!(
                e,
                ProtoError::BadArgs("PUB"),
                "{:?}",
                String::from_utf8_lossy(line)
            );
            assert_eq!(e.err_text(), None);
        }
    }

    #[test]
    fn unknown_ops() {
        for line in [
            &b"FOO\r\n"[..],
            b"\r\nPING\r\n",
            b"  PING\r\n",
            b"P\r\n",
            b"PIN\r\n",
            b"PUB\r\n",
            b"SUBfoo 1\r\n",
            b"UNSUB\r\n",
            b"-ERR\r\n",
            b"MSG foo 1 2\r\nhi\r\n",
            b"HMSG foo 1 2 2\r\nhi\r\n",
            b"LS+ foo\r\n",
            b"LMSG foo 1\r\nx\r\n",
            b"RS+ foo\r\n",
            b"A+ foo\r\n",
        ] {
            let e = client(line).unwrap_err();
            assert_eq!(
                e,
                ProtoError::UnknownOp,
                "{:?}",
                String::from_utf8_lossy(line)
            );
            assert_eq!(e.err_text(), Some("'Unknown Protocol Operation'"));
        }
        // Decided at the first impossible byte, without waiting for a line end.
        assert_eq!(
            parse(b"PX", Dialect::Client, &CLIENT),
            Err(ProtoError::UnknownOp)
        );
        assert_eq!(
            parse(b"L", Dialect::Client, &CLIENT),
            Err(ProtoError::UnknownOp)
        );
        assert_eq!(
            parse(b"PU", Dialect::Client, &CLIENT),
            Ok(Parsed::Incomplete)
        );
        // Server and leaf dialects refuse client operations.
        assert_eq!(server(b"PUB foo 1\r\nx\r\n"), Err(ProtoError::UnknownOp));
        assert_eq!(server(b"CONNECT {}\r\n"), Err(ProtoError::UnknownOp));
        for line in [
            &b"PUB foo 1\r\nx\r\n"[..],
            b"MSG foo 1 1\r\nx\r\n",
            b"SUB foo 1\r\n",
            b"UNSUB 1\r\n",
        ] {
            assert_eq!(leaf(line), Err(ProtoError::UnknownOp));
        }
    }

    #[test]
    fn ping_pong_ok_ignore_the_rest_of_the_line() {
        for (line, op) in [
            (&b"PING\r\n"[..], Op::Ping),
            (b"ping\n", Op::Ping),
            (b"PING foo\r\n", Op::Ping),
            (b"PINGX\r\n", Op::Ping),
            (b"PING\rX\n", Op::Ping),
            (b"PONG junk\r\n", Op::Pong),
            (b"+OK\r\n", Op::Ok),
            (b"+ok\r\n", Op::Ok),
        ] {
            assert_eq!(client(line), Ok(op));
        }
        assert_eq!(
            parse(b"PING\r", Dialect::Client, &CLIENT),
            Ok(Parsed::Incomplete)
        );
    }

    #[test]
    fn connect_and_info() {
        assert_eq!(client(b"CONNECT {}\r\n"), Ok(Op::Connect(b"{}")));
        assert_eq!(
            client(b"CONNECT{\"verbose\":false}\r\n"),
            Ok(Op::Connect(b"{\"verbose\":false}"))
        );
        assert_eq!(
            client(b"CONNECT  {\"a\":1}  \r\n"),
            Ok(Op::Connect(b"{\"a\":1}"))
        );
        // Empty and junk arguments are the JSON parser's problem (a silent close).
        assert_eq!(client(b"CONNECT\r\n"), Ok(Op::Connect(b"")));
        assert_eq!(client(b"CONNECT {} junk\r\n"), Ok(Op::Connect(b"{} junk")));
        assert_eq!(client(b"INFO {}\r\n"), Ok(Op::Info(b"{}")));
        assert_eq!(
            server(b"INFO {\"server_id\":\"x\"} \r\n"),
            Ok(Op::Info(b"{\"server_id\":\"x\"}"))
        );
    }

    #[test]
    fn err_text_is_unquoted() {
        assert_eq!(
            server(b"-ERR 'Stale Connection'\r\n"),
            Ok(Op::Err("Stale Connection"))
        );
        assert_eq!(
            leaf(b"-ERR 'Loop detected for leafnode account=\"$G\". x'\r\n"),
            Ok(Op::Err("Loop detected for leafnode account=\"$G\". x"))
        );
        assert_eq!(server(b"-err  no quotes \r\n"), Ok(Op::Err("no quotes")));
        assert_eq!(client(b"-ERR 'x'\r\n"), Ok(Op::Err("x")));
    }

    #[test]
    fn sub_and_unsub() {
        assert_eq!(
            client(b"SUB foo 1\r\n"),
            Ok(Op::Sub {
                subject: "foo",
                queue: None,
                sid: "1"
            })
        );
        assert_eq!(
            client(b"SUB t.>  1\r\n"),
            Ok(Op::Sub {
                subject: "t.>",
                queue: None,
                sid: "1"
            })
        );
        assert_eq!(
            client(b"sub q.x q.* 101\n"),
            Ok(Op::Sub {
                subject: "q.x",
                queue: Some("q.*"),
                sid: "101"
            })
        );
        assert_eq!(
            client(b"SUB\tfoo 1\r\n"),
            Ok(Op::Sub {
                subject: "foo",
                queue: None,
                sid: "1"
            })
        );
        assert_eq!(
            client(b"SUB x s0\r\n"),
            Ok(Op::Sub {
                subject: "x",
                queue: None,
                sid: "s0"
            })
        );
        assert_eq!(client(b"SUB foo\r\n"), Err(ProtoError::BadArgs("SUB")));
        assert_eq!(client(b"SUB a b c d\r\n"), Err(ProtoError::BadArgs("SUB")));

        assert_eq!(
            client(b"UNSUB 1 \r\n"),
            Ok(Op::Unsub {
                sid: "1",
                max: None
            })
        );
        assert_eq!(
            client(b"UNSUB 7 2\r\n"),
            Ok(Op::Unsub {
                sid: "7",
                max: Some(2)
            })
        );
        assert_eq!(
            client(b"UNSUB 7 0\r\n"),
            Ok(Op::Unsub {
                sid: "7",
                max: Some(0)
            })
        );
        // Live: an unparsable max removes the subscription at once, like no max.
        for line in [
            &b"UNSUB 1 abc\r\n"[..],
            b"UNSUB 1 -5\r\n",
            b"UNSUB 1 1234567890\r\n",
        ] {
            assert_eq!(
                client(line),
                Ok(Op::Unsub {
                    sid: "1",
                    max: None
                })
            );
        }
        assert_eq!(client(b"UNSUB \r\n"), Err(ProtoError::BadArgs("UNSUB")));
        assert_eq!(
            client(b"UNSUB 1 2 3\r\n"),
            Err(ProtoError::BadArgs("UNSUB"))
        );
    }

    #[test]
    fn hpub() {
        let full = b"HPUB foo reply.x 24 29\r\nNATS/1.0\r\nA: b\r\nC: d\r\n\r\nhello\r\n";
        assert_eq!(
            client(full),
            Ok(Op::Hpub {
                subject: "foo",
                reply: Some("reply.x"),
                headers: b"NATS/1.0\r\nA: b\r\nC: d\r\n\r\n",
                payload: b"hello"
            })
        );
        assert_eq!(
            client(b"HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n"),
            Ok(Op::Hpub {
                subject: "foo",
                reply: None,
                headers: b"NATS/1.0\r\n\r\n",
                payload: b""
            })
        );
        // nats-py: `HPUB t.b  20 22`.
        assert_eq!(
            client(b"HPUB t.b  20 22\r\nNATS/1.0\r\nX-K: v\r\n\r\nhh\r\n"),
            Ok(Op::Hpub {
                subject: "t.b",
                reply: None,
                headers: b"NATS/1.0\r\nX-K: v\r\n\r\n",
                payload: b"hh"
            })
        );
        // Header content is not validated (live: relayed as-is).
        assert_eq!(
            client(b"HPUB foo 5 7\r\nabcdehi\r\n"),
            Ok(Op::Hpub {
                subject: "foo",
                reply: None,
                headers: b"abcde",
                payload: b"hi"
            })
        );
        let e = client(b"HPUB foo 5 2\r\n").unwrap_err();
        assert_eq!((e, e.err_text()), (ProtoError::BadHeaderSize, None));
        assert_eq!(client(b"HPUB foo 3\r\n"), Err(ProtoError::BadArgs("HPUB")));
        assert_eq!(
            client(b"HPUB foo a b c d\r\n"),
            Err(ProtoError::BadArgs("HPUB"))
        );
        assert_eq!(
            client(b"HPUB foo x 2\r\n"),
            Err(ProtoError::BadArgs("HPUB"))
        );
        prefixes_incomplete(full, Dialect::Client, &CLIENT);
    }

    #[test]
    fn max_payload_is_decided_from_the_control_line() {
        assert_eq!(
            parse(b"PUB foo 2000\r\n", Dialect::Client, &CLIENT),
            Err(ProtoError::PayloadTooLarge)
        );
        assert_eq!(
            parse(b"PUB foo 012345678\r\n", Dialect::Client, &CLIENT),
            Err(ProtoError::PayloadTooLarge)
        );
        // HPUB checks the total size.
        assert_eq!(
            parse(b"HPUB foo 1 2000\r\n", Dialect::Client, &CLIENT),
            Err(ProtoError::PayloadTooLarge)
        );
        assert_eq!(
            parse(b"PUB foo 1024\r\n", Dialect::Client, &CLIENT),
            Ok(Parsed::Incomplete)
        );
        assert_eq!(
            ProtoError::PayloadTooLarge.err_text(),
            Some("'Maximum Payload Violation'")
        );
        // Leaf links are not limited (live: 2000 bytes crossed a 1024-byte hub).
        let mut big = b"LMSG big 2000\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'y', 2000));
        big.extend_from_slice(b"\r\n");
        assert!(matches!(leaf(&big), Ok(Op::Lmsg { payload, .. }) if payload.len() == 2000));
        // ...unless the caller asks for it.
        assert_eq!(
            parse(&big, Dialect::Leaf, &CLIENT),
            Err(ProtoError::PayloadTooLarge)
        );
    }

    #[test]
    fn payload_must_end_in_exactly_crlf() {
        for buf in [
            &b"PUB foo 2\r\nhi\n"[..],
            b"PUB foo 2\r\nhiX\r\n",
            b"PUB foo 2\r\nhi\rX",
            b"PUB foo 2\r\nhello\r\n",
        ] {
            let e = client(buf).unwrap_err();
            assert_eq!(
                e,
                ProtoError::PayloadTerminator,
                "{:?}",
                String::from_utf8_lossy(buf)
            );
            assert_eq!(e.err_text(), Some("'Unknown Protocol Operation'"));
        }
        // Reported as soon as the wrong byte is visible.
        assert_eq!(
            parse(b"PUB foo 2\r\nhiX", Dialect::Client, &CLIENT),
            Err(ProtoError::PayloadTerminator)
        );
        assert_eq!(
            parse(b"PUB foo 2\r\nhi\r", Dialect::Client, &CLIENT),
            Ok(Parsed::Incomplete)
        );
    }

    #[test]
    fn control_line_limit_counts_the_arguments() {
        let l = Limits {
            max_control_line: 16,
            max_payload: None,
        };
        let ok = b"SUB aaaaaaaaaaaaaa 1\r\n"; // arguments: 16 bytes
        assert!(matches!(
            parse(ok, Dialect::Client, &l),
            Ok(Parsed::Op { .. })
        ));
        // Leading blanks do not count (live: `SUB    <4096 bytes>` accepted).
        assert!(matches!(
            parse(b"SUB      aaaaaaaaaaaaaa 1\r\n", Dialect::Client, &l),
            Ok(Parsed::Op { .. })
        ));
        let e = parse(b"SUB aaaaaaaaaaaaaaa 1\r\n", Dialect::Client, &l).unwrap_err();
        assert_eq!(
            (e, e.err_text()),
            (
                ProtoError::ControlLineTooLong,
                Some("'maximum control line exceeded'")
            )
        );
        // Trailing blanks do (live: 4097 with a trailing space failed).
        assert_eq!(
            parse(b"SUB aaaaaaaaaaaaaa 1 \r\n", Dialect::Client, &l),
            Err(ProtoError::ControlLineTooLong)
        );
        // Before the line end arrives.
        assert_eq!(
            parse(b"SUB aaaaaaaaaaaaaa 1", Dialect::Client, &l),
            Ok(Parsed::Incomplete)
        );
        assert_eq!(
            parse(b"SUB aaaaaaaaaaaaaa 1\r", Dialect::Client, &l),
            Ok(Parsed::Incomplete)
        );
        assert_eq!(
            parse(b"SUB aaaaaaaaaaaaaaa 1", Dialect::Client, &l),
            Err(ProtoError::ControlLineTooLong)
        );
        assert_eq!(
            parse(b"CONNECT {\"aaaaaaaaaaaaaaa", Dialect::Client, &l),
            Err(ProtoError::ControlLineTooLong)
        );
        assert_eq!(
            parse(b"-ERR 'aaaaaaaaaaaaaaaa", Dialect::Server, &l),
            Err(ProtoError::ControlLineTooLong)
        );
        assert_eq!(
            parse(b"PING aaaaaaaaaaaaaaaaaaaa", Dialect::Client, &l),
            Err(ProtoError::ControlLineTooLong)
        );
        assert_eq!(
            parse(b"PUB                  ", Dialect::Client, &l),
            Err(ProtoError::ControlLineTooLong)
        );
        // The default is nats-server's 4096, measured live.
        let mut line = b"SUB ".to_vec();
        line.extend(std::iter::repeat_n(b'a', 4094));
        line.extend_from_slice(b" 1\r\n");
        assert!(matches!(
            parse(&line, Dialect::Client, &Limits::default()),
            Ok(Parsed::Op { .. })
        ));
        line.insert(5, b'a');
        assert_eq!(
            parse(&line, Dialect::Client, &Limits::default()),
            Err(ProtoError::ControlLineTooLong)
        );
    }

    #[test]
    fn subjects_must_be_utf8() {
        assert_eq!(client(b"SUB \xff\xfe 1\r\n"), Err(ProtoError::InvalidUtf8));
        assert_eq!(client(b"PUB \xff 1\r\nx\r\n"), Err(ProtoError::InvalidUtf8));
        assert_eq!(leaf(b"LMSG \xff 1\r\nx\r\n"), Err(ProtoError::InvalidUtf8));
        assert_eq!(ProtoError::InvalidUtf8.err_text(), None);
        assert_eq!(
            client("SUB \u{00e9}t\u{00e9} 1\r\n".as_bytes()),
            Ok(Op::Sub {
                subject: "\u{00e9}t\u{00e9}",
                queue: None,
                sid: "1"
            })
        );
    }

    #[test]
    fn server_dialect_messages() {
        assert_eq!(
            server(b"MSG foo 1 bar.reply 2\r\nhi\r\n"),
            Ok(Op::Msg {
                subject: "foo",
                sid: "1",
                reply: Some("bar.reply"),
                payload: b"hi"
            })
        );
        assert_eq!(
            server(b"MSG foo 1 0\r\n\r\n"),
            Ok(Op::Msg {
                subject: "foo",
                sid: "1",
                reply: None,
                payload: b""
            })
        );
        assert_eq!(
            server(b"HMSG _INBOX.1 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"),
            Ok(Op::Hmsg {
                subject: "_INBOX.1",
                sid: "1",
                reply: None,
                headers: b"NATS/1.0 503\r\n\r\n",
                payload: b""
            })
        );
        assert_eq!(
            server(b"HMSG foo 1 reply.x 24 29\r\nNATS/1.0\r\nA: b\r\nC: d\r\n\r\nhello\r\n"),
            Ok(Op::Hmsg {
                subject: "foo",
                sid: "1",
                reply: Some("reply.x"),
                headers: b"NATS/1.0\r\nA: b\r\nC: d\r\n\r\n",
                payload: b"hello"
            })
        );
        assert_eq!(
            server(b"MSG foo 2\r\nhi\r\n"),
            Err(ProtoError::BadArgs("MSG"))
        );
        assert_eq!(
            server(b"HMSG foo 1 5 2\r\n"),
            Err(ProtoError::BadHeaderSize)
        );
        assert_eq!(server(b"+OK\r\n"), Ok(Op::Ok));
    }

    #[test]
    fn leaf_interest() {
        assert_eq!(
            leaf(b"LS+ foo\r\n"),
            Ok(Op::LsPlus {
                subject: "foo",
                queue: None
            })
        );
        assert_eq!(
            leaf(b"LS+ wq grp 2\r\n"),
            Ok(Op::LsPlus {
                subject: "wq",
                queue: Some(("grp", 2))
            })
        );
        assert_eq!(
            leaf(b"ls+\tfoo\t grp  3 \r\n"),
            Ok(Op::LsPlus {
                subject: "foo",
                queue: Some(("grp", 3))
            })
        );
        assert_eq!(
            leaf(b"LS+ foo grp 0\r\n"),
            Ok(Op::LsPlus {
                subject: "foo",
                queue: Some(("grp", 0))
            })
        );
        assert_eq!(
            leaf(b"LS- bar workers\r\n"),
            Ok(Op::LsMinus {
                subject: "bar",
                queue: Some("workers")
            })
        );
        assert_eq!(
            leaf(b"LS- foo\r\n"),
            Ok(Op::LsMinus {
                subject: "foo",
                queue: None
            })
        );
        // Live: silent close for these...
        assert_eq!(leaf(b"LS+ foo grp\r\n"), Err(ProtoError::BadArgs("LS+")));
        assert_eq!(leaf(b"LS+ \r\n"), Err(ProtoError::BadArgs("LS+")));
        assert_eq!(leaf(b"LS+ a b c d\r\n"), Err(ProtoError::BadArgs("LS+")));
        // ...and an unknown-op close for a missing separator.
        assert_eq!(leaf(b"LS+\r\n"), Err(ProtoError::UnknownOp));
        // Deliberately stricter than nats-server (which keeps the link open).
        assert_eq!(
            leaf(b"LS+ foo grp abc\r\n"),
            Err(ProtoError::BadArgs("LS+"))
        );
        assert_eq!(leaf(b"LS- \r\n"), Err(ProtoError::BadArgs("LS-")));
        assert_eq!(
            leaf(b"LS- foo grp extra\r\n"),
            Err(ProtoError::BadArgs("LS-"))
        );
    }

    type LeafParts<'a> = (
        &'a str,
        Option<&'a str>,
        Vec<&'a str>,
        Option<&'a [u8]>,
        &'a [u8],
    );

    fn lmsg(op: Op<'_>) -> LeafParts<'_> {
        match op {
            Op::Lmsg {
                subject,
                reply,
                queues,
                headers,
                payload,
            } => (subject, reply, queues.iter().collect(), headers, payload),
            other => panic!("not a leaf message: {other:?}"),
        }
    }

    #[test]
    fn leaf_message_shapes() {
        let none: Vec<&str> = vec![];
        assert_eq!(
            lmsg(leaf(b"LMSG foo rep.1 5\r\nhello\r\n").unwrap()),
            ("foo", Some("rep.1"), none.clone(), None, &b"hello"[..])
        );
        assert_eq!(
            lmsg(leaf(b"LMSG wild.x 1\r\nw\r\n").unwrap()),
            ("wild.x", None, none.clone(), None, &b"w"[..])
        );
        assert_eq!(
            lmsg(leaf(b"LMSG wq | grp 1\r\nq\r\n").unwrap()),
            ("wq", None, vec!["grp"], None, &b"q"[..])
        );
        assert_eq!(
            lmsg(leaf(b"LMSG wq + rr grp 1\r\nr\r\n").unwrap()),
            ("wq", Some("rr"), vec!["grp"], None, &b"r"[..])
        );
        assert_eq!(
            lmsg(leaf(b"LMSG back | g k 1\r\nx\r\n").unwrap()),
            ("back", None, vec!["g", "k"], None, &b"x"[..])
        );
        assert_eq!(
            lmsg(leaf(b"LMSG bar + inbox.9 workers 3\r\nabc\r\n").unwrap()),
            ("bar", Some("inbox.9"), vec!["workers"], None, &b"abc"[..])
        );
        assert_eq!(
            lmsg(leaf(b"LMSG s +  r  a \t b  1\r\nx\r\n").unwrap()),
            ("s", Some("r"), vec!["a", "b"], None, &b"x"[..])
        );
        // The `+` form without queues (accepted by nats-server).
        assert_eq!(
            lmsg(leaf(b"LMSG foo + r 1\r\nx\r\n").unwrap()),
            ("foo", Some("r"), none.clone(), None, &b"x"[..])
        );
        // Three tokens: the middle one is the reply, whatever it is (live: `MSG foo 1 | 1`).
        assert_eq!(
            lmsg(leaf(b"LMSG foo | 1\r\nx\r\n").unwrap()),
            ("foo", Some("|"), none.clone(), None, &b"x"[..])
        );

        let h = &b"NATS/1.0\r\nX-A: 1\r\n\r\n"[..];
        assert_eq!(
            lmsg(leaf(b"HMSG foo rep.2 20 22\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhi\r\n").unwrap()),
            ("foo", Some("rep.2"), none.clone(), Some(h), &b"hi"[..])
        );
        assert_eq!(
            lmsg(leaf(b"HMSG wq | grp 20 22\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhi\r\n").unwrap()),
            ("wq", None, vec!["grp"], Some(h), &b"hi"[..])
        );
        assert_eq!(
            lmsg(leaf(b"HMSG foo + r grp q2 20 22\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhi\r\n").unwrap()),
            ("foo", Some("r"), vec!["grp", "q2"], Some(h), &b"hi"[..])
        );
        assert_eq!(
            lmsg(leaf(b"HMSG foo 12 12\r\nNATS/1.0\r\n\r\n\r\n").unwrap()),
            (
                "foo",
                None,
                none.clone(),
                Some(&b"NATS/1.0\r\n\r\n"[..]),
                &b""[..]
            )
        );

        assert_eq!(
            leaf(b"LMSG foo x grp 1\r\nx\r\n"),
            Err(ProtoError::BadArgs("LMSG"))
        );
        assert_eq!(leaf(b"LMSG foo\r\n"), Err(ProtoError::BadArgs("LMSG")));
        assert_eq!(
            leaf(b"LMSG foo | grp x\r\n"),
            Err(ProtoError::BadArgs("LMSG"))
        );
        assert_eq!(
            leaf(b"HMSG foo 5 2\r\nxx\r\n"),
            Err(ProtoError::BadHeaderSize)
        );
        assert_eq!(leaf(b"HMSG foo 5\r\n"), Err(ProtoError::BadArgs("HMSG")));
        assert_eq!(
            leaf(b"HMSG foo ++ r g 1 1\r\n"),
            Err(ProtoError::BadArgs("HMSG"))
        );
        assert_eq!(
            leaf(b"LMSG foo 1\r\nx\n"),
            Err(ProtoError::PayloadTerminator)
        );
    }

    #[test]
    fn a_pipeline_parses_in_order() {
        let stream = b"SUB t.>  1\r\nPUB t.a  5\r\nhello\r\nHPUB t.b  20 22\r\nNATS/1.0\r\nX-K: v\r\n\r\nhh\r\nPING\r\nUNSUB 1 \r\n";
        let mut rest = &stream[..];
        let mut ops = vec![];
        while !rest.is_empty() {
            match parse(rest, Dialect::Client, &CLIENT).unwrap() {
                Parsed::Op { op, consumed } => {
                    ops.push(format!("{op:?}"));
                    rest = &rest[consumed..];
                }
                Parsed::Incomplete => panic!("incomplete"),
            }
        }
        assert_eq!(ops.len(), 5);
        assert!(ops[4].starts_with("Unsub"));
    }

    #[test]
    fn every_prefix_of_every_op_is_incomplete() {
        for buf in [
            &b"PUB foo bar 2\r\nhi\r\n"[..],
            b"SUB foo q 1\r\n",
            b"UNSUB 1 5\r\n",
            b"CONNECT {\"verbose\":false}\r\n",
            b"PING\r\n",
            b"+OK\r\n",
        ] {
            prefixes_incomplete(buf, Dialect::Client, &CLIENT);
        }
        for buf in [
            &b"LMSG wq + rr grp 1\r\nr\r\n"[..],
            b"HMSG wq | grp 12 13\r\nNATS/1.0\r\n\r\nx\r\n",
            b"LS+ a b 1\r\n",
            b"LS- a\r\n",
        ] {
            prefixes_incomplete(buf, Dialect::Leaf, &LEAF);
        }
        for buf in [
            &b"MSG a 1 r 1\r\nx\r\n"[..],
            b"HMSG a 1 12 12\r\nNATS/1.0\r\n\r\n\r\n",
            b"-ERR 'x'\r\n",
            b"INFO {} \r\n",
        ] {
            prefixes_incomplete(buf, Dialect::Server, &CLIENT);
        }
    }

    #[test]
    fn parse_size_matches_nats_server() {
        assert_eq!(parse_size(b"0"), Some(0));
        assert_eq!(parse_size(b"999999999"), Some(999_999_999));
        assert_eq!(parse_size(b"1234567890"), None);
        assert_eq!(parse_size(b""), None);
        assert_eq!(parse_size(b"1a"), None);
        assert_eq!(parse_size(b"+1"), None);
    }
}
