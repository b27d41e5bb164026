//! Client authorization: the `authorization` block, users with permissions, and
//! `accounts` (only their users; imports, exports and JetStream are not supported and are
//! rejected as unknown keys).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::duration;

/// nats-server's `AUTH_TIMEOUT`.
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(2);

/// `authorization { user, password, token, timeout, users: [...] }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Authorization {
    #[serde(alias = "username")]
    pub user: Option<String>,
    #[serde(alias = "pass")]
    pub password: Option<String>,
    pub token: Option<String>,
    /// Time allowed between accepting a client and its CONNECT.
    #[serde(deserialize_with = "duration::deserialize_secs")]
    pub timeout: Duration,
    pub users: Vec<User>,
}

impl Default for Authorization {
    fn default() -> Self {
        Authorization {
            user: None,
            password: None,
            token: None,
            timeout: DEFAULT_AUTH_TIMEOUT,
            users: Vec::new(),
        }
    }
}

/// One entry of a `users` list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    #[serde(alias = "username")]
    pub user: String,
    #[serde(alias = "pass", default)]
    pub password: Option<String>,
    #[serde(default)]
    pub permissions: Option<Permissions>,
}

/// `permissions { publish: ..., subscribe: ... }`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Permissions {
    #[serde(alias = "pub")]
    pub publish: Option<SubjectPermission>,
    #[serde(alias = "sub")]
    pub subscribe: Option<SubjectPermission>,
}

/// Allowed and denied subjects. Written as one subject, a list (both meaning "allow"), or
/// `{ allow: ..., deny: ... }` with either a subject or a list on each side.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubjectPermission {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowDeny {
    #[serde(default, deserialize_with = "super::scalar::one_or_many")]
    allow: Vec<String>,
    #[serde(default, deserialize_with = "super::scalar::one_or_many")]
    deny: Vec<String>,
}

impl<'de> Deserialize<'de> for SubjectPermission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SubjectPermission;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a subject, a list of subjects, or { allow, deny }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SubjectPermission, E> {
                Ok(SubjectPermission {
                    allow: vec![v.to_string()],
                    deny: Vec::new(),
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<SubjectPermission, A::Error> {
                let mut allow = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    allow.push(s);
                }
                Ok(SubjectPermission {
                    allow,
                    deny: Vec::new(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SubjectPermission, A::Error> {
                let ad = AllowDeny::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(SubjectPermission {
                    allow: ad.allow,
                    deny: ad.deny,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// One account of the `accounts` block (the account name is its key there).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Account {
    pub users: Vec<User>,
}
