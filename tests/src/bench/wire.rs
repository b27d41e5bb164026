//! Wire-level pieces of the load generators: a blocking handshake and a streaming counter of
//! delivered messages that never materialises a message.
//!
//! The benchmark must measure the server, not a client library, so subscribers read large
//! chunks and only find frame boundaries: a control line is parsed for its size, the payload is
//! skipped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Why a benchmark connection failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("server said: {0}")]
    Server(String),
    #[error("unexpected line during handshake: {0:?}")]
    Unexpected(String),
}

/// The CONNECT a throughput client sends: quiet, headers on (as real clients do).
pub const QUIET_CONNECT: &str = r#"{"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1,"lang":"rejoin-bench"}"#;

/// Connects, reads INFO, sends CONNECT plus `extra` (e.g. SUB lines) and PING, and returns
/// once the PONG arrived, i.e. once the server has registered everything sent.
pub fn handshake(addr: SocketAddr, extra: &str) -> Result<TcpStream, WireError> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if !line.starts_with("INFO ") {
        return Err(WireError::Unexpected(line));
    }
    let mut writer = stream.try_clone()?;
    writer.write_all(format!("CONNECT {QUIET_CONNECT}\r\n{extra}PING\r\n").as_bytes())?;
    // Bounded: the handshake expects PONG within a handful of lines (a PING at most).
    for _ in 0..16 {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(WireError::Unexpected("connection closed".into()));
        }
        match line.trim_end() {
            "PONG" => {
                if !reader.buffer().is_empty() {
                    return Err(WireError::Unexpected("data after PONG".into()));
                }
                return Ok(stream);
            }
            "PING" => writer.write_all(b"PONG\r\n")?,
            l if l.starts_with("-ERR") => return Err(WireError::Server(l.to_string())),
            l => return Err(WireError::Unexpected(l.to_string())),
        }
    }
    Err(WireError::Unexpected("no PONG".into()))
}

/// Counts `MSG`/`HMSG` frames in a byte stream fed in arbitrary chunks.
#[derive(Debug, Default)]
pub struct MsgCounter {
    /// Payload bytes (plus CRLF) of the current frame still to skip.
    skip: usize,
    /// The control line being assembled across chunks.
    line: Vec<u8>,
    /// Frames seen so far.
    pub messages: u64,
    /// Server PINGs seen and not yet answered (the reader must write PONGs).
    pub pings: u32,
    /// The first `-ERR` or unparsable line, if any: the run is void.
    pub error: Option<String>,
}

impl MsgCounter {
    pub fn feed(&mut self, mut data: &[u8]) {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
            }
            if data.is_empty() {
                return;
            }
            match memchr::memchr(b'\n', data) {
                None => {
                    self.line.extend_from_slice(data);
                    return;
                }
                Some(i) => {
                    self.line.extend_from_slice(&data[..=i]);
                    data = &data[i + 1..];
                    self.control_line();
                    self.line.clear();
                }
            }
        }
    }

    fn control_line(&mut self) {
        let line = trim_crlf(&self.line);
        if line.starts_with(b"MSG ") || line.starts_with(b"HMSG ") {
            // The last argument is the (total) size in both forms.
            let size = line
                .rsplit(|&b| b == b' ')
                .next()
                .and_then(|s| std::str::from_utf8(s).ok())
                .and_then(|s| s.parse::<usize>().ok());
            match size {
                Some(size) => {
                    self.skip = size + 2;
                    self.messages += 1;
                }
                None => record_error(&mut self.error, line),
            }
        } else if line == b"PING" {
            self.pings += 1;
        } else if line == b"PONG" || line == b"+OK" || line.starts_with(b"INFO ") {
        } else {
            record_error(&mut self.error, line);
        }
    }
}

fn record_error(slot: &mut Option<String>, line: &[u8]) {
    if slot.is_none() {
        *slot = Some(String::from_utf8_lossy(line).into_owned());
    }
}

fn trim_crlf(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Reads from `stream` into `counter` once (up to the socket's read timeout), answering PINGs.
/// Returns false on EOF.
pub fn pump(
    stream: &mut TcpStream,
    buf: &mut [u8],
    counter: &mut MsgCounter,
) -> Result<bool, WireError> {
    match stream.read(buf) {
        Ok(0) => return Ok(false),
        Ok(n) => counter.feed(&buf[..n]),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        Err(e) => return Err(e.into()),
    }
    while counter.pings > 0 {
        stream.write_all(b"PONG\r\n")?;
        counter.pings -= 1;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] = b"MSG a 1 5\r\nhello\r\nPING\r\nHMSG b 2 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\nMSG c 3 0\r\n\r\n";

    #[test]
    fn counts_frames_in_one_chunk() {
        let mut c = MsgCounter::default();
        c.feed(STREAM);
        assert_eq!(c.messages, 3);
        assert_eq!(c.pings, 1);
        assert!(c.error.is_none());
    }

    #[test]
    fn counts_frames_split_at_every_byte() {
        let mut c = MsgCounter::default();
        for b in STREAM {
            c.feed(&[*b]);
        }
        assert_eq!(c.messages, 3);
        assert_eq!(c.pings, 1);
        assert!(c.error.is_none());
    }

    #[test]
    fn payload_that_looks_like_a_frame_is_skipped() {
        let mut c = MsgCounter::default();
        c.feed(b"MSG a 1 11\r\nMSG x 1 0\r\n\r\n");
        assert_eq!(c.messages, 1);
        assert!(c.error.is_none());
    }

    #[test]
    fn server_error_voids_the_run() {
        let mut c = MsgCounter::default();
        c.feed(b"-ERR 'Slow Consumer'\r\n");
        assert_eq!(c.error.as_deref(), Some("-ERR 'Slow Consumer'"));
    }
}
