//! Scenario files: the world, the workload, the fault timeline and the invariants of one
//! simulation, as human-written TOML (format reference: `docs/simulation.md`).
//!
//! Everything here is data; [`Scenario::load`] parses and validates it so that a run never
//! starts with a dangling host name, an unknown config, bug switch or invariant parameter.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rejoin_core::bugs::BugSwitch;
use serde::{Deserialize, Serialize};

use crate::duration::Dur;
use crate::fault_plan::{Action, RandomFaults, TimedFault};
use crate::invariant::InvariantSpec;

/// Names that cannot be hosts: they label the simulator's own trace lines.
pub const RESERVED_HOSTS: &[&str] = &["nemesis", "check", "world"];

/// A parsed, validated scenario.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name (defaults to the file stem).
    #[serde(default)]
    pub name: String,
    /// What the scenario reproduces and why it matters.
    #[serde(default)]
    pub description: String,
    /// Simulated time to run.
    pub duration: Dur,
    /// Simulated time per step (default 10ms).
    #[serde(default = "default_tick")]
    pub tick: Dur,
    /// The bug switch that must make this scenario fail (`check` runs it on every seed).
    #[serde(default)]
    pub negative_control: Option<String>,
    /// For random-fault scenarios: the share of seeds (`"30%"`) on which the negative
    /// control must fail, because a seed may draw no fault the bug matters for. Default:
    /// every seed.
    #[serde(default)]
    pub negative_control_fails: Option<String>,
    /// Bug switches always on in this scenario (normally empty; `--bug` adds one).
    #[serde(default)]
    pub bugs: Vec<String>,
    /// Link behaviour.
    #[serde(default)]
    pub network: Network,
    /// Named configs (text) for `reload SERVER NAME`; also visible to `include NAME.conf`.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
    /// Named configs read from files (paths relative to the scenario file).
    #[serde(default)]
    pub config_files: BTreeMap<String, PathBuf>,
    /// rejoin servers.
    #[serde(default, rename = "server")]
    pub servers: Vec<ServerSpec>,
    /// Simulated NATS clients.
    #[serde(default, rename = "client")]
    pub clients: Vec<ClientSpec>,
    /// The fixed fault timeline.
    #[serde(default, rename = "fault")]
    pub faults: Vec<TimedFault>,
    /// Faults drawn from a menu by the seed.
    #[serde(default)]
    pub random_faults: Option<RandomFaults>,
    /// What must hold.
    #[serde(default, rename = "invariant")]
    pub invariants: Vec<InvariantSpec>,
    /// Where the scenario was read from (for resolving `config_file`s; not in the file).
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

fn default_tick() -> Dur {
    Dur(Duration::from_millis(10))
}

/// Link behaviour: every message's latency is drawn from `[min_latency, max_latency]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Lowest one-way latency (default 1ms).
    #[serde(default = "default_min_latency")]
    pub min_latency: Dur,
    /// Highest one-way latency (default 5ms).
    #[serde(default = "default_max_latency")]
    pub max_latency: Dur,
}

fn default_min_latency() -> Dur {
    Dur(Duration::from_millis(1))
}

fn default_max_latency() -> Dur {
    Dur(Duration::from_millis(5))
}

impl Default for Network {
    fn default() -> Self {
        Network {
            min_latency: default_min_latency(),
            max_latency: default_max_latency(),
        }
    }
}

/// A rejoin server host.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// Host name (turmoil resolves it; clients dial `NAME:PORT`).
    pub name: String,
    /// Config text (NATS conf format).
    #[serde(default)]
    pub config: Option<String>,
    /// Or: a config file, relative to the scenario file.
    #[serde(default)]
    pub config_file: Option<PathBuf>,
    /// Start the host at this time instead of at 0 (it is down until then).
    #[serde(default)]
    pub start: Option<Dur>,
}

/// A simulated NATS client host.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Host name; also the CONNECT `name`.
    pub name: String,
    /// Servers to dial, `HOST:PORT`, rotated through on reconnect.
    pub servers: Vec<String>,
    /// CONNECT credentials.
    #[serde(default)]
    pub user: Option<String>,
    /// CONNECT credentials.
    #[serde(default)]
    pub password: Option<String>,
    /// CONNECT credentials.
    #[serde(default)]
    pub token: Option<String>,
    /// Client-side PING interval to detect a dead server (default 2s).
    #[serde(default = "default_client_ping")]
    pub ping_interval: Dur,
    /// Unanswered client PINGs before the client gives up on a connection (default 2).
    #[serde(default = "default_pings_out")]
    pub max_pings_out: u32,
    /// Wait between reconnect attempts (default 250ms), plus jitter.
    #[serde(default = "default_reconnect_wait")]
    pub reconnect_wait: Dur,
    /// Uniform random extra wait per attempt, `[0, reconnect_jitter)` (default 100ms).
    #[serde(default = "default_reconnect_jitter")]
    pub reconnect_jitter: Dur,
    /// Dial + INFO + handshake PONG must complete within this (default 2s).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Dur,
    /// When the client first dials (default 0).
    #[serde(default)]
    pub start: Dur,
    /// Start without answering server PINGs.
    #[serde(default)]
    pub unresponsive: bool,
    /// Subjects to subscribe to (re-sent on every reconnect).
    #[serde(default)]
    pub subscribe: Vec<String>,
    /// Queue subscriptions: `{ subject, queue }`.
    #[serde(default)]
    pub queue_subscribe: Vec<QueueSub>,
    /// Publishing workloads.
    #[serde(default)]
    pub publish: Vec<PublishSpec>,
    /// Request workloads (request/reply with an inbox).
    #[serde(default)]
    pub request: Vec<PublishSpec>,
    /// Subjects this client answers requests on (echoes the payload).
    #[serde(default)]
    pub reply: Vec<String>,
}

fn default_client_ping() -> Dur {
    Dur(Duration::from_secs(2))
}
fn default_pings_out() -> u32 {
    2
}
fn default_reconnect_wait() -> Dur {
    Dur(Duration::from_millis(250))
}
fn default_reconnect_jitter() -> Dur {
    Dur(Duration::from_millis(100))
}
fn default_connect_timeout() -> Dur {
    Dur(Duration::from_secs(2))
}

/// A queue subscription.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSub {
    /// Subject.
    pub subject: String,
    /// Queue group.
    pub queue: String,
}

/// Publish (or request) `count` messages on `subject`, one every `every`, from `start`.
/// Payloads are `CLIENT:SEQ` (SEQ from 1), so receivers can tell publisher and order.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishSpec {
    /// Subject.
    pub subject: String,
    /// Interval between messages.
    pub every: Dur,
    /// How many (0: until the end of the run).
    #[serde(default)]
    pub count: u64,
    /// First message at this world time (default: at once).
    #[serde(default)]
    pub start: Dur,
    /// Requests only: how long to wait for a reply (default 1s).
    #[serde(default = "default_request_timeout")]
    pub timeout: Dur,
}

fn default_request_timeout() -> Dur {
    Dur(Duration::from_secs(1))
}

/// Error loading a scenario.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The TOML does not match the format.
    #[error("{path}: {message}")]
    Format {
        /// Path.
        path: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// The scenario is well-formed but inconsistent.
    #[error("{path}: {message}")]
    Invalid {
        /// Path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Which kind of host a name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKind {
    /// A rejoin server.
    Server,
    /// A simulated client.
    Client,
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut s = Scenario::parse(&text, &path.display().to_string())?;
        s.path = Some(path.to_path_buf());
        if s.name.is_empty() {
            s.name = path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
        s.read_config_files()?;
        s.validate().map_err(|message| ScenarioError::Invalid {
            path: path.display().to_string(),
            message,
        })?;
        Ok(s)
    }

    /// Parses scenario TOML (config files are not read; see [`Scenario::load`]).
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        toml::from_str(text).map_err(|e| ScenarioError::Format {
            path: origin.to_string(),
            message: e.to_string(),
        })
    }

    /// Parses and validates scenario text that names no config files (tests, tools).
    pub fn from_text(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let s = Scenario::parse(text, origin)?;
        s.validate().map_err(|message| ScenarioError::Invalid {
            path: origin.to_string(),
            message,
        })?;
        Ok(s)
    }

    fn read_config_files(&mut self) -> Result<(), ScenarioError> {
        let base = self
            .path
            .as_deref()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."));
        let read = |p: &Path| {
            let full = base.join(p);
            std::fs::read_to_string(&full).map_err(|source| ScenarioError::Read {
                path: full.display().to_string(),
                source,
            })
        };
        for (name, p) in std::mem::take(&mut self.config_files) {
            let text = read(&p)?;
            self.configs.insert(name, text);
        }
        for s in &mut self.servers {
            if let Some(p) = s.config_file.take() {
                s.config = Some(read(&p)?);
            }
        }
        Ok(())
    }

    /// The kind of host `name`, if it is one.
    pub fn host_kind(&self, name: &str) -> Option<HostKind> {
        if self.servers.iter().any(|s| s.name == name) {
            Some(HostKind::Server)
        } else if self.clients.iter().any(|c| c.name == name) {
            Some(HostKind::Client)
        } else {
            None
        }
    }

    /// Every host name: servers first, then clients, in file order.
    pub fn host_names(&self) -> Vec<String> {
        self.servers
            .iter()
            .map(|s| s.name.clone())
            .chain(self.clients.iter().map(|c| c.name.clone()))
            .collect()
    }

    /// The bug switches this scenario always runs with.
    pub fn bug_switches(&self) -> Result<Vec<BugSwitch>, String> {
        self.bugs
            .iter()
            .map(|b| b.parse::<BugSwitch>().map_err(|e| e.to_string()))
            .collect()
    }

    /// The negative-control switch, if declared.
    pub fn negative_control(&self) -> Result<Option<BugSwitch>, String> {
        self.negative_control
            .as_deref()
            .map(|b| b.parse::<BugSwitch>().map_err(|e| e.to_string()))
            .transpose()
    }

    /// The share of seeds (0 < share <= 1) on which the negative control must fail.
    pub fn negative_control_share(&self) -> Result<f64, String> {
        let Some(text) = self.negative_control_fails.as_deref() else {
            return Ok(1.0);
        };
        if self.negative_control.is_none() {
            return Err("negative_control_fails needs a negative_control".into());
        }
        let pct: f64 = text
            .trim()
            .strip_suffix('%')
            .and_then(|n| n.trim().parse().ok())
            .filter(|p: &f64| *p > 0.0 && *p <= 100.0)
            .ok_or_else(|| {
                format!("negative_control_fails {text:?} must be a percentage in (0%, 100%]")
            })?;
        Ok(pct / 100.0)
    }

    /// The time a fault label (`id`) refers to.
    pub fn fault_time(&self, id: &str) -> Option<Duration> {
        self.faults
            .iter()
            .find(|f| f.id.as_deref() == Some(id))
            .map(|f| f.at.0)
    }

    /// Checks references and bounds; the message names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let tick = self.tick.0;
        if tick < Duration::from_millis(1) || tick > Duration::from_secs(1) {
            return Err(format!("tick {} must be between 1ms and 1s", self.tick));
        }
        if self.duration.0 < tick {
            return Err("duration must be at least one tick".into());
        }
        if self.network.min_latency > self.network.max_latency {
            return Err("network.min_latency is above network.max_latency".into());
        }
        self.bug_switches()?;
        self.negative_control()?;
        self.negative_control_share()?;

        let mut seen = BTreeSet::new();
        for name in self.host_names() {
            if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == ':' || c == '|')
            {
                return Err(format!("bad host name {name:?}"));
            }
            if RESERVED_HOSTS.contains(&name.as_str()) {
                return Err(format!("host name {name:?} is reserved"));
            }
            if !seen.insert(name.clone()) {
                return Err(format!("host name {name:?} is used twice"));
            }
        }
        for s in &self.servers {
            if s.config.is_none() {
                return Err(format!(
                    "server {}: needs `config` or `config_file`",
                    s.name
                ));
            }
            if s.start.is_some_and(|t| t.0 >= self.duration.0) {
                return Err(format!(
                    "server {}: starts after the end of the run",
                    s.name
                ));
            }
        }
        for c in &self.clients {
            if c.servers.is_empty() {
                return Err(format!("client {}: `servers` is empty", c.name));
            }
            for addr in &c.servers {
                let (host, port) = addr.rsplit_once(':').ok_or_else(|| {
                    format!("client {}: server {addr:?} is not HOST:PORT", c.name)
                })?;
                if port.parse::<u16>().is_err() || self.host_kind(host) != Some(HostKind::Server) {
                    return Err(format!(
                        "client {}: {addr:?} does not name a server HOST:PORT",
                        c.name
                    ));
                }
            }
            if c.max_pings_out == 0 || c.ping_interval.0.is_zero() {
                return Err(format!(
                    "client {}: ping_interval and max_pings_out must be > 0",
                    c.name
                ));
            }
            for p in c.publish.iter().chain(&c.request) {
                if p.every.0.is_zero() {
                    return Err(format!("client {}: publish `every` must be > 0", c.name));
                }
            }
        }

        let mut ids = BTreeSet::new();
        for f in &self.faults {
            self.validate_action(&f.action)?;
            if f.at.0 > self.duration.0 {
                return Err(format!(
                    "fault `{}` at {} is after the end of the run",
                    f.action, f.at
                ));
            }
            if let Some(id) = &f.id {
                if !ids.insert(id.clone()) {
                    return Err(format!("fault id {id:?} is used twice"));
                }
            }
        }
        if let Some(rf) = &self.random_faults {
            if rf.count[0] > rf.count[1] || rf.window[0] > rf.window[1] {
                return Err("random_faults: count and window must be [min, max]".into());
            }
            if rf.menu.is_empty() && rf.count[1] > 0 {
                return Err("random_faults: the menu is empty".into());
            }
            for item in &rf.menu {
                for h in item.hosts() {
                    if self.host_kind(&h).is_none() {
                        return Err(format!("random_faults: `{item}` names unknown host {h:?}"));
                    }
                }
                for c in item.configs() {
                    if !self.configs.contains_key(&c) {
                        return Err(format!(
                            "random_faults: `{item}` names unknown config {c:?}"
                        ));
                    }
                }
                let last = rf.window[1].0 + item.max_hold();
                if last > self.duration.0 {
                    return Err(format!(
                        "random_faults: `{item}` can end at {}, after the end of the run",
                        Dur(last)
                    ));
                }
            }
        }
        for inv in &self.invariants {
            inv.validate(self)?;
        }
        Ok(())
    }

    fn validate_action(&self, a: &Action) -> Result<(), String> {
        for h in a.hosts() {
            if self.host_kind(h).is_none() {
                return Err(format!("fault `{a}` names unknown host {h:?}"));
            }
        }
        let need = |kind: HostKind, host: &str| {
            if self.host_kind(host) == Some(kind) {
                Ok(())
            } else {
                Err(format!(
                    "fault `{a}`: {host} is not a {}",
                    if kind == HostKind::Server {
                        "server"
                    } else {
                        "client"
                    }
                ))
            }
        };
        match a {
            Action::Shutdown { host }
            | Action::LameDuck { host }
            | Action::Gate { host, .. }
            | Action::Release { host, .. } => need(HostKind::Server, host),
            Action::Reload { host, config } => {
                need(HostKind::Server, host)?;
                if self.configs.contains_key(config) {
                    Ok(())
                } else {
                    Err(format!(
                        "fault `{a}`: no config named {config:?} in [configs]"
                    ))
                }
            }
            Action::ClientStop { client }
            | Action::Unresponsive { client }
            | Action::Responsive { client } => need(HostKind::Client, client),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        duration = "10s"
        [[server]]
        name = "s1"
        config = "port: 4222"
        [[client]]
        name = "c1"
        servers = ["s1:4222"]
        subscribe = ["a.>"]
        [[client.publish]]
        subject = "a.b"
        every = "100ms"
        [[fault]]
        at = "2s"
        do = "restart s1"
        id = "bounce"
    "#;

    #[test]
    fn minimal_scenario_parses_with_defaults() {
        let s = Scenario::from_text(MINIMAL, "t").unwrap();
        assert_eq!(s.tick.0, Duration::from_millis(10));
        assert_eq!(s.clients[0].ping_interval.0, Duration::from_secs(2));
        assert_eq!(s.fault_time("bounce"), Some(Duration::from_secs(2)));
        assert_eq!(s.host_kind("c1"), Some(HostKind::Client));
    }

    #[test]
    fn dangling_references_are_errors() {
        let bad = MINIMAL.replace("restart s1", "restart s9");
        let e = Scenario::from_text(&bad, "t").unwrap_err().to_string();
        assert!(e.contains("unknown host \"s9\""), "{e}");
        let bad = MINIMAL.replace("restart s1", "reload s1 nope");
        let e = Scenario::from_text(&bad, "t").unwrap_err().to_string();
        assert!(e.contains("no config named"), "{e}");
        let bad = MINIMAL.replace("[\"s1:4222\"]", "[\"c1:4222\"]");
        assert!(Scenario::from_text(&bad, "t").is_err());
        let bad = MINIMAL.replace(
            "duration = \"10s\"",
            "duration = \"10s\"\nnegative_control = \"nope\"",
        );
        assert!(Scenario::from_text(&bad, "t").is_err());
        let bad = MINIMAL.replace("every = \"100ms\"", "every = \"100ms\"\nbogus = 1");
        let e = Scenario::from_text(&bad, "t").unwrap_err().to_string();
        assert!(e.contains("bogus"), "{e}");
    }
}
