//! The transport the server runs on.
//!
//! Production uses [`TokioTransport`] (real TCP). The simulator implements the same trait on
//! turmoil's simulated network in the `rejoin-sim` crate, so the production binary never links
//! turmoil. Everything above this trait — listeners, connection tasks, the control loop — is
//! the same code in both worlds.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream: a TCP connection, possibly simulated.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// A bound listener.
pub trait Listener: Send + 'static {
    /// The accepted stream type.
    type Stream: Stream;
    /// Accept the next connection.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;
    /// The address actually bound (port 0 resolved).
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// Binds listeners and dials peers.
pub trait Transport: Clone + Send + Sync + 'static {
    /// The stream type for both accepted and dialed connections.
    type Stream: Stream;
    /// The listener type.
    type Listener: Listener<Stream = Self::Stream>;
    /// Bind a listener on `addr` (`host:port`).
    fn bind(&self, addr: &str) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// Dial `addr` (`host:port`).
    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// Wall-clock time now. Only monitoring and presence epochs read it, never timers; the
    /// simulator answers with its world's clock, so its traces stay reproducible.
    fn wall_clock(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
    }
}

/// Real TCP via tokio.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioTransport;

/// A tokio TCP listener.
pub struct TokioListener(tokio::net::TcpListener);

impl Listener for TokioListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (s, addr) = self.0.accept().await?;
        // Small writes are already batched by the connection writer; Nagle only adds latency.
        s.set_nodelay(true)?;
        Ok((s, addr))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl Transport for TokioTransport {
    type Stream = tokio::net::TcpStream;
    type Listener = TokioListener;

    async fn bind(&self, addr: &str) -> io::Result<TokioListener> {
        Ok(TokioListener(tokio::net::TcpListener::bind(addr).await?))
    }

    async fn connect(&self, addr: &str) -> io::Result<tokio::net::TcpStream> {
        let s = tokio::net::TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(s)
    }
}
