//! Faults and fault plans.
//!
//! A fault is one line of a small language, the same in scenario files, traces, failure
//! reports and shrunk plans: a verb and its arguments, e.g. `partition c1 s1`,
//! `latency c1 s1 200ms`, `reload s1 strict`, `gate s1 leaf.after_dial`. [`Action`] parses
//! and prints it (round trip), so a plan printed by `shrink` pastes back into a scenario.
//!
//! A [`FaultPlan`] is the ordered list of timed faults one run applies: the scenario's fixed
//! timeline plus, in random-faults mode, faults drawn from a menu by a proptest strategy
//! seeded from the run's seed. Drawing them through proptest is what lets `shrink` reduce a
//! failing plan with proptest's own shrinking (fewer faults, earlier, shorter).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, ValueTree};
use proptest::test_runner::{Config as PtConfig, RngAlgorithm, TestRng, TestRunner};
use serde::{Deserialize, Serialize};

use crate::duration::Dur;

/// One fault (or undo of a fault) the nemesis applies between two steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Drop all traffic between `a` and `b`, both ways. Existing streams wedge.
    Partition { a: String, b: String },
    /// Drop traffic from `from` to `to` only.
    PartitionOneway { from: String, to: String },
    /// Undo [`Action::Partition`].
    Repair { a: String, b: String },
    /// Undo [`Action::PartitionOneway`].
    RepairOneway { from: String, to: String },
    /// Hold (delay, not drop) traffic between `a` and `b` until `unhold`.
    Hold { a: String, b: String },
    /// Deliver everything held between `a` and `b` and stop holding.
    Unhold { a: String, b: String },
    /// Partition `host` from every other host.
    Isolate { host: String },
    /// Repair `host` with every other host.
    Heal { host: String },
    /// Set the latency of the `a`–`b` link (`None`: back to the world's default).
    Latency {
        a: String,
        b: String,
        latency: Option<Dur>,
    },
    /// Kill the host's software: its sockets close (peers see FIN/RST).
    Crash { host: String },
    /// Partition the host from everyone, then crash it: peers see nothing at all.
    SilentKill { host: String },
    /// Start a stopped host (a new incarnation).
    Start { host: String },
    /// Crash and start again in the same instant (a new incarnation).
    Restart { host: String },
    /// Graceful shutdown of a server (`Command::Shutdown`).
    Shutdown { host: String },
    /// Lame-duck mode on a server (`Command::LameDuck`).
    LameDuck { host: String },
    /// Reload a server with a named config from the scenario's `[configs]`.
    Reload { host: String, config: String },
    /// Close a named gate on a server: tasks reaching it wait.
    Gate { host: String, gate: String },
    /// Open a named gate on a server.
    Release { host: String, gate: String },
    /// A client closes its connection gracefully and stops.
    ClientStop { client: String },
    /// A client stops answering server PINGs (it keeps reading and publishing).
    Unresponsive { client: String },
    /// A client answers server PINGs again.
    Responsive { client: String },
}

/// Error for a fault line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad fault {line:?}: {why}")]
pub struct BadFault {
    /// The offending line.
    pub line: String,
    /// What is wrong with it.
    pub why: String,
}

/// Every verb, with its argument names, for error messages and docs.
pub const VERBS: &[&str] = &[
    "partition A B",
    "partition_oneway FROM TO",
    "repair A B",
    "repair_oneway FROM TO",
    "hold A B",
    "unhold A B",
    "isolate HOST",
    "heal HOST",
    "latency A B DURATION|default",
    "crash HOST",
    "silent_kill HOST",
    "start HOST",
    "restart HOST",
    "shutdown SERVER",
    "lame_duck SERVER",
    "reload SERVER CONFIG",
    "gate SERVER NAME",
    "release SERVER NAME",
    "client_stop CLIENT",
    "unresponsive CLIENT",
    "responsive CLIENT",
];

impl FromStr for Action {
    type Err = BadFault;

    fn from_str(line: &str) -> Result<Self, BadFault> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let bad = |why: String| BadFault {
            line: line.to_string(),
            why,
        };
        let Some((verb, args)) = words.split_first() else {
            return Err(bad("empty fault".into()));
        };
        let want = |n: usize| -> Result<Vec<String>, BadFault> {
            if args.len() == n {
                Ok(args.iter().map(|s| s.to_string()).collect())
            } else {
                let usage = VERBS.iter().find(|v| v.split(' ').next() == Some(verb));
                Err(bad(format!(
                    "expected {n} argument(s): {}",
                    usage.unwrap_or(verb)
                )))
            }
        };
        let two = |f: fn(String, String) -> Action| -> Result<Action, BadFault> {
            let mut a = want(2)?;
            let b = a.pop().unwrap_or_default();
            let a = a.pop().unwrap_or_default();
            Ok(f(a, b))
        };
        let one = |f: fn(String) -> Action| -> Result<Action, BadFault> {
            Ok(f(want(1)?.pop().unwrap_or_default()))
        };
        match *verb {
            "partition" => two(|a, b| Action::Partition { a, b }),
            "partition_oneway" => two(|from, to| Action::PartitionOneway { from, to }),
            "repair" => two(|a, b| Action::Repair { a, b }),
            "repair_oneway" => two(|from, to| Action::RepairOneway { from, to }),
            "hold" => two(|a, b| Action::Hold { a, b }),
            "unhold" => two(|a, b| Action::Unhold { a, b }),
            "isolate" => one(|host| Action::Isolate { host }),
            "heal" => one(|host| Action::Heal { host }),
            "latency" => {
                let v = want(3)?;
                let latency = if v[2] == "default" {
                    None
                } else {
                    Some(v[2].parse::<Dur>().map_err(|e| bad(e.to_string()))?)
                };
                Ok(Action::Latency {
                    a: v[0].clone(),
                    b: v[1].clone(),
                    latency,
                })
            }
            "crash" => one(|host| Action::Crash { host }),
            "silent_kill" => one(|host| Action::SilentKill { host }),
            "start" => one(|host| Action::Start { host }),
            "restart" => one(|host| Action::Restart { host }),
            "shutdown" => one(|host| Action::Shutdown { host }),
            "lame_duck" => one(|host| Action::LameDuck { host }),
            "reload" => two(|host, config| Action::Reload { host, config }),
            "gate" => two(|host, gate| Action::Gate { host, gate }),
            "release" => two(|host, gate| Action::Release { host, gate }),
            "client_stop" => one(|client| Action::ClientStop { client }),
            "unresponsive" => one(|client| Action::Unresponsive { client }),
            "responsive" => one(|client| Action::Responsive { client }),
            _ => Err(bad(format!("unknown verb; known: {}", VERBS.join(", ")))),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Partition { a, b } => write!(f, "partition {a} {b}"),
            Action::PartitionOneway { from, to } => write!(f, "partition_oneway {from} {to}"),
            Action::Repair { a, b } => write!(f, "repair {a} {b}"),
            Action::RepairOneway { from, to } => write!(f, "repair_oneway {from} {to}"),
            Action::Hold { a, b } => write!(f, "hold {a} {b}"),
            Action::Unhold { a, b } => write!(f, "unhold {a} {b}"),
            Action::Isolate { host } => write!(f, "isolate {host}"),
            Action::Heal { host } => write!(f, "heal {host}"),
            Action::Latency {
                a,
                b,
                latency: Some(l),
            } => write!(f, "latency {a} {b} {l}"),
            Action::Latency {
                a,
                b,
                latency: None,
            } => write!(f, "latency {a} {b} default"),
            Action::Crash { host } => write!(f, "crash {host}"),
            Action::SilentKill { host } => write!(f, "silent_kill {host}"),
            Action::Start { host } => write!(f, "start {host}"),
            Action::Restart { host } => write!(f, "restart {host}"),
            Action::Shutdown { host } => write!(f, "shutdown {host}"),
            Action::LameDuck { host } => write!(f, "lame_duck {host}"),
            Action::Reload { host, config } => write!(f, "reload {host} {config}"),
            Action::Gate { host, gate } => write!(f, "gate {host} {gate}"),
            Action::Release { host, gate } => write!(f, "release {host} {gate}"),
            Action::ClientStop { client } => write!(f, "client_stop {client}"),
            Action::Unresponsive { client } => write!(f, "unresponsive {client}"),
            Action::Responsive { client } => write!(f, "responsive {client}"),
        }
    }
}

impl Action {
    /// The hosts this fault names, in the order written (for validation and the timeline).
    pub fn hosts(&self) -> Vec<&str> {
        match self {
            Action::Partition { a, b }
            | Action::Repair { a, b }
            | Action::Hold { a, b }
            | Action::Unhold { a, b }
            | Action::Latency { a, b, .. } => vec![a, b],
            Action::PartitionOneway { from, to } | Action::RepairOneway { from, to } => {
                vec![from, to]
            }
            Action::Isolate { host }
            | Action::Heal { host }
            | Action::Crash { host }
            | Action::SilentKill { host }
            | Action::Start { host }
            | Action::Restart { host }
            | Action::Shutdown { host }
            | Action::LameDuck { host }
            | Action::Reload { host, .. }
            | Action::Gate { host, .. }
            | Action::Release { host, .. } => vec![host],
            Action::ClientStop { client }
            | Action::Unresponsive { client }
            | Action::Responsive { client } => vec![client],
        }
    }

    /// The faults that undo this one (for `for DURATION` in a random-faults menu).
    pub fn undo(&self) -> Option<Vec<Action>> {
        let undo = match self.clone() {
            Action::Partition { a, b } => vec![Action::Repair { a, b }],
            Action::PartitionOneway { from, to } => vec![Action::RepairOneway { from, to }],
            Action::Hold { a, b } => vec![Action::Unhold { a, b }],
            Action::Isolate { host } => vec![Action::Heal { host }],
            Action::Latency { a, b, .. } => vec![Action::Latency {
                a,
                b,
                latency: None,
            }],
            Action::Crash { host }
            | Action::Shutdown { host }
            | Action::LameDuck { host }
            | Action::ClientStop { client: host } => vec![Action::Start { host }],
            Action::SilentKill { host } => {
                vec![Action::Heal { host: host.clone() }, Action::Start { host }]
            }
            Action::Gate { host, gate } => vec![Action::Release { host, gate }],
            Action::Unresponsive { client } => vec![Action::Responsive { client }],
            _ => return None,
        };
        Some(undo)
    }
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A fault at a time, as written in a scenario: `{ at = "5s", do = "crash s1", id = "kill" }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimedFault {
    /// When, since the world's start.
    pub at: Dur,
    /// What.
    #[serde(rename = "do")]
    pub action: Action,
    /// Optional label that invariants can refer to (`after = "kill"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// The faults one run applies, ordered by time (ties keep their written order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// The faults.
    pub faults: Vec<TimedFault>,
}

impl FaultPlan {
    /// A plan from faults in any order; sorts by time, keeping the order of ties.
    pub fn new(mut faults: Vec<TimedFault>) -> Self {
        faults.sort_by_key(|f| f.at);
        FaultPlan { faults }
    }

    /// The time of the last fault, if any.
    pub fn last_fault(&self) -> Option<Duration> {
        self.faults.iter().map(|f| f.at.0).max()
    }

    /// The plan as scenario TOML (`[[fault]]` tables), for failure reports and `shrink`.
    pub fn to_toml(&self) -> String {
        let mut s = String::new();
        for f in &self.faults {
            s.push_str("[[fault]]\n");
            s.push_str(&format!("at = \"{}\"\n", f.at));
            s.push_str(&format!("do = \"{}\"\n", f.action));
            if let Some(id) = &f.id {
                s.push_str(&format!("id = {id:?}\n"));
            }
            s.push('\n');
        }
        s
    }

    /// One line per fault, `  5.000s  crash s1`.
    pub fn summary(&self) -> String {
        if self.faults.is_empty() {
            return "  (no faults)\n".into();
        }
        self.faults
            .iter()
            .map(|f| format!("  {:>9}  {}\n", crate::duration::stamp(f.at.0), f.action))
            .collect()
    }
}

/// One entry of a random-faults menu: `"partition c1|c2 s1 for 1s..5s"`,
/// `"latency c1 s1 50ms..300ms for 2s"`, `"restart s1|s2"`.
///
/// An argument may offer alternatives (`a|b|c`, one is picked) or, for a duration, a range
/// (`lo..hi`, uniform; `log(lo..hi)`, log-uniform: every factor of ten equally likely, so
/// a range over orders of magnitude is covered at both ends). `for D` (a duration or range)
/// schedules the fault's undo that much later; it is allowed only for faults that have an
/// undo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MenuItem {
    verb: String,
    args: Vec<Arg>,
    hold_for: Option<Range>,
    text: String,
}

/// A duration range to draw from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    lo: Duration,
    hi: Duration,
    /// Log-uniform instead of uniform.
    log: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Arg {
    Choice(Vec<String>),
    Range(Range),
}

fn parse_range(s: &str) -> Result<Option<Range>, String> {
    let (inner, log) = match s.strip_prefix("log(").and_then(|r| r.strip_suffix(')')) {
        Some(inner) => (inner, true),
        None => (s, false),
    };
    match inner.split_once("..") {
        Some((lo, hi)) => {
            let lo = lo.parse::<Dur>().map_err(|e| e.to_string())?.0;
            let hi = hi.parse::<Dur>().map_err(|e| e.to_string())?.0;
            if lo > hi {
                return Err(format!("empty range {s}"));
            }
            if log && lo.is_zero() {
                return Err(format!("a log range cannot start at 0: {s}"));
            }
            Ok(Some(Range { lo, hi, log }))
        }
        None if log => Err(format!("log() takes a range lo..hi: {s}")),
        None => Ok(None),
    }
}

impl FromStr for MenuItem {
    type Err = BadFault;

    fn from_str(text: &str) -> Result<Self, BadFault> {
        let bad = |why: String| BadFault {
            line: text.to_string(),
            why,
        };
        let (body, hold_for) = match text.split_once(" for ") {
            Some((body, d)) => {
                let d = d.trim();
                let range = match parse_range(d).map_err(bad)? {
                    Some(r) => r,
                    None => {
                        let d = d.parse::<Dur>().map_err(|e| bad(e.to_string()))?.0;
                        Range {
                            lo: d,
                            hi: d,
                            log: false,
                        }
                    }
                };
                (body, Some(range))
            }
            None => (text, None),
        };
        let mut words = body.split_whitespace();
        let verb = words
            .next()
            .ok_or_else(|| bad("empty menu item".into()))?
            .to_string();
        let mut args = Vec::new();
        for w in words {
            match parse_range(w).map_err(bad)? {
                Some(r) => args.push(Arg::Range(r)),
                None => args.push(Arg::Choice(w.split('|').map(str::to_string).collect())),
            }
        }
        let item = MenuItem {
            verb,
            args,
            hold_for,
            text: text.to_string(),
        };
        // Check every combination's shape once by instantiating the lowest picks.
        let probe = item
            .instantiate(&[0; MAX_ARGS], 0)
            .map_err(|e| bad(e.why))?;
        if item.hold_for.is_some() && probe.0.undo().is_none() {
            return Err(bad(format!(
                "`for` needs a fault that can be undone; {} cannot",
                item.verb
            )));
        }
        Ok(item)
    }
}

impl fmt::Display for MenuItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for MenuItem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for MenuItem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The most arguments any verb takes; raw picks are drawn for this many.
const MAX_ARGS: usize = 4;

/// Raw picks are drawn in `0..=PICK_MAX`: small, so that shrinking them (a binary search
/// towards 0) takes few runs.
const PICK_MAX: u32 = 1000;

/// The point `raw / PICK_MAX` of the way from `lo` to `hi` (on a log scale for a log
/// range), in whole milliseconds.
fn pick_in(r: Range, raw: u32) -> Duration {
    let frac = u64::from(raw.min(PICK_MAX));
    if r.log {
        let (lo, hi) = (r.lo.as_secs_f64(), r.hi.as_secs_f64());
        let at = lo * (hi / lo).powf(frac as f64 / f64::from(PICK_MAX));
        let ms = Duration::from_millis((at * 1000.0).round() as u64);
        return ms.clamp(r.lo, r.hi);
    }
    let span = (r.hi - r.lo).as_millis() as u64;
    r.lo + Duration::from_millis(span * frac / u64::from(PICK_MAX))
}

impl MenuItem {
    /// The concrete fault for raw picks (one per argument), and how long until its undo.
    fn instantiate(
        &self,
        picks: &[u32],
        hold_raw: u32,
    ) -> Result<(Action, Option<Duration>), BadFault> {
        let mut words = vec![self.verb.clone()];
        for (i, arg) in self.args.iter().enumerate() {
            let raw = picks.get(i).copied().unwrap_or(0);
            words.push(match arg {
                Arg::Choice(alts) => alts[raw as usize % alts.len()].clone(),
                Arg::Range(r) => Dur(pick_in(*r, raw)).to_string(),
            });
        }
        let action: Action = words.join(" ").parse()?;
        let hold = self.hold_for.map(|r| pick_in(r, hold_raw));
        Ok((action, hold))
    }

    /// The longest `for` this item can draw.
    pub fn max_hold(&self) -> Duration {
        self.hold_for.map_or(Duration::ZERO, |r| r.hi)
    }

    /// Every host name this item can pick (for validation).
    pub fn hosts(&self) -> Vec<String> {
        let mut out = Vec::new();
        let choices: Vec<&Vec<String>> = self
            .args
            .iter()
            .filter_map(|a| match a {
                Arg::Choice(c) => Some(c),
                Arg::Range(..) => None,
            })
            .collect();
        let widest = choices.iter().map(|c| c.len()).max().unwrap_or(1);
        for k in 0..widest {
            let picks: Vec<u32> = (0..MAX_ARGS).map(|_| k as u32).collect();
            if let Ok((a, _)) = self.instantiate(&picks, 0) {
                out.extend(a.hosts().into_iter().map(str::to_string));
                if let Some(undo) = a.undo() {
                    out.extend(undo.iter().flat_map(|u| u.hosts()).map(str::to_string));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The named configs this item can reload (for validation).
    pub fn configs(&self) -> Vec<String> {
        if self.verb != "reload" {
            return Vec::new();
        }
        match self.args.get(1) {
            Some(Arg::Choice(c)) => c.clone(),
            _ => Vec::new(),
        }
    }
}

/// The random-faults section of a scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomFaults {
    /// Faults start within `[from, to]`.
    pub window: [Dur; 2],
    /// How many faults to draw: `[min, max]` (inclusive).
    pub count: [usize; 2],
    /// What can be drawn.
    pub menu: Vec<MenuItem>,
}

/// One drawn fault before it becomes timed faults: which item, when, and raw picks.
#[derive(Clone, Debug)]
pub struct Gene {
    item: usize,
    offset_ms: u64,
    picks: Vec<u32>,
    hold: u32,
}

impl RandomFaults {
    /// The proptest strategy that draws plans (lists of genes). Shrinking drops genes and
    /// moves the rest towards the window start, the first menu item, and the shortest `for`.
    pub fn strategy(&self) -> BoxedStrategy<Vec<Gene>> {
        let span = self.window[1]
            .0
            .saturating_sub(self.window[0].0)
            .as_millis() as u64;
        let items = self.menu.len().max(1);
        let gene = (
            0..items,
            0..=span,
            vec(0..=PICK_MAX, MAX_ARGS),
            0..=PICK_MAX,
        )
            .prop_map(|(item, offset_ms, picks, hold)| Gene {
                item,
                offset_ms,
                picks,
                hold,
            });
        vec(gene, self.count[0]..=self.count[1]).boxed()
    }

    /// The timed faults for drawn genes (each fault followed by its undo, if it has `for`).
    pub fn faults(&self, genes: &[Gene]) -> Vec<TimedFault> {
        let mut out = Vec::new();
        for g in genes {
            let Some(item) = self.menu.get(g.item) else {
                continue;
            };
            let Ok((action, hold)) = item.instantiate(&g.picks, g.hold) else {
                continue;
            };
            let at = self.window[0].0 + Duration::from_millis(g.offset_ms);
            let undo = action.undo();
            out.push(TimedFault {
                at: Dur(at),
                action,
                id: None,
            });
            if let (Some(hold), Some(undo)) = (hold, undo) {
                for u in undo {
                    out.push(TimedFault {
                        at: Dur(at + hold),
                        action: u,
                        id: None,
                    });
                }
            }
        }
        out
    }

    /// The value tree of plans for `seed`: its current value is the seed's plan, and
    /// proptest's `simplify`/`complicate` walk towards smaller plans.
    pub fn tree(&self, seed: u64) -> Result<Box<dyn ValueTree<Value = Vec<Gene>>>, String> {
        let mut runner = plan_runner(seed);
        self.strategy()
            .new_tree(&mut runner)
            .map(|t| Box::new(t) as _)
            .map_err(|e| e.to_string())
    }
}

/// A proptest runner whose RNG is derived from `seed` (and nothing else).
pub fn plan_runner(seed: u64) -> TestRunner {
    let bytes = crate::seed::derive_bytes(seed, "fault-plan");
    let config = PtConfig {
        failure_persistence: None,
        ..PtConfig::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip() {
        for line in [
            "partition c1 s1",
            "partition_oneway c1 s1",
            "repair c1 s1",
            "repair_oneway s1 c1",
            "hold a b",
            "unhold a b",
            "isolate s1",
            "heal s1",
            "latency c1 s1 200ms",
            "latency c1 s1 default",
            "crash s1",
            "silent_kill s1",
            "start s1",
            "restart s1",
            "shutdown s1",
            "lame_duck s1",
            "reload s1 strict",
            "gate s1 leaf.after_dial",
            "release s1 leaf.after_dial",
            "client_stop c1",
            "unresponsive c1",
            "responsive c1",
        ] {
            let a: Action = line.parse().unwrap();
            assert_eq!(a.to_string(), line);
        }
    }

    #[test]
    fn bad_actions_are_errors() {
        assert!("".parse::<Action>().is_err());
        assert!("explode s1".parse::<Action>().is_err());
        let e = "partition s1".parse::<Action>().unwrap_err();
        assert!(e.to_string().contains("partition A B"), "{e}");
        assert!("latency a b fast".parse::<Action>().is_err());
    }

    #[test]
    fn menu_items_parse_and_validate() {
        let m: MenuItem = "partition c1|c2 s1 for 1s..5s".parse().unwrap();
        assert_eq!(m.hosts(), vec!["c1", "c2", "s1"]);
        assert_eq!(m.max_hold(), Duration::from_secs(5));
        assert!("restart s1 for 2s".parse::<MenuItem>().is_err());
        assert!("latency a b 5s..1s".parse::<MenuItem>().is_err());
        let m: MenuItem = "latency c1 s1 50ms..300ms for 2s".parse().unwrap();
        let (a, hold) = m.instantiate(&[0, 0, 400, 0], 7).unwrap();
        assert_eq!(a.to_string(), "latency c1 s1 150ms");
        assert_eq!(hold, Some(Duration::from_secs(2)));
    }

    #[test]
    fn log_ranges_cover_every_order_of_magnitude() {
        let m: MenuItem = "crash s1 for log(1s..10m)".parse().unwrap();
        assert_eq!(m.max_hold(), Duration::from_secs(600));
        let hold = |raw| m.instantiate(&[0; MAX_ARGS], raw).unwrap().1.unwrap();
        assert_eq!(hold(0), Duration::from_secs(1));
        assert_eq!(hold(PICK_MAX), Duration::from_secs(600));
        // Half way on a log scale is the geometric mean, sqrt(600) s.
        assert_eq!(hold(PICK_MAX / 2), Duration::from_millis(24_495));
        let m: MenuItem = "latency c1 s1 log(10ms..1s)".parse().unwrap();
        let (a, _) = m.instantiate(&[0, 0, PICK_MAX / 2, 0], 0).unwrap();
        assert_eq!(a.to_string(), "latency c1 s1 100ms");
        assert!("crash s1 for log(0s..1s)".parse::<MenuItem>().is_err());
        assert!("crash s1 for log(1s)".parse::<MenuItem>().is_err());
    }

    #[test]
    fn plans_are_a_function_of_the_seed() {
        let rf = RandomFaults {
            window: ["2s".parse().unwrap(), "10s".parse().unwrap()],
            count: [1, 4],
            menu: vec![
                "partition c1 s1 for 1s..3s".parse().unwrap(),
                "restart s1".parse().unwrap(),
            ],
        };
        let plan = |seed| FaultPlan::new(rf.faults(&rf.tree(seed).unwrap().current()));
        assert_eq!(plan(7), plan(7));
        let distinct: std::collections::BTreeSet<String> =
            (0..20).map(|s| plan(s).to_toml()).collect();
        assert!(distinct.len() > 10, "plans should vary with the seed");
        for s in 0..20 {
            let p = plan(s);
            assert!(!p.faults.is_empty());
            for f in &p.faults {
                assert!(f.at.0 >= Duration::from_secs(2) && f.at.0 <= Duration::from_secs(13));
            }
        }
    }

    #[test]
    fn plan_toml_parses_back() {
        #[derive(Deserialize)]
        struct F {
            fault: Vec<TimedFault>,
        }
        let plan = FaultPlan::new(vec![
            TimedFault {
                at: "5s".parse().unwrap(),
                action: "crash s1".parse().unwrap(),
                id: None,
            },
            TimedFault {
                at: "1.250s".parse().unwrap(),
                action: "partition c1 s1".parse().unwrap(),
                id: Some("cut".into()),
            },
        ]);
        let back: F = toml::from_str(&plan.to_toml()).unwrap();
        assert_eq!(FaultPlan::new(back.fault), plan);
    }
}
