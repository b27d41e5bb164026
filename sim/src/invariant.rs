//! Invariants: predicates over the world's event log.
//!
//! A scenario lists invariants by name with parameters (`[[invariant]] check = "..."`).
//! Each becomes an [`Invariant`]: its `observe` is called for every record as it is logged
//! ("always" predicates: checked after every step, the run stops at the first violation),
//! and its `finish` once after the run ("eventually within T" predicates, measured from a
//! reference time: by default the last fault of the plan).
//!
//! Adding one (see `docs/simulation.md`): add a variant to [`InvariantSpec`] (its fields are
//! the scenario parameters), a struct implementing [`Invariant`], an arm in
//! [`InvariantSpec::build`], and, if it names hosts, an arm in [`InvariantSpec::validate`].

use std::collections::BTreeMap;
use std::time::Duration;

use rejoin_core::event::{Cid, CloseReason, Event};
use serde::{Deserialize, Serialize};

use crate::client::ClientEvent;
use crate::duration::{stamp, Dur};
use crate::fault_plan::FaultPlan;
use crate::scenario::{HostKind, Scenario};
use crate::trace::{Body, Record};

mod presence;

mod leaf;

mod backbone;

/// An invariant as written in a scenario file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "snake_case", deny_unknown_fields)]
pub enum InvariantSpec {
    /// Eventually: `client` is connected at `after + within`, on a connection whose
    /// handshake completed after `after`.
    ClientReconnected {
        /// Client host.
        client: String,
        /// Deadline after the reference time.
        within: Dur,
        /// Reference: a fault id, a duration, `start`, or (default) the last fault.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
    /// Eventually: the connection `client` had to `server` at `after` is closed by the
    /// server as `stale_connection` within `within`.
    StaleDetected {
        /// Server host.
        server: String,
        /// Client host (its CONNECT name).
        client: String,
        /// Deadline after the reference time.
        within: Dur,
        /// Reference (default: the last fault).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
    /// Always (if `in_order`): `to` receives `from`'s messages in strictly increasing
    /// sequence order (no duplicate, no reordering). Eventually: every message `from`
    /// published between the reference point and `grace` before the end reached `to`.
    /// The reference point is `after` or, with `wait_reconnect` (default), the moment both
    /// clients are connected again after `after`. At least one message must be checked.
    MessagesDelivered {
        /// Publishing client.
        from: String,
        /// Subscribing client.
        to: String,
        /// Only this subject.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
        /// Check ordering and duplicates (default true).
        #[serde(default = "yes")]
        in_order: bool,
        /// Reference (default: the last fault).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        /// Count only messages published once both clients had reconnected (default true).
        #[serde(default = "yes")]
        wait_reconnect: bool,
        /// Messages published this close to the end may still be in flight (default 1s).
        #[serde(default = "one_second")]
        grace: Dur,
    },
    /// Always: no record matches.
    NoEvent {
        /// Only records of this host.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        /// Field values the record must all have (`event`, `reason`, ...).
        #[serde(rename = "match")]
        matches: BTreeMap<String, serde_json::Value>,
    },
    /// Always: at most `max` records match.
    CountAtMost {
        /// Only records of this host.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        /// Field values the record must all have.
        #[serde(rename = "match")]
        matches: BTreeMap<String, serde_json::Value>,
        /// Most allowed.
        max: u64,
    },
    /// Always: `server`'s resync announcements cover its backbone gaps in order, without a
    /// hole or an overlap. Eventually: the last one covers gap `gaps`.
    ResyncsCoverGaps {
        /// The edge.
        server: String,
        /// The number of the last gap.
        gaps: u64,
    },
    /// Always: every matching record's numeric `field` is at most `max`. Eventually: at
    /// least one record matched, and (if `reach` is given) the largest value seen is at
    /// least `reach` (the bound was approached: the check did not pass vacuously).
    FieldAtMost {
        /// Only records of this host.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        /// Field values the record must all have.
        #[serde(rename = "match")]
        matches: BTreeMap<String, serde_json::Value>,
        /// The numeric field checked.
        field: String,
        /// Most allowed.
        max: u64,
        /// The largest value seen must reach this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reach: Option<u64>,
    },
    /// Always: `to` receives `from`'s messages in order. Eventually: of what `from`
    /// published after `server`'s first backbone gap (after the reference), the messages
    /// `to` never received are the oldest ones, as many as the gap's flush says it
    /// dropped, and the flush replayed at least as many as a buffer of `max_msgs` keeps.
    BackboneReplay {
        /// Publishing client (on the edge).
        from: String,
        /// Subscribing client (across the backbone).
        to: String,
        /// The edge.
        server: String,
        /// The edge's `buffer.max_msgs` (its `max_bytes` must not bind).
        max_msgs: u64,
        /// Reference (default: start).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        /// Messages published this close to the end may still be in flight (default 1s).
        #[serde(default = "one_second")]
        grace: Dur,
    },
    /// Always: `server` never has more than `max` open client connections (from clients
    /// whose CONNECT `name` is `client`, if given). Counts connections that sent CONNECT.
    OpenConnectionsAtMost {
        /// Server host.
        server: String,
        /// Only connections with this CONNECT name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
        /// Most allowed at any time.
        max: usize,
    },
    /// Eventually: at `after + within`, `server` has between `min` and `max` open client
    /// connections (named `client`, if given): no leaked, duplicate or missing sessions.
    OpenConnections {
        /// Server host.
        server: String,
        /// Only connections with this CONNECT name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
        /// Fewest allowed (default 0).
        #[serde(default)]
        min: usize,
        /// Most allowed.
        max: usize,
        /// Deadline after the reference time.
        within: Dur,
        /// Reference (default: the last fault).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
    /// Always: on `server`, each leafnode remote identity has at most one attempt in flight,
    /// and none while it is removed or disabled.
    LeafAttempts {
        /// Server host (the leaf).
        server: String,
    },
    /// Always: at most `max` registered leafnode links per (role, peer, account) on `server`.
    LeafLinksAtMost {
        /// Server host.
        server: String,
        /// Most allowed per key (default 1).
        #[serde(default = "one")]
        max: usize,
    },
    /// Always: every solicited link `server` registers comes from an attempt that was its
    /// remote's current one when its handshake completed (no stale or orphaned attempt).
    LeafNoStaleRegister {
        /// Server host (the leaf).
        server: String,
    },
    /// Always: a rejected reload of `server` changed no remote; remotes change only at start
    /// and in applied reloads.
    LeafReloadAtomic {
        /// Server host.
        server: String,
    },
    /// Eventually: at `after + within`, `server`'s remotes and links match the config in
    /// effect (every enabled remote connected once, nothing else), and the `hubs` together
    /// hold one accepted link per enabled remote.
    LeafRemotesSettled {
        /// Server host (the leaf).
        server: String,
        /// The hubs whose accepted links must match too (all of them together).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        hubs: Vec<String>,
        /// Deadline after the reference time.
        within: Dur,
        /// Reference (default: the last fault).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
    /// Eventually: the leafnode links `server` held just before `after` are all still open at
    /// `after + within`, and no link registered and no attempt started in between.
    LeafLinksKept {
        /// Server host.
        server: String,
        /// Length of the window.
        within: Dur,
        /// Reference (default: the last fault).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
    /// Always: the presence events `server` publishes (and `watcher`, subscribed to the
    /// prefix, receives) alternate per id and are ordered by session. Eventually: at
    /// `after + within` each id's last event matches the open connections named after it,
    /// and the watcher agrees (incident 2).
    PresenceConsistent {
        /// Server host.
        server: String,
        /// A client subscribed to the presence prefix.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        watcher: Option<String>,
        /// The presence subject prefix (default `$PRESENCE`).
        #[serde(default = "presence::default_prefix")]
        prefix: String,
        /// Deadline after the reference time.
        within: Dur,
        /// Reference (default: the last fault).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
    /// Eventually: a matching record is logged in `[after, after + within]`.
    EventWithin {
        /// Only records of this host.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        /// Field values the record must all have.
        #[serde(rename = "match")]
        matches: BTreeMap<String, serde_json::Value>,
        /// Deadline after the reference time.
        within: Dur,
        /// Reference (default: the last fault).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
}

fn yes() -> bool {
    true
}

fn one() -> usize {
    1
}

fn one_second() -> Dur {
    Dur(Duration::from_secs(1))
}

/// What invariants may consult besides the log.
pub struct Ctx<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// The plan that ran.
    pub plan: &'a FaultPlan,
    /// World time at the end of the run.
    pub end: Duration,
}

impl Ctx<'_> {
    /// Resolves a reference: `None` is the last fault (or 0), else `start`, a fault id,
    /// or a duration.
    pub fn reference(&self, after: Option<&str>) -> Result<Duration, String> {
        resolve(after, self.scenario, Some(self.plan))
    }
}

fn resolve(
    after: Option<&str>,
    s: &Scenario,
    plan: Option<&FaultPlan>,
) -> Result<Duration, String> {
    match after {
        None => Ok(match plan {
            Some(p) => p.last_fault().unwrap_or_default(),
            None => s.faults.iter().map(|f| f.at.0).max().unwrap_or_default(),
        }),
        Some("start") => Ok(Duration::ZERO),
        Some(x) => s
            .fault_time(x)
            .or_else(|| x.parse::<Dur>().ok().map(|d| d.0))
            .ok_or_else(|| {
                format!("`after = {x:?}` is neither a fault id, a duration nor \"start\"")
            }),
    }
}

/// A live invariant.
pub trait Invariant {
    /// The invariant and its parameters, for verdicts.
    fn name(&self) -> String;
    /// "Always" part: called for every record in log order; `Some(why)` is a violation.
    fn observe(&mut self, _r: &Record) -> Option<String> {
        None
    }
    /// "Eventually" part: called once with the whole log. `Ok(note)` or `Err(why)`.
    fn finish(&mut self, log: &[Record], ctx: &Ctx) -> Result<String, String>;
}

impl InvariantSpec {
    /// `check{k=v,...}`, the name verdicts print.
    pub fn label(&self) -> String {
        let v = serde_json::to_value(self).unwrap_or_default();
        let Some(obj) = v.as_object() else {
            return "?".into();
        };
        let check = obj.get("check").and_then(|c| c.as_str()).unwrap_or("?");
        let params: Vec<String> = obj
            .iter()
            .filter(|(k, _)| *k != "check")
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect();
        format!("{check}{{{}}}", params.join(","))
    }

    /// Checks host names and references against the scenario.
    pub fn validate(&self, s: &Scenario) -> Result<(), String> {
        let label = self.label();
        let host = |h: &str, kind: Option<HostKind>| -> Result<(), String> {
            match (s.host_kind(h), kind) {
                (None, _) => Err(format!("invariant {label}: unknown host {h:?}")),
                (Some(k), Some(want)) if k != want => {
                    Err(format!("invariant {label}: {h} is not a {want:?}").to_lowercase())
                }
                _ => Ok(()),
            }
        };
        let after = |a: &Option<String>| {
            resolve(a.as_deref(), s, None).map_err(|e| format!("invariant {label}: {e}"))
        };
        let deadline = |a: &Option<String>, within: &Dur| -> Result<(), String> {
            let mut at = after(a)? + within.0;
            if a.is_none() {
                if let Some(rf) = &s.random_faults {
                    let hold = rf
                        .menu
                        .iter()
                        .map(|m| m.max_hold())
                        .max()
                        .unwrap_or_default();
                    at = at.max(rf.window[1].0 + hold + within.0);
                }
            }
            if at > s.duration.0 {
                return Err(format!(
                    "invariant {label}: its deadline {} is after the end of the run",
                    stamp(at)
                ));
            }
            Ok(())
        };
        match self {
            InvariantSpec::ClientReconnected {
                client,
                within,
                after: a,
            } => {
                host(client, Some(HostKind::Client))?;
                deadline(a, within)
            }
            InvariantSpec::StaleDetected {
                server,
                client,
                within,
                after: a,
            } => {
                host(server, Some(HostKind::Server))?;
                host(client, Some(HostKind::Client))?;
                deadline(a, within)
            }
            InvariantSpec::MessagesDelivered {
                from, to, after: a, ..
            } => {
                host(from, Some(HostKind::Client))?;
                host(to, Some(HostKind::Client))?;
                after(a).map(|_| ())
            }
            InvariantSpec::NoEvent { host: h, .. } | InvariantSpec::CountAtMost { host: h, .. } => {
                h.as_deref().map_or(Ok(()), |h| host(h, None))
            }
            InvariantSpec::BackboneReplay {
                from,
                to,
                server,
                after: a,
                ..
            } => {
                host(from, Some(HostKind::Client))?;
                host(to, Some(HostKind::Client))?;
                host(server, Some(HostKind::Server))?;
                after(a).map(|_| ())
            }
            InvariantSpec::ResyncsCoverGaps { server, .. } => host(server, Some(HostKind::Server)),
            InvariantSpec::FieldAtMost {
                host: h,
                max,
                reach,
                ..
            } => {
                if reach.is_some_and(|r| r > *max) {
                    return Err(format!("invariant {label}: reach is above max"));
                }
                h.as_deref().map_or(Ok(()), |h| host(h, None))
            }
            InvariantSpec::OpenConnectionsAtMost { server, client, .. } => {
                host(server, Some(HostKind::Server))?;
                client
                    .as_deref()
                    .map_or(Ok(()), |c| host(c, Some(HostKind::Client)))
            }
            InvariantSpec::OpenConnections {
                server,
                client,
                min,
                max,
                within,
                after: a,
            } => {
                host(server, Some(HostKind::Server))?;
                if let Some(c) = client {
                    host(c, Some(HostKind::Client))?;
                }
                if min > max {
                    return Err(format!("invariant {label}: min is above max"));
                }
                deadline(a, within)
            }
            InvariantSpec::PresenceConsistent {
                server,
                watcher,
                within,
                after: a,
                ..
            } => {
                host(server, Some(HostKind::Server))?;
                if let Some(w) = watcher {
                    host(w, Some(HostKind::Client))?;
                }
                deadline(a, within)
            }
            InvariantSpec::EventWithin {
                host: h,
                within,
                after: a,
                ..
            } => {
                if let Some(h) = h {
                    host(h, None)?;
                }
                deadline(a, within)
            }
            InvariantSpec::LeafAttempts { server }
            | InvariantSpec::LeafLinksAtMost { server, .. }
            | InvariantSpec::LeafNoStaleRegister { server }
            | InvariantSpec::LeafReloadAtomic { server } => host(server, Some(HostKind::Server)),
            InvariantSpec::LeafRemotesSettled {
                server,
                hubs,
                within,
                after: a,
            } => {
                host(server, Some(HostKind::Server))?;
                for h in hubs {
                    host(h, Some(HostKind::Server))?;
                }
                deadline(a, within)
            }
            InvariantSpec::LeafLinksKept {
                server,
                within,
                after: a,
            } => {
                host(server, Some(HostKind::Server))?;
                deadline(a, within)
            }
        }
    }

    /// The live checker for this spec.
    pub fn build(&self) -> Box<dyn Invariant> {
        let name = self.label();
        match self.clone() {
            InvariantSpec::ClientReconnected {
                client,
                within,
                after,
            } => Box::new(ClientReconnected {
                name,
                client,
                within: within.0,
                after,
            }),
            InvariantSpec::StaleDetected {
                server,
                client,
                within,
                after,
            } => Box::new(StaleDetected {
                name,
                server,
                client,
                within: within.0,
                after,
            }),
            InvariantSpec::MessagesDelivered {
                from,
                to,
                subject,
                in_order,
                after,
                wait_reconnect,
                grace,
            } => Box::new(MessagesDelivered {
                name,
                from,
                to,
                subject,
                in_order,
                after,
                wait_reconnect,
                grace: grace.0,
                last_seq: BTreeMap::new(),
            }),
            InvariantSpec::NoEvent { host, matches } => Box::new(CountAtMost {
                name,
                filter: Filter { host, matches },
                max: 0,
                seen: 0,
            }),
            InvariantSpec::CountAtMost { host, matches, max } => Box::new(CountAtMost {
                name,
                filter: Filter { host, matches },
                max,
                seen: 0,
            }),
            InvariantSpec::BackboneReplay {
                from,
                to,
                server,
                max_msgs,
                after,
                grace,
            } => Box::new(backbone::BackboneReplay {
                name,
                from,
                to,
                server,
                max_msgs,
                after: Some(after.unwrap_or_else(|| "start".into())),
                grace: grace.0,
                last_seq: None,
            }),
            InvariantSpec::ResyncsCoverGaps { server, gaps } => {
                Box::new(backbone::ResyncsCoverGaps {
                    name,
                    server,
                    gaps,
                    inc: 0,
                    covered: 0,
                    seen: 0,
                })
            }
            InvariantSpec::FieldAtMost {
                host,
                matches,
                field,
                max,
                reach,
            } => Box::new(FieldAtMost {
                name,
                filter: Filter { host, matches },
                field,
                max,
                reach,
                seen: 0,
                largest: None,
            }),
            InvariantSpec::OpenConnectionsAtMost {
                server,
                client,
                max,
            } => Box::new(OpenConnectionsAtMost {
                name,
                conns: OpenConns::new(server),
                client,
                max,
            }),
            InvariantSpec::OpenConnections {
                server,
                client,
                min,
                max,
                within,
                after,
            } => Box::new(OpenConnections {
                name,
                server,
                client,
                min,
                max,
                within: within.0,
                after,
            }),
            InvariantSpec::PresenceConsistent {
                server,
                watcher,
                prefix,
                within,
                after,
            } => Box::new(presence::PresenceConsistent::new(
                name, server, watcher, prefix, within.0, after,
            )),
            InvariantSpec::EventWithin {
                host,
                matches,
                within,
                after,
            } => Box::new(EventWithin {
                name,
                filter: Filter { host, matches },
                within: within.0,
                after,
            }),
            InvariantSpec::LeafAttempts { server } => {
                Box::new(leaf::LeafAttempts::new(name, server))
            }
            InvariantSpec::LeafLinksAtMost { server, max } => {
                Box::new(leaf::LeafLinksAtMost::new(name, server, max))
            }
            InvariantSpec::LeafNoStaleRegister { server } => {
                Box::new(leaf::LeafNoStaleRegister::new(name, server))
            }
            InvariantSpec::LeafReloadAtomic { server } => {
                Box::new(leaf::LeafReloadAtomic::new(name, server))
            }
            InvariantSpec::LeafRemotesSettled {
                server,
                hubs,
                within,
                after,
            } => Box::new(leaf::LeafRemotesSettled {
                name,
                server,
                hubs,
                within: within.0,
                after,
            }),
            InvariantSpec::LeafLinksKept {
                server,
                within,
                after,
            } => Box::new(leaf::LeafLinksKept {
                name,
                server,
                within: within.0,
                after,
            }),
        }
    }
}

/// Matches records by host and field values of their JSON form.
#[derive(Clone, Debug)]
pub struct Filter {
    /// Only this host.
    pub host: Option<String>,
    /// Fields that must be equal.
    pub matches: BTreeMap<String, serde_json::Value>,
}

impl Filter {
    /// Whether `r` matches.
    pub fn matches(&self, r: &Record) -> bool {
        if self.host.as_deref().is_some_and(|h| h != r.host) {
            return false;
        }
        let v = r.value();
        self.matches.iter().all(|(k, want)| v.get(k) == Some(want))
    }
}

/// Whether the client is connected (in its own view) just after `t`, judging by its
/// `connected`/`disconnected` events up to and including `t`.
fn client_connected_at(log: &[Record], client: &str, t: Duration) -> bool {
    let mut up = false;
    for r in log.iter().filter(|r| r.host == client && r.t <= t) {
        match &r.body {
            Body::Client(ClientEvent::Connected { .. }) => up = true,
            Body::Client(ClientEvent::Disconnected { .. }) => up = false,
            Body::Host(_) => up = false,
            _ => {}
        }
    }
    up
}

/// The first time after `after` at which `client` is connected: `after` itself if it was
/// connected then and not disconnected at that instant, else its next `connected`.
fn connected_since(log: &[Record], client: &str, after: Duration) -> Option<Duration> {
    let reconnect = log.iter().find(|r| {
        r.host == client
            && r.t > after
            && matches!(r.body, Body::Client(ClientEvent::Connected { .. }))
    });
    let dropped = log.iter().any(|r| {
        r.host == client
            && r.t > after
            && reconnect.is_none_or(|c| r.t <= c.t)
            && matches!(
                r.body,
                Body::Client(ClientEvent::Disconnected { .. }) | Body::Host(_)
            )
    });
    if client_connected_at(log, client, after) && !dropped {
        Some(after)
    } else {
        reconnect.map(|r| r.t)
    }
}

struct ClientReconnected {
    name: String,
    client: String,
    within: Duration,
    after: Option<String>,
}

impl Invariant for ClientReconnected {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn finish(&mut self, log: &[Record], ctx: &Ctx) -> Result<String, String> {
        let a = ctx.reference(self.after.as_deref())?;
        let deadline = a + self.within;
        let c = log.iter().find(|r| {
            r.host == self.client
                && r.t > a
                && r.t <= deadline
                && matches!(r.body, Body::Client(ClientEvent::Connected { .. }))
        });
        match c {
            None => Err(format!(
                "{} did not complete a new connection between {} and {}",
                self.client,
                stamp(a),
                stamp(deadline)
            )),
            Some(c) if !client_connected_at(log, &self.client, deadline) => Err(format!(
                "{} reconnected at {} but was not connected at {}",
                self.client,
                stamp(c.t),
                stamp(deadline)
            )),
            Some(c) => Ok(format!("reconnected at {}", stamp(c.t))),
        }
    }
}

struct StaleDetected {
    name: String,
    server: String,
    client: String,
    within: Duration,
    after: Option<String>,
}

impl Invariant for StaleDetected {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn finish(&mut self, log: &[Record], ctx: &Ctx) -> Result<String, String> {
        let a = ctx.reference(self.after.as_deref())?;
        let deadline = a + self.within;
        // The client's connection on the server that was open at `a`: (incarnation, cid).
        let mut open: Option<(u32, Cid)> = None;
        for r in log.iter().filter(|r| r.host == self.server && r.t <= a) {
            match &r.body {
                Body::Server {
                    inc,
                    event: Event::ClientConnected { cid, name, .. },
                } if name.as_deref() == Some(self.client.as_str()) => {
                    open = Some((*inc, *cid));
                }
                Body::Server {
                    inc,
                    event: Event::ClientClosed { cid, .. },
                } if open == Some((*inc, *cid)) => {
                    open = None;
                }
                _ => {}
            }
        }
        let Some((inc, cid)) = open else {
            return Err(format!(
                "{} had no open connection from {} at {}",
                self.server,
                self.client,
                stamp(a)
            ));
        };
        let closed = log.iter().find(|r| {
            r.host == self.server
                && r.t > a
                && matches!(&r.body, Body::Server { inc: i, event: Event::ClientClosed { cid: c, .. } } if *i == inc && *c == cid)
        });
        match closed {
            Some(Record {
                t,
                body:
                    Body::Server {
                        event: Event::ClientClosed { reason, .. },
                        ..
                    },
                ..
            }) => {
                if *reason != CloseReason::StaleConnection {
                    Err(format!(
                        "cid {cid} was closed at {} as {reason:?}, not stale_connection",
                        stamp(*t)
                    ))
                } else if *t > deadline {
                    Err(format!(
                        "cid {cid} was closed as stale only at {}, after the deadline {}",
                        stamp(*t),
                        stamp(deadline)
                    ))
                } else {
                    Ok(format!("cid {cid} closed as stale at {}", stamp(*t)))
                }
            }
            _ => Err(format!(
                "cid {cid} (from {}) was never closed; deadline {}",
                self.client,
                stamp(deadline)
            )),
        }
    }
}

struct MessagesDelivered {
    name: String,
    from: String,
    to: String,
    subject: Option<String>,
    in_order: bool,
    after: Option<String>,
    wait_reconnect: bool,
    grace: Duration,
    last_seq: BTreeMap<String, u64>,
}

impl MessagesDelivered {
    fn subject_ok(&self, s: &str) -> bool {
        self.subject.as_deref().is_none_or(|want| want == s)
    }
}

impl Invariant for MessagesDelivered {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn observe(&mut self, r: &Record) -> Option<String> {
        if !self.in_order || r.host != self.to {
            return None;
        }
        let Body::Client(ClientEvent::Received { subject, from, seq }) = &r.body else {
            return None;
        };
        if *from != self.from || !self.subject_ok(subject) {
            return None;
        }
        let last = self.last_seq.entry(subject.clone()).or_insert(0);
        if *seq <= *last {
            return Some(format!(
                "{} received {subject} #{seq} from {} after #{last} (duplicate or out of order)",
                self.to, self.from
            ));
        }
        *last = *seq;
        None
    }

    fn finish(&mut self, log: &[Record], ctx: &Ctx) -> Result<String, String> {
        let a = ctx.reference(self.after.as_deref())?;
        let from_t = if self.wait_reconnect {
            let t_to = connected_since(log, &self.to, a)
                .ok_or_else(|| format!("{} never (re)connected after {}", self.to, stamp(a)))?;
            let t_from = connected_since(log, &self.from, a)
                .ok_or_else(|| format!("{} never (re)connected after {}", self.from, stamp(a)))?;
            t_to.max(t_from)
        } else {
            a
        };
        let until = ctx.end.saturating_sub(self.grace);
        let mut received: BTreeMap<(&str, u64), ()> = BTreeMap::new();
        for r in log.iter().filter(|r| r.host == self.to) {
            if let Body::Client(ClientEvent::Received { subject, from, seq }) = &r.body {
                if *from == self.from {
                    received.insert((subject.as_str(), *seq), ());
                }
            }
        }
        let mut checked = 0u64;
        let mut lost = Vec::new();
        for r in log
            .iter()
            .filter(|r| r.host == self.from && r.t >= from_t && r.t <= until)
        {
            if let Body::Client(ClientEvent::Published { subject, seq }) = &r.body {
                if !self.subject_ok(subject) {
                    continue;
                }
                checked += 1;
                if !received.contains_key(&(subject.as_str(), *seq)) {
                    lost.push(format!("{subject}#{seq}@{}", stamp(r.t)));
                }
            }
        }
        if checked == 0 {
            return Err(format!(
                "no message from {} published between {} and {} to check",
                self.from,
                stamp(from_t),
                stamp(until)
            ));
        }
        if lost.is_empty() {
            Ok(format!(
                "{checked} messages published from {} all delivered",
                stamp(from_t)
            ))
        } else {
            let shown: Vec<String> = lost.iter().take(5).cloned().collect();
            Err(format!(
                "{} of {checked} messages published from {} never reached {}: {}{}",
                lost.len(),
                stamp(from_t),
                self.to,
                shown.join(" "),
                if lost.len() > 5 { " ..." } else { "" }
            ))
        }
    }
}

struct CountAtMost {
    name: String,
    filter: Filter,
    max: u64,
    seen: u64,
}

impl Invariant for CountAtMost {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn observe(&mut self, r: &Record) -> Option<String> {
        if !self.filter.matches(r) {
            return None;
        }
        self.seen += 1;
        (self.seen > self.max)
            .then(|| format!("match #{} at {}: {}", self.seen, stamp(r.t), r.line()))
    }

    fn finish(&mut self, _: &[Record], _: &Ctx) -> Result<String, String> {
        Ok(format!("{} matching record(s)", self.seen))
    }
}

struct FieldAtMost {
    name: String,
    filter: Filter,
    field: String,
    max: u64,
    reach: Option<u64>,
    seen: u64,
    largest: Option<u64>,
}

impl Invariant for FieldAtMost {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn observe(&mut self, r: &Record) -> Option<String> {
        if !self.filter.matches(r) {
            return None;
        }
        self.seen += 1;
        let Some(v) = r.value().get(&self.field).and_then(|v| v.as_u64()) else {
            return Some(format!(
                "{} has no numeric field {:?}: {}",
                stamp(r.t),
                self.field,
                r.line()
            ));
        };
        self.largest = Some(self.largest.map_or(v, |l| l.max(v)));
        (v > self.max).then(|| {
            format!(
                "{} = {v} > {} at {}: {}",
                self.field,
                self.max,
                stamp(r.t),
                r.line()
            )
        })
    }

    fn finish(&mut self, _: &[Record], _: &Ctx) -> Result<String, String> {
        let Some(largest) = self.largest else {
            return Err("no matching record: nothing was checked".into());
        };
        let detail = format!(
            "{} matching record(s), largest {} = {largest}",
            self.seen, self.field
        );
        match self.reach {
            Some(r) if largest < r => Err(format!("{detail}, below the {r} it must reach")),
            _ => Ok(detail),
        }
    }
}

/// The client connections a server holds open, replayed from the log: a connection counts
/// from its CONNECT (`client_connected`) until `client_closed`, or until the server's
/// incarnation ends (crash, restart, exit).
#[derive(Debug)]
pub struct OpenConns {
    server: String,
    inc: u32,
    open: BTreeMap<Cid, Option<String>>,
}

impl OpenConns {
    /// No connections yet.
    pub fn new(server: String) -> Self {
        OpenConns {
            server,
            inc: 0,
            open: BTreeMap::new(),
        }
    }

    /// Applies one record.
    pub fn apply(&mut self, r: &Record) {
        match &r.body {
            Body::Server { inc, event } if r.host == self.server => {
                if *inc != self.inc {
                    self.inc = *inc;
                    self.open.clear();
                }
                match event {
                    Event::ClientConnected { cid, name, .. } => {
                        self.open.insert(*cid, name.clone());
                    }
                    Event::ClientClosed { cid, .. } => {
                        self.open.remove(cid);
                    }
                    _ => {}
                }
            }
            Body::Host(_) if r.host == self.server => self.open.clear(),
            Body::Fault {
                action,
                error: None,
                ..
            } => {
                let mut w = action.split_whitespace();
                let verb = w.next();
                if matches!(verb, Some("crash" | "silent_kill" | "restart"))
                    && w.next() == Some(self.server.as_str())
                {
                    self.open.clear();
                }
            }
            _ => {}
        }
    }

    /// Open connections, only those named `client` if given.
    pub fn count(&self, client: Option<&str>) -> usize {
        self.open
            .values()
            .filter(|n| client.is_none_or(|c| n.as_deref() == Some(c)))
            .count()
    }
}

struct OpenConnectionsAtMost {
    name: String,
    conns: OpenConns,
    client: Option<String>,
    max: usize,
}

impl Invariant for OpenConnectionsAtMost {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn observe(&mut self, r: &Record) -> Option<String> {
        self.conns.apply(r);
        let n = self.conns.count(self.client.as_deref());
        (n > self.max).then(|| format!("{n} open connections at {} (max {})", stamp(r.t), self.max))
    }

    fn finish(&mut self, _: &[Record], _: &Ctx) -> Result<String, String> {
        Ok(format!("never more than {}", self.max))
    }
}

struct OpenConnections {
    name: String,
    server: String,
    client: Option<String>,
    min: usize,
    max: usize,
    within: Duration,
    after: Option<String>,
}

impl Invariant for OpenConnections {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn finish(&mut self, log: &[Record], ctx: &Ctx) -> Result<String, String> {
        let deadline = ctx.reference(self.after.as_deref())? + self.within;
        let mut conns = OpenConns::new(self.server.clone());
        for r in log.iter().take_while(|r| r.t <= deadline) {
            conns.apply(r);
        }
        let n = conns.count(self.client.as_deref());
        if n < self.min || n > self.max {
            Err(format!(
                "{n} open connections at {} (want {}..={})",
                stamp(deadline),
                self.min,
                self.max
            ))
        } else {
            Ok(format!("{n} open at {}", stamp(deadline)))
        }
    }
}

struct EventWithin {
    name: String,
    filter: Filter,
    within: Duration,
    after: Option<String>,
}

impl Invariant for EventWithin {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn finish(&mut self, log: &[Record], ctx: &Ctx) -> Result<String, String> {
        let a = ctx.reference(self.after.as_deref())?;
        let deadline = a + self.within;
        match log
            .iter()
            .find(|r| r.t >= a && r.t <= deadline && self.filter.matches(r))
        {
            Some(r) => Ok(format!("at {}", stamp(r.t))),
            None => Err(format!(
                "nothing matched between {} and {}",
                stamp(a),
                stamp(deadline)
            )),
        }
    }
}

/// Built in to every run: a host's software must not fail (panic or error).
pub struct NoHostFailure;

impl Invariant for NoHostFailure {
    fn name(&self) -> String {
        "no_host_failure{}".into()
    }

    fn observe(&mut self, r: &Record) -> Option<String> {
        match &r.body {
            Body::Host(crate::trace::HostEvent::HostFailed { error }) => {
                Some(format!("{} failed: {error}", r.host))
            }
            _ => None,
        }
    }

    fn finish(&mut self, _: &[Record], _: &Ctx) -> Result<String, String> {
        Ok("no host failed".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::HostEvent;

    fn rec(t_ms: u64, host: &str, body: Body) -> Record {
        Record {
            t: Duration::from_millis(t_ms),
            host: host.into(),
            body,
        }
    }

    fn connected(t: u64, c: &str) -> Record {
        rec(
            t,
            c,
            Body::Client(ClientEvent::Connected {
                server: "s1:4222".into(),
            }),
        )
    }

    fn disconnected(t: u64, c: &str) -> Record {
        rec(
            t,
            c,
            Body::Client(ClientEvent::Disconnected {
                server: "s1:4222".into(),
                reason: "eof".into(),
            }),
        )
    }

    fn published(t: u64, seq: u64) -> Record {
        rec(
            t,
            "pub",
            Body::Client(ClientEvent::Published {
                subject: "a".into(),
                seq,
            }),
        )
    }

    fn received(t: u64, seq: u64) -> Record {
        rec(
            t,
            "sub",
            Body::Client(ClientEvent::Received {
                subject: "a".into(),
                from: "pub".into(),
                seq,
            }),
        )
    }

    fn scenario(extra: &str) -> Scenario {
        let text = format!(
            r#"
            duration = "20s"
            [[server]]
            name = "s1"
            config = "port: 4222"
            [[client]]
            name = "pub"
            servers = ["s1:4222"]
            [[client]]
            name = "sub"
            servers = ["s1:4222"]
            [[fault]]
            at = "5s"
            do = "restart s1"
            {extra}
            "#
        );
        Scenario::from_text(&text, "t").unwrap()
    }

    fn run(spec: &InvariantSpec, s: &Scenario, log: &[Record]) -> Result<String, String> {
        let plan = FaultPlan::new(s.faults.clone());
        let ctx = Ctx {
            scenario: s,
            plan: &plan,
            end: Duration::from_secs(20),
        };
        let mut inv = spec.build();
        for r in log {
            if let Some(why) = inv.observe(r) {
                return Err(why);
            }
        }
        inv.finish(log, &ctx)
    }

    fn parse(s: &str) -> InvariantSpec {
        toml::from_str(s).unwrap()
    }

    #[test]
    fn specs_parse_validate_and_label() {
        let s = scenario("");
        let spec = parse("check = \"client_reconnected\"\nclient = \"sub\"\nwithin = \"3s\"");
        assert_eq!(spec.label(), "client_reconnected{client=sub,within=3s}");
        spec.validate(&s).unwrap();
        let bad = parse("check = \"client_reconnected\"\nclient = \"s1\"\nwithin = \"3s\"");
        assert!(bad.validate(&s).is_err());
        let late = parse("check = \"client_reconnected\"\nclient = \"sub\"\nwithin = \"30s\"");
        assert!(late.validate(&s).unwrap_err().contains("after the end"));
        assert!(toml::from_str::<InvariantSpec>(
            "check = \"client_reconnected\"\nclient = \"sub\"\nwithin = \"3s\"\nextra = 1"
        )
        .is_err());
        assert!(toml::from_str::<InvariantSpec>("check = \"nope\"").is_err());
    }

    #[test]
    fn client_reconnected_needs_a_new_connection_that_lasts() {
        let s = scenario("");
        let spec = parse("check = \"client_reconnected\"\nclient = \"sub\"\nwithin = \"3s\"");
        let ok = vec![
            connected(100, "sub"),
            disconnected(5010, "sub"),
            connected(5400, "sub"),
        ];
        assert!(run(&spec, &s, &ok).is_ok());
        let never = vec![connected(100, "sub"), disconnected(5010, "sub")];
        assert!(run(&spec, &s, &never).is_err());
        let flapped = vec![
            connected(100, "sub"),
            connected(5400, "sub"),
            disconnected(7000, "sub"),
        ];
        assert!(run(&spec, &s, &flapped).is_err());
    }

    #[test]
    fn stale_detected_checks_reason_and_deadline() {
        let s = scenario("");
        let spec =
            parse("check = \"stale_detected\"\nserver = \"s1\"\nclient = \"sub\"\nwithin = \"6s\"");
        let conn = rec(
            100,
            "s1",
            Body::Server {
                inc: 1,
                event: Event::ClientConnected {
                    cid: 4,
                    name: Some("sub".into()),
                    account: "$G".into(),
                },
            },
        );
        let closed = |t, reason| {
            rec(
                t,
                "s1",
                Body::Server {
                    inc: 1,
                    event: Event::ClientClosed { cid: 4, reason },
                },
            )
        };
        assert!(run(
            &spec,
            &s,
            &[conn.clone(), closed(9000, CloseReason::StaleConnection)]
        )
        .is_ok());
        assert!(run(
            &spec,
            &s,
            &[conn.clone(), closed(11_500, CloseReason::StaleConnection)]
        )
        .is_err());
        assert!(run(
            &spec,
            &s,
            &[conn.clone(), closed(9000, CloseReason::ClientClosed)]
        )
        .is_err());
        assert!(run(&spec, &s, &[conn]).is_err());
        assert!(run(&spec, &s, &[]).is_err());
    }

    #[test]
    fn messages_delivered_counts_only_after_both_reconnect() {
        let s = scenario("");
        let spec = parse("check = \"messages_delivered\"\nfrom = \"pub\"\nto = \"sub\"");
        let mut log = vec![
            connected(100, "pub"),
            connected(100, "sub"),
            published(1000, 1),
            received(1005, 1),
        ];
        log.extend([
            disconnected(5001, "pub"),
            disconnected(5001, "sub"),
            connected(5300, "pub"),
        ]);
        log.push(published(5400, 2)); // sub not back yet: may be lost
        log.push(connected(5500, "sub"));
        log.extend([
            published(6000, 3),
            received(6005, 3),
            published(7000, 4),
            received(7005, 4),
        ]);
        assert_eq!(
            run(&spec, &s, &log).unwrap(),
            "2 messages published from 5.500s all delivered"
        );
        let mut lost = log.clone();
        lost.retain(|r| *r != received(7005, 4));
        assert!(run(&spec, &s, &lost).unwrap_err().contains("a#4"));
        let mut dup = log.clone();
        dup.push(received(7006, 4));
        assert!(run(&spec, &s, &dup).unwrap_err().contains("duplicate"));
        let nothing = vec![connected(100, "pub"), connected(5500, "sub")];
        assert!(run(&spec, &s, &nothing).unwrap_err().contains("no message"));
    }

    #[test]
    fn open_connections_follow_connects_closes_and_restarts() {
        let s = scenario("");
        let conn = |t, inc, cid, name: &str| {
            rec(
                t,
                "s1",
                Body::Server {
                    inc,
                    event: Event::ClientConnected {
                        cid,
                        name: Some(name.into()),
                        account: "$G".into(),
                    },
                },
            )
        };
        let close = |t, inc, cid| {
            rec(
                t,
                "s1",
                Body::Server {
                    inc,
                    event: Event::ClientClosed {
                        cid,
                        reason: CloseReason::ClientClosed,
                    },
                },
            )
        };
        let at_most = parse(
            "check = \"open_connections_at_most\"\nserver = \"s1\"\nclient = \"sub\"\nmax = 1",
        );
        assert!(run(
            &at_most,
            &s,
            &[
                conn(1, 1, 1, "sub"),
                conn(2, 1, 2, "pub"),
                close(3, 1, 1),
                conn(4, 1, 3, "sub")
            ]
        )
        .is_ok());
        assert!(run(&at_most, &s, &[conn(1, 1, 1, "sub"), conn(2, 1, 2, "sub")]).is_err());
        let restart = rec(
            5000,
            "nemesis",
            Body::Fault {
                action: "restart s1".into(),
                hosts: vec!["s1".into()],
                id: None,
                error: None,
            },
        );
        assert!(run(
            &at_most,
            &s,
            &[
                conn(1, 1, 1, "sub"),
                restart.clone(),
                conn(5100, 2, 1, "sub")
            ]
        )
        .is_ok());
        let settled = parse(
            "check = \"open_connections\"\nserver = \"s1\"\nmin = 2\nmax = 2\nwithin = \"2s\"",
        );
        let log = vec![
            conn(1, 1, 1, "sub"),
            conn(2, 1, 2, "pub"),
            restart,
            conn(5100, 2, 1, "sub"),
            conn(5200, 2, 2, "pub"),
        ];
        assert_eq!(run(&settled, &s, &log).unwrap(), "2 open at 7.000s");
        assert!(run(&settled, &s, &log[..4]).is_err());
    }

    #[test]
    fn generic_match_invariants() {
        let s = scenario("");
        let stale = rec(
            6000,
            "s1",
            Body::Server {
                inc: 2,
                event: Event::ClientClosed {
                    cid: 1,
                    reason: CloseReason::StaleConnection,
                },
            },
        );
        let no = parse("check = \"no_event\"\nhost = \"s1\"\nmatch = { event = \"client_closed\", reason = \"stale_connection\" }");
        assert!(run(&no, &s, std::slice::from_ref(&stale)).is_err());
        let other_host =
            parse("check = \"no_event\"\nhost = \"pub\"\nmatch = { event = \"client_closed\" }");
        assert!(run(&other_host, &s, std::slice::from_ref(&stale)).is_ok());
        let at_most =
            parse("check = \"count_at_most\"\nmatch = { event = \"client_closed\" }\nmax = 1");
        assert!(run(&at_most, &s, std::slice::from_ref(&stale)).is_ok());
        assert!(run(&at_most, &s, &[stale.clone(), stale.clone()]).is_err());
        let within = parse("check = \"event_within\"\nmatch = { event = \"client_closed\", inc = 2 }\nwithin = \"2s\"");
        assert!(run(&within, &s, std::slice::from_ref(&stale)).is_ok());
        let too_soon = parse(
            "check = \"event_within\"\nmatch = { event = \"client_closed\" }\nwithin = \"500ms\"",
        );
        assert!(run(&too_soon, &s, &[stale]).is_err());
        let failed = rec(
            1,
            "s1",
            Body::Host(HostEvent::HostFailed {
                error: "panic".into(),
            }),
        );
        assert!(NoHostFailure.observe(&failed).is_some());
    }

    #[test]
    fn field_at_most_bounds_a_field_and_refuses_to_pass_vacuously() {
        let s = scenario("");
        let flushed = |t: u64, peak: u64| {
            rec(
                t,
                "s1",
                Body::Server {
                    inc: 1,
                    event: Event::BackboneFlushed {
                        remote: "hub".into(),
                        first_gap: 1,
                        last_gap: 1,
                        replayed: 3,
                        dropped: 1,
                        peak_msgs: 4,
                        peak_bytes: peak,
                    },
                },
            )
        };
        let spec = parse(
            "check = \"field_at_most\"\nmatch = { event = \"backbone_flushed\" }\nfield = \"peak_bytes\"\nmax = 100\nreach = 50",
        );
        assert!(run(&spec, &s, &[flushed(1, 60), flushed(2, 100)]).is_ok());
        assert!(run(&spec, &s, &[flushed(1, 60), flushed(2, 101)]).is_err());
        assert!(
            run(&spec, &s, &[flushed(1, 40)]).is_err(),
            "never reached 50"
        );
        assert!(run(&spec, &s, &[]).is_err(), "nothing matched");
        let no_field = parse(
            "check = \"field_at_most\"\nmatch = { event = \"backbone_flushed\" }\nfield = \"nope\"\nmax = 1",
        );
        assert!(run(&no_field, &s, &[flushed(1, 1)]).is_err());
        let bad = parse(
            "check = \"field_at_most\"\nmatch = { event = \"x\" }\nfield = \"f\"\nmax = 1\nreach = 2",
        );
        assert!(bad.validate(&s).is_err());
    }
}
