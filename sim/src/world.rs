//! A world: one turmoil `Sim` with the scenario's servers and clients, stepped tick by tick
//! with the nemesis applying the fault plan between steps and the invariants reading the
//! log after every step.
//!
//! Determinism: the epoch is fixed, turmoil's RNG and every other RNG derive from the seed
//! (see [`crate::seed`]), hosts are registered in file order, records logged during a step
//! are ordered by time (ties keep their host order), and no hash map reaches the trace.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, UNIX_EPOCH};

use rejoin::{Env, EventSink, Gates};
use rejoin_core::bugs::{BugSet, BugSwitch};
use rejoin_core::event::Event;
use rejoin_core::time::Instant;

use crate::client::{self, ClientCtl};
use crate::fault_plan::FaultPlan;
use crate::invariant::{Ctx, Invariant, NoHostFailure};
use crate::nemesis::{parse_config, Nemesis, ServerCtl};
use crate::scenario::{HostKind, Scenario};
use crate::seed::derive;
use crate::trace::{Body, HostEvent, Inbox, Record, Trace};
use crate::transport::SimTransport;

/// The world's fixed epoch (2023-11-14T22:13:20Z): turmoil's clock never reads the host's.
pub const EPOCH_SECS: u64 = 1_700_000_000;

/// How one run is set up beyond the scenario.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The seed.
    pub seed: u64,
    /// Bug switches on top of the scenario's own.
    pub bugs: Vec<BugSwitch>,
    /// Keep trace lines (for `--trace`/`--html`); the hash is computed either way.
    pub keep_trace: bool,
    /// Run this plan instead of the seed's (shrinking).
    pub plan: Option<FaultPlan>,
}

/// The detail of a verdict that was never evaluated because an "always" invariant failed
/// first and the run stopped (it counts as passing; printed as `skip`).
pub const NOT_EVALUATED: &str = "not evaluated: the run stopped at a violation";

/// One invariant's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The invariant with its parameters.
    pub invariant: String,
    /// Held?
    pub pass: bool,
    /// Why not, or a short note.
    pub detail: String,
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// The seed.
    pub seed: u64,
    /// The bug switches that were on.
    pub bugs: Vec<BugSwitch>,
    /// The plan that ran.
    pub plan: FaultPlan,
    /// Every invariant's verdict.
    pub verdicts: Vec<Verdict>,
    /// The trace (hash always; lines if kept).
    pub trace: Trace,
    /// World time at the end (earlier than the scenario's duration if an "always"
    /// invariant failed).
    pub end: Duration,
    /// Steps taken.
    pub steps: u64,
}

impl RunOutcome {
    /// Whether every invariant held.
    pub fn pass(&self) -> bool {
        self.verdicts.iter().all(|v| v.pass)
    }
}

/// The seed's fault plan: the fixed timeline plus, in random-faults mode, the drawn faults.
pub fn plan_for(s: &Scenario, seed: u64) -> Result<FaultPlan, String> {
    let mut faults = s.faults.clone();
    if let Some(rf) = &s.random_faults {
        let tree = rf.tree(seed)?;
        faults.extend(rf.faults(&tree.current()));
    }
    Ok(FaultPlan::new(faults))
}

/// Forwards a server incarnation's events into the world's log.
struct HostSink {
    host: String,
    inc: u32,
    inbox: Inbox,
}

impl EventSink for HostSink {
    fn event(&self, _at: Instant, event: &Event) {
        self.inbox.push(
            &self.host,
            Body::Server {
                inc: self.inc,
                event: event.clone(),
            },
        );
    }
}

thread_local! {
    /// Panics raised on this thread while a world runs (every host of a world runs on the
    /// thread that steps it). A panic in a spawned task only shuts its host's runtime
    /// down, which turmoil reports as a clean stop: this is how it becomes a finding.
    static PANICS: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let captured = PANICS.with(|p| {
                let mut p = p.borrow_mut();
                match p.as_mut() {
                    Some(v) => {
                        let at = info
                            .location()
                            .map(|l| format!(" at {}:{}", l.file(), l.line()))
                            .unwrap_or_default();
                        let msg = info
                            .payload()
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| info.payload().downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "panic".into());
                        v.push(format!("panic: {msg}{at}"));
                        true
                    }
                    None => false,
                }
            });
            if !captured {
                default(info);
            }
        }));
    });
}

/// Runs `scenario` once.
pub fn run(scenario: &Scenario, opts: &RunOptions) -> Result<RunOutcome, String> {
    install_panic_hook();
    PANICS.with(|p| *p.borrow_mut() = Some(Vec::new()));
    let out = run_world(scenario, opts);
    PANICS.with(|p| *p.borrow_mut() = None);
    out
}

fn run_world(s: &Scenario, opts: &RunOptions) -> Result<RunOutcome, String> {
    let seed = opts.seed;
    let plan = match &opts.plan {
        Some(p) => p.clone(),
        None => plan_for(s, seed)?,
    };
    let mut bugs = s.bug_switches()?;
    for b in &opts.bugs {
        if !bugs.contains(b) {
            bugs.push(*b);
        }
    }
    let bug_set = bugs.iter().fold(BugSet::NONE, |set, b| set.with(*b));
    let tick = s.tick.0;
    let duration = s.duration.0;

    let mut sim = turmoil::Builder::new()
        .epoch(UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
        .rng_seed(derive(seed, "network"))
        .tick_duration(tick)
        .simulation_duration(duration + Duration::from_secs(3600))
        .min_message_latency(s.network.min_latency.0)
        .max_message_latency(s.network.max_latency.0)
        .build();

    let inbox = Inbox::default();
    let mut nemesis = Nemesis {
        hosts: s.host_names(),
        kinds: BTreeMap::new(),
        servers: BTreeMap::new(),
        clients: BTreeMap::new(),
        configs: s.configs.clone(),
        network: s.network.clone(),
    };
    let mut delayed: Vec<(Duration, String)> = Vec::new();

    for spec in &s.servers {
        let ctl = Arc::new(Mutex::new(ServerCtl::default()));
        nemesis.kinds.insert(spec.name.clone(), HostKind::Server);
        nemesis.servers.insert(spec.name.clone(), ctl.clone());
        let name = spec.name.clone();
        let text = spec.config.clone().unwrap_or_default();
        let configs = s.configs.clone();
        let inbox = inbox.clone();
        sim.host(spec.name.as_str(), move || {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let gates = Gates::new();
            let inc = {
                let mut c = ctl.lock().unwrap_or_else(|p| p.into_inner());
                c.inc += 1;
                c.commands = Some(tx);
                for g in &c.closed {
                    gates.close(g);
                }
                c.gates = gates.clone();
                c.inc
            };
            let env = Env {
                seed: derive(seed, &format!("server/{name}/{inc}")),
                events: Arc::new(HostSink {
                    host: name.clone(),
                    inc,
                    inbox: inbox.clone(),
                }),
                gates,
                bugs: bug_set,
                commands: rx,
            };
            let config = parse_config(&text, &format!("{name}.conf"), &configs);
            let name = name.clone();
            let inbox = inbox.clone();
            async move {
                inbox.push(
                    &name,
                    Body::Host(HostEvent::HostStarted {
                        inc,
                        role: "server".into(),
                    }),
                );
                match config {
                    Err(error) => {
                        inbox.push(&name, Body::Host(HostEvent::ConfigRejected { inc, error }))
                    }
                    Ok(config) => {
                        let exit = rejoin::serve(config, SimTransport, env).await;
                        inbox.push(
                            &name,
                            Body::Host(HostEvent::ServerExited {
                                inc,
                                exit: format!("{exit:?}"),
                            }),
                        );
                    }
                }
                Ok(())
            }
        });
        if let Some(start) = spec.start {
            delayed.push((start.0, spec.name.clone()));
        }
    }
    for spec in &s.clients {
        let ctl = Arc::new(ClientCtl::default());
        nemesis.kinds.insert(spec.name.clone(), HostKind::Client);
        nemesis.clients.insert(spec.name.clone(), ctl.clone());
        let spec = Arc::new(spec.clone());
        let inbox = inbox.clone();
        let inc = Rc::new(Cell::new(0u32));
        let host = spec.name.clone();
        sim.host(host.as_str(), move || {
            inc.set(inc.get() + 1);
            let inc = inc.get();
            ctl.reset(spec.unresponsive);
            let client_seed = derive(seed, &format!("client/{}/{inc}", spec.name));
            let (spec, ctl, inbox) = (spec.clone(), ctl.clone(), inbox.clone());
            async move {
                inbox.push(
                    &spec.name,
                    Body::Host(HostEvent::HostStarted {
                        inc,
                        role: "client".into(),
                    }),
                );
                client::run(spec, ctl, inbox, client_seed).await
            }
        });
    }
    // Hosts that start later are registered (so their names resolve) and stopped at once,
    // before their software ever ran; they come up with incarnation 1 at their start time.
    for (_, host) in &delayed {
        sim.crash(host.as_str());
        if let Some(ctl) = nemesis.servers.get(host) {
            let mut c = ctl.lock().unwrap_or_else(|p| p.into_inner());
            c.inc = 0;
            c.commands = None;
        }
    }
    let mut timeline: Vec<(
        Duration,
        Option<crate::fault_plan::TimedFault>,
        Option<String>,
    )> = plan
        .faults
        .iter()
        .map(|f| (f.at.0, Some(f.clone()), None))
        .chain(delayed.iter().map(|(t, h)| (*t, None, Some(h.clone()))))
        .collect();
    timeline.sort_by_key(|(t, _, _)| *t);

    let mut invariants: Vec<Box<dyn Invariant>> = vec![Box::new(NoHostFailure)];
    invariants.extend(s.invariants.iter().map(|i| i.build()));
    let mut log: Vec<Record> = Vec::new();
    let mut trace = Trace::new(opts.keep_trace);
    let mut verdicts: Vec<Verdict> = Vec::new();
    let mut steps = 0u64;
    let mut next = 0usize;
    let mut violated = false;

    loop {
        let now = sim.elapsed();
        while next < timeline.len() && timeline[next].0 <= now {
            let (_, fault, start) = &timeline[next];
            next += 1;
            let r = match (fault, start) {
                (Some(f), _) => {
                    let error = nemesis.apply(&mut sim, &f.action).err();
                    Record {
                        t: now,
                        host: "nemesis".into(),
                        body: Body::Fault {
                            action: f.action.to_string(),
                            hosts: f.action.hosts().into_iter().map(str::to_string).collect(),
                            id: f.id.clone(),
                            error,
                        },
                    }
                }
                (None, Some(host)) => {
                    sim.bounce(host.as_str());
                    Record {
                        t: now,
                        host: "nemesis".into(),
                        body: Body::Fault {
                            action: format!("start {host}"),
                            hosts: vec![host.clone()],
                            id: None,
                            error: None,
                        },
                    }
                }
                (None, None) => continue,
            };
            let failed = record(r, &mut log, &mut trace, &mut invariants);
            violated |= !failed.is_empty();
            verdicts.extend(failed);
        }
        if violated || now >= duration {
            break;
        }
        let stepped = sim.step();
        steps += 1;
        let mut batch = inbox.drain();
        if let Err(e) = stepped {
            batch.push(Record {
                t: sim.elapsed(),
                host: "world".into(),
                body: Body::Host(HostEvent::HostFailed {
                    error: e.to_string(),
                }),
            });
        }
        for p in PANICS.with(|p| {
            p.borrow_mut()
                .as_mut()
                .map(std::mem::take)
                .unwrap_or_default()
        }) {
            batch.push(Record {
                t: sim.elapsed(),
                host: "world".into(),
                body: Body::Host(HostEvent::HostFailed { error: p }),
            });
        }
        // Hosts run one after another within a step; order what they logged by time.
        batch.sort_by_key(|r| r.t);
        for r in batch {
            let failed = record(r, &mut log, &mut trace, &mut invariants);
            violated |= !failed.is_empty();
            verdicts.extend(failed);
        }
    }

    let end = sim.elapsed();
    let ctx = Ctx {
        scenario: s,
        plan: &plan,
        end,
    };
    let failed_names: Vec<String> = verdicts.iter().map(|v| v.invariant.clone()).collect();
    for inv in invariants.iter_mut() {
        let name = inv.name();
        if failed_names.contains(&name) {
            continue;
        }
        let v = if violated {
            Verdict {
                invariant: name,
                pass: true,
                detail: NOT_EVALUATED.into(),
            }
        } else {
            match inv.finish(&log, &ctx) {
                Ok(detail) => Verdict {
                    invariant: name,
                    pass: true,
                    detail,
                },
                Err(detail) => Verdict {
                    invariant: name,
                    pass: false,
                    detail,
                },
            }
        };
        verdicts.push(v);
    }
    for v in &verdicts {
        trace.push(&Record {
            t: end,
            host: "check".into(),
            body: Body::Verdict {
                invariant: v.invariant.clone(),
                pass: v.pass,
                detail: v.detail.clone(),
            },
        });
    }
    Ok(RunOutcome {
        seed,
        bugs,
        plan,
        verdicts,
        trace,
        end,
        steps,
    })
}

/// Appends `r` to the log and the trace and shows it to every invariant; returns the
/// violations it caused.
fn record(
    r: Record,
    log: &mut Vec<Record>,
    trace: &mut Trace,
    invs: &mut [Box<dyn Invariant>],
) -> Vec<Verdict> {
    trace.push(&r);
    let mut failed = Vec::new();
    for inv in invs.iter_mut() {
        if let Some(why) = inv.observe(&r) {
            failed.push(Verdict {
                invariant: inv.name(),
                pass: false,
                detail: why,
            });
        }
    }
    log.push(r);
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_on_a_world_thread_are_captured_not_printed() {
        install_panic_hook();
        PANICS.with(|p| *p.borrow_mut() = Some(Vec::new()));
        let r = std::panic::catch_unwind(|| panic!("boom {}", 7));
        assert!(r.is_err());
        let got = PANICS.with(|p| p.borrow_mut().take()).unwrap_or_default();
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("panic: boom 7 at "), "{got:?}");
    }
}
