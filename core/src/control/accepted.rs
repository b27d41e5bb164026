//! [`AcceptedLeafs`]: the hub side's registry of accepted leafnode links, which decides
//! what happens when a second link arrives from the same leaf server.

use std::collections::BTreeMap;

use crate::event::{Cid, CloseReason};

/// nats-server's duplicate-leaf key: the remote server's name, its cluster (empty when
/// none) and the local account the link is bound to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LeafKey {
    pub server: String,
    pub cluster: String,
    pub account: String,
}

/// What the registry decided about a link that finished its handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Register the link. `replaces`: an older link with the same key, to be closed as
    /// [`CloseReason::Replaced`] (the half-open case: the leaf reconnected before this hub
    /// noticed that its old socket died).
    Register { replaces: Option<Cid> },
    /// Refuse the link (only with the `leaf-hub-refuses-duplicate` bug switch).
    Refuse { reason: CloseReason },
}

/// Registered accepted links by key, and the key of each registered link.
#[derive(Debug, Default)]
pub struct AcceptedLeafs {
    by_key: BTreeMap<LeafKey, Cid>,
    key_of: BTreeMap<Cid, LeafKey>,
}

impl AcceptedLeafs {
    /// Link `cid` finished its handshake with `key`. With `refuse_duplicates` (the pre-#1607
    /// behaviour) a second link for a key is refused instead of replacing the first.
    pub fn ready(&mut self, cid: Cid, key: LeafKey, refuse_duplicates: bool) -> Admission {
        let old = self.by_key.get(&key).copied().filter(|old| *old != cid);
        if old.is_some() && refuse_duplicates {
            return Admission::Refuse {
                reason: CloseReason::Replaced,
            };
        }
        if let Some(old) = old {
            self.key_of.remove(&old);
        }
        self.by_key.insert(key.clone(), cid);
        self.key_of.insert(cid, key);
        Admission::Register { replaces: old }
    }

    /// Link `cid` ended (registered or not). Only its own entry is removed: a link that was
    /// replaced no longer owns its key.
    pub fn closed(&mut self, cid: Cid) {
        if let Some(key) = self.key_of.remove(&cid) {
            if self.by_key.get(&key) == Some(&cid) {
                self.by_key.remove(&key);
            }
        }
    }

    /// How many links are registered.
    pub fn len(&self) -> usize {
        self.key_of.len()
    }

    /// Whether no link is registered.
    pub fn is_empty(&self) -> bool {
        self.key_of.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(server: &str) -> LeafKey {
        LeafKey {
            server: server.into(),
            cluster: String::new(),
            account: "$G".into(),
        }
    }

    #[test]
    fn a_second_link_from_one_server_replaces_the_first() {
        let mut r = AcceptedLeafs::default();
        assert_eq!(
            r.ready(1, key("a"), false),
            Admission::Register { replaces: None }
        );
        assert_eq!(
            r.ready(2, key("b"), false),
            Admission::Register { replaces: None }
        );
        assert_eq!(
            r.ready(3, key("a"), false),
            Admission::Register { replaces: Some(1) }
        );
        assert_eq!(r.len(), 2);
        // The replaced link's late close does not unregister its successor.
        r.closed(1);
        assert_eq!(
            r.ready(4, key("a"), false),
            Admission::Register { replaces: Some(3) }
        );
        r.closed(4);
        r.closed(2);
        assert!(r.is_empty());
    }

    #[test]
    fn the_historical_hub_refuses_the_newcomer() {
        let mut r = AcceptedLeafs::default();
        r.ready(1, key("a"), true);
        assert_eq!(
            r.ready(2, key("a"), true),
            Admission::Refuse {
                reason: CloseReason::Replaced
            }
        );
        // The old link keeps its key.
        r.closed(2);
        assert_eq!(
            r.ready(3, key("a"), false),
            Admission::Register { replaces: Some(1) }
        );
    }
}
