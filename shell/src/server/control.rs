//! The control loop's leafnode side: it owns the [`Remotes`] state machine (outbound links)
//! and the registry of accepted leafs, performs their outputs (dial, register, close) and
//! feeds back what link tasks report.
//!
//! Everything here runs in the single control task, so each decision (is this attempt still
//! current? is this leaf a duplicate?) is made atomically with respect to reloads and other
//! links — by construction, not by lock ordering.

use std::collections::BTreeMap;
use std::sync::Arc;

use rejoin_core::auth::{AuthSpec, Authenticator, User};
use rejoin_core::config::{Config, RemoteConfig, RemoteUrl};
use rejoin_core::event::{Cid, CloseReason};
use rejoin_core::leaf::{AcceptConfig, LeafSession, PingConfig, SolicitConfig};
use rejoin_core::proto::info::ServerInfo;
use rejoin_core::remote::{ReloadError, ReloadSummary, RemoteInput, RemoteOutput, Remotes};
use rejoin_core::time::Instant;
use tokio::sync::mpsc;

use super::backbone::BackboneControl;
use super::leaf::{self, LinkCmd, LinkHandle, LinkReport};
use super::state::{splitmix64, Shared};
use crate::transport::{Stream, Transport};

/// The leafnode control state of one server.
pub struct LeafControl<T: Transport> {
    shared: Arc<Shared>,
    transport: T,
    remotes: Remotes,
    /// Solicited links by attempt generation.
    solicited: BTreeMap<u64, LinkHandle>,
    /// Accepted links, and the duplicate-detection key of the registered ones.
    accepted: BTreeMap<Cid, (LinkHandle, Option<LeafKey>)>,
    by_key: BTreeMap<LeafKey, Cid>,
    reports_tx: mpsc::UnboundedSender<LinkReport>,
    /// Reports from link tasks.
    pub reports: mpsc::UnboundedReceiver<LinkReport>,
    leaf_auth: Arc<Authenticator>,
    leaf_auth_timeout: std::time::Duration,
    leaf_info: ServerInfo,
    /// TLS for accepted leafs (`leafnodes { tls }`), or why it could not be loaded.
    leaf_tls: Option<Result<crate::tls::Acceptor, String>>,
    ping: PingConfig,
    rng: u64,
    /// The backbone remotes' machines and their outputs.
    backbone: BackboneControl,
}

/// nats-server's duplicate-leaf key: remote server name, cluster, bound account.
type LeafKey = (String, String, String);

impl<T: Transport> LeafControl<T> {
    /// Build from the startup config. `leaf_port` is the bound leafnode port, if any.
    pub fn new(shared: Arc<Shared>, transport: T, cfg: &Config, leaf_port: Option<u16>) -> Self {
        let now = shared.now();
        let seed = shared.derive_seed(0x7265_6d6f_7465);
        let remotes = Remotes::with_bugs(
            &cfg.leafnodes.remotes,
            cfg.leafnodes.reconnect,
            seed,
            now,
            shared.bugs,
        );
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let backbone = BackboneControl::new(shared.clone());
        let mut c = LeafControl {
            shared,
            transport,
            remotes,
            solicited: BTreeMap::new(),
            accepted: BTreeMap::new(),
            by_key: BTreeMap::new(),
            reports_tx,
            reports,
            leaf_auth: Arc::new(Authenticator::default()),
            leaf_auth_timeout: rejoin_core::config::DEFAULT_AUTH_TIMEOUT,
            leaf_info: ServerInfo::default(),
            leaf_tls: None,
            ping: PingConfig::default(),
            rng: seed,
            backbone,
        };
        c.configure(cfg, leaf_port);
        c.backbone.sync(&c.remotes.status(), &cfg.leafnodes.remotes);
        c
    }

    fn configure(&mut self, cfg: &Config, leaf_port: Option<u16>) {
        let leaf = &cfg.leafnodes;
        let mut spec = AuthSpec::default();
        if let Some(a) = &leaf.authorization {
            let acct = |a: &Option<String>| -> Arc<str> {
                Arc::from(a.as_deref().unwrap_or(rejoin_core::auth::GLOBAL_ACCOUNT))
            };
            if let Some(u) = &a.user {
                spec.users.push(User {
                    user: u.clone(),
                    password: a.password.clone().unwrap_or_default(),
                    account: acct(&a.account),
                    permissions: None,
                });
            }
            for u in &a.users {
                spec.users.push(User {
                    user: u.user.clone(),
                    password: u.password.clone().unwrap_or_default(),
                    account: acct(&u.account),
                    permissions: None,
                });
            }
            self.leaf_auth_timeout = a.timeout;
        }
        self.leaf_auth = Arc::new(Authenticator::new(spec));
        self.ping = PingConfig {
            interval: cfg.ping_interval,
            max_outstanding: cfg.ping_max,
            first_jitter: 0.0,
        };
        let settings = self.shared.settings();
        let host = leaf
            .listen_addr()
            .and_then(|h| h.host)
            .unwrap_or_else(|| settings.host.clone());
        let port = leaf_port.unwrap_or(0);
        let advertise = leaf
            .advertise
            .clone()
            .unwrap_or_else(|| format!("{host}:{port}"));
        self.leaf_tls = leaf
            .tls
            .as_ref()
            .map(|t| crate::tls::server_acceptor(t).map_err(|e| e.to_string()));
        let verify = leaf.tls.as_ref().is_some_and(|t| t.verify);
        self.leaf_info = ServerInfo {
            tls_required: leaf.tls.is_some().then_some(true),
            tls_verify: verify.then_some(true),
            server_id: self.shared.server_id.clone(),
            server_name: self.server_name(),
            version: crate::VERSION.to_string(),
            proto: 1,
            host,
            port,
            headers: true,
            max_payload: settings.max_payload as u64,
            leafnode_urls: Some(if leaf.no_advertise {
                Vec::new()
            } else {
                vec![advertise]
            }),
            ..Default::default()
        };
    }

    fn server_name(&self) -> String {
        self.shared.server_name()
    }

    fn jitter(&mut self) -> f64 {
        self.rng = splitmix64(self.rng);
        (self.rng % 1000) as f64 / 5000.0
    }

    /// The next deadline of the remotes machine, as a tokio instant.
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        self.remotes
            .poll_timeout()
            .map(|(t, _)| self.shared.start + t.since_start())
            .into_iter()
            .chain(self.backbone.deadline())
            .min()
    }

    /// Timers are due.
    pub fn handle_timeout(&mut self) {
        self.remotes.handle_timeout(self.shared.now());
        self.backbone.handle_timeout();
        self.drain();
    }

    /// Whether a backbone remote gave up: the server must stop and exit non-zero.
    pub fn gave_up(&self) -> bool {
        self.backbone.gave_up()
    }

    /// Status of every remote (for monitoring and the simulator).
    pub fn status(&self) -> Vec<rejoin_core::remote::RemoteStatus> {
        self.remotes.status()
    }

    /// Apply a new remote list (the rest of the config was validated already). All or
    /// nothing: on error nothing changed.
    pub fn reload(&mut self, cfg: &Config) -> Result<ReloadSummary, ReloadError> {
        let summary = self
            .remotes
            .reload(self.shared.now(), &cfg.leafnodes.remotes)?;
        self.remotes.set_reconnect(cfg.leafnodes.reconnect);
        self.backbone
            .sync(&self.remotes.status(), &cfg.leafnodes.remotes);
        let port = self.leaf_info.port;
        self.configure(cfg, Some(port));
        self.drain();
        Ok(summary)
    }

    /// Perform every pending output of the remotes machine.
    pub fn drain(&mut self) {
        self.perform();
        *self.shared.remotes.lock().expect("remotes lock") = self.remotes.status();
        self.backbone.drain(&self.solicited, &self.reports_tx);
    }

    fn perform(&mut self) {
        while let Some(out) = self.remotes.poll_output() {
            match out {
                RemoteOutput::Dial {
                    attempt,
                    url,
                    config,
                    first_info_timeout,
                    ..
                } => self.dial(attempt, url, config, first_info_timeout),
                RemoteOutput::Register { attempt } => {
                    if let Some(h) = self.solicited.get(&attempt.generation()) {
                        if self.remotes.is_current(attempt) {
                            self.backbone
                                .registered(attempt, h.cid, &self.remotes.status());
                        }
                        let _ = h.cmd.send(LinkCmd::Register);
                    }
                }
                RemoteOutput::Close { attempt, reason } => {
                    if let Some(h) = self.solicited.get(&attempt.generation()) {
                        let _ = h.cmd.send(LinkCmd::Close(reason));
                    }
                }
                RemoteOutput::Event(e) => self.shared.emit(e),
            }
        }
    }

    fn dial(
        &mut self,
        attempt: rejoin_core::remote::AttemptId,
        url: String,
        config: Arc<RemoteConfig>,
        first_info_timeout: std::time::Duration,
    ) {
        let cid = self
            .shared
            .next_cid
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let parsed = RemoteUrl::parse(&url).ok();
        let mut sc = SolicitConfig::new(cid, self.server_name(), self.shared.server_id.clone());
        sc.account = Arc::from(config.local_account());
        sc.user = parsed.as_ref().and_then(|u| u.user.clone());
        sc.pass = parsed.as_ref().and_then(|u| u.password.clone());
        sc.is_hub = config.hub;
        sc.deny_pub = config.deny_imports.clone();
        sc.tls = config.tls.is_some() || parsed.as_ref().is_some_and(|u| u.scheme == "tls");
        sc.first_info_timeout = first_info_timeout;
        sc.ping = PingConfig {
            first_jitter: self.jitter(),
            ..self.ping
        };
        let watchdog = !self
            .shared
            .bugs
            .has(rejoin_core::bugs::BugSwitch::BackboneNoSilenceWatchdog);
        if let Some(bb) = config.backbone.as_ref().filter(|_| watchdog) {
            // A silent hub must be noticed within silence_timeout (#946): two unanswered
            // PINGs a third of it apart close the link at the third.
            let third = (bb.silence_timeout / 3).max(std::time::Duration::from_millis(100));
            sc.ping.interval = sc.ping.interval.min(third);
            sc.ping.max_outstanding = 2;
        }
        let sc_tls = sc.tls;
        let session = LeafSession::solicit(sc, self.shared.now());
        let (tx, rx) = mpsc::unbounded_channel();
        self.solicited
            .insert(attempt.generation(), LinkHandle { cid, cmd: tx });
        let tls = if sc_tls {
            let host = parsed.as_ref().map_or("", |u| u.host.as_str());
            let tls_cfg = config.tls.clone().unwrap_or_default();
            match crate::tls::client_connector(&tls_cfg, host) {
                Ok(c) => Some(c),
                Err(e) => {
                    // Nothing to dial with: report the attempt as failed so the remote backs
                    // off and retries (a reload can fix the files).
                    self.solicited.remove(&attempt.generation());
                    let error = format!("TLS configuration: {e}");
                    tracing::error!("leafnode remote {url}: {error}");
                    let input = RemoteInput::DialFailed { attempt, error };
                    self.remotes.handle_input(self.shared.now(), input);
                    return;
                }
            }
        } else {
            None
        };
        tokio::spawn(leaf::solicit(
            self.shared.clone(),
            self.transport.clone(),
            cid,
            attempt,
            url,
            session,
            tls,
            self.reports_tx.clone(),
            rx,
        ));
    }

    /// A leaf connected to our leafnode port.
    pub fn accept<S: Stream>(&mut self, stream: S, addr: String) {
        let cid = self
            .shared
            .next_cid
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut ac = AcceptConfig::new(cid, self.leaf_auth.clone());
        ac.auth_timeout = self.leaf_auth_timeout;
        ac.ping = PingConfig {
            first_jitter: self.jitter(),
            ..self.ping
        };
        let session = LeafSession::accept(ac, self.shared.now(), self.leaf_info.clone());
        let (tx, rx) = mpsc::unbounded_channel();
        self.accepted
            .insert(cid, (LinkHandle { cid, cmd: tx }, None));
        let tls = match &self.leaf_tls {
            None => None,
            Some(Ok(a)) => Some(a.clone()),
            Some(Err(e)) => {
                // Never fall back to plaintext when TLS is configured but broken.
                tracing::error!("refusing leafnode connection: leafnodes TLS configuration: {e}");
                self.accepted.remove(&cid);
                return;
            }
        };
        tokio::spawn(leaf::accept(
            self.shared.clone(),
            stream,
            cid,
            addr,
            session,
            tls,
            self.reports_tx.clone(),
            rx,
        ));
    }

    /// Handle one report from a link task.
    pub fn handle_report(&mut self, report: LinkReport) {
        let now: Instant = self.shared.now();
        match report {
            LinkReport::Remote(input) => {
                let current = self.remotes.is_current(input.attempt());
                self.backbone.remote_input(&input, current);
                if let RemoteInput::LinkClosed { attempt, .. }
                | RemoteInput::DialFailed { attempt, .. } = &input
                {
                    self.solicited.remove(&attempt.generation());
                }
                self.remotes.handle_input(now, input);
                self.drain();
            }
            LinkReport::AcceptedReady { cid, ready } => {
                let key: LeafKey = (
                    ready.remote_name.clone(),
                    ready.remote_cluster.clone().unwrap_or_default(),
                    ready.account.to_string(),
                );
                // A leaf that reconnects before we noticed its old socket died (half-open)
                // replaces the old link, as nats-server does, instead of being refused.
                if let Some(old) = self.by_key.insert(key.clone(), cid) {
                    if old != cid {
                        if let Some((h, k)) = self.accepted.get_mut(&old) {
                            *k = None;
                            let _ = h.cmd.send(LinkCmd::Close(CloseReason::Replaced));
                        }
                    }
                }
                if let Some((h, k)) = self.accepted.get_mut(&cid) {
                    *k = Some(key);
                    let _ = h.cmd.send(LinkCmd::Register);
                }
            }
            LinkReport::BackboneFlushed(done) => {
                self.backbone.flushed(done);
                self.drain();
            }
            LinkReport::AcceptedClosed { cid } => {
                if let Some((_, Some(key))) = self.accepted.remove(&cid) {
                    if self.by_key.get(&key) == Some(&cid) {
                        self.by_key.remove(&key);
                    }
                }
            }
        }
    }
}
