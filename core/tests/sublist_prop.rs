//! Property tests: the subscription index against a naive model.
//!
//! The model is a set of (subject, queue, value) entries and the reference matcher
//! `subject_matches`. Random operation sequences (inserts, removes of present and absent
//! entries, matches through the uncached and cached paths) must give exactly the model's
//! answers, including the interest-change reports, generations and the aggregated interest
//! list; removing whatever is left must return the trie to empty.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::sample::Index;
use rejoin_core::subject::{
    filter_covers, has_wildcard, is_valid_literal_subject, is_valid_subject, subject_matches,
};
use rejoin_core::sublist::{Interest, InterestChange, MatchCache, MatchResult, Sublist};

type Entry = (String, Option<String>, u8);

#[derive(Debug, Clone)]
enum Op {
    Insert(Entry),
    /// Remove a random entry, usually absent.
    Remove(Entry),
    /// Remove an entry the model holds (if any).
    RemovePresent(Index),
    Match(String),
}

/// One of a dozen tokens: enough for a trie level to outgrow its small linear form and
/// switch to its hash index (and back, as entries are removed).
fn wide_token() -> impl Strategy<Value = String> {
    (0u8..12).prop_map(|n| format!("n{n}"))
}

fn filter() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        3 => Just("a".to_owned()),
        3 => Just("b".to_owned()),
        2 => Just("c".to_owned()),
        3 => Just("*".to_owned()),
        3 => wide_token(),
    ];
    (
        prop::collection::vec(token, 1..4),
        prop::bool::weighted(0.25),
    )
        .prop_map(|(tokens, full)| {
            let mut subject = tokens.join(".");
            if full {
                subject.push_str(".>");
            }
            subject
        })
}

fn filter_or_full() -> impl Strategy<Value = String> {
    prop_oneof![9 => filter(), 1 => Just(">".to_owned())]
}

/// Published subjects, including what a non-pedantic client may send: wildcard tokens
/// (taken literally) and empty tokens (matching nothing).
fn literal() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        4 => Just("a".to_owned()),
        4 => Just("b".to_owned()),
        3 => Just("c".to_owned()),
        2 => Just("d".to_owned()),
        1 => Just("*".to_owned()),
        1 => Just(">".to_owned()),
        1 => Just(String::new()),
        4 => wide_token(),
    ];
    prop::collection::vec(token, 1..6).prop_map(|tokens| tokens.join("."))
}

fn queue() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => Just(None),
        2 => Just(Some("q1".to_owned())),
        1 => Just(Some("q2".to_owned())),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    (filter_or_full(), queue(), 0u8..6)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => entry().prop_map(Op::Insert),
        1 => (raw_subject(), queue(), 0u8..6).prop_map(Op::Insert),
        1 => entry().prop_map(Op::Remove),
        2 => any::<Index>().prop_map(Op::RemovePresent),
        5 => literal().prop_map(Op::Match),
    ]
}

fn expected_match(model: &BTreeSet<Entry>, literal: &str) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let mut plain = Vec::new();
    let mut queues: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (subject, queue, value) in model {
        if !subject_matches(subject, literal) {
            continue;
        }
        match queue {
            None => plain.push(*value),
            Some(q) => queues.entry(q.clone()).or_default().push(*value),
        }
    }
    plain.sort();
    let queues = queues
        .into_iter()
        .map(|(name, mut members)| {
            members.sort();
            (name, members)
        })
        .collect();
    (plain, queues)
}

fn observed(result: &MatchResult<u8>) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let queues = result
        .queues
        .iter()
        .map(|g| (g.name.to_string(), g.members.clone()))
        .collect();
    (result.plain.clone(), queues)
}

fn expected_interest(model: &BTreeSet<Entry>) -> Vec<Interest> {
    let mut counts: BTreeMap<(String, Option<String>), u32> = BTreeMap::new();
    for (subject, queue, _) in model {
        *counts.entry((subject.clone(), queue.clone())).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((subject, queue), count)| Interest {
            subject,
            queue,
            count,
        })
        .collect()
}

fn pair_count(model: &BTreeSet<Entry>, subject: &str, queue: &Option<String>) -> u32 {
    model
        .iter()
        .filter(|(s, q, _)| s == subject && q == queue)
        .count() as u32
}

fn expected_change(before: u32, after: u32) -> InterestChange {
    match (before, after) {
        (b, a) if b == a => InterestChange::Unchanged,
        (0, 1) => InterestChange::First,
        (1, 0) => InterestChange::Last,
        (_, a) => InterestChange::Count(a),
    }
}

fn remove_entry(
    list: &mut Sublist<u8>,
    model: &mut BTreeSet<Entry>,
    entry: &Entry,
) -> Result<(), TestCaseError> {
    let (subject, queue, value) = entry;
    let before = pair_count(model, subject, queue);
    let generation = list.generation();
    let change = list.remove_reporting(subject, queue.as_deref(), value);
    let changed = model.remove(entry);
    let after = pair_count(model, subject, queue);
    prop_assert_eq!(change, expected_change(before, after), "remove {:?}", entry);
    prop_assert_eq!(list.generation(), generation + u64::from(changed));
    Ok(())
}

fn run(ops: Vec<Op>, cache_slots: usize) -> Result<(), TestCaseError> {
    let mut list: Sublist<u8> = Sublist::new();
    let mut cache = MatchCache::new(cache_slots);
    let mut model: BTreeSet<Entry> = BTreeSet::new();
    for op in ops {
        match op {
            Op::Insert(entry) => {
                let (subject, queue, value) = &entry;
                let before = pair_count(&model, subject, queue);
                let generation = list.generation();
                let change = list.insert_reporting(subject, queue.as_deref(), *value);
                if !naive_valid(subject, true) {
                    prop_assert!(change.is_err(), "insert {:?}", entry);
                    prop_assert_eq!(list.generation(), generation);
                    continue;
                }
                let changed = model.insert(entry.clone());
                let after = pair_count(&model, subject, queue);
                prop_assert_eq!(
                    change,
                    Ok(expected_change(before, after)),
                    "insert {:?}",
                    entry
                );
                prop_assert_eq!(list.generation(), generation + u64::from(changed));
            }
            Op::Remove(entry) => remove_entry(&mut list, &mut model, &entry)?,
            Op::RemovePresent(index) => {
                if !model.is_empty() {
                    let entry = model.iter().nth(index.index(model.len())).cloned();
                    if let Some(entry) = entry {
                        remove_entry(&mut list, &mut model, &entry)?;
                    }
                }
            }
            Op::Match(literal) => {
                let expected = expected_match(&model, &literal);
                let any = !expected.0.is_empty() || !expected.1.is_empty();
                prop_assert_eq!(
                    observed(&list.matches(&literal)),
                    expected.clone(),
                    "match {}",
                    &literal
                );
                prop_assert_eq!(
                    observed(&cache.get(&list, &literal)),
                    expected.clone(),
                    "cached {}",
                    &literal
                );
                // Again, now possibly from the cache.
                prop_assert_eq!(
                    observed(&cache.get(&list, &literal)),
                    expected,
                    "cached again {}",
                    &literal
                );
                prop_assert_eq!(list.has_interest(&literal), any, "interest in {}", &literal);
            }
        }
        prop_assert_eq!(list.len(), model.len());
    }
    prop_assert_eq!(list.interest(), expected_interest(&model));

    // A clone answers the same; then drain the original, which must end empty.
    let copy = list.clone();
    prop_assert_eq!(copy.interest(), list.interest());
    for entry in model.clone() {
        remove_entry(&mut list, &mut model, &entry)?;
    }
    prop_assert!(list.is_empty());
    prop_assert_eq!(list.node_count(), 0);
    prop_assert!(list.interest().is_empty());
    prop_assert!(!list.has_interest("a"));
    prop_assert_eq!(
        copy.len(),
        copy.interest()
            .iter()
            .map(|i| i.count as usize)
            .sum::<usize>()
    );
    Ok(())
}

/// A subject validator written the obvious way, to check the single-pass one against.
fn naive_valid(subject: &str, allow_wildcards: bool) -> bool {
    let tokens: Vec<&str> = subject.split('.').collect();
    let n = tokens.len();
    tokens.iter().enumerate().all(|(i, t)| {
        !t.is_empty()
            && !t
                .chars()
                .any(|c| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c'))
            && (*t != ">" || i + 1 == n)
            && (allow_wildcards || (*t != "*" && *t != ">"))
    })
}

fn raw_subject() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        4 => Just('a'),
        2 => Just('b'),
        4 => Just('.'),
        2 => Just('*'),
        2 => Just('>'),
        1 => Just(' '),
        1 => Just('\t'),
        1 => Just('\x0b'),
        1 => Just('é'),
    ];
    prop::collection::vec(ch, 0..10).prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn sublist_agrees_with_naive_model(
        ops in prop::collection::vec(op(), 1..80),
        cache_slots in prop_oneof![Just(1usize), Just(4), Just(64)],
    ) {
        run(ops, cache_slots)?;
    }

    #[test]
    fn validation_agrees_with_naive_split(subject in raw_subject()) {
        prop_assert_eq!(is_valid_subject(&subject), naive_valid(&subject, true));
        prop_assert_eq!(is_valid_literal_subject(&subject), naive_valid(&subject, false));
        let naive_wildcard = subject.split('.').any(|t| t == "*" || t == ">");
        prop_assert_eq!(has_wildcard(&subject), naive_wildcard);
    }

    #[test]
    fn covering_filters_match_a_superset(f in filter_or_full(), g in filter_or_full(), l in literal()) {
        if filter_covers(&f, &g) && subject_matches(&g, &l) {
            prop_assert!(subject_matches(&f, &l), "{} covers {} but misses {}", f, g, l);
        }
    }
}
