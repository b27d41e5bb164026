//! How the leafnode remotes changed between two configurations: the plan a reload
//! executes.
//!
//! Remotes are matched by [`RemoteId`](super::RemoteId). `added`, `changed` and
//! `unchanged` follow the new configuration's order; `removed` follows the old one's. A
//! reload that removes every remote produces a non-empty `removed` list, so it can never be
//! mistaken for "no change" (incident 1C).

use super::remote::RemoteConfig;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RemoteDiff {
    /// In the new configuration only.
    pub added: Vec<RemoteConfig>,
    /// In the old configuration only.
    pub removed: Vec<RemoteConfig>,
    /// Same identity, some other setting differs (e.g. `disabled`, TLS, or the URLs of a
    /// named remote).
    pub changed: Vec<RemoteChange>,
    /// Same identity and identical settings: the connection is kept as it is.
    pub unchanged: Vec<RemoteConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RemoteChange {
    pub old: RemoteConfig,
    pub new: RemoteConfig,
}

impl RemoteDiff {
    /// Compares two remote lists. Each old remote matches at most one new remote (the
    /// first with its identity), so even unvalidated lists with duplicates give a
    /// deterministic answer.
    pub fn between(old: &[RemoteConfig], new: &[RemoteConfig]) -> Self {
        let old_ids: Vec<_> = old.iter().map(RemoteConfig::identity).collect();
        let mut matched = vec![false; old.len()];
        let mut diff = RemoteDiff::default();
        for n in new {
            let id = n.identity();
            let hit = old_ids
                .iter()
                .enumerate()
                .position(|(i, oid)| !matched[i] && *oid == id);
            match hit {
                None => diff.added.push(n.clone()),
                Some(i) => {
                    matched[i] = true;
                    if old[i] == *n {
                        diff.unchanged.push(n.clone());
                    } else {
                        diff.changed.push(RemoteChange {
                            old: old[i].clone(),
                            new: n.clone(),
                        });
                    }
                }
            }
        }
        diff.removed = old
            .iter()
            .zip(&matched)
            .filter(|(_, m)| !**m)
            .map(|(r, _)| r.clone())
            .collect();
        diff
    }

    /// Nothing to do: no remote added, removed or changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}
