//! What one leafnode link may carry: the permissions nats-server 2.9.10 applies to a leaf
//! connection, seen from our end of it.
//!
//! Both ends state a link's permissions from the *leaf's* point of view: `publish` is what
//! the leaf may send into the hub, `subscribe` what it may receive. The hub takes them from
//! the leaf's user and sends them to the leaf in its `connect_info` INFO (`export` =
//! publish, `import` = subscribe); the leaf adds its remote's `deny_exports` to publish and
//! `deny_imports` to subscribe. The leaf also sends `deny_imports` in CONNECT (`deny_pub`);
//! the hub adds them to what it refuses to send. Each end then needs three answers:
//!
//! | question | hub (Accept) | leaf (Solicit) |
//! |---|---|---|
//! | may we announce interest in S (`LS+`)? it asks the peer to send us S | user publish | import + `deny_imports` |
//! | may we send a message on S? | user subscribe + CONNECT `deny_pub` | export + `deny_exports` |
//! | may the peer announce interest in S? it asks us to send S | same as "send" | same as "send" |
//!
//! Measured on nats-server 2.9.10 (a hub whose leaf user has publish `up.>` and subscribe
//! `down.>` minus `down.secret`): the hub announces only `up.` interest, at link-up and
//! later; a *literal* `LS+` (plain or queue) outside the subscribe rules gets
//! `-ERR 'Permissions Violation for Subscription to "S"'` and the link is closed, `$`
//! subjects included, except `$LDS.`, `$GR.` and `_GR_.`; a wildcard `LS+` is accepted
//! and each message is then checked (`LS+ down.*` receives `down.a`, not `down.secret`);
//! messages the leaf sends are not checked by the hub at all (an `LMSG` outside publish
//! was delivered), so a leaf must filter what it sends itself. The spoke of a link (the
//! leaf, unless `hub: true` swapped the roles) never raises a violation: it ignores such
//! interest, since the hub told it its permissions.

use crate::auth::{Permissions, Rules};
use crate::subject::is_valid_literal_subject;

/// Subjects no permission applies to: loop detection and gateway reply prefixes.
const EXEMPT: [&str; 3] = ["$LDS.", "$GR.", "_GR_."];

/// The verdict on interest the peer announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerInterest {
    /// Record it.
    Allowed,
    /// Drop it silently (we are the spoke: the hub is expected not to ask).
    Ignored,
    /// Answer `-ERR 'Permissions Violation for Subscription to "S"'` and close.
    Violation,
}

/// One link's permissions from our side (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkPermissions {
    /// Interest we may announce.
    announce: Rules,
    /// Messages we may send; literal interest the peer may announce.
    send: Rules,
    /// Whether a violation is the peer's error (we are not its spoke).
    enforce: bool,
}

impl LinkPermissions {
    /// The hub's side of a link: `user` is the leaf user's permissions, `deny_pub` the
    /// leaf's CONNECT `deny_pub`, `spoke` whether the leaf declared itself the hub
    /// (`is_hub`) so that we are its spoke. `None` when nothing restricts the link.
    pub fn accept(user: Option<&Permissions>, deny_pub: &[String], spoke: bool) -> Option<Self> {
        if user.is_none() && deny_pub.is_empty() {
            return None;
        }
        let user = user.cloned().unwrap_or_default();
        let mut send = user.subscribe;
        send.deny.extend(deny_pub.iter().cloned());
        Some(LinkPermissions {
            announce: user.publish,
            send,
            enforce: !spoke,
        })
    }

    /// The leaf's side of a link: `hub` the permissions the hub sent (`publish` = its INFO
    /// `export`, `subscribe` = `import`), then the remote's `deny_imports` and
    /// `deny_exports`; `spoke` unless the remote says `hub: true`. `None` when nothing
    /// restricts the link.
    pub fn solicit(
        hub: Option<&Permissions>,
        deny_imports: &[String],
        deny_exports: &[String],
        spoke: bool,
    ) -> Option<Self> {
        if hub.is_none() && deny_imports.is_empty() && deny_exports.is_empty() {
            return None;
        }
        let hub = hub.cloned().unwrap_or_default();
        let mut announce = hub.subscribe;
        announce.deny.extend(deny_imports.iter().cloned());
        let mut send = hub.publish;
        send.deny.extend(deny_exports.iter().cloned());
        Some(LinkPermissions {
            announce,
            send,
            enforce: !spoke,
        })
    }

    /// Whether we may announce interest in `subject` (a subscription filter) to the peer.
    pub fn may_announce(&self, subject: &str) -> bool {
        exempt(subject) || self.announce.permits(subject)
    }

    /// Whether we may send the peer a message published on `subject`.
    pub fn may_send(&self, subject: &str) -> bool {
        exempt(subject) || self.send.permits(subject)
    }

    /// What to do with the peer's `LS+` for `subject` (plain or queue). Only literal
    /// subjects are judged here; a wildcard is allowed and its messages go through
    /// [`LinkPermissions::may_send`].
    pub fn peer_interest(&self, subject: &str) -> PeerInterest {
        if exempt(subject) || !is_valid_literal_subject(subject) || self.send.permits(subject) {
            PeerInterest::Allowed
        } else if self.enforce {
            PeerInterest::Violation
        } else {
            PeerInterest::Ignored
        }
    }
}

fn exempt(subject: &str) -> bool {
    EXEMPT.iter().any(|p| subject.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: &[&str], deny: &[&str]) -> Rules {
        Rules {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The user of the nats-server experiment in the module docs.
    fn user() -> Permissions {
        Permissions {
            publish: rules(&["up.>"], &[]),
            subscribe: rules(&["down.>"], &["down.secret"]),
        }
    }

    #[test]
    fn unrestricted_links_have_no_permissions() {
        assert_eq!(LinkPermissions::accept(None, &[], false), None);
        assert_eq!(LinkPermissions::solicit(None, &[], &[], true), None);
    }

    #[test]
    fn hub_side_matches_nats_server() {
        let p = LinkPermissions::accept(Some(&user()), &[], false).unwrap();
        // Interest we announce: what the leaf may publish to us.
        assert!(p.may_announce("up.x") && p.may_announce("up.*"));
        assert!(!p.may_announce("nope.b") && !p.may_announce(">"));
        assert!(p.may_announce("$LDS.abc"));
        // Messages we send: what the leaf may receive.
        assert!(p.may_send("down.a"));
        assert!(!p.may_send("down.secret") && !p.may_send("other.a"));
        // The leaf's interest.
        assert_eq!(p.peer_interest("down.y"), PeerInterest::Allowed);
        assert_eq!(p.peer_interest("other.x"), PeerInterest::Violation);
        assert_eq!(p.peer_interest("down.secret"), PeerInterest::Violation);
        assert_eq!(p.peer_interest("$foo.bar"), PeerInterest::Violation);
        assert_eq!(p.peer_interest("other.*"), PeerInterest::Allowed);
        assert_eq!(p.peer_interest(">"), PeerInterest::Allowed);
        for exempt in ["$LDS.x", "$GR.x.y", "_GR_.a.b"] {
            assert_eq!(p.peer_interest(exempt), PeerInterest::Allowed);
        }
    }

    #[test]
    fn deny_pub_from_connect_restricts_what_the_hub_sends() {
        let deny = vec!["down.x".to_string()];
        let p = LinkPermissions::accept(None, &deny, false).unwrap();
        assert!(!p.may_send("down.x") && p.may_send("down.z"));
        assert!(p.may_announce("anything"));
        assert_eq!(p.peer_interest("down.x"), PeerInterest::Violation);
        assert_eq!(p.peer_interest("down.>"), PeerInterest::Allowed);
        let with_user = LinkPermissions::accept(Some(&user()), &deny, false).unwrap();
        assert!(!with_user.may_send("down.x") && with_user.may_send("down.a"));
    }

    #[test]
    fn hub_that_is_the_spoke_ignores_instead_of_refusing() {
        let p = LinkPermissions::accept(Some(&user()), &[], true).unwrap();
        assert_eq!(p.peer_interest("other.x"), PeerInterest::Ignored);
    }

    #[test]
    fn leaf_side_merges_hub_permissions_with_deny_imports_and_exports() {
        let hub = Permissions {
            publish: rules(&["up.>"], &[]),
            subscribe: rules(&["down.>"], &[]),
        };
        let imports = vec!["down.private".to_string()];
        let exports = vec!["up.private".to_string()];
        let p = LinkPermissions::solicit(Some(&hub), &imports, &exports, true).unwrap();
        assert!(p.may_announce("down.a") && !p.may_announce("down.private"));
        assert!(!p.may_announce("other"));
        assert!(p.may_send("up.a") && !p.may_send("up.private") && !p.may_send("other"));
        // A spoke drops the hub's interest in what it may not send.
        assert_eq!(p.peer_interest("up.private"), PeerInterest::Ignored);
        assert_eq!(p.peer_interest("up.a"), PeerInterest::Allowed);
        // `hub: true`: we are the hub of the link and refuse it.
        let p = LinkPermissions::solicit(None, &imports, &exports, false).unwrap();
        assert_eq!(p.peer_interest("up.private"), PeerInterest::Violation);
        assert!(p.may_announce("other") && !p.may_announce("down.private"));
        assert!(p.may_send("other") && !p.may_send("up.private"));
    }
}
