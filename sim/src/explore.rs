//! Many seeds: `explore` (find failing seeds) and `check` (the fix passes every seed and the
//! negative control fails every seed).
//!
//! Seeds run in parallel on `jobs` OS threads; each seed is its own `Sim` on one thread, so
//! parallelism never touches determinism. Results are reported in seed order.

use std::io::{IsTerminal, Write};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant as WallClock;

use rejoin_core::bugs::BugSwitch;

use crate::fault_plan::FaultPlan;
use crate::scenario::Scenario;
use crate::world::{run, RunOptions, Verdict};

/// One seed's result.
#[derive(Clone, Debug)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Bug switches that were on (besides the scenario's own).
    pub bugs: Vec<BugSwitch>,
    /// Whether every invariant held.
    pub pass: bool,
    /// The failing verdicts (or the error that stopped the run).
    pub failures: Vec<Verdict>,
    /// The plan that ran.
    pub plan: FaultPlan,
    /// The trace hash.
    pub hash: u64,
}

/// Parses `A..B` (B excluded) or a single seed `N`.
pub fn parse_seeds(s: &str) -> Result<Range<u64>, String> {
    let bad = || format!("bad seed range {s:?}: expected A..B (B excluded) or N");
    match s.split_once("..") {
        Some((a, b)) => {
            let a: u64 = a.trim().parse().map_err(|_| bad())?;
            let b: u64 = b.trim().parse().map_err(|_| bad())?;
            if a >= b {
                return Err(bad());
            }
            Ok(a..b)
        }
        None => {
            let n: u64 = s.trim().parse().map_err(|_| bad())?;
            Ok(n..n.saturating_add(1))
        }
    }
}

/// Runs one seed, turning a setup error into a failing result.
pub fn run_seed(s: &Scenario, seed: u64, bugs: &[BugSwitch]) -> SeedResult {
    let opts = RunOptions {
        seed,
        bugs: bugs.to_vec(),
        keep_trace: false,
        plan: None,
    };
    match run(s, &opts) {
        Ok(out) => SeedResult {
            seed,
            bugs: bugs.to_vec(),
            pass: out.pass(),
            failures: out.verdicts.iter().filter(|v| !v.pass).cloned().collect(),
            plan: out.plan,
            hash: out.trace.hash(),
        },
        Err(e) => SeedResult {
            seed,
            bugs: bugs.to_vec(),
            pass: false,
            failures: vec![Verdict {
                invariant: "setup".into(),
                pass: false,
                detail: e,
            }],
            plan: FaultPlan::default(),
            hash: 0,
        },
    }
}

/// A progress bar on stderr: redrawn in place on a terminal, every 10% otherwise.
struct Progress {
    label: String,
    total: u64,
    done: AtomicU64,
    failed: AtomicU64,
    start: WallClock,
    tty: bool,
    quiet: bool,
}

impl Progress {
    fn new(label: &str, total: u64, quiet: bool) -> Self {
        Progress {
            label: label.to_string(),
            total,
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            start: WallClock::now(),
            tty: std::io::stderr().is_terminal(),
            quiet,
        }
    }

    fn tick(&self, failed: bool) {
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        let bad = self.failed.fetch_add(u64::from(failed), Ordering::SeqCst) + u64::from(failed);
        if self.quiet {
            return;
        }
        let decile = |n: u64| n * 10 / self.total.max(1);
        if !self.tty && done != self.total && decile(done) == decile(done - 1) {
            return;
        }
        let width = 30u64;
        let filled = (done * width / self.total.max(1)) as usize;
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let bar = format!(
            "{} [{}{}] {done}/{} seeds, {bad} failing, {:.1} seeds/s",
            self.label,
            "=".repeat(filled),
            " ".repeat(width as usize - filled),
            self.total,
            done as f64 / secs
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r{bar}");
            if done == self.total {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{bar}");
        }
    }
}

/// Runs every seed of `seeds` with `bugs` on `jobs` threads; results in seed order.
pub fn explore(
    s: &Scenario,
    seeds: Range<u64>,
    jobs: usize,
    bugs: &[BugSwitch],
    label: &str,
    quiet: bool,
) -> Vec<SeedResult> {
    let list: Vec<u64> = seeds.collect();
    let progress = Progress::new(label, list.len() as u64, quiet);
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(list.len()));
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(list.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&seed) = list.get(i) else { break };
                let r = run_seed(s, seed, bugs);
                progress.tick(!r.pass);
                results.lock().unwrap_or_else(|p| p.into_inner()).push(r);
            });
        }
    });
    let mut out = results.into_inner().unwrap_or_else(|p| p.into_inner());
    out.sort_by_key(|r| r.seed);
    out
}

/// The command that replays `r` exactly.
pub fn replay_command(path: &str, r: &SeedResult) -> String {
    let mut cmd = format!("rejoin-sim run {path} --seed {}", r.seed);
    for b in &r.bugs {
        cmd.push_str(&format!(" --bug {b}"));
    }
    cmd
}

/// A failure report: seed, bugs, commit, failing invariants, plan, replay command.
pub fn failure_report(path: &str, r: &SeedResult) -> String {
    let bugs = if r.bugs.is_empty() {
        "none".to_string()
    } else {
        r.bugs
            .iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = format!(
        "FAIL seed {} (bug switches: {bugs}; commit {})\n",
        r.seed,
        crate::COMMIT
    );
    for v in &r.failures {
        s.push_str(&format!("  invariant {}: {}\n", v.invariant, v.detail));
    }
    s.push_str("  fault plan:\n");
    for line in r.plan.summary().lines() {
        s.push_str(&format!("  {line}\n"));
    }
    s.push_str(&format!("  replay: {}\n", replay_command(path, r)));
    s
}

/// The outcome of `check` for one scenario.
#[derive(Debug)]
pub struct CheckReport {
    /// Seeds run with the fix.
    pub fixed: Vec<SeedResult>,
    /// Seeds run with the negative control (empty if the scenario declares none).
    pub control: Vec<SeedResult>,
    /// The negative-control switch.
    pub switch: Option<BugSwitch>,
    /// The share of seeds on which the negative control must fail (1.0: every seed).
    pub control_share: f64,
}

impl CheckReport {
    /// The fix passed every seed and the negative control failed every seed (or the
    /// declared share of them, for random-fault scenarios). A scenario without a negative
    /// control only needs the fix to pass.
    pub fn ok(&self) -> bool {
        let failed = self.control.iter().filter(|r| !r.pass).count();
        let control_ok = if self.control_share >= 1.0 {
            failed == self.control.len()
        } else {
            failed as f64 >= self.control_share * self.control.len() as f64
        };
        self.fixed.iter().all(|r| r.pass) && control_ok
    }

    /// Seeds where the fixed build failed.
    pub fn fixed_failures(&self) -> Vec<&SeedResult> {
        self.fixed.iter().filter(|r| !r.pass).collect()
    }

    /// Seeds where the negative control did not fail.
    pub fn control_passes(&self) -> Vec<&SeedResult> {
        self.control.iter().filter(|r| r.pass).collect()
    }
}

/// Runs `seeds` with the fix and, if the scenario declares one, with its negative control.
pub fn check(
    s: &Scenario,
    seeds: Range<u64>,
    jobs: usize,
    quiet: bool,
) -> Result<CheckReport, String> {
    let switch = s.negative_control()?;
    let control_share = s.negative_control_share()?;
    let fixed = explore(
        s,
        seeds.clone(),
        jobs,
        &[],
        &format!("{} fixed", s.name),
        quiet,
    );
    let control = match switch {
        Some(b) => explore(s, seeds, jobs, &[b], &format!("{} {b}", s.name), quiet),
        None => Vec::new(),
    };
    Ok(CheckReport {
        fixed,
        control,
        switch,
        control_share,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(seed: u64, pass: bool) -> SeedResult {
        SeedResult {
            seed,
            bugs: Vec::new(),
            pass,
            failures: Vec::new(),
            plan: FaultPlan::default(),
            hash: 0,
        }
    }

    #[test]
    fn a_partial_negative_control_needs_its_share_of_failures() {
        let report = |failing: u64, share: f64| CheckReport {
            fixed: (0..10).map(|s| result(s, true)).collect(),
            control: (0..10).map(|s| result(s, s >= failing)).collect(),
            switch: None,
            control_share: share,
        };
        assert!(report(10, 1.0).ok());
        assert!(!report(9, 1.0).ok());
        assert!(report(3, 0.3).ok());
        assert!(!report(2, 0.3).ok());
    }

    #[test]
    fn seed_ranges() {
        assert_eq!(parse_seeds("0..200").unwrap(), 0..200);
        assert_eq!(parse_seeds("7").unwrap(), 7..8);
        assert!(parse_seeds("5..5").is_err());
        assert!(parse_seeds("a..b").is_err());
    }
}
