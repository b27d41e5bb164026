//! The backbone broadcaster in the shell: it performs what the backbone machines inside
//! the server's [`Control`] decide, and gives the data plane its narrow doors.
//!
//! Three kinds of tasks touch a backbone remote:
//! - **Publishers** (client and leaf tasks, in [`super::route`]): while a remote is in a gap
//!   or recovering from one, a message the hub wanted is [`hold`]-ed: offered to the
//!   machine's buffer instead of the link. "Wanted" means matching the hub's interest as
//!   last known ([`Tap`] keeps a copy of it that outlives the link) or the live link's own
//!   subscriptions. The fast path when nothing is held is one atomic load.
//! - **The backbone link's task** ([`super::leaf`]): mirrors the hub's `LS+`/`LS-` into
//!   that copy, stamps the last time the hub was heard, and reports the link's loss to the
//!   control machine itself, before the link's subscriptions leave the account, so that no
//!   publish falls between "still sent to the dead link" and "held".
//! - **The control task** ([`super::control`], through [`BackboneControl`]): performs the
//!   backbone outputs: flushes into the new link with the replay headers, the resync
//!   announcement, lame-duck closes, health, and give-up. A flush batch is written by a
//!   task of its own (gate [`FLUSH_GATE`]), whose result comes back to the control task as
//!   a [`LinkReport::BackboneFlushed`]: the control task never waits on a link, and
//!   messages published while a batch is out are buffered behind it.
//!
//! The machines live in the one [`Control`] behind `Shared::control`. Only the control
//! task drains its outputs; the other two only feed inputs that it drains right after
//! (the link's loss is always followed by the link's `LinkClosed` report). Whoever feeds
//! an input mirrors the machines' "holding" flags into the taps before letting go of the
//! lock ([`mirror`]), so the data plane's fast path never lags a decision.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rejoin_core::backbone::{
    BackboneOutput, BackboneStats, Buffered, LinkId, Message, ResyncNotice,
};
use rejoin_core::control::{BackboneView, Control, Input};
use rejoin_core::event::{CloseReason, Event};
use rejoin_core::leaf::LeafSession;
use rejoin_core::proto::{encode, headers};
use rejoin_core::remote::{AttemptId, RemoteIndex};
use rejoin_core::sublist::{MatchResult, Sublist};
use rejoin_core::time::Instant;
use tokio::sync::mpsc;

use super::leaf::{LinkHandle, LinkReport};
use super::outbound::{Outbound, Push};
use super::route::Router;
use super::state::{ConnInfo, ConnKind, ConnShared, Shared, Subscription};

/// Header naming the gap a replayed message was buffered in: `<server name> <gap number>`
/// (the numbers of the resync announcement's `first_gap..=last_gap`).
pub const GAP_HEADER: &str = "Rejoin-Gap";
/// Header with a replayed message's original publish time (RFC 3339, UTC).
pub const PUBLISHED_HEADER: &str = "Rejoin-Published";

/// Every backbone remote's shared side, for the data plane.
#[derive(Default)]
pub struct Backbones {
    taps: RwLock<Vec<Arc<Tap>>>,
    /// Taps currently holding messages: the routing fast path reads only this.
    holding: Arc<AtomicUsize>,
}

impl Backbones {
    /// Whether any backbone remote is holding messages (one atomic load).
    #[inline]
    pub fn holding(&self) -> bool {
        self.holding.load(Ordering::Acquire) > 0
    }

    /// The tap whose registered link is `cid`, if that link is a backbone link.
    pub fn tap_for_link(&self, cid: u64) -> Option<Arc<Tap>> {
        self.taps
            .read()
            .expect("taps lock")
            .iter()
            .find(|t| t.link_cid.load(Ordering::Acquire) == cid)
            .cloned()
    }

    fn snapshot(&self) -> Vec<Arc<Tap>> {
        self.taps.read().expect("taps lock").clone()
    }
}

/// Every backbone remote's health: `None` when all are ok, else why not.
pub fn unhealthy(shared: &Shared) -> Option<String> {
    let reasons = shared.control().unhealthy();
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// Counters of every backbone remote, for `/varz` and `/metrics`.
pub fn stats(shared: &Shared) -> Vec<(String, BackboneStats)> {
    shared.control().backbone_stats()
}

/// Copy every machine's "holding" flag into its tap. Call with the control lock held,
/// after feeding inputs.
pub fn mirror(shared: &Shared, control: &Control) {
    for tap in shared.backbones.snapshot() {
        tap.set_buffering(control.holds(tap.index));
    }
}

/// One backbone remote as the data plane sees it.
pub struct Tap {
    /// The remote's index in the control machine.
    pub index: RemoteIndex,
    /// The remote as shown in events, JSON and monitoring (its `name`, else its identity).
    pub remote: String,
    /// The local account the remote is bound to.
    pub account: Arc<str>,
    /// Mirror of the machine's `holds`, counted in [`Backbones::holding`].
    buffering: AtomicBool,
    holding: Arc<AtomicUsize>,
    /// The registered backbone link (0: none) and its attempt generation.
    link_cid: AtomicU64,
    link_id: AtomicU64,
    /// When the hub was last heard on that link (nanoseconds since start).
    heard: AtomicU64,
    interest: RwLock<HubInterest>,
    resync_subject: RwLock<String>,
    /// What the last session's link may send (`deny_exports`, the hub's `export` rules):
    /// held messages are judged by it, so a gap never buffers what the live link would
    /// not have sent.
    perms: RwLock<Option<Arc<rejoin_core::leaf::LinkPermissions>>>,
}

/// The hub's interest as last known: kept when the link goes down, refreshed by the next
/// session's `LS+` dump (entries the hub does not announce again are dropped once the
/// recovery is over).
#[derive(Default)]
struct HubInterest {
    list: Sublist<()>,
    /// Every (subject, queue) in `list`; `true` once announced on the current session.
    keys: BTreeMap<(String, Option<String>), bool>,
}

impl Tap {
    fn set_buffering(&self, on: bool) {
        if self.buffering.swap(on, Ordering::AcqRel) != on {
            if on {
                self.holding.fetch_add(1, Ordering::AcqRel);
            } else {
                self.holding.fetch_sub(1, Ordering::AcqRel);
                // Recovered: interest the hub did not announce again is gone at the hub.
                if self.link_cid.load(Ordering::Acquire) != 0 {
                    let mut i = self.interest.write().expect("interest lock");
                    let stale: Vec<_> = i
                        .keys
                        .iter()
                        .filter(|(_, fresh)| !**fresh)
                        .map(|(k, _)| k.clone())
                        .collect();
                    for (subject, queue) in stale {
                        i.list.remove(&subject, queue.as_deref(), &());
                        i.keys.remove(&(subject, queue));
                    }
                }
            }
        }
    }

    /// The link task registered: a new session starts announcing its interest, under
    /// `perms`.
    pub fn begin_session(&self, perms: Option<Arc<rejoin_core::leaf::LinkPermissions>>) {
        *self.perms.write().expect("perms lock") = perms;
        let mut i = self.interest.write().expect("interest lock");
        for fresh in i.keys.values_mut() {
            *fresh = false;
        }
    }

    /// The hub announced interest (`LS+`).
    pub fn interest_added(&self, subject: &str, queue: Option<&str>) {
        let mut i = self.interest.write().expect("interest lock");
        let _ = i.list.insert(subject, queue, ());
        i.keys
            .insert((subject.to_string(), queue.map(str::to_string)), true);
    }

    /// The hub withdrew interest (`LS-`).
    pub fn interest_removed(&self, subject: &str, queue: Option<&str>) {
        let mut i = self.interest.write().expect("interest lock");
        i.list.remove(subject, queue, &());
        i.keys
            .remove(&(subject.to_string(), queue.map(str::to_string)));
    }

    /// Bytes arrived from the hub.
    pub fn heard(&self, now: Instant) {
        self.heard
            .store(now.since_start().as_nanos() as u64, Ordering::Release);
    }

    /// The backbone link's task is ending: tell the machine before the link's interest
    /// leaves the account, so publishes are held from now on.
    pub fn link_lost(&self, shared: &Shared, link: LinkId, reason: &CloseReason) {
        let silent = matches!(reason, CloseReason::StaleConnection);
        let mut c = shared.control();
        let input = Input::BackboneLinkLost {
            remote: self.index,
            link,
            silent,
        };
        c.handle_input(shared.now(), input);
        mirror(shared, &c);
    }

    fn clear_link(&self, link: LinkId) {
        if self.link_id.load(Ordering::Acquire) == link {
            self.link_cid.store(0, Ordering::Release);
            self.link_id.store(0, Ordering::Release);
        }
    }
}

/// Whether a held message's queue group is already served by a subscriber other than the
/// backbone link (then the hub must not serve it too).
fn served_elsewhere(m: &MatchResult<Arc<Subscription>>, group: &str, link_cid: u64) -> bool {
    m.queues.iter().any(|g| {
        &*g.name == group
            && g.members
                .iter()
                .any(|s| s.cid != link_cid && !s.removed.load(Ordering::Acquire))
    })
}

/// The routing hook: hold the message for every backbone remote of `account` that is
/// buffering and whose hub wanted it. `targets` are the leafnode links the router is about
/// to send one `LMSG` each; the backbone link's entry is taken out when its message is
/// held. Returns whether the message was held anywhere.
#[allow(clippy::too_many_arguments)]
pub fn hold(
    shared: &Shared,
    account: &str,
    from: ConnKind,
    subject: &str,
    reply: Option<&str>,
    headers: Option<&[u8]>,
    payload: &[u8],
    m: &MatchResult<Arc<Subscription>>,
    targets: &mut Vec<(Arc<ConnShared>, Vec<Arc<str>>)>,
) -> bool {
    // A hub's message is never sent to another hub (the same rule as live routing).
    if from == (ConnKind::Leaf { solicited: true }) {
        return false;
    }
    let mut held = false;
    for tap in shared.backbones.snapshot() {
        if !tap.buffering.load(Ordering::Acquire) || *tap.account != *account {
            continue;
        }
        let allowed = tap
            .perms
            .read()
            .expect("perms lock")
            .as_ref()
            .is_none_or(|p| p.may_send(subject));
        if !allowed {
            continue;
        }
        let link_cid = tap.link_cid.load(Ordering::Acquire);
        let live = targets
            .iter()
            .position(|(c, _)| link_cid != 0 && c.cid == link_cid);
        let mut queues: Vec<String> = live
            .map(|i| targets[i].1.iter().map(|q| q.to_string()).collect())
            .unwrap_or_default();
        let wanted = {
            let i = tap.interest.read().expect("interest lock");
            let known = i.list.matches(subject);
            for g in &known.queues {
                if !queues.iter().any(|q| **q == *g.name) && !served_elsewhere(m, &g.name, link_cid)
                {
                    queues.push(g.name.to_string());
                }
            }
            live.is_some() || !known.plain.is_empty() || !queues.is_empty()
        };
        if !wanted {
            continue;
        }
        let msg = Message {
            subject: subject.to_string(),
            reply: reply.map(str::to_string),
            queues,
            headers: headers.map(<[u8]>::to_vec),
            payload: payload.to_vec(),
        };
        let accepted = {
            let mut c = shared.control();
            let holds = c.holds(tap.index);
            if holds {
                let input = Input::BackboneOffer {
                    remote: tap.index,
                    msg,
                };
                c.handle_input(shared.now(), input);
            }
            holds
        };
        if accepted {
            held = true;
            if let Some(i) = live {
                targets.swap_remove(i);
            }
        }
    }
    held
}

/// The control task's side: taps by remote, and the performing of backbone outputs.
pub struct BackboneControl {
    shared: Arc<Shared>,
    taps: BTreeMap<RemoteIndex, Arc<Tap>>,
    /// Delivers announcements to local clients.
    router: Router,
    gave_up: bool,
    /// Where flush tasks report their batch's result.
    reports: mpsc::UnboundedSender<LinkReport>,
}

impl BackboneControl {
    pub fn new(shared: Arc<Shared>, reports: mpsc::UnboundedSender<LinkReport>) -> Self {
        let conn = Arc::new(ConnShared {
            cid: 0,
            kind: ConnKind::Client,
            outbound: Outbound::new(0),
            headers: Default::default(),
            info: Mutex::new(ConnInfo::default()),
            leaf_perms: Default::default(),
        });
        let account = shared.account(rejoin_core::auth::GLOBAL_ACCOUNT);
        let seed = shared.derive_seed(0xbacb_0e00);
        let router = Router::new(shared.clone(), conn, account, seed);
        BackboneControl {
            shared,
            taps: BTreeMap::new(),
            router,
            gave_up: false,
            reports,
        }
    }

    /// Whether a backbone remote gave up: the server must shut down and exit non-zero.
    pub fn gave_up(&self) -> bool {
        self.gave_up
    }

    /// Follow the control machine's backbone remotes (start and reload): a tap per remote,
    /// kept while it is retired (its copy of the hub's interest is still the last known)
    /// but out of the data plane's list.
    pub fn sync(&mut self, views: &[BackboneView]) {
        for v in views {
            let tap = self.taps.entry(v.remote).or_insert_with(|| {
                Arc::new(Tap {
                    index: v.remote,
                    remote: v.name.clone(),
                    account: Arc::from(v.account.as_str()),
                    buffering: AtomicBool::new(false),
                    holding: self.shared.backbones.holding.clone(),
                    link_cid: AtomicU64::new(0),
                    link_id: AtomicU64::new(0),
                    heard: AtomicU64::new(0),
                    interest: RwLock::new(HubInterest::default()),
                    resync_subject: RwLock::new(String::new()),
                    perms: RwLock::new(None),
                })
            });
            *tap.resync_subject.write().expect("lock") = v.resync_subject.clone();
            if v.retired {
                tap.set_buffering(false);
                let link = tap.link_id.load(Ordering::Acquire);
                tap.clear_link(link);
            }
        }
        *self.shared.backbones.taps.write().expect("taps lock") = views
            .iter()
            .filter(|v| !v.retired)
            .filter_map(|v| self.taps.get(&v.remote).cloned())
            .collect();
    }

    /// The control machine registered `attempt` as backbone link `cid` (call before the
    /// link is told to register, so that its task finds its tap).
    pub fn registered(&mut self, attempt: AttemptId, cid: u64) {
        let Some(tap) = self.taps.get(&attempt.remote()) else {
            return;
        };
        tap.heard(self.shared.now());
        tap.link_id.store(attempt.generation(), Ordering::Release);
        tap.link_cid.store(cid, Ordering::Release);
    }

    /// `attempt`'s link or attempt ended.
    pub fn link_closed(&mut self, attempt: AttemptId) {
        if let Some(tap) = self.taps.get(&attempt.remote()) {
            tap.clear_link(attempt.generation());
        }
    }

    /// When each registered link's hub was last heard: fed before the timers run.
    pub fn heard(&self) -> Vec<Input> {
        self.taps
            .values()
            .filter_map(|t| {
                let link = t.link_id.load(Ordering::Acquire);
                (link != 0).then(|| Input::BackboneHeard {
                    remote: t.index,
                    link,
                    at: Instant::from_start(Duration::from_nanos(t.heard.load(Ordering::Acquire))),
                })
            })
            .collect()
    }

    /// Perform one output of backbone remote `remote`. `links` are the solicited links by
    /// attempt generation. Returns the input that reports the result, if any.
    pub fn perform(
        &mut self,
        remote: RemoteIndex,
        out: BackboneOutput,
        links: &BTreeMap<u64, LinkHandle>,
    ) -> Option<Input> {
        let tap = self.taps.get(&remote).cloned()?;
        match out {
            BackboneOutput::Flush(batch) => {
                // The batch is bound to the link registered now: if that link dies before
                // the batch is written, the writes fail and the batch goes back to the
                // buffer, never into a later link out of order.
                let cid = tap.link_cid.load(Ordering::Acquire);
                let conn = (cid != 0)
                    .then(|| {
                        self.shared
                            .leafs
                            .lock()
                            .expect("leafs lock")
                            .get(&cid)
                            .cloned()
                    })
                    .flatten();
                tokio::spawn(flush(
                    self.shared.clone(),
                    remote,
                    conn,
                    batch,
                    self.reports.clone(),
                ));
            }
            BackboneOutput::CloseLink { link } => {
                if let Some(h) = links.get(&link) {
                    let _ = h
                        .cmd
                        .send(super::leaf::LinkCmd::Close(CloseReason::StaleConnection));
                }
            }
            BackboneOutput::PublishResync(notice) => self.announce(&tap, &notice),
            BackboneOutput::LameDuckClients { window } => self.lame_duck(&tap, window),
            BackboneOutput::DropClients => {
                let clients = self.clients_of(&tap.account);
                for c in &clients {
                    c.outbound.close(CloseReason::Other("backbone lost".into()));
                }
                self.shared.emit(Event::BackboneDroppedClients {
                    remote: tap.remote.clone(),
                    clients: clients.len() as u64,
                });
            }
            BackboneOutput::Health(h) => match h {
                rejoin_core::backbone::Health::Ok => {
                    tracing::info!("backbone remote {} healthy again", tap.remote)
                }
                rejoin_core::backbone::Health::Unavailable { why } => tracing::error!("{why}"),
            },
            BackboneOutput::GiveUp => {
                tracing::error!(
                    "backbone remote {} gave up reconnecting: shutting down",
                    tap.remote
                );
                self.gave_up = true;
            }
            BackboneOutput::Event(e) => self.shared.emit(e),
        }
        None
    }

    fn wall(&self, t: Instant) -> String {
        wall(&self.shared, t)
    }

    fn announce(&mut self, tap: &Tap, notice: &ResyncNotice) {
        let body = notice.to_json(|t| self.wall(t));
        let subject = tap.resync_subject.read().expect("lock").clone();
        self.router.set_account(self.shared.account(&tap.account));
        let n = self
            .router
            .route_local(&subject, None, None, body.as_bytes());
        tracing::info!(
            "backbone remote {}: resync announced on {subject} to {n} subscriptions: {body}",
            tap.remote
        );
    }

    fn clients_of(&self, account: &str) -> Vec<Arc<ConnShared>> {
        self.shared
            .conns
            .lock()
            .expect("conns lock")
            .values()
            .filter(|c| c.info.lock().expect("info lock").account == account)
            .cloned()
            .collect()
    }

    /// Tell every client of the account that this server is in lame-duck mode (INFO with
    /// `ldm: true`, so clients reconnect elsewhere or back here and refetch), then close
    /// them one by one, spread evenly over `window`.
    fn lame_duck(&self, tap: &Tap, window: Duration) {
        let mut clients = self.clients_of(&tap.account);
        clients.sort_by_key(|c| c.cid);
        let settings = self.shared.settings();
        for c in &clients {
            let line = super::client::info_line(&self.shared, &settings, c.cid);
            let mut out = Vec::with_capacity(line.len() + 16);
            // `info_line` knows every field a client INFO carries; only `ldm` is added.
            let json = line
                .strip_prefix(b"INFO ")
                .and_then(|j| j.strip_suffix(b" \r\n"))
                .and_then(|j| serde_json::from_slice::<serde_json::Value>(j).ok());
            let Some(mut json) = json else { continue };
            json["ldm"] = serde_json::Value::Bool(true);
            encode::info_raw(&mut out, json.to_string().as_bytes());
            let _ = c.outbound.push(out.len(), |b| b.extend_from_slice(&out));
            c.outbound.wake_writer();
        }
        if clients.is_empty() {
            return;
        }
        let step = window / clients.len() as u32;
        let mut shutdown = self.shared.shutdown.subscribe();
        tokio::spawn(async move {
            for c in clients {
                tokio::select! {
                    biased;
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(step) => {}
                }
                c.outbound.close(CloseReason::LameDuck);
            }
        });
    }
}

/// Where a flush batch waits after it was taken from the buffer and before it is written
/// to the link. Messages published meanwhile are buffered behind it; the simulator holds
/// this gate to open the window of incident 4's F5 (a requeue into a buffer that filled
/// up during the flush).
pub const FLUSH_GATE: &str = "backbone.before_flush";

/// What became of one flush batch of backbone remote `remote`.
#[derive(Debug)]
pub struct FlushDone {
    remote: RemoteIndex,
    sent: u64,
    rest: Vec<Buffered>,
    failed: bool,
}

impl FlushDone {
    /// The result as the control machine's input.
    pub fn into_input(self) -> Input {
        Input::BackboneFlushed {
            remote: self.remote,
            sent: self.sent,
            rest: self.rest,
            failed: self.failed,
        }
    }
}

/// One flush batch, in its own task so that the control task never waits on a link: write
/// the batch into `conn` (the link registered when the batch was taken), then report. The
/// machine keeps buffering meanwhile and takes no other batch until this one is reported,
/// so the order of the hub's messages is the order of the buffer.
async fn flush(
    shared: Arc<Shared>,
    remote: RemoteIndex,
    conn: Option<Arc<ConnShared>>,
    batch: Vec<Buffered>,
    reports: mpsc::UnboundedSender<LinkReport>,
) {
    shared.gates.pass(FLUSH_GATE).await;
    let (sent, rest, failed) = match conn {
        Some(conn) => write_batch(&shared, &conn, batch),
        None => (0, batch, true),
    };
    // The control loop may be gone (shutdown): the batch is then dropped with the server.
    let _ = reports.send(LinkReport::BackboneFlushed(FlushDone {
        remote,
        sent,
        rest,
        failed,
    }));
}

/// Write a batch into the link, in order, with the replay headers. Stops (the rest is
/// retried) while the link's outbound buffer is half full, so a large flush never turns the
/// link into a slow consumer; a closed link fails the rest.
fn write_batch(
    shared: &Shared,
    conn: &ConnShared,
    batch: Vec<Buffered>,
) -> (u64, Vec<Buffered>, bool) {
    let settings = shared.settings();
    let limit = settings.max_pending / 2;
    let server = shared.server_name();
    let link_headers = conn.headers.load(Ordering::Relaxed);
    let mut sent = 0u64;
    let mut rest = batch.into_iter();
    let mut failed = false;
    let mut frame = Vec::new();
    let mut stopped = None;
    for e in rest.by_ref() {
        frame.clear();
        let stamped = link_headers
            .then(|| stamp(shared, &server, &e))
            .flatten()
            .or_else(|| e.msg.headers.clone().filter(|_| link_headers));
        let queues: Vec<&str> = e.msg.queues.iter().map(String::as_str).collect();
        LeafSession::encode_msg(
            &mut frame,
            &e.msg.subject,
            e.msg.reply.as_deref(),
            &queues,
            stamped.as_deref(),
            &e.msg.payload,
        );
        if sent > 0 && conn.outbound.pending() + frame.len() > limit {
            stopped = Some(e);
            break;
        }
        match conn
            .outbound
            .push(frame.len(), |out| out.extend_from_slice(&frame))
        {
            Push::Queued => {
                sent += 1;
                conn.outbound.out_msgs.fetch_add(1, Ordering::Relaxed);
                conn.outbound
                    .out_bytes
                    .fetch_add(e.size(), Ordering::Relaxed);
            }
            Push::Closed | Push::BecameSlow => {
                failed = true;
                stopped = Some(e);
                break;
            }
        }
    }
    conn.outbound.wake_writer();
    let rest: Vec<Buffered> = stopped.into_iter().chain(rest).collect();
    (sent, rest, failed)
}

/// The message's header block with the replay headers set (F4), or `None` if the original
/// block cannot be edited (then it is relayed as it was).
fn stamp(shared: &Shared, server: &str, e: &Buffered) -> Option<Vec<u8>> {
    let original = e.msg.headers.as_deref().unwrap_or(&[]);
    let mut with_gap = Vec::with_capacity(original.len() + 96);
    headers::write_with_header(
        &mut with_gap,
        original,
        GAP_HEADER,
        &format!("{server} {}", e.gap),
    )
    .ok()?;
    let mut out = Vec::with_capacity(with_gap.len() + 48);
    headers::write_with_header(
        &mut out,
        &with_gap,
        PUBLISHED_HEADER,
        &wall(shared, e.published),
    )
    .ok()?;
    Some(out)
}

fn wall(shared: &Shared, t: Instant) -> String {
    crate::monitor::rfc3339(shared.start_wall + t.since_start())
}
