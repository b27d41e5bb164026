//! `presence_consistent`: incident 2's invariants over presence events.
//!
//! It reads what the server published (`presence_changed` events, in publication order,
//! which is the order every local subscriber's FIFO receives them) and, optionally, what a
//! watcher client subscribed to the presence prefix actually received:
//! - always, per server incarnation and (account, id): events alternate online/offline,
//!   each offline is for the session (epoch, server, cid) whose online precedes it, and each
//!   online is for a newer session (by (epoch, server)) than everything before it;
//! - always, for the watcher: per id, received events alternate (reset whenever the watcher
//!   reconnects, since it may miss events while away);
//! - eventually, at `after + within`: for every id the server ever announced, the last
//!   event says online for exactly the open connection of the client named after the id
//!   (offline when there is none), and the watcher's last received event for the id agrees.

use std::collections::BTreeMap;
use std::time::Duration;

use rejoin_core::event::{Cid, Event};

use super::{Ctx, Invariant};
use crate::client::ClientEvent;
use crate::duration::stamp;
use crate::trace::{Body, Record};

/// The default `prefix`: rejoin's default `presence.subject_prefix`.
pub(super) fn default_prefix() -> String {
    "$PRESENCE".into()
}

/// One published event, as far as ordering goes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    online: bool,
    epoch: u64,
    server: String,
    cid: Cid,
}

pub(super) struct PresenceConsistent {
    pub(super) name: String,
    pub(super) server: String,
    pub(super) watcher: Option<String>,
    pub(super) prefix: String,
    pub(super) within: Duration,
    pub(super) after: Option<String>,
    /// (incarnation, account, id) → last published event.
    published: BTreeMap<(u32, String, String), Seen>,
    /// id → whether the watcher's last received event was "online".
    received: BTreeMap<String, bool>,
    events: u64,
}

impl PresenceConsistent {
    pub(super) fn new(
        name: String,
        server: String,
        watcher: Option<String>,
        prefix: String,
        within: Duration,
        after: Option<String>,
    ) -> Self {
        PresenceConsistent {
            name,
            server,
            watcher,
            prefix,
            within,
            after,
            published: BTreeMap::new(),
            received: BTreeMap::new(),
            events: 0,
        }
    }

    /// `<prefix>.<id>.online|offline` → (id, online).
    fn parse_subject<'a>(&self, subject: &'a str) -> Option<(&'a str, bool)> {
        let rest = subject.strip_prefix(&self.prefix)?.strip_prefix('.')?;
        let (id, kind) = rest.split_once('.')?;
        match kind {
            "online" => Some((id, true)),
            "offline" => Some((id, false)),
            _ => None,
        }
    }
}

impl Invariant for PresenceConsistent {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn observe(&mut self, r: &Record) -> Option<String> {
        if r.host == self.server {
            let Body::Server {
                inc,
                event:
                    Event::PresenceChanged {
                        account,
                        id,
                        online,
                        epoch,
                        server,
                        cid,
                        ..
                    },
            } = &r.body
            else {
                return None;
            };
            self.events += 1;
            let now = Seen {
                online: *online,
                epoch: *epoch,
                server: server.clone(),
                cid: *cid,
            };
            let key = (*inc, account.clone(), id.clone());
            let prev = self.published.insert(key, now.clone());
            let at = stamp(r.t);
            if let Some(p) = prev {
                if p.online == now.online {
                    let kind = if now.online { "online" } else { "offline" };
                    return Some(format!(
                        "{id}: two {kind} events in a row at {at}: {p:?} then {now:?}"
                    ));
                }
                if !now.online && (p.epoch, &p.server, p.cid) != (now.epoch, &now.server, now.cid) {
                    return Some(format!(
                        "{id}: offline at {at} is for another session than the online before it: {p:?} then {now:?}"
                    ));
                }
                if now.online && (now.epoch, &now.server) <= (p.epoch, &p.server) {
                    return Some(format!(
                        "{id}: online at {at} is not newer than the session before it: {p:?} then {now:?}"
                    ));
                }
            }
            return None;
        }
        if self.watcher.as_deref() == Some(r.host.as_str()) {
            match &r.body {
                Body::Client(ClientEvent::Connected { .. })
                | Body::Client(ClientEvent::Disconnected { .. }) => self.received.clear(),
                Body::Client(ClientEvent::Received { subject, .. }) => {
                    let (id, online) = self.parse_subject(subject)?;
                    if self.received.insert(id.to_string(), online) == Some(online) {
                        let kind = if online { "online" } else { "offline" };
                        return Some(format!(
                            "{} received two {kind} events for {id} in a row at {}",
                            r.host,
                            stamp(r.t)
                        ));
                    }
                }
                _ => {}
            }
        }
        None
    }

    fn finish(&mut self, log: &[Record], ctx: &Ctx) -> Result<String, String> {
        if self.events == 0 {
            return Err(format!("{} published no presence event", self.server));
        }
        let deadline = ctx.reference(self.after.as_deref())? + self.within;
        // The server's last incarnation up to the deadline, its open connections by name,
        // its last event per id, and the watcher's last received event per id.
        let mut inc = 0;
        let mut open: BTreeMap<Cid, Option<String>> = BTreeMap::new();
        let mut last: BTreeMap<String, Seen> = BTreeMap::new();
        let mut watched: BTreeMap<String, bool> = BTreeMap::new();
        // When the watcher last completed its handshake (its subscription in place), and
        // when each id's last event was published: an event published before that may have
        // missed the watcher (its own online, for one).
        let mut watching_since = None;
        let mut last_t: BTreeMap<String, Duration> = BTreeMap::new();
        for r in log.iter().take_while(|r| r.t <= deadline) {
            if r.host == self.server {
                let Body::Server { inc: i, event } = &r.body else {
                    continue;
                };
                if *i != inc {
                    inc = *i;
                    open.clear();
                    last.clear();
                }
                match event {
                    Event::ClientConnected { cid, name, .. } => {
                        open.insert(*cid, name.clone());
                    }
                    Event::ClientClosed { cid, .. } => {
                        open.remove(cid);
                    }
                    Event::PresenceChanged {
                        id,
                        online,
                        epoch,
                        server,
                        cid,
                        ..
                    } => {
                        last_t.insert(id.clone(), r.t);
                        last.insert(
                            id.clone(),
                            Seen {
                                online: *online,
                                epoch: *epoch,
                                server: server.clone(),
                                cid: *cid,
                            },
                        );
                    }
                    _ => {}
                }
            } else if self.watcher.as_deref() == Some(r.host.as_str()) {
                match &r.body {
                    Body::Client(ClientEvent::Connected { .. }) => {
                        watching_since = Some(r.t);
                        watched.clear();
                    }
                    Body::Client(ClientEvent::Disconnected { .. }) => watching_since = None,
                    Body::Client(ClientEvent::Received { subject, .. }) => {
                        if let Some((id, online)) = self.parse_subject(subject) {
                            watched.insert(id.to_string(), online);
                        }
                    }
                    _ => {}
                }
            }
        }
        let at = stamp(deadline);
        for (id, seen) in &last {
            let holders: Vec<Cid> = open
                .iter()
                .filter(|(_, n)| n.as_deref() == Some(id.as_str()))
                .map(|(c, _)| *c)
                .collect();
            match (holders.as_slice(), seen.online) {
                ([cid], true) if *cid == seen.cid => {}
                ([], false) => {}
                _ => {
                    return Err(format!(
                    "{id} at {at}: last event {seen:?}, open connections named {id}: {holders:?}"
                ))
                }
            }
            if let Some(w) = &self.watcher {
                let missable = watching_since.is_none_or(|since| last_t.get(id) <= Some(&since));
                match watched.get(id) {
                    Some(online) if *online == seen.online => {}
                    None if !seen.online || missable => {}
                    got => {
                        return Err(format!(
                            "{w}'s view of {id} at {at} is {got:?} (online?), the server's {}",
                            seen.online
                        ))
                    }
                }
            }
        }
        Ok(format!(
            "{} events, {} id(s) consistent at {at}",
            self.events,
            last.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Body;

    fn changed(t: u64, id: &str, online: bool, epoch: u64, cid: Cid) -> Record {
        Record {
            t: Duration::from_millis(t),
            host: "s1".into(),
            body: Body::Server {
                inc: 1,
                event: Event::PresenceChanged {
                    account: "$G".into(),
                    id: id.into(),
                    online,
                    epoch,
                    server: "S".into(),
                    cid,
                    reason: "x".into(),
                },
            },
        }
    }

    fn received(t: u64, subject: &str) -> Record {
        Record {
            t: Duration::from_millis(t),
            host: "bob".into(),
            body: Body::Client(ClientEvent::Received {
                subject: subject.into(),
                from: "?".into(),
                seq: 0,
            }),
        }
    }

    fn inv() -> PresenceConsistent {
        PresenceConsistent::new(
            "p".into(),
            "s1".into(),
            Some("bob".into()),
            "$PRESENCE".into(),
            Duration::from_secs(1),
            None,
        )
    }

    #[test]
    fn alternating_session_ordered_streams_pass() {
        let mut p = inv();
        for r in [
            changed(1, "a", true, 1, 2),
            received(2, "$PRESENCE.a.online"),
            changed(3, "a", false, 1, 2),
            changed(3, "a", true, 5, 3),
            received(4, "$PRESENCE.a.offline"),
            received(4, "$PRESENCE.a.online"),
        ] {
            assert_eq!(p.observe(&r), None);
        }
    }

    #[test]
    fn incident_2_bugs_are_caught() {
        // 2A: online, online.
        let mut p = inv();
        assert_eq!(p.observe(&changed(1, "a", true, 1, 2)), None);
        assert!(p.observe(&changed(2, "a", true, 5, 3)).is_some());
        // 2B: the old session's offline after the new online.
        let mut p = inv();
        for r in [
            changed(1, "a", true, 1, 2),
            changed(2, "a", false, 1, 2),
            changed(2, "a", true, 5, 3),
        ] {
            assert_eq!(p.observe(&r), None);
        }
        assert!(p
            .observe(&changed(3, "a", false, 1, 2))
            .is_some_and(|w| w.contains("another session")));
        // The watcher's side: two onlines in a row.
        let mut p = inv();
        assert_eq!(p.observe(&received(1, "$PRESENCE.a.online")), None);
        assert!(p.observe(&received(2, "$PRESENCE.a.online")).is_some());
        assert_eq!(p.observe(&received(2, "$PRESENCE.a.state")), None);
    }
}
