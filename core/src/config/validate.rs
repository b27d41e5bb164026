//! Rules that involve more than one key. Checked in a fixed order; the first violation is
//! reported. Messages show remote URLs redacted only.

use std::time::Duration;

use super::duration::format_go_duration;
use super::leaf::TlsConfig;
use super::remote::{Backoff, RemoteConfig, REMOTE_SCHEMES};
use super::{Config, MAX_PAYLOAD_LIMIT};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("max_payload ({max_payload}) cannot be higher than max_pending ({max_pending})")]
    MaxPayloadOverMaxPending { max_payload: u64, max_pending: u64 },
    #[error("max_payload ({0}) cannot be higher than {MAX_PAYLOAD_LIMIT} (8 MiB)")]
    MaxPayloadTooLarge(u64),
    #[error("authorization: can not have a single user/pass or token and a users array")]
    MixedAuthorization,
    #[error("duplicate user \"{0}\" in authorization and accounts")]
    DuplicateUser(String),
    #[error(
        "no_auth_user: \"{0}\" not present as user in authorization block or account configuration"
    )]
    UnknownNoAuthUser(String),
    #[error("leafnodes.authorization: can not have a single user/pass and a users array")]
    MixedLeafAuthorization,
    #[error("duplicate user \"{0}\" detected in leafnode authorization")]
    DuplicateLeafUser(String),
    #[error("cannot find local account \"{account}\" specified in leafnode {context}")]
    UnknownLeafAccount {
        account: String,
        /// `authorization` or `remote`.
        context: &'static str,
    },
    #[error("leafnodes.remotes[{index}]: empty url list")]
    EmptyUrls { index: usize },
    #[error("leafnodes.remotes[{index}]: invalid URL \"{url}\": {reason}")]
    InvalidUrl {
        index: usize,
        url: String,
        reason: String,
    },
    #[error("leafnodes.remotes[{index}]: cannot mix websocket and non-websocket urls: {urls:?}")]
    MixedWebsocketUrls { index: usize, urls: Vec<String> },
    #[error(
        "leafnodes.remotes[{first}] and leafnodes.remotes[{second}] are the same remote: {id}"
    )]
    DuplicateRemote {
        first: usize,
        second: usize,
        /// Redacted identity.
        id: String,
    },
    #[error(
        "leafnodes.remotes[{first}] ({first_urls:?}) and leafnodes.remotes[{second}] ({second_urls:?}) both bind local account \"{account}\" to the same URLs"
    )]
    SameAccountSameUrls {
        first: usize,
        second: usize,
        account: String,
        first_urls: Vec<String>,
        second_urls: Vec<String>,
    },
    #[error("{path}: min ({min}) cannot be higher than max ({max})")]
    BackoffMinOverMax {
        path: String,
        min: String,
        max: String,
    },
    #[error("{path}: max must be positive (a zero backoff would reconnect in a busy loop)")]
    ZeroBackoff { path: String },
    #[error("{path}: \"{subject}\" is not a valid literal subject")]
    InvalidSubject { path: String, subject: String },
    #[error("presence.accounts: account \"{0}\" is not defined")]
    UnknownPresenceAccount(String),
    #[error("{path}: cert_file and key_file must be given together")]
    TlsCertKeyPair { path: String },
    #[error("{path}: a listener needs cert_file and key_file")]
    TlsListenerWithoutCert { path: String },
    #[error("{path}: verify needs ca_file (rejoin trusts no system roots)")]
    TlsVerifyWithoutCa { path: String },
}

impl Config {
    /// Checks the rules that involve several keys (see [`ConfigError`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_limits()?;
        self.validate_auth()?;
        self.validate_tls()?;
        self.validate_leafnodes()?;
        self.validate_presence()
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        if self.max_payload > self.max_pending {
            return Err(ConfigError::MaxPayloadOverMaxPending {
                max_payload: self.max_payload,
                max_pending: self.max_pending,
            });
        }
        if self.max_payload > MAX_PAYLOAD_LIMIT {
            return Err(ConfigError::MaxPayloadTooLarge(self.max_payload));
        }
        Ok(())
    }

    fn validate_auth(&self) -> Result<(), ConfigError> {
        let mut users: Vec<&str> = Vec::new();
        if let Some(a) = &self.authorization {
            if !a.users.is_empty() && (a.user.is_some() || a.token.is_some()) {
                return Err(ConfigError::MixedAuthorization);
            }
            users.extend(a.users.iter().map(|u| u.user.as_str()));
        }
        for account in self.accounts.values() {
            users.extend(account.users.iter().map(|u| u.user.as_str()));
        }
        if let Some(dup) = first_duplicate(&users) {
            return Err(ConfigError::DuplicateUser(dup.to_string()));
        }
        if let Some(nau) = &self.no_auth_user {
            if !users.contains(&nau.as_str()) {
                return Err(ConfigError::UnknownNoAuthUser(nau.clone()));
            }
        }
        Ok(())
    }

    fn account_exists(&self, name: &str) -> bool {
        name.is_empty() || self.account_names().contains(&name)
    }

    fn validate_leafnodes(&self) -> Result<(), ConfigError> {
        let leaf = &self.leafnodes;
        if let Some(a) = &leaf.authorization {
            if !a.users.is_empty() && a.user.is_some() {
                return Err(ConfigError::MixedLeafAuthorization);
            }
            let names: Vec<&str> = a.users.iter().map(|u| u.user.as_str()).collect();
            if let Some(dup) = first_duplicate(&names) {
                return Err(ConfigError::DuplicateLeafUser(dup.to_string()));
            }
            let accounts = a
                .account
                .iter()
                .chain(a.users.iter().filter_map(|u| u.account.as_ref()));
            for acc in accounts {
                if !self.account_exists(acc) {
                    return Err(ConfigError::UnknownLeafAccount {
                        account: acc.clone(),
                        context: "authorization",
                    });
                }
            }
        }
        for (i, r) in leaf.remotes.iter().enumerate() {
            self.validate_remote(i, r)?;
        }
        let ids: Vec<_> = leaf.remotes.iter().map(RemoteConfig::identity).collect();
        for (j, b) in leaf.remotes.iter().enumerate() {
            for (i, a) in leaf.remotes.iter().enumerate().take(j) {
                if ids[i] == ids[j] {
                    return Err(ConfigError::DuplicateRemote {
                        first: i,
                        second: j,
                        id: ids[j].to_string(),
                    });
                }
                if a.local_account() == b.local_account() && a.url_set() == b.url_set() {
                    return Err(ConfigError::SameAccountSameUrls {
                        first: i,
                        second: j,
                        account: a.local_account().to_string(),
                        first_urls: a.redacted_urls(),
                        second_urls: b.redacted_urls(),
                    });
                }
            }
        }
        Ok(())
    }

    fn validate_remote(&self, i: usize, r: &RemoteConfig) -> Result<(), ConfigError> {
        if r.urls.is_empty() {
            return Err(ConfigError::EmptyUrls { index: i });
        }
        // The fields are public, so a programmatically built URL may not have gone
        // through `RemoteUrl::parse`.
        for u in &r.urls {
            let reason = if !REMOTE_SCHEMES.contains(&u.scheme.as_str()) {
                Some(format!(
                    "scheme \"{}\" is not one of nats-leaf, nats, tls, ws, wss",
                    u.scheme
                ))
            } else if u.host.is_empty() {
                Some("missing host".to_string())
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(ConfigError::InvalidUrl {
                    index: i,
                    url: u.redacted(),
                    reason,
                });
            }
        }
        let ws = r.urls[0].is_websocket();
        if r.urls.iter().any(|u| u.is_websocket() != ws) {
            return Err(ConfigError::MixedWebsocketUrls {
                index: i,
                urls: r.redacted_urls(),
            });
        }
        if !self.account_exists(r.local_account()) {
            return Err(ConfigError::UnknownLeafAccount {
                account: r.local_account().to_string(),
                context: "remote",
            });
        }
        if let Some(b) = &r.backoff {
            check_backoff(&format!("leafnodes.remotes[{i}].backoff"), b)?;
        }
        if let Some(bb) = &r.backbone {
            check_backoff(
                &format!("leafnodes.remotes[{i}].backbone.backoff"),
                &bb.backoff,
            )?;
            check_literal_subject(
                &format!("leafnodes.remotes[{i}].backbone.resync.subject"),
                &bb.resync.subject,
            )?;
        }
        Ok(())
    }

    /// File contents are the shell's business (read at startup and reload); here only
    /// which fields belong together.
    fn validate_tls(&self) -> Result<(), ConfigError> {
        let listeners = [
            ("tls".to_string(), self.tls.as_ref()),
            ("leafnodes.tls".to_string(), self.leafnodes.tls.as_ref()),
        ];
        for (path, tls) in listeners {
            let Some(tls) = tls else { continue };
            check_tls_pair(&path, tls)?;
            if tls.cert_file.is_none() {
                return Err(ConfigError::TlsListenerWithoutCert { path });
            }
            if tls.verify && tls.ca_file.is_none() {
                return Err(ConfigError::TlsVerifyWithoutCa { path });
            }
        }
        for (i, r) in self.leafnodes.remotes.iter().enumerate() {
            if let Some(tls) = &r.tls {
                check_tls_pair(&format!("leafnodes.remotes[{i}].tls"), tls)?;
            }
        }
        Ok(())
    }

    fn validate_presence(&self) -> Result<(), ConfigError> {
        let Some(p) = &self.presence else {
            return Ok(());
        };
        check_literal_subject("presence.subject_prefix", &p.subject_prefix)?;
        check_literal_subject("presence.relay_prefix", &p.relay_prefix)?;
        for a in &p.accounts {
            if !self.account_exists(a) || a.is_empty() {
                return Err(ConfigError::UnknownPresenceAccount(a.clone()));
            }
        }
        Ok(())
    }
}

fn check_tls_pair(path: &str, tls: &TlsConfig) -> Result<(), ConfigError> {
    if tls.cert_file.is_some() != tls.key_file.is_some() {
        return Err(ConfigError::TlsCertKeyPair {
            path: path.to_string(),
        });
    }
    Ok(())
}

fn check_backoff(path: &str, b: &Backoff) -> Result<(), ConfigError> {
    if b.min > b.max {
        return Err(ConfigError::BackoffMinOverMax {
            path: path.to_string(),
            min: format_go_duration(b.min),
            max: format_go_duration(b.max),
        });
    }
    if b.max == Duration::ZERO {
        return Err(ConfigError::ZeroBackoff {
            path: path.to_string(),
        });
    }
    Ok(())
}

/// A subject usable as a publish target and prefix: non-empty dot-separated tokens, no
/// wildcard tokens, no whitespace.
fn is_literal_subject(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|t| !t.is_empty() && t != "*" && t != ">" && !t.chars().any(char::is_whitespace))
}

fn check_literal_subject(path: &str, subject: &str) -> Result<(), ConfigError> {
    if is_literal_subject(subject) {
        Ok(())
    } else {
        Err(ConfigError::InvalidSubject {
            path: path.to_string(),
            subject: subject.to_string(),
        })
    }
}

fn first_duplicate<'a>(names: &[&'a str]) -> Option<&'a str> {
    let mut seen = std::collections::BTreeSet::new();
    names.iter().copied().find(|n| !seen.insert(*n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_subjects() {
        for ok in ["$PRESENCE", "a.b.c", "$REJOIN.RESYNC", "a*b"] {
            assert!(is_literal_subject(ok), "{ok}");
        }
        for bad in ["", "a..b", ".a", "a.", "a.*", ">", "a b", "a.>.b", "a\tb"] {
            assert!(!is_literal_subject(bad), "{bad:?}");
        }
    }
}
