//! Invariants about leafnode remotes and links (incident 1: duplicate connections after fast
//! reloads, and the "remove all" no-op).
//!
//! They read two kinds of server events. The remotes machine reports, per remote identity
//! (its redacted rendering), when the remote is added, removed, enabled, disabled or
//! restarted, and per attempt (a generation number) when it dials, connects and ends. Links
//! report `leaf_link_up` (cid, role, peer server name, bound account) when they are
//! registered and `client_closed` when they end. Nothing in the log ties a link's cid to
//! its attempt, so the link checks key links by (role, peer, account): scenarios give every
//! remote its own local account, which is also how a hub tells leafs apart (it evicts a
//! second link with the same peer and account as a duplicate). Remote identities differing
//! only in a password render alike and would be conflated: scenarios avoid them.
//!
//! Timers are observed through the dials they cause: a removed or disabled remote that
//! kept a reconnect timer shows up as an attempt for it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use rejoin_core::event::{Cid, Event};

use super::{Ctx, Invariant};
use crate::duration::stamp;
use crate::nemesis::parse_config;
use crate::scenario::Scenario;
use crate::trace::{Body, HostEvent, Record};

/// Where a record leaves one server's software.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Same incarnation as before.
    Same,
    /// The incarnation ended (crash or restart fault, exit, failure): its state and any
    /// reload sent to it are gone.
    Ended,
    /// A new incarnation began. Reloads sent after its `restart` fault but logged before
    /// its first record are its own, so they survive this.
    Started,
}

impl Phase {
    /// Whether state built from the old incarnation's events must be dropped.
    fn fresh(self) -> bool {
        self != Phase::Same
    }
}

/// What a record means for one server's state, and the server's own event if it is one.
fn scope<'r>(r: &'r Record, server: &str, inc: &mut u32) -> (Phase, Option<&'r Event>) {
    match &r.body {
        Body::Server { inc: i, event } if r.host == server => {
            let phase = if *i != *inc {
                Phase::Started
            } else {
                Phase::Same
            };
            *inc = *i;
            (phase, Some(event))
        }
        Body::Host(HostEvent::HostStarted { .. }) if r.host == server => (Phase::Started, None),
        Body::Host(_) if r.host == server => (Phase::Ended, None),
        Body::Fault {
            action,
            error: None,
            ..
        } => {
            let mut w = action.split_whitespace();
            let verb = w.next();
            let ends = matches!(verb, Some("crash" | "silent_kill" | "restart"))
                && w.next() == Some(server);
            (if ends { Phase::Ended } else { Phase::Same }, None)
        }
        _ => (Phase::Same, None),
    }
}

/// The config named by a `reload SERVER NAME` fault that was applied, if `r` is one.
fn reload_of<'r>(r: &'r Record, server: &str) -> Option<&'r str> {
    let Body::Fault {
        action,
        error: None,
        ..
    } = &r.body
    else {
        return None;
    };
    let mut w = action.split_whitespace();
    (w.next() == Some("reload") && w.next() == Some(server))
        .then(|| w.next())
        .flatten()
}

/// The local account inside an unnamed remote's identity (`urls=[..] account="A" ...`).
/// Named remotes (`name="..."`) do not show theirs.
fn account_of(identity: &str) -> Option<String> {
    let rest = identity.split_once(" account=\"")?.1;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

/// One remote identity as the remotes machine's events describe it.
#[derive(Clone, Debug, Default)]
struct RemoteSeen {
    /// `Some(false)` after `remote_disabled`, `Some(true)` after `remote_enabled`; unknown
    /// after `remote_added` (it does not say).
    enabled: Option<bool>,
    /// The attempt in flight (dialing, handshaking or connected).
    attempt: Option<u64>,
    /// The attempt that completed its handshake, while it lasts.
    connected: Option<u64>,
}

/// A registered leafnode link.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct LinkSeen {
    solicited: bool,
    peer: String,
    account: String,
}

/// One server's remotes and registered leafnode links, replayed from the log.
#[derive(Debug)]
struct LeafView {
    server: String,
    inc: u32,
    remotes: BTreeMap<String, RemoteSeen>,
    links: BTreeMap<Cid, LinkSeen>,
}

impl LeafView {
    fn new(server: &str) -> Self {
        LeafView {
            server: server.to_string(),
            inc: 0,
            remotes: BTreeMap::new(),
            links: BTreeMap::new(),
        }
    }

    /// Applies one record; `Some(why)` when it breaks "one attempt per identity, and none
    /// for a removed or disabled remote".
    fn apply(&mut self, r: &Record) -> Option<String> {
        let (phase, event) = scope(r, &self.server, &mut self.inc);
        if phase.fresh() {
            self.remotes.clear();
            self.links.clear();
        }
        let at = stamp(r.t);
        match event? {
            Event::RemoteAdded { remote, .. } => {
                self.remotes.insert(remote.clone(), RemoteSeen::default());
            }
            Event::RemoteRemoved { remote } => {
                self.remotes.remove(remote);
            }
            Event::RemoteEnabled { remote, .. } => {
                self.remotes.entry(remote.clone()).or_default().enabled = Some(true);
            }
            Event::RemoteDisabled { remote } => {
                let seen = self.remotes.entry(remote.clone()).or_default();
                *seen = RemoteSeen {
                    enabled: Some(false),
                    ..RemoteSeen::default()
                };
            }
            Event::RemoteUpdated {
                remote,
                restarted: true,
                ..
            } => {
                let seen = self.remotes.entry(remote.clone()).or_default();
                seen.attempt = None;
                seen.connected = None;
            }
            Event::LeafDialing {
                remote, attempt, ..
            } => {
                let Some(seen) = self.remotes.get_mut(remote) else {
                    return Some(format!(
                        "{}: attempt {attempt} at {at} for {remote}, which is not configured",
                        self.server
                    ));
                };
                if seen.enabled == Some(false) {
                    return Some(format!(
                        "{}: attempt {attempt} at {at} for disabled {remote}",
                        self.server
                    ));
                }
                if let Some(old) = seen.attempt {
                    return Some(format!(
                        "{}: attempt {attempt} at {at} for {remote} while attempt {old} is still in flight",
                        self.server
                    ));
                }
                seen.attempt = Some(*attempt);
                seen.connected = None;
            }
            Event::LeafConnected {
                remote, attempt, ..
            } => {
                let seen = self.remotes.entry(remote.clone()).or_default();
                seen.attempt = Some(*attempt);
                seen.connected = Some(*attempt);
            }
            Event::LeafDialFailed {
                remote, attempt, ..
            }
            | Event::LeafClosed {
                remote, attempt, ..
            } => {
                if let Some(seen) = self.remotes.get_mut(remote) {
                    if seen.attempt == Some(*attempt) {
                        seen.attempt = None;
                        seen.connected = None;
                    }
                }
            }
            Event::LeafLinkUp {
                cid,
                solicited,
                remote,
                account,
            } => {
                self.links.insert(
                    *cid,
                    LinkSeen {
                        solicited: *solicited,
                        peer: remote.clone(),
                        account: account.clone(),
                    },
                );
            }
            Event::ClientClosed { cid, .. } => {
                self.links.remove(cid);
            }
            _ => {}
        }
        None
    }

    /// How the configured remotes differ from `want` (identity -> enabled): remotes
    /// missing or left over, and disabled remotes that still have an attempt.
    fn differences(&self, want: &BTreeMap<String, bool>) -> Vec<String> {
        let mut out = Vec::new();
        for id in self.remotes.keys().filter(|id| !want.contains_key(*id)) {
            out.push(format!("{id} is still configured"));
        }
        for (id, on) in want {
            match self.remotes.get(id) {
                None => out.push(format!("{id} is not configured")),
                Some(r) if !on && r.attempt.is_some() => {
                    out.push(format!("disabled {id} still has attempt {:?}", r.attempt))
                }
                Some(_) => {}
            }
        }
        out
    }

    /// Registered links with the role, peer and account of `like`.
    fn same_key(&self, like: &LinkSeen) -> usize {
        self.links.values().filter(|l| *l == like).count()
    }

    fn solicited_links(&self) -> impl Iterator<Item = (&Cid, &LinkSeen)> {
        self.links.iter().filter(|(_, l)| l.solicited)
    }

    fn accepted_links(&self) -> impl Iterator<Item = (&Cid, &LinkSeen)> {
        self.links.iter().filter(|(_, l)| !l.solicited)
    }
}

/// Always: on `server`, each remote identity has at most one attempt in flight, and none
/// while it is removed or disabled (incident 1, invariant 2; a leftover timer shows up as
/// an attempt).
pub struct LeafAttempts {
    pub(super) name: String,
    view: LeafView,
    dials: u64,
}

impl LeafAttempts {
    pub(super) fn new(name: String, server: String) -> Self {
        LeafAttempts {
            name,
            view: LeafView::new(&server),
            dials: 0,
        }
    }
}

impl Invariant for LeafAttempts {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn observe(&mut self, r: &Record) -> Option<String> {
        if r.host == self.view.server && r.kind() == "leaf_dialing" {
            self.dials += 1;
        }
        self.view.apply(r)
    }

    fn finish(&mut self, _: &[Record], _: &Ctx) -> Result<String, String> {
        if self.dials == 0 {
            return Err(format!(
                "{} never dialed a remote: nothing was checked",
                self.view.server
            ));
        }
        Ok(format!("{} attempts, never two for one remote", self.dials))
    }
}

/// Always: at most `max` registered leafnode links per (role, peer, account) on `server`.
pub struct LeafLinksAtMost {
    pub(super) name: String,
    view: LeafView,
    max: usize,
    most: usize,
}

impl LeafLinksAtMost {
    pub(super) fn new(name: String, server: String, max: usize) -> Self {
        LeafLinksAtMost {
            name,
            view: LeafView::new(&server),
            max,
            most: 0,
        }
    }
}

impl Invariant for LeafLinksAtMost {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn observe(&mut self, r: &Record) -> Option<String> {
        // Attempt rules are `leaf_attempts`' business; here only links count.
        let _ = self.view.apply(r);
        let Some(Body::Server {
            event: Event::LeafLinkUp { cid, .. },
            ..
        }) = (r.host == self.view.server).then_some(&r.body)
        else {
            return None;
        };
        let link = self.view.links.get(cid)?.clone();
        let n = self.view.same_key(&link);
        self.most = self.most.max(n);
        (n > self.max).then(|| {
            let cids: Vec<String> = self
                .view
                .links
                .iter()
                .filter(|(_, l)| **l == link)
                .map(|(c, _)| c.to_string())
                .collect();
            format!(
                "{} holds {n} {} links with {} for account {} at {} (cids {}; max {})",
                self.view.server,
                if link.solicited {
                    "solicited"
                } else {
                    "accepted"
                },
                link.peer,
                link.account,
                stamp(r.t),
                cids.join(", "),
                self.max
            )
        })
    }

    fn finish(&mut self, _: &[Record], _: &Ctx) -> Result<String, String> {
        Ok(format!("at most {} per peer and account", self.most))
    }
}

/// Always: every solicited link `server` registers belongs to an attempt that was its
/// remote's current one when the handshake completed (`leaf_connected`), and that has not
/// ended since. A stale attempt (its remote removed, disabled or re-added meanwhile) or an
/// orphaned one (a reload failed to cancel it) registers without a `leaf_connected`, which
/// is what this catches (incident 1, invariant 4).
pub struct LeafNoStaleRegister {
    pub(super) name: String,
    server: String,
    inc: u32,
    /// Attempts that completed their handshake as current and have not registered or
    /// ended yet, oldest first, with their account when the identity shows it.
    pending: Vec<(u64, Option<String>)>,
    registered: u64,
}

impl LeafNoStaleRegister {
    pub(super) fn new(name: String, server: String) -> Self {
        LeafNoStaleRegister {
            name,
            server,
            inc: 0,
            pending: Vec::new(),
            registered: 0,
        }
    }
}

impl Invariant for LeafNoStaleRegister {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn observe(&mut self, r: &Record) -> Option<String> {
        let (phase, event) = scope(r, &self.server, &mut self.inc);
        if phase.fresh() {
            self.pending.clear();
        }
        match event? {
            Event::LeafConnected {
                remote, attempt, ..
            } => self.pending.push((*attempt, account_of(remote))),
            Event::LeafClosed { attempt, .. } | Event::LeafDialFailed { attempt, .. } => {
                self.pending.retain(|(a, _)| a != attempt);
            }
            Event::LeafStaleInput { attempt, input, .. }
                if input == "link_closed" || input == "dial_failed" =>
            {
                self.pending.retain(|(a, _)| a != attempt);
            }
            Event::LeafLinkUp {
                cid,
                solicited: true,
                remote,
                account,
            } => {
                let i = self
                    .pending
                    .iter()
                    .position(|(_, acc)| acc.as_ref().is_none_or(|a| a == account));
                match i {
                    Some(i) => {
                        self.pending.remove(i);
                        self.registered += 1;
                    }
                    None => {
                        return Some(format!(
                            "{}: link cid {cid} (to {remote}, account {account}) was registered at {} although no current attempt for that account completed its handshake: a stale or orphaned attempt",
                            self.server,
                            stamp(r.t)
                        ))
                    }
                }
            }
            _ => {}
        }
        None
    }

    fn finish(&mut self, _: &[Record], _: &Ctx) -> Result<String, String> {
        if self.registered == 0 {
            return Err(format!(
                "{} registered no solicited link: nothing was checked",
                self.server
            ));
        }
        Ok(format!(
            "{} links registered, each by a current attempt",
            self.registered
        ))
    }
}

/// Always: a rejected reload of `server` changed no remote, and remotes change only when
/// the server starts or applies a reload (incident 1, invariant 5: all or nothing).
pub struct LeafReloadAtomic {
    pub(super) name: String,
    server: String,
    inc: u32,
    started: Option<Duration>,
    /// Reloads sent and not yet answered, with the remote changes each made so far.
    outstanding: VecDeque<u32>,
    applied: u64,
    rejected: u64,
}

impl LeafReloadAtomic {
    pub(super) fn new(name: String, server: String) -> Self {
        LeafReloadAtomic {
            name,
            server,
            inc: 0,
            started: None,
            outstanding: VecDeque::new(),
            applied: 0,
            rejected: 0,
        }
    }
}

impl Invariant for LeafReloadAtomic {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn observe(&mut self, r: &Record) -> Option<String> {
        if reload_of(r, &self.server).is_some() {
            self.outstanding.push_back(0);
            return None;
        }
        let (phase, event) = scope(r, &self.server, &mut self.inc);
        if phase == Phase::Ended {
            self.outstanding.clear();
        }
        if r.host == self.server && matches!(r.body, Body::Host(HostEvent::HostStarted { .. })) {
            // The start adds the configured remotes in the same instant.
            self.started = Some(r.t);
        }
        match event? {
            Event::RemoteAdded { remote, .. }
            | Event::RemoteRemoved { remote }
            | Event::RemoteEnabled { remote, .. }
            | Event::RemoteDisabled { remote }
            | Event::RemoteUpdated { remote, .. } => {
                // The start adds its remotes in the instant it starts (a reload sent
                // right after a restart may be answered in that instant too).
                let at_start = self.started == Some(r.t);
                match self.outstanding.front_mut() {
                    _ if at_start => {}
                    Some(n) => *n += 1,
                    None => {
                        return Some(format!(
                            "{}: remote {remote} changed at {} outside a reload",
                            self.server,
                            stamp(r.t)
                        ))
                    }
                }
            }
            Event::ConfigReloaded => {
                self.outstanding.pop_front();
                self.applied += 1;
            }
            Event::ReloadFailed { error } => {
                self.rejected += 1;
                if let Some(n @ 1..) = self.outstanding.pop_front() {
                    return Some(format!(
                        "{}: a reload rejected at {} ({error}) had already changed {n} remote(s)",
                        self.server,
                        stamp(r.t)
                    ));
                }
            }
            _ => {}
        }
        None
    }

    /// Every applied reload applied fully: right after `config_reloaded` the configured
    /// remotes are exactly the new config's, and its disabled ones hold no attempt. (Checked
    /// after the run because it needs the scenario's configs.)
    fn finish(&mut self, log: &[Record], ctx: &Ctx) -> Result<String, String> {
        let mut view = LeafView::new(&self.server);
        let mut config = ConfigInEffect::new(&self.server);
        for r in log {
            let _ = view.apply(r);
            config.apply(r);
            let reloaded = r.host == self.server
                && matches!(
                    r.body,
                    Body::Server {
                        event: Event::ConfigReloaded,
                        ..
                    }
                );
            if reloaded {
                let want = config.remotes(ctx.scenario)?;
                let problems = view.differences(&want);
                if !problems.is_empty() {
                    return Err(format!(
                        "{}: the reload to {} applied at {} only in part: {}",
                        self.server,
                        config.current,
                        stamp(r.t),
                        problems.join("; ")
                    ));
                }
            }
        }
        Ok(format!(
            "{} reloads applied in full, {} rejected without a change",
            self.applied, self.rejected
        ))
    }
}

/// Remote identities of a config's `leafnodes.remotes`, with whether each is enabled.
fn remotes_of(text: &str, file: &str, s: &Scenario) -> Result<BTreeMap<String, bool>, String> {
    let cfg = parse_config(text, file, &s.configs)?;
    let mut out = BTreeMap::new();
    for r in &cfg.leafnodes.remotes {
        let id = r.identity().to_string();
        if out.insert(id.clone(), !r.disabled).is_some() {
            return Err(format!(
                "{file}: two remotes render as {id} (differing only in a password?); the leaf invariants cannot tell them apart"
            ));
        }
    }
    Ok(out)
}

/// Which configuration `server` runs, replayed from the log: its `[[server]]` config at
/// every start, then each `reload` fault it answered with `config_reloaded` (reloads are
/// answered in the order they were sent).
struct ConfigInEffect {
    server: String,
    inc: u32,
    current: String,
    pending: VecDeque<String>,
}

impl ConfigInEffect {
    const INITIAL: &'static str = "(startup config)";

    fn new(server: &str) -> Self {
        ConfigInEffect {
            server: server.to_string(),
            inc: 0,
            current: Self::INITIAL.into(),
            pending: VecDeque::new(),
        }
    }

    fn apply(&mut self, r: &Record) {
        if let Some(name) = reload_of(r, &self.server) {
            self.pending.push_back(name.to_string());
            return;
        }
        let (phase, event) = scope(r, &self.server, &mut self.inc);
        if phase == Phase::Ended {
            self.pending.clear();
        }
        if phase.fresh() {
            self.current = Self::INITIAL.into();
        }
        match event {
            Some(Event::ConfigReloaded) => {
                if let Some(name) = self.pending.pop_front() {
                    self.current = name;
                }
            }
            Some(Event::ReloadFailed { .. }) => {
                self.pending.pop_front();
            }
            _ => {}
        }
    }

    /// The remotes of the configuration in effect.
    fn remotes(&self, s: &Scenario) -> Result<BTreeMap<String, bool>, String> {
        if self.current == Self::INITIAL {
            let text = s
                .servers
                .iter()
                .find(|x| x.name == self.server)
                .and_then(|x| x.config.clone())
                .unwrap_or_default();
            remotes_of(&text, &format!("{}.conf", self.server), s)
        } else {
            let text = s
                .configs
                .get(&self.current)
                .ok_or_else(|| format!("no config {:?}", self.current))?;
            remotes_of(text, &format!("{}.conf", self.current), s)
        }
    }
}

/// Eventually: at `after + within`, `server`'s remotes are exactly the configuration in
/// effect: the configured identities (by the machine's events) are the configured ones,
/// every enabled remote is connected, disabled ones hold no attempt, `server` holds one
/// registered solicited link per enabled remote (one per account), and the `hubs`, if any,
/// together hold the same number of accepted links (incident 1, invariants 1 and 3).
pub struct LeafRemotesSettled {
    pub(super) name: String,
    pub(super) server: String,
    pub(super) hubs: Vec<String>,
    pub(super) within: Duration,
    pub(super) after: Option<String>,
}

impl Invariant for LeafRemotesSettled {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn finish(&mut self, log: &[Record], ctx: &Ctx) -> Result<String, String> {
        let deadline = ctx.reference(self.after.as_deref())? + self.within;
        let at = stamp(deadline);
        let mut view = LeafView::new(&self.server);
        let mut hubs: Vec<LeafView> = self.hubs.iter().map(|h| LeafView::new(h)).collect();
        let mut config = ConfigInEffect::new(&self.server);
        for r in log.iter().take_while(|r| r.t <= deadline) {
            let _ = view.apply(r);
            for h in hubs.iter_mut() {
                let _ = h.apply(r);
            }
            config.apply(r);
        }
        let want = config.remotes(ctx.scenario)?;
        // Every problem at once: a failure report should show the whole picture.
        let mut problems = view.differences(&want);
        let enabled = want.values().filter(|on| **on).count();
        for (id, r) in want
            .iter()
            .filter(|(_, on)| **on)
            .filter_map(|(id, _)| Some((id, view.remotes.get(id)?)))
        {
            if r.connected.is_none() {
                problems.push(format!(
                    "enabled {id} is not connected (attempt {:?})",
                    r.attempt
                ));
            }
        }
        let links: Vec<(&Cid, &LinkSeen)> = view.solicited_links().collect();
        let keys: BTreeSet<&LinkSeen> = links.iter().map(|(_, l)| *l).collect();
        if links.len() != enabled || keys.len() != links.len() {
            let shown: Vec<String> = links
                .iter()
                .map(|(c, l)| format!("cid {c} to {} account {}", l.peer, l.account))
                .collect();
            problems.push(format!(
                "{} registered solicited link(s) [{}] for {enabled} enabled remote(s)",
                links.len(),
                shown.join(", ")
            ));
        }
        let mut hub_note = String::new();
        if !hubs.is_empty() {
            let held: Vec<String> = hubs
                .iter()
                .map(|h| format!("{} holds {}", h.server, h.accepted_links().count()))
                .collect();
            let n: usize = hubs.iter().map(|h| h.accepted_links().count()).sum();
            if n != enabled {
                problems.push(format!(
                    "hubs hold {n} accepted leaf link(s) ({}) for {enabled} enabled remote(s)",
                    held.join(", ")
                ));
            }
            hub_note = format!("; {}", held.join(", "));
        }
        if !problems.is_empty() {
            return Err(format!(
                "at {at} {} (config {}): {}",
                self.server,
                config.current,
                problems.join("; ")
            ));
        }
        Ok(format!(
            "at {at}: {enabled} enabled remote(s), each connected with one link (config {}){hub_note}",
            config.current
        ))
    }
}

/// Eventually: every leafnode link `server` held at `after` is still open at
/// `after + within`, and no link registered and no attempt started in between: a reload
/// that should change nothing (no-op, reordered remotes, a named remote's URL edit, a
/// rejected reload) did not bounce anything (incident 1, invariants 6 and 7).
pub struct LeafLinksKept {
    pub(super) name: String,
    pub(super) server: String,
    pub(super) within: Duration,
    pub(super) after: Option<String>,
}

impl Invariant for LeafLinksKept {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn finish(&mut self, log: &[Record], ctx: &Ctx) -> Result<String, String> {
        let from = ctx.reference(self.after.as_deref())?;
        let until = from + self.within;
        // The state just before the reference, so a change in its own step counts.
        let mut view = LeafView::new(&self.server);
        for r in log.iter().take_while(|r| r.t < from) {
            let _ = view.apply(r);
        }
        let kept: Vec<Cid> = view.links.keys().copied().collect();
        if kept.is_empty() {
            return Err(format!(
                "{} held no leafnode link at {}: nothing to keep",
                self.server,
                stamp(from)
            ));
        }
        let inc = view.inc;
        for r in log.iter().filter(|r| r.t >= from && r.t <= until) {
            let (phase, event) = scope(r, &self.server, &mut view.inc);
            if phase.fresh() {
                return Err(format!(
                    "{} lost its state at {} ({})",
                    self.server,
                    stamp(r.t),
                    r.line()
                ));
            }
            let bad = match event {
                Some(Event::ClientClosed { cid, .. }) => kept.contains(cid),
                Some(Event::LeafLinkUp { .. } | Event::LeafDialing { .. }) => true,
                _ => false,
            };
            if bad {
                return Err(format!(
                    "{} (incarnation {inc}) changed its links at {}: {}",
                    self.server,
                    stamp(r.t),
                    r.line()
                ));
            }
        }
        let cids: Vec<String> = kept.iter().map(ToString::to_string).collect();
        Ok(format!(
            "cids {} kept from {} to {}",
            cids.join(", "),
            stamp(from),
            stamp(until)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault_plan::FaultPlan;
    use crate::invariant::InvariantSpec;
    use rejoin_core::event::CloseReason;

    const R1: &str = r#"urls=["nats-leaf://hub:7422"] account="A" credentials="""#;
    const R2: &str = r#"urls=["nats-leaf://hub:7422"] account="B" credentials="""#;

    fn ev(t_ms: u64, host: &str, event: Event) -> Record {
        Record {
            t: Duration::from_millis(t_ms),
            host: host.into(),
            body: Body::Server { inc: 1, event },
        }
    }

    fn fault(t_ms: u64, action: &str) -> Record {
        Record {
            t: Duration::from_millis(t_ms),
            host: "nemesis".into(),
            body: Body::Fault {
                action: action.into(),
                hosts: vec![],
                id: None,
                error: None,
            },
        }
    }

    fn added(t: u64, r: &str) -> Record {
        ev(
            t,
            "leaf",
            Event::RemoteAdded {
                remote: r.into(),
                generation: 1,
            },
        )
    }

    fn dialing(t: u64, r: &str, attempt: u64) -> Record {
        ev(
            t,
            "leaf",
            Event::LeafDialing {
                remote: r.into(),
                attempt,
                url: "nats-leaf://hub:7422".into(),
            },
        )
    }

    fn connected(t: u64, r: &str, attempt: u64) -> Record {
        ev(
            t,
            "leaf",
            Event::LeafConnected {
                remote: r.into(),
                attempt,
                url: "nats-leaf://hub:7422".into(),
                session: 1,
            },
        )
    }

    fn closed(t: u64, r: &str, attempt: u64) -> Record {
        ev(
            t,
            "leaf",
            Event::LeafClosed {
                remote: r.into(),
                attempt,
                reason: "io".into(),
                retry_in_ms: 200,
            },
        )
    }

    fn link_up(t: u64, host: &str, cid: Cid, solicited: bool, account: &str) -> Record {
        ev(
            t,
            host,
            Event::LeafLinkUp {
                cid,
                solicited,
                remote: if solicited { "hub" } else { "leaf" }.into(),
                account: account.into(),
            },
        )
    }

    fn link_closed(t: u64, host: &str, cid: Cid) -> Record {
        ev(
            t,
            host,
            Event::ClientClosed {
                cid,
                reason: CloseReason::ClientClosed,
            },
        )
    }

    fn scenario() -> Scenario {
        Scenario::from_text(
            r#"
            duration = "20s"
            [configs]
            none = "port: 4222"
            both = """
            port: 4222
            accounts { A { users: [{user: a, password: a}] }, B { users: [{user: b, password: b}] } }
            leafnodes { remotes: [ { urls: ["nats-leaf://hub:7422"], account: A },
                                   { urls: ["nats-leaf://hub:7422"], account: B, disabled: true } ] }
            """
            [[server]]
            name = "hub"
            config = "port: 4222\nleafnodes { listen: 7422 }"
            [[server]]
            name = "leaf"
            config = "include both.conf"
            [[fault]]
            at = "5s"
            do = "reload leaf none"
            "#,
            "t",
        )
        .unwrap()
    }

    fn spec(s: &str) -> InvariantSpec {
        toml::from_str(s).unwrap()
    }

    fn always(spec: &InvariantSpec, log: &[Record]) -> Result<(), String> {
        let mut inv = spec.build();
        for r in log {
            if let Some(why) = inv.observe(r) {
                return Err(why);
            }
        }
        Ok(())
    }

    fn eventually(spec: &InvariantSpec, log: &[Record]) -> Result<String, String> {
        let s = scenario();
        spec.validate(&s)?;
        let plan = FaultPlan::new(s.faults.clone());
        let ctx = Ctx {
            scenario: &s,
            plan: &plan,
            end: Duration::from_secs(20),
        };
        let mut inv = spec.build();
        for r in log {
            if let Some(why) = inv.observe(r) {
                return Err(why);
            }
        }
        inv.finish(log, &ctx)
    }

    #[test]
    fn account_is_read_from_unnamed_identities_only() {
        assert_eq!(account_of(R1).as_deref(), Some("A"));
        let odd = r#"urls=["nats://h:7422"] account="a \"b\\" credentials="x""#;
        assert_eq!(account_of(odd).as_deref(), Some("a \"b\\"));
        assert_eq!(account_of(r#"name="hub""#), None);
    }

    #[test]
    fn attempts_one_per_remote_and_none_when_removed_or_disabled() {
        let s = spec("check = \"leaf_attempts\"\nserver = \"leaf\"");
        let ok = [
            added(0, R1),
            dialing(0, R1, 2),
            closed(100, R1, 2),
            dialing(300, R1, 3),
            connected(320, R1, 3),
        ];
        assert!(always(&s, &ok).is_ok());
        let two = [added(0, R1), dialing(0, R1, 2), dialing(100, R1, 3)];
        assert!(always(&s, &two).unwrap_err().contains("still in flight"));
        let disabled = [
            added(0, R1),
            ev(50, "leaf", Event::RemoteDisabled { remote: R1.into() }),
            dialing(200, R1, 3),
        ];
        assert!(always(&s, &disabled).unwrap_err().contains("disabled"));
        let removed = [
            added(0, R1),
            dialing(0, R1, 2),
            ev(50, "leaf", Event::RemoteRemoved { remote: R1.into() }),
            dialing(200, R1, 3),
        ];
        assert!(always(&s, &removed).unwrap_err().contains("not configured"));
        // A restart of the server forgets everything.
        let restarted = [
            added(0, R1),
            dialing(0, R1, 2),
            fault(100, "restart leaf"),
            Record {
                t: Duration::from_millis(100),
                host: "leaf".into(),
                body: Body::Server {
                    inc: 2,
                    event: Event::RemoteAdded {
                        remote: R1.into(),
                        generation: 1,
                    },
                },
            },
        ];
        assert!(always(&s, &restarted).is_ok());
    }

    #[test]
    fn links_at_most_counts_per_peer_and_account() {
        let s = spec("check = \"leaf_links_at_most\"\nserver = \"leaf\"");
        let ok = [
            link_up(10, "leaf", 1, true, "A"),
            link_up(20, "leaf", 2, true, "B"),
            link_closed(30, "leaf", 1),
            link_up(40, "leaf", 3, true, "A"),
        ];
        assert!(always(&s, &ok).is_ok());
        let dup = [
            link_up(10, "leaf", 1, true, "A"),
            link_up(20, "leaf", 2, true, "A"),
        ];
        assert!(always(&s, &dup).unwrap_err().contains("cids 1, 2"));
    }

    #[test]
    fn stale_registration_is_caught() {
        let s = spec("check = \"leaf_no_stale_register\"\nserver = \"leaf\"");
        let ok = [
            dialing(0, R1, 2),
            connected(20, R1, 2),
            link_up(20, "leaf", 1, true, "A"),
        ];
        assert!(always(&s, &ok).is_ok());
        // Registered without a current handshake (an orphan or a stale attempt).
        let stale = [dialing(0, R1, 2), link_up(20, "leaf", 1, true, "A")];
        assert!(always(&s, &stale).unwrap_err().contains("stale"));
        // A handshake of account B does not license a link of account A.
        let other = [connected(20, R2, 2), link_up(20, "leaf", 1, true, "A")];
        assert!(always(&s, &other).is_err());
        // An attempt that ended before registering licenses nothing.
        let ended = [
            connected(20, R1, 2),
            closed(25, R1, 2),
            link_up(30, "leaf", 1, true, "A"),
        ];
        assert!(always(&s, &ended).is_err());
        // Accepted links are not the leaf side's business.
        assert!(always(&s, &[link_up(20, "leaf", 9, false, "A")]).is_ok());
    }

    #[test]
    fn reload_atomic_rejects_partial_changes() {
        let s = spec("check = \"leaf_reload_atomic\"\nserver = \"leaf\"");
        let start = Record {
            t: Duration::ZERO,
            host: "leaf".into(),
            body: Body::Host(HostEvent::HostStarted {
                inc: 1,
                role: "server".into(),
            }),
        };
        let removed = ev(5000, "leaf", Event::RemoteRemoved { remote: R1.into() });
        let ok = [
            start.clone(),
            added(0, R1),
            fault(5000, "reload leaf none"),
            removed.clone(),
            ev(5000, "leaf", Event::ConfigReloaded),
        ];
        assert!(always(&s, &ok).is_ok());
        let partial = [
            start.clone(),
            added(0, R1),
            fault(5000, "reload leaf none"),
            removed.clone(),
            ev(5000, "leaf", Event::ReloadFailed { error: "no".into() }),
        ];
        assert!(always(&s, &partial)
            .unwrap_err()
            .contains("already changed"));
        let stray = [start.clone(), removed.clone()];
        assert!(always(&s, &stray).unwrap_err().contains("outside a reload"));
        // Applied, but in part (the 1C no-op): caught after the run, against the config.
        let r2 = r#"urls=["nats-leaf://hub:7422"] account="B" credentials="""#;
        let noop = vec![
            start,
            added(0, R1),
            added(0, r2),
            fault(5000, "reload leaf none"),
            ev(5000, "leaf", Event::ConfigReloaded),
        ];
        assert!(eventually(&s, &noop).unwrap_err().contains("only in part"));
        let mut full = noop.clone();
        full.insert(4, removed);
        full.insert(
            5,
            ev(5000, "leaf", Event::RemoteRemoved { remote: r2.into() }),
        );
        assert!(eventually(&s, &full).is_ok(), "{:?}", eventually(&s, &full));
    }

    #[test]
    fn settled_compares_with_the_config_in_effect() {
        let s = spec(
            "check = \"leaf_remotes_settled\"\nserver = \"leaf\"\nhubs = [\"hub\"]\nafter = \"1s\"\nwithin = \"1s\"",
        );
        let r2 = r#"urls=["nats-leaf://hub:7422"] account="B" credentials="""#;
        let up = vec![
            added(0, R1),
            added(0, r2),
            dialing(0, R1, 3),
            connected(20, R1, 3),
            link_up(20, "leaf", 1, true, "A"),
            link_up(20, "hub", 1, false, "A"),
        ];
        assert!(eventually(&s, &up).is_ok(), "{:?}", eventually(&s, &up));
        // The hub kept a second link.
        let mut hub_dup = up.clone();
        hub_dup.push(link_up(30, "hub", 2, false, "B"));
        assert!(eventually(&s, &hub_dup)
            .unwrap_err()
            .contains("hubs hold 2 accepted leaf link(s) (hub holds 2)"));
        // Not connected.
        let down = vec![added(0, R1), added(0, r2), dialing(0, R1, 3)];
        assert!(eventually(&s, &down)
            .unwrap_err()
            .contains("is not connected"));
        // After `reload leaf none` was applied, nothing may remain (the 1C no-op).
        let s = spec("check = \"leaf_remotes_settled\"\nserver = \"leaf\"\nwithin = \"1s\"");
        let mut noop = up.clone();
        noop.push(fault(5000, "reload leaf none"));
        noop.push(ev(5000, "leaf", Event::ConfigReloaded));
        assert!(eventually(&s, &noop)
            .unwrap_err()
            .contains("is still configured"));
        let mut applied = noop.clone();
        applied.insert(
            7,
            ev(5000, "leaf", Event::RemoteRemoved { remote: R1.into() }),
        );
        applied.insert(
            8,
            ev(5000, "leaf", Event::RemoteRemoved { remote: r2.into() }),
        );
        applied.push(link_closed(5000, "leaf", 1));
        assert!(
            eventually(&s, &applied).is_ok(),
            "{:?}",
            eventually(&s, &applied)
        );
        // A rejected reload leaves the startup config in effect.
        let mut rejected = up.clone();
        rejected.push(fault(5000, "reload leaf none"));
        rejected.push(ev(5000, "leaf", Event::ReloadFailed { error: "no".into() }));
        assert!(eventually(&s, &rejected).is_ok());
    }

    #[test]
    fn links_kept_needs_a_link_and_no_change() {
        let s =
            spec("check = \"leaf_links_kept\"\nserver = \"leaf\"\nafter = \"1s\"\nwithin = \"2s\"");
        let up = vec![dialing(0, R1, 2), link_up(20, "leaf", 1, true, "A")];
        assert!(eventually(&s, &up).is_ok());
        let mut bounced = up.clone();
        bounced.push(link_closed(2000, "leaf", 1));
        assert!(eventually(&s, &bounced).is_err());
        let mut redialed = up.clone();
        redialed.push(dialing(2500, R1, 3));
        assert!(eventually(&s, &redialed).is_err());
        // Changes after the window do not count.
        let mut late = up.clone();
        late.push(link_closed(3500, "leaf", 1));
        assert!(eventually(&s, &late).is_ok());
        assert!(eventually(&s, &[])
            .unwrap_err()
            .contains("no leafnode link"));
    }
}
