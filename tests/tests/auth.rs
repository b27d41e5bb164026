//! Client authentication and account isolation: user/password, token, user lists, accounts,
//! `no_auth_user`, the auth timeout, and operations sent before CONNECT.
//!
//! Rows `'Authorization Violation'` and `'Authentication Timeout'` of the error table live here.

use std::time::Duration;

use async_nats::{ConnectErrorKind, ConnectOptions};
use rejoin_tests::client::{barrier, next_msg};
use rejoin_tests::{RawClient, TestServer, WAIT};

const USER_PASSWORD: &str = "authorization { user: alice, password: s3cret }";
const TOKEN: &str = "authorization { token: \"t0k3n\" }";
const USERS: &str = r#"
authorization {
  users = [
    { user: alice, password: a1 }
    { user: bob, password: b2 }
  ]
}
"#;
const ACCOUNTS: &str = r#"
accounts {
  A { users = [ { user: a, password: a } ] }
  B { users = [ { user: b, password: b } ] }
}
"#;

fn options() -> ConnectOptions {
    ConnectOptions::new().connection_timeout(WAIT)
}

async fn expect_auth_failure(server: &TestServer, opts: ConnectOptions) {
    match opts.connect(server.url()).await {
        Ok(_) => panic!("connect should have been refused"),
        Err(e) => assert_eq!(
            e.kind(),
            ConnectErrorKind::AuthorizationViolation,
            "unexpected error: {e}"
        ),
    }
}

/// Publishes on `subject` from `publisher` and asserts `subscriber` gets it.
async fn assert_delivers(
    publisher: &async_nats::Client,
    subscriber: &async_nats::Client,
    subject: &str,
) {
    let mut sub = subscriber.subscribe(subject.to_string()).await.unwrap();
    barrier(subscriber).await;
    publisher
        .publish(subject.to_string(), "ping".into())
        .await
        .unwrap();
    publisher.flush().await.unwrap();
    let msg = next_msg(&mut sub).await;
    assert_eq!(&msg.payload[..], b"ping");
}

#[test]
fn info_announces_auth_required() {
    let server = TestServer::start(USER_PASSWORD);
    let info = RawClient::connect(server.addr()).read_info();
    assert_eq!(info["auth_required"], true, "{info}");
}

#[tokio::test]
async fn user_password_accepted() {
    let server = TestServer::start(USER_PASSWORD);
    let client = options()
        .user_and_password("alice".into(), "s3cret".into())
        .connect(server.url())
        .await
        .expect("valid credentials");
    assert_delivers(&client, &client, "auth.ok").await;
}

#[tokio::test]
async fn wrong_password_is_an_auth_error() {
    let server = TestServer::start(USER_PASSWORD);
    expect_auth_failure(
        &server,
        options().user_and_password("alice".into(), "wrong".into()),
    )
    .await;
    expect_auth_failure(&server, options()).await;
}

#[test]
fn wrong_password_raw_gets_authorization_violation() {
    let server = TestServer::start(USER_PASSWORD);
    let mut c = RawClient::connect(server.addr());
    c.read_info();
    c.send("CONNECT {\"verbose\":false,\"user\":\"alice\",\"pass\":\"wrong\"}\r\nPING\r\n");
    c.expect_err_and_close("Authorization Violation");
}

#[test]
fn missing_credentials_raw_gets_authorization_violation() {
    let server = TestServer::start(USER_PASSWORD);
    let mut c = RawClient::connect(server.addr());
    c.read_info();
    c.send("CONNECT {\"verbose\":false}\r\nPING\r\n");
    c.expect_err_and_close("Authorization Violation");
}

#[test]
fn operation_before_connect_with_auth_is_a_violation() {
    let server = TestServer::start(USER_PASSWORD);
    for op in ["PING\r\n", "SUB foo 1\r\n", "PUB foo 1\r\nx\r\n"] {
        let mut c = RawClient::connect(server.addr());
        c.read_info();
        c.send(op);
        c.expect_err_and_close("Authorization Violation");
    }
}

#[test]
fn no_connect_within_auth_timeout_closes() {
    let server = TestServer::start("authorization { user: alice, password: s3cret, timeout: 0.5 }");
    let mut c = RawClient::connect(server.addr());
    c.read_info();
    c.expect_err_and_close("Authentication Timeout");
}

#[test]
fn connect_in_time_is_not_timed_out() {
    let server = TestServer::start("authorization { user: alice, password: s3cret, timeout: 0.5 }");
    let (mut c, _) = RawClient::connect_with(
        server.addr(),
        r#"{"verbose":false,"user":"alice","pass":"s3cret"}"#,
    );
    // Twice the auth timeout: an authenticated connection must not be closed by that timer.
    c.expect_nothing(Duration::from_millis(1000));
    c.sync_clean();
}

#[tokio::test]
async fn token_accepted_and_wrong_token_refused() {
    let server = TestServer::start(TOKEN);
    let client = options()
        .token("t0k3n".into())
        .connect(server.url())
        .await
        .expect("valid token");
    assert_delivers(&client, &client, "token.ok").await;
    expect_auth_failure(&server, options().token("nope".into())).await;
}

#[test]
fn wrong_token_raw_gets_authorization_violation() {
    let server = TestServer::start(TOKEN);
    let mut c = RawClient::connect(server.addr());
    c.read_info();
    c.send("CONNECT {\"verbose\":false,\"auth_token\":\"nope\"}\r\nPING\r\n");
    c.expect_err_and_close("Authorization Violation");
}

#[tokio::test]
async fn every_listed_user_can_connect_and_share_messages() {
    let server = TestServer::start(USERS);
    let alice = options()
        .user_and_password("alice".into(), "a1".into())
        .connect(server.url())
        .await
        .expect("alice");
    let bob = options()
        .user_and_password("bob".into(), "b2".into())
        .connect(server.url())
        .await
        .expect("bob");
    // Users without accounts share the global account.
    assert_delivers(&alice, &bob, "users.shared").await;
    expect_auth_failure(
        &server,
        options().user_and_password("bob".into(), "a1".into()),
    )
    .await;
    expect_auth_failure(
        &server,
        options().user_and_password("carol".into(), "a1".into()),
    )
    .await;
}

#[tokio::test]
async fn accounts_are_isolated() {
    let server = TestServer::start(ACCOUNTS);
    let connect = |user: &'static str| {
        options()
            .user_and_password(user.into(), user.into())
            .connect(server.url())
    };
    let a_pub = connect("a").await.expect("a");
    let a_sub = connect("a").await.expect("a");
    let b_pub = connect("b").await.expect("b");
    let b_sub = connect("b").await.expect("b");

    let mut in_a = a_sub.subscribe("iso.x").await.unwrap();
    let mut in_b = b_sub.subscribe("iso.x").await.unwrap();
    barrier(&a_sub).await;
    barrier(&b_sub).await;

    a_pub.publish("iso.x", "from-a".into()).await.unwrap();
    barrier(&a_pub).await;
    let got = next_msg(&mut in_a).await;
    assert_eq!(&got.payload[..], b"from-a");

    // A's message has been routed by now; if it leaked into B it is ahead of B's own message.
    b_pub.publish("iso.x", "from-b".into()).await.unwrap();
    barrier(&b_pub).await;
    let got = next_msg(&mut in_b).await;
    assert_eq!(
        &got.payload[..],
        b"from-b",
        "account B saw account A's message"
    );

    // And the other direction.
    b_pub.publish("iso.x", "b-again".into()).await.unwrap();
    barrier(&b_pub).await;
    a_pub.publish("iso.x", "a-again".into()).await.unwrap();
    barrier(&a_pub).await;
    let got = next_msg(&mut in_a).await;
    assert_eq!(
        &got.payload[..],
        b"a-again",
        "account A saw account B's message"
    );
}

#[test]
fn accounts_isolate_wildcard_subscribers_too() {
    let server = TestServer::start(ACCOUNTS);
    let (mut b, _) =
        RawClient::connect_with(server.addr(), r#"{"verbose":false,"user":"b","pass":"b"}"#);
    b.send("SUB > 1\r\n");
    b.sync_clean();
    let (mut a, _) =
        RawClient::connect_with(server.addr(), r#"{"verbose":false,"user":"a","pass":"a"}"#);
    a.send("SUB > 1\r\nPUB any.thing 1\r\nx\r\n");
    a.expect_bytes(b"MSG any.thing 1 1\r\nx\r\n");
    b.send("PUB mine 1\r\ny\r\n");
    b.expect_bytes(b"MSG mine 1 1\r\ny\r\n");
    b.sync_clean();
}

#[tokio::test]
async fn no_auth_user_is_used_without_credentials() {
    let server = TestServer::start(&format!("{USERS}\nno_auth_user: bob\n"));
    let anonymous = options()
        .connect(server.url())
        .await
        .expect("no_auth_user admits clients without credentials");
    let alice = options()
        .user_and_password("alice".into(), "a1".into())
        .connect(server.url())
        .await
        .expect("explicit users still work");
    assert_delivers(&anonymous, &alice, "nau.x").await;
    assert_delivers(&alice, &anonymous, "nau.y").await;
    // Explicit but wrong credentials are not silently mapped to the no_auth_user.
    expect_auth_failure(
        &server,
        options().user_and_password("alice".into(), "wrong".into()),
    )
    .await;
}

#[tokio::test]
async fn no_auth_user_binds_to_its_account() {
    let server = TestServer::start(&format!("{ACCOUNTS}\nno_auth_user: b\n"));
    let anonymous = options().connect(server.url()).await.expect("anonymous");
    let b = options()
        .user_and_password("b".into(), "b".into())
        .connect(server.url())
        .await
        .expect("b");
    assert_delivers(&anonymous, &b, "nau.acct").await;
}
