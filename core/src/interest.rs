//! Which interest each leafnode link of an account may see.
//!
//! Every subscription has an origin: a local client, or a leafnode link (a hub we dialed —
//! *solicited* — or a leaf that dialed us — *accepted*). What a link is told about (LS+/LS-)
//! follows nats-server's propagation rules:
//! - a link never hears its own interest back (that is how `$LDS` loops are detected, and
//!   reflecting it kills the link for 30 s);
//! - interest learned from a hub is not forwarded to another hub (a spoke does not re-export
//!   its hubs' interest), but is forwarded down to accepted leafs;
//! - queue interest carries a weight: the number of members visible to that link.
//!
//! [`InterestBook`] keeps counts per (subject, queue) and origin, and turns each change into
//! the exact announcements every other link needs. It is pure bookkeeping (no I/O), so the
//! rules are tested here; the shell applies the deltas under the account's lock, which keeps
//! announcements for one subject in order on every link.

use std::collections::BTreeMap;

use crate::event::Cid;
use crate::sublist::Interest;

/// Where a subscription comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A client connection (or the server itself).
    Local,
    /// A leafnode link.
    Link(Cid),
}

/// One announcement for one link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Announce {
    /// `LS+ subject` or `LS+ subject queue weight`.
    Add {
        /// Subject.
        subject: String,
        /// Queue and weight.
        queue: Option<(String, u32)>,
    },
    /// `LS- subject [queue]`.
    Remove {
        /// Subject.
        subject: String,
        /// Queue.
        queue: Option<String>,
    },
}

#[derive(Default, Debug)]
struct Counts {
    local: u32,
    by_link: BTreeMap<Cid, u32>,
}

type Key = (String, Option<String>);

/// Interest counts of one account, by origin, and the links that hear about them.
#[derive(Default, Debug)]
pub struct InterestBook {
    entries: BTreeMap<Key, Counts>,
    /// Registered links: id -> solicited (we dialed it: it is a hub).
    links: BTreeMap<Cid, bool>,
}

impl InterestBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registered links, in id order.
    pub fn links(&self) -> impl Iterator<Item = Cid> + '_ {
        self.links.keys().copied()
    }

    /// Whether `id` is a registered link.
    pub fn has_link(&self, id: Cid) -> bool {
        self.links.contains_key(&id)
    }

    /// Register a link; returns the interest it must be told about now (its initial dump).
    pub fn add_link(&mut self, id: Cid, solicited: bool) -> Vec<Interest> {
        self.links.insert(id, solicited);
        self.entries
            .iter()
            .filter_map(|((subject, queue), c)| {
                let n = self.visible(c, id);
                (n > 0).then(|| Interest {
                    subject: subject.clone(),
                    queue: queue.clone(),
                    count: n,
                })
            })
            .collect()
    }

    /// Unregister a link and drop all interest that came from it; returns what the other
    /// links must be told.
    pub fn remove_link(&mut self, id: Cid) -> Vec<(Cid, Announce)> {
        let keys: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, c)| c.by_link.contains_key(&id))
            .map(|(k, _)| k.clone())
            .collect();
        // What every other link sees while the departing link still counts...
        let before: Vec<Vec<(Cid, u32)>> =
            keys.iter().map(|k| self.snapshot(k, Some(id))).collect();
        // ...then without it.
        self.links.remove(&id);
        let mut out = Vec::new();
        for (key, before) in keys.iter().zip(&before) {
            if let Some(c) = self.entries.get_mut(key) {
                c.by_link.remove(&id);
            }
            self.diff(key, before, &mut out);
            self.prune(key);
        }
        out
    }

    /// `n` more subscriptions (queue members) on (subject, queue) from `origin`.
    pub fn add(
        &mut self,
        origin: Origin,
        subject: &str,
        queue: Option<&str>,
        n: u32,
    ) -> Vec<(Cid, Announce)> {
        self.change(origin, subject, queue, |c| *c = c.saturating_add(n))
    }

    /// `n` fewer subscriptions on (subject, queue) from `origin`.
    pub fn remove(
        &mut self,
        origin: Origin,
        subject: &str,
        queue: Option<&str>,
        n: u32,
    ) -> Vec<(Cid, Announce)> {
        self.change(origin, subject, queue, |c| *c = c.saturating_sub(n))
    }

    /// Set the count from a link to exactly `n` (an `LS+` with a new queue weight).
    pub fn set(
        &mut self,
        origin: Origin,
        subject: &str,
        queue: Option<&str>,
        n: u32,
    ) -> Vec<(Cid, Announce)> {
        self.change(origin, subject, queue, |c| *c = n)
    }

    fn change(
        &mut self,
        origin: Origin,
        subject: &str,
        queue: Option<&str>,
        f: impl FnOnce(&mut u32),
    ) -> Vec<(Cid, Announce)> {
        let key: Key = (subject.to_string(), queue.map(str::to_string));
        let exclude = match origin {
            Origin::Local => None,
            Origin::Link(id) => Some(id),
        };
        let before = self.snapshot(&key, exclude);
        let c = self.entries.entry(key.clone()).or_default();
        match origin {
            Origin::Local => f(&mut c.local),
            Origin::Link(id) => {
                let v = c.by_link.entry(id).or_insert(0);
                f(v);
                if *v == 0 {
                    c.by_link.remove(&id);
                }
            }
        }
        let mut out = Vec::new();
        self.diff(&key, &before, &mut out);
        self.prune(&key);
        out
    }

    /// Visible counts for every registered link except `exclude`.
    fn snapshot(&self, key: &Key, exclude: Option<Cid>) -> Vec<(Cid, u32)> {
        let c = self.entries.get(key);
        self.links
            .keys()
            .filter(|id| Some(**id) != exclude)
            .map(|id| (*id, c.map_or(0, |c| self.visible(c, *id))))
            .collect()
    }

    fn diff(&self, key: &Key, before: &[(Cid, u32)], out: &mut Vec<(Cid, Announce)>) {
        let c = self.entries.get(key);
        for (id, was) in before {
            if !self.links.contains_key(id) {
                continue;
            }
            let now = c.map_or(0, |c| self.visible(c, *id));
            let (subject, queue) = key;
            let announce = match (was, now, queue) {
                (0, 0, _) => None,
                (0, n, q) => Some(Announce::Add {
                    subject: subject.clone(),
                    queue: q.clone().map(|q| (q, n)),
                }),
                (_, 0, q) => Some(Announce::Remove {
                    subject: subject.clone(),
                    queue: q.clone(),
                }),
                (w, n, Some(q)) if w != &n => Some(Announce::Add {
                    subject: subject.clone(),
                    queue: Some((q.clone(), n)),
                }),
                _ => None,
            };
            if let Some(a) = announce {
                out.push((*id, a));
            }
        }
    }

    /// What link `to` sees of `c`: local interest, plus other links' — except that a hub
    /// (solicited link) is not told about interest learned from another hub.
    fn visible(&self, c: &Counts, to: Cid) -> u32 {
        let to_hub = self.links.get(&to).copied().unwrap_or(false);
        let mut n = c.local;
        for (from, k) in &c.by_link {
            if *from == to {
                continue;
            }
            let from_hub = self.links.get(from).copied().unwrap_or(false);
            if to_hub && from_hub {
                continue;
            }
            n = n.saturating_add(*k);
        }
        n
    }

    fn prune(&mut self, key: &Key) {
        if self
            .entries
            .get(key)
            .is_some_and(|c| c.local == 0 && c.by_link.is_empty())
        {
            self.entries.remove(key);
        }
    }

    /// Whether the book holds nothing (every subscription was removed).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(s: &str) -> Announce {
        Announce::Add {
            subject: s.into(),
            queue: None,
        }
    }
    fn addq(s: &str, q: &str, n: u32) -> Announce {
        Announce::Add {
            subject: s.into(),
            queue: Some((q.into(), n)),
        }
    }
    fn rm(s: &str) -> Announce {
        Announce::Remove {
            subject: s.into(),
            queue: None,
        }
    }

    #[test]
    fn local_interest_reaches_every_link_once() {
        let mut b = InterestBook::new();
        assert!(b.add_link(1, true).is_empty());
        b.add_link(2, false);
        assert_eq!(
            b.add(Origin::Local, "foo", None, 1),
            vec![(1, add("foo")), (2, add("foo"))]
        );
        assert!(
            b.add(Origin::Local, "foo", None, 1).is_empty(),
            "second sub: no new LS+"
        );
        assert!(b.remove(Origin::Local, "foo", None, 1).is_empty());
        assert_eq!(
            b.remove(Origin::Local, "foo", None, 1),
            vec![(1, rm("foo")), (2, rm("foo"))]
        );
        assert!(b.is_empty());
    }

    #[test]
    fn a_link_never_hears_its_own_interest() {
        let mut b = InterestBook::new();
        b.add_link(1, false);
        b.add_link(2, false);
        assert_eq!(
            b.add(Origin::Link(1), "$LDS.x", None, 1),
            vec![(2, add("$LDS.x"))]
        );
        // Link 1 also has local interest on the same subject: link 1 still hears only the local one.
        assert_eq!(
            b.add(Origin::Local, "$LDS.x", None, 1),
            vec![(1, add("$LDS.x"))]
        );
        assert_eq!(
            b.remove(Origin::Local, "$LDS.x", None, 1),
            vec![(1, rm("$LDS.x"))]
        );
    }

    #[test]
    fn hub_interest_is_not_forwarded_to_another_hub() {
        let mut b = InterestBook::new();
        b.add_link(1, true); // hub A
        b.add_link(2, true); // hub B
        b.add_link(3, false); // a leaf of ours
        assert_eq!(b.add(Origin::Link(1), "a", None, 1), vec![(3, add("a"))]);
        assert_eq!(
            b.add(Origin::Link(3), "b", None, 1),
            vec![(1, add("b")), (2, add("b"))]
        );
    }

    #[test]
    fn queue_weights_follow_member_counts() {
        let mut b = InterestBook::new();
        b.add_link(1, true);
        assert_eq!(
            b.add(Origin::Local, "q", Some("g"), 1),
            vec![(1, addq("q", "g", 1))]
        );
        assert_eq!(
            b.add(Origin::Local, "q", Some("g"), 1),
            vec![(1, addq("q", "g", 2))]
        );
        assert_eq!(
            b.remove(Origin::Local, "q", Some("g"), 1),
            vec![(1, addq("q", "g", 1))]
        );
        assert_eq!(
            b.remove(Origin::Local, "q", Some("g"), 1),
            vec![(
                1,
                Announce::Remove {
                    subject: "q".into(),
                    queue: Some("g".into())
                }
            )]
        );
    }

    #[test]
    fn dump_and_link_removal() {
        let mut b = InterestBook::new();
        b.add(Origin::Local, "x", None, 1);
        b.add_link(1, false);
        b.add(Origin::Link(1), "y", None, 1);
        let dump = b.add_link(2, false);
        let subjects: Vec<_> = dump.iter().map(|i| i.subject.as_str()).collect();
        assert_eq!(subjects, ["x", "y"]);
        assert_eq!(b.remove_link(1), vec![(2, rm("y"))]);
        assert!(!b.has_link(1));
        assert_eq!(b.links().collect::<Vec<_>>(), vec![2]);
    }
}
