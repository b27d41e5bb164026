//! [`PresenceRegistry`]: one server's presence sessions, views and takeover policy (the
//! design is in the [module docs](super)).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use super::wire::{classify, Subject};
use super::{
    is_valid_id, ClientPublish, Connect, Epoch, EventKind, LinkPublish, PresenceEvent,
    PresenceOutput, RelayTarget, ERR_INVALID_ID,
};
use crate::bugs::{BugSet, BugSwitch};
use crate::config::{IdFrom, Presence};
use crate::event::{Cid, CloseReason, Event};
use crate::time::{Duration, Instant};

/// An id that has been offline (and not held here) this long is forgotten. Until then its
/// last epoch keeps late, older events from being delivered; after it, only the hybrid clock
/// (every new epoch is larger than anything seen) protects subscribers.
const TOMBSTONE_RETENTION: Duration = Duration::from_secs(600);

/// (account, id).
type Key = (String, String);

/// Counters for monitoring (`/varz` `presence`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PresenceStats {
    /// Live presence sessions on this server.
    pub sessions: u64,
    /// Ids tracked (online anywhere, or recently offline).
    pub ids: u64,
    /// Sessions started here.
    pub connects: u64,
    /// Takeovers decided here (a new session here replaced a live one, here or elsewhere).
    pub takeovers: u64,
    /// Sessions here closed because a newer session of their id started on another server.
    pub remote_takeovers: u64,
    /// Takeovers refused by `takeover_backoff`: two live clients fighting over one id.
    pub fights: u64,
    /// Sessions refused at CONNECT: invalid id, or id in use with takeover off.
    pub refused: u64,
    /// Events published (after the view accepted them).
    pub events: u64,
    /// Events dropped because subscribers here already saw a newer one for the id.
    pub stale_dropped: u64,
}

/// One server's presence state. See the [module docs](super).
#[derive(Debug)]
pub struct PresenceRegistry {
    config: Presence,
    server: Arc<str>,
    /// Wall-clock time at the caller's start, in microseconds since the Unix epoch.
    wall_start_us: u64,
    /// Largest epoch counter issued here or seen in an event.
    clock: u64,
    bugs: BugSet,
    ids: BTreeMap<Key, Entry>,
    /// Local sessions by connection, from CONNECT until their cleanup (a replaced session
    /// stays here until its own cleanup runs, so the cleanup can tell it is no longer "mine").
    sessions: BTreeMap<Cid, Session>,
    outputs: VecDeque<PresenceOutput>,
    stats: PresenceStats,
    next_prune: Instant,
}

#[derive(Debug)]
struct Session {
    key: Key,
    epoch: Epoch,
    /// Set once the connection ended (its cleanup may still be pending): replacing such a
    /// session is not a takeover of a live client.
    ending: Option<CloseReason>,
}

#[derive(Debug)]
struct Entry {
    /// The local session holding the id, if any.
    local: Option<Cid>,
    /// The last event delivered to subscribers here.
    view: Option<View>,
    /// When this id was last taken over (here or from elsewhere), for `takeover_backoff`.
    last_takeover: Option<Instant>,
    /// Last change, for forgetting offline ids.
    touched: Instant,
}

#[derive(Clone, Debug)]
struct View {
    epoch: Epoch,
    kind: EventKind,
    cid: Cid,
}

/// Who holds an id when a new session arrives.
enum Holder {
    None,
    /// A local session (alive unless `ending`).
    Local {
        cid: Cid,
        epoch: Epoch,
        ending: Option<CloseReason>,
    },
    /// The view says a session on another server is online.
    Remote(View),
}

impl PresenceRegistry {
    /// A registry for server `server` (its server id: the tie-breaker of epochs).
    /// `wall_start_us` is the wall-clock time at the caller's start in microseconds since the
    /// Unix epoch (0 is fine when epochs need not survive restarts, e.g. in tests).
    pub fn new(config: Presence, server: &str, wall_start_us: u64, bugs: BugSet) -> Self {
        PresenceRegistry {
            config,
            server: Arc::from(server),
            wall_start_us,
            clock: 0,
            bugs,
            ids: BTreeMap::new(),
            sessions: BTreeMap::new(),
            outputs: VecDeque::new(),
            stats: PresenceStats::default(),
            next_prune: Instant::ZERO + TOMBSTONE_RETENTION,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Presence {
        &self.config
    }

    /// Apply a reloaded configuration. Sessions already tracked stay tracked until they end;
    /// participation and prefixes apply to what happens next.
    pub fn set_config(&mut self, config: Presence) {
        self.config = config;
    }

    /// Whether clients of `account` take part.
    pub fn participates(&self, account: &str) -> bool {
        self.config.enabled
            && (self.config.accounts.is_empty()
                || self.config.accounts.iter().any(|a| a == account))
    }

    /// Next thing to do. Drain after every `handle_*` call.
    pub fn poll_output(&mut self) -> Option<PresenceOutput> {
        self.outputs.pop_front()
    }

    /// When [`PresenceRegistry::handle_timeout`] next has work (forgetting old offline ids).
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.ids.is_empty()).then_some(self.next_prune)
    }

    /// Forget ids that have been offline for a while. Spurious calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now < self.next_prune {
            return;
        }
        self.next_prune = now + TOMBSTONE_RETENTION / 2;
        self.ids.retain(|_, e| {
            e.local.is_some()
                || e.view.as_ref().is_some_and(|v| v.kind == EventKind::Online)
                || now < e.touched + TOMBSTONE_RETENTION
        });
    }

    /// Counters.
    pub fn stats(&self) -> PresenceStats {
        let mut s = self.stats.clone();
        s.sessions = self.ids.values().filter(|e| e.local.is_some()).count() as u64;
        s.ids = self.ids.len() as u64;
        s
    }

    /// The local session holding `id` in `account`: its connection and epoch.
    pub fn local_session(&self, account: &str, id: &str) -> Option<(Cid, &Epoch)> {
        let cid = self.entry(account, id)?.local?;
        Some((cid, &self.sessions.get(&cid)?.epoch))
    }

    /// What subscribers here were last told about `id`: (online, epoch, cid).
    pub fn view(&self, account: &str, id: &str) -> Option<(bool, &Epoch, Cid)> {
        let v = self.entry(account, id)?.view.as_ref()?;
        Some((v.kind == EventKind::Online, &v.epoch, v.cid))
    }

    /// The epoch of the local session on connection `cid` (until its cleanup).
    pub fn session_epoch(&self, cid: Cid) -> Option<&Epoch> {
        self.sessions.get(&cid).map(|s| &s.epoch)
    }

    fn entry(&self, account: &str, id: &str) -> Option<&Entry> {
        self.ids.get(&(account.to_string(), id.to_string()))
    }

    /// A client's CONNECT was accepted. If it presents a peer id in a participating account
    /// it becomes a presence session (or is refused with a [`PresenceOutput::Close`] for its
    /// own connection).
    pub fn handle_connect(&mut self, now: Instant, c: Connect<'_>) {
        self.handle_timeout(now);
        if !self.participates(c.account) {
            return;
        }
        let id = match self.config.id_from {
            IdFrom::Name => c.name,
            IdFrom::User => c.user,
        };
        // Clients that set no name often send `"name":""`: that is "no id", not a bad one.
        let Some(id) = id.filter(|i| !i.is_empty()) else {
            return;
        };
        if self.sessions.contains_key(&c.cid) {
            // A repeated CONNECT: the session keeps the id its first CONNECT gave it.
            return;
        }
        if !is_valid_id(id) {
            self.refuse(c, id, ERR_INVALID_ID.to_string(), "invalid presence id");
            return;
        }
        let key: Key = (c.account.to_string(), id.to_string());
        let holder = self.holder(&key);
        let alive = match &holder {
            Holder::Local { ending, .. } => ending.is_none(),
            Holder::Remote(_) => true,
            Holder::None => false,
        };
        if alive {
            let local = matches!(holder, Holder::Local { .. });
            if local && !self.config.takeover {
                self.refuse(
                    c,
                    id,
                    format!("'Presence Id \"{id}\" Is In Use'"),
                    "presence id in use",
                );
                return;
            }
            let backoff = self.config.takeover_backoff;
            let last = self.ids.get(&key).and_then(|e| e.last_takeover);
            if last.is_some_and(|t| now < t + backoff) {
                self.stats.fights += 1;
                self.event(Event::PresenceFight {
                    account: c.account.to_string(),
                    id: id.to_string(),
                    cid: c.cid,
                });
                self.outputs.push_back(PresenceOutput::Close {
                    cid: c.cid,
                    text: format!(
                        "'Presence Takeover Refused: Id \"{id}\" Was Taken Over Less Than {backoff:?} Ago'"
                    ),
                    reason: CloseReason::Other("presence takeover refused".into()),
                });
                return;
            }
        }

        let epoch = self.next_epoch(now);
        self.stats.connects += 1;
        self.sessions.insert(
            c.cid,
            Session {
                key: key.clone(),
                epoch: epoch.clone(),
                ending: None,
            },
        );
        let entry = self.ids.entry(key.clone()).or_insert_with(|| Entry {
            local: None,
            view: None,
            last_takeover: None,
            touched: now,
        });
        entry.local = Some(c.cid);
        entry.touched = now;
        if alive {
            entry.last_takeover = Some(now);
            self.stats.takeovers += 1;
        }

        // The replacer announces the end of the session it replaces, before the new online.
        let mut raw_online = false;
        match &holder {
            Holder::Local {
                cid: old,
                epoch: old_epoch,
                ending,
            } => {
                if ending.is_none() {
                    self.outputs.push_back(PresenceOutput::Close {
                        cid: *old,
                        text: format!("'Presence Session Replaced: Id \"{id}\" Connected Again'"),
                        reason: CloseReason::Replaced,
                    });
                    self.takeover_event(&key, *old, old_epoch, c.cid, &epoch);
                }
                if self.bugs.has(BugSwitch::PresenceNoOfflineOnReplace) {
                    raw_online = true;
                } else {
                    let reason = ending
                        .as_ref()
                        .map_or_else(|| "replaced".into(), reason_text);
                    let offline = PresenceEvent {
                        kind: EventKind::Offline,
                        id: id.to_string(),
                        epoch: old_epoch.clone(),
                        cid: *old,
                        reason,
                    };
                    self.deliver(now, &key, offline);
                }
            }
            Holder::Remote(v) => {
                // The other server closes its session when it sees our newer online; the
                // view repair below announces the old session's end here.
                self.takeover_event(&key, v.cid, &v.epoch, c.cid, &epoch);
            }
            Holder::None => {}
        }
        let online = PresenceEvent {
            kind: EventKind::Online,
            id: id.to_string(),
            epoch,
            cid: c.cid,
            reason: if alive { "takeover" } else { "connect" }.into(),
        };
        if raw_online {
            self.publish_raw(&key, online, true);
        } else {
            self.deliver(now, &key, online);
        }
    }

    /// Connection `cid` ended (its reader stopped); its cleanup follows with
    /// [`PresenceRegistry::handle_closed`], possibly much later. Emits nothing.
    pub fn handle_ending(&mut self, cid: Cid, reason: &CloseReason) {
        if let Some(s) = self.sessions.get_mut(&cid) {
            s.ending.get_or_insert_with(|| reason.clone());
        }
    }

    /// Connection `cid`'s cleanup: the session leaves the registry. Only if it still holds
    /// its id is the id removed and its offline published; a replaced session's cleanup
    /// emits nothing (the replacer already announced its end).
    pub fn handle_closed(&mut self, now: Instant, cid: Cid, reason: &CloseReason) {
        self.handle_timeout(now);
        let Some(s) = self.sessions.remove(&cid) else {
            return;
        };
        let reason = reason_text(s.ending.as_ref().unwrap_or(reason));
        let Some(entry) = self.ids.get_mut(&s.key) else {
            return;
        };
        if self.bugs.has(BugSwitch::PresenceDeleteById) {
            // Historical bug: remove whatever holds the id, mine or not, and announce it.
            if let Some(holder) = entry.local.take() {
                let epoch = if holder == cid {
                    s.epoch.clone()
                } else {
                    match self.sessions.get(&holder) {
                        Some(h) => h.epoch.clone(),
                        None => return,
                    }
                };
                let offline = PresenceEvent {
                    kind: EventKind::Offline,
                    id: s.key.1.clone(),
                    epoch,
                    cid: holder,
                    reason,
                };
                self.deliver(now, &s.key, offline);
            }
            return;
        }
        let offline = PresenceEvent {
            kind: EventKind::Offline,
            id: s.key.1.clone(),
            epoch: s.epoch.clone(),
            cid,
            reason,
        };
        if entry.local == Some(cid) {
            entry.local = None;
            self.deliver(now, &s.key, offline);
        } else if self.bugs.has(BugSwitch::PresenceLateOffline) {
            // Historical bug: the late cleanup announces its end unconditionally.
            self.publish_raw(&s.key, offline, false);
        }
    }

    /// A message a local client published in `account`.
    pub fn handle_client_publish(
        &mut self,
        account: &str,
        subject: &str,
        reply: Option<&str>,
    ) -> ClientPublish {
        if !self.participates(account) {
            return ClientPublish::Route;
        }
        match classify(
            subject,
            &self.config.subject_prefix,
            &self.config.relay_prefix,
        ) {
            Subject::Event(..) => ClientPublish::Refuse(format!(
                "'Permissions Violation for Publish to \"{subject}\"'"
            )),
            Subject::State(id) => {
                if let Some(reply) = reply {
                    let payload = self.state_json(account, id);
                    self.reply(account, reply, payload);
                }
                ClientPublish::Answered
            }
            Subject::List => {
                if let Some(reply) = reply {
                    let payload = self.list_json(account);
                    self.reply(account, reply, payload);
                }
                ClientPublish::Answered
            }
            Subject::Relay(id) => ClientPublish::Relay(self.relay_target(account, id)),
            Subject::Other => ClientPublish::Route,
        }
    }

    /// A message that arrived over leafnode link `via` (bound to `account`).
    pub fn handle_link_message(
        &mut self,
        now: Instant,
        account: &str,
        via: Cid,
        subject: &str,
        payload: &[u8],
    ) -> LinkPublish {
        if !self.participates(account) {
            return LinkPublish::Route;
        }
        match classify(
            subject,
            &self.config.subject_prefix,
            &self.config.relay_prefix,
        ) {
            Subject::Event(kind, id) => {
                match PresenceEvent::parse(kind, id, payload) {
                    Ok(ev) => self.handle_remote(now, account, ev),
                    Err(e) => self.event(Event::PresenceBadEvent {
                        cid: via,
                        subject: subject.to_string(),
                        error: e.to_string(),
                    }),
                }
                LinkPublish::Consumed
            }
            Subject::Relay(id) => LinkPublish::Relay(self.relay_target(account, id)),
            _ => LinkPublish::Route,
        }
    }

    /// A presence event from another server (already parsed).
    pub fn handle_remote(&mut self, now: Instant, account: &str, ev: PresenceEvent) {
        self.handle_timeout(now);
        self.clock = self.clock.max(ev.epoch.counter);
        let key: Key = (account.to_string(), ev.id.clone());
        let entry = self.ids.entry(key.clone()).or_insert_with(|| Entry {
            local: None,
            view: None,
            last_takeover: None,
            touched: now,
        });
        if let Some(local) = entry.local {
            if let Some(s) = self.sessions.get(&local) {
                // A newer session elsewhere, or the announced end of ours: ours is superseded.
                let superseded =
                    ev.epoch > s.epoch || (ev.kind == EventKind::Offline && ev.epoch == s.epoch);
                if superseded {
                    let (old_epoch, ending) = (s.epoch.clone(), s.ending.is_some());
                    entry.local = None;
                    entry.last_takeover = Some(now);
                    self.stats.remote_takeovers += 1;
                    if !ending {
                        self.outputs.push_back(PresenceOutput::Close {
                            cid: local,
                            text: format!(
                                "'Presence Session Replaced: Id \"{}\" Connected On Another Server'",
                                ev.id
                            ),
                            reason: CloseReason::Replaced,
                        });
                    }
                    self.takeover_event(&key, local, &old_epoch, ev.cid, &ev.epoch);
                }
            }
        }
        self.deliver(now, &key, ev);
    }

    /// Where a relay message for `id` may go.
    pub fn relay_target(&self, account: &str, id: Option<&str>) -> RelayTarget {
        let Some(entry) = id.and_then(|id| self.entry(account, id)) else {
            return RelayTarget::Nobody;
        };
        if let Some(cid) = entry.local {
            let live = self.sessions.get(&cid).is_some_and(|s| s.ending.is_none());
            return if live {
                RelayTarget::Local(cid)
            } else {
                RelayTarget::Nobody
            };
        }
        match &entry.view {
            Some(v) if v.kind == EventKind::Online && v.epoch.server != self.server => {
                RelayTarget::Links
            }
            _ => RelayTarget::Nobody,
        }
    }

    /// The next epoch: larger than every epoch issued or observed here (see module docs).
    fn next_epoch(&mut self, now: Instant) -> Epoch {
        let physical = self
            .wall_start_us
            .saturating_add(now.since_start().as_micros().min(u128::from(u64::MAX)) as u64);
        self.clock = self.clock.saturating_add(1).max(physical);
        Epoch {
            counter: self.clock,
            server: self.server.clone(),
        }
    }

    fn holder(&self, key: &Key) -> Holder {
        let Some(entry) = self.ids.get(key) else {
            return Holder::None;
        };
        if let Some(cid) = entry.local {
            if let Some(s) = self.sessions.get(&cid) {
                return Holder::Local {
                    cid,
                    epoch: s.epoch.clone(),
                    ending: s.ending.clone(),
                };
            }
        }
        match &entry.view {
            Some(v) if v.kind == EventKind::Online && v.epoch.server != self.server => {
                Holder::Remote(v.clone())
            }
            _ => Holder::None,
        }
    }

    /// Publish `ev` as far as the view of its id allows: drop it if subscribers here saw
    /// something at least as new; announce the end of the viewed session first if `ev`
    /// supersedes an online session; never repeat "offline".
    fn deliver(&mut self, now: Instant, key: &Key, ev: PresenceEvent) {
        let Some(entry) = self.ids.get_mut(key) else {
            return;
        };
        entry.touched = now;
        let view = entry.view.clone();
        if let Some(v) = &view {
            if ev.key() <= (&v.epoch, v.kind) {
                self.stats.stale_dropped += 1;
                return;
            }
        }
        let new_view = View {
            epoch: ev.epoch.clone(),
            kind: ev.kind,
            cid: ev.cid,
        };
        match view {
            Some(v) if v.kind == EventKind::Online && v.epoch != ev.epoch => {
                let repair = PresenceEvent {
                    kind: EventKind::Offline,
                    id: ev.id.clone(),
                    epoch: v.epoch.clone(),
                    cid: v.cid,
                    reason: "replaced".into(),
                };
                self.emit(key, repair);
                if ev.kind == EventKind::Online {
                    self.emit(key, ev);
                }
            }
            Some(v) if v.kind == EventKind::Offline && ev.kind == EventKind::Offline => {}
            _ => self.emit(key, ev),
        }
        if let Some(entry) = self.ids.get_mut(key) {
            entry.view = Some(new_view);
        }
    }

    /// Publish `ev` bypassing the view (bug switches only). `set_view`: whether the view
    /// follows it.
    fn publish_raw(&mut self, key: &Key, ev: PresenceEvent, set_view: bool) {
        if set_view {
            if let Some(entry) = self.ids.get_mut(key) {
                entry.view = Some(View {
                    epoch: ev.epoch.clone(),
                    kind: ev.kind,
                    cid: ev.cid,
                });
            }
        }
        self.emit(key, ev);
    }

    fn emit(&mut self, key: &Key, ev: PresenceEvent) {
        self.stats.events += 1;
        self.event(Event::PresenceChanged {
            account: key.0.clone(),
            id: ev.id.clone(),
            online: ev.kind == EventKind::Online,
            epoch: ev.epoch.counter,
            server: ev.epoch.server.to_string(),
            cid: ev.cid,
            reason: ev.reason.clone(),
        });
        self.outputs.push_back(PresenceOutput::Publish {
            account: key.0.clone(),
            event: ev,
        });
    }

    fn refuse(&mut self, c: Connect<'_>, id: &str, text: String, why: &str) {
        self.stats.refused += 1;
        self.event(Event::PresenceRefused {
            account: c.account.to_string(),
            id: id.to_string(),
            cid: c.cid,
            reason: why.to_string(),
        });
        self.outputs.push_back(PresenceOutput::Close {
            cid: c.cid,
            text,
            reason: CloseReason::Other(why.to_string()),
        });
    }

    fn takeover_event(&mut self, key: &Key, old_cid: Cid, old: &Epoch, new_cid: Cid, new: &Epoch) {
        self.event(Event::PresenceTakeover {
            account: key.0.clone(),
            id: key.1.clone(),
            old_cid,
            old_server: old.server.to_string(),
            new_cid,
            new_server: new.server.to_string(),
        });
    }

    fn event(&mut self, e: Event) {
        self.outputs.push_back(PresenceOutput::Event(e));
    }

    fn reply(&mut self, account: &str, reply: &str, payload: serde_json::Value) {
        self.outputs.push_back(PresenceOutput::Reply {
            account: account.to_string(),
            reply: reply.to_string(),
            payload: payload.to_string().into_bytes(),
        });
    }

    fn state_json(&self, account: &str, id: &str) -> serde_json::Value {
        match self.entry(account, id).and_then(|e| e.view.as_ref()) {
            Some(v) => json!({
                "id": id,
                "online": v.kind == EventKind::Online,
                "epoch": v.epoch.counter,
                "server": &*v.epoch.server,
                "cid": v.cid,
            }),
            None => json!({ "id": id, "online": false }),
        }
    }

    fn list_json(&self, account: &str) -> serde_json::Value {
        let start = (account.to_string(), String::new());
        let online: Vec<serde_json::Value> = self
            .ids
            .range(start..)
            .take_while(|((a, _), _)| a == account)
            .filter_map(|((_, id), e)| {
                let v = e.view.as_ref().filter(|v| v.kind == EventKind::Online)?;
                Some(json!({
                    "id": id,
                    "epoch": v.epoch.counter,
                    "server": &*v.epoch.server,
                    "cid": v.cid,
                }))
            })
            .collect();
        json!({ "online": online })
    }
}

/// A close reason as the `reason` field of an offline event (`/connz`'s snake_case names).
fn reason_text(r: &CloseReason) -> String {
    match serde_json::to_value(r) {
        Ok(serde_json::Value::String(s)) => s,
        _ => match r {
            CloseReason::Other(text) => text.clone(),
            _ => "other".into(),
        },
    }
}
