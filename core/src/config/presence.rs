//! `presence { ... }` (ours): which clients are presence sessions and where their
//! online/offline events go (design.md §6 "Presence / relay").

use std::time::Duration;

use serde::Deserialize;

use super::duration;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Presence {
    /// `true` when the block is present, unless it says otherwise.
    pub enabled: bool,
    pub id_from: IdFrom,
    /// Accounts whose clients take part (one name or a list); empty means all.
    #[serde(deserialize_with = "super::scalar::one_or_many")]
    pub accounts: Vec<String>,
    /// Events go to `<subject_prefix>.<id>.online|offline`.
    pub subject_prefix: String,
    /// Directed delivery to a peer id goes through `<relay_prefix>.<id>...`.
    pub relay_prefix: String,
    /// A new session with a live id closes the old one.
    pub takeover: bool,
    /// At most one takeover per id within this window.
    #[serde(deserialize_with = "duration::deserialize")]
    pub takeover_backoff: Duration,
}

impl Default for Presence {
    fn default() -> Self {
        Presence {
            enabled: true,
            id_from: IdFrom::Name,
            accounts: Vec::new(),
            subject_prefix: "$PRESENCE".into(),
            relay_prefix: "$RELAY".into(),
            takeover: true,
            takeover_backoff: Duration::from_secs(1),
        }
    }
}

/// Which CONNECT field carries the peer id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdFrom {
    /// CONNECT `name`.
    #[default]
    Name,
    /// The authenticated user name.
    User,
}
