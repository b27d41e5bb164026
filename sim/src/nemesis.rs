//! The nemesis: applies faults to the world between two steps.
//!
//! Network faults go to turmoil (partition, hold, latency), process faults to turmoil's
//! host runtimes (crash, bounce) and server faults to the running incarnation's command
//! channel and gates. A fault that cannot be applied as asked (reload of a stopped server,
//! start of a running host) is still logged, with the reason, and the run goes on: what the
//! system does then is part of the scenario.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use rejoin::{Command, Gates};
use rejoin_core::config::Config;
use tokio::sync::mpsc::UnboundedSender;
use turmoil::Sim;

use crate::client::ClientCtl;
use crate::fault_plan::Action;
use crate::scenario::{HostKind, Network};

/// The nemesis's handle on a server host (shared with the host's software factory).
#[derive(Default)]
pub struct ServerCtl {
    /// Incarnation number of the current (or last) software.
    pub inc: u32,
    /// Commands to the current incarnation (`None` while stopped).
    pub commands: Option<UnboundedSender<Command>>,
    /// The current incarnation's gates.
    pub gates: Gates,
    /// Gates the nemesis closed and has not released: a new incarnation starts with them
    /// closed too.
    pub closed: BTreeSet<String>,
}

/// Everything the nemesis can act on.
pub struct Nemesis {
    /// Every host name, servers first.
    pub hosts: Vec<String>,
    /// Host kinds.
    pub kinds: BTreeMap<String, HostKind>,
    /// Server handles.
    pub servers: BTreeMap<String, Arc<Mutex<ServerCtl>>>,
    /// Client handles.
    pub clients: BTreeMap<String, Arc<ClientCtl>>,
    /// Parsed-on-demand named configs: name -> text.
    pub configs: BTreeMap<String, String>,
    /// The world's default link latency.
    pub network: Network,
}

/// Parses and validates config `text`, read as `file`, with every named config visible to
/// `include`.
pub fn parse_config(
    text: &str,
    file: &str,
    configs: &BTreeMap<String, String>,
) -> Result<Config, String> {
    let mut src = rejoin_core::conf::MemSource::new();
    for (name, t) in configs {
        src = src.with_file(format!("{name}.conf"), t.clone());
    }
    let cfg = Config::parse(text, file, &src).map_err(|e| e.to_string())?;
    cfg.validate().map_err(|e| format!("{file}: {e}"))?;
    Ok(cfg)
}

fn lock(ctl: &Mutex<ServerCtl>) -> std::sync::MutexGuard<'_, ServerCtl> {
    ctl.lock().unwrap_or_else(|p| p.into_inner())
}

impl Nemesis {
    fn others<'h>(&'h self, host: &'h str) -> impl Iterator<Item = &'h str> + 'h {
        self.hosts
            .iter()
            .map(String::as_str)
            .filter(move |h| *h != host)
    }

    fn server(&self, host: &str) -> Result<&Arc<Mutex<ServerCtl>>, String> {
        self.servers
            .get(host)
            .ok_or_else(|| format!("{host} is not a server"))
    }

    fn client(&self, host: &str) -> Result<&Arc<ClientCtl>, String> {
        self.clients
            .get(host)
            .ok_or_else(|| format!("{host} is not a client"))
    }

    fn command(&self, host: &str, cmd: Command) -> Result<(), String> {
        let ctl = self.server(host)?;
        let g = lock(ctl);
        match &g.commands {
            Some(tx) => tx.send(cmd).map_err(|_| format!("{host} is not running")),
            None => Err(format!("{host} is not running")),
        }
    }

    fn stopped(&self, host: &str) {
        if let Some(ctl) = self.servers.get(host) {
            lock(ctl).commands = None;
        }
    }

    /// Applies `action`; `Err` says why it could not be applied as asked.
    pub fn apply(&self, sim: &mut Sim<'_>, action: &Action) -> Result<(), String> {
        match action {
            Action::Partition { a, b } => sim.partition(a.as_str(), b.as_str()),
            Action::PartitionOneway { from, to } => {
                sim.partition_oneway(from.as_str(), to.as_str())
            }
            Action::Repair { a, b } => sim.repair(a.as_str(), b.as_str()),
            Action::RepairOneway { from, to } => sim.repair_oneway(from.as_str(), to.as_str()),
            Action::Hold { a, b } => sim.hold(a.as_str(), b.as_str()),
            Action::Unhold { a, b } => sim.release(a.as_str(), b.as_str()),
            Action::Isolate { host } => {
                for o in self.others(host) {
                    sim.partition(host.as_str(), o);
                }
            }
            Action::Heal { host } => {
                for o in self.others(host) {
                    sim.repair(host.as_str(), o);
                }
            }
            Action::Latency { a, b, latency } => match latency {
                Some(d) => sim.set_link_latency(a.as_str(), b.as_str(), d.0),
                None => {
                    // turmoil can only set both bounds at once or the upper one alone.
                    sim.set_link_latency(a.as_str(), b.as_str(), self.network.min_latency.0);
                    sim.set_link_max_message_latency(
                        a.as_str(),
                        b.as_str(),
                        self.network.max_latency.0,
                    );
                }
            },
            Action::Crash { host } => {
                if !sim.is_host_running(host.as_str()) {
                    return Err(format!("{host} is not running"));
                }
                sim.crash(host.as_str());
                self.stopped(host);
            }
            Action::SilentKill { host } => {
                for o in self.others(host) {
                    sim.partition(host.as_str(), o);
                }
                if sim.is_host_running(host.as_str()) {
                    sim.crash(host.as_str());
                }
                self.stopped(host);
            }
            Action::Start { host } => {
                if sim.is_host_running(host.as_str()) {
                    return Err(format!("{host} is already running"));
                }
                sim.bounce(host.as_str());
            }
            Action::Restart { host } => {
                // A bounce drops the old runtime (its sockets send FIN/RST) and starts anew.
                self.stopped(host);
                sim.bounce(host.as_str());
            }
            Action::Shutdown { host } => self.command(host, Command::Shutdown)?,
            Action::LameDuck { host } => self.command(host, Command::LameDuck)?,
            Action::Reload { host, config } => {
                let text = self
                    .configs
                    .get(config)
                    .ok_or_else(|| format!("no config {config:?}"))?;
                let cfg = parse_config(text, &format!("{config}.conf"), &self.configs)?;
                self.command(host, Command::Reload(Box::new(cfg)))?;
            }
            Action::Gate { host, gate } => {
                let ctl = self.server(host)?;
                let mut g = lock(ctl);
                g.closed.insert(gate.clone());
                g.gates.close(gate);
            }
            Action::Release { host, gate } => {
                let ctl = self.server(host)?;
                let mut g = lock(ctl);
                g.closed.remove(gate);
                g.gates.release(gate);
            }
            Action::ClientStop { client } => self.client(client)?.stop(),
            Action::Unresponsive { client } => self.client(client)?.set_unresponsive(true),
            Action::Responsive { client } => self.client(client)?.set_unresponsive(false),
        }
        Ok(())
    }
}
