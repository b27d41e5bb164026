//! Parse errors on the wire, and the exact `-ERR` texts nats-server 2.9.10 sends.
//!
//! Every parse error ends the connection; they differ only in whether nats-server says why
//! first. Many malformed lines (bad `PUB`/`SUB` arguments, a header size above the total)
//! close the socket with no `-ERR` at all, and clients react differently to an `-ERR` than to
//! a bare close (nats-py reconnects on both, but logs the text), so [`ProtoError::err_text`]
//! reproduces nats-server's choice per case rather than always explaining.

/// Why a buffer could not be parsed. The connection must be closed after any of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// Not an operation of this dialect, or an operation name not followed by the separator
    /// it needs (`PUB\r\n`, `SUBfoo`).
    #[error("unknown protocol operation")]
    UnknownOp,
    /// The payload was not followed by exactly `\r\n`. nats-server reports this as an
    /// unknown operation, because its parser is back at the start of a line when it fails.
    #[error("payload not followed by CRLF")]
    PayloadTerminator,
    /// The arguments of a control line exceed `max_control_line`, whether or not its line
    /// end has arrived yet.
    #[error("maximum control line exceeded")]
    ControlLineTooLong,
    /// A message's declared size (total size for header messages) exceeds `max_payload`.
    /// Decided from the control line alone, before any of the body arrives.
    #[error("maximum payload exceeded")]
    PayloadTooLarge,
    /// Wrong number of arguments or an unparsable size; names the operation.
    #[error("bad {0} arguments")]
    BadArgs(&'static str),
    /// A header message whose header size is larger than its total size.
    #[error("header size larger than total size")]
    BadHeaderSize,
    /// A subject, reply, sid, queue or error text that is not UTF-8.
    #[error("argument is not valid UTF-8")]
    InvalidUtf8,
}

impl ProtoError {
    /// The exact text nats-server puts after `-ERR ` (quotes included) before closing, or
    /// `None` when it closes silently.
    pub fn err_text(&self) -> Option<&'static str> {
        match self {
            ProtoError::UnknownOp | ProtoError::PayloadTerminator => Some(texts::UNKNOWN_OP),
            ProtoError::ControlLineTooLong => Some(texts::MAX_CONTROL_LINE),
            ProtoError::PayloadTooLarge => Some(texts::MAX_PAYLOAD),
            ProtoError::BadArgs(_) | ProtoError::BadHeaderSize | ProtoError::InvalidUtf8 => None,
        }
    }

    /// Whether the connection must be closed. Always true for parse errors: after one the
    /// parser no longer knows where the next operation starts.
    pub fn closes(&self) -> bool {
        true
    }
}

/// `-ERR` texts exactly as nats-server 2.9.10 sends them, single quotes included, so they
/// can be written verbatim with [`crate::proto::encode::err`].
pub mod texts {
    /// Unknown op, an op not valid on this connection, or a bad payload terminator. Closes.
    pub const UNKNOWN_OP: &str = "'Unknown Protocol Operation'";
    /// Bad or missing credentials, or any op before CONNECT when auth is on. Closes.
    pub const AUTH_VIOLATION: &str = "'Authorization Violation'";
    /// No CONNECT within the auth timeout. Closes.
    pub const AUTH_TIMEOUT: &str = "'Authentication Timeout'";
    /// Message size above max_payload. Closes.
    pub const MAX_PAYLOAD: &str = "'Maximum Payload Violation'";
    /// Control line above max_control_line. Closes.
    pub const MAX_CONTROL_LINE: &str = "'maximum control line exceeded'";
    /// CONNECT `protocol` outside 0..=1. Closes.
    pub const INVALID_CLIENT_PROTOCOL: &str = "'invalid client protocol'";
    /// CONNECT `no_responders` without `headers`. Closes.
    pub const NO_RESPONDERS_REQUIRES_HEADERS: &str = "'no responders requires headers support'";
    /// ping_max PINGs unanswered. Closes.
    pub const STALE_CONNECTION: &str = "'Stale Connection'";
    /// max_connections reached. Closes.
    pub const MAX_CONNECTIONS: &str = "'maximum connections exceeded'";
    /// TLS handshake not completed in time. Closes.
    pub const TLS_REQUIRED: &str = "'Secure Connection - TLS Required'";
    /// SUB with an invalid subject. Connection stays open.
    pub const INVALID_SUBJECT: &str = "'Invalid Subject'";
    /// Pedantic PUB to an invalid subject. Connection stays open.
    pub const INVALID_PUBLISH_SUBJECT: &str = "'Invalid Publish Subject'";
    /// max_subscriptions reached. Connection stays open.
    pub const MAX_SUBSCRIPTIONS: &str = "'maximum subscriptions exceeded'";
    /// Leaf: LS+ with an invalid subject. Connection stays open.
    pub const INVALID_SUBSCRIPTION: &str = "'Invalid Subscription'";
    /// Leaf: a client (CONNECT with `lang`) on the leafnode port. Closes.
    pub const CLIENT_ON_LEAF_PORT: &str = "'attempted to connect to leaf node port'";
    /// Leaf: the old connection of a replaced duplicate leaf. Closes.
    pub const DUPLICATE_LEAF: &str = "'Duplicate Remote LeafNode Connection'";
    /// Leaf: the remote's cluster name equals ours. Closes; the soliciting side waits 30 s.
    pub const SAME_CLUSTER_NAME: &str = "'remote leafnode has same cluster name'";
    /// Leaf: a cluster name with spaces in the leaf CONNECT. Closes.
    pub const CLUSTER_NAME_HAS_SPACES: &str = "'cluster name cannot contain spaces'";
    /// Leaf: sent by a soliciting nats-server that got no `connect_info` INFO within 2 s.
    pub const STALE_LEAF: &str = "'Stale Leaf Node Connection - Closing'";

    /// Publish permission refused (connection stays open for clients).
    pub fn publish_violation(subject: &str) -> String {
        format!("'Permissions Violation for Publish to \"{subject}\"'")
    }

    /// Subscribe permission refused (connection stays open for clients).
    pub fn subscribe_violation(subject: &str) -> String {
        format!("'Permissions Violation for Subscription to \"{subject}\"'")
    }

    /// Leaf: the peer announced our own `$LDS.` subject. Closes; the soliciting side waits
    /// 30 s before reconnecting.
    pub fn loop_detected(account: &str) -> String {
        format!("'Loop detected for leafnode account=\"{account}\". Delaying attempt to reconnect for 30s'")
    }

    /// Leaf: a gateway (CONNECT with `gateway`) on the leafnode port. Closes.
    pub fn gateway_on_leaf_port(gateway: &str) -> String {
        // nats-server formats the name with Go's %q; Rust's Debug quoting agrees for the
        // printable names gateways have.
        format!("'Rejecting connection from gateway {gateway:?} on the leafnode port'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_and_explained_errors_match_nats_server() {
        assert_eq!(
            ProtoError::UnknownOp.err_text(),
            Some("'Unknown Protocol Operation'")
        );
        assert_eq!(
            ProtoError::PayloadTerminator.err_text(),
            Some("'Unknown Protocol Operation'")
        );
        assert_eq!(
            ProtoError::ControlLineTooLong.err_text(),
            Some("'maximum control line exceeded'")
        );
        assert_eq!(
            ProtoError::PayloadTooLarge.err_text(),
            Some("'Maximum Payload Violation'")
        );
        assert_eq!(ProtoError::BadArgs("PUB").err_text(), None);
        assert_eq!(ProtoError::BadHeaderSize.err_text(), None);
        assert_eq!(ProtoError::InvalidUtf8.err_text(), None);
        assert!(ProtoError::BadArgs("SUB").closes());
    }

    #[test]
    fn formatted_texts() {
        assert_eq!(
            texts::publish_violation("nope"),
            "'Permissions Violation for Publish to \"nope\"'"
        );
        assert_eq!(
            texts::subscribe_violation("secret.x"),
            "'Permissions Violation for Subscription to \"secret.x\"'"
        );
        assert_eq!(
            texts::loop_detected("$G"),
            "'Loop detected for leafnode account=\"$G\". Delaying attempt to reconnect for 30s'"
        );
        assert_eq!(
            texts::gateway_on_leaf_port("gw1"),
            "'Rejecting connection from gateway \"gw1\" on the leafnode port'"
        );
    }
}
