//! The world's event log and its trace: one JSON line per record,
//! `{"t":"12.340s","host":"s1",...}`.
//!
//! Every record carries the world time (since the world's start) and the host it is about.
//! Server events are the server's own [`Event`]s (with the incarnation number), client events
//! come from the simulated clients, and the nemesis and the checker add faults and verdicts.
//! Only deterministic data goes in: names, ids, sequence numbers, reasons — never addresses
//! or ports chosen at random, never wall-clock times. The FNV-64 hash over the trace bytes is
//! what the determinism meta-test compares.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rejoin_core::event::Event;
use serde::Serialize;

use crate::client::ClientEvent;
use crate::duration::stamp;
use crate::seed::{fnv1a, FNV_OFFSET};

/// One entry of the world's log.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// World time.
    pub t: Duration,
    /// The host the record is about (`nemesis` for faults, `check` for verdicts).
    pub host: String,
    /// What happened.
    pub body: Body,
}

/// What a record says.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// An event from a server's event sink.
    Server {
        /// Incarnation of the host (1 for the first start, +1 per restart).
        inc: u32,
        /// The server's event.
        event: Event,
    },
    /// An event from a simulated client.
    Client(ClientEvent),
    /// Host lifecycle seen by the world.
    Host(HostEvent),
    /// A fault the nemesis applied.
    Fault {
        /// The fault line.
        action: String,
        /// Hosts it names.
        hosts: Vec<String>,
        /// Its label, if any.
        id: Option<String>,
        /// Set when the fault could not be applied as asked.
        error: Option<String>,
    },
    /// An invariant's verdict.
    Verdict {
        /// The invariant, with its parameters.
        invariant: String,
        /// Whether it held.
        pass: bool,
        /// Why not (or a short confirmation).
        detail: String,
    },
}

/// Host lifecycle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum HostEvent {
    /// The host's software started.
    HostStarted {
        /// Incarnation number.
        inc: u32,
        /// `server` or `client`.
        role: String,
    },
    /// A server's `serve` returned.
    ServerExited {
        /// Incarnation number.
        inc: u32,
        /// How (`Exit`'s debug form).
        exit: String,
    },
    /// The server could not start: its config did not parse.
    ConfigRejected {
        /// Incarnation number.
        inc: u32,
        /// The parse error.
        error: String,
    },
    /// The host's software failed (a panic or an error surfaced by turmoil).
    HostFailed {
        /// The error.
        error: String,
    },
}

impl Record {
    /// The trace line (no trailing newline).
    pub fn line(&self) -> String {
        let head = format!(
            "{{\"t\":\"{}\",\"host\":{}",
            stamp(self.t),
            json_str(&self.host)
        );
        let rest = match &self.body {
            Body::Server { inc, event } => {
                format!("\"inc\":{inc},{}", object_body(event))
            }
            Body::Client(e) => object_body(e),
            Body::Host(e) => object_body(e),
            Body::Fault {
                action,
                hosts,
                id,
                error,
            } => {
                let mut s = format!(
                    "\"event\":\"fault\",\"action\":{},\"hosts\":{}",
                    json_str(action),
                    serde_json::to_string(hosts).unwrap_or_default()
                );
                if let Some(id) = id {
                    s.push_str(&format!(",\"id\":{}", json_str(id)));
                }
                if let Some(e) = error {
                    s.push_str(&format!(",\"error\":{}", json_str(e)));
                }
                s
            }
            Body::Verdict {
                invariant,
                pass,
                detail,
            } => format!(
                "\"event\":\"verdict\",\"invariant\":{},\"pass\":{pass},\"detail\":{}",
                json_str(invariant),
                json_str(detail)
            ),
        };
        if rest.is_empty() {
            format!("{head}}}")
        } else {
            format!("{head},{rest}}}")
        }
    }

    /// The record as JSON (what generic invariants match against).
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.line()).unwrap_or(serde_json::Value::Null)
    }

    /// The `event` name of this record (`client_closed`, `connected`, `fault`...).
    pub fn kind(&self) -> String {
        match self.value().get("event") {
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => String::new(),
        }
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A serialized object without its braces, so its fields can follow `t` and `host` in
/// the order serde wrote them (the `event` tag first).
fn object_body<T: Serialize>(v: &T) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    s.strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or("")
        .to_string()
}

/// Where hosts put records while a step runs; the world drains it after every step.
#[derive(Clone, Debug, Default)]
pub struct Inbox(Arc<Mutex<Vec<Record>>>);

impl Inbox {
    /// Records `body` for `host` at the current world time (call from inside a host).
    pub fn push(&self, host: &str, body: Body) {
        let t = turmoil::sim_elapsed().unwrap_or_default();
        self.push_at(t, host, body);
    }

    /// Records `body` for `host` at world time `t`.
    pub fn push_at(&self, t: Duration, host: &str, body: Body) {
        let r = Record {
            t,
            host: host.to_string(),
            body,
        };
        // A poisoned lock means a host panicked mid-push; the record is still worth keeping.
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(r);
    }

    /// Takes every record pushed so far, in push order.
    pub fn drain(&self) -> Vec<Record> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The trace of one run: its hash, and its lines when asked to keep them.
#[derive(Clone, Debug)]
pub struct Trace {
    hash: u64,
    keep: bool,
    lines: Vec<String>,
}

impl Trace {
    /// An empty trace; `keep` decides whether lines are stored (for `--trace`/`--html`).
    pub fn new(keep: bool) -> Self {
        Trace {
            hash: FNV_OFFSET,
            keep,
            lines: Vec::new(),
        }
    }

    /// Appends a record.
    pub fn push(&mut self, r: &Record) {
        let line = r.line();
        self.hash = fnv1a(self.hash, line.as_bytes());
        self.hash = fnv1a(self.hash, b"\n");
        if self.keep {
            self.lines.push(line);
        }
    }

    /// FNV-1a 64 over every line and its newline: equal to hashing the trace file.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The kept lines.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The trace file's contents.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}

/// Hashes trace text the way [`Trace::hash`] does (for checking a saved file).
pub fn hash_text(text: &str) -> u64 {
    fnv1a(FNV_OFFSET, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rejoin_core::event::CloseReason;

    #[test]
    fn lines_are_flat_json_with_time_and_host_first() {
        let r = Record {
            t: Duration::from_millis(12_340),
            host: "s1".into(),
            body: Body::Server {
                inc: 2,
                event: Event::ClientClosed {
                    cid: 3,
                    reason: CloseReason::StaleConnection,
                },
            },
        };
        assert_eq!(
            r.line(),
            r#"{"t":"12.340s","host":"s1","inc":2,"event":"client_closed","cid":3,"reason":"stale_connection"}"#
        );
        assert_eq!(r.kind(), "client_closed");
        let f = Record {
            t: Duration::from_secs(5),
            host: "nemesis".into(),
            body: Body::Fault {
                action: "partition c1 s1".into(),
                hosts: vec!["c1".into(), "s1".into()],
                id: Some("cut".into()),
                error: None,
            },
        };
        assert_eq!(
            f.line(),
            r#"{"t":"5.000s","host":"nemesis","event":"fault","action":"partition c1 s1","hosts":["c1","s1"],"id":"cut"}"#
        );
    }

    #[test]
    fn hash_matches_file_hash() {
        let mut t = Trace::new(true);
        let r = Record {
            t: Duration::ZERO,
            host: "s1".into(),
            body: Body::Host(HostEvent::HostStarted {
                inc: 1,
                role: "server".into(),
            }),
        };
        t.push(&r);
        t.push(&r);
        assert_eq!(t.hash(), hash_text(&t.text()));
    }
}
