//! Memory cost of idle client connections, from the server's resident set size.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::wire::QUIET_CONNECT;

/// The VmRSS of process `pid` in bytes, from `/proc/<pid>/status`.
pub fn vm_rss(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// Result of an idle-connection run.
#[derive(Debug, Clone, Copy)]
pub struct RssStats {
    pub before: u64,
    pub after: u64,
    pub connections: usize,
}

impl RssStats {
    pub fn per_connection(&self) -> f64 {
        self.after.saturating_sub(self.before) as f64 / self.connections as f64
    }
}

/// Opens `count` connections that each complete CONNECT + PING/PONG, and measures the
/// server's RSS before and after. The connections are returned so the caller decides when
/// they close.
pub fn run(addr: SocketAddr, pid: u32, count: usize) -> Result<(RssStats, Vec<TcpStream>), String> {
    let before = vm_rss(pid)?;
    let mut conns = Vec::with_capacity(count);
    // Three passes (connect all, handshake all, read all PONGs) so the server sees the load
    // as a burst rather than one connection at a time.
    for _ in 0..count {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .map_err(|e| format!("connection {} of {count}: {e}", conns.len() + 1))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        conns.push(s);
    }
    let hello = format!("CONNECT {QUIET_CONNECT}\r\nPING\r\n");
    for s in conns.iter_mut() {
        s.write_all(hello.as_bytes()).map_err(|e| e.to_string())?;
    }
    for (i, s) in conns.iter().enumerate() {
        let mut reader = BufReader::new(s);
        let mut line = String::new();
        // INFO, then PONG (a server PING may come in between on a slow machine).
        for _ in 0..4 {
            line.clear();
            reader
                .read_line(&mut line)
                .map_err(|e| format!("connection {i}: {e}"))?;
            if line.starts_with("PONG") {
                break;
            }
            if line.starts_with("-ERR") {
                return Err(format!("connection {i}: {}", line.trim_end()));
            }
        }
        if !line.starts_with("PONG") {
            return Err(format!("connection {i}: no PONG"));
        }
    }
    let after = vm_rss(pid)?;
    Ok((
        RssStats {
            before,
            after,
            connections: count,
        },
        conns,
    ))
}
