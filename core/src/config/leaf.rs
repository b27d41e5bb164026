//! The `leafnodes` block: the accepting side (listener, authorization, TLS) and the list
//! of remotes this server dials (see [`super::remote`]).

use std::time::Duration;

use serde::Deserialize;

use super::duration;
use super::remote::RemoteConfig;
use super::scalar::{self, HostPort};

/// nats-server's `DEFAULT_LEAF_NODE_RECONNECT`.
pub const DEFAULT_LEAF_RECONNECT: Duration = Duration::from_secs(1);
/// nats-server's `DEFAULT_LEAFNODE_PORT`, also the port filled into remote URLs.
pub const DEFAULT_LEAF_PORT: u16 = 7422;
/// nats-server's `TLS_TIMEOUT`.
pub const DEFAULT_TLS_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Leafnodes {
    #[serde(alias = "net")]
    pub host: Option<String>,
    /// `None`: no leafnode listener (unless `listen` is given).
    #[serde(deserialize_with = "scalar::optional_port")]
    pub port: Option<u16>,
    pub listen: Option<HostPort>,
    #[serde(alias = "leafnode_advertise")]
    pub advertise: Option<String>,
    pub no_advertise: bool,
    /// Fixed delay between reconnect attempts of remotes without their own `backoff`.
    /// Whole seconds (nats-server 2.9) or a duration string.
    #[serde(
        alias = "reconnect_delay",
        alias = "reconnect_interval",
        deserialize_with = "duration::deserialize"
    )]
    pub reconnect: Duration,
    pub authorization: Option<LeafAuthorization>,
    pub tls: Option<TlsConfig>,
    #[serde(alias = "minimum_version")]
    pub min_version: Option<String>,
    pub remotes: Vec<RemoteConfig>,
}

impl Default for Leafnodes {
    fn default() -> Self {
        Leafnodes {
            host: None,
            port: None,
            listen: None,
            advertise: None,
            no_advertise: false,
            reconnect: DEFAULT_LEAF_RECONNECT,
            authorization: None,
            tls: None,
            min_version: None,
            remotes: Vec::new(),
        }
    }
}

impl Leafnodes {
    /// Where to accept leafnode connections, if anywhere: `listen` wins over
    /// `host`/`port`; the host defaults to `0.0.0.0`.
    pub fn listen_addr(&self) -> Option<HostPort> {
        if let Some(l) = &self.listen {
            let host = l.host.clone().or_else(|| self.host.clone());
            return Some(HostPort {
                host: Some(host.unwrap_or_else(|| super::DEFAULT_HOST.to_string())),
                port: l.port,
            });
        }
        self.port.map(|port| HostPort {
            host: Some(
                self.host
                    .clone()
                    .unwrap_or_else(|| super::DEFAULT_HOST.to_string()),
            ),
            port,
        })
    }
}

/// `leafnodes { authorization { ... } }`: credentials accepted from soliciting leafs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeafAuthorization {
    #[serde(alias = "username")]
    pub user: Option<String>,
    #[serde(alias = "pass")]
    pub password: Option<String>,
    /// Account that a leaf authenticated by `user`/`password` is bound to.
    pub account: Option<String>,
    #[serde(deserialize_with = "duration::deserialize_secs")]
    pub timeout: Duration,
    pub users: Vec<LeafUser>,
}

impl Default for LeafAuthorization {
    fn default() -> Self {
        LeafAuthorization {
            user: None,
            password: None,
            account: None,
            timeout: super::auth::DEFAULT_AUTH_TIMEOUT,
            users: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeafUser {
    #[serde(alias = "username")]
    pub user: String,
    #[serde(alias = "pass", default)]
    pub password: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
    /// A rejoin extension (nats-server 2.9.10 rejects the key here; it takes a leaf user's
    /// permissions from the client users when `leafnodes` has no `authorization`).
    #[serde(default)]
    pub permissions: Option<super::auth::Permissions>,
}

/// A `tls { }` block (client port, leafnode listener or remote). `insecure` is deliberately
/// absent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub ca_file: Option<String>,
    /// Require (listener) or present (remote) client certificates.
    pub verify: bool,
    #[serde(deserialize_with = "duration::deserialize_secs")]
    pub timeout: Duration,
    /// Start TLS before the INFO exchange instead of after it.
    pub handshake_first: bool,
}

impl TlsConfig {
    /// How long a TLS handshake may take. `0` means the default, as in nats-server.
    pub fn handshake_timeout(&self) -> Duration {
        if self.timeout.is_zero() {
            DEFAULT_TLS_TIMEOUT
        } else {
            self.timeout
        }
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: None,
            key_file: None,
            ca_file: None,
            verify: false,
            timeout: DEFAULT_TLS_TIMEOUT,
            handshake_first: false,
        }
    }
}
