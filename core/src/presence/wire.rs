//! Presence events on the wire: subjects and JSON payloads.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::event::Cid;

/// The epoch of one session of an id: ordered by `counter`, then by `server` (see the
/// [module docs](super) for how counters are chosen).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Epoch {
    /// Hybrid logical clock value (microseconds since the Unix epoch, or later).
    pub counter: u64,
    /// Id of the server that started the session.
    pub server: Arc<str>,
}

impl Ord for Epoch {
    fn cmp(&self, other: &Self) -> Ordering {
        self.counter
            .cmp(&other.counter)
            .then_with(|| self.server.cmp(&other.server))
    }
}

impl PartialOrd for Epoch {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.counter, self.server)
    }
}

/// Online or offline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    /// A session started. Sorts first: within one epoch, online comes before offline.
    Online,
    /// A session ended.
    Offline,
}

impl EventKind {
    /// The last subject token.
    pub fn token(self) -> &'static str {
        match self {
            EventKind::Online => "online",
            EventKind::Offline => "offline",
        }
    }
}

/// One presence event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresenceEvent {
    /// Online or offline.
    pub kind: EventKind,
    /// The peer id.
    pub id: String,
    /// The session's epoch.
    pub epoch: Epoch,
    /// The session's connection id on its server.
    pub cid: Cid,
    /// Why: `connect` or `takeover` for online; the close reason (`client_closed`,
    /// `replaced`, `stale_connection`, ...) for offline.
    pub reason: String,
}

/// The JSON payload (`server` is the epoch's server).
#[derive(Serialize, Deserialize)]
struct Payload<'a> {
    id: &'a str,
    epoch: u64,
    server: &'a str,
    cid: Cid,
    reason: &'a str,
}

/// Why a message under the presence prefix is not a presence event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The payload is not the event JSON.
    #[error("malformed presence payload: {0}")]
    Payload(String),
    /// The payload names another id than the subject.
    #[error("presence payload id {payload:?} does not match subject id {subject:?}")]
    IdMismatch {
        /// From the subject.
        subject: String,
        /// From the payload.
        payload: String,
    },
    /// The id is not a valid literal token.
    #[error("invalid presence id {0:?}")]
    InvalidId(String),
}

impl PresenceEvent {
    /// `<prefix>.<id>.online|offline`.
    pub fn subject(&self, prefix: &str) -> String {
        format!("{prefix}.{}.{}", self.id, self.kind.token())
    }

    /// The JSON payload.
    pub fn payload(&self) -> Vec<u8> {
        let p = Payload {
            id: &self.id,
            epoch: self.epoch.counter,
            server: &self.epoch.server,
            cid: self.cid,
            reason: &self.reason,
        };
        serde_json::to_vec(&p).unwrap_or_default()
    }

    /// Parse an event whose subject (after the prefix) named `id` and `kind`.
    pub fn parse(kind: EventKind, id: &str, payload: &[u8]) -> Result<PresenceEvent, WireError> {
        if !super::is_valid_id(id) {
            return Err(WireError::InvalidId(id.to_string()));
        }
        let p: Payload<'_> =
            serde_json::from_slice(payload).map_err(|e| WireError::Payload(e.to_string()))?;
        if p.id != id {
            return Err(WireError::IdMismatch {
                subject: id.to_string(),
                payload: p.id.to_string(),
            });
        }
        Ok(PresenceEvent {
            kind,
            id: id.to_string(),
            epoch: Epoch {
                counter: p.epoch,
                server: Arc::from(p.server),
            },
            cid: p.cid,
            reason: p.reason.to_string(),
        })
    }

    /// Ordering key of what a subscriber has seen: newer sessions first, then online before
    /// offline within a session.
    pub(crate) fn key(&self) -> (&Epoch, EventKind) {
        (&self.epoch, self.kind)
    }
}

/// What a subject under one of the prefixes means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Subject<'a> {
    /// `<presence>.<id>.online|offline`.
    Event(EventKind, &'a str),
    /// `<presence>.<id>.state`.
    State(&'a str),
    /// `<presence>.list`.
    List,
    /// `<relay>.<id>.<anything>` (`None`: too few tokens to name an id and a tail).
    Relay(Option<&'a str>),
    /// Something else.
    Other,
}

/// The rest of `subject` after `prefix` and a dot.
fn under<'a>(subject: &'a str, prefix: &str) -> Option<&'a str> {
    subject.strip_prefix(prefix)?.strip_prefix('.')
}

/// Classify `subject` given the two prefixes.
pub(crate) fn classify<'a>(subject: &'a str, presence: &str, relay: &str) -> Subject<'a> {
    if let Some(rest) = under(subject, presence) {
        if rest == "list" {
            return Subject::List;
        }
        if let Some((id, tail)) = rest.split_once('.') {
            return match tail {
                "online" => Subject::Event(EventKind::Online, id),
                "offline" => Subject::Event(EventKind::Offline, id),
                "state" => Subject::State(id),
                _ => Subject::Other,
            };
        }
        return Subject::Other;
    }
    if let Some(rest) = under(subject, relay) {
        return Subject::Relay(
            rest.split_once('.')
                .filter(|(_, tail)| !tail.is_empty())
                .map(|(id, _)| id),
        );
    }
    Subject::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind) -> PresenceEvent {
        PresenceEvent {
            kind,
            id: "alice".into(),
            epoch: Epoch {
                counter: 42,
                server: Arc::from("NS1"),
            },
            cid: 7,
            reason: "connect".into(),
        }
    }

    #[test]
    fn payload_round_trips() {
        let e = ev(EventKind::Online);
        assert_eq!(e.subject("$PRESENCE"), "$PRESENCE.alice.online");
        let json = e.payload();
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"id":"alice","epoch":42,"server":"NS1","cid":7,"reason":"connect"}"#
        );
        assert_eq!(
            PresenceEvent::parse(EventKind::Online, "alice", &json),
            Ok(e)
        );
    }

    #[test]
    fn parse_refuses_mismatch_and_garbage() {
        let json = ev(EventKind::Offline).payload();
        assert!(matches!(
            PresenceEvent::parse(EventKind::Offline, "bob", &json),
            Err(WireError::IdMismatch { .. })
        ));
        assert!(matches!(
            PresenceEvent::parse(EventKind::Offline, "alice", b"{"),
            Err(WireError::Payload(_))
        ));
        assert!(matches!(
            PresenceEvent::parse(EventKind::Offline, "*", &json),
            Err(WireError::InvalidId(_))
        ));
    }

    #[test]
    fn epochs_order_by_counter_then_server() {
        let e = |c, s: &str| Epoch {
            counter: c,
            server: Arc::from(s),
        };
        assert!(e(1, "Z") < e(2, "A"));
        assert!(e(2, "A") < e(2, "B"));
        assert!(ev(EventKind::Online).key() < ev(EventKind::Offline).key());
    }

    #[test]
    fn subjects_classify() {
        let c = |s| classify(s, "$PRESENCE", "ops.relay");
        assert_eq!(
            c("$PRESENCE.a.online"),
            Subject::Event(EventKind::Online, "a")
        );
        assert_eq!(
            c("$PRESENCE.a.offline"),
            Subject::Event(EventKind::Offline, "a")
        );
        assert_eq!(c("$PRESENCE.a.state"), Subject::State("a"));
        assert_eq!(c("$PRESENCE.list"), Subject::List);
        assert_eq!(c("$PRESENCE.a.b.online"), Subject::Other);
        assert_eq!(c("$PRESENCEX.a.online"), Subject::Other);
        assert_eq!(c("ops.relay.bob.x.y"), Subject::Relay(Some("bob")));
        assert_eq!(c("ops.relay.bob"), Subject::Relay(None));
        assert_eq!(c("ops.relayx.bob.x"), Subject::Other);
        assert_eq!(c("foo"), Subject::Other);
    }
}
