//! Who a client is: authentication against the configured users, and the account and
//! permissions it is bound to.
//!
//! The rules follow nats-server: with no authorization configured every client is bound to the
//! global account `$G` (or to `no_auth_user`'s account); with authorization configured a
//! CONNECT must carry matching credentials, otherwise `-ERR 'Authorization Violation'`.
//! `no_auth_user` lets a CONNECT without credentials in as that user.

use std::sync::Arc;

use crate::subject::subject_matches;

/// The global account, used when none is configured.
pub const GLOBAL_ACCOUNT: &str = "$G";

/// Allow/deny lists for one direction (publish or subscribe). Empty allow = allow all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    /// Subject filters that are allowed (empty: everything not denied).
    pub allow: Vec<String>,
    /// Subject filters that are denied (wins over allow).
    pub deny: Vec<String>,
}

impl Rules {
    /// Whether `subject` passes these rules. For subscriptions the subject may contain
    /// wildcards; nats-server then requires the filter itself to match literally or be covered
    /// by an allow filter, which `subject_matches` approximates token by token.
    pub fn permits(&self, subject: &str) -> bool {
        let allowed = self.allow.is_empty() || self.allow.iter().any(|f| covers(f, subject));
        allowed && !self.deny.iter().any(|f| covers(f, subject))
    }
}

/// Whether filter `f` covers `subject` (which may itself contain wildcards).
fn covers(f: &str, subject: &str) -> bool {
    f == subject || subject_matches(f, subject)
}

/// Publish and subscribe permissions of a user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Publish rules.
    pub publish: Rules,
    /// Subscribe rules.
    pub subscribe: Rules,
}

/// One configured user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// User name.
    pub user: String,
    /// Password (compared as given; bcrypt hashes are not supported yet).
    pub password: String,
    /// Account the user is bound to.
    pub account: Arc<str>,
    /// Permissions, if restricted.
    pub permissions: Option<Arc<Permissions>>,
}

/// How clients authenticate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthSpec {
    /// A single token (`authorization { token }`).
    pub token: Option<String>,
    /// Users (from `authorization { user, password }`, `authorization { users }` and
    /// `accounts { X { users } }`).
    pub users: Vec<User>,
    /// User assumed by a CONNECT without credentials.
    pub no_auth_user: Option<String>,
}

/// The outcome of a successful authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The user name, when authenticated as a user.
    pub user: Option<String>,
    /// The account the connection is bound to.
    pub account: Arc<str>,
    /// Permissions, if restricted.
    pub permissions: Option<Arc<Permissions>>,
}

/// Credentials presented in a CONNECT.
#[derive(Clone, Copy, Debug, Default)]
pub struct Credentials<'a> {
    /// `user`.
    pub user: Option<&'a str>,
    /// `pass`.
    pub pass: Option<&'a str>,
    /// `auth_token`.
    pub token: Option<&'a str>,
}

impl Credentials<'_> {
    fn is_empty(&self) -> bool {
        self.user.is_none_or(str::is_empty)
            && self.pass.is_none_or(str::is_empty)
            && self.token.is_none_or(str::is_empty)
    }
}

/// Checks credentials against an [`AuthSpec`].
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    spec: AuthSpec,
}

impl Authenticator {
    /// Build from a spec.
    pub fn new(spec: AuthSpec) -> Self {
        Authenticator { spec }
    }

    /// Whether a CONNECT with credentials is required before any other operation.
    pub fn required(&self) -> bool {
        (self.spec.token.is_some() || !self.spec.users.is_empty())
            && self.spec.no_auth_user.is_none()
    }

    /// Whether INFO should say `auth_required` (credentials are checked when presented).
    pub fn auth_configured(&self) -> bool {
        self.spec.token.is_some() || !self.spec.users.is_empty()
    }

    /// The identity of a connection that never sent CONNECT (only possible when auth is not
    /// required).
    pub fn anonymous(&self) -> Identity {
        if let Some(u) = self.no_auth_identity() {
            return u;
        }
        Identity {
            user: None,
            account: Arc::from(GLOBAL_ACCOUNT),
            permissions: None,
        }
    }

    fn no_auth_identity(&self) -> Option<Identity> {
        let name = self.spec.no_auth_user.as_deref()?;
        let u = self.spec.users.iter().find(|u| u.user == name)?;
        Some(Identity {
            user: Some(u.user.clone()),
            account: u.account.clone(),
            permissions: u.permissions.clone(),
        })
    }

    /// Authenticate a CONNECT. `Err(())` means `-ERR 'Authorization Violation'` and close.
    #[allow(clippy::result_unit_err)]
    pub fn authenticate(&self, creds: Credentials<'_>) -> Result<Identity, ()> {
        if !self.auth_configured() {
            return Ok(self.anonymous());
        }
        if creds.is_empty() {
            return self.no_auth_identity().ok_or(());
        }
        if let (Some(t), Some(given)) = (&self.spec.token, creds.token) {
            if constant_time_eq(t.as_bytes(), given.as_bytes()) {
                return Ok(Identity {
                    user: None,
                    account: Arc::from(GLOBAL_ACCOUNT),
                    permissions: None,
                });
            }
            return Err(());
        }
        let (Some(user), pass) = (creds.user, creds.pass.unwrap_or("")) else {
            return Err(());
        };
        let found = self.spec.users.iter().find(|u| u.user == user).ok_or(())?;
        if constant_time_eq(found.password.as_bytes(), pass.as_bytes()) {
            Ok(Identity {
                user: Some(found.user.clone()),
                account: found.account.clone(),
                permissions: found.permissions.clone(),
            })
        } else {
            Err(())
        }
    }
}

/// Compare without an early exit, so response timing does not reveal a password prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, pass: &str, account: &str) -> User {
        User {
            user: name.into(),
            password: pass.into(),
            account: Arc::from(account),
            permissions: None,
        }
    }

    fn creds<'a>(u: &'a str, p: &'a str) -> Credentials<'a> {
        Credentials {
            user: Some(u),
            pass: Some(p),
            token: None,
        }
    }

    #[test]
    fn no_auth_binds_global() {
        let a = Authenticator::default();
        assert!(!a.required());
        assert_eq!(&*a.authenticate(creds("x", "y")).unwrap().account, "$G");
    }

    #[test]
    fn users_and_accounts() {
        let a = Authenticator::new(AuthSpec {
            users: vec![user("a", "pa", "A"), user("b", "pb", "B")],
            ..Default::default()
        });
        assert!(a.required());
        assert_eq!(&*a.authenticate(creds("a", "pa")).unwrap().account, "A");
        assert_eq!(&*a.authenticate(creds("b", "pb")).unwrap().account, "B");
        assert!(a.authenticate(creds("a", "pb")).is_err());
        assert!(a.authenticate(creds("zz", "pa")).is_err());
        assert!(a.authenticate(Credentials::default()).is_err());
    }

    #[test]
    fn token() {
        let a = Authenticator::new(AuthSpec {
            token: Some("s3cr3t".into()),
            ..Default::default()
        });
        let ok = Credentials {
            token: Some("s3cr3t"),
            ..Default::default()
        };
        let bad = Credentials {
            token: Some("nope"),
            ..Default::default()
        };
        assert!(a.authenticate(ok).is_ok());
        assert!(a.authenticate(bad).is_err());
    }

    #[test]
    fn no_auth_user_lets_anonymous_in() {
        let a = Authenticator::new(AuthSpec {
            users: vec![user("a", "pa", "A")],
            no_auth_user: Some("a".into()),
            ..Default::default()
        });
        assert!(!a.required());
        let id = a.authenticate(Credentials::default()).unwrap();
        assert_eq!(id.user.as_deref(), Some("a"));
        assert_eq!(&*id.account, "A");
        assert!(a.authenticate(creds("a", "wrong")).is_err());
    }

    #[test]
    fn permission_rules() {
        let r = Rules {
            allow: vec!["foo.>".into()],
            deny: vec!["foo.secret".into()],
        };
        assert!(r.permits("foo.bar"));
        assert!(!r.permits("foo.secret"));
        assert!(!r.permits("nope"));
        assert!(Rules::default().permits("anything"));
    }
}
