//! Rough throughput of the subscription index: matches per second for a literal hit, a
//! wildcard hit, a miss, `has_interest`, and a warm `MatchCache`.
//!
//! Run: `cargo run --release -p rejoin-core --example sublist_bench [subscriptions]`.
//! Not a test: numbers depend on the machine and its load.

// Measuring wall time is the point of this program; the core itself never reads a clock.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use rejoin_core::sublist::{MatchCache, Sublist};

const REGIONS: [&str; 8] = ["eu", "us", "ap", "sa", "af", "me", "oc", "an"];

fn main() {
    let subscriptions: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let mut list = Sublist::new();
    // Mostly literal subjects, like per-entity inboxes, plus some wildcards and queues.
    for i in 0..subscriptions {
        let region = REGIONS[i as usize % REGIONS.len()];
        list.insert(&format!("orders.{region}.{i}.created"), None, i)
            .expect("valid subject");
    }
    for (i, region) in REGIONS.iter().enumerate() {
        let i = i as u32;
        list.insert(&format!("audit.{region}.>"), None, subscriptions + i)
            .expect("valid subject");
        list.insert(&format!("audit.*.{region}"), Some("auditors"), i)
            .expect("valid subject");
    }
    list.insert("metrics.>", None, u32::MAX)
        .expect("valid subject");
    println!(
        "sublist: {} entries, {} nodes",
        list.len(),
        list.node_count()
    );

    let literal = format!("orders.eu.{}.created", subscriptions / 2 / 8 * 8);
    assert_eq!(list.matches(&literal).plain.len(), 1);
    let wildcard = "audit.eu.us";
    assert!(!list.matches(wildcard).is_empty());
    let miss = "orders.eu.nobody.created";
    assert!(list.matches(miss).is_empty());

    report("matches, literal hit", || list.matches(&literal));
    report("matches, wildcard + queue hit", || list.matches(wildcard));
    report("matches, miss", || list.matches(miss));
    report("has_interest, literal hit", || list.has_interest(&literal));
    let mut cache = MatchCache::new(256);
    report("MatchCache::get, hit", || cache.get(&list, &literal));
    println!("cache: {} hits, {} misses", cache.hits(), cache.misses());
}

/// Runs `f` for about half a second and prints calls per second.
fn report<R>(name: &str, mut f: impl FnMut() -> R) {
    let budget = Duration::from_millis(500);
    let start = Instant::now();
    let mut calls: u64 = 0;
    while start.elapsed() < budget {
        for _ in 0..1000 {
            black_box(f());
        }
        calls += 1000;
    }
    let per_sec = calls as f64 / start.elapsed().as_secs_f64();
    println!("{name:32} {:>8.2} M/s", per_sec / 1e6);
}
