//! The NATS header block: `NATS/1.0[ <status>[ <description>]]\r\n`, then `Key: Value\r\n`
//! lines, then an empty line `\r\n` (its size, as sent in `HPUB`/`HMSG`, includes that final
//! CRLF).
//!
//! The server relays header blocks without looking at them (nats-server relayed `abcde` as a
//! header block), so nothing here is on the routing path. It serves the few places that read
//! or write headers: the no-responders status message and stamping replayed messages.
//! Parsing is lenient: lines without a colon are skipped, keys match case-sensitively (as
//! current NATS clients treat them), values lose surrounding blanks.

use bytes::BufMut;

/// The first line's fixed prefix.
pub const VERSION_LINE: &[u8] = b"NATS/1.0";

/// The whole header block of a no-responders status message (nats-protocol.md §1.5).
pub const NO_RESPONDERS: &[u8] = b"NATS/1.0 503\r\n\r\n";

/// A header block that cannot be read or edited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Does not start with `NATS/1.0` or has no CRLF after its first line.
    #[error("not a NATS/1.0 header block")]
    Malformed,
    /// A key that is empty or contains blanks, `:`, CR or LF, or a value with CR or LF.
    #[error("invalid header key or value")]
    InvalidField,
}

/// A parsed view of a header block, borrowing from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headers<'a> {
    status: Option<u16>,
    description: &'a [u8],
    /// The key/value lines, each with its CRLF, without the terminating empty line.
    fields: &'a [u8],
    /// Whatever follows the empty line (nothing, in a well-formed block).
    trailer: &'a [u8],
    /// Whether the terminating empty line was present.
    terminated: bool,
    first_line: &'a [u8],
}

impl<'a> Headers<'a> {
    /// Read a header block.
    pub fn parse(block: &'a [u8]) -> Result<Self, HeaderError> {
        if !block.starts_with(VERSION_LINE) {
            return Err(HeaderError::Malformed);
        }
        let first_end = find_crlf(block).ok_or(HeaderError::Malformed)?;
        let first_line = &block[..first_end];
        let (status, description) = parse_status(&first_line[VERSION_LINE.len()..]);

        let body = &block[first_end + 2..];
        let mut at = 0;
        let (fields, trailer, terminated) = loop {
            let line_end = find_crlf(&body[at..]).map(|i| at + i);
            match line_end {
                Some(end) if end == at => break (&body[..at], &body[at + 2..], true),
                Some(end) => at = end + 2,
                None => break (body, &body[body.len()..], false),
            }
        };
        Ok(Headers {
            status,
            description,
            fields,
            trailer,
            terminated,
            first_line,
        })
    }

    /// The status code of the first line (`503` for no responders), if any.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The text after the status code (`No Responders`), possibly empty.
    pub fn description(&self) -> &'a [u8] {
        self.description
    }

    /// Key/value pairs in order, duplicates included.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        Lines(self.fields).filter_map(split_field)
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&'a [u8]> {
        self.iter()
            .find(|(k, _)| *k == key.as_bytes())
            .map(|(_, v)| v)
    }
}

/// Append a status-only header block, `NATS/1.0 <code>[ <description>]\r\n\r\n`.
pub fn write_status<B: BufMut>(out: &mut B, code: u16, description: Option<&str>) {
    out.put_slice(VERSION_LINE);
    out.put_u8(b' ');
    let code = code.min(999);
    out.put_slice(&[
        b'0' + (code / 100) as u8,
        b'0' + (code / 10 % 10) as u8,
        b'0' + (code % 10) as u8,
    ]);
    if let Some(d) = description {
        out.put_u8(b' ');
        out.put_slice(d.as_bytes());
    }
    out.put_slice(b"\r\n\r\n");
}

/// Append `block` with `key` set to `value`: the first `key` line is replaced in place,
/// later `key` lines are dropped, and if there was none the line is added last. Every other
/// byte (first line, other lines, their order and spelling) is copied unchanged. An empty
/// `block` (a message without headers) becomes `NATS/1.0\r\nkey: value\r\n\r\n`.
pub fn write_with_header<B: BufMut>(
    out: &mut B,
    block: &[u8],
    key: &str,
    value: &str,
) -> Result<(), HeaderError> {
    let bad_key = key.is_empty()
        || key
            .bytes()
            .any(|b| matches!(b, b':' | b' ' | b'\t' | b'\r' | b'\n'));
    if bad_key || value.bytes().any(|b| matches!(b, b'\r' | b'\n')) {
        return Err(HeaderError::InvalidField);
    }
    let put_field = |out: &mut B| {
        out.put_slice(key.as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    };
    if block.is_empty() {
        out.put_slice(VERSION_LINE);
        out.put_slice(b"\r\n");
        put_field(out);
        out.put_slice(b"\r\n");
        return Ok(());
    }
    let h = Headers::parse(block)?;
    out.put_slice(h.first_line);
    out.put_slice(b"\r\n");
    let mut replaced = false;
    for line in Lines(h.fields) {
        match split_field(line) {
            Some((k, _)) if k == key.as_bytes() => {
                if !replaced {
                    put_field(out);
                    replaced = true;
                }
            }
            _ => {
                out.put_slice(line);
                if !line.ends_with(b"\r\n") {
                    out.put_slice(b"\r\n");
                }
            }
        }
    }
    if !replaced {
        put_field(out);
    }
    out.put_slice(b"\r\n");
    if h.terminated {
        out.put_slice(h.trailer);
    }
    Ok(())
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    memchr::memmem::find(b, b"\r\n")
}

/// After `NATS/1.0`: ` 503 No Responders` -> (503, "No Responders"). Lenient: anything that
/// is not three digits is no status.
fn parse_status(rest: &[u8]) -> (Option<u16>, &[u8]) {
    let rest = trim(rest);
    match rest {
        [a, b, c, tail @ ..]
            if [a, b, c].iter().all(|d| d.is_ascii_digit())
                && tail.first().is_none_or(|t| matches!(t, b' ' | b'\t')) =>
        {
            let code = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
            (Some(code), trim(tail))
        }
        _ => (None, b""),
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `Key: Value\r\n` -> (key, value); `None` for a line without a colon.
fn split_field(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let line = line.strip_suffix(b"\r\n").unwrap_or(line);
    let colon = memchr::memchr(b':', line)?;
    Some((trim(&line[..colon]), trim(&line[colon + 1..])))
}

/// Lines of a field section, each with its CRLF.
struct Lines<'a>(&'a [u8]);

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.0.is_empty() {
            return None;
        }
        let end = find_crlf(self.0).map_or(self.0.len(), |i| i + 2);
        let (line, rest) = self.0.split_at(end);
        self.0 = rest;
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(block: &[u8], key: &str, value: &str) -> Result<Vec<u8>, HeaderError> {
        let mut out = Vec::new();
        write_with_header(&mut out, block, key, value).map(|()| out)
    }

    #[test]
    fn status_lines() {
        let h = Headers::parse(NO_RESPONDERS).unwrap();
        assert_eq!((h.status(), h.description()), (Some(503), &b""[..]));
        assert_eq!(h.iter().count(), 0);
        let h = Headers::parse(b"NATS/1.0 408 Request Timeout\r\n\r\n").unwrap();
        assert_eq!(
            (h.status(), h.description()),
            (Some(408), &b"Request Timeout"[..])
        );
        let h = Headers::parse(b"NATS/1.0\r\nA: b\r\n\r\n").unwrap();
        assert_eq!(h.status(), None);
        assert_eq!(
            Headers::parse(b"NATS/1.0 5000\r\n\r\n").unwrap().status(),
            None
        );
    }

    #[test]
    fn fields() {
        let h =
            Headers::parse(b"NATS/1.0\r\nA: b\r\nC:d \r\nnocolon\r\nA: second\r\n\r\n").unwrap();
        let all: Vec<_> = h.iter().collect();
        assert_eq!(
            all,
            [(&b"A"[..], &b"b"[..]), (b"C", b"d"), (b"A", b"second")]
        );
        assert_eq!(h.get("A"), Some(&b"b"[..]));
        assert_eq!(h.get("a"), None);
        assert_eq!(h.get("C"), Some(&b"d"[..]));
        // Unterminated blocks are read as far as they go.
        assert_eq!(
            Headers::parse(b"NATS/1.0\r\nA: b\r\n").unwrap().get("A"),
            Some(&b"b"[..])
        );
        assert_eq!(
            Headers::parse(b"NATS/1.0\r\nA: b").unwrap().get("A"),
            Some(&b"b"[..])
        );
        assert_eq!(Headers::parse(b"abcde"), Err(HeaderError::Malformed));
        assert_eq!(Headers::parse(b"NATS/1.0"), Err(HeaderError::Malformed));
    }

    #[test]
    fn status_blocks() {
        let mut out = Vec::new();
        write_status(&mut out, 503, None);
        assert_eq!(out, NO_RESPONDERS);
        assert_eq!(out.len(), 16);
        out.clear();
        write_status(&mut out, 408, Some("Request Timeout"));
        assert_eq!(out, b"NATS/1.0 408 Request Timeout\r\n\r\n");
    }

    #[test]
    fn set_header_keeps_everything_else() {
        assert_eq!(
            with(b"", "Rejoin-Replayed", "1").unwrap(),
            b"NATS/1.0\r\nRejoin-Replayed: 1\r\n\r\n"
        );
        assert_eq!(
            with(b"NATS/1.0\r\nA: b\r\nC: d\r\n\r\n", "X", "y").unwrap(),
            b"NATS/1.0\r\nA: b\r\nC: d\r\nX: y\r\n\r\n"
        );
        // Replace in place; drop later duplicates; keep odd spacing of other lines.
        assert_eq!(
            with(
                b"NATS/1.0 503 x\r\nA:b\r\nX: old\r\nC:  d\r\nX: older\r\n\r\n",
                "X",
                "new"
            )
            .unwrap(),
            b"NATS/1.0 503 x\r\nA:b\r\nX: new\r\nC:  d\r\n\r\n"
        );
        // An unterminated block gets its terminator.
        assert_eq!(
            with(b"NATS/1.0\r\nA: b\r\n", "X", "y").unwrap(),
            b"NATS/1.0\r\nA: b\r\nX: y\r\n\r\n"
        );
        assert_eq!(
            with(b"NATS/1.0\r\nA: b", "X", "y").unwrap(),
            b"NATS/1.0\r\nA: b\r\nX: y\r\n\r\n"
        );
        assert_eq!(with(b"abcde", "X", "y"), Err(HeaderError::Malformed));
        assert_eq!(with(b"", "X:", "y"), Err(HeaderError::InvalidField));
        assert_eq!(with(b"", "X", "a\r\nB: c"), Err(HeaderError::InvalidField));
        // The result reads back.
        let out = with(b"NATS/1.0\r\nA: b\r\n\r\n", "Seq", "42").unwrap();
        assert_eq!(Headers::parse(&out).unwrap().get("Seq"), Some(&b"42"[..]));
        assert_eq!(Headers::parse(&out).unwrap().get("A"), Some(&b"b"[..]));
    }
}
