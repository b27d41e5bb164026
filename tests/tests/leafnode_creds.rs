//! A rejoin leaf authenticating to a real nats-server 2.9.10 hub in operator mode with a
//! `.creds` file (remote `credentials`): the leaf presents the user JWT and signs the hub's
//! nonce with the user seed. Operator, account and user keys and JWTs are made at test time
//! ([`rejoin_tests::jwt`]); the hub trusts the operator and preloads the account.
//!
//! Under `REJOIN_TEST_SERVER=nats-server` the leaf is nats-server too, which checks these
//! expectations against nats-server↔nats-server.

use std::time::Duration;

use async_nats::{Client, ConnectOptions};
use rejoin_tests::client::next_msg;
use rejoin_tests::jwt::{creds_file, stranger_seed, Account, Operator};
use rejoin_tests::leafnode::{
    connect, leaf_conf, link_ports, log_count, start_hub, sync_interest, wait_for, wait_links, Role,
};
use rejoin_tests::{require_nats_server, ServerKind, TestServer, WAIT};

/// How long a refused leaf is watched: several reconnect intervals (the leaf's is 1 s).
const REFUSED_FOR: Duration = Duration::from_secs(3);

/// An operator-mode hub: every connection, leafs included, must present a JWT signed by
/// `account`, which is signed by `operator`.
fn start_operator_hub(operator: &Operator, account: &Account) -> (TestServer, u16) {
    start_hub(ServerKind::NatsServer, |port| {
        format!(
            "server_name: hub\noperator: {}\nresolver: MEMORY\n\
             resolver_preload {{\n  {}: {}\n}}\n\
             leafnodes {{\n  listen: \"127.0.0.1:{port}\"\n}}\n",
            operator.jwt,
            account.public_key(),
            account.jwt
        )
    })
}

/// A leaf whose one remote authenticates with the file `user.creds` next to its config.
fn start_leaf(hub_leaf_port: u16, creds: &str) -> TestServer {
    let remote = format!(
        "{{ url: \"nats-leaf://127.0.0.1:{hub_leaf_port}\", credentials: \"user.creds\" }}"
    );
    TestServer::builder(&leaf_conf("leaf", &[remote], ""))
        .kind(Role::UnderTest.kind())
        .http()
        .file("user.creds", creds)
        .start()
}

async fn hub_client(hub: &TestServer, creds: &str) -> Client {
    ConnectOptions::with_credentials(creds)
        .expect("test creds parse")
        .connection_timeout(WAIT)
        .connect(hub.url())
        .await
        .unwrap_or_else(|e| panic!("connect to the operator-mode hub: {e}"))
}

#[tokio::test]
async fn creds_file_authenticates_and_traffic_crosses_both_ways() {
    require_nats_server!();
    let operator = Operator::new("OP");
    let account = operator.account("EDGE");
    let leaf_user = account.user("leaf");
    let app_user = account.user("app");
    let (hub, hub_leaf_port) = start_operator_hub(&operator, &account);
    let leaf = start_leaf(hub_leaf_port, &leaf_user.creds());
    wait_links(&hub, 1);
    wait_links(&leaf, 1);

    let on_hub = hub_client(&hub, &app_user.creds()).await;
    let on_leaf = connect(&leaf).await;
    for (name, publisher, subscriber) in [("down", &on_hub, &on_leaf), ("up", &on_leaf, &on_hub)] {
        let subject = format!("creds.{name}");
        let mut sub = subscriber.subscribe(subject.clone()).await.unwrap();
        sync_interest(subscriber, publisher).await;
        for i in 0..5 {
            publisher
                .publish(subject.clone(), format!("{name}{i}").into())
                .await
                .unwrap();
        }
        publisher.flush().await.unwrap();
        for i in 0..5 {
            let msg = next_msg(&mut sub).await;
            assert_eq!(msg.payload, format!("{name}{i}").as_bytes(), "{name}");
        }
    }
}

/// The hub refuses the link; the leaf keeps dialing (observed as the hub logging one
/// refusal per attempt) and stays alive.
fn assert_refused_and_retrying(hub: &TestServer, leaf: &mut TestServer, needle: &str) {
    let first = wait_for(WAIT, &format!("{needle:?} in the leaf's log"), || {
        let n = log_count(leaf, needle);
        (n > 0).then_some(n)
    });
    wait_for(WAIT, "the leaf to retry", || {
        (log_count(leaf, needle) > first).then_some(())
    });
    let end = std::time::Instant::now() + REFUSED_FOR;
    while std::time::Instant::now() < end {
        assert!(link_ports(hub).is_empty(), "the hub accepted a bad leaf");
        assert!(
            link_ports(leaf).is_empty(),
            "the leaf linked with bad creds"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        leaf.wait_exit(Duration::from_millis(10)).is_none(),
        "the leaf exited:\n{}",
        leaf.log()
    );
    assert!(!leaf.log().contains("panicked"), "{}", leaf.log());
}

#[tokio::test]
async fn wrong_seed_is_refused_by_the_hub_and_retried() {
    require_nats_server!();
    let operator = Operator::new("OP");
    let account = operator.account("EDGE");
    let user = account.user("leaf");
    // A valid JWT, signed by the wrong key: the nonce signature does not match the JWT's
    // subject, so the hub answers 'Authorization Violation'.
    let creds = creds_file(&user.jwt, &stranger_seed());
    let (hub, hub_leaf_port) = start_operator_hub(&operator, &account);
    let mut leaf = start_leaf(hub_leaf_port, &creds);
    assert_refused_and_retrying(&hub, &mut leaf, "Authorization Violation");
}

#[tokio::test]
async fn garbage_creds_fail_each_attempt_without_panicking() {
    require_nats_server!();
    let operator = Operator::new("OP");
    let account = operator.account("EDGE");
    let (hub, hub_leaf_port) = start_operator_hub(&operator, &account);
    let needle = match Role::UnderTest.kind() {
        ServerKind::Rejoin => "credentials file \"user.creds\"",
        ServerKind::NatsServer => "Credentials file malformed",
    };
    for garbage in [
        "not a creds file\n".to_string(),
        creds_file("eyJhbGciOiJub25lIn0.e30.x", "SUNOTASEED"),
    ] {
        let mut leaf = start_leaf(hub_leaf_port, &garbage);
        let needle = if garbage.contains("SUNOTASEED") {
            match Role::UnderTest.kind() {
                ServerKind::Rejoin => "malformed seed",
                ServerKind::NatsServer => "malformed seed",
            }
        } else {
            needle
        };
        assert_refused_and_retrying(&hub, &mut leaf, needle);
    }
}
