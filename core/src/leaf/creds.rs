//! User credentials for a leafnode remote (`credentials: "/path/user.creds"`): the user JWT
//! and nkey seed of NATS's decorated creds format, and the nonce signature they make.
//!
//! A creds file holds two blocks, each a dashed marker line, one content line and a closing
//! dashed marker line:
//! ```text
//! -----BEGIN NATS USER JWT-----
//! eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ...
//! ------END NATS USER JWT------
//!
//! -----BEGIN USER NKEY SEED-----
//! SUAM...
//! ------END USER NKEY SEED------
//! ```
//! Like nats-server, the first block is taken as the JWT and the second as the seed,
//! whatever their marker text says. The hub checks the JWT's chain of trust; the leaf only
//! proves it holds the seed by signing the nonce of the hub's INFO (ed25519, sent
//! base64url-encoded without padding as CONNECT `sig`).
//!
//! Reading the file is the shell's job; this module only parses its text.

use std::fmt;

use nkeys::KeyPair;

/// Why a creds file's text was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredsError {
    /// Fewer than two decorated blocks.
    #[error("credentials file malformed: expected a user JWT block and a seed block, found {0} block(s)")]
    Malformed(usize),
    /// The second block is not an nkey seed.
    #[error("credentials file has a malformed seed: {0}")]
    BadSeed(String),
    /// Signing failed (the key pair cannot sign).
    #[error("signing the nonce failed: {0}")]
    Sign(String),
}

/// A parsed creds file: the JWT to present and the key that signs nonces.
pub struct UserCreds {
    jwt: String,
    key: KeyPair,
}

/// Shows the JWT's length and the public key only: a seed must never reach a log.
impl fmt::Debug for UserCreds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserCreds")
            .field("jwt_len", &self.jwt.len())
            .field("public_key", &self.key.public_key())
            .finish()
    }
}

impl UserCreds {
    /// Parse the text of a creds file.
    pub fn parse(text: &str) -> Result<Self, CredsError> {
        let blocks = decorated_blocks(text);
        let [jwt, seed, ..] = blocks.as_slice() else {
            return Err(CredsError::Malformed(blocks.len()));
        };
        let key = KeyPair::from_seed(seed).map_err(|e| CredsError::BadSeed(e.to_string()))?;
        Ok(UserCreds {
            jwt: jwt.to_string(),
            key,
        })
    }

    /// From a JWT and a seed given separately.
    pub fn new(jwt: impl Into<String>, seed: &str) -> Result<Self, CredsError> {
        let key = KeyPair::from_seed(seed).map_err(|e| CredsError::BadSeed(e.to_string()))?;
        Ok(UserCreds {
            jwt: jwt.into(),
            key,
        })
    }

    /// The user JWT, sent as CONNECT `jwt`.
    pub fn jwt(&self) -> &str {
        &self.jwt
    }

    /// The public key of the seed.
    pub fn public_key(&self) -> String {
        self.key.public_key()
    }

    /// The CONNECT `sig` for the hub's `nonce`: ed25519 over the nonce's bytes as sent,
    /// base64url without padding. A hub that sent no nonce gets a signature of nothing, as
    /// nats-server's leaf does.
    pub fn sign(&self, nonce: &str) -> Result<String, CredsError> {
        let raw = self
            .key
            .sign(nonce.as_bytes())
            .map_err(|e| CredsError::Sign(e.to_string()))?;
        Ok(base64url(&raw))
    }
}

fn is_marker(line: &str) -> bool {
    line.len() >= 6 && line.starts_with("---") && line.ends_with("---")
}

/// The content line of every `marker / content / marker` triple, in order.
fn decorated_blocks(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 2 < lines.len() {
        if is_marker(lines[i])
            && !lines[i + 1].is_empty()
            && !is_marker(lines[i + 1])
            && is_marker(lines[i + 2])
        {
            out.push(lines[i + 1]);
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}

/// Base64url without padding (RFC 4648 §5), as NATS encodes signatures and JWT parts.
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let emit = chunk.len() + 1;
        for k in 0..emit {
            let idx = (n >> (18 - 6 * k)) & 0x3f;
            out.push(char::from(ALPHABET[idx as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> KeyPair {
        KeyPair::new_from_raw(nkeys::KeyPairType::User, [7u8; 32]).unwrap()
    }

    fn creds_text(jwt: &str, seed: &str, newline: &str) -> String {
        [
            "-----BEGIN NATS USER JWT-----",
            jwt,
            "------END NATS USER JWT------",
            "",
            "************************* IMPORTANT *************************",
            "NKEY Seed printed below can be used to sign and prove identity.",
            "",
            "-----BEGIN USER NKEY SEED-----",
            seed,
            "------END USER NKEY SEED------",
            "",
        ]
        .join(newline)
    }

    #[test]
    fn parses_the_decorated_format_and_signs_the_nonce() {
        let kp = key();
        for nl in ["\n", "\r\n"] {
            let c = UserCreds::parse(&creds_text(
                "eyJhbGc.eyJzdWI.sig-_",
                &kp.seed().unwrap(),
                nl,
            ))
            .unwrap();
            assert_eq!(c.jwt(), "eyJhbGc.eyJzdWI.sig-_");
            assert_eq!(c.public_key(), kp.public_key());
            let sig = c.sign("lHy8hfpP4PwXUj4").unwrap();
            assert!(!sig.contains('=') && !sig.contains('+') && !sig.contains('/'));
            let raw = base64url_decode(&sig);
            assert_eq!(raw.len(), 64);
            kp.verify(b"lHy8hfpP4PwXUj4", &raw).unwrap();
            assert!(kp.verify(b"other nonce", &raw).is_err());
        }
    }

    #[test]
    fn refuses_garbage_without_panicking() {
        assert_eq!(UserCreds::parse("").unwrap_err(), CredsError::Malformed(0));
        assert_eq!(
            UserCreds::parse("just a jwt\n").unwrap_err(),
            CredsError::Malformed(0)
        );
        let one = "-----BEGIN NATS USER JWT-----\neyJ\n------END NATS USER JWT------\n";
        assert_eq!(UserCreds::parse(one).unwrap_err(), CredsError::Malformed(1));
        let bad_seed = creds_text("eyJ", "SUNOTASEED", "\n");
        assert!(matches!(
            UserCreds::parse(&bad_seed),
            Err(CredsError::BadSeed(_))
        ));
        assert!(UserCreds::parse("\u{0}\u{ff}-----\n---x---\n").is_err());
    }

    #[test]
    fn debug_never_shows_the_seed() {
        let kp = key();
        let seed = kp.seed().unwrap();
        let c = UserCreds::new("eyJ", &seed).unwrap();
        assert!(!format!("{c:?}").contains(&seed));
    }

    #[test]
    fn base64url_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, want) in cases {
            assert_eq!(base64url(input.as_bytes()), want);
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    fn base64url_decode(s: &str) -> Vec<u8> {
        let val = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            _ => 63,
        };
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = Vec::new();
        for c in s.bytes() {
            bits = (bits << 6) | u32::from(val(c));
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
            }
        }
        out
    }
}
