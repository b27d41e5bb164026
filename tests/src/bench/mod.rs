//! Side-by-side benchmark of rejoin and nats-server (`rejoin-bench`).
//!
//! Each row starts a fresh server with the same config, runs one load and stops the server, so
//! rows do not inherit each other's state. Loads are generated with raw TCP (pipelined PUBs,
//! counting subscribers) so that client-library overhead does not dominate; request/reply uses
//! async-nats because that is what applications do.

pub mod request;
pub mod rss;
pub mod throughput;
pub mod wire;

use std::process::Command;

/// Config shared by both servers. `max_pending` is raised so a subscriber thread that loses its
/// core for a moment is not cut off as a slow consumer (the load generators also bound what is
/// in flight); everything else stays at the defaults.
pub const BENCH_CONF: &str = "max_pending: 256MB\nwrite_deadline: \"30s\"\n";

/// One line of the result table: a value per server (None = not run or failed).
#[derive(Debug, Clone)]
pub struct Row {
    pub label: String,
    pub unit: &'static str,
    pub higher_is_better: bool,
    pub rejoin: Cell,
    pub nats: Cell,
}

/// A measured value or why there is none.
#[derive(Debug, Clone)]
pub enum Cell {
    Value(f64),
    Failed(String),
    NotRun,
}

impl Cell {
    fn show(&self) -> String {
        match self {
            Cell::Value(v) if *v >= 100.0 => group_thousands(*v as u64),
            Cell::Value(v) => format!("{v:.1}"),
            Cell::Failed(_) => "FAILED".into(),
            Cell::NotRun => "-".into(),
        }
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Renders the result table, with failures listed beneath it.
pub fn render(rows: &[Row]) -> String {
    let labels: Vec<String> = rows
        .iter()
        .map(|r| {
            let better = if r.higher_is_better {
                "higher"
            } else {
                "lower"
            };
            format!("{} ({}, {better})", r.label, r.unit)
        })
        .collect();
    let label_width = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(3);
    let mut out = format!(
        "{:<label_width$}  {:>14}  {:>14}  {:>7}\n",
        "row", "rejoin", "nats-server", "ratio"
    );
    out.push_str(&format!(
        "{}\n",
        "-".repeat(label_width + 2 + 14 + 2 + 14 + 2 + 7)
    ));
    let mut failures = Vec::new();
    for (row, label) in rows.iter().zip(&labels) {
        let ratio = match (&row.rejoin, &row.nats) {
            (Cell::Value(r), Cell::Value(n)) if *n > 0.0 => format!("{:.2}", r / n),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "{:<label_width$}  {:>14}  {:>14}  {:>7}\n",
            label,
            row.rejoin.show(),
            row.nats.show(),
            ratio
        ));
        for (server, cell) in [("rejoin", &row.rejoin), ("nats-server", &row.nats)] {
            if let Cell::Failed(why) = cell {
                failures.push(format!("{} [{server}]: {why}", row.label));
            }
        }
    }
    out.push_str(
        "ratio = rejoin / nats-server: above 1 is better for rows marked higher, below 1 for lower\n",
    );
    for f in failures {
        out.push_str(&format!("failure: {f}\n"));
    }
    out
}

/// Date, core count and CPU model, for the header of a run.
pub fn host_description() -> String {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown date".into());
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("date: {date}\nnproc: {nproc}\ncpu: {cpu}")
}

/// `<binary> --version`, first line, for the header.
pub fn binary_version(bin: &std::path::Path) -> String {
    Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_else(|| "version unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1000), "1,000");
        assert_eq!(group_thousands(1234567), "1,234,567");
    }

    #[test]
    fn table_shows_ratio_only_when_both_ran() {
        let rows = vec![
            Row {
                label: "a".into(),
                unit: "msg/s",
                higher_is_better: true,
                rejoin: Cell::Value(200.0),
                nats: Cell::Value(100.0),
            },
            Row {
                label: "b".into(),
                unit: "msg/s",
                higher_is_better: true,
                rejoin: Cell::Failed("boom".into()),
                nats: Cell::Value(100.0),
            },
        ];
        let table = render(&rows);
        assert!(table.contains("2.00"), "{table}");
        assert!(table.contains("failure: b [rejoin]: boom"), "{table}");
    }
}
