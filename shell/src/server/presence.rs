//! Presence and relay in the data plane: the server's [`PresenceRegistry`] behind one lock,
//! and the hooks the client and link tasks call (see [`rejoin_core::presence`] for the
//! semantics).
//!
//! Ordering is the point of this module. Every hook performs the registry's outputs while
//! still holding the registry's lock, and a publish only appends frames to subscribers'
//! outbound buffers, so the order in which the registry decides events is the order in
//! which they enter every subscriber's FIFO — across all tasks of the server. Nothing is
//! queued elsewhere, batched, or split by event type.
//!
//! Hooks:
//! - [`on_connected`]: CONNECT accepted. Registers the session; a takeover queues `-ERR` on
//!   the old connection and closes it through its [`Outbound`](super::outbound::Outbound),
//!   then publishes offline(old) and online(new); a refused session gets its own `-ERR` and
//!   the caller closes it.
//! - [`on_ending`] when a client's reader stops, then the [`CLEANUP_GATE`] (the simulator
//!   holds cleanups there to replay incident 2's race), then [`on_closed`] from the cleanup.
//! - [`on_client_publish`]: state requests are answered here; client publishes of presence
//!   events are refused; relay messages go only to the id's current session.
//! - [`on_link_message`]: presence events from other servers feed the registry (the original
//!   is not routed; what the view accepts is republished); relay messages are restricted as
//!   for clients.
//!
//! Relay design: the peer subscribes to `$RELAY.<its id>.>` like to any subject (stock
//! clients drop messages for subscription ids they did not create, so a server-made
//! subscription could not be delivered). The server restricts delivery: only subscriptions
//! of the id's current session receive relay messages, other subscribers to the same subjects
//! never do, and while the id is offline nothing is delivered and requests get
//! no-responders. When the current session is on another server the message goes only to
//! leafnode links, and that server applies the same rule.
//!
//! To hear remote events even when no local client watches `$PRESENCE.>`, every
//! participating account holds server-side interest in `<prefix>.*.online` and
//! `<prefix>.*.offline`, announced to leafnode links like `$LDS` subjects are.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rejoin_core::config::{Config, Presence};
use rejoin_core::event::{Cid, CloseReason, Event};
use rejoin_core::interest::Origin;
use rejoin_core::presence::{
    ClientPublish, Connect, LinkPublish, PresenceOutput, PresenceRegistry, RelayTarget,
};
use serde_json::{json, Value};

use super::route::{Router, Source};
use super::state::{ConnKind, Shared};

/// The gate between a client connection's end and its cleanup (incident 2's
/// `A1cleanup`): the simulator closes it to hold a cleanup while a new session connects.
pub const CLEANUP_GATE: &str = "presence.before_cleanup";

/// The server's presence state.
#[derive(Default)]
pub struct PresenceHub {
    /// False while presence is off: every hook returns at once.
    enabled: AtomicBool,
    /// The two prefixes, for the publish path's cheap "is this ours?" test.
    prefixes: RwLock<Option<Arc<(String, String)>>>,
    registry: Mutex<Option<PresenceRegistry>>,
    /// (account, subject) interest the server holds for remote events.
    interest: Mutex<BTreeSet<(String, String)>>,
}

/// Apply the presence part of `config` (at start and after every reload).
pub fn configure(shared: &Shared, config: &Config) {
    let hub = &shared.presence;
    let wanted = config.presence_enabled().cloned();
    {
        let mut reg = hub.registry.lock().expect("presence lock");
        match (reg.as_mut(), &wanted) {
            (Some(r), Some(p)) => r.set_config(p.clone()),
            (None, Some(p)) => {
                let wall_us = shared
                    .start_wall
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_micros().min(u128::from(u64::MAX)) as u64);
                *reg = Some(PresenceRegistry::new(
                    p.clone(),
                    &shared.server_id,
                    wall_us,
                    shared.bugs,
                ));
            }
            // Sessions already tracked still end properly; nothing new is tracked.
            (Some(r), None) => r.set_config(Presence {
                enabled: false,
                ..r.config().clone()
            }),
            (None, None) => {}
        }
    }
    *hub.prefixes.write().expect("presence lock") = wanted
        .as_ref()
        .map(|p| Arc::new((p.subject_prefix.clone(), p.relay_prefix.clone())));
    hub.enabled.store(wanted.is_some(), Ordering::Release);
    set_interest(shared, config, wanted.as_ref());
}

/// Hold exactly the interest `presence` needs for remote events.
fn set_interest(shared: &Shared, config: &Config, presence: Option<&Presence>) {
    let mut want = BTreeSet::new();
    if let Some(p) = presence {
        let accounts: Vec<String> = if p.accounts.is_empty() {
            config
                .account_names()
                .into_iter()
                .map(str::to_string)
                .collect()
        } else {
            p.accounts.clone()
        };
        for a in accounts {
            for kind in ["online", "offline"] {
                want.insert((a.clone(), format!("{}.*.{kind}", p.subject_prefix)));
            }
        }
    }
    let mut held = shared.presence.interest.lock().expect("presence lock");
    for (account, subject) in held.difference(&want) {
        let account = shared.account(account);
        let mut links = account.links.lock().expect("links lock");
        let a = links.book.remove(Origin::Local, subject, None, 1);
        links.announce(a);
    }
    for (account, subject) in want.difference(&held) {
        let account = shared.account(account);
        let mut links = account.links.lock().expect("links lock");
        let a = links.book.add(Origin::Local, subject, None, 1);
        links.announce(a);
    }
    *held = want;
}

/// A client's CONNECT was accepted (the router is bound to its account). Returns the close
/// reason if the session is refused; its `-ERR` is already queued.
pub fn on_connected(
    shared: &Shared,
    router: &mut Router,
    cid: Cid,
    name: Option<&str>,
    user: Option<&str>,
) -> Option<CloseReason> {
    if !shared.presence.enabled.load(Ordering::Acquire) {
        return None;
    }
    let mut reg = shared.presence.registry.lock().expect("presence lock");
    let r = reg.as_mut()?;
    let account = router.account().name.clone();
    r.handle_connect(
        shared.now(),
        Connect {
            cid,
            account: &account,
            name,
            user,
        },
    );
    let own = perform(shared, r, router);
    router.wake_touched();
    own
}

/// A client connection's reader stopped; its cleanup follows (maybe after the
/// [`CLEANUP_GATE`]).
pub fn on_ending(shared: &Shared, cid: Cid, reason: &CloseReason) {
    let mut reg = shared.presence.registry.lock().expect("presence lock");
    if let Some(r) = reg.as_mut() {
        r.handle_ending(cid, reason);
    }
}

/// A client connection's cleanup (its subscriptions are already gone).
pub fn on_closed(shared: &Shared, router: &mut Router, cid: Cid, reason: &CloseReason) {
    let mut reg = shared.presence.registry.lock().expect("presence lock");
    let Some(r) = reg.as_mut() else {
        return;
    };
    r.handle_closed(shared.now(), cid, reason);
    perform(shared, r, router);
    router.wake_touched();
}

/// Whether `subject` starts with one of the prefixes (then the registry decides).
fn ours(shared: &Shared, subject: &str) -> bool {
    if !shared.presence.enabled.load(Ordering::Acquire) {
        return false;
    }
    let p = shared.presence.prefixes.read().expect("presence lock");
    p.as_ref().is_some_and(|p| {
        let under = |prefix: &str| {
            subject
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.'))
        };
        under(&p.0) || under(&p.1)
    })
}

/// A client published. `None`: not presence business, route it normally. `Some(interest)`:
/// handled here; `interest` says whether anybody received it (for no-responders).
pub fn on_client_publish(
    shared: &Shared,
    router: &mut Router,
    subject: &str,
    reply: Option<&str>,
    headers: Option<&[u8]>,
    payload: &[u8],
) -> Option<bool> {
    if !ours(shared, subject) {
        return None;
    }
    let mut reg = shared.presence.registry.lock().expect("presence lock");
    let r = reg.as_mut()?;
    let account = router.account().name.clone();
    match r.handle_client_publish(&account, subject, reply) {
        ClientPublish::Route => None,
        ClientPublish::Refuse(text) => {
            router.reply(format!("-ERR {text}\r\n").as_bytes());
            Some(true)
        }
        ClientPublish::Answered => {
            perform(shared, r, router);
            Some(true)
        }
        ClientPublish::Relay(target) => {
            Some(relay(router, target, subject, reply, headers, payload))
        }
    }
}

/// A message arrived over a leafnode link. Returns true if it was handled here (the caller
/// must not route it).
pub fn on_link_message(
    shared: &Shared,
    router: &mut Router,
    via: Cid,
    subject: &str,
    reply: Option<&str>,
    headers: Option<&[u8]>,
    payload: &[u8],
) -> bool {
    if !ours(shared, subject) {
        return false;
    }
    let mut reg = shared.presence.registry.lock().expect("presence lock");
    let Some(r) = reg.as_mut() else {
        return false;
    };
    let account = router.account().name.clone();
    match r.handle_link_message(shared.now(), &account, via, subject, payload) {
        LinkPublish::Route => false,
        LinkPublish::Consumed => {
            perform(shared, r, router);
            true
        }
        LinkPublish::Relay(target) => {
            relay(router, target, subject, reply, headers, payload);
            true
        }
    }
}

/// Route a relay message to its target only.
fn relay(
    router: &mut Router,
    target: RelayTarget,
    subject: &str,
    reply: Option<&str>,
    headers: Option<&[u8]>,
    payload: &[u8],
) -> bool {
    match target {
        RelayTarget::Local(cid) => {
            router.route_only(subject, reply, headers, payload, true, |s| s.cid == cid)
        }
        RelayTarget::Links => router.route_only(subject, reply, headers, payload, true, |s| {
            matches!(s.conn.kind, ConnKind::Leaf { .. })
        }),
        RelayTarget::Nobody => false,
    }
}

/// Perform the registry's outputs, in order, with its lock held by the caller. Returns the
/// close reason when the caller's own connection must close.
fn perform(shared: &Shared, r: &mut PresenceRegistry, router: &mut Router) -> Option<CloseReason> {
    let prefix = r.config().subject_prefix.clone();
    let own_cid = router.cid();
    let mut own = None;
    while let Some(out) = r.poll_output() {
        match out {
            PresenceOutput::Publish { account, event } => {
                let subject = event.subject(&prefix);
                publish(shared, router, &account, &subject, &event.payload());
            }
            PresenceOutput::Reply {
                account,
                reply,
                payload,
            } => publish(shared, router, &account, &reply, &payload),
            PresenceOutput::Close { cid, text, reason } => {
                let frame = format!("-ERR {text}\r\n");
                if cid == own_cid {
                    router.reply(frame.as_bytes());
                    own = Some(reason);
                } else {
                    let conn = shared.conns.lock().expect("conns lock").get(&cid).cloned();
                    if let Some(conn) = conn {
                        let _ = conn
                            .outbound
                            .push(frame.len(), |b| b.extend_from_slice(frame.as_bytes()));
                        conn.outbound.close(reason);
                    }
                }
            }
            PresenceOutput::Event(e) => {
                log(&e);
                shared.emit(e);
            }
        }
    }
    own
}

/// Publish a server-made message into `account` through `router` (so a link's router never
/// sends it back over that link), or through a router of its own for another account.
fn publish(shared: &Shared, router: &mut Router, account: &str, subject: &str, payload: &[u8]) {
    let src = Source {
        echo: true,
        queues: None,
    };
    if *router.account().name == *account {
        router.route(subject, None, None, payload, src);
    } else {
        let mut other = router.for_account(shared.account(account));
        other.route(subject, None, None, payload, src);
        other.wake_touched();
    }
}

fn log(e: &Event) {
    match e {
        Event::PresenceFight { account, id, cid } => tracing::warn!(
            "presence: two clients are fighting over id {id:?} in account {account}: takeover refused for cid {cid} (takeover_backoff)"
        ),
        Event::PresenceTakeover {
            account,
            id,
            old_cid,
            new_cid,
            ..
        } => tracing::info!(
            "presence: id {id:?} in account {account} taken over: cid {old_cid} replaced by cid {new_cid}"
        ),
        Event::PresenceRefused {
            account,
            id,
            cid,
            reason,
        } => tracing::info!("presence: cid {cid} refused in account {account} ({reason}): id {id:?}"),
        Event::PresenceBadEvent {
            cid,
            subject,
            error,
        } => tracing::warn!("presence: dropped a malformed event on {subject} from link cid {cid}: {error}"),
        _ => {}
    }
}

/// The `presence` block of `/varz`.
pub fn varz(shared: &Shared) -> Value {
    let reg = shared.presence.registry.lock().expect("presence lock");
    match reg.as_ref() {
        Some(r) if r.config().enabled => {
            let c = r.config();
            let mut v = serde_json::to_value(r.stats()).unwrap_or_else(|_| json!({}));
            if let Value::Object(m) = &mut v {
                m.insert("enabled".into(), true.into());
                m.insert("subject_prefix".into(), c.subject_prefix.clone().into());
                m.insert("relay_prefix".into(), c.relay_prefix.clone().into());
                m.insert("takeover".into(), c.takeover.into());
                m.insert(
                    "takeover_backoff".into(),
                    (c.takeover_backoff.as_nanos() as u64).into(),
                );
            }
            v
        }
        _ => json!({ "enabled": false }),
    }
}
