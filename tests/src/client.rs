//! Helpers for tests that use async-nats as the real client.
//!
//! async-nats' `flush()` only drains the socket; it does not wait for the server. Tests that
//! subscribe on one connection and publish on another need the server to have processed the
//! SUB first, so [`barrier`] makes a full round trip through the server instead.

use async_nats::{Client, Message, RequestErrorKind, Subscriber};
use futures::StreamExt;

use crate::WAIT;

/// Subject prefix of the barrier requests, so tests that watch wide wildcards can skip them.
pub const BARRIER_PREFIX: &str = "_rejoin_barrier";

/// Returns once the server has processed everything `client` sent before the call.
///
/// It sends a request nobody listens to and waits for the no-responders status: the server
/// answers it only after handling the earlier operations of the same connection, in order.
pub async fn barrier(client: &Client) {
    let subject = format!("{BARRIER_PREFIX}.{}", client.new_inbox().replace('.', "_"));
    let request = client.request(subject, bytes::Bytes::new());
    match tokio::time::timeout(WAIT, request).await {
        Ok(Err(e)) if e.kind() == RequestErrorKind::NoResponders => {}
        Ok(Err(e)) => panic!("barrier request failed: {e}"),
        Ok(Ok(msg)) => panic!("barrier request was answered: {msg:?}"),
        Err(_) => panic!("barrier request got no no-responders reply within {WAIT:?}"),
    }
}

/// The next message of `sub` within [`WAIT`]; panics on timeout or a closed subscription.
pub async fn next_msg(sub: &mut Subscriber) -> Message {
    match tokio::time::timeout(WAIT, sub.next()).await {
        Ok(Some(msg)) => msg,
        Ok(None) => panic!("subscription ended while waiting for a message"),
        Err(_) => panic!("no message within {WAIT:?}"),
    }
}

/// Returns a message only if one is already queued locally (never waits).
///
/// Runs outside tokio's cooperative budget: with the budget, a channel that still holds
/// messages reports "pending" once the task has polled enough, which would make a drain loop
/// stop early.
pub fn try_next_msg(sub: &mut Subscriber) -> Option<Message> {
    futures::FutureExt::now_or_never(tokio::task::unconstrained(sub.next())).flatten()
}
