//! [`serve`](crate::serve): one server instance from start to exit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rejoin_core::config::Config;
use rejoin_core::event::{Cid, CloseReason, Event};

use super::client::{sleep_until_opt, Opening};
use super::control::LeafControl;
use super::settings::Settings;
use super::state::{derive_seed, splitmix64, Shared, Stats};
use crate::transport::{Listener, Stream, Transport};
use crate::{Command, Env, Exit};

/// How long a graceful shutdown waits for connections to flush before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Run one server instance until it is told to stop.
pub async fn serve<T: Transport>(config: Config, transport: T, mut env: Env) -> Exit {
    let settings = match Settings::from_config(&config) {
        Ok(s) => Arc::new(s),
        Err(e) => return Exit::StartupFailed(e.to_string()),
    };
    let server_id = server_id(env.seed);
    let control = rejoin_core::control::Control::with_bugs(
        &config,
        derive_seed(env.seed, 0x0063_6f6e_7472_6f6c),
        rejoin_core::time::Instant::ZERO,
        env.bugs,
    );
    let (shutdown_tx, _) = tokio::sync::watch::channel(false);
    let shared = Arc::new(Shared {
        server_id,
        settings: RwLock::new(settings.clone()),
        accounts: RwLock::new(BTreeMap::new()),
        conns: Mutex::new(BTreeMap::new()),
        leafs: Mutex::new(BTreeMap::new()),
        control: Mutex::new(control),
        backbones: Default::default(),
        remotes: Mutex::new(Vec::new()),
        leaf_listen: Mutex::new(None),
        gates: env.gates.clone(),
        next_cid: AtomicU64::new(1),
        next_sub_id: AtomicU64::new(1),
        stats: Stats::default(),
        start: tokio::time::Instant::now(),
        start_wall: transport.wall_clock(),
        events: env.events.clone(),
        seed: env.seed,
        bugs: env.bugs,
        shutdown: shutdown_tx,
        config_load_time: Mutex::new(rejoin_core::time::Instant::ZERO),
        presence: Default::default(),
    });

    let mut listener = match transport.bind(&settings.listen).await {
        Ok(l) => l,
        Err(e) => return Exit::StartupFailed(format!("cannot listen on {}: {e}", settings.listen)),
    };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("Listening for client connections on {addr}");
    }
    let monitor = match &settings.http {
        Some(addr) => match transport.bind(addr).await {
            Ok(l) => {
                if let Ok(a) = l.local_addr() {
                    tracing::info!("Starting http monitor on {a}");
                }
                Some(tokio::spawn(crate::monitor::serve(shared.clone(), l)))
            }
            Err(e) => return Exit::StartupFailed(format!("cannot listen on {addr}: {e}")),
        },
        None => None,
    };
    let mut leaf_listener = match config.leafnodes.listen_addr() {
        Some(addr) => match transport.bind(&addr.to_string()).await {
            Ok(l) => {
                if let Ok(a) = l.local_addr() {
                    tracing::info!("Listening for leafnode connections on {a}");
                }
                Some(l)
            }
            Err(e) => return Exit::StartupFailed(format!("cannot listen on {addr}: {e}")),
        },
        None => None,
    };
    let leaf_port = leaf_listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port());
    if let Some(p) = &settings.pid_file {
        if let Err(e) = std::fs::write(p, std::process::id().to_string()) {
            tracing::warn!("cannot write pid file {p}: {e}");
        }
    }
    let mut leafs = LeafControl::new(shared.clone(), transport.clone(), &config, leaf_port);
    let mut config = config;
    super::presence::configure(&shared, &config);
    shared.emit(Event::ServerReady {
        server_name: settings.server_name.clone(),
    });
    tracing::info!("Server is ready");
    leafs.drain(Vec::new());

    let mut conns = tokio::task::JoinSet::new();
    let mut exit = Exit::Shutdown;
    loop {
        if leafs.gave_up() {
            // A backbone remote exhausted max_reconnect_attempts: stop gracefully, then
            // exit non-zero so a supervisor restarts us (incident 4, F3).
            exit = Exit::BackboneGaveUp;
            break;
        }
        let deadline = leafs.deadline();
        tokio::select! {
            biased;
            cmd = env.commands.recv() => match cmd {
                Some(Command::Reload(cfg)) => {
                    if reload(&shared, &config, &cfg, &mut leafs) {
                        config = *cfg;
                    }
                }
                Some(Command::Shutdown) | Some(Command::LameDuck) => break,
                None => {
                    // The embedder dropped its command sender: nothing can stop us gracefully
                    // any more, so keep serving until the runtime is torn down.
                    std::future::pending::<()>().await;
                }
            },
            Some(report) = leafs.reports.recv() => leafs.handle_report(report),
            _ = sleep_until_opt(deadline) => leafs.handle_timeout(),
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => accept(&shared, &mut conns, stream, addr.to_string()),
                Err(e) => {
                    tracing::warn!("accept error: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            accepted = accept_opt(&mut leaf_listener) => match accepted {
                Ok((stream, addr)) => leafs.accept(stream, addr.to_string()),
                Err(e) => {
                    tracing::warn!("leafnode accept error: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }

    shared.emit(Event::ShutdownStarted);
    tracing::info!("Initiating Shutdown...");
    drop(listener);
    drop(leaf_listener);
    let _ = shared.shutdown.send(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.abort_all();
    if let Some(m) = monitor {
        m.abort();
    }
    if let Some(p) = &shared.settings().pid_file {
        let _ = std::fs::remove_file(p);
    }
    tracing::info!("Server Exiting..");
    exit
}

fn accept<S: crate::transport::Stream>(
    shared: &Arc<Shared>,
    conns: &mut tokio::task::JoinSet<()>,
    stream: S,
    addr: String,
) {
    let cid = shared.next_cid.fetch_add(1, Ordering::Relaxed);
    shared
        .stats
        .total_connections
        .fetch_add(1, Ordering::Relaxed);
    let settings = shared.settings();
    let live = shared.conns.lock().expect("conns lock").len();
    if live >= settings.max_connections {
        let shared = shared.clone();
        conns.spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut stream = stream;
            // nats-server sends INFO first, then the error.
            let mut out = super::client::info_line(&shared, &shared.settings(), cid);
            out.extend_from_slice(b"-ERR 'maximum connections exceeded'\r\n");
            let _ = stream.write_all(&out).await;
            let _ = stream.shutdown().await;
            shared.emit(Event::ClientClosed {
                cid,
                reason: CloseReason::MaxConnectionsExceeded,
            });
        });
        return;
    }
    match settings.tls.clone() {
        Some(tls) => conns.spawn(accept_tls(shared.clone(), stream, cid, addr, tls)),
        None => conns.spawn(super::client::run(
            shared.clone(),
            stream,
            cid,
            addr,
            Opening::now(shared),
        )),
    };
}

/// A client on a TLS port: INFO in plaintext (unless `handshake_first`), then the client's
/// handshake within `tls.timeout`, then the usual session over TLS. A handshake that fails
/// or does not finish in time closes the connection without an -ERR, as nats-server 2.9.10
/// does (its handshake deadline fires before the 'Secure Connection - TLS Required' timer).
async fn accept_tls<S: Stream>(
    shared: Arc<Shared>,
    mut stream: S,
    cid: Cid,
    addr: String,
    tls: crate::tls::Acceptor,
) {
    use tokio::io::AsyncWriteExt;
    let mut opening = Opening::now(&shared);
    let closed = |reason| {
        shared.emit(Event::ClientClosed { cid, reason });
    };
    if !tls.handshake_first() {
        let settings = shared.settings();
        let info = super::client::info_line(&shared, &settings, cid);
        let write = tokio::time::timeout(settings.write_deadline, stream.write_all(&info));
        if !matches!(write.await, Ok(Ok(()))) {
            return closed(CloseReason::WriteError);
        }
        opening.info_sent = true;
    }
    let mut shutdown = shared.shutdown.subscribe();
    let handshake = tokio::select! {
        biased;
        _ = shutdown.changed() => return closed(CloseReason::ServerShutdown),
        r = tls.accept(stream) => r,
    };
    match handshake {
        Ok(stream) => super::client::run(shared.clone(), stream, cid, addr, opening).await,
        Err(e) => {
            tracing::warn!("{addr} - cid:{cid} - {e}");
            closed(CloseReason::Other(e.to_string()));
        }
    }
}

/// Validate the whole new config, then apply it all or not at all. Returns whether it was
/// applied.
fn reload<T: Transport>(
    shared: &Arc<Shared>,
    old: &Config,
    new: &Config,
    leafs: &mut LeafControl<T>,
) -> bool {
    let fail = |error: String| {
        tracing::error!("Failed to reload server configuration: {error}");
        shared.emit(Event::ReloadFailed { error });
        false
    };
    // The shell's own part first (TLS files, auth tables): it can fail without anything
    // having changed. Then the control machine decides the rest and answers first.
    let settings = match Settings::from_config(new) {
        Ok(s) => Arc::new(s),
        Err(e) => return fail(e.to_string()),
    };
    let apply = || *shared.settings.write().expect("settings lock") = settings;
    if let Err(e) = leafs.reload(new, apply) {
        return fail(e);
    }
    super::presence::configure(shared, new);
    if old.pid_file != new.pid_file {
        // As nats-server does: the new file gets our pid, the old one goes.
        if let Some(p) = &old.pid_file {
            let _ = std::fs::remove_file(p);
        }
        if let Some(p) = &new.pid_file {
            if let Err(e) = std::fs::write(p, std::process::id().to_string()) {
                tracing::warn!("cannot write pid file {p}: {e}");
            }
        }
    }
    *shared.config_load_time.lock().expect("lock") = shared.now();
    tracing::info!("Reloaded server configuration");
    shared.emit(Event::ConfigReloaded);
    true
}

async fn accept_opt<L: Listener>(
    l: &mut Option<L>,
) -> std::io::Result<(L::Stream, std::net::SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// A server id in nats-server's style (56 upper-case base32-ish characters starting with
/// `N`), derived from the seed so simulator traces are reproducible.
fn server_id(seed: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut x = seed;
    let mut id = String::with_capacity(56);
    id.push('N');
    while id.len() < 56 {
        x = splitmix64(x);
        id.push(ALPHABET[(x % 32) as usize] as char);
    }
    id
}
