//! rejoin's [`Transport`] on turmoil's simulated TCP.
//!
//! The production binary never links turmoil: this implementation lives only in the
//! simulator. Everything above the trait (listeners, connection tasks, the control loop) is
//! the same code that runs in production.

use std::io;
use std::net::SocketAddr;

use rejoin::transport::{Listener, Transport};
use turmoil::net::{TcpListener, TcpStream};

/// Simulated TCP. Host names resolve through turmoil's DNS (the scenario's host names).
#[derive(Clone, Copy, Debug, Default)]
pub struct SimTransport;

/// A simulated listener.
pub struct SimListener(TcpListener);

impl Listener for SimListener {
    type Stream = TcpStream;

    async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        self.0.accept().await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// The port of `host:port` (`[v6]:port` too).
fn port_of(addr: &str) -> io::Result<u16> {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{addr:?} is not HOST:PORT"),
            )
        })
}

impl Transport for SimTransport {
    type Stream = TcpStream;
    type Listener = SimListener;

    async fn bind(&self, addr: &str) -> io::Result<SimListener> {
        // turmoil binds only the unspecified or loopback address, and every simulated host
        // has exactly one address, so `127.0.0.1:4222`, `s1:4222` and `0.0.0.0:4222` all
        // mean "port 4222 on this host".
        let port = port_of(addr)?;
        Ok(SimListener(TcpListener::bind(("0.0.0.0", port)).await?))
    }

    async fn connect(&self, addr: &str) -> io::Result<TcpStream> {
        TcpStream::connect(addr).await
    }

    fn wall_clock(&self) -> std::time::SystemTime {
        // The world's clock: the fixed epoch plus simulated time.
        std::time::UNIX_EPOCH + turmoil::since_epoch().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse() {
        assert_eq!(port_of("0.0.0.0:4222").unwrap(), 4222);
        assert_eq!(port_of("s1:7422").unwrap(), 7422);
        assert_eq!(port_of("[::]:1").unwrap(), 1);
        assert!(port_of("s1").is_err());
    }
}
