//! The `rejoin` binary: command line, config file, signals, logging. Everything else is in
//! the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use rejoin::{Command, Env, Exit, Gates, NoEvents, TokioTransport};
use rejoin_core::config::Config;

/// Exit code when a backbone remote exhausted `max_reconnect_attempts` (documented in
/// docs/operations.md).
const EXIT_BACKBONE_GAVE_UP: u8 = 3;

/// rejoin: a NATS-protocol edge messaging server.
#[derive(Parser, Debug)]
#[command(name = "rejoin", version, about, disable_version_flag = true)]
struct Cli {
    /// Print the version and exit (`-v`, as nats-server).
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    version: Option<bool>,
    /// Configuration file (NATS conf format).
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// Client port (overrides the config file).
    #[arg(short = 'p', long = "port")]
    port: Option<u16>,
    /// Client listen host (overrides the config file).
    #[arg(short = 'a', long = "addr", alias = "net")]
    addr: Option<String>,
    /// HTTP monitoring port (overrides the config file).
    #[arg(short = 'm', long = "http_port")]
    http_port: Option<u16>,
    /// Check the configuration file and exit.
    #[arg(short = 't')]
    check: bool,
    /// Send a signal to a running server: `reload[=<pid|pidfile>]`, `stop`, `quit`, `ldm`.
    #[arg(long = "signal", value_name = "SIGNAL[=PID]")]
    signal: Option<String>,
    /// Enable debug logging.
    #[arg(short = 'D', long = "debug")]
    debug: bool,
    /// Enable protocol tracing.
    #[arg(short = 'V', long = "trace")]
    trace: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rejoin: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    if let Some(sig) = &cli.signal {
        return send_signal(sig, cli.config.as_deref());
    }
    let config = load(&cli)?;
    if cli.check {
        let name = cli
            .config
            .as_deref()
            .map_or("<defaults>".into(), |p| p.display().to_string());
        println!("rejoin: configuration file {name} is valid");
        return Ok(ExitCode::SUCCESS);
    }
    init_logging(&cli, &config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let exit = runtime.block_on(async move {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let seed = config.seed.unwrap_or_else(seed_from_os);
        let env = Env {
            seed,
            events: Arc::new(NoEvents),
            gates: Gates::new(),
            bugs: Default::default(),
            commands: rx,
        };
        tokio::spawn(signals(tx, cli));
        rejoin::serve(config, TokioTransport, env).await
    });
    Ok(match exit {
        Exit::Shutdown => ExitCode::SUCCESS,
        Exit::BackboneGaveUp => ExitCode::from(EXIT_BACKBONE_GAVE_UP),
        Exit::StartupFailed(e) => {
            eprintln!("rejoin: {e}");
            ExitCode::from(1)
        }
    })
}

/// Read and validate the config file (or the defaults) and apply command-line overrides.
fn load(cli: &Cli) -> Result<Config> {
    let mut config = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            Config::parse(
                &text,
                &path.display().to_string(),
                &rejoin::conf_source::FsSource::new(path),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?
        }
        None => Config::default(),
    };
    // Flags override the file; `listen` in the file wins over host/port, so patch it in place.
    if let Some(p) = cli.port {
        match &mut config.listen {
            Some(l) => l.port = p,
            None => config.port = p,
        }
    }
    if let Some(a) = &cli.addr {
        match &mut config.listen {
            Some(l) => l.host = Some(a.clone()),
            None => config.host = a.clone(),
        }
    }
    if let Some(p) = cli.http_port {
        config.http_port = Some(p);
        config.http = None;
    }
    config.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    rejoin::tls::check_files(&config).map_err(|(path, e)| anyhow::anyhow!("{path}: {e}"))?;
    Ok(config)
}

fn init_logging(cli: &Cli, config: &Config) {
    let level = if cli.trace || config.trace {
        "trace"
    } else if cli.debug || config.debug {
        "debug"
    } else {
        "info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("REJOIN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn seed_from_os() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// Turn process signals into commands: SIGHUP reload, SIGTERM/SIGINT stop, SIGUSR2 lame duck.
async fn signals(tx: tokio::sync::mpsc::UnboundedSender<Command>, cli: Cli) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut hup), Ok(mut term), Ok(mut int), Ok(mut usr2)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::user_defined2()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            biased;
            _ = term.recv() => { let _ = tx.send(Command::Shutdown); }
            _ = int.recv() => { let _ = tx.send(Command::Shutdown); }
            _ = usr2.recv() => { let _ = tx.send(Command::LameDuck); }
            _ = hup.recv() => match load(&cli) {
                Ok(cfg) => { let _ = tx.send(Command::Reload(Box::new(cfg))); }
                Err(e) => tracing::error!("Failed to reload server configuration: {e:#}"),
            },
        }
    }
}

/// `--signal reload[=<pid|pidfile>]` and friends, like `nats-server --signal`.
fn send_signal(spec: &str, config: Option<&Path>) -> Result<ExitCode> {
    let (name, target) = spec
        .split_once('=')
        .map_or((spec, None), |(n, t)| (n, Some(t)));
    let sig = match name {
        "reload" => "HUP",
        "stop" | "term" => "TERM",
        "quit" => "INT",
        "ldm" => "USR2",
        other => {
            anyhow::bail!("unknown signal {other:?} (expected reload, stop, quit, term or ldm)")
        }
    };
    let pid = match target {
        Some(t) if t.chars().all(|c| c.is_ascii_digit()) => t.to_string(),
        Some(file) => {
            std::fs::read_to_string(file).with_context(|| format!("cannot read pid file {file}"))?
        }
        None => {
            let from_conf = config
                .map(|p| load(&Cli::parse_from(["rejoin", "-c", &p.display().to_string()])))
                .transpose()?
                .and_then(|c| c.pid_file.clone());
            match from_conf {
                Some(file) => std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read pid file {file}"))?,
                None => find_single_pid()?,
            }
        }
    };
    let status = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.trim())
        .status()?;
    anyhow::ensure!(status.success(), "kill -{sig} {} failed", pid.trim());
    Ok(ExitCode::SUCCESS)
}

/// Like nats-server: without a pid, signal the one running `rejoin` process, and refuse when
/// there are several.
fn find_single_pid() -> Result<String> {
    let me = std::process::id().to_string();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let pid = entry.file_name().to_string_lossy().to_string();
        if !pid.chars().all(|c| c.is_ascii_digit()) || pid == me {
            continue;
        }
        if let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) {
            if comm.trim() == "rejoin" {
                pids.push(pid);
            }
        }
    }
    match pids.len() {
        0 => anyhow::bail!("no rejoin process running"),
        1 => Ok(pids.remove(0)),
        _ => anyhow::bail!("multiple rejoin processes running: {}", pids.join(", ")),
    }
}
