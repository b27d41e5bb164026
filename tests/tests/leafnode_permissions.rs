//! Permissions on leafnode links, as nats-server 2.9.10 applies them (measured with two real
//! nats-servers; see `core/src/leaf/perms.rs`):
//!
//! - a hub whose leaf user has permissions announces only what the user may publish, sends
//!   only what it may subscribe to, and answers a literal `LS+` outside the subscribe rules
//!   with `-ERR 'Permissions Violation for Subscription to "S"'` and a close;
//! - a leaf applies the hub's `import`/`export` plus its remote's `deny_imports` /
//!   `deny_exports` itself.
//!
//! In nats-server 2.9.10 a leaf user gets permissions only as a client user: a hub without
//! `leafnodes { authorization }` authenticates leafs against its `authorization` users.
//! The hub configs here use that form, so the same tests validate against nats-server
//! (`REJOIN_TEST_SERVER=nats-server`). rejoin also accepts `permissions` on `leafnodes {
//! authorization { users } }` (nats-server refuses the key); one rejoin-only test covers it.

use std::net::SocketAddr;
use std::time::Duration;

use async_nats::Client;
use bytes::Bytes;
use futures::StreamExt;
use rejoin_tests::client::try_next_msg;
use rejoin_tests::leafnode::{connect, leaf_conf, start, start_hub, wait_links, Role};
use rejoin_tests::{rejoin_only, require_nats_server, RawClient, ReadError, ServerKind, WAIT};

/// The leaf user of the nats-server experiment: publish `up.>`, subscribe `down.>` minus
/// `down.secret`.
const LEAF_PERMS: &str =
    "permissions: { publish: { allow: [\"up.>\"] }, subscribe: { allow: [\"down.>\"], deny: [\"down.secret\"] } }";

/// A hub that authenticates leafs as client users (`lu` restricted, `app` not).
fn hub_conf(port: u16) -> String {
    format!(
        "server_name: hub\nauthorization {{\n  users: [\n    {{ user: lu, password: lp, {LEAF_PERMS} }}\n    \
         {{ user: app, password: app }}\n  ]\n}}\nleafnodes {{\n  listen: \"127.0.0.1:{port}\"\n}}\n"
    )
}

async fn app_client(url: String) -> Client {
    async_nats::ConnectOptions::with_user_and_password("app".into(), "app".into())
        .connection_timeout(WAIT)
        .connect(url)
        .await
        .expect("connect as app")
}

/// Publishes on `subject` from `publisher` every 25 ms until `sub` receives one (bounded by
/// [`WAIT`]): the interest crossed. The probes must be allowed by the permissions, so the
/// generic probe subjects of the harness cannot be used here.
async fn cross(sub: &mut async_nats::Subscriber, publisher: &Client, subject: &str) {
    let end = std::time::Instant::now() + WAIT;
    loop {
        publisher
            .publish(subject.to_string(), Bytes::new())
            .await
            .unwrap();
        publisher.flush().await.unwrap();
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(25), sub.next()).await {
            // Drain the other probes in flight.
            while tokio::time::timeout(Duration::from_millis(100), sub.next())
                .await
                .is_ok_and(|m| m.is_some())
            {}
            return;
        }
        assert!(
            std::time::Instant::now() < end,
            "{subject} never crossed the link"
        );
    }
}

/// Publishes `forbidden` subjects then `marker` on one connection, and waits for `marker`
/// on `marker_sub`: the links keep order, so whatever of the forbidden ones was going to
/// cross has crossed by then.
async fn publish_then_marker(
    publisher: &Client,
    forbidden: &[&str],
    marker: &str,
    marker_sub: &mut async_nats::Subscriber,
) {
    for s in forbidden {
        publisher.publish(s.to_string(), "no".into()).await.unwrap();
    }
    publisher
        .publish(marker.to_string(), "yes".into())
        .await
        .unwrap();
    publisher.flush().await.unwrap();
    let msg = tokio::time::timeout(WAIT, marker_sub.next())
        .await
        .expect("marker timed out")
        .expect("marker subscription ended");
    assert_eq!(msg.payload, "yes".as_bytes());
}

#[tokio::test]
async fn nats_server_leaf_with_a_restricted_user_gets_only_what_it_may() {
    require_nats_server!();
    let (hub, port) = start_hub(Role::UnderTest.kind(), hub_conf);
    let leaf = start(
        ServerKind::NatsServer,
        &leaf_conf(
            "leaf",
            &[format!("{{ url: \"nats-leaf://lu:lp@127.0.0.1:{port}\" }}")],
            "",
        ),
    );
    wait_links(&hub, 1);
    wait_links(&leaf, 1);
    let on_hub = app_client(hub.url()).await;
    let on_leaf = connect(&leaf).await;

    // Hub -> leaf: only what the leaf user may subscribe to.
    let mut marker = on_leaf.subscribe("down.marker").await.unwrap();
    let mut secret = on_leaf.subscribe("down.secret").await.unwrap();
    let mut other = on_leaf.subscribe("other.x").await.unwrap();
    let mut wide = on_leaf.subscribe("down.*").await.unwrap();
    cross(&mut marker, &on_hub, "down.marker").await;
    while try_next_msg(&mut wide).is_some() {}
    publish_then_marker(
        &on_hub,
        &["down.secret", "other.x"],
        "down.marker",
        &mut marker,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        try_next_msg(&mut secret).is_none(),
        "down.secret reached the leaf"
    );
    assert!(
        try_next_msg(&mut other).is_none(),
        "other.x reached the leaf"
    );
    let wide_got: Vec<String> = std::iter::from_fn(|| try_next_msg(&mut wide))
        .map(|m| m.subject.to_string())
        .collect();
    assert_eq!(wide_got, ["down.marker"], "down.* on the leaf");

    // Leaf -> hub: only what the leaf user may publish.
    let mut marker = on_hub.subscribe("up.marker").await.unwrap();
    let mut nope = on_hub.subscribe("nope.x").await.unwrap();
    cross(&mut marker, &on_leaf, "up.marker").await;
    publish_then_marker(&on_leaf, &["nope.x"], "up.marker", &mut marker).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(try_next_msg(&mut nope).is_none(), "nope.x reached the hub");
}

/// A leaf speaking the protocol by hand, logged in as `user`/`pass`.
fn raw_leaf(addr: SocketAddr, connect: &str) -> RawClient {
    let mut leaf = RawClient::connect(addr);
    let info = leaf.read_line(WAIT).expect("INFO");
    assert!(info.starts_with("INFO "), "{info}");
    leaf.send(format!("CONNECT {connect}\r\n"));
    let second = leaf.read_line(WAIT).expect("connect_info INFO");
    assert!(second.contains("\"connect_info\":true"), "{second}");
    leaf
}

const LU: &str = r#"{"user":"lu","pass":"lp","name":"raw","headers":false}"#;

/// Reads lines until `want` (true) or a close / `-ERR` (false: returns what was read).
fn read_until(leaf: &mut RawClient, want: &str) -> Result<Vec<String>, Vec<String>> {
    let mut seen = Vec::new();
    loop {
        match leaf.read_line(WAIT) {
            Ok(line) if line == want => return Ok(seen),
            Ok(line) => seen.push(line),
            Err(ReadError::Closed(_)) => {
                seen.push("<closed>".into());
                return Err(seen);
            }
            Err(e) => panic!("{e}; read so far: {seen:?}"),
        }
    }
}

fn assert_violation(leaf: &mut RawClient, subject: &str) {
    let want = format!("-ERR 'Permissions Violation for Subscription to \"{subject}\"'");
    let seen = read_until(leaf, &want).unwrap_or_else(|seen| panic!("no {want}: {seen:?}"));
    assert!(
        seen.iter().all(|l| l.starts_with("LS") || l == "PONG"),
        "{seen:?}"
    );
    match leaf.read_line(WAIT) {
        Err(ReadError::Closed(_)) => {}
        other => panic!("the hub kept the link after the violation: {other:?}"),
    }
}

#[test]
fn literal_interest_outside_the_subscribe_rules_closes_the_link() {
    let (hub, port) = start_hub(Role::UnderTest.kind(), hub_conf);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    for (ls, subject) in [
        ("LS+ other.x", "other.x"),
        ("LS+ down.secret", "down.secret"),
        ("LS+ other.q workers 1", "other.q"),
        ("LS+ $foo.bar", "$foo.bar"),
    ] {
        let mut leaf = raw_leaf(addr, LU);
        leaf.send(format!("LS+ down.ok\r\n{ls}\r\nPING\r\n"));
        assert_violation(&mut leaf, subject);
    }
    drop(hub);
}

#[tokio::test]
async fn wildcard_interest_is_accepted_and_each_message_checked() {
    let (hub, port) = start_hub(Role::UnderTest.kind(), hub_conf);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut leaf = raw_leaf(addr, LU);
    leaf.send("LS+ down.*\r\nLS+ >\r\nPING\r\n");
    read_until(&mut leaf, "PONG").expect("the link stays up");
    let publisher = app_client(hub.url()).await;
    for s in ["other.a", "down.secret", "down.a"] {
        publisher.publish(s.to_string(), "z".into()).await.unwrap();
    }
    publisher.flush().await.unwrap();
    let seen = read_until(&mut leaf, "LMSG down.a 1").expect("down.a arrives");
    assert!(
        seen.iter().all(|l| !l.starts_with("LMSG")),
        "forbidden messages crossed: {seen:?}"
    );
}

#[tokio::test]
async fn hub_announces_only_what_the_leaf_may_publish() {
    let (hub, port) = start_hub(Role::UnderTest.kind(), hub_conf);
    let on_hub = app_client(hub.url()).await;
    let _a = on_hub.subscribe("up.a").await.unwrap();
    let _b = on_hub.subscribe("nope.b").await.unwrap();
    on_hub.flush().await.unwrap();
    let mut leaf = raw_leaf(SocketAddr::from(([127, 0, 0, 1], port)), LU);
    let _c = on_hub.subscribe("nope.c").await.unwrap();
    let _d = on_hub.subscribe("up.d").await.unwrap();
    on_hub.flush().await.unwrap();
    let seen = read_until(&mut leaf, "LS+ up.d").expect("later interest arrives");
    assert!(seen.iter().any(|l| l == "LS+ up.a"), "{seen:?}");
    assert!(
        seen.iter().all(|l| !l.contains("nope.")),
        "interest the leaf may not publish to was announced: {seen:?}"
    );
}

#[tokio::test]
async fn leaf_deny_pub_is_honoured_by_the_hub() {
    let (hub, port) = start_hub(Role::UnderTest.kind(), |port| {
        format!("server_name: hub\nleafnodes {{\n  listen: \"127.0.0.1:{port}\"\n}}\n")
    });
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deny = r#"{"name":"rawj","deny_pub":["down.x"]}"#;
    let mut leaf = raw_leaf(addr, deny);
    leaf.send("LS+ down.>\r\nPING\r\n");
    read_until(&mut leaf, "PONG").expect("the link stays up");
    let publisher = connect(&hub).await;
    for s in ["down.x", "down.z"] {
        publisher.publish(s.to_string(), "z".into()).await.unwrap();
    }
    publisher.flush().await.unwrap();
    let seen = read_until(&mut leaf, "LMSG down.z 1").expect("down.z arrives");
    assert!(seen.iter().all(|l| !l.starts_with("LMSG")), "{seen:?}");
    drop(leaf);
    let deny = r#"{"name":"rawj2","deny_pub":["down.x"]}"#;
    let mut leaf = raw_leaf(addr, deny);
    leaf.send("LS+ down.x\r\nPING\r\n");
    assert_violation(&mut leaf, "down.x");
}

#[test]
fn permissions_on_leafnodes_users_are_a_rejoin_extension() {
    rejoin_only!("nats-server 2.9.10 refuses `permissions` in leafnodes authorization users");
    let (_hub, port) = start_hub(ServerKind::Rejoin, |port| {
        format!(
            "server_name: hub\nleafnodes {{\n  listen: \"127.0.0.1:{port}\"\n  authorization {{\n    \
             users: [ {{ user: lu, password: lp, {LEAF_PERMS} }} ]\n  }}\n}}\n"
        )
    });
    let mut leaf = raw_leaf(SocketAddr::from(([127, 0, 0, 1], port)), LU);
    leaf.send("LS+ other.x\r\nPING\r\n");
    assert_violation(&mut leaf, "other.x");
}

/// A rejoin leaf with `deny_imports`/`deny_exports` against a real nats-server hub.
#[tokio::test]
async fn remote_deny_imports_and_exports_against_a_nats_server_hub() {
    require_nats_server!();
    let (hub, port) = start_hub(ServerKind::NatsServer, |port| {
        format!("server_name: hub\nleafnodes {{\n  listen: \"127.0.0.1:{port}\"\n}}\n")
    });
    let remote = format!(
        "{{ url: \"nats-leaf://127.0.0.1:{port}\", deny_imports: [\"private.in\"], deny_exports: [\"private.out\", \"secret.>\"] }}"
    );
    let leaf = start(Role::UnderTest.kind(), &leaf_conf("leaf", &[remote], ""));
    wait_links(&hub, 1);
    wait_links(&leaf, 1);
    let on_hub = connect(&hub).await;
    let on_leaf = connect(&leaf).await;

    // Imports: the hub never sends private.in.
    let mut marker = on_leaf.subscribe("public.in").await.unwrap();
    let mut denied = on_leaf.subscribe("private.in").await.unwrap();
    let mut wide = on_leaf.subscribe("private.*").await.unwrap();
    cross(&mut marker, &on_hub, "public.in").await;
    // The wildcard's interest went before the marker's, on the same connection.
    publish_then_marker(
        &on_hub,
        &["private.in", "private.ok"],
        "public.in",
        &mut marker,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        try_next_msg(&mut denied).is_none(),
        "private.in was imported"
    );
    let wide_got: Vec<String> = std::iter::from_fn(|| try_next_msg(&mut wide))
        .map(|m| m.subject.to_string())
        .collect();
    assert_eq!(wide_got, ["private.ok"]);

    // Exports: the leaf never sends private.out or secret.>.
    let mut marker = on_hub.subscribe("public.out").await.unwrap();
    let mut denied = on_hub.subscribe("private.out").await.unwrap();
    let mut secret = on_hub.subscribe("secret.>").await.unwrap();
    cross(&mut marker, &on_leaf, "public.out").await;
    publish_then_marker(
        &on_leaf,
        &["private.out", "secret.a.b"],
        "public.out",
        &mut marker,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        try_next_msg(&mut denied).is_none(),
        "private.out was exported"
    );
    assert!(
        try_next_msg(&mut secret).is_none(),
        "secret.a.b was exported"
    );
}
