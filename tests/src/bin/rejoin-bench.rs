//! `rejoin-bench`: the same loads against rejoin and nats-server, side by side.
//!
//! ```text
//! cargo build --release -p rejoin
//! cargo run --release -p rejoin-tests --bin rejoin-bench [-- --quick] [-- --only rejoin]
//! ```
//!
//! rejoin is `REJOIN_BIN` or `<target>/release/rejoin`; nats-server is `/usr/sbin/nats-server`
//! when present. See `rejoin_tests::bench` for how each load is generated.

use std::process::ExitCode;

use rejoin_tests::bench::{
    binary_version, host_description, render, request, rss, throughput, Cell, Row, BENCH_CONF,
};
use rejoin_tests::server::Profile;
use rejoin_tests::{ServerKind, TestServer};

const USAGE: &str = "\
usage: rejoin-bench [--quick] [--only rejoin|nats-server] [--msgs N] [--requests N] [--conns N]

  --quick          small counts, for a smoke run
  --only KIND      run against one server only
  --msgs N         messages published per throughput row (default 2000000)
  --requests N     requests in the request/reply row (default 100000)
  --conns N        idle connections for the memory row (default 2000)
";

#[derive(Debug, Clone)]
struct Options {
    kinds: Vec<ServerKind>,
    messages: u64,
    requests: usize,
    connections: usize,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        kinds: vec![ServerKind::Rejoin, ServerKind::NatsServer],
        messages: 2_000_000,
        requests: 100_000,
        connections: 2_000,
    };
    let mut only = None;
    let mut args = std::env::args().skip(1);
    let number = |flag: &str, value: Option<String>| -> Result<u64, String> {
        value
            .and_then(|v| v.replace('_', "").parse().ok())
            .ok_or_else(|| format!("{flag} needs a number"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => {
                options.messages = 100_000;
                options.requests = 5_000;
            }
            "--only" => {
                only = Some(match args.next().as_deref() {
                    Some("rejoin") => ServerKind::Rejoin,
                    Some("nats-server") => ServerKind::NatsServer,
                    other => return Err(format!("--only rejoin|nats-server, got {other:?}")),
                })
            }
            "--msgs" => options.messages = number("--msgs", args.next())?.max(1),
            "--requests" => options.requests = number("--requests", args.next())?.max(16) as usize,
            "--conns" => options.connections = number("--conns", args.next())?.max(1) as usize,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if let Some(kind) = only {
        options.kinds = vec![kind];
    }
    Ok(options)
}

/// A load to run against a freshly started server.
#[derive(Debug, Clone, Copy)]
enum Load {
    Throughput(throughput::Shape),
    RequestRate,
    RequestP50,
    RequestP99,
    IdleConnectionRss,
}

const REQUESTERS: usize = 16;

fn rows(options: &Options) -> Vec<(String, &'static str, bool, Load)> {
    let shape = |publishers, subscribers, queue, payload| {
        Load::Throughput(throughput::Shape {
            publishers,
            subscribers,
            queue,
            payload,
            messages: options.messages,
        })
    };
    vec![
        ("pub→sub 16 B".into(), "msg/s", true, shape(1, 1, false, 16)),
        (
            "pub→sub 1 KiB".into(),
            "msg/s",
            true,
            shape(1, 1, false, 1024),
        ),
        (
            "fan-out 1→4 16 B".into(),
            "deliveries/s",
            true,
            shape(1, 4, false, 16),
        ),
        (
            "fan-in 4→1 16 B".into(),
            "msg/s",
            true,
            shape(4, 1, false, 16),
        ),
        (
            "queue 1→4 16 B".into(),
            "msg/s",
            true,
            shape(1, 4, true, 16),
        ),
        (
            format!("request/reply ×{REQUESTERS}"),
            "req/s",
            true,
            Load::RequestRate,
        ),
        (
            format!("request/reply ×{REQUESTERS} p50"),
            "µs",
            false,
            Load::RequestP50,
        ),
        (
            format!("request/reply ×{REQUESTERS} p99"),
            "µs",
            false,
            Load::RequestP99,
        ),
        (
            format!("RSS per idle connection @{}", options.connections),
            "bytes",
            false,
            Load::IdleConnectionRss,
        ),
    ]
}

fn start(kind: ServerKind) -> Result<TestServer, String> {
    TestServer::builder(BENCH_CONF)
        .kind(kind)
        .profile(Profile::Release)
        .try_start()
}

/// Measurements against one server kind. Request/reply runs once and fills the three request
/// rows.
struct Contender {
    kind: ServerKind,
    request_stats: Option<Result<request::RequestStats, String>>,
}

impl Contender {
    fn new(kind: ServerKind) -> Contender {
        Contender {
            kind,
            request_stats: None,
        }
    }

    fn measure(&mut self, load: Load, options: &Options) -> Cell {
        let kind = self.kind;
        eprint!("  {} {} ... ", kind.name(), load_name(&load));
        let cell = match load {
            Load::Throughput(shape) => match start(kind) {
                Ok(server) => to_cell(throughput::run(server.addr(), shape)),
                Err(e) => Cell::Failed(e),
            },
            Load::RequestRate | Load::RequestP50 | Load::RequestP99 => {
                let stats = self.request_stats.get_or_insert_with(|| {
                    start(kind).and_then(|server| {
                        request::run(&server.url(), REQUESTERS, options.requests)
                    })
                });
                match stats {
                    Ok(s) => Cell::Value(match load {
                        Load::RequestRate => s.per_second,
                        Load::RequestP50 => s.p50.as_secs_f64() * 1e6,
                        _ => s.p99.as_secs_f64() * 1e6,
                    }),
                    Err(e) => Cell::Failed(e.clone()),
                }
            }
            Load::IdleConnectionRss => match start(kind) {
                Ok(server) => to_cell(
                    rss::run(server.addr(), server.pid(), options.connections)
                        .map(|(stats, _conns)| stats.per_connection()),
                ),
                Err(e) => Cell::Failed(e),
            },
        };
        eprintln!(
            "{}",
            match &cell {
                Cell::Value(v) => format!("{v:.1}"),
                Cell::Failed(why) => format!("FAILED: {why}"),
                Cell::NotRun => "-".into(),
            }
        );
        cell
    }
}

fn load_name(load: &Load) -> String {
    match *load {
        Load::Throughput(s) => format!(
            "{}→{}{} {} B x {}",
            s.publishers,
            s.subscribers,
            if s.queue { " queue" } else { "" },
            s.payload,
            s.messages
        ),
        Load::RequestRate | Load::RequestP50 | Load::RequestP99 => "request/reply".into(),
        Load::IdleConnectionRss => "idle connections".into(),
    }
}

fn to_cell(result: Result<f64, String>) -> Cell {
    match result {
        Ok(v) => Cell::Value(v),
        Err(e) => Cell::Failed(e),
    }
}

fn main() -> ExitCode {
    let mut options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("rejoin-bench: {e}");
            }
            eprint!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };

    let mut header = vec![host_description()];
    let mut kept = Vec::new();
    for kind in options.kinds.clone() {
        match kind.binary(Profile::Release) {
            Ok(bin) => {
                header.push(format!(
                    "{}: {} ({})",
                    kind.name(),
                    bin.display(),
                    binary_version(&bin)
                ));
                kept.push(kind);
            }
            Err(e) if kind == ServerKind::NatsServer && options.kinds.len() > 1 => {
                header.push(format!("nats-server: skipped ({e})"));
            }
            Err(e) => {
                eprintln!("rejoin-bench: {e}");
                return ExitCode::from(2);
            }
        }
    }
    options.kinds = kept;
    header.push(format!(
        "loads: {} msgs per throughput row, {} requests over {REQUESTERS} requesters, {} idle \
         connections; config: {}",
        options.messages,
        options.requests,
        options.connections,
        BENCH_CONF.trim().replace('\n', ", ")
    ));
    header.push(
        "note: load generators (one thread per connection), the server and the subscribers all \
         share this machine's cores; with 2 cores the numbers compare the two servers under the \
         same contention and are not absolute capacity figures."
            .into(),
    );
    let header = header.join("\n");
    println!("{header}\n");

    let specs = rows(&options);
    // Rows outer, servers inner: the two servers run each load back to back, so drift in the
    // machine's background load (other builds on a shared box) hits both alike.
    let mut contenders: Vec<Contender> = options.kinds.iter().map(|k| Contender::new(*k)).collect();
    let mut table = Vec::new();
    for (label, unit, higher, load) in &specs {
        let mut row = Row {
            label: label.clone(),
            unit,
            higher_is_better: *higher,
            rejoin: Cell::NotRun,
            nats: Cell::NotRun,
        };
        for contender in contenders.iter_mut() {
            let cell = contender.measure(*load, &options);
            match contender.kind {
                ServerKind::Rejoin => row.rejoin = cell,
                ServerKind::NatsServer => row.nats = cell,
            }
        }
        table.push(row);
    }
    println!("{}", render(&table));
    let failed = table
        .iter()
        .any(|r| matches!(r.rejoin, Cell::Failed(_)) || matches!(r.nats, Cell::Failed(_)));
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
