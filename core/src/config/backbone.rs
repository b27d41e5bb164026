//! `backbone { ... }` inside a remote (ours): what the broadcaster does while that link is
//! down and when it comes back (design.md §6 "Broadcaster").

use std::time::Duration;

use serde::Deserialize;

use super::duration;
use super::remote::Backoff;
use super::scalar;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backbone {
    pub buffer: BufferLimits,
    /// Wait after interest is re-established before flushing the buffer.
    #[serde(deserialize_with = "duration::deserialize")]
    pub settle: Duration,
    pub resync: Resync,
    pub backoff: Backoff,
    /// Give up (and exit non-zero after a graceful shutdown) after this many failed
    /// reconnects in a row; `0` retries forever.
    #[serde(deserialize_with = "scalar::count_u32")]
    pub max_reconnect_attempts: u32,
    /// A link silent for this long is considered wedged (`/healthz` reports it).
    #[serde(deserialize_with = "duration::deserialize")]
    pub silence_timeout: Duration,
}

impl Default for Backbone {
    fn default() -> Self {
        Backbone {
            buffer: BufferLimits::default(),
            settle: Duration::from_secs(2),
            resync: Resync::default(),
            backoff: Backoff::default(),
            max_reconnect_attempts: 0,
            silence_timeout: Duration::from_secs(10),
        }
    }
}

/// Bounds of the replay buffer; over either bound the oldest messages are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BufferLimits {
    #[serde(deserialize_with = "scalar::size")]
    pub max_msgs: u64,
    #[serde(deserialize_with = "scalar::size")]
    pub max_bytes: u64,
}

impl Default for BufferLimits {
    fn default() -> Self {
        BufferLimits {
            max_msgs: 10_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Resync {
    /// Subject the resync announcement is published on.
    pub subject: String,
    pub mode: ResyncMode,
    /// Minimum time between two resyncs (later ones are delayed, never skipped).
    #[serde(deserialize_with = "duration::deserialize")]
    pub cooldown: Duration,
    /// In `lameduck` mode, clients are told to reconnect spread over this window.
    #[serde(deserialize_with = "duration::deserialize")]
    pub window: Duration,
}

impl Default for Resync {
    fn default() -> Self {
        Resync {
            subject: "$REJOIN.RESYNC".into(),
            mode: ResyncMode::Notify,
            cooldown: Duration::from_secs(30),
            window: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResyncMode {
    /// Publish the announcement only.
    #[default]
    Notify,
    /// Publish it and put clients in lame-duck mode so they reconnect and refetch.
    #[serde(alias = "lame_duck")]
    Lameduck,
}
