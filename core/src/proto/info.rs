//! The JSON of `INFO` and `CONNECT`, with nats-server's field names, field order and
//! omission rules (nats-protocol.md §1.2, §1.3, §2.2, §2.3).
//!
//! Serialization follows nats-server 2.9.10 byte for byte where it matters to peers: field
//! order is the Go struct order, and optional fields are left out when `None` (or `false`
//! for flags), as Go's `omitempty` does. Deserialization is lenient the way Go's
//! `encoding/json` is: unknown fields are ignored, `null` leaves a field at its default,
//! a duplicated key takes its last value, and `null` as the whole document is an empty one.
//! Unlike Go, key names are matched case-sensitively (every known client sends them in
//! lower case).

use serde::{Deserialize, Deserializer, Serialize};

use super::error::texts;

/// Allow/deny subject lists, the `import`/`export` blocks of a leafnode INFO.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubjectPermission {
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "or_default")]
    pub allow: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "or_default")]
    pub deny: Vec<String>,
}

/// The server's `INFO`, on the client port and on the leafnode port.
///
/// `headers` and `max_payload` are always written (async-nats refuses any publish larger
/// than `max_payload`, defaulting to 0). On the leafnode port a nats-server leaf requires a
/// non-zero `client_id` and a `leafnode_urls` key (`Some(vec![])` writes `[]`), and
/// `info_on_connect: Some(true)` commits us to answer its CONNECT with a `connect_info` INFO
/// within 2 s.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerInfo {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    pub proto: i32,
    /// nats-server writes its Go version; clients ignore it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub go: Option<String>,
    pub host: String,
    pub port: u16,
    pub headers: bool,
    #[serde(skip_serializing_if = "not_true")]
    pub auth_required: Option<bool>,
    #[serde(skip_serializing_if = "not_true")]
    pub tls_required: Option<bool>,
    #[serde(skip_serializing_if = "not_true")]
    pub tls_verify: Option<bool>,
    #[serde(skip_serializing_if = "not_true")]
    pub tls_available: Option<bool>,
    pub max_payload: u64,
    #[serde(skip_serializing_if = "not_true")]
    pub jetstream: Option<bool>,
    /// Leafnode port: this server's `host:port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// Only when nkey/JWT auth needs a signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Peers a client may also connect to (clients add them to their server pool).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_urls: Option<Vec<String>>,
    /// Lame duck mode.
    #[serde(skip_serializing_if = "not_true")]
    pub ldm: Option<bool>,
    /// Leafnode: what the bound user may receive (the leaf applies it locally).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import: Option<SubjectPermission>,
    /// Leafnode: what the bound user may send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<SubjectPermission>,
    /// Leafnode: the accepting side will answer CONNECT with a `connect_info` INFO.
    #[serde(skip_serializing_if = "not_true")]
    pub info_on_connect: Option<bool>,
    /// Leafnode: this is the INFO answering CONNECT.
    #[serde(skip_serializing_if = "not_true")]
    pub connect_info: Option<bool>,
    /// Leafnode: URLs the leaf may reconnect to. Present (even empty) on every leafnode INFO.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leafnode_urls: Option<Vec<String>>,
    /// Leafnode: the account the connection is bound to, in the `connect_info` INFO.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_account: Option<String>,
}

impl ServerInfo {
    /// Parse an `INFO` JSON document leniently (see the module documentation).
    pub fn parse(json: &[u8]) -> Result<Self, ConnectError> {
        from_json(json)
    }
}

/// A client's `CONNECT`, with nats-server's defaults: absent or `null` `verbose`,
/// `pedantic` and `echo` are true (so `CONNECT {}` turns verbose on), every other flag
/// false, every string `None`. String fields are kept as sent (`Some("")` is possible).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ClientConnect {
    #[serde(deserialize_with = "or_true")]
    pub echo: bool,
    #[serde(deserialize_with = "or_true")]
    pub verbose: bool,
    #[serde(deserialize_with = "or_true")]
    pub pedantic: bool,
    #[serde(deserialize_with = "or_default")]
    pub tls_required: bool,
    pub nkey: Option<String>,
    pub jwt: Option<String>,
    pub sig: Option<String>,
    pub auth_token: Option<String>,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub name: Option<String>,
    pub lang: Option<String>,
    pub version: Option<String>,
    #[serde(deserialize_with = "or_default")]
    pub protocol: i64,
    pub account: Option<String>,
    #[serde(deserialize_with = "or_default")]
    pub new_account: bool,
    #[serde(deserialize_with = "or_default")]
    pub headers: bool,
    #[serde(deserialize_with = "or_default")]
    pub no_responders: bool,
}

impl Default for ClientConnect {
    fn default() -> Self {
        ClientConnect {
            echo: true,
            verbose: true,
            pedantic: true,
            tls_required: false,
            nkey: None,
            jwt: None,
            sig: None,
            auth_token: None,
            user: None,
            pass: None,
            name: None,
            lang: None,
            version: None,
            protocol: 0,
            account: None,
            new_account: false,
            headers: false,
            no_responders: false,
        }
    }
}

impl ClientConnect {
    /// Parse the JSON of a client `CONNECT`. An error means nats-server would close the
    /// connection without an `-ERR` (bad JSON, trailing junk, a non-object, a wrong type).
    pub fn parse(json: &[u8]) -> Result<Self, ConnectError> {
        from_json(json)
    }

    /// The checks nats-server makes on a client CONNECT after authentication, in its order.
    /// Each failure is answered with `-ERR` and a close.
    pub fn validate(&self) -> Result<(), ConnectError> {
        // Choosing an account in CONNECT is refused even when auth is off (live).
        if self.new_account || self.account.as_deref().is_some_and(|a| !a.is_empty()) {
            return Err(ConnectError::AccountNotAllowed);
        }
        if !(0..=1).contains(&self.protocol) {
            return Err(ConnectError::InvalidProtocol(self.protocol));
        }
        if self.no_responders && !self.headers {
            return Err(ConnectError::NoRespondersRequiresHeaders);
        }
        Ok(())
    }
}

/// A soliciting leafnode's `CONNECT` (nats-server's leafConnectInfo), sent by our leaf and
/// read by our hub. `tls_required` is always written; everything else only when set.
///
/// `compression` is deliberately not a field: nats-server 2.10+ sends it as a string where
/// 2.9 had a bool, and an unknown field is ignored while a mistyped one would fail the parse.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LeafConnect {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    #[serde(deserialize_with = "or_default")]
    pub tls_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Server name; the hub uses it to detect duplicate leafs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The soliciting side is the hub (remote `hub: true`).
    #[serde(skip_serializing_if = "is_false", deserialize_with = "or_default")]
    pub is_hub: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Without it the hub strips headers and never sends HMSG.
    #[serde(skip_serializing_if = "is_false", deserialize_with = "or_default")]
    pub headers: bool,
    #[serde(skip_serializing_if = "is_false", deserialize_with = "or_default")]
    pub jetstream: bool,
    /// The remote's `deny_imports`.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "or_default")]
    pub deny_pub: Vec<String>,
    /// Only a gateway sends this; it is read to reject one on the leafnode port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Only a client sends this; it is read to reject one on the leafnode port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}

impl LeafConnect {
    /// Parse the JSON of a leafnode `CONNECT`; errors mean a silent close.
    pub fn parse(json: &[u8]) -> Result<Self, ConnectError> {
        from_json(json)
    }

    /// The checks the accepting side makes on a leafnode CONNECT that need no server state,
    /// in nats-server's order. (Same cluster name as ours, loops and duplicates are the
    /// caller's: see [`texts::SAME_CLUSTER_NAME`] and friends.)
    pub fn validate(&self) -> Result<(), ConnectError> {
        if self.lang.as_deref().is_some_and(|l| !l.is_empty()) {
            return Err(ConnectError::ClientOnLeafPort);
        }
        if let Some(cluster) = self.cluster.as_deref().filter(|c| c.contains(' ')) {
            return Err(ConnectError::ClusterNameHasSpaces(cluster.to_string()));
        }
        if let Some(gateway) = self.gateway.as_deref().filter(|g| !g.is_empty()) {
            return Err(ConnectError::GatewayOnLeafPort(gateway.to_string()));
        }
        Ok(())
    }
}

/// A refused `INFO` or `CONNECT`. Every variant ends the connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// Not a JSON object of the expected shape (silent close).
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// `account` or `new_account` in a client CONNECT.
    #[error("CONNECT may not choose an account")]
    AccountNotAllowed,
    /// Client `protocol` outside 0..=1.
    #[error("invalid client protocol {0}")]
    InvalidProtocol(i64),
    /// Client `no_responders` without `headers`.
    #[error("no_responders requires headers")]
    NoRespondersRequiresHeaders,
    /// A client (it sent `lang`) on the leafnode port.
    #[error("a client connected to the leafnode port")]
    ClientOnLeafPort,
    /// A gateway on the leafnode port.
    #[error("gateway {0:?} connected to the leafnode port")]
    GatewayOnLeafPort(String),
    /// A leaf cluster name containing spaces.
    #[error("leafnode cluster name {0:?} contains spaces")]
    ClusterNameHasSpaces(String),
}

impl ConnectError {
    /// The exact text (quotes included) nats-server sends with `-ERR` before closing, or
    /// `None` when it closes silently.
    pub fn err_text(&self) -> Option<String> {
        let fixed = match self {
            ConnectError::Malformed(_) => return None,
            ConnectError::AccountNotAllowed => texts::AUTH_VIOLATION,
            ConnectError::InvalidProtocol(_) => texts::INVALID_CLIENT_PROTOCOL,
            ConnectError::NoRespondersRequiresHeaders => texts::NO_RESPONDERS_REQUIRES_HEADERS,
            ConnectError::ClientOnLeafPort => texts::CLIENT_ON_LEAF_PORT,
            ConnectError::ClusterNameHasSpaces(_) => texts::CLUSTER_NAME_HAS_SPACES,
            ConnectError::GatewayOnLeafPort(name) => {
                return Some(texts::gateway_on_leaf_port(name))
            }
        };
        Some(fixed.to_string())
    }

    /// Whether the connection must be closed: always.
    pub fn closes(&self) -> bool {
        true
    }
}

/// Go `encoding/json` leniency on top of serde: parse to a value first, so that duplicate
/// keys resolve to the last one and a top-level `null` means "all defaults".
fn from_json<T: serde::de::DeserializeOwned + Default>(json: &[u8]) -> Result<T, ConnectError> {
    let malformed = |e: serde_json::Error| ConnectError::Malformed(e.to_string());
    match serde_json::from_slice::<serde_json::Value>(json).map_err(malformed)? {
        serde_json::Value::Null => Ok(T::default()),
        v @ serde_json::Value::Object(_) => serde_json::from_value(v).map_err(malformed),
        other => Err(ConnectError::Malformed(format!(
            "expected an object, found {other}"
        ))),
    }
}

/// `null` leaves the default, as Go's decoder does.
fn or_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `null` leaves the default `true` (verbose, pedantic, echo).
fn or_true<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(true))
}

fn not_true(v: &Option<bool>) -> bool {
    *v != Some(true)
}

fn is_false(v: &bool) -> bool {
    !*v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_info_matches_the_live_sample() {
        let info = ServerInfo {
            server_id: "NCDX".into(),
            server_name: "hub".into(),
            version: "2.9.10".into(),
            proto: 1,
            go: Some("go1.19.8".into()),
            host: "127.0.0.1".into(),
            port: 14222,
            headers: true,
            max_payload: 1024,
            client_id: Some(4),
            client_ip: Some("127.0.0.1".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&info).unwrap(),
            r#"{"server_id":"NCDX","server_name":"hub","version":"2.9.10","proto":1,"go":"go1.19.8","host":"127.0.0.1","port":14222,"headers":true,"max_payload":1024,"client_id":4,"client_ip":"127.0.0.1"}"#
        );
        // auth_required sits between headers and max_payload; false flags are omitted.
        let auth = ServerInfo {
            auth_required: Some(true),
            tls_required: Some(false),
            go: None,
            ..info
        };
        let json = serde_json::to_string(&auth).unwrap();
        assert!(
            json.contains(r#""headers":true,"auth_required":true,"max_payload":1024"#),
            "{json}"
        );
        assert!(
            !json.contains("tls_required") && !json.contains("\"go\""),
            "{json}"
        );
    }

    #[test]
    fn leaf_infos_match_the_live_samples() {
        let first = ServerInfo {
            server_id: "NBCC".into(),
            server_name: "hub".into(),
            version: "2.9.10".into(),
            proto: 1,
            go: Some("go1.19.8".into()),
            host: "127.0.0.1".into(),
            port: 37422,
            headers: true,
            auth_required: Some(true),
            max_payload: 1024,
            ip: Some("127.0.0.1:37422".into()),
            client_id: Some(11),
            nonce: Some("lHy8hfpP4PwXUj4".into()),
            info_on_connect: Some(true),
            leafnode_urls: Some(vec!["127.0.0.1:37422".into()]),
            ..Default::default()
        };
        let mut out = Vec::new();
        crate::proto::encode::info(&mut out, &first);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "INFO {\"server_id\":\"NBCC\",\"server_name\":\"hub\",\"version\":\"2.9.10\",\"proto\":1,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":37422,\"headers\":true,\"auth_required\":true,\"max_payload\":1024,\"ip\":\"127.0.0.1:37422\",\"client_id\":11,\"nonce\":\"lHy8hfpP4PwXUj4\",\"info_on_connect\":true,\"leafnode_urls\":[\"127.0.0.1:37422\"]} \r\n"
        );
        let second = ServerInfo {
            nonce: None,
            connect_info: Some(true),
            remote_account: Some("$G".into()),
            ..first
        };
        assert!(serde_json::to_string(&second)
            .unwrap()
            .ends_with(r#""client_id":11,"info_on_connect":true,"connect_info":true,"leafnode_urls":["127.0.0.1:37422"],"remote_account":"$G"}"#));
        // The smallest INFO a nats-server leaf accepted: an empty URL list must be written.
        let minimal = ServerInfo {
            client_id: Some(5),
            leafnode_urls: Some(vec![]),
            ..Default::default()
        };
        assert!(serde_json::to_string(&minimal)
            .unwrap()
            .ends_with(r#""client_id":5,"leafnode_urls":[]}"#));
        // Permission blocks come before the leaf fields.
        let perms = ServerInfo {
            import: Some(SubjectPermission {
                allow: vec!["a.>".into()],
                deny: vec![],
            }),
            export: Some(SubjectPermission {
                allow: vec![],
                deny: vec!["b".into()],
            }),
            connect_info: Some(true),
            ..Default::default()
        };
        assert!(serde_json::to_string(&perms).unwrap().ends_with(
            r#""import":{"allow":["a.>"]},"export":{"deny":["b"]},"connect_info":true}"#
        ));
    }

    #[test]
    fn server_info_parses_real_infos() {
        let hub = br#"{"server_id":"NBCC","server_name":"hub","version":"2.9.10","proto":1,"go":"go1.19.8","host":"127.0.0.1","port":37422,"headers":true,"auth_required":true,"max_payload":1024,"ip":"127.0.0.1:37422","client_id":11,"nonce":"lHy8","info_on_connect":true,"leafnode_urls":["127.0.0.1:37422"],"xkey":"X","compression":"s2_auto"}"#;
        let info = ServerInfo::parse(hub).unwrap();
        assert_eq!(info.client_id, Some(11));
        assert_eq!(info.info_on_connect, Some(true));
        assert_eq!(
            info.leafnode_urls.as_deref(),
            Some(&["127.0.0.1:37422".to_string()][..])
        );
        // Absent and empty URL lists differ: a nats-server leaf refuses the first.
        let fake =
            ServerInfo::parse(br#"{"server_id":"FAKEHUB","client_id":5,"leafnode_urls":[]}"#)
                .unwrap();
        assert_eq!(fake.leafnode_urls, Some(vec![]));
        assert_eq!(
            ServerInfo::parse(br#"{"server_id":"FAKEHUB"}"#)
                .unwrap()
                .leafnode_urls,
            None
        );
        assert!(ServerInfo::parse(b"{} junk").is_err());
    }

    #[test]
    fn connect_defaults_are_true_for_verbose_pedantic_echo() {
        let c = ClientConnect::parse(b"{}").unwrap();
        assert!(c.verbose && c.pedantic && c.echo);
        assert!(!c.headers && !c.no_responders && !c.tls_required);
        assert_eq!(c.protocol, 0);
        assert_eq!(c, ClientConnect::default());
        // Live: `CONNECT null` is accepted as all defaults.
        assert_eq!(
            ClientConnect::parse(b"null").unwrap(),
            ClientConnect::default()
        );
        assert_eq!(
            ClientConnect::parse(b" {} ").unwrap(),
            ClientConnect::default()
        );
    }

    #[test]
    fn async_nats_connect_with_nulls() {
        let json = br#"{"verbose":false,"pedantic":false,"jwt":null,"nkey":null,"sig":null,"name":"asynccheck","echo":true,"lang":"rust","version":"0.51.0","protocol":1,"tls_required":false,"user":null,"pass":null,"auth_token":null,"headers":true,"no_responders":true}"#;
        let c = ClientConnect::parse(json).unwrap();
        assert!(!c.verbose && !c.pedantic && c.echo && c.headers && c.no_responders);
        assert_eq!(
            (c.name.as_deref(), c.lang.as_deref(), c.protocol),
            (Some("asynccheck"), Some("rust"), 1)
        );
        assert_eq!((&c.user, &c.jwt), (&None, &None));
        assert_eq!(c.validate(), Ok(()));
        // null on a flag leaves its default (live: `"verbose":null` still gave +OK).
        let c =
            ClientConnect::parse(br#"{"protocol":null,"verbose":null,"echo":null,"name":null}"#)
                .unwrap();
        assert!(c.verbose && c.echo);
        assert_eq!(c.protocol, 0);
    }

    #[test]
    fn nats_py_connect() {
        let json = br#"{"echo": true, "headers": true, "lang": "python3", "name": "pycheck", "no_responders": true, "pedantic": false, "protocol": 1, "verbose": false, "version": "2.16.0"}"#;
        let c = ClientConnect::parse(json).unwrap();
        assert_eq!(c.name.as_deref(), Some("pycheck"));
        assert!(c.headers && c.no_responders && !c.verbose);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn connect_leniency_matches_go() {
        // Unknown fields, any shape, are ignored.
        let c = ClientConnect::parse(br#"{"verbose":false,"lang":"x","zzz":[1,{"a":2}]}"#).unwrap();
        assert!(!c.verbose);
        // Duplicate keys: the last one wins (live: `verbose:false, verbose:true` gave +OK).
        assert!(
            ClientConnect::parse(br#"{"verbose":false,"verbose":true}"#)
                .unwrap()
                .verbose
        );
    }

    #[test]
    fn bad_connect_json_closes_silently() {
        for json in [
            &b""[..],
            b"{nope",
            b"{} junk",
            b"[1]",
            b"\"x\"",
            br#"{"verbose":"no"}"#,
            br#"{"protocol":1.5}"#,
            br#"{"name":5}"#,
        ] {
            let e = ClientConnect::parse(json).unwrap_err();
            assert!(
                matches!(e, ConnectError::Malformed(_)),
                "{:?}",
                String::from_utf8_lossy(json)
            );
            assert_eq!(e.err_text(), None);
            assert!(e.closes());
        }
    }

    #[test]
    fn connect_validation_texts_and_order() {
        let check = |json: &[u8]| {
            ClientConnect::parse(json)
                .unwrap()
                .validate()
                .map_err(|e| e.err_text().unwrap())
        };
        assert_eq!(
            check(br#"{"protocol":2}"#),
            Err("'invalid client protocol'".to_string())
        );
        assert_eq!(
            check(br#"{"protocol":-1}"#),
            Err("'invalid client protocol'".to_string())
        );
        assert_eq!(check(br#"{"protocol":1}"#), Ok(()));
        assert_eq!(
            check(br#"{"no_responders":true}"#),
            Err("'no responders requires headers support'".to_string())
        );
        assert_eq!(check(br#"{"no_responders":true,"headers":true}"#), Ok(()));
        // Live: the protocol check comes first.
        assert_eq!(
            check(br#"{"no_responders":true,"protocol":5}"#),
            Err("'invalid client protocol'".to_string())
        );
        assert_eq!(
            check(br#"{"account":"x"}"#),
            Err("'Authorization Violation'".to_string())
        );
        assert_eq!(
            check(br#"{"new_account":true,"protocol":9}"#),
            Err("'Authorization Violation'".to_string())
        );
        assert_eq!(check(br#"{"account":""}"#), Ok(()));
    }

    #[test]
    fn leaf_connect_matches_the_live_samples() {
        let leaf = LeafConnect {
            version: Some("2.9.10".into()),
            user: Some("lu".into()),
            pass: Some("lp".into()),
            server_id: Some("NDQW".into()),
            name: Some("leaf2".into()),
            is_hub: true,
            cluster: Some("leaf2".into()),
            headers: true,
            ..Default::default()
        };
        let json = r#"{"version":"2.9.10","user":"lu","pass":"lp","tls_required":false,"server_id":"NDQW","name":"leaf2","is_hub":true,"cluster":"leaf2","headers":true}"#;
        assert_eq!(serde_json::to_string(&leaf).unwrap(), json);
        assert_eq!(LeafConnect::parse(json.as_bytes()).unwrap(), leaf);
        let mut out = Vec::new();
        crate::proto::encode::leaf_connect(&mut out, &leaf);
        assert_eq!(out, format!("CONNECT {json}\r\n").into_bytes());
        // The minimal CONNECT a hub accepted.
        assert_eq!(
            serde_json::to_string(&LeafConnect::default()).unwrap(),
            r#"{"tls_required":false}"#
        );
        assert_eq!(LeafConnect::parse(b"{}").unwrap(), LeafConnect::default());
        // A 2.10+ leaf: compression is a string there, and unknown fields are fine.
        let newer = LeafConnect::parse(br#"{"version":"2.10.0","tls_required":false,"compression":"s2_auto","proto":1,"name":"n","deny_pub":null}"#).unwrap();
        assert_eq!(newer.name.as_deref(), Some("n"));
        assert!(newer.deny_pub.is_empty());
        assert!(matches!(
            LeafConnect::parse(b"{"),
            Err(ConnectError::Malformed(_))
        ));
    }

    #[test]
    fn leaf_connect_rejects_clients_and_gateways() {
        let v = |json: &[u8]| {
            LeafConnect::parse(json)
                .unwrap()
                .validate()
                .map_err(|e| e.err_text().unwrap())
        };
        assert_eq!(
            v(br#"{"lang":"python3"}"#),
            Err("'attempted to connect to leaf node port'".to_string())
        );
        assert_eq!(v(br#"{"lang":""}"#), Ok(()));
        assert_eq!(
            v(br#"{"gateway":"gw1"}"#),
            Err("'Rejecting connection from gateway \"gw1\" on the leafnode port'".to_string())
        );
        assert_eq!(
            v(br#"{"cluster":"a b"}"#),
            Err("'cluster name cannot contain spaces'".to_string())
        );
        assert_eq!(
            v(br#"{"name":"leaf1","cluster":"leaf1","headers":true}"#),
            Ok(())
        );
    }
}
