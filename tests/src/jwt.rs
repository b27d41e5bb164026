//! Decentralized (operator mode) auth material for tests: operator, account and user nkeys
//! made at test time, the JWTs that chain them, and `.creds` files.
//!
//! The JWTs follow the v2 shape nats-server 2.9 decodes: a header
//! `{"typ":"JWT","alg":"ed25519-nkey"}`, claims with `jti`, `iat`, `iss`, `sub`, `name` and a
//! `nats` object carrying `type` and `version: 2`, each part base64url without padding, and
//! the issuer's ed25519 signature over `header.claims`. The server checks the signature and
//! the issuer chain, not how `jti` was derived, so a unique string is enough here.
//!
//! Limits are written as `-1` (unlimited) explicitly: a missing limit decodes as 0, which
//! nats-server reads as "none allowed".

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use nkeys::KeyPair;
use serde_json::{json, Value};

/// An operator: its key signs account JWTs.
pub struct Operator {
    key: KeyPair,
    /// The operator JWT (self-signed), for the hub's `operator:` key.
    pub jwt: String,
}

/// An account signed by an [`Operator`]: its key signs user JWTs.
pub struct Account {
    key: KeyPair,
    /// The account JWT, for `resolver_preload`.
    pub jwt: String,
}

/// A user of an [`Account`].
pub struct User {
    /// The user JWT.
    pub jwt: String,
    /// The user's nkey seed (`SU...`).
    pub seed: String,
}

impl Operator {
    pub fn new(name: &str) -> Operator {
        let key = KeyPair::new_operator();
        let jwt = sign(
            &key,
            &key.public_key(),
            name,
            json!({"type": "operator", "version": 2}),
        );
        Operator { key, jwt }
    }

    /// A new account signed by this operator, without limits.
    pub fn account(&self, name: &str) -> Account {
        let key = KeyPair::new_account();
        let nats = json!({
            "limits": {
                "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                "wildcards": true, "conn": -1, "leaf": -1
            },
            "default_permissions": {"pub": {}, "sub": {}},
            "type": "account",
            "version": 2
        });
        let jwt = sign(&self.key, &key.public_key(), name, nats);
        Account { key, jwt }
    }
}

impl Account {
    pub fn public_key(&self) -> String {
        self.key.public_key()
    }

    /// A new user of this account, without limits or permissions.
    pub fn user(&self, name: &str) -> User {
        let key = KeyPair::new_user();
        let nats = json!({
            "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
            "type": "user", "version": 2
        });
        let jwt = sign(&self.key, &key.public_key(), name, nats);
        User {
            jwt,
            seed: key.seed().expect("a generated key has a seed"),
        }
    }
}

impl User {
    /// The decorated `.creds` file text (`nsc generate creds` layout).
    pub fn creds(&self) -> String {
        creds_file(&self.jwt, &self.seed)
    }
}

/// A `.creds` file holding `jwt` and `seed`.
pub fn creds_file(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

/// A fresh seed of a user that no account signed.
pub fn stranger_seed() -> String {
    KeyPair::new_user()
        .seed()
        .expect("a generated key has a seed")
}

fn sign(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let jti = format!(
        "T{}{}",
        NEXT.fetch_add(1, Ordering::Relaxed),
        &subject[..subject.len().min(20)]
    );
    let claims = json!({
        "jti": jti,
        "iat": iat,
        "iss": issuer.public_key(),
        "sub": subject,
        "name": name,
        "nats": nats,
    });
    let header = base64url(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = base64url(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{body}");
    let sig = issuer
        .sign(signing_input.as_bytes())
        .expect("a generated key can sign");
    format!("{signing_input}.{}", base64url(&sig))
}

/// Base64url without padding (RFC 4648 §5).
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for k in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * k)) & 0x3f) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64url(i.as_bytes()), o);
        }
    }

    #[test]
    fn jwt_signature_verifies_with_the_issuer_key() {
        let op = Operator::new("O");
        let acct = op.account("A");
        let user = acct.user("U");
        let parts: Vec<&str> = user.jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert!(user.seed.starts_with("SU"));
        assert!(user.creds().contains(&user.jwt));
    }
}
