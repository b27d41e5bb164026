//! The settings the data plane reads, derived once from the typed config (and again on
//! every reload), so hot paths never walk the config tree.

use std::sync::Arc;
use std::time::Duration;

use rejoin_core::auth::{AuthSpec, Authenticator, Permissions, Rules, User, GLOBAL_ACCOUNT};
use rejoin_core::config::{Config, SubjectPermission};
use rejoin_core::session::SessionConfig;

/// Data-plane settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Server name (INFO `server_name`).
    pub server_name: String,
    /// Client listen address, `host:port`.
    pub listen: String,
    /// Host advertised in INFO.
    pub host: String,
    /// Port advertised in INFO.
    pub port: u16,
    /// Monitoring listen address, if enabled.
    pub http: Option<String>,
    /// Largest accepted message payload.
    pub max_payload: usize,
    /// Largest accepted control line.
    pub max_control_line: usize,
    /// Outbound bytes a connection may have pending before it is a slow consumer.
    pub max_pending: usize,
    /// Connection limit.
    pub max_connections: usize,
    /// Subscriptions per connection (0: unlimited).
    pub max_subscriptions: usize,
    /// A write that takes longer than this makes the connection a slow consumer.
    pub write_deadline: Duration,
    /// Per-session settings (pings, auth).
    pub session: Arc<SessionConfig>,
    /// PID file to write.
    pub pid_file: Option<String>,
    /// TLS on the client port (`tls {}`), certificates already loaded.
    pub tls: Option<crate::tls::Acceptor>,
}

impl Settings {
    /// Whether clients must authenticate.
    pub fn auth(&self) -> &Authenticator {
        &self.session.auth
    }
}

/// Why a configuration cannot be turned into settings.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The config failed cross-field validation.
    #[error("{0}")]
    Invalid(String),
    /// A `tls {}` block's files could not be loaded.
    #[error("{path}: {source}")]
    Tls {
        path: &'static str,
        source: crate::tls::TlsError,
    },
}

impl Settings {
    /// Derive data-plane settings from a parsed config (validating it first).
    pub fn from_config(cfg: &Config) -> Result<Settings, SettingsError> {
        cfg.validate()
            .map_err(|e| SettingsError::Invalid(e.to_string()))?;
        let addr = cfg.client_addr();
        let host = addr.host_or(rejoin_core::config::DEFAULT_HOST).to_string();
        Ok(Settings {
            server_name: cfg.server_name.clone().unwrap_or_default(),
            listen: addr.to_string(),
            host,
            port: addr.port,
            http: cfg.monitoring_addr().map(|h| h.to_string()),
            max_payload: cfg.max_payload as usize,
            max_control_line: cfg.max_control_line as usize,
            max_pending: cfg.max_pending as usize,
            max_connections: cfg.max_connections as usize,
            max_subscriptions: cfg.max_subscriptions as usize,
            write_deadline: cfg.write_deadline,
            session: Arc::new(SessionConfig {
                ping_interval: cfg.ping_interval,
                ping_max: cfg.ping_max,
                auth_timeout: cfg.auth_timeout(),
                auth: Arc::new(Authenticator::new(auth_spec(cfg))),
            }),
            pid_file: cfg.pid_file.clone(),
            tls: cfg
                .tls
                .as_ref()
                .map(crate::tls::server_acceptor)
                .transpose()
                .map_err(|source| SettingsError::Tls {
                    path: "tls",
                    source,
                })?,
        })
    }
}

fn rules(p: Option<&SubjectPermission>) -> Rules {
    p.map(|p| Rules {
        allow: p.allow.clone(),
        deny: p.deny.clone(),
    })
    .unwrap_or_default()
}

fn user(u: &rejoin_core::config::User, account: &Arc<str>) -> User {
    User {
        user: u.user.clone(),
        password: u.password.clone().unwrap_or_default(),
        account: account.clone(),
        permissions: u.permissions.as_ref().map(permissions),
    }
}

/// A `permissions { publish, subscribe }` block as the authenticator needs it.
pub fn permissions(p: &rejoin_core::config::Permissions) -> Arc<Permissions> {
    Arc::new(Permissions {
        publish: rules(p.publish.as_ref()),
        subscribe: rules(p.subscribe.as_ref()),
    })
}

/// Collect every way a client can authenticate: the `authorization` block (global
/// account) and each account's users.
pub fn auth_spec(cfg: &Config) -> AuthSpec {
    let global: Arc<str> = Arc::from(GLOBAL_ACCOUNT);
    let mut spec = AuthSpec {
        no_auth_user: cfg.no_auth_user.clone(),
        ..Default::default()
    };
    if let Some(a) = &cfg.authorization {
        spec.token = a.token.clone();
        if let Some(name) = &a.user {
            spec.users.push(User {
                user: name.clone(),
                password: a.password.clone().unwrap_or_default(),
                account: global.clone(),
                permissions: None,
            });
        }
        spec.users.extend(a.users.iter().map(|u| user(u, &global)));
    }
    for (name, account) in &cfg.accounts {
        let acc: Arc<str> = Arc::from(name.as_str());
        spec.users
            .extend(account.users.iter().map(|u| user(u, &acc)));
    }
    spec
}
