//! The literal children of one trie level, keyed by token.
//!
//! Most levels have a handful of children, some have hundreds of thousands (per-client
//! inboxes, per-entity subjects), and lookup here is the inner loop of every match. So a
//! level is a plain vector scanned linearly while small, and gains an open-addressing index
//! (linear probing, load at most one half, backward-shift deletion so there are no
//! tombstones) once it grows past [`SMALL`]. A `BTreeMap` was measured first: its string
//! comparisons (`memcmp`) were the largest cost of a match.
//!
//! Iteration order is the vector's order, which depends on the history of inserts and
//! removes (removal swaps the last entry into the hole) — deterministic for a given
//! operation sequence. Callers that expose an order sort.

use super::hash::{hash_str, reduce};
use super::Node;

/// Up to this many children a linear scan beats hashing the token.
const SMALL: usize = 8;
/// Below this many children the index is dropped again (hysteresis against flapping).
const SHRINK: usize = SMALL / 2;
/// The smallest index.
const MIN_SLOTS: usize = 32;

pub(super) struct Children<T> {
    entries: Vec<Child<T>>,
    /// Empty while small. Otherwise a power-of-two table of `position + 1` into `entries`,
    /// `0` meaning a free slot; at least twice as many slots as entries, so probes end.
    index: Vec<u32>,
}

struct Child<T> {
    hash: u64,
    key: Box<str>,
    node: Node<T>,
}

impl<T> Default for Children<T> {
    fn default() -> Self {
        Children {
            entries: Vec::new(),
            index: Vec::new(),
        }
    }
}

impl<T> Children<T> {
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(super) fn get(&self, token: &str) -> Option<&Node<T>> {
        self.position(token).map(|p| &self.entries[p].node)
    }

    pub(super) fn get_mut(&mut self, token: &str) -> Option<&mut Node<T>> {
        self.position(token).map(|p| &mut self.entries[p].node)
    }

    /// The child for `token`, created empty if absent.
    pub(super) fn get_or_insert(&mut self, token: &str) -> &mut Node<T> {
        let position = match self.position(token) {
            Some(p) => p,
            None => self.push(token.into(), Node::default()),
        };
        &mut self.entries[position].node
    }

    /// Adds a child known to be absent (used when copying a level).
    pub(super) fn insert_new(&mut self, key: &str, node: Node<T>) {
        self.push(key.into(), node);
    }

    pub(super) fn remove(&mut self, token: &str) -> Option<Node<T>> {
        let position = self.position(token)?;
        if !self.index.is_empty() {
            let slot = self.slot_of(self.entries[position].hash, position);
            self.unlink(slot);
        }
        let last = self.entries.len() - 1;
        let removed = self.entries.swap_remove(position);
        if position != last && !self.index.is_empty() {
            // The former last entry now lives at `position`: repoint its slot.
            let slot = self.slot_of(self.entries[position].hash, last);
            self.index[slot] = to_slot_value(position);
        }
        self.after_remove();
        Some(removed.node)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, &Node<T>)> {
        self.entries.iter().map(|c| (&*c.key, &c.node))
    }

    /// Moves every child node into `into`, leaving this level empty.
    pub(super) fn drain_into(&mut self, into: &mut Vec<Node<T>>) {
        self.index = Vec::new();
        into.extend(
            std::mem::take(&mut self.entries)
                .into_iter()
                .map(|c| c.node),
        );
    }

    fn position(&self, token: &str) -> Option<usize> {
        if self.index.is_empty() {
            return self.entries.iter().position(|c| &*c.key == token);
        }
        let hash = hash_str(token);
        let mask = self.index.len() - 1;
        let mut slot = reduce(hash, self.index.len());
        // Terminates: the table is at most half full, so a free slot is always ahead.
        loop {
            let value = self.index[slot];
            if value == 0 {
                return None;
            }
            let child = &self.entries[from_slot_value(value)];
            if child.hash == hash && &*child.key == token {
                return Some(from_slot_value(value));
            }
            slot = (slot + 1) & mask;
        }
    }

    /// The index slot that points at `position`, for an indexed entry whose key hashes to
    /// `hash`.
    fn slot_of(&self, hash: u64, position: usize) -> usize {
        let mask = self.index.len() - 1;
        let wanted = to_slot_value(position);
        let home = reduce(hash, self.index.len());
        // Bounded so that a broken index fails loudly instead of spinning forever.
        (0..self.index.len())
            .map(|probe| (home + probe) & mask)
            .find(|&slot| self.index[slot] == wanted)
            .expect("every entry of an indexed level has a slot")
    }

    fn push(&mut self, key: Box<str>, node: Node<T>) -> usize {
        let hash = hash_str(&key);
        let position = self.entries.len();
        self.entries.push(Child { hash, key, node });
        // Once indexed, a level stays indexed until it shrinks below `SHRINK`.
        if self.entries.len() > SMALL || !self.index.is_empty() {
            if self.index.len() < self.entries.len() * 2 {
                self.rebuild((self.entries.len() * 2).next_power_of_two().max(MIN_SLOTS));
            } else {
                self.link(position);
            }
        }
        position
    }

    fn after_remove(&mut self) {
        if self.index.is_empty() {
            return;
        }
        let len = self.entries.len();
        if len < SHRINK {
            self.index = Vec::new();
            self.entries.shrink_to_fit();
        } else if len * 8 < self.index.len() && self.index.len() > MIN_SLOTS {
            // A level that once was huge gives its memory back as it empties.
            self.rebuild((len * 2).next_power_of_two().max(MIN_SLOTS));
            self.entries.shrink_to(len * 2);
        }
    }

    fn rebuild(&mut self, slots: usize) {
        self.index = vec![0; slots];
        for position in 0..self.entries.len() {
            self.link(position);
        }
    }

    fn link(&mut self, position: usize) {
        let mask = self.index.len() - 1;
        let mut slot = reduce(self.entries[position].hash, self.index.len());
        while self.index[slot] != 0 {
            slot = (slot + 1) & mask;
        }
        self.index[slot] = to_slot_value(position);
    }

    /// Frees `slot`, shifting later members of its probe run back so that every entry stays
    /// reachable from its home slot without tombstones.
    fn unlink(&mut self, slot: usize) {
        let mask = self.index.len() - 1;
        self.index[slot] = 0;
        let mut hole = slot;
        let mut next = (slot + 1) & mask;
        while self.index[next] != 0 {
            let value = self.index[next];
            let home = reduce(self.entries[from_slot_value(value)].hash, self.index.len());
            // The entry may move into the hole only if the hole lies on its probe path,
            // i.e. between its home and where it sits now (cyclically).
            if next.wrapping_sub(home) & mask >= next.wrapping_sub(hole) & mask {
                self.index[hole] = value;
                self.index[next] = 0;
                hole = next;
            }
            next = (next + 1) & mask;
        }
    }
}

fn to_slot_value(position: usize) -> u32 {
    // A level cannot hold 2^32 children: each one is a heap-allocated node.
    u32::try_from(position + 1).expect("fewer than 2^32 children in one trie level")
}

fn from_slot_value(value: u32) -> usize {
    value as usize - 1
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn tag(node: &Node<u32>) -> Option<u32> {
        node.subs.plain.first().copied()
    }

    fn tagged(value: u32) -> Node<u32> {
        let mut node = Node::default();
        node.subs.plain.push(value);
        node
    }

    /// Inserts (`true`) or removes (`false`) key `k{n}`, checking against a `BTreeMap`.
    fn check(ops: &[(bool, u16)]) -> Result<(), TestCaseError> {
        let mut children: Children<u32> = Children::default();
        let mut model: BTreeMap<String, u32> = BTreeMap::new();
        for (step, &(insert, n)) in ops.iter().enumerate() {
            let key = format!("k{n}");
            if insert {
                let fresh = !model.contains_key(&key);
                let node = children.get_or_insert(&key);
                if fresh {
                    prop_assert_eq!(tag(node), None);
                    node.subs.plain.push(step as u32);
                    model.insert(key.clone(), step as u32);
                }
            } else {
                let removed = children.remove(&key).map(|n| tag(&n));
                prop_assert_eq!(removed, model.remove(&key).map(Some));
            }
            prop_assert_eq!(children.len(), model.len());
            for n in 0..40u16 {
                let key = format!("k{n}");
                prop_assert_eq!(
                    children.get(&key).map(tag),
                    model.get(&key).map(|&v| Some(v)),
                    "lookup {} after step {}",
                    key,
                    step
                );
            }
            if !children.index.is_empty() {
                prop_assert!(children.index.len() >= 2 * children.len());
            }
        }
        let mut listed: Vec<(String, Option<u32>)> = children
            .iter()
            .map(|(k, n)| (k.to_owned(), tag(n)))
            .collect();
        listed.sort();
        let expected: Vec<(String, Option<u32>)> =
            model.into_iter().map(|(k, v)| (k, Some(v))).collect();
        prop_assert_eq!(listed, expected);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn agrees_with_btreemap(
            ops in prop::collection::vec((prop::bool::weighted(0.6), 0u16..40), 0..200)
        ) {
            check(&ops)?;
        }
    }

    /// Shrunk from a proptest failure: an indexed level that dropped back to `SMALL` entries
    /// (but not below `SHRINK`) stopped indexing new children, so lookups missed them.
    #[test]
    fn indexed_level_keeps_indexing_at_small_sizes() {
        let ops = [
            (true, 0),
            (true, 16),
            (true, 1),
            (true, 2),
            (true, 3),
            (true, 13),
            (true, 4),
            (true, 17),
            (true, 39),
            (false, 13),
            (false, 39),
            (true, 5),
        ];
        check(&ops).expect("children agree with the model");
    }

    #[test]
    fn grows_indexes_and_shrinks_back() {
        let mut children: Children<u32> = Children::default();
        for i in 0..1000 {
            children.insert_new(&format!("k{i}"), tagged(i));
        }
        assert!(children.index.len() >= 2000);
        for i in 0..1000 {
            assert_eq!(children.get(&format!("k{i}")).and_then(tag), Some(i));
        }
        assert!(children.get("k1000").is_none());
        for i in 0..997 {
            assert_eq!(
                children.remove(&format!("k{i}")).as_ref().and_then(tag),
                Some(i)
            );
        }
        assert!(children.index.is_empty());
        assert_eq!(children.len(), 3);
        for i in 997..1000 {
            assert_eq!(children.get(&format!("k{i}")).and_then(tag), Some(i));
        }
        let mut drained = Vec::new();
        children.drain_into(&mut drained);
        assert_eq!(drained.len(), 3);
        assert!(children.is_empty());
    }
}
