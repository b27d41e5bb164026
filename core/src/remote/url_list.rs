//! The order in which one remote's URLs are dialed.
//!
//! Each remote keeps a *private* copy of its configured URLs, shuffled with the machine's
//! seeded RNG unless `no_randomize` is set. Shuffling the configuration itself would make the
//! next reload's diff see a change that the operator never made (nats-server #2273), so the
//! configured order is never touched.
//!
//! Every attempt takes the next URL in the rotation. After a handshake the hub's gossiped
//! `leafnode_urls` (other servers of its cluster) are merged in front of the configured ones
//! and deduplicated by host and port, as nats-server does: the gossip reflects the cluster as
//! it is now, the configuration is the fallback. The rotation then continues *after* the URL
//! that just connected, so that when that server dies the next attempt goes elsewhere first.
//!
//! Gossiped entries are bare `host:port`; they are dialed with the scheme, user info and
//! path of the URL that received them, because one hub cluster shares one leafnode
//! authorization.

use rand::seq::SliceRandom;
use rand::Rng;

use crate::config::RemoteUrl;

/// A hub that gossips more than this many URLs is misbehaving; the rest are ignored so a
/// bad INFO cannot grow our state without bound.
pub const MAX_GOSSIPED_URLS: usize = 64;

/// One remote's dial rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlList {
    /// Configured URLs, in dial order (shuffled unless `no_randomize`).
    configured: Vec<RemoteUrl>,
    /// URLs built from the latest handshake's `leafnode_urls`, minus configured servers.
    gossiped: Vec<RemoteUrl>,
    /// Index into `gossiped ++ configured` of the next URL to dial.
    next: usize,
}

impl UrlList {
    /// A rotation over `urls`, shuffled with `rng` unless `no_randomize`.
    pub fn new<R: Rng + ?Sized>(urls: &[RemoteUrl], no_randomize: bool, rng: &mut R) -> Self {
        let mut configured = urls.to_vec();
        if !no_randomize {
            configured.shuffle(rng);
        }
        UrlList {
            configured,
            gossiped: Vec::new(),
            next: 0,
        }
    }

    /// The URL for the next attempt, advancing the rotation (`None` only for an empty list,
    /// which reload validation rejects).
    pub fn next_url(&mut self) -> Option<RemoteUrl> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        let i = self.next % len;
        self.next = (i + 1) % len;
        self.all().nth(i).cloned()
    }

    /// Every URL in rotation order from index 0 (gossiped first).
    pub fn all(&self) -> impl Iterator<Item = &RemoteUrl> {
        self.gossiped.iter().chain(self.configured.iter())
    }

    fn len(&self) -> usize {
        self.gossiped.len() + self.configured.len()
    }

    /// Replace the gossiped part with `leafnode_urls` from a handshake made over
    /// `connected` (the URL that was dialed), and continue the rotation after it.
    pub fn merge_gossip(&mut self, leafnode_urls: &[String], connected: &RemoteUrl) {
        let mut seen: Vec<(String, u16)> = self.configured.iter().map(server).collect();
        let mut gossiped = Vec::new();
        for entry in leafnode_urls {
            if gossiped.len() == MAX_GOSSIPED_URLS {
                break;
            }
            let Some(url) = gossiped_url(entry, connected) else {
                continue;
            };
            let key = server(&url);
            if !seen.contains(&key) {
                seen.push(key);
                gossiped.push(url);
            }
        }
        self.gossiped = gossiped;
        let connected = server(connected);
        let position = self.all().position(|u| server(u) == connected);
        self.next = position.map_or(0, |p| (p + 1) % self.len());
    }
}

/// What identifies the server behind a URL.
fn server(url: &RemoteUrl) -> (String, u16) {
    (url.host.clone(), url.port)
}

/// A gossiped `host:port` (the hub sends no scheme, but tolerate one) as a dialable URL
/// borrowing `template`'s scheme, credentials and path; `None` for anything that is not a
/// plain authority.
fn gossiped_url(entry: &str, template: &RemoteUrl) -> Option<RemoteUrl> {
    let authority = entry.split_once("://").map_or(entry, |(_, rest)| rest);
    if authority.is_empty() || authority.contains(['@', '/', '?', '#']) {
        return None;
    }
    let parsed = RemoteUrl::parse(&format!("{}://{authority}", template.scheme)).ok()?;
    Some(RemoteUrl {
        user: template.user.clone(),
        password: template.password.clone(),
        path: template.path.clone(),
        ..parsed
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn urls(list: &[&str]) -> Vec<RemoteUrl> {
        list.iter().map(|s| RemoteUrl::parse(s).unwrap()).collect()
    }

    fn rotation(list: &mut UrlList, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| list.next_url().unwrap().unredacted())
            .collect()
    }

    #[test]
    fn no_randomize_rotates_in_configured_order() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let cfg = urls(&["nats://a:1", "nats://b:2", "nats://c:3"]);
        let mut list = UrlList::new(&cfg, true, &mut rng);
        assert_eq!(
            rotation(&mut list, 4),
            ["nats://a:1", "nats://b:2", "nats://c:3", "nats://a:1"]
        );
    }

    #[test]
    fn randomize_shuffles_a_private_copy_deterministically() {
        let cfg: Vec<RemoteUrl> = (0..8)
            .map(|i| RemoteUrl::parse(&format!("nats://h{i}:7422")).unwrap())
            .collect();
        let before = cfg.clone();
        let order = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut list = UrlList::new(&cfg, false, &mut rng);
            rotation(&mut list, 8)
        };
        let a = order(5);
        assert_eq!(a, order(5), "same seed, same order");
        let configured: Vec<String> = cfg.iter().map(RemoteUrl::unredacted).collect();
        assert_ne!(
            a, configured,
            "8 URLs shuffled into configured order is a 1/40320 fluke"
        );
        let (mut sorted, mut expected) = (a.clone(), configured.clone());
        sorted.sort();
        expected.sort();
        assert_eq!(
            sorted, expected,
            "a permutation: every URL exactly once per round"
        );
        assert_eq!(cfg, before, "the configuration is never shuffled");
    }

    #[test]
    fn gossip_goes_first_deduplicated_with_configured_credentials() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let cfg = urls(&["nats://u:p@a:7422", "nats://u:p@b"]);
        let mut list = UrlList::new(&cfg, true, &mut rng);
        let connected = list.next_url().unwrap();
        assert_eq!(connected.unredacted(), "nats://u:p@a:7422");
        let gossip: Vec<String> = [
            "A:7422",
            "c:7422",
            "c:7422",
            "nats-leaf://d:7422",
            "b",
            "bad host",
            "x@y:1",
            "",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        list.merge_gossip(&gossip, &connected);
        let all: Vec<String> = list.all().map(RemoteUrl::unredacted).collect();
        assert_eq!(
            all,
            [
                "nats://u:p@c:7422",
                "nats://u:p@d:7422",
                "nats://u:p@a:7422",
                "nats://u:p@b:7422"
            ]
        );
        // The rotation continues after the URL that connected.
        assert_eq!(
            rotation(&mut list, 4),
            [
                "nats://u:p@b:7422",
                "nats://u:p@c:7422",
                "nats://u:p@d:7422",
                "nats://u:p@a:7422"
            ]
        );
        // New gossip replaces the old instead of accumulating.
        list.merge_gossip(&["e:7422".to_string()], &connected);
        assert_eq!(list.all().count(), 3);
    }

    #[test]
    fn gossip_is_bounded() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let cfg = urls(&["nats://a:1"]);
        let mut list = UrlList::new(&cfg, true, &mut rng);
        let flood: Vec<String> = (0..1000).map(|i| format!("h{i}:1")).collect();
        list.merge_gossip(&flood, &cfg[0]);
        assert_eq!(list.all().count(), MAX_GOSSIPED_URLS + 1);
    }
}
