//! `rejoin-sim`: run, explore, shrink and check simulation scenarios; render timelines.
//!
//! Exit codes: 0 pass, 1 an invariant failed (or `check` found a problem), 2 usage or
//! scenario errors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rejoin_core::bugs::BugSwitch;
use rejoin_sim::explore::{self, failure_report, parse_seeds};
use rejoin_sim::scenario::Scenario;
use rejoin_sim::world::{run, RunOptions, NOT_EVALUATED};
use rejoin_sim::{shrink, timeline, COMMIT};

#[derive(Parser)]
#[command(
    name = "rejoin-sim",
    version,
    about = "Deterministic simulator for rejoin"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one seed of a scenario and print the verdict.
    Run {
        /// Scenario file.
        file: PathBuf,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Switch a historical bug on (repeatable).
        #[arg(long = "bug")]
        bugs: Vec<String>,
        /// Write the JSON-lines trace here.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Write the HTML timeline here.
        #[arg(long)]
        html: Option<PathBuf>,
    },
    /// Run many seeds in parallel and report the failing ones.
    Explore {
        /// Scenario file.
        file: PathBuf,
        /// Seeds, `A..B` (B excluded).
        #[arg(long, default_value = "0..100")]
        seeds: String,
        /// OS threads.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// Switch a historical bug on (repeatable).
        #[arg(long = "bug")]
        bugs: Vec<String>,
    },
    /// Shrink a failing random fault plan to a minimal one (network seed fixed).
    Shrink {
        /// Scenario file (with `[random_faults]`).
        file: PathBuf,
        /// The failing seed.
        #[arg(long)]
        seed: u64,
        /// Switch a historical bug on (repeatable).
        #[arg(long = "bug")]
        bugs: Vec<String>,
        /// Give up shrinking after this many runs.
        #[arg(long, default_value_t = 200)]
        max_runs: u32,
    },
    /// Every seed must pass with the fix and fail with the scenario's negative control.
    Check {
        /// Scenario files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Seeds, `A..B` (B excluded).
        #[arg(long, default_value = "0..20")]
        seeds: String,
        /// OS threads.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
    },
    /// Render a trace file as a self-contained HTML timeline.
    Timeline {
        /// Trace file (JSON lines).
        trace: PathBuf,
        /// Output HTML file.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// List the bug switches.
    Bugs,
}

fn load(path: &Path) -> Result<Scenario, ExitCode> {
    Scenario::load(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

fn switches(names: &[String]) -> Result<Vec<BugSwitch>, ExitCode> {
    names
        .iter()
        .map(|n| n.parse::<BugSwitch>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        })
}

fn write(path: &Path, text: &str) -> Result<(), ExitCode> {
    std::fs::write(path, text).map_err(|e| {
        eprintln!("error: cannot write {}: {e}", path.display());
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    match real_main(Cli::parse()) {
        Ok(code) | Err(code) => code,
    }
}

fn real_main(cli: Cli) -> Result<ExitCode, ExitCode> {
    match cli.cmd {
        Cmd::Run {
            file,
            seed,
            bugs,
            trace,
            html,
        } => {
            let s = load(&file)?;
            let bugs = switches(&bugs)?;
            let keep = trace.is_some() || html.is_some();
            let opts = RunOptions {
                seed,
                bugs: bugs.clone(),
                keep_trace: keep,
                plan: None,
            };
            let out = run(&s, &opts).map_err(|e| {
                eprintln!("error: {e}");
                ExitCode::from(2)
            })?;
            if let Some(p) = &trace {
                write(p, &out.trace.text())?;
            }
            if let Some(p) = &html {
                write(p, &timeline::render(&out.trace.text(), &s.name))?;
            }
            for v in &out.verdicts {
                let mark = match (v.pass, v.detail == NOT_EVALUATED) {
                    (false, _) => "FAIL",
                    (true, true) => "skip",
                    (true, false) => "ok  ",
                };
                println!("{mark} {}: {}", v.invariant, v.detail);
            }
            println!(
                "{}: {} seed {} ({} simulated, {} steps) trace {:016x}",
                s.name,
                if out.pass() { "PASS" } else { "FAIL" },
                seed,
                rejoin_sim::duration::stamp(out.end),
                out.steps,
                out.trace.hash()
            );
            if !out.pass() {
                let r = explore::SeedResult {
                    seed,
                    bugs,
                    pass: false,
                    failures: out.verdicts.iter().filter(|v| !v.pass).cloned().collect(),
                    plan: out.plan.clone(),
                    hash: out.trace.hash(),
                };
                print!("{}", failure_report(&file.display().to_string(), &r));
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Explore {
            file,
            seeds,
            jobs,
            bugs,
        } => {
            let s = load(&file)?;
            let bugs = switches(&bugs)?;
            let seeds = parse_seeds(&seeds).map_err(|e| {
                eprintln!("error: {e}");
                ExitCode::from(2)
            })?;
            let n = seeds.end - seeds.start;
            let results = explore::explore(&s, seeds, jobs, &bugs, &s.name, false);
            let failed: Vec<_> = results.iter().filter(|r| !r.pass).collect();
            for r in &failed {
                print!("{}", failure_report(&file.display().to_string(), r));
            }
            println!(
                "{}: {} of {n} seeds failed (commit {COMMIT})",
                s.name,
                failed.len()
            );
            Ok(if failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Shrink {
            file,
            seed,
            bugs,
            max_runs,
        } => {
            let s = load(&file)?;
            let bugs = switches(&bugs)?;
            let progress = |n: u32, plan: &rejoin_sim::fault_plan::FaultPlan, failed: bool| {
                eprintln!(
                    "run {n}: {} fault(s), {}",
                    plan.faults.len(),
                    if failed { "fails" } else { "passes" }
                );
            };
            let out = shrink::shrink(&s, seed, &bugs, max_runs, &progress).map_err(|e| {
                eprintln!("error: {e}");
                ExitCode::from(2)
            })?;
            println!(
                "# seed {seed}: {} fault(s) shrunk to {} in {} runs (commit {COMMIT})",
                out.original.faults.len(),
                out.minimal.faults.len(),
                out.runs
            );
            for v in &out.failures {
                println!("# fails: {}: {}", v.invariant, v.detail);
            }
            println!(
                "# Replace [random_faults] and the [[fault]] tables of {} with the following,",
                file.display()
            );
            let bug_flags: String = bugs.iter().map(|b| format!(" --bug {b}")).collect();
            println!("# then replay with: rejoin-sim run FILE --seed {seed}{bug_flags}\n");
            print!("{}", out.minimal.to_toml());
            Ok(ExitCode::from(1))
        }
        Cmd::Check { files, seeds, jobs } => {
            let seeds = parse_seeds(&seeds).map_err(|e| {
                eprintln!("error: {e}");
                ExitCode::from(2)
            })?;
            let mut all_ok = true;
            for file in &files {
                let s = load(file)?;
                let path = file.display().to_string();
                let started = std::time::Instant::now();
                let report = explore::check(&s, seeds.clone(), jobs, false).map_err(|e| {
                    eprintln!("error: {path}: {e}");
                    ExitCode::from(2)
                })?;
                for r in report.fixed_failures() {
                    print!("{}", failure_report(&path, r));
                }
                // A partial control passes on some seeds by design: only the share counts.
                let listed = if report.control_share >= 1.0 {
                    report.control_passes()
                } else {
                    Vec::new()
                };
                for r in listed {
                    let bug = report.switch.map(|b| b.to_string()).unwrap_or_default();
                    println!(
                        "CONTROL PASSED seed {} with bug {bug}: the scenario does not detect it\n  replay: {}",
                        r.seed,
                        explore::replay_command(&path, r)
                    );
                }
                let control = match report.switch {
                    Some(b) if report.control_share < 1.0 => format!(
                        "negative control {b} failed {}/{} (at least {:.0}% required)",
                        report.control.iter().filter(|r| !r.pass).count(),
                        report.control.len(),
                        report.control_share * 100.0
                    ),
                    Some(b) => format!(
                        "negative control {b} failed {}/{}",
                        report.control.iter().filter(|r| !r.pass).count(),
                        report.control.len()
                    ),
                    None => "no negative control declared".to_string(),
                };
                println!(
                    "{}: {} — fixed {}/{} passed, {control} ({:.1}s)",
                    s.name,
                    if report.ok() { "OK" } else { "PROBLEM" },
                    report.fixed.iter().filter(|r| r.pass).count(),
                    report.fixed.len(),
                    started.elapsed().as_secs_f64()
                );
                all_ok &= report.ok();
            }
            Ok(if all_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Timeline { trace, output } => {
            let text = std::fs::read_to_string(&trace).map_err(|e| {
                eprintln!("error: cannot read {}: {e}", trace.display());
                ExitCode::from(2)
            })?;
            let title = trace
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            write(&output, &timeline::render(&text, &title))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bugs => {
            for b in BugSwitch::ALL {
                println!("{:<32} {}", b.name(), b.description());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
