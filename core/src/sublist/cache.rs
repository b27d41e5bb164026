//! A small match cache owned by one connection task.
//!
//! Direct-mapped: a subject hashes to exactly one slot, a new subject simply overwrites
//! whatever was there, and nothing ever iterates the table, so a lookup costs one hash, one
//! generation compare and one string compare. Entries carry the sublist generation they were
//! computed at; any change to the sublist makes every entry stale at once, which costs no
//! bookkeeping on the (contended) write side. Under heavy subscription churn the cache just
//! misses more.
//!
//! The hash has no random seed (see `hash.rs`): the cache is private to one connection, so
//! nobody can aim collisions at anyone but themselves, and a collision only costs a miss.

use std::sync::Arc;

use super::hash::{hash_str, reduce};
use super::{MatchResult, Sublist};

/// A per-owner cache of [`Sublist::matches`] results. See the module docs.
///
/// A cache must only be used with one sublist (or successive snapshots of one), because it
/// recognises stale entries by generation number alone.
pub struct MatchCache<T> {
    slots: Box<[Option<Slot<T>>]>,
    hits: u64,
    misses: u64,
}

struct Slot<T> {
    /// Reused in place when the slot is overwritten, so a warm cache stops allocating keys.
    subject: String,
    generation: u64,
    result: Arc<MatchResult<T>>,
}

impl<T: Clone + Ord> MatchCache<T> {
    /// A cache with `capacity` slots (at least one).
    pub fn new(capacity: usize) -> Self {
        MatchCache {
            slots: (0..capacity.max(1)).map(|_| None).collect(),
            hits: 0,
            misses: 0,
        }
    }

    /// The same as `list.matches(subject)`, from the cache when the slot holds this subject
    /// at the list's current generation.
    pub fn get(&mut self, list: &Sublist<T>, subject: &str) -> Arc<MatchResult<T>> {
        let index = reduce(hash_str(subject), self.slots.len());
        let generation = list.generation();
        let slot = &mut self.slots[index];
        if let Some(slot) = slot {
            if slot.generation == generation && slot.subject == subject {
                self.hits += 1;
                return slot.result.clone();
            }
        }
        self.misses += 1;
        let result = list.matches(subject);
        match slot {
            Some(slot) => {
                slot.subject.clear();
                slot.subject.push_str(subject);
                slot.generation = generation;
                slot.result = result.clone();
            }
            None => {
                *slot = Some(Slot {
                    subject: subject.to_owned(),
                    generation,
                    result: result.clone(),
                })
            }
        }
        result
    }

    pub fn hits(&self) -> u64 {
        self.hits
    }

    pub fn misses(&self) -> u64 {
        self.misses
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Drops every entry (and the results they keep alive); counters are kept.
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|slot| *slot = None);
    }
}

impl<T> std::fmt::Debug for MatchCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchCache")
            .field("capacity", &self.slots.len())
            .field("hits", &self.hits)
            .field("misses", &self.misses)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_until_the_sublist_changes() {
        let mut list = Sublist::new();
        list.insert("a.*", None, 1).unwrap();
        let mut cache = MatchCache::new(16);
        assert_eq!(cache.get(&list, "a.b").plain, [1]);
        assert_eq!((cache.hits(), cache.misses()), (0, 1));
        assert_eq!(cache.get(&list, "a.b").plain, [1]);
        assert_eq!((cache.hits(), cache.misses()), (1, 1));

        list.insert("a.b", None, 2).unwrap();
        assert_eq!(cache.get(&list, "a.b").plain, [1, 2]);
        assert_eq!((cache.hits(), cache.misses()), (1, 2));

        assert!(list.remove("a.*", None, &1));
        assert_eq!(cache.get(&list, "a.b").plain, [2]);
        assert_eq!(cache.get(&list, "a.b").plain, [2]);
        assert_eq!((cache.hits(), cache.misses()), (2, 3));

        // A no-op change keeps the generation, and so the entry.
        list.insert("a.b", None, 2).unwrap();
        assert_eq!(cache.get(&list, "a.b").plain, [2]);
        assert_eq!((cache.hits(), cache.misses()), (3, 3));
    }

    #[test]
    fn colliding_subjects_evict_each_other_but_stay_correct() {
        let mut list = Sublist::new();
        list.insert("a", None, 1).unwrap();
        list.insert("b", None, 2).unwrap();
        // One slot: every distinct subject collides.
        let mut cache = MatchCache::new(0);
        assert_eq!(cache.capacity(), 1);
        for _ in 0..3 {
            assert_eq!(cache.get(&list, "a").plain, [1]);
            assert_eq!(cache.get(&list, "b").plain, [2]);
        }
        assert_eq!((cache.hits(), cache.misses()), (0, 6));
        assert_eq!(cache.get(&list, "b").plain, [2]);
        assert_eq!(cache.hits(), 1);
        cache.clear();
        assert_eq!(cache.get(&list, "b").plain, [2]);
        assert_eq!(cache.misses(), 7);
    }
}
