//! Shrinking a failing random fault plan with proptest.
//!
//! The seed's plan is the current value of a proptest value tree (see
//! [`crate::fault_plan::RandomFaults::tree`]); proptest's own shrinking then tries smaller
//! plans — fewer faults, earlier, shorter — keeping each one that still fails. The network
//! seed stays the seed's throughout, so the minimal plan replays with `--seed N`.

use std::cell::{Cell, RefCell};

use proptest::test_runner::{Config as PtConfig, TestCaseError, TestError, TestRunner};
use rejoin_core::bugs::BugSwitch;

use crate::fault_plan::FaultPlan;
use crate::scenario::Scenario;
use crate::world::{run, RunOptions, Verdict};

/// The result of shrinking.
#[derive(Debug)]
pub struct Shrunk {
    /// The seed (network and everything but the plan).
    pub seed: u64,
    /// The original failing plan.
    pub original: FaultPlan,
    /// The smallest failing plan found.
    pub minimal: FaultPlan,
    /// How the minimal plan fails.
    pub failures: Vec<Verdict>,
    /// Runs made while shrinking.
    pub runs: u32,
}

/// Shrinks the seed's failing plan. Errors if the scenario has no random faults or the
/// seed does not fail.
pub fn shrink(
    s: &Scenario,
    seed: u64,
    bugs: &[BugSwitch],
    max_runs: u32,
    progress: &dyn Fn(u32, &FaultPlan, bool),
) -> Result<Shrunk, String> {
    let rf = s.random_faults.as_ref().ok_or(
        "shrink needs a scenario with [random_faults]: a fixed timeline is already explicit",
    )?;
    let tree = rf.tree(seed)?;
    let plan_of = |genes: &[crate::fault_plan::Gene]| {
        let mut faults = s.faults.clone();
        faults.extend(rf.faults(genes));
        FaultPlan::new(faults)
    };
    let original = plan_of(&tree.current());
    let runs = Cell::new(0u32);
    let last_failures: RefCell<Vec<Verdict>> = RefCell::new(Vec::new());
    let attempt = |plan: FaultPlan| -> Result<bool, String> {
        runs.set(runs.get() + 1);
        let opts = RunOptions {
            seed,
            bugs: bugs.to_vec(),
            keep_trace: false,
            plan: Some(plan.clone()),
        };
        let out = run(s, &opts)?;
        let failed = !out.pass();
        if failed {
            *last_failures.borrow_mut() = out.verdicts.into_iter().filter(|v| !v.pass).collect();
        }
        progress(runs.get(), &plan, failed);
        Ok(failed)
    };
    if !attempt(original.clone())? {
        return Err(format!("seed {seed} passes: nothing to shrink"));
    }
    let failures_of_original = last_failures.borrow().clone();
    let config = PtConfig {
        max_shrink_iters: max_runs,
        failure_persistence: None,
        ..PtConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run_one(tree, |genes| match attempt(plan_of(&genes)) {
        Ok(true) => Err(TestCaseError::fail("invariant failed")),
        Ok(false) => Ok(()),
        // A plan the world cannot run is not a smaller failure.
        Err(_) => Ok(()),
    });
    let (minimal, failures) = match result {
        Err(TestError::Fail(_, genes)) => {
            let minimal = plan_of(&genes);
            // Re-run the minimal plan so the reported failures are its own.
            let failures = if attempt(minimal.clone())? {
                last_failures.borrow().clone()
            } else {
                failures_of_original
            };
            (minimal, failures)
        }
        // The first run of `run_one` replays the original, which failed above; if it now
        // passes the run is not deterministic — report the original unshrunk.
        _ => (original.clone(), failures_of_original),
    };
    Ok(Shrunk {
        seed,
        original,
        minimal,
        failures,
        runs: runs.get(),
    })
}
