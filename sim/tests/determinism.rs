//! Meta-tests of the simulator itself: every scenario replays byte for byte from its seed,
//! and `check` holds for every scenario (passes with the fix, fails with its negative
//! control) on a few seeds.

use std::path::PathBuf;

use rejoin_sim::explore::{check, explore};
use rejoin_sim::scenario::Scenario;
use rejoin_sim::world::{run, RunOptions};

fn scenarios() -> Vec<(PathBuf, Scenario)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("sim/scenarios exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 2,
        "expected the scenario library in {}",
        dir.display()
    );
    paths
        .into_iter()
        .map(|p| {
            let s = Scenario::load(&p).unwrap_or_else(|e| panic!("{e}"));
            (p, s)
        })
        .collect()
}

#[test]
fn every_scenario_replays_identically_from_its_seed() {
    for (path, s) in scenarios() {
        let mut hashes = Vec::new();
        for seed in [0u64, 1, 17] {
            let opts = RunOptions {
                seed,
                keep_trace: true,
                ..RunOptions::default()
            };
            let a = run(&s, &opts).unwrap();
            let b = run(&s, &opts).unwrap();
            assert_eq!(
                a.trace.text(),
                b.trace.text(),
                "{} seed {seed}: two runs printed different traces",
                path.display()
            );
            assert_eq!(a.trace.hash(), b.trace.hash());
            assert!(
                a.trace.lines().len() > 10,
                "{}: suspiciously short trace",
                path.display()
            );
            hashes.push(a.trace.hash());
        }
        // The seed must matter (jitter, latency, plans): otherwise seeds explore nothing.
        hashes.dedup();
        assert!(
            hashes.len() > 1,
            "{}: every seed produced the same trace",
            path.display()
        );
    }
}

#[test]
fn check_holds_for_every_scenario_with_a_negative_control() {
    let mut checked = 0;
    for (path, s) in scenarios() {
        if s.negative_control.is_none() {
            continue;
        }
        let report = check(&s, 0..4, 2, true).unwrap();
        let fixed: Vec<(u64, String)> = report
            .fixed_failures()
            .iter()
            .map(|r| (r.seed, format!("{:?}", r.failures)))
            .collect();
        assert!(
            fixed.is_empty(),
            "{}: fails with the fix: {fixed:?}",
            path.display()
        );
        if report.control_share < 1.0 {
            // A control that only has to catch a share of the seeds says nothing over four
            // of them; the simulator stage of the test command checks its share over 1,000.
            continue;
        }
        let undetected: Vec<u64> = report.control_passes().iter().map(|r| r.seed).collect();
        assert!(
            undetected.is_empty(),
            "{}: seeds {undetected:?} pass with negative control {:?}: the bug goes undetected",
            path.display(),
            report.switch
        );
        assert!(report.ok());
        checked += 1;
    }
    assert!(
        checked >= 2,
        "expected at least two scenarios with a negative control"
    );
}

#[test]
fn threads_do_not_change_results() {
    for (path, s) in scenarios() {
        let one: Vec<u64> = explore(&s, 0..4, 1, &[], "t", true)
            .iter()
            .map(|r| r.hash)
            .collect();
        let two: Vec<u64> = explore(&s, 0..4, 2, &[], "t", true)
            .iter()
            .map(|r| r.hash)
            .collect();
        assert_eq!(one, two, "{}: --jobs changed the traces", path.display());
    }
}
