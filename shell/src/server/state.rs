//! State shared by every task of one server instance: accounts with their subscription
//! index, the connection registry, and server-wide statistics.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rejoin_core::event::{Cid, Event};
use rejoin_core::interest::{Announce, InterestBook, Origin};
use rejoin_core::proto::encode;
use rejoin_core::sublist::{Interest, Sublist};
use rejoin_core::time::Instant;

use super::outbound::Outbound;
use super::settings::Settings;
use crate::EventSink;

/// One subscription, as stored in an account's index.
pub struct Subscription {
    /// Server-unique id; gives subscriptions a deterministic order in match results.
    pub id: u64,
    /// Owning connection.
    pub cid: Cid,
    /// Subscription id chosen by the client.
    pub sid: Box<str>,
    /// Subject filter.
    pub subject: Box<str>,
    /// Queue group.
    pub queue: Option<Box<str>>,
    /// The owner's shared side (where deliveries go).
    pub conn: Arc<ConnShared>,
    /// Auto-unsubscribe after this many deliveries (0: never).
    pub max: AtomicU64,
    /// Deliveries so far.
    pub delivered: AtomicU64,
    /// Set once removed from the index (auto-unsubscribe, UNSUB, close).
    pub removed: AtomicBool,
    /// Queue members this entry stands for (a leafnode link's `LS+ subject queue weight`);
    /// 1 for client subscriptions.
    pub weight: AtomicU32,
}

impl PartialEq for Subscription {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Subscription {}
impl PartialOrd for Subscription {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Subscription {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.id.cmp(&other.id)
    }
}

/// A connection as other tasks see it.
/// What kind of connection, for routing and interest rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnKind {
    /// A NATS client.
    Client,
    /// A leafnode link; `solicited` when we dialed it (the peer is our hub).
    Leaf {
        /// We dialed it.
        solicited: bool,
    },
}

pub struct ConnShared {
    /// Connection id.
    pub cid: Cid,
    /// Client or leafnode link.
    pub kind: ConnKind,
    /// Where frames for this connection go.
    pub outbound: Outbound,
    /// Whether the client understands HMSG (set by CONNECT).
    pub headers: AtomicBool,
    /// Descriptive fields for `/connz`.
    pub info: Mutex<ConnInfo>,
    /// A leafnode link's permissions, set once when it registers; unset means unrestricted.
    /// Senders check it before writing a message or an interest change into `outbound`.
    pub leaf_perms: std::sync::OnceLock<Arc<rejoin_core::leaf::LinkPermissions>>,
}

impl ConnShared {
    /// Whether a message on `subject` may be written to this connection (always, for a
    /// client: its subscribe permissions were checked when it subscribed).
    pub fn may_send(&self, subject: &str) -> bool {
        self.leaf_perms.get().is_none_or(|p| p.may_send(subject))
    }
}

/// Descriptive fields of a connection, for monitoring.
#[derive(Clone, Debug, Default)]
pub struct ConnInfo {
    /// Peer address.
    pub addr: String,
    /// CONNECT name.
    pub name: Option<String>,
    /// CONNECT lang.
    pub lang: Option<String>,
    /// CONNECT version.
    pub version: Option<String>,
    /// Bound account.
    pub account: String,
    /// Authenticated user.
    pub user: Option<String>,
    /// Accepted at (time since server start).
    pub start: Instant,
    /// Last time anything was read from the connection.
    pub last_activity: Instant,
    /// Live subscriptions.
    pub subscriptions: Vec<String>,
    /// Messages received from this connection.
    pub in_msgs: u64,
    /// Payload bytes received from this connection.
    pub in_bytes: u64,
    /// The connection's subscription-set generation `subscriptions` was built at.
    pub subs_generation: u64,
}

/// An account: an isolated subject space.
pub struct Account {
    /// Account name.
    pub name: Arc<str>,
    /// The subscription index.
    pub sublist: RwLock<Sublist<Arc<Subscription>>>,
    /// Mirrors the index generation outside the lock, so a publisher can validate its
    /// per-connection match cache without touching the lock at all.
    pub generation: AtomicU64,
    /// Interest bookkeeping for leafnode links, and the links themselves. Announcements are
    /// encoded into link buffers while this lock is held, so LS+/LS- for one subject reach
    /// every link in the order the changes happened.
    pub links: Mutex<AccountLinks>,
    /// Our `$LDS.<id>` loop-detection subject for this account.
    pub lds: String,
}

/// Registered leafnode links of an account and what they have been told.
#[derive(Default)]
pub struct AccountLinks {
    /// Interest counts by origin.
    pub book: InterestBook,
    /// Registered links by id.
    pub conns: BTreeMap<Cid, Arc<ConnShared>>,
}

impl AccountLinks {
    /// Write announcements into the links' buffers.
    pub fn announce(&self, announcements: Vec<(Cid, Announce)>) {
        for (id, a) in announcements {
            let Some(conn) = self.conns.get(&id) else {
                continue;
            };
            let subject = match &a {
                Announce::Add { subject, .. } | Announce::Remove { subject, .. } => subject,
            };
            if conn
                .leaf_perms
                .get()
                .is_some_and(|p| !p.may_announce(subject))
            {
                continue;
            }
            let mut frame = Vec::with_capacity(64);
            match &a {
                Announce::Add { subject, queue } => encode::ls_plus(
                    &mut frame,
                    subject,
                    queue.as_ref().map(|(q, n)| (q.as_str(), *n)),
                ),
                Announce::Remove { subject, queue } => {
                    encode::ls_minus(&mut frame, subject, queue.as_deref())
                }
            }
            let _ = conn
                .outbound
                .push(frame.len(), |b| b.extend_from_slice(&frame));
            conn.outbound.wake_writer();
        }
    }
}

fn origin_of(conn: &ConnShared) -> Origin {
    match conn.kind {
        ConnKind::Client => Origin::Local,
        ConnKind::Leaf { .. } => Origin::Link(conn.cid),
    }
}

impl Account {
    /// A new, empty account; `lds_salt` makes its loop-detection subject unique per server.
    pub fn new(name: Arc<str>, lds_salt: u64) -> Self {
        let mut links = AccountLinks::default();
        let lds = format!("$LDS.{}", lds_token(lds_salt));
        // Our own loop-detection subject is interest every link must hear about.
        links.book.add(Origin::Local, &lds, None, 1);
        Account {
            name,
            sublist: RwLock::new(Sublist::new()),
            generation: AtomicU64::new(0),
            links: Mutex::new(links),
            lds,
        }
    }

    /// Add `sub` to the index and announce it to leafnode links.
    pub fn insert(&self, sub: Arc<Subscription>) -> bool {
        let mut links = self.links.lock().expect("links lock");
        let ok = {
            let mut list = self.sublist.write().expect("sublist lock");
            let ok = list
                .insert(&sub.subject, sub.queue.as_deref(), sub.clone())
                .is_ok();
            self.generation.store(list.generation(), Ordering::Release);
            ok
        };
        if ok {
            let n = sub.weight.load(Ordering::Relaxed);
            let a = links
                .book
                .add(origin_of(&sub.conn), &sub.subject, sub.queue.as_deref(), n);
            links.announce(a);
        }
        ok
    }

    /// Remove `sub` from the index (idempotent) and announce it.
    pub fn remove(&self, sub: &Arc<Subscription>) {
        if sub.removed.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut links = self.links.lock().expect("links lock");
        {
            let mut list = self.sublist.write().expect("sublist lock");
            list.remove(&sub.subject, sub.queue.as_deref(), sub);
            self.generation.store(list.generation(), Ordering::Release);
        }
        let n = sub.weight.load(Ordering::Relaxed);
        let a = links
            .book
            .remove(origin_of(&sub.conn), &sub.subject, sub.queue.as_deref(), n);
        links.announce(a);
    }

    /// A link's queue interest changed weight (`LS+ subject queue weight` again).
    pub fn reweight(&self, sub: &Arc<Subscription>, weight: u32) {
        let mut links = self.links.lock().expect("links lock");
        sub.weight.store(weight, Ordering::Relaxed);
        let a = links.book.set(
            origin_of(&sub.conn),
            &sub.subject,
            sub.queue.as_deref(),
            weight,
        );
        links.announce(a);
    }

    /// Register a leafnode link and hand its initial interest dump to `send`, which runs
    /// under the interest lock so that no later announcement can overtake the dump.
    pub fn add_link_with(
        &self,
        conn: Arc<ConnShared>,
        solicited: bool,
        send: impl FnOnce(&[Interest]),
    ) {
        let mut links = self.links.lock().expect("links lock");
        links.conns.insert(conn.cid, conn.clone());
        let dump: Vec<Interest> = links
            .book
            .add_link(conn.cid, solicited)
            .into_iter()
            .filter(|i| i.subject != self.lds)
            .collect();
        send(&dump);
    }

    /// Unregister a link (its own subscriptions must already be removed).
    pub fn remove_link(&self, cid: Cid) {
        let mut links = self.links.lock().expect("links lock");
        let a = links.book.remove_link(cid);
        links.announce(a);
        links.conns.remove(&cid);
    }
}

/// A nats-style random-looking token for `$LDS` subjects (22 chars, like a NUID).
fn lds_token(salt: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut x = salt;
    (0..22)
        .map(|_| {
            x = splitmix64(x);
            ALPHABET[(x % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

/// Server-wide counters (per-connection counters are folded in when a connection closes).
#[derive(Default)]
pub struct Stats {
    /// Messages received (closed connections).
    pub in_msgs: AtomicU64,
    /// Bytes received (closed connections).
    pub in_bytes: AtomicU64,
    /// Messages sent (closed connections).
    pub out_msgs: AtomicU64,
    /// Bytes sent (closed connections).
    pub out_bytes: AtomicU64,
    /// Connections closed as slow consumers.
    pub slow_consumers: AtomicU64,
    /// Connections ever accepted.
    pub total_connections: AtomicU64,
}

/// Everything one server instance shares between its tasks.
pub struct Shared {
    /// Server id (deterministic from the seed).
    pub server_id: String,
    /// Current settings (swapped on reload).
    pub settings: RwLock<Arc<Settings>>,
    /// Accounts by name.
    pub accounts: RwLock<BTreeMap<Arc<str>, Arc<Account>>>,
    /// Live client connections.
    pub conns: Mutex<BTreeMap<Cid, Arc<ConnShared>>>,
    /// Live leafnode links.
    pub leafs: Mutex<BTreeMap<Cid, Arc<ConnShared>>>,
    /// Named pause points (simulator gates).
    pub gates: crate::Gates,
    /// The lifecycle machine (remotes, accepted leafs, backbones). The control task drains
    /// its outputs; other tasks only feed inputs (see [`super::backbone`]).
    pub control: Mutex<rejoin_core::control::Control>,
    /// Backbone remotes: what the routing path needs of them.
    pub backbones: super::backbone::Backbones,
    /// The remotes' status after the control loop's last step (for monitoring).
    pub remotes: Mutex<Vec<rejoin_core::remote::RemoteStatus>>,
    /// Leafnode listener `host:port`, if any (for `/varz`).
    pub leaf_listen: Mutex<Option<(String, u16)>>,
    /// Next connection id.
    pub next_cid: AtomicU64,
    /// Next subscription id.
    pub next_sub_id: AtomicU64,
    /// Counters.
    pub stats: Stats,
    /// Time zero for the core's `Instant`s.
    pub start: tokio::time::Instant,
    /// Wall-clock start, for monitoring only (`/varz` `start`); never reaches the core.
    pub start_wall: std::time::SystemTime,
    /// Event sink.
    pub events: Arc<dyn EventSink>,
    /// Server seed.
    pub seed: u64,
    /// Bug switches.
    pub bugs: rejoin_core::bugs::BugSet,
    /// Set to true when the server shuts down; every connection watches it.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// Config reloads applied.
    pub config_load_time: Mutex<Instant>,
    /// Presence sessions and relay (see [`super::presence`]).
    pub presence: super::presence::PresenceHub,
}

impl Shared {
    /// Time since start, as the core sees it.
    pub fn now(&self) -> Instant {
        Instant::from_start(tokio::time::Instant::now().saturating_duration_since(self.start))
    }

    /// Record an event: to tracing and to the sink.
    pub fn emit(&self, event: Event) {
        let now = self.now();
        tracing::debug!(target: "rejoin::event", at = %now, ?event);
        self.events.event(now, &event);
    }

    /// The server's name: `server_name`, or the server id when none is configured (as
    /// nats-server does).
    pub fn server_name(&self) -> String {
        let name = self.settings().server_name.clone();
        if name.is_empty() {
            self.server_id.clone()
        } else {
            name
        }
    }

    /// The current settings.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().expect("settings lock").clone()
    }

    /// The account named `name`, created on first use.
    pub fn account(&self, name: &str) -> Arc<Account> {
        if let Some(a) = self.accounts.read().expect("accounts lock").get(name) {
            return a.clone();
        }
        let salt = self.derive_seed(name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        }));
        let mut map = self.accounts.write().expect("accounts lock");
        map.entry(Arc::from(name))
            .or_insert_with(|| Arc::new(Account::new(Arc::from(name), salt)))
            .clone()
    }

    /// A deterministic 64-bit value derived from the server seed and `salt`.
    pub fn derive_seed(&self, salt: u64) -> u64 {
        derive_seed(self.seed, salt)
    }

    /// The lifecycle machine, locked. Hold it briefly: publishers take it during a
    /// backbone gap.
    pub fn control(&self) -> std::sync::MutexGuard<'_, rejoin_core::control::Control> {
        self.control.lock().expect("control lock")
    }
}

/// A deterministic 64-bit value derived from `seed` and `salt`.
pub fn derive_seed(seed: u64, salt: u64) -> u64 {
    splitmix64(seed ^ splitmix64(salt))
}

/// SplitMix64: a tiny, well-mixed step function for deriving seeds and cheap per-connection
/// choices (queue member selection) without sharing an RNG between tasks.
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
