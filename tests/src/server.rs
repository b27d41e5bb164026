//! Starting and stopping the server under test.
//!
//! [`ServerKind`] decides which binary: rejoin (default) or the real nats-server when
//! `REJOIN_TEST_SERVER=nats-server`. Both take `-c <file>`, so the same config text starts
//! either. The harness owns the listen addresses: it picks free loopback ports and appends
//! `listen:` (and `http:`) to the config, so test configs must not set them.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::process::{send_signal, wait_exit};
use crate::scratch::ScratchDir;
use crate::WAIT;

/// Where the real nats-server is installed on the test machine.
pub const NATS_SERVER_PATH: &str = "/usr/sbin/nats-server";

/// Which implementation the tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Rejoin,
    NatsServer,
}

/// Which cargo profile's rejoin binary to use when `REJOIN_BIN` is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Debug,
    Release,
}

impl Profile {
    fn dir_name(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }

    fn cargo_flag(self) -> &'static str {
        match self {
            Profile::Debug => "",
            Profile::Release => " --release",
        }
    }
}

impl ServerKind {
    /// Reads `REJOIN_TEST_SERVER`: unset or `rejoin` selects rejoin, `nats-server` the real one.
    /// Anything else is a typo that would silently test the wrong thing, so it panics.
    pub fn from_env() -> ServerKind {
        match std::env::var("REJOIN_TEST_SERVER").as_deref() {
            Err(_) | Ok("") | Ok("rejoin") => ServerKind::Rejoin,
            Ok("nats-server") => ServerKind::NatsServer,
            Ok(other) => panic!(
                "REJOIN_TEST_SERVER={other:?} is not understood; use `rejoin` or `nats-server`"
            ),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Rejoin => "rejoin",
            ServerKind::NatsServer => "nats-server",
        }
    }

    /// The executable to run, or a message that says how to produce it.
    pub fn binary(self, profile: Profile) -> Result<PathBuf, String> {
        match self {
            ServerKind::NatsServer => {
                let path = PathBuf::from(NATS_SERVER_PATH);
                if path.exists() {
                    Ok(path)
                } else {
                    Err(format!("nats-server not found at {NATS_SERVER_PATH}"))
                }
            }
            ServerKind::Rejoin => {
                let path = match std::env::var_os("REJOIN_BIN") {
                    Some(bin) => PathBuf::from(bin),
                    None => target_dir().join(profile.dir_name()).join("rejoin"),
                };
                if path.exists() {
                    Ok(path)
                } else {
                    Err(format!(
                        "rejoin binary not found at {}: run `cargo build{} -p rejoin` first \
                         (or set REJOIN_BIN, or REJOIN_TEST_SERVER=nats-server to test the tests)",
                        path.display(),
                        profile.cargo_flag()
                    ))
                }
            }
        }
    }
}

/// The cargo target directory of this workspace: `CARGO_TARGET_DIR` when set (relative paths
/// are relative to the workspace root, as cargo treats them), else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace.join(dir)
            }
        }
        None => workspace.join("target"),
    }
}

/// A loopback port that was free a moment ago: bind port 0, read it, let it go. Another
/// process may grab it before the server binds; [`TestServerBuilder::start`] retries then.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// How the harness tells the server where to listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListenBy {
    /// Append `listen: 127.0.0.1:<port>` to the config.
    Config,
    /// Pass `-a 127.0.0.1 -p <port>` on the command line (tests the flags themselves).
    Flags,
}

/// Options for starting a server; obtain with [`TestServer::builder`].
#[derive(Debug, Clone)]
pub struct TestServerBuilder {
    conf: String,
    http: bool,
    listen_by: ListenBy,
    args: Vec<String>,
    files: Vec<(String, String)>,
    profile: Profile,
    kind: ServerKind,
}

impl TestServerBuilder {
    /// Also open the monitoring port (`http: 127.0.0.1:<port>` appended to the config).
    pub fn http(mut self) -> Self {
        self.http = true;
        self
    }

    /// Give the client address with `-a`/`-p` flags instead of a `listen:` line.
    pub fn listen_by_flags(mut self) -> Self {
        self.listen_by = ListenBy::Flags;
        self
    }

    /// An extra command-line argument after `-c <file>`.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// An extra file next to the config (for `include`, certificates, ...).
    pub fn file(mut self, name: impl Into<String>, contents: impl Into<String>) -> Self {
        self.files.push((name.into(), contents.into()));
        self
    }

    /// Which build of rejoin to run when `REJOIN_BIN` is unset (tests: debug).
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// Overrides `REJOIN_TEST_SERVER` (the benchmark runs both kinds in one process).
    pub fn kind(mut self, kind: ServerKind) -> Self {
        self.kind = kind;
        self
    }

    /// Starts the server and waits until its ports accept connections. Panics with the server's
    /// log when it does not come up: a test cannot proceed without its server.
    pub fn start(self) -> TestServer {
        match self.try_start() {
            Ok(server) => server,
            Err(message) => panic!("{message}"),
        }
    }

    /// Like [`start`](Self::start) but returns the failure (with the server log) instead.
    pub fn try_start(self) -> Result<TestServer, String> {
        let bin = self.kind.binary(self.profile)?;
        let mut last_error = String::new();
        // A port picked by `free_port` can be taken by a parallel test before the server binds
        // it; that shows as an early exit mentioning the address, and a fresh port fixes it.
        for _attempt in 0..3 {
            match self.spawn_once(&bin) {
                Ok(server) => return Ok(server),
                Err(SpawnFailure::PortTaken(log)) => last_error = log,
                Err(SpawnFailure::Other(message)) => return Err(message),
            }
        }
        Err(format!("server could not bind a free port:\n{last_error}"))
    }

    fn spawn_once(&self, bin: &Path) -> Result<TestServer, SpawnFailure> {
        let other = |e: std::io::Error| SpawnFailure::Other(e.to_string());
        let dir = ScratchDir::new("server").map_err(other)?;
        for (name, contents) in &self.files {
            dir.write(name, contents).map_err(other)?;
        }
        let port = free_port();
        let http_port = self.http.then(free_port);
        let mut conf = self.conf.clone();
        if !conf.ends_with('\n') {
            conf.push('\n');
        }
        if self.listen_by == ListenBy::Config {
            conf.push_str(&format!("listen: 127.0.0.1:{port}\n"));
        }
        if let Some(http_port) = http_port {
            conf.push_str(&format!("http: 127.0.0.1:{http_port}\n"));
        }
        let conf_path = dir.write("server.conf", &conf).map_err(other)?;
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(other)?;
        let log2 = log.try_clone().map_err(other)?;

        let mut command = Command::new(bin);
        command.arg("-c").arg(&conf_path);
        if self.listen_by == ListenBy::Flags {
            command.args(["-a", "127.0.0.1", "-p", &port.to_string()]);
        }
        command
            .args(&self.args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let child = command
            .spawn()
            .map_err(|e| SpawnFailure::Other(format!("cannot spawn {}: {e}", bin.display())))?;

        let mut server = TestServer {
            child: Some(child),
            kind: self.kind,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            http_addr: http_port.map(|p| SocketAddr::from(([127, 0, 0, 1], p))),
            conf_path,
            log_path,
            dir,
        };
        let mut waiting_for = vec![server.addr];
        waiting_for.extend(server.http_addr);
        for addr in waiting_for {
            if let Err(why) = server.wait_accepting(addr) {
                let log = server.log();
                let exited = server
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                if exited.is_some() && log.to_ascii_lowercase().contains("in use") {
                    return Err(SpawnFailure::PortTaken(log));
                }
                return Err(SpawnFailure::Other(format!(
                    "{} did not start ({why}); config:\n{conf}\nlog:\n{log}",
                    self.kind.name()
                )));
            }
        }
        Ok(server)
    }
}

enum SpawnFailure {
    PortTaken(String),
    Other(String),
}

/// A running server process, killed when dropped. While a test panics, the drop also prints
/// the server log so the failure message shows what the server saw.
#[derive(Debug)]
pub struct TestServer {
    child: Option<Child>,
    kind: ServerKind,
    addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    conf_path: PathBuf,
    log_path: PathBuf,
    dir: ScratchDir,
}

impl TestServer {
    /// Starts a server of the kind chosen by the environment with `conf` (plus `listen:`).
    pub fn start(conf: &str) -> TestServer {
        TestServer::builder(conf).start()
    }

    /// A builder for servers that need monitoring, extra files or flags.
    pub fn builder(conf: &str) -> TestServerBuilder {
        TestServerBuilder {
            conf: conf.to_string(),
            http: false,
            listen_by: ListenBy::Config,
            args: Vec::new(),
            files: Vec::new(),
            profile: Profile::Debug,
            kind: ServerKind::from_env(),
        }
    }

    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// `nats://127.0.0.1:<port>` for clients.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The monitoring address; panics if the server was started without `.http()`.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
            .expect("server started without monitoring: use TestServer::builder(..).http()")
    }

    /// `http://127.0.0.1:<port>` of the monitoring endpoint.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr())
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// The scratch directory holding the config and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn conf_path(&self) -> &Path {
        &self.conf_path
    }

    /// Everything the server wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends a signal by name (`TERM`, `HUP`, ...).
    pub fn signal(&self, signal: &str) {
        if let Err(e) = send_signal(self.pid(), signal) {
            panic!("{e}");
        }
    }

    /// Waits at most `timeout` for the process to exit on its own; `None` if it is still up.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| wait_exit(c, timeout))
    }

    fn wait_accepting(&mut self, addr: SocketAddr) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(format!("exited with {status}"));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("{addr} not accepting after {WAIT:?}"));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let tail_start = log.len().saturating_sub(8000);
            let tail_start = (tail_start..log.len())
                .find(|&i| log.is_char_boundary(i))
                .unwrap_or(log.len());
            eprintln!(
                "---- {} log ({}) ----\n{}\n---- end of server log ----",
                self.kind.name(),
                self.log_path.display(),
                &log[tail_start..]
            );
        }
    }
}
