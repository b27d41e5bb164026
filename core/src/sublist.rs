//! The subscription index: which subscriptions does a published subject reach?
//!
//! A [`Sublist`] is a token trie. Each level holds literal children, one `*` child and one `>`
//! slot; each node holds the subscriptions whose subject ends there, split into plain
//! subscribers and queue groups. It is a pure data structure: the shell decides how to share
//! it between connection tasks, and each task keeps its own [`MatchCache`] in front of it.
//!
//! Semantics, and the decisions behind them:
//! - **Identity.** An entry is the triple (subject, queue, value). Inserting a triple that is
//!   already present changes nothing (no count, no generation bump) and reports
//!   [`InterestChange::Unchanged`]; nats-server likewise keys a subscription by its identity,
//!   and callers refuse duplicate sids before they get here. The same value under two
//!   subjects (or queues) is two entries and is returned once per matching entry, as
//!   nats-server delivers once per subscription.
//! - **Determinism.** A match result depends only on the set of entries, never on insertion
//!   order or history: `plain` is sorted by `T`'s `Ord`, `queues` by name, and each group's
//!   members by `T`'s `Ord`. Queue groups of the same name reached through different filters
//!   (`foo.*` and `foo.>`) merge into one group, so a message still goes to one member.
//! - **Queue groups.** The matcher returns every member; the caller picks one with its own
//!   RNG (and may prefer local members, see `nats-protocol.md` §1.6).
//! - **Published subjects** are taken literally token by token: a non-pedantic `PUB foo.*`
//!   reaches `foo.*`, `foo.>` and `>`, not `foo.bar`; a subject with an empty token reaches
//!   nothing (both as in nats-server).
//! - **Memory.** Removing an entry prunes every node left empty, so removing everything
//!   returns the trie to a single empty root ([`Sublist::node_count`] is 0).
//! - **Generations.** Every insert or remove that changes the contents bumps
//!   [`Sublist::generation`]; caches compare it to know whether an entry is still valid.
//!   A clone continues its original's generation sequence, so a cache must only ever be used
//!   with one lineage of sublists (one original, or successive snapshots of it).
//! - **Depth.** Every walk over the trie (insert, remove, match, listing, clone, drop) is
//!   iterative, so subjects of any depth are accepted, as by nats-server, without risking
//!   the thread stack.
//!
//! For leafnode interest propagation (`nats-protocol.md` §2.5, §2.6) the index also
//! aggregates: [`Sublist::insert_reporting`] and [`Sublist::remove_reporting`] say whether a
//! (subject, queue) pair just appeared, changed weight or disappeared, and
//! [`Sublist::interest`] lists every pair with its count for the initial `LS+` dump.

mod cache;
mod children;
mod hash;

pub use cache::MatchCache;

use std::fmt;
use std::sync::Arc;

use crate::subject::{self, SubjectError, FULL_WILDCARD, SINGLE_WILDCARD};
use children::Children;

/// Everything a published subject reaches. Deliver to every `plain` value and to one member
/// of each queue group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchResult<T> {
    /// Plain subscribers, sorted.
    pub plain: Vec<T>,
    /// Queue groups, sorted by name, members sorted.
    pub queues: Vec<QueueGroup<T>>,
}

impl<T> MatchResult<T> {
    /// Whether the subject reached nobody.
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty()
    }
}

impl<T> Default for MatchResult<T> {
    fn default() -> Self {
        MatchResult {
            plain: Vec::new(),
            queues: Vec::new(),
        }
    }
}

/// The members of one queue group reached by a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueGroup<T> {
    pub name: Arc<str>,
    pub members: Vec<T>,
}

/// One aggregated interest: how many entries share this exact (subject, queue). For a queue
/// this count is the weight sent in `LS+ <subject> <queue> <weight>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interest {
    pub subject: String,
    pub queue: Option<String>,
    pub count: u32,
}

/// How an insert or remove changed the aggregate count of its exact (subject, queue) pair.
/// This is what leafnode interest propagation needs to decide on `LS+`/`LS-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterestChange {
    /// The count went 0 -> 1: announce the pair (`LS+ subject`, `LS+ subject queue 1`).
    First,
    /// The count changed and is still non-zero; this is the new count. For a queue it is
    /// the new weight to re-announce; for plain interest nothing needs to be sent.
    Count(u32),
    /// The count went 1 -> 0: withdraw the pair (`LS-`).
    Last,
    /// Nothing changed: a duplicate insert, or a remove of an absent entry.
    Unchanged,
}

/// The subscription index. See the module docs for its semantics.
pub struct Sublist<T> {
    root: Level<T>,
    len: usize,
    generation: u64,
    /// Shared by every empty match so that a miss costs no allocation.
    empty: Arc<MatchResult<T>>,
}

/// One level of the trie: the possible next tokens.
struct Level<T> {
    literal: Children<T>,
    single: Option<Box<Node<T>>>,
    /// `>` is always the last token, so it needs no children of its own.
    full: Option<Box<Subs<T>>>,
}

struct Node<T> {
    subs: Subs<T>,
    next: Level<T>,
}

/// The entries whose subject ends at one node. Vectors stay sorted so that lookups are
/// binary searches and match results come out ordered without extra work.
struct Subs<T> {
    plain: Vec<T>,
    queues: Vec<QueueSubs<T>>,
}

struct QueueSubs<T> {
    name: Arc<str>,
    members: Vec<T>,
}

impl<T> Default for Level<T> {
    fn default() -> Self {
        Level {
            literal: Children::default(),
            single: None,
            full: None,
        }
    }
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            subs: Subs::default(),
            next: Level::default(),
        }
    }
}

impl<T> Default for Subs<T> {
    fn default() -> Self {
        Subs {
            plain: Vec::new(),
            queues: Vec::new(),
        }
    }
}

/// Post-order and iterative: a derived (recursive) clone would need one stack frame per
/// trie level and overflow on deep subjects.
impl<T: Clone> Clone for Level<T> {
    fn clone(&self) -> Self {
        struct Frame<'a, T> {
            literal: Box<dyn Iterator<Item = (&'a str, &'a Node<T>)> + 'a>,
            single: Option<&'a Node<T>>,
            /// Where the finished copy goes in its parent: a literal key, or `None` for the
            /// `*` child (ignored for the root).
            key: Option<&'a str>,
            subs: Subs<T>,
            copy: Level<T>,
        }
        fn frame<'a, T: Clone>(
            level: &'a Level<T>,
            key: Option<&'a str>,
            subs: Subs<T>,
        ) -> Frame<'a, T> {
            Frame {
                literal: Box::new(level.literal.iter()),
                single: level.single.as_deref(),
                key,
                subs,
                copy: Level {
                    literal: Children::default(),
                    single: None,
                    full: level.full.clone(),
                },
            }
        }
        let mut stack = vec![frame(self, None, Subs::default())];
        loop {
            let Some(top) = stack.last_mut() else {
                return Level::default();
            };
            let child = match top.literal.next() {
                Some((key, node)) => Some((Some(key), node)),
                None => top.single.take().map(|node| (None, node)),
            };
            if let Some((key, node)) = child {
                stack.push(frame(&node.next, key, node.subs.clone()));
                continue;
            }
            let Some(done) = stack.pop() else {
                return Level::default();
            };
            let Some(parent) = stack.last_mut() else {
                return done.copy;
            };
            let node = Node {
                subs: done.subs,
                next: done.copy,
            };
            match done.key {
                Some(key) => {
                    parent.copy.literal.insert_new(key, node);
                }
                None => parent.copy.single = Some(Box::new(node)),
            }
        }
    }
}

/// Iterative for the same reason as `clone`: the default drop glue recurses once per level.
impl<T> Drop for Level<T> {
    fn drop(&mut self) {
        if self.literal.is_empty() && self.single.is_none() {
            return;
        }
        let mut pending = Vec::new();
        self.detach_children(&mut pending);
        while let Some(mut node) = pending.pop() {
            // Emptied first, so dropping `node` below recurses no further.
            node.next.detach_children(&mut pending);
        }
    }
}

impl<T: Clone> Clone for Subs<T> {
    fn clone(&self) -> Self {
        Subs {
            plain: self.plain.clone(),
            queues: self.queues.clone(),
        }
    }
}

impl<T: Clone> Clone for QueueSubs<T> {
    fn clone(&self) -> Self {
        QueueSubs {
            name: self.name.clone(),
            members: self.members.clone(),
        }
    }
}

impl<T> Level<T> {
    fn detach_children(&mut self, into: &mut Vec<Node<T>>) {
        self.literal.drain_into(into);
        if let Some(node) = self.single.take() {
            into.push(*node);
        }
    }

    fn child_count(&self) -> usize {
        self.literal.len() + usize::from(self.single.is_some()) + usize::from(self.full.is_some())
    }

    fn is_empty(&self) -> bool {
        self.literal.is_empty() && self.single.is_none() && self.full.is_none()
    }

    /// The child node for a non-`>` token.
    fn child(&self, token: &str) -> Option<&Node<T>> {
        if token == SINGLE_WILDCARD {
            self.single.as_deref()
        } else {
            self.literal.get(token)
        }
    }

    fn child_mut(&mut self, token: &str) -> Option<&mut Node<T>> {
        if token == SINGLE_WILDCARD {
            self.single.as_deref_mut()
        } else {
            self.literal.get_mut(token)
        }
    }

    fn child_or_insert(&mut self, token: &str) -> &mut Node<T> {
        if token == SINGLE_WILDCARD {
            return self.single.get_or_insert_with(Box::default);
        }
        self.literal.get_or_insert(token)
    }

    /// The entries stored for `subject`, if its path exists.
    fn subs_mut(&mut self, subject: &str) -> Option<&mut Subs<T>> {
        let mut level = self;
        let mut toks = subject::tokens(subject).peekable();
        while let Some(token) = toks.next() {
            let last = toks.peek().is_none();
            if token == FULL_WILDCARD {
                return if last {
                    level.full.as_deref_mut()
                } else {
                    None
                };
            }
            let node = level.child_mut(token)?;
            if last {
                return Some(&mut node.subs);
            }
            level = &mut node.next;
        }
        None
    }

    /// The entries for a validated `subject`, creating its path.
    fn subs_or_insert(&mut self, subject: &str) -> &mut Subs<T> {
        let mut level = self;
        let mut toks = subject::tokens(subject).peekable();
        // Returns at the last token, which `split` always yields; validation put any `>` there.
        loop {
            let token = toks.next().unwrap_or_default();
            if toks.peek().is_none() {
                return if token == FULL_WILDCARD {
                    level.full.get_or_insert_with(Box::default)
                } else {
                    &mut level.child_or_insert(token).subs
                };
            }
            level = &mut level.child_or_insert(token).next;
        }
    }

    /// Detaches the topmost node of `subject`'s path below which nothing but the path
    /// itself remains and no entries are stored. Called after the entries of `subject`
    /// became empty; dropping that subtree frees every node the removal left empty.
    fn prune(&mut self, subject: &str) {
        // First walk (shared): find the depth where the empty suffix of the path begins.
        let mut prune_from = None;
        let mut level: &Level<T> = self;
        let mut toks = subject::tokens(subject).peekable();
        let mut depth = 0usize;
        while let Some(token) = toks.next() {
            let last = toks.peek().is_none();
            let removable = if token == FULL_WILDCARD {
                level.full.as_ref().is_some_and(|s| s.is_empty())
            } else {
                let Some(node) = level.child(token) else {
                    return;
                };
                let own_children = if last { 0 } else { 1 };
                let removable = node.subs.is_empty() && node.next.child_count() == own_children;
                level = &node.next;
                removable
            };
            if !removable {
                prune_from = None;
            } else if prune_from.is_none() {
                prune_from = Some(depth);
            }
            depth += 1;
        }
        let Some(prune_from) = prune_from else {
            return;
        };
        // Second walk (exclusive): detach the child at that depth.
        let mut level = self;
        for (depth, token) in subject::tokens(subject).enumerate() {
            if depth == prune_from {
                if token == FULL_WILDCARD {
                    level.full = None;
                } else if token == SINGLE_WILDCARD {
                    level.single = None;
                } else {
                    level.literal.remove(token);
                }
                return;
            }
            match level.child_mut(token) {
                Some(node) => level = &mut node.next,
                None => return,
            }
        }
    }
}

impl<T> Subs<T> {
    fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty()
    }
}

impl<T: Clone + Ord> Subs<T> {
    fn insert(&mut self, queue: Option<&str>, value: T) -> InterestChange {
        let members = match queue {
            None => &mut self.plain,
            Some(queue) => {
                let i = match self.queues.binary_search_by(|g| (*g.name).cmp(queue)) {
                    Ok(i) => i,
                    Err(i) => {
                        self.queues.insert(
                            i,
                            QueueSubs {
                                name: Arc::from(queue),
                                members: Vec::new(),
                            },
                        );
                        i
                    }
                };
                &mut self.queues[i].members
            }
        };
        match members.binary_search(&value) {
            Ok(_) => InterestChange::Unchanged,
            Err(i) => {
                members.insert(i, value);
                if members.len() == 1 {
                    InterestChange::First
                } else {
                    InterestChange::Count(count_u32(members.len()))
                }
            }
        }
    }

    fn remove(&mut self, queue: Option<&str>, value: &T) -> InterestChange {
        let (members, group) = match queue {
            None => (&mut self.plain, None),
            Some(queue) => match self.queues.binary_search_by(|g| (*g.name).cmp(queue)) {
                Ok(i) => (&mut self.queues[i].members, Some(i)),
                Err(_) => return InterestChange::Unchanged,
            },
        };
        let Ok(i) = members.binary_search(value) else {
            return InterestChange::Unchanged;
        };
        members.remove(i);
        if !members.is_empty() {
            return InterestChange::Count(count_u32(members.len()));
        }
        if let Some(g) = group {
            self.queues.remove(g);
        }
        InterestChange::Last
    }
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl<T: Clone + Ord> Default for Sublist<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone> Clone for Sublist<T> {
    fn clone(&self) -> Self {
        Sublist {
            root: self.root.clone(),
            len: self.len,
            generation: self.generation,
            empty: self.empty.clone(),
        }
    }
}

impl<T> fmt::Debug for Sublist<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sublist")
            .field("len", &self.len)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl<T: Clone + Ord> Sublist<T> {
    pub fn new() -> Self {
        Sublist {
            root: Level::default(),
            len: 0,
            generation: 0,
            empty: Arc::new(MatchResult::default()),
        }
    }

    /// Adds `value` under `subject` (wildcards allowed) and optional `queue` group.
    /// Inserting an entry that is already present is a successful no-op.
    pub fn insert(
        &mut self,
        subject: &str,
        queue: Option<&str>,
        value: T,
    ) -> Result<(), SubjectError> {
        self.insert_reporting(subject, queue, value).map(|_| ())
    }

    /// [`insert`](Self::insert), also saying how the (subject, queue) count changed:
    /// [`InterestChange::First`] or [`InterestChange::Count`], or
    /// [`InterestChange::Unchanged`] for a duplicate.
    pub fn insert_reporting(
        &mut self,
        subject: &str,
        queue: Option<&str>,
        value: T,
    ) -> Result<InterestChange, SubjectError> {
        subject::validate_subject(subject)?;
        if queue.is_some_and(|q| !subject::is_valid_queue(q)) {
            return Err(SubjectError::InvalidQueue);
        }
        // A duplicate finds its path already present, so this creates nothing in that case.
        let change = self.root.subs_or_insert(subject).insert(queue, value);
        if change != InterestChange::Unchanged {
            self.len += 1;
            self.generation += 1;
        }
        Ok(change)
    }

    /// Removes the entry (subject, queue, value); `false` if it was not present.
    pub fn remove(&mut self, subject: &str, queue: Option<&str>, value: &T) -> bool {
        self.remove_reporting(subject, queue, value) != InterestChange::Unchanged
    }

    /// [`remove`](Self::remove), also saying how the (subject, queue) count changed:
    /// [`InterestChange::Last`] or [`InterestChange::Count`], or
    /// [`InterestChange::Unchanged`] if the entry was absent.
    pub fn remove_reporting(
        &mut self,
        subject: &str,
        queue: Option<&str>,
        value: &T,
    ) -> InterestChange {
        let Some(subs) = self.root.subs_mut(subject) else {
            return InterestChange::Unchanged;
        };
        let change = subs.remove(queue, value);
        if change == InterestChange::Unchanged {
            return change;
        }
        let emptied = subs.is_empty();
        self.len -= 1;
        self.generation += 1;
        if emptied {
            self.root.prune(subject);
        }
        change
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bumped by every insert or remove that changed the contents; never by a no-op.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of trie nodes (excluding the root level); for memory accounting. Zero when
    /// the sublist is empty.
    pub fn node_count(&self) -> usize {
        let mut count = 0;
        let mut stack = vec![&self.root];
        while let Some(level) = stack.pop() {
            count += usize::from(level.full.is_some());
            for node in level
                .literal
                .iter()
                .map(|(_, n)| n)
                .chain(level.single.as_deref())
            {
                count += 1;
                stack.push(&node.next);
            }
        }
        count
    }

    /// Everything the published (literal) `subject` reaches. Uncached: put a
    /// [`MatchCache`] in front on hot paths. A miss returns a shared empty result without
    /// allocating.
    pub fn matches(&self, subject: &str) -> Arc<MatchResult<T>> {
        if subject::has_empty_token(subject) {
            return self.empty.clone();
        }
        let mut out = Collector {
            plain: Vec::new(),
            plain_runs: 0,
            queues: Vec::new(),
            merged_queues: false,
        };
        walk(&self.root, subject, |subs| {
            out.add(subs);
            false
        });
        if out.plain.is_empty() && out.queues.is_empty() {
            return self.empty.clone();
        }
        // Each node's entries are already sorted; only results gathered from several nodes
        // need ordering, and the sort is linear-ish on such concatenated runs.
        if out.plain_runs > 1 {
            out.plain.sort();
        }
        if out.merged_queues {
            for group in &mut out.queues {
                group.members.sort();
            }
        }
        Arc::new(MatchResult {
            plain: out.plain,
            queues: out.queues,
        })
    }

    /// Whether the published (literal) `subject` reaches anyone. Never allocates.
    pub fn has_interest(&self, subject: &str) -> bool {
        if subject::has_empty_token(subject) {
            return false;
        }
        let mut found = false;
        walk(&self.root, subject, |subs| {
            found = !subs.is_empty();
            found
        });
        found
    }

    /// Every (subject, queue) pair with its count, sorted by subject then queue (plain
    /// first). This is the leafnode initial `LS+` dump.
    pub fn interest(&self) -> Vec<Interest> {
        let mut out = Vec::new();
        list_interest(&self.root, &mut out);
        out.sort();
        out
    }
}

struct Collector<T> {
    plain: Vec<T>,
    /// How many nodes contributed plain entries.
    plain_runs: u32,
    queues: Vec<QueueGroup<T>>,
    /// Whether some group received members from more than one node.
    merged_queues: bool,
}

impl<T: Clone + Ord> Collector<T> {
    fn add(&mut self, subs: &Subs<T>) {
        if !subs.plain.is_empty() {
            self.plain.extend_from_slice(&subs.plain);
            self.plain_runs += 1;
        }
        for q in &subs.queues {
            match self.queues.binary_search_by(|g| g.name.cmp(&q.name)) {
                Ok(i) => {
                    self.queues[i].members.extend_from_slice(&q.members);
                    self.merged_queues = true;
                }
                Err(i) => self.queues.insert(
                    i,
                    QueueGroup {
                        name: q.name.clone(),
                        members: q.members.clone(),
                    },
                ),
            }
        }
    }
}

/// How many trie levels a walk keeps without allocating. The levels alive at one depth are
/// the distinct ways the subject's prefix matched (literal or `*` per token), so ordinary
/// subscription sets stay far below this.
const INLINE_LEVELS: usize = 8;

/// The trie levels reached after the same number of tokens. Every path at one depth has
/// consumed the same tokens, so the walk is breadth-first, one token at a time, with no
/// recursion (deep subjects cannot exhaust the stack) and, usually, no allocation.
struct Frontier<'a, T> {
    inline: [Option<&'a Level<T>>; INLINE_LEVELS],
    len: usize,
    spill: Vec<&'a Level<T>>,
}

impl<'a, T> Frontier<'a, T> {
    fn new() -> Self {
        Frontier {
            inline: [None; INLINE_LEVELS],
            len: 0,
            spill: Vec::new(),
        }
    }

    fn push(&mut self, level: &'a Level<T>) {
        match self.inline.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(level);
                self.len += 1;
            }
            None => self.spill.push(level),
        }
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn clear(&mut self) {
        self.len = 0;
        self.spill.clear();
    }

    fn iter(&self) -> impl Iterator<Item = &'a Level<T>> + '_ {
        self.inline[..self.len]
            .iter()
            .flatten()
            .copied()
            .chain(self.spill.iter().copied())
    }
}

/// Walks the literal `subject` (no empty tokens) through the trie, calling `visit` with the
/// entries of every node it reaches, until `visit` returns `true` (stop early).
fn walk<'a, T>(root: &'a Level<T>, subject: &str, mut visit: impl FnMut(&'a Subs<T>) -> bool) {
    let (mut a, mut b) = (Frontier::new(), Frontier::new());
    // Swapping references, not the inline arrays, between tokens.
    let (mut current, mut next) = (&mut a, &mut b);
    current.push(root);
    let mut toks = subject::tokens(subject).peekable();
    while let Some(token) = toks.next() {
        let last = toks.peek().is_none();
        for level in current.iter() {
            if let Some(full) = &level.full {
                if visit(full) {
                    return;
                }
            }
            let children = [level.single.as_deref(), level.literal.get(token)];
            for node in children.into_iter().flatten() {
                if last {
                    if visit(&node.subs) {
                        return;
                    }
                } else if !node.next.is_empty() {
                    next.push(&node.next);
                }
            }
        }
        if next.is_empty() {
            return;
        }
        std::mem::swap(&mut current, &mut next);
        next.clear();
    }
}

/// Appends every (subject, queue) pair below `root` to `out`, unsorted. Iterative (an
/// explicit stack of pending nodes) so that deep subjects cannot exhaust the thread stack.
fn list_interest<T>(root: &Level<T>, out: &mut Vec<Interest>) {
    let mut pending = Vec::new();
    let mut subject = String::new();
    list_level(root, &mut subject, &mut pending, out);
    while let Some((base, token, node)) = pending.pop() {
        subject.truncate(base);
        push_token(&mut subject, token);
        list_subs(&node.subs, &subject, out);
        list_level(&node.next, &mut subject, &mut pending, out);
    }
}

/// Lists the `>` entries of `level` (whose subject prefix is `subject`) and queues its other
/// children on `pending` with the prefix length to restore before visiting them.
fn list_level<'a, T>(
    level: &'a Level<T>,
    subject: &mut String,
    pending: &mut Vec<(usize, &'a str, &'a Node<T>)>,
    out: &mut Vec<Interest>,
) {
    let base = subject.len();
    for (token, node) in level.literal.iter() {
        pending.push((base, token, node));
    }
    if let Some(node) = level.single.as_deref() {
        pending.push((base, SINGLE_WILDCARD, node));
    }
    if let Some(full) = &level.full {
        push_token(subject, FULL_WILDCARD);
        list_subs(full, subject, out);
        subject.truncate(base);
    }
}

fn push_token(prefix: &mut String, token: &str) {
    if !prefix.is_empty() {
        prefix.push('.');
    }
    prefix.push_str(token);
}

fn list_subs<T>(subs: &Subs<T>, subject: &str, out: &mut Vec<Interest>) {
    if !subs.plain.is_empty() {
        out.push(Interest {
            subject: subject.to_owned(),
            queue: None,
            count: count_u32(subs.plain.len()),
        });
    }
    for q in &subs.queues {
        out.push(Interest {
            subject: subject.to_owned(),
            queue: Some(q.name.to_string()),
            count: count_u32(q.members.len()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(list: &Sublist<u32>, subject: &str) -> Vec<u32> {
        list.matches(subject).plain.clone()
    }

    #[test]
    fn live_matching_sample() {
        // nats-protocol.md §1.6, observed on nats-server 2.9.10.
        let mut list = Sublist::new();
        for (value, subject) in ["a.*", "a.>", ">", "*.b.*"].into_iter().enumerate() {
            list.insert(subject, None, value as u32).unwrap();
        }
        assert_eq!(plain(&list, "a.b"), [0, 1, 2]);
        assert_eq!(plain(&list, "a.b.c"), [1, 2, 3]);
        assert_eq!(plain(&list, "a"), [2]);
        assert!(list.has_interest("a"));
        assert!(list.has_interest("z.z.z.z"));
    }

    #[test]
    fn literal_and_wildcard_paths() {
        let mut list = Sublist::new();
        list.insert("foo.bar", None, 1).unwrap();
        list.insert("foo.*", None, 2).unwrap();
        list.insert("foo.>", None, 3).unwrap();
        list.insert("*.bar", None, 4).unwrap();
        assert_eq!(plain(&list, "foo.bar"), [1, 2, 3, 4]);
        assert_eq!(plain(&list, "foo.baz"), [2, 3]);
        assert_eq!(plain(&list, "foo.bar.baz"), [3]);
        assert_eq!(plain(&list, "foo"), Vec::<u32>::new());
        assert!(!list.has_interest("foo"));
        assert!(!list.has_interest("bar.foo"));
        // Non-pedantic publishes: wildcard tokens are literal, empty tokens reach nobody.
        assert_eq!(plain(&list, "foo.*"), [2, 3]);
        assert_eq!(plain(&list, "foo..bar"), Vec::<u32>::new());
        assert!(!list.has_interest("foo..bar"));
        assert!(!list.has_interest(""));
    }

    #[test]
    fn queue_groups_merge_and_sort() {
        let mut list = Sublist::new();
        list.insert("work.a", Some("g"), 5).unwrap();
        list.insert("work.a", Some("g"), 1).unwrap();
        list.insert("work.*", Some("g"), 3).unwrap();
        list.insert("work.>", Some("k"), 9).unwrap();
        list.insert("work.a", None, 7).unwrap();
        let result = list.matches("work.a");
        assert_eq!(result.plain, [7]);
        let groups: Vec<(&str, &[u32])> = result
            .queues
            .iter()
            .map(|g| (&*g.name, &g.members[..]))
            .collect();
        assert_eq!(groups, [("g", &[1, 3, 5][..]), ("k", &[9][..])]);
    }

    #[test]
    fn result_order_ignores_insertion_order() {
        let entries = [
            ("a.b", None, 4),
            ("a.*", None, 2),
            (">", None, 3),
            ("a.b", Some("q"), 8),
            ("a.>", Some("q"), 6),
            ("*.b", Some("p"), 1),
        ];
        let mut forward = Sublist::new();
        let mut backward = Sublist::new();
        for (s, q, v) in entries {
            forward.insert(s, q, v).unwrap();
        }
        for (s, q, v) in entries.into_iter().rev() {
            backward.insert(s, q, v).unwrap();
        }
        assert_eq!(forward.matches("a.b"), backward.matches("a.b"));
        assert_eq!(forward.matches("a.b").plain, [2, 3, 4]);
        assert_eq!(forward.interest(), backward.interest());
    }

    #[test]
    fn duplicates_are_no_ops() {
        let mut list = Sublist::new();
        assert_eq!(
            list.insert_reporting("a", None, 1),
            Ok(InterestChange::First)
        );
        let generation = list.generation();
        assert_eq!(
            list.insert_reporting("a", None, 1),
            Ok(InterestChange::Unchanged)
        );
        assert_eq!(list.len(), 1);
        assert_eq!(list.generation(), generation);
        assert_eq!(plain(&list, "a"), [1]);
        // The same value elsewhere is a separate entry.
        list.insert("a", Some("q"), 1).unwrap();
        list.insert(">", None, 1).unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(plain(&list, "a"), [1, 1]);
    }

    #[test]
    fn interest_changes_for_leafnode_propagation() {
        use InterestChange::*;
        let mut list = Sublist::new();
        assert_eq!(list.insert_reporting("foo", None, 1), Ok(First));
        assert_eq!(list.insert_reporting("foo", None, 2), Ok(Count(2)));
        assert_eq!(list.insert_reporting("wq", Some("grp"), 1), Ok(First));
        assert_eq!(list.insert_reporting("wq", Some("grp"), 2), Ok(Count(2)));
        assert_eq!(list.insert_reporting("wq", Some("other"), 3), Ok(First));
        assert_eq!(
            list.interest(),
            [
                Interest {
                    subject: "foo".into(),
                    queue: None,
                    count: 2
                },
                Interest {
                    subject: "wq".into(),
                    queue: Some("grp".into()),
                    count: 2
                },
                Interest {
                    subject: "wq".into(),
                    queue: Some("other".into()),
                    count: 1
                },
            ]
        );
        assert_eq!(list.remove_reporting("wq", Some("grp"), &2), Count(1));
        assert_eq!(list.remove_reporting("wq", Some("grp"), &1), Last);
        assert_eq!(list.remove_reporting("wq", Some("grp"), &1), Unchanged);
        assert_eq!(list.remove_reporting("foo", None, &1), Count(1));
        assert_eq!(list.remove_reporting("foo", None, &2), Last);
        assert_eq!(list.remove_reporting("foo", None, &2), Unchanged);
        assert_eq!(list.remove_reporting("wq", Some("other"), &3), Last);
        assert!(list.interest().is_empty());
    }

    #[test]
    fn interest_lists_wildcards_and_sorts() {
        let mut list = Sublist::new();
        for (s, q) in [
            ("b.>", None),
            ("a.*", Some("q")),
            ("a.*", None),
            ("a", None),
            (">", None),
        ] {
            list.insert(s, q, 0u8).unwrap();
        }
        let pairs: Vec<(String, Option<String>)> = list
            .interest()
            .into_iter()
            .map(|i| (i.subject, i.queue))
            .collect();
        let expected: Vec<(String, Option<String>)> = [
            (">", None),
            ("a", None),
            ("a.*", None),
            ("a.*", Some("q")),
            ("b.>", None),
        ]
        .into_iter()
        .map(|(s, q)| (s.to_owned(), q.map(str::to_owned)))
        .collect();
        assert_eq!(pairs, expected);
    }

    #[test]
    fn invalid_input_is_refused() {
        let mut list = Sublist::new();
        assert_eq!(list.insert("a..b", None, 1), Err(SubjectError::EmptyToken));
        assert_eq!(
            list.insert("a.>.b", None, 1),
            Err(SubjectError::FullWildcardNotLast)
        );
        assert_eq!(list.insert("", None, 1), Err(SubjectError::Empty));
        assert_eq!(
            list.insert("a", Some(""), 1),
            Err(SubjectError::InvalidQueue)
        );
        assert_eq!(
            list.insert("a", Some("x y"), 1),
            Err(SubjectError::InvalidQueue)
        );
        assert!(list.is_empty());
        assert_eq!(list.generation(), 0);
        assert_eq!(list.node_count(), 0);
        assert!(!list.remove("a.>.b", None, &1));
        assert!(!list.remove("a..b", None, &1));
        assert!(!list.remove("", None, &1));
    }

    #[test]
    fn removing_everything_prunes_to_empty() {
        let subjects = [
            "a", "a.b", "a.b.c", "a.*", "a.*.c", "a.>", "*", "*.b", "*.*.>", ">", "x.y.z.w",
            "a.b.>",
        ];
        let mut list = Sublist::new();
        for (i, s) in subjects.iter().enumerate() {
            list.insert(s, None, i).unwrap();
            list.insert(s, Some("q"), i).unwrap();
        }
        assert!(list.node_count() > 0);
        // Remove in an order that leaves parents before children and vice versa.
        for (i, s) in subjects.iter().enumerate().rev() {
            assert!(list.remove(s, Some("q"), &i));
        }
        for (i, s) in subjects.iter().enumerate() {
            assert!(list.remove(s, None, &i));
        }
        assert!(list.is_empty());
        assert_eq!(list.node_count(), 0);
        assert!(list.root.is_empty());
        assert!(list.interest().is_empty());
    }

    #[test]
    fn pruning_keeps_shared_paths() {
        let mut list = Sublist::new();
        list.insert("a.b.c", None, 1).unwrap();
        list.insert("a.b", None, 2).unwrap();
        list.insert("a.x.c", None, 3).unwrap();
        assert_eq!(list.node_count(), 5);
        assert!(list.remove("a.b.c", None, &1));
        assert_eq!(list.node_count(), 4);
        assert!(list.remove("a.b", None, &2));
        assert_eq!(list.node_count(), 3);
        assert_eq!(plain(&list, "a.x.c"), [3]);
        list.insert("a.>", None, 4).unwrap();
        assert!(list.remove("a.x.c", None, &3));
        assert_eq!(list.node_count(), 2);
        assert!(list.remove("a.>", None, &4));
        assert_eq!(list.node_count(), 0);
    }

    #[test]
    fn generation_bumps_only_on_change() {
        let mut list = Sublist::new();
        assert_eq!(list.generation(), 0);
        list.insert("a", None, 1).unwrap();
        assert_eq!(list.generation(), 1);
        list.insert("a", None, 1).unwrap();
        assert_eq!(list.generation(), 1);
        assert!(list.insert("a b", None, 1).is_err());
        assert_eq!(list.generation(), 1);
        assert!(!list.remove("a", None, &2));
        assert!(!list.remove("b", None, &1));
        assert!(!list.remove("a", Some("q"), &1));
        assert_eq!(list.generation(), 1);
        assert!(list.remove("a", None, &1));
        assert_eq!(list.generation(), 2);
    }

    #[test]
    fn deep_subjects_do_not_exhaust_the_stack() {
        // Far deeper than any control line allows, on a small thread stack: a recursive walk
        // (or the default recursive drop) would overflow here.
        const DEPTH: usize = 50_000;
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| deep_subject_operations(DEPTH))
            .expect("spawn test thread")
            .join()
            .expect("deep subject operations");
    }

    fn deep_subject_operations(depth: usize) {
        let deep = vec!["t"; depth].join(".");
        let wild = format!("{}.>", vec!["*"; depth - 1].join("."));
        let mut list = Sublist::new();
        list.insert(&deep, None, 1).unwrap();
        list.insert(&wild, None, 2).unwrap();
        assert_eq!(plain(&list, &deep), [1, 2]);
        assert!(list.has_interest(&deep));
        assert_eq!(list.interest().len(), 2);
        let copy = list.clone();
        assert_eq!(copy.matches(&deep), list.matches(&deep));
        assert_eq!(copy.interest(), list.interest());
        assert_eq!(copy.node_count(), list.node_count());
        assert!(list.remove(&deep, None, &1));
        assert_eq!(list.node_count(), depth);
        drop(copy);
        // Dropping a deep trie must not recurse either.
        drop(list);
    }

    #[test]
    fn misses_share_the_empty_result() {
        let mut list = Sublist::new();
        list.insert("a", None, 1).unwrap();
        let a = list.matches("b");
        let b = list.matches("c.d");
        assert!(a.is_empty());
        assert!(Arc::ptr_eq(&a, &b));
    }
}
