//! The control task's leafnode and backbone side: it performs what the server's
//! [`Control`] machine decides (dial, register, close, flush, announce) and feeds back what
//! link tasks report.
//!
//! Every decision is made by the machine, in one place and one order; this module only
//! owns what the core cannot: the transport, the link tasks' command channels, TLS
//! material, and the leafnode INFO we send. Outputs are drained under the machine's lock
//! and performed after it is released, each in order, by this one task.

use std::collections::BTreeMap;
use std::sync::Arc;

use rejoin_core::auth::{AuthSpec, Authenticator, User};
use rejoin_core::config::{Config, RemoteConfig, RemoteUrl};
use rejoin_core::control::{Input, LeafKey, Output};
use rejoin_core::event::Cid;
use rejoin_core::leaf::{AcceptConfig, LeafSession, PingConfig, SolicitConfig, UserCreds};
use rejoin_core::proto::info::ServerInfo;
use rejoin_core::remote::{ReloadSummary, RemoteInput};
use tokio::sync::mpsc;

use super::backbone::BackboneControl;
use super::leaf::{self, LinkCmd, LinkHandle, LinkReport};
use super::state::{splitmix64, Shared};
use crate::transport::{Stream, Transport};

/// The leafnode control state of one server.
pub struct LeafControl<T: Transport> {
    shared: Arc<Shared>,
    transport: T,
    /// Solicited links by attempt generation.
    solicited: BTreeMap<u64, LinkHandle>,
    /// Accepted links.
    accepted: BTreeMap<Cid, LinkHandle>,
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
    /// Performs the backbone remotes' outputs.
    backbone: BackboneControl,
}

impl<T: Transport> LeafControl<T> {
    /// Build from the startup config (the control machine in `shared` was made from it).
    /// `leaf_port` is the bound leafnode port, if any.
    pub fn new(shared: Arc<Shared>, transport: T, cfg: &Config, leaf_port: Option<u16>) -> Self {
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let backbone = BackboneControl::new(shared.clone(), reports_tx.clone());
        let rng = shared.derive_seed(0x6a69_7474_6572);
        let mut c = LeafControl {
            shared,
            transport,
            solicited: BTreeMap::new(),
            accepted: BTreeMap::new(),
            reports_tx,
            reports,
            leaf_auth: Arc::new(Authenticator::default()),
            leaf_auth_timeout: rejoin_core::config::DEFAULT_AUTH_TIMEOUT,
            leaf_info: ServerInfo::default(),
            leaf_tls: None,
            ping: PingConfig::default(),
            rng,
            backbone,
        };
        c.configure(cfg, leaf_port);
        c.sync_backbones();
        c
    }

    fn configure(&mut self, cfg: &Config, leaf_port: Option<u16>) {
        let leaf = &cfg.leafnodes;
        // Without a leafnodes authorization block a leaf authenticates like a client, and
        // gets that user's account and permissions (nats-server's isLeafNodeAuthorized).
        let mut spec = match &leaf.authorization {
            None => super::settings::auth_spec(cfg),
            Some(_) => AuthSpec::default(),
        };
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
                    permissions: u.permissions.as_ref().map(super::settings::permissions),
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

    /// The machine's next deadline, as a tokio instant.
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        self.shared
            .control()
            .poll_timeout()
            .map(|(t, _)| self.shared.start + t.since_start())
    }

    /// Timers are due.
    pub fn handle_timeout(&mut self) {
        let heard = self.backbone.heard();
        {
            let now = self.shared.now();
            let mut c = self.shared.control();
            for input in heard {
                c.handle_input(now, input);
            }
            c.handle_timeout(now);
        }
        self.drain(Vec::new());
    }

    /// Whether a backbone remote gave up: the server must stop and exit non-zero.
    pub fn gave_up(&self) -> bool {
        self.backbone.gave_up()
    }

    /// Reload: the machine validates the whole of `cfg` (restart-only keys, remote
    /// identities) and answers first. When it applied it, `apply` runs (the shell's own
    /// settings), then what the reload caused is performed. On error nothing changed.
    pub fn reload(&mut self, cfg: &Config, apply: impl FnOnce()) -> Result<ReloadSummary, String> {
        let verdict = {
            let mut c = self.shared.control();
            c.handle_input(self.shared.now(), Input::Reload(Box::new(cfg.clone())));
            c.poll_output()
        };
        match verdict {
            Some(Output::Reloaded(summary)) => {
                apply();
                let port = self.leaf_info.port;
                self.configure(cfg, Some(port));
                self.sync_backbones();
                self.drain(Vec::new());
                Ok(summary)
            }
            Some(Output::ReloadRefused { error }) => Err(error),
            other => Err(format!(
                "internal error: unexpected reload answer {other:?}"
            )),
        }
    }

    fn sync_backbones(&mut self) {
        let views: Vec<_> = self.shared.control().backbones().cloned().collect();
        self.backbone.sync(&views);
    }

    /// Feed `inputs`, then perform every pending output of the machine, feeding back what
    /// performing reports (a flush's result, a dial that could not start), until none is
    /// left.
    pub fn drain(&mut self, mut inputs: Vec<Input>) {
        // Bounded: each round either performs outputs or stops; a flush loop ends when the
        // buffer is empty or the link is full.
        for _ in 0..100_000 {
            let outputs: Vec<Output> = {
                let now = self.shared.now();
                let mut c = self.shared.control();
                for input in inputs.drain(..) {
                    c.handle_input(now, input);
                }
                let outputs = std::iter::from_fn(|| c.poll_output()).collect();
                super::backbone::mirror(&self.shared, &c);
                outputs
            };
            if outputs.is_empty() {
                break;
            }
            for out in outputs {
                inputs.extend(self.perform(out));
            }
        }
        *self.shared.remotes.lock().expect("remotes lock") = self.shared.control().remotes();
    }

    fn perform(&mut self, out: Output) -> Option<Input> {
        match out {
            Output::Dial {
                attempt,
                url,
                config,
                first_info_timeout,
                ..
            } => return self.dial(attempt, url, config, first_info_timeout),
            Output::Register { attempt, backbone } => {
                if let Some(h) = self.solicited.get(&attempt.generation()) {
                    if backbone {
                        self.backbone.registered(attempt, h.cid);
                    }
                    let _ = h.cmd.send(LinkCmd::Register);
                }
            }
            Output::Close { attempt, reason } => {
                if let Some(h) = self.solicited.get(&attempt.generation()) {
                    let _ = h.cmd.send(LinkCmd::Close(reason));
                }
            }
            Output::RegisterLeaf { cid } => {
                if let Some(h) = self.accepted.get(&cid) {
                    let _ = h.cmd.send(LinkCmd::Register);
                }
            }
            Output::CloseLeaf { cid, reason } => {
                if let Some(h) = self.accepted.get(&cid) {
                    let _ = h.cmd.send(LinkCmd::Close(reason));
                }
            }
            Output::Backbone { remote, output } => {
                return self.backbone.perform(remote, output, &self.solicited);
            }
            Output::Event(e) => self.shared.emit(e),
            // Answers to a reload are taken by `reload` before anything else is drained.
            Output::Reloaded(_) | Output::ReloadRefused { .. } => {}
        }
        None
    }

    fn dial(
        &mut self,
        attempt: rejoin_core::remote::AttemptId,
        url: String,
        config: Arc<RemoteConfig>,
        first_info_timeout: std::time::Duration,
    ) -> Option<Input> {
        let cid = self
            .shared
            .next_cid
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let parsed = RemoteUrl::parse(&url).ok();
        let mut sc = SolicitConfig::new(cid, self.server_name(), self.shared.server_id.clone());
        sc.account = Arc::from(config.local_account());
        sc.user = parsed.as_ref().and_then(|u| u.user.clone());
        sc.pass = parsed.as_ref().and_then(|u| u.password.clone());
        if let Some(path) = config.credentials.as_deref() {
            // Read for every attempt, as nats-server does: a fixed file heals on the next try.
            let creds = std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|text| UserCreds::parse(&text).map_err(|e| e.to_string()));
            match creds {
                Ok(c) => sc.creds = Some(Arc::new(c)),
                Err(e) => {
                    let error = format!("credentials file {path:?}: {e}");
                    let shown = parsed
                        .as_ref()
                        .map_or_else(String::new, RemoteUrl::redacted);
                    tracing::error!("leafnode remote {shown}: {error}");
                    return Some(Input::Remote(RemoteInput::DialFailed { attempt, error }));
                }
            }
        }
        sc.is_hub = config.hub;
        sc.deny_pub = config.deny_imports.clone();
        sc.deny_exports = config.deny_exports.clone();
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
                    return Some(Input::Remote(RemoteInput::DialFailed { attempt, error }));
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
        None
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
        self.accepted.insert(cid, LinkHandle { cid, cmd: tx });
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
        let input = match report {
            LinkReport::Remote(input) => {
                if let RemoteInput::LinkClosed { attempt, .. }
                | RemoteInput::DialFailed { attempt, .. } = &input
                {
                    self.solicited.remove(&attempt.generation());
                    self.backbone.link_closed(*attempt);
                }
                Input::Remote(input)
            }
            LinkReport::AcceptedReady { cid, ready } => Input::LeafReady {
                cid,
                key: LeafKey {
                    server: ready.remote_name.clone(),
                    cluster: ready.remote_cluster.clone().unwrap_or_default(),
                    account: ready.account.to_string(),
                },
            },
            LinkReport::AcceptedClosed { cid } => {
                self.accepted.remove(&cid);
                Input::LeafClosed { cid }
            }
            LinkReport::BackboneFlushed(done) => done.into_input(),
        };
        self.drain(vec![input]);
    }
}
