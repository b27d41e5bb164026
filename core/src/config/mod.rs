//! Typed configuration: nats-server's option names, aliases and defaults, read from the
//! [`crate::conf`] tree with serde, then checked across fields by [`Config::validate`].
//!
//! ```
//! use rejoin_core::conf::MemSource;
//! use rejoin_core::config::Config;
//!
//! let text = r#"
//!   listen: 127.0.0.1:4333
//!   max_payload: 512KB
//!   leafnodes {
//!     reconnect: 2
//!     remotes: [ { url: "nats-leaf://user:pw@hub", name: backbone, backbone {} } ]
//!   }
//! "#;
//! let cfg = Config::parse(text, "rejoin.conf", &MemSource::new()).unwrap();
//! cfg.validate().unwrap();
//! assert_eq!(cfg.client_addr().to_string(), "127.0.0.1:4333");
//! assert_eq!(cfg.max_payload, 512 * 1024);
//! let remote = &cfg.leafnodes.remotes[0];
//! assert_eq!(remote.redacted_urls(), ["nats-leaf://user:xxxxx@hub:7422"]);
//! assert!(remote.is_backbone());
//!
//! let err = Config::parse("leafnodes { remotes: [ { urll: x } ] }", "rejoin.conf", &MemSource::new())
//!     .unwrap_err();
//! assert_eq!(err.to_string(), "rejoin.conf:1:26: unknown field \"urll\" in leafnodes.remotes[0]");
//! ```
//!
//! Parsing ([`Config::parse`]) reports anything that is wrong with a single key, with its
//! position; [`Config::validate`] then checks rules that involve several keys. Callers must
//! run both before using a configuration (a reload applies nothing unless both pass).
//!
//! # Keys
//! Top level: `server_name`, `listen`, `host`|`net`, `port`, `http`, `http_port`|
//! `monitor_port`, `max_payload`, `max_pending`, `max_control_line`, `max_connections`,
//! `max_subscriptions`|`max_subs`, `ping_interval`, `ping_max`, `write_deadline`,
//! `lame_duck_duration`, `authorization`, `no_auth_user`, `accounts`, `tls` (client port:
//! `cert_file`, `key_file`, `ca_file`, `verify`, `timeout`, `handshake_first`), `leafnodes`,
//! `debug`, `trace`, `logtime`, `log_file`, `pid_file`, `presence`, `seed`. Option names match
//! case-insensitively, as in nats-server. Unknown keys are errors.
//!
//! # Where we intentionally differ from nats-server 2.9.10
//! - Unsupported nats-server options (`cluster`, `gateway`, `jetstream`, `websocket`,
//!   `mqtt`, account `imports`/`exports`, TLS `insecure`, ...) are unknown-key errors
//!   rather than being silently honoured or ignored.
//! - Durations given as bare integers (seconds) are accepted without a warning (nats-server
//!   warns, and `-t` turns the warning into an error). `leafnodes.reconnect` also accepts a
//!   duration string (2.9 takes an integer only). Timeouts (`authorization.timeout`,
//!   `tls.timeout`) accept float seconds and duration strings.
//! - `max_payload` above 8 MiB is rejected; nats-server only warns.
//! - `url` and `urls` in one remote is an error (nats-server appends both).
//! - Remote URLs are parsed at load time: the scheme must be `nats-leaf`, `nats`, `tls`,
//!   `ws` or `wss`, and scheme and host are lower-cased for identity. Duplicate remotes
//!   (same identity, or same local account bound to the same URL set) are rejected.
//! - A remote's local account, a leafnode authorization account and every presence account
//!   must be defined (`$G` and `$SYS` always are); nats-server checks the first two.
//! - `listen` wins over `host`/`port` when both are given (nats-server: whichever its Go
//!   map iteration happens to apply last).
//! - A key given twice keeps the last value, as in nats-server, except that two spellings
//!   of one option (`port` and `Port`, or an option and its alias) are an error.
//! - `seed`, `presence`, and a remote's `name`, `backoff`, `backbone`, `disabled` and
//!   `first_info_timeout` are ours (the last two exist in later nats-server versions).
//! - A listener's `tls` block (top level, `leafnodes`) must name `cert_file` and `key_file`,
//!   and `verify` needs `ca_file`: rejoin trusts no system roots. `handshake_first` on the
//!   client port is 2.10's TLS-first; 2.9.10 has no such option.
//! - With client-port TLS, an `authorization.timeout` equal to the 2 s default counts as
//!   unset and becomes `tls.timeout` + 1 s, as an unset one does in nats-server (which keeps
//!   an explicit 2 s).
//! - A top-level `port: 0` means the default port and `-1` any free port, as in
//!   nats-server; [`Config::port`] then holds [`EPHEMERAL_PORT`] (0).

mod auth;
mod backbone;
mod diff;
pub mod duration;
mod leaf;
mod presence;
mod remote;
mod scalar;
mod validate;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::conf::{self, ConfError, Source};

pub use auth::{
    Account, Authorization, Permissions, SubjectPermission, User, DEFAULT_AUTH_TIMEOUT,
};
pub use backbone::{Backbone, BufferLimits, Resync, ResyncMode};
pub use diff::{RemoteChange, RemoteDiff};
pub use leaf::{
    LeafAuthorization, LeafUser, Leafnodes, TlsConfig, DEFAULT_LEAF_PORT, DEFAULT_LEAF_RECONNECT,
    DEFAULT_TLS_TIMEOUT,
};
pub use presence::{IdFrom, Presence};
pub use remote::{
    Backoff, RemoteConfig, RemoteId, RemoteUrl, DEFAULT_FIRST_INFO_TIMEOUT, GLOBAL_ACCOUNT,
    REDACTED, REMOTE_SCHEMES,
};
pub use scalar::{HostPort, EPHEMERAL_PORT};
pub use validate::ConfigError;

pub const DEFAULT_PORT: u16 = 4222;
pub const DEFAULT_HOST: &str = "0.0.0.0";
/// Default monitoring port when only `http` without a port is implied (nats-server's).
pub const DEFAULT_HTTP_PORT: u16 = 8222;
pub const DEFAULT_MAX_PAYLOAD: u64 = 1024 * 1024;
/// The largest `max_payload` we accept.
pub const MAX_PAYLOAD_LIMIT: u64 = 8 * 1024 * 1024;
pub const DEFAULT_MAX_PENDING: u64 = 64 * 1024 * 1024;
pub const DEFAULT_MAX_CONTROL_LINE: u64 = 4096;
pub const DEFAULT_MAX_CONNECTIONS: u32 = 65536;
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(120);
pub const DEFAULT_PING_MAX: u32 = 2;
pub const DEFAULT_WRITE_DEADLINE: Duration = Duration::from_secs(10);
pub const DEFAULT_LAME_DUCK_DURATION: Duration = Duration::from_secs(120);
/// The system account, which always exists.
pub const SYSTEM_ACCOUNT: &str = "$SYS";

/// The whole server configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server_name: Option<String>,
    /// Client listen address; wins over `host`/`port` (see [`Config::client_addr`]).
    pub listen: Option<HostPort>,
    #[serde(alias = "net")]
    pub host: String,
    #[serde(deserialize_with = "scalar::client_port")]
    pub port: u16,
    /// Monitoring listen address (`host:port`, or a port).
    pub http: Option<HostPort>,
    #[serde(alias = "monitor_port", deserialize_with = "scalar::optional_port")]
    pub http_port: Option<u16>,
    #[serde(deserialize_with = "scalar::size")]
    pub max_payload: u64,
    /// Per-client outbound buffer limit; over it the client is a slow consumer.
    #[serde(deserialize_with = "scalar::size")]
    pub max_pending: u64,
    #[serde(deserialize_with = "scalar::size")]
    pub max_control_line: u64,
    #[serde(deserialize_with = "scalar::count_u32")]
    pub max_connections: u32,
    /// `0` means unlimited.
    #[serde(alias = "max_subs", deserialize_with = "scalar::count_u32")]
    pub max_subscriptions: u32,
    #[serde(deserialize_with = "duration::deserialize")]
    pub ping_interval: Duration,
    pub ping_max: u32,
    #[serde(deserialize_with = "duration::deserialize")]
    pub write_deadline: Duration,
    #[serde(deserialize_with = "duration::deserialize")]
    pub lame_duck_duration: Duration,
    pub authorization: Option<Authorization>,
    pub no_auth_user: Option<String>,
    /// Accounts by name (sorted by name, which keeps iteration deterministic).
    pub accounts: BTreeMap<String, Account>,
    /// TLS on the client port; `None`: plaintext.
    pub tls: Option<TlsConfig>,
    pub leafnodes: Leafnodes,
    pub debug: bool,
    pub trace: bool,
    pub logtime: bool,
    pub log_file: Option<String>,
    pub pid_file: Option<String>,
    /// `None`: no presence tracking.
    pub presence: Option<Presence>,
    /// Seed of the server's RNG (jitter, URL shuffling), for reproducible tests. `None`
    /// lets the shell pick one (and log it).
    pub seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server_name: None,
            listen: None,
            host: DEFAULT_HOST.into(),
            port: DEFAULT_PORT,
            http: None,
            http_port: None,
            max_payload: DEFAULT_MAX_PAYLOAD,
            max_pending: DEFAULT_MAX_PENDING,
            max_control_line: DEFAULT_MAX_CONTROL_LINE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_subscriptions: 0,
            ping_interval: DEFAULT_PING_INTERVAL,
            ping_max: DEFAULT_PING_MAX,
            write_deadline: DEFAULT_WRITE_DEADLINE,
            lame_duck_duration: DEFAULT_LAME_DUCK_DURATION,
            authorization: None,
            no_auth_user: None,
            accounts: BTreeMap::new(),
            tls: None,
            leafnodes: Leafnodes::default(),
            debug: false,
            trace: false,
            logtime: true,
            log_file: None,
            pid_file: None,
            presence: None,
            seed: None,
        }
    }
}

impl Config {
    /// Parses configuration text (see [`crate::conf`]) into a `Config`. Does not run
    /// [`Config::validate`].
    pub fn parse(text: &str, file: &str, src: &dyn Source) -> Result<Config, ConfError> {
        let map = conf::parse(text, file, src)?;
        conf::from_map(&map)
    }

    /// Where clients connect: `listen` if given (its host defaulting to `host`), else
    /// `host:port`.
    pub fn client_addr(&self) -> HostPort {
        match &self.listen {
            Some(l) => HostPort {
                host: Some(l.host.clone().unwrap_or_else(|| self.host.clone())),
                port: l.port,
            },
            None => HostPort::new(self.host.clone(), self.port),
        }
    }

    /// Where the monitoring HTTP server listens, if anywhere: `http`, else `http_port`
    /// on `host`.
    pub fn monitoring_addr(&self) -> Option<HostPort> {
        if let Some(h) = &self.http {
            return Some(HostPort {
                host: Some(h.host.clone().unwrap_or_else(|| self.host.clone())),
                port: h.port,
            });
        }
        self.http_port.map(|p| HostPort::new(self.host.clone(), p))
    }

    /// Time a client has to send CONNECT, counted from the accept. With TLS on the client
    /// port the handshake eats into it, so (as in nats-server) an unset timeout becomes
    /// `tls.timeout` + 1 s.
    pub fn auth_timeout(&self) -> Duration {
        let explicit = self
            .authorization
            .as_ref()
            .map(|a| a.timeout)
            .filter(|t| *t != DEFAULT_AUTH_TIMEOUT);
        match (explicit, &self.tls) {
            (Some(t), _) => t,
            (None, Some(tls)) => tls.handshake_timeout() + Duration::from_secs(1),
            (None, None) => DEFAULT_AUTH_TIMEOUT,
        }
    }

    /// Presence settings when presence tracking is on.
    pub fn presence_enabled(&self) -> Option<&Presence> {
        self.presence.as_ref().filter(|p| p.enabled)
    }

    /// Every account name that exists: `$G`, `$SYS` and the configured ones.
    pub fn account_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = vec![GLOBAL_ACCOUNT, SYSTEM_ACCOUNT];
        names.extend(self.accounts.keys().map(String::as_str));
        names.sort_unstable();
        names.dedup();
        names
    }

    /// How the remotes changed between two configurations (see [`RemoteDiff`]).
    pub fn diff_remotes(old: &Config, new: &Config) -> RemoteDiff {
        RemoteDiff::between(&old.leafnodes.remotes, &new.leafnodes.remotes)
    }
}

#[cfg(test)]
mod tests;
