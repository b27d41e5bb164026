//! Subjects: validation, tokens and the reference matcher.
//!
//! A subject is a `.`-separated list of tokens. Facts (nats-server 2.9.10, see
//! `nats-protocol.md` §1.6):
//! - tokens are never empty (`.foo`, `foo.`, `foo..bar` are invalid);
//! - `*` matches exactly one token, `>` matches one or more and may only be the last token;
//! - wildcards count only as whole tokens: `foo*.bar` and `foo.>bar` are plain literals;
//! - ASCII whitespace (space, `\t`, `\n`, `\r`, form feed — the set nats-server rejects) is
//!   invalid anywhere; any other character, including other Unicode whitespace, vertical tab
//!   and NUL, is allowed (checked live: nats-server accepts them).
//!
//! These functions run per message when a client is pedantic, so none of them allocates.
//! All scanning is byte-wise: in UTF-8 every byte of a multi-byte character is `>= 0x80`, so
//! it can never be mistaken for `.`, `*`, `>` or whitespace.

use thiserror::Error;

/// The token separator.
pub const SEPARATOR: char = '.';
/// The single-token wildcard.
pub const SINGLE_WILDCARD: &str = "*";
/// The tail wildcard: one or more tokens, last token only.
pub const FULL_WILDCARD: &str = ">";

/// Why a subject (or a queue group name) was refused.
///
/// Unit variants only: validation sits on the per-message path and must not allocate. The
/// protocol layer maps any of these to `-ERR 'Invalid Subject'` (SUB),
/// `-ERR 'Invalid Publish Subject'` (pedantic PUB) or `-ERR 'Invalid Subscription'` (LS+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SubjectError {
    #[error("subject is empty")]
    Empty,
    #[error("subject has an empty token")]
    EmptyToken,
    #[error("subject contains whitespace")]
    Whitespace,
    #[error("'>' is only allowed as the last token")]
    FullWildcardNotLast,
    #[error("wildcards are not allowed in a publish subject")]
    Wildcard,
    #[error("queue group name is empty or contains whitespace")]
    InvalidQueue,
}

/// Checks a subscription subject (wildcards allowed), reporting why it is invalid.
pub fn validate_subject(subject: &str) -> Result<(), SubjectError> {
    scan(subject).map(|_| ())
}

/// Checks a publish subject (no wildcard tokens), reporting why it is invalid.
pub fn validate_literal_subject(subject: &str) -> Result<(), SubjectError> {
    match scan(subject)? {
        false => Ok(()),
        true => Err(SubjectError::Wildcard),
    }
}

/// Whether `subject` is valid for SUB and LS+ (wildcards allowed).
pub fn is_valid_subject(subject: &str) -> bool {
    scan(subject).is_ok()
}

/// Whether `subject` is valid for a pedantic PUB: valid and without wildcard tokens.
pub fn is_valid_literal_subject(subject: &str) -> bool {
    matches!(scan(subject), Ok(false))
}

/// Whether `token` is a valid single token: non-empty, no separator, no whitespace. `*` and
/// `>` are valid tokens.
pub fn is_valid_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b != b'.' && !b.is_ascii_whitespace())
}

/// Whether a queue group name can be stored and sent on the wire. nats-server does not
/// validate queue names beyond the protocol's own framing (`SUB q.x q.* 1` is accepted), so
/// only what the framing cannot carry is refused: empty names and whitespace.
pub fn is_valid_queue(queue: &str) -> bool {
    !queue.is_empty() && !queue.bytes().any(|b| b.is_ascii_whitespace())
}

/// Whether any token of `subject` is a wildcard (`*` or `>`). Does not validate.
pub fn has_wildcard(subject: &str) -> bool {
    let bytes = subject.as_bytes();
    // Wildcards are rare in practice: jump between candidate bytes instead of tokenizing.
    memchr::memchr2_iter(b'*', b'>', bytes).any(|i| {
        let starts = i == 0 || bytes[i - 1] == b'.';
        let ends = i + 1 == bytes.len() || bytes[i + 1] == b'.';
        starts && ends
    })
}

/// The tokens of `subject`, in order. Does not validate: an empty subject yields one empty
/// token, exactly like `str::split`.
pub fn tokens(subject: &str) -> Tokens<'_> {
    Tokens {
        inner: subject.split(SEPARATOR),
    }
}

/// Iterator over the tokens of a subject; see [`tokens`].
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    inner: std::str::Split<'a, char>,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        self.inner.next()
    }
}

impl<'a> DoubleEndedIterator for Tokens<'a> {
    fn next_back(&mut self) -> Option<&'a str> {
        self.inner.next_back()
    }
}

/// Whether subscription subject `filter` matches the published subject `literal`.
///
/// This is the reference matcher: the [`Sublist`](crate::sublist::Sublist) must agree with it
/// (a proptest checks that), and the control plane uses it for small sets. Tokens of
/// `literal` are always taken literally — a non-pedantic `PUB foo.*` is delivered to `foo.*`
/// and `foo.>` (whose wildcards match any token) but not to `foo.bar`, as in nats-server. A
/// `literal` with an empty token matches nothing. `filter` is not validated; an invalid one
/// simply fails to match or matches as its tokens dictate.
pub fn subject_matches(filter: &str, literal: &str) -> bool {
    if has_empty_token(literal) {
        return false;
    }
    let mut lit = tokens(literal);
    for f in tokens(filter) {
        match lit.next() {
            None => return false,
            Some(l) => match f {
                FULL_WILDCARD => return true,
                SINGLE_WILDCARD => {}
                _ if f == l => {}
                _ => return false,
            },
        }
    }
    lit.next().is_none()
}

/// Whether every subject matched by `inner` is also matched by `filter` (both may contain
/// wildcards). Used for permissions on wildcard subscriptions: `foo.>` covers `foo.*.bar`,
/// `foo.*` does not cover `foo.>`.
pub fn filter_covers(filter: &str, inner: &str) -> bool {
    let mut g = tokens(inner);
    for f in tokens(filter) {
        let Some(t) = g.next() else {
            return false;
        };
        match (f, t) {
            (FULL_WILDCARD, _) => return true,
            (_, FULL_WILDCARD) => return false,
            (SINGLE_WILDCARD, _) => {}
            (_, SINGLE_WILDCARD) => return false,
            _ if f == t => {}
            _ => return false,
        }
    }
    g.next().is_none()
}

/// Whether `subject` is empty or has an empty token (`.a`, `a.`, `a..b`). Such a published
/// subject matches nothing.
pub(crate) fn has_empty_token(subject: &str) -> bool {
    let b = subject.as_bytes();
    match (b.first(), b.last()) {
        (None, _) | (Some(b'.'), _) | (_, Some(b'.')) => true,
        _ => memchr::memmem::find(b, b"..").is_some(),
    }
}

/// One pass over the bytes: validates the subject as a subscription subject and reports
/// whether it contains a wildcard token.
fn scan(subject: &str) -> Result<bool, SubjectError> {
    let bytes = subject.as_bytes();
    if bytes.is_empty() {
        return Err(SubjectError::Empty);
    }
    let mut wildcard = false;
    let mut token_start = 0;
    // Set once a `>` token has been closed by a separator: any further token is an error.
    let mut after_full = false;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'.' {
            if after_full {
                return Err(SubjectError::FullWildcardNotLast);
            }
            match i - token_start {
                0 => return Err(SubjectError::EmptyToken),
                1 => match bytes[token_start] {
                    b'*' => wildcard = true,
                    b'>' => after_full = true,
                    _ => {}
                },
                _ => {}
            }
            token_start = i + 1;
        } else if b.is_ascii_whitespace() {
            return Err(SubjectError::Whitespace);
        }
    }
    if after_full {
        return Err(SubjectError::FullWildcardNotLast);
    }
    match bytes.len() - token_start {
        0 => Err(SubjectError::EmptyToken),
        1 if matches!(bytes[token_start], b'*' | b'>') => Ok(true),
        _ => Ok(wildcard),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_table() {
        use SubjectError::*;
        type Verdict = Result<(), SubjectError>;
        let table: &[(&str, Verdict, Verdict)] = &[
            // (subject, as subscription, as publish)
            ("foo", Ok(()), Ok(())),
            ("foo.bar.baz", Ok(()), Ok(())),
            ("*", Ok(()), Err(Wildcard)),
            (">", Ok(()), Err(Wildcard)),
            ("foo.*", Ok(()), Err(Wildcard)),
            ("foo.>", Ok(()), Err(Wildcard)),
            ("*.bar.>", Ok(()), Err(Wildcard)),
            ("foo.*.baz", Ok(()), Err(Wildcard)),
            ("foo*.bar", Ok(()), Ok(())),
            ("foo.>bar", Ok(()), Ok(())),
            ("foo.*bar", Ok(()), Ok(())),
            ("foo.**", Ok(()), Ok(())),
            ("foo.>>", Ok(()), Ok(())),
            ("a>.b", Ok(()), Ok(())),
            ("", Err(Empty), Err(Empty)),
            (".", Err(EmptyToken), Err(EmptyToken)),
            (".foo", Err(EmptyToken), Err(EmptyToken)),
            ("foo.", Err(EmptyToken), Err(EmptyToken)),
            ("foo..bar", Err(EmptyToken), Err(EmptyToken)),
            ("foo.*.", Err(EmptyToken), Err(EmptyToken)),
            (">.a", Err(FullWildcardNotLast), Err(FullWildcardNotLast)),
            (
                "foo.>.bar",
                Err(FullWildcardNotLast),
                Err(FullWildcardNotLast),
            ),
            ("foo.>.", Err(FullWildcardNotLast), Err(FullWildcardNotLast)),
            ("foo bar", Err(Whitespace), Err(Whitespace)),
            ("foo\tbar", Err(Whitespace), Err(Whitespace)),
            ("foo.\r", Err(Whitespace), Err(Whitespace)),
            ("\n", Err(Whitespace), Err(Whitespace)),
            ("a\x0cb", Err(Whitespace), Err(Whitespace)),
            // Accepted by nats-server 2.9.10 (checked live): not in its whitespace set.
            ("a\x0bb", Ok(()), Ok(())),
            ("a\0b", Ok(()), Ok(())),
            ("a\u{a0}b", Ok(()), Ok(())),
            ("żółw.日本.*", Ok(()), Err(Wildcard)),
            ("żółw.日本", Ok(()), Ok(())),
        ];
        for (subject, sub, publ) in table {
            assert_eq!(validate_subject(subject), *sub, "SUB {subject:?}");
            assert_eq!(validate_literal_subject(subject), *publ, "PUB {subject:?}");
            assert_eq!(is_valid_subject(subject), sub.is_ok(), "SUB {subject:?}");
            assert_eq!(
                is_valid_literal_subject(subject),
                publ.is_ok(),
                "PUB {subject:?}"
            );
        }
    }

    #[test]
    fn token_rules() {
        for ok in ["a", "*", ">", "foo*", "日本", "a\0"] {
            assert!(is_valid_token(ok), "{ok:?}");
        }
        for bad in ["", ".", "a.b", "a b", "\t"] {
            assert!(!is_valid_token(bad), "{bad:?}");
        }
        assert!(is_valid_queue("q.*"));
        assert!(!is_valid_queue(""));
        assert!(!is_valid_queue("a b"));
    }

    #[test]
    fn wildcard_detection_counts_whole_tokens_only() {
        for yes in ["*", ">", "a.*", "a.>", "*.a", "a.*.b"] {
            assert!(has_wildcard(yes), "{yes:?}");
        }
        for no in ["", "a", "a*", "*a", "a.b>", ">a.b", "a.**", "a.>>.b"] {
            assert!(!has_wildcard(no), "{no:?}");
        }
    }

    #[test]
    fn tokens_split_on_dots() {
        assert_eq!(tokens("a.b.c").collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(tokens("a").collect::<Vec<_>>(), ["a"]);
        assert_eq!(tokens("a..b").collect::<Vec<_>>(), ["a", "", "b"]);
        assert_eq!(tokens("a.b").next_back(), Some("b"));
    }

    #[test]
    fn live_matching_sample() {
        // nats-protocol.md §1.6, observed on nats-server 2.9.10.
        let subs = ["a.*", "a.>", ">", "*.b.*"];
        let matched = |literal: &str| -> Vec<&str> {
            subs.iter()
                .copied()
                .filter(|f| subject_matches(f, literal))
                .collect()
        };
        assert_eq!(matched("a.b"), ["a.*", "a.>", ">"]);
        assert_eq!(matched("a.b.c"), ["a.>", ">", "*.b.*"]);
        assert_eq!(matched("a"), [">"]);
    }

    #[test]
    fn matcher_edges() {
        assert!(subject_matches("foo", "foo"));
        assert!(!subject_matches("foo", "foo.bar"));
        assert!(!subject_matches("foo.bar", "foo"));
        assert!(!subject_matches("foo.>", "foo"));
        assert!(subject_matches("foo.>", "foo.a.b.c"));
        assert!(!subject_matches("*", "a.b"));
        assert!(subject_matches("*.*", "a.b"));
        // Literal-looking wildcards in a filter are plain tokens.
        assert!(subject_matches("foo*", "foo*"));
        assert!(!subject_matches("foo*", "foox"));
        // Non-pedantic PUB of a wildcard subject: its tokens are literal.
        assert!(subject_matches("foo.*", "foo.*"));
        assert!(subject_matches(">", "foo.>"));
        assert!(!subject_matches("foo.bar", "foo.*"));
        // Empty tokens in the published subject match nothing, not even `>`.
        assert!(!subject_matches(">", "foo..bar"));
        assert!(!subject_matches(">", ""));
        assert!(!subject_matches(">", ".a"));
        assert!(!subject_matches("a.>", "a."));
    }

    #[test]
    fn covering() {
        assert!(filter_covers(">", "a.*"));
        assert!(filter_covers("foo.>", "foo.*.bar"));
        assert!(filter_covers("foo.>", "foo.>"));
        assert!(filter_covers("foo.*", "foo.*"));
        assert!(filter_covers("foo.*", "foo.bar"));
        assert!(filter_covers("foo.bar", "foo.bar"));
        assert!(!filter_covers("foo.*", "foo.>"));
        assert!(!filter_covers("foo.bar", "foo.*"));
        assert!(!filter_covers("foo.>", "foo"));
        assert!(!filter_covers("foo", "foo.bar"));
        assert!(!filter_covers("foo.bar", "foo"));
    }
}
