//! Leafnode remotes (`leafnodes { remotes: [ ... ] }`): the links this server dials, and
//! their identity.
//!
//! # Identity
//! A remote's [`RemoteId`] decides, across reloads, whether two configurations are "the
//! same remote" (keep its connection) or not (remove one, add the other). It is its
//! explicit `name` when one is given — then URL edits are in-place updates — and otherwise
//! the tuple (URL list in configured order, unredacted, after normalisation; local account
//! with empty meaning `$G`; credentials file). Normalisation lower-cases scheme and host and
//! fills in the default port (7422; 80 for `ws`, 443 for `wss`), so `nats-leaf://h` and
//! `nats-leaf://h:7422` are one remote. Reordering URLs changes the identity (a remove plus
//! an add), as in nats-server. Each part is rendered quoted, so a separator inside an
//! account name cannot make two different tuples look alike.
//!
//! The unredacted identity is only ever compared; printing a [`RemoteId`] shows URLs with
//! passwords masked (incident 1: logs must never carry credentials).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::backbone::Backbone;
use super::duration;
use super::leaf::{TlsConfig, DEFAULT_LEAF_PORT};
use super::scalar;

/// nats-server's `DEFAULT_GLOBAL_ACCOUNT`, the account of a remote that names none.
pub const GLOBAL_ACCOUNT: &str = "$G";
/// How long a dialed remote may take to send its first INFO.
pub const DEFAULT_FIRST_INFO_TIMEOUT: Duration = Duration::from_secs(1);
/// Schemes a remote URL may use.
pub const REMOTE_SCHEMES: [&str; 5] = ["nats-leaf", "nats", "tls", "ws", "wss"];
/// What replaces a password when a URL is shown.
pub const REDACTED: &str = "xxxxx";

/// One remote URL: `scheme://[user[:password]@]host[:port][/path]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RemoteUrl {
    /// Lower-cased; one of [`REMOTE_SCHEMES`].
    pub scheme: String,
    pub user: Option<String>,
    pub password: Option<String>,
    /// Lower-cased; IPv6 addresses without brackets.
    pub host: String,
    /// As written, else the scheme's default (7422; 80 for `ws`, 443 for `wss`).
    pub port: u16,
    /// Everything after the authority (`/leafnode` for websocket hubs), possibly empty.
    pub path: String,
}

impl RemoteUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (scheme, rest) = s.split_once("://").ok_or_else(|| {
            format!(
                "invalid URL \"{}\": missing scheme (e.g. nats-leaf://)",
                redact_raw(s)
            )
        })?;
        let scheme = scheme.to_ascii_lowercase();
        if !REMOTE_SCHEMES.contains(&scheme.as_str()) {
            return Err(format!(
                "invalid URL \"{}\": scheme \"{scheme}\" is not one of nats-leaf, nats, tls, ws, wss",
                redact_raw(s)
            ));
        }
        let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(auth_end);
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
                None => (Some(u.to_string()), None),
            },
        };
        let bad = |why: &str| format!("invalid URL \"{}\": {why}", redact_raw(s));
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            match after {
                "" => (h, None),
                p => (
                    h,
                    Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ']'"))?),
                ),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        if !host
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '%'))
        {
            return Err(bad("invalid host"));
        }
        let port = match port {
            None | Some("") => default_port(&scheme),
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("invalid port"))?,
        };
        Ok(RemoteUrl {
            scheme,
            user,
            password,
            host: host.to_ascii_lowercase(),
            port,
            path: path.to_string(),
        })
    }

    pub fn is_websocket(&self) -> bool {
        self.scheme == "ws" || self.scheme == "wss"
    }

    fn render(&self, password: Option<&str>) -> String {
        let mut out = format!("{}://", self.scheme);
        if let Some(u) = &self.user {
            out.push_str(u);
            if let Some(p) = password {
                out.push(':');
                out.push_str(p);
            }
            out.push('@');
        }
        if self.host.contains(':') {
            out.push_str(&format!("[{}]", self.host));
        } else {
            out.push_str(&self.host);
        }
        out.push_str(&format!(":{}{}", self.port, self.path));
        out
    }

    /// Normalised form with the password: for identity comparison only, never for logs.
    pub fn unredacted(&self) -> String {
        self.render(self.password.as_deref())
    }

    /// Normalised form with the password masked.
    pub fn redacted(&self) -> String {
        self.render(self.password.as_ref().map(|_| REDACTED))
    }
}

/// Shows the redacted, normalised URL.
impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn default_port(scheme: &str) -> u16 {
    match scheme {
        "ws" => 80,
        "wss" => 443,
        _ => DEFAULT_LEAF_PORT,
    }
}

/// For messages about URLs that did not parse: mask whatever sits between `:` and `@`.
fn redact_raw(s: &str) -> String {
    let Some((scheme, rest)) = s.split_once("://") else {
        return s.to_string();
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..auth_end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((u, _)) => format!("{scheme}://{u}:{REDACTED}{}", &rest[at..]),
            None => s.to_string(),
        },
        None => s.to_string(),
    }
}

impl<'de> Deserialize<'de> for RemoteUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RemoteUrl::parse(&s).map_err(de::Error::custom)
    }
}

/// `url`/`urls`: one URL or a list of them.
fn urls<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<RemoteUrl>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<RemoteUrl>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a URL or an array of URLs")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<RemoteUrl>, E> {
            RemoteUrl::parse(v).map(|u| vec![u]).map_err(E::custom)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<RemoteUrl>, A::Error> {
            let mut out = Vec::new();
            while let Some(u) = seq.next_element::<RemoteUrl>()? {
                out.push(u);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// Bounded exponential backoff between reconnect attempts (jitter comes from the seeded
/// RNG of the state machine that uses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backoff {
    #[serde(deserialize_with = "duration::deserialize")]
    pub min: Duration,
    #[serde(deserialize_with = "duration::deserialize")]
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            min: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

/// One entry of `leafnodes.remotes`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteConfig {
    /// Written `url` (one) or `urls` (one or a list).
    #[serde(alias = "url", deserialize_with = "urls")]
    pub urls: Vec<RemoteUrl>,
    /// Local account the link is bound to; `None` or empty means `$G`.
    #[serde(alias = "local")]
    pub account: Option<String>,
    #[serde(alias = "creds")]
    pub credentials: Option<String>,
    pub tls: Option<TlsConfig>,
    #[serde(alias = "dont_randomize")]
    pub no_randomize: bool,
    pub hub: bool,
    #[serde(alias = "deny_import", deserialize_with = "scalar::one_or_many")]
    pub deny_imports: Vec<String>,
    #[serde(alias = "deny_export", deserialize_with = "scalar::one_or_many")]
    pub deny_exports: Vec<String>,
    #[serde(deserialize_with = "duration::deserialize")]
    pub first_info_timeout: Duration,
    pub disabled: bool,
    /// Explicit identity (ours): when set, it alone identifies the remote.
    pub name: Option<String>,
    /// Ours: bounded exponential backoff; absent means the fixed `leafnodes.reconnect`.
    pub backoff: Option<Backoff>,
    /// Ours: present makes this a backbone remote.
    pub backbone: Option<Backbone>,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            urls: Vec::new(),
            account: None,
            credentials: None,
            tls: None,
            no_randomize: false,
            hub: false,
            deny_imports: Vec::new(),
            deny_exports: Vec::new(),
            first_info_timeout: DEFAULT_FIRST_INFO_TIMEOUT,
            disabled: false,
            name: None,
            backoff: None,
            backbone: None,
        }
    }
}

impl RemoteConfig {
    /// The local account, `$G` when unset or empty.
    pub fn local_account(&self) -> &str {
        match self.account.as_deref() {
            None | Some("") => GLOBAL_ACCOUNT,
            Some(a) => a,
        }
    }

    pub fn identity(&self) -> RemoteId {
        if let Some(name) = &self.name {
            let s = format!("name={}", quote(name));
            return RemoteId {
                key: s.clone(),
                shown: s,
            };
        }
        let render = |urls: Vec<String>| {
            format!(
                "urls=[{}] account={} credentials={}",
                urls.iter().map(|u| quote(u)).collect::<Vec<_>>().join(","),
                quote(self.local_account()),
                quote(self.credentials.as_deref().unwrap_or("")),
            )
        };
        RemoteId {
            key: render(self.urls.iter().map(RemoteUrl::unredacted).collect()),
            shown: render(self.redacted_urls()),
        }
    }

    /// The URLs, normalised, with passwords masked: what logs and errors may show.
    pub fn redacted_urls(&self) -> Vec<String> {
        self.urls.iter().map(RemoteUrl::redacted).collect()
    }

    /// The URL list as a set (sorted, unredacted, normalised), to detect two remotes that
    /// bind the same account to the same servers under different identities.
    pub(crate) fn url_set(&self) -> Vec<String> {
        let mut v: Vec<String> = self.urls.iter().map(RemoteUrl::unredacted).collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn is_backbone(&self) -> bool {
        self.backbone.is_some()
    }
}

/// Identity of a remote across reloads (see the module docs). Compares by the unredacted
/// rendering; prints the redacted one.
#[derive(Clone)]
pub struct RemoteId {
    key: String,
    shown: String,
}

impl RemoteId {
    /// The redacted rendering (same as `Display`).
    pub fn redacted(&self) -> &str {
        &self.shown
    }
}

impl PartialEq for RemoteId {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for RemoteId {}

impl PartialOrd for RemoteId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RemoteId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

impl Hash for RemoteId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl fmt::Display for RemoteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for RemoteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RemoteId({})", self.shown)
    }
}

/// A double-quoted rendering in which `"` and `\` are escaped, so no value can fake the
/// end of its field.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> RemoteUrl {
        RemoteUrl::parse(s).unwrap()
    }

    fn remote(urls: &[&str]) -> RemoteConfig {
        RemoteConfig {
            urls: urls.iter().map(|u| url(u)).collect(),
            ..RemoteConfig::default()
        }
    }

    #[test]
    fn url_normalisation() {
        assert_eq!(url("nats-leaf://h").unredacted(), "nats-leaf://h:7422");
        assert_eq!(
            url("NATS-LEAF://Hub.Example:7422").unredacted(),
            "nats-leaf://hub.example:7422"
        );
        assert_eq!(url("nats://h:4333").unredacted(), "nats://h:4333");
        assert_eq!(url("tls://h").unredacted(), "tls://h:7422");
        assert_eq!(url("ws://h/leafnode").unredacted(), "ws://h:80/leafnode");
        assert_eq!(url("wss://h").unredacted(), "wss://h:443");
        assert_eq!(url("nats://[::1]").unredacted(), "nats://[::1]:7422");
        assert_eq!(url("nats://[::1]:5").port, 5);
        assert_eq!(url("nats://h"), url("nats://h:7422"));
        assert_eq!(url("nats://u:p@h").unredacted(), "nats://u:p@h:7422");
        assert_eq!(url("nats://tok@h").unredacted(), "nats://tok@h:7422");
        assert_eq!(url("nats://u:p:q@h").password.as_deref(), Some("p:q"));
    }

    #[test]
    fn url_redaction() {
        assert_eq!(
            url("nats://user:pass@h").redacted(),
            "nats://user:xxxxx@h:7422"
        );
        assert_eq!(
            url("nats://user:pass@h").to_string(),
            "nats://user:xxxxx@h:7422"
        );
        assert_eq!(url("nats://tok@h").redacted(), "nats://tok@h:7422");
        assert_eq!(url("nats://h").redacted(), "nats://h:7422");
    }

    #[test]
    fn bad_urls_are_rejected_without_leaking_passwords() {
        for (s, why) in [
            ("h:7422", "missing scheme"),
            ("http://h", "scheme \"http\""),
            ("nats://", "missing host"),
            ("nats://h:0", "invalid port"),
            ("nats://h:99999", "invalid port"),
            ("nats://h:x", "invalid port"),
            ("nats://[::1", "unclosed"),
            ("nats://u:secret@:1", "missing host"),
            ("nats://a\",\"b", "invalid host"),
        ] {
            let e = RemoteUrl::parse(s).unwrap_err();
            assert!(e.contains(why), "{s}: {e}");
            assert!(!e.contains("secret"), "{s}: {e}");
        }
    }

    #[test]
    fn identity_is_normalised_and_unredacted() {
        let a = remote(&["nats-leaf://h"]);
        let b = remote(&["nats-leaf://h:7422"]);
        assert_eq!(a.identity(), b.identity());
        assert_eq!(
            a.identity().to_string(),
            r#"urls=["nats-leaf://h:7422"] account="$G" credentials="""#
        );
        // Empty account is the global account.
        let c = RemoteConfig {
            account: Some(String::new()),
            ..remote(&["nats-leaf://h"])
        };
        assert_eq!(a.identity(), c.identity());
        let d = RemoteConfig {
            account: Some("$G".into()),
            ..remote(&["nats-leaf://h"])
        };
        assert_eq!(a.identity(), d.identity());
        // Passwords take part in identity but are never shown.
        let p1 = remote(&["nats://u:one@h"]);
        let p2 = remote(&["nats://u:two@h"]);
        assert_ne!(p1.identity(), p2.identity());
        assert_eq!(p1.identity().to_string(), p2.identity().to_string());
        assert!(!format!("{:?}", p1.identity()).contains("one"));
        // URL order matters; credentials and account matter.
        assert_ne!(
            remote(&["nats://a", "nats://b"]).identity(),
            remote(&["nats://b", "nats://a"]).identity()
        );
        let creds = RemoteConfig {
            credentials: Some("/x.creds".into()),
            ..remote(&["nats-leaf://h"])
        };
        assert_ne!(a.identity(), creds.identity());
    }

    #[test]
    fn identity_quoting_prevents_collisions() {
        // Without quoting, these two would both render as `... account=A credentials=B`.
        let x = RemoteConfig {
            account: Some("A\" credentials=\"B".into()),
            credentials: None,
            ..remote(&["nats://h"])
        };
        let y = RemoteConfig {
            account: Some("A".into()),
            credentials: Some("B".into()),
            ..remote(&["nats://h"])
        };
        assert_ne!(x.identity(), y.identity());
    }

    #[test]
    fn explicit_name_is_the_identity() {
        let a = RemoteConfig {
            name: Some("backbone".into()),
            ..remote(&["nats://a"])
        };
        let b = RemoteConfig {
            name: Some("backbone".into()),
            ..remote(&["nats://b"])
        };
        assert_eq!(a.identity(), b.identity());
        assert_eq!(a.identity().to_string(), "name=\"backbone\"");
        // A name never equals an unnamed identity.
        assert_ne!(a.identity(), remote(&["nats://a"]).identity());
    }
}
