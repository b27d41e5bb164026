//! The server as a stock async-nats 0.51 application sees it: connect, publish/subscribe,
//! wildcards, queue groups, request/reply, no responders, headers, max_payload, many
//! subscriptions, no-echo and the connection name.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::{ConnectOptions, HeaderMap, PublishErrorKind, RequestErrorKind};
use bytes::Bytes;
use futures::StreamExt;
use rejoin_tests::client::{barrier, next_msg, try_next_msg};
use rejoin_tests::{http_get, TestServer, WAIT};

async fn connect(server: &TestServer) -> async_nats::Client {
    ConnectOptions::new()
        .connection_timeout(WAIT)
        .connect(server.url())
        .await
        .expect("connect")
}

#[tokio::test]
async fn connects_and_reads_server_info() {
    let server = TestServer::start("");
    let client = connect(&server).await;
    let info = client.server_info();
    assert_eq!(info.max_payload, 1_048_576);
    assert!(info.headers);
    assert_eq!(info.port, server.port());
    assert!(!info.server_id.is_empty());
    assert!(client.max_payload() > 0);
}

#[tokio::test]
async fn publish_reaches_subscriber_on_another_connection() {
    let server = TestServer::start("");
    let subscriber = connect(&server).await;
    let publisher = connect(&server).await;
    let mut sub = subscriber.subscribe("greet.x").await.unwrap();
    barrier(&subscriber).await;
    for i in 0..10 {
        publisher
            .publish("greet.x", format!("hello {i}").into())
            .await
            .unwrap();
    }
    for i in 0..10 {
        let msg = next_msg(&mut sub).await;
        assert_eq!(msg.subject.as_str(), "greet.x");
        assert_eq!(msg.payload, Bytes::from(format!("hello {i}")), "order");
    }
}

#[tokio::test]
async fn wildcards_match_by_token() {
    let server = TestServer::start("");
    let subscriber = connect(&server).await;
    let publisher = connect(&server).await;
    let mut star = subscriber.subscribe("w.*").await.unwrap();
    let mut tail = subscriber.subscribe("w.>").await.unwrap();
    let mut middle = subscriber.subscribe("w.*.end").await.unwrap();
    barrier(&subscriber).await;
    for subject in ["w.a", "w.a.end", "w.a.b.c", "w", "x.a"] {
        publisher.publish(subject, subject.into()).await.unwrap();
    }
    // A marker published last: once it is in, everything before it has been delivered.
    publisher
        .publish("w.zz.end", "marker".into())
        .await
        .unwrap();
    assert_eq!(next_msg(&mut middle).await.subject.as_str(), "w.a.end");
    assert_eq!(next_msg(&mut middle).await.subject.as_str(), "w.zz.end");

    let drain = |sub: &mut async_nats::Subscriber| {
        let mut seen = Vec::new();
        while let Some(msg) = try_next_msg(sub) {
            seen.push(msg.subject.to_string());
        }
        seen
    };
    // `w.>` saw the marker too, so it has received everything published before.
    let mut tail_seen = Vec::new();
    while !tail_seen.iter().any(|s| s == "w.zz.end") {
        tail_seen.push(next_msg(&mut tail).await.subject.to_string());
    }
    tail_seen.extend(drain(&mut tail));
    assert_eq!(tail_seen, ["w.a", "w.a.end", "w.a.b.c", "w.zz.end"]);
    assert_eq!(drain(&mut star), ["w.a"]);
    assert!(drain(&mut middle).is_empty());
}

#[tokio::test]
async fn queue_groups_deliver_once_per_group_and_to_every_plain_subscriber() {
    const MESSAGES: usize = 100;
    let server = TestServer::start("");
    // All subscribers share one connection, so the server's delivery order on that connection
    // lets the final marker prove that every earlier message has been handed to its channel.
    let subscriber = connect(&server).await;
    let publisher = connect(&server).await;
    let mut plain = [
        subscriber.subscribe("jobs").await.unwrap(),
        subscriber.subscribe("jobs").await.unwrap(),
    ];
    let mut groups: Vec<Vec<async_nats::Subscriber>> = Vec::new();
    for group in ["g1", "g2"] {
        let mut members = Vec::new();
        for _ in 0..3 {
            members.push(
                subscriber
                    .queue_subscribe("jobs", group.to_string())
                    .await
                    .unwrap(),
            );
        }
        groups.push(members);
    }
    let mut marker = subscriber.subscribe("jobs.done").await.unwrap();
    barrier(&subscriber).await;

    for i in 0..MESSAGES {
        publisher
            .publish("jobs", i.to_string().into())
            .await
            .unwrap();
    }
    publisher.publish("jobs.done", "end".into()).await.unwrap();
    next_msg(&mut marker).await;

    for sub in plain.iter_mut() {
        let mut got = Vec::new();
        while let Some(msg) = try_next_msg(sub) {
            got.push(msg.payload);
        }
        let expected: Vec<Bytes> = (0..MESSAGES).map(|i| Bytes::from(i.to_string())).collect();
        assert_eq!(
            got, expected,
            "a plain subscriber gets every message in order"
        );
    }
    for (g, members) in groups.iter_mut().enumerate() {
        let mut owner: BTreeMap<Bytes, usize> = BTreeMap::new();
        for (m, member) in members.iter_mut().enumerate() {
            let mut count = 0;
            while let Some(msg) = try_next_msg(member) {
                assert!(
                    owner.insert(msg.payload.clone(), m).is_none(),
                    "group {g}: message {:?} delivered twice",
                    msg.payload
                );
                count += 1;
            }
            assert!(count > 0, "group {g} member {m} got none of {MESSAGES}");
        }
        assert_eq!(owner.len(), MESSAGES, "group {g} got every message once");
    }
}

#[tokio::test]
async fn request_reply_round_trips() {
    let server = TestServer::start("");
    let responder = connect(&server).await;
    let requester = connect(&server).await;
    let mut service = responder.subscribe("svc.echo").await.unwrap();
    barrier(&responder).await;
    let serve = tokio::spawn({
        let responder = responder.clone();
        async move {
            for _ in 0..20 {
                let Some(msg) = service.next().await else {
                    return;
                };
                let reply = msg.reply.expect("request has a reply subject");
                let mut answer = b"re:".to_vec();
                answer.extend_from_slice(&msg.payload);
                responder.publish(reply, answer.into()).await.unwrap();
            }
        }
    });
    let requests = (0..20).map(|i| {
        let requester = requester.clone();
        async move {
            let reply =
                tokio::time::timeout(WAIT, requester.request("svc.echo", format!("q{i}").into()))
                    .await
                    .expect("reply within WAIT")
                    .expect("request succeeds");
            assert_eq!(reply.payload, Bytes::from(format!("re:q{i}")));
        }
    });
    futures::future::join_all(requests).await;
    tokio::time::timeout(WAIT, serve).await.unwrap().unwrap();
}

#[tokio::test]
async fn request_without_responders_fails_fast_with_no_responders() {
    let server = TestServer::start("");
    // A request timeout far beyond WAIT: only the server's 503 status can end this request
    // in time, so a timeout here would show up as the wrong error kind.
    let client = ConnectOptions::new()
        .request_timeout(Some(Duration::from_secs(60)))
        .connect(server.url())
        .await
        .unwrap();
    let result = tokio::time::timeout(WAIT, client.request("nobody.home", "hi".into()))
        .await
        .expect("no-responders answer within WAIT");
    match result {
        Err(e) => assert_eq!(e.kind(), RequestErrorKind::NoResponders, "{e}"),
        Ok(msg) => panic!("unexpected reply {msg:?}"),
    }
}

#[tokio::test]
async fn headers_round_trip() {
    let server = TestServer::start("");
    let client = connect(&server).await;
    let mut sub = client.subscribe("hdr.x").await.unwrap();
    barrier(&client).await;
    let mut headers = HeaderMap::new();
    headers.insert("Trace-Id", "abc-123");
    headers.append("Multi", "one");
    headers.append("Multi", "two");
    client
        .publish_with_headers("hdr.x", headers, "body".into())
        .await
        .unwrap();
    let msg = next_msg(&mut sub).await;
    assert_eq!(msg.payload, Bytes::from("body"));
    let got = msg.headers.expect("headers delivered");
    assert_eq!(got.get("Trace-Id").map(|v| v.as_str()), Some("abc-123"));
    let multi: Vec<&str> = got.get_all("Multi").map(|v| v.as_str()).collect();
    assert_eq!(multi, ["one", "two"]);

    // Headers with an empty payload, and a plain message after a header message.
    client
        .publish_with_headers("hdr.x", HeaderMap::new(), Bytes::new())
        .await
        .unwrap();
    client.publish("hdr.x", "plain".into()).await.unwrap();
    let empty = next_msg(&mut sub).await;
    assert!(empty.payload.is_empty());
    let plain = next_msg(&mut sub).await;
    assert_eq!(plain.payload, Bytes::from("plain"));
    assert!(plain.headers.is_none());
}

#[tokio::test]
async fn client_refuses_publish_over_max_payload() {
    let server = TestServer::start("max_payload: 1024");
    let client = connect(&server).await;
    assert_eq!(client.server_info().max_payload, 1024);
    let mut sub = client.subscribe("big").await.unwrap();
    barrier(&client).await;
    let err = client
        .publish("big", vec![b'x'; 2000].into())
        .await
        .expect_err("over max_payload");
    assert_eq!(err.kind(), PublishErrorKind::MaxPayloadExceeded);
    client
        .publish("big", vec![b'y'; 1024].into())
        .await
        .unwrap();
    let msg = next_msg(&mut sub).await;
    assert_eq!(
        msg.payload.len(),
        1024,
        "the connection survives the refused publish"
    );
}

#[tokio::test]
async fn ten_thousand_subscriptions_on_one_connection() {
    const SUBS: usize = 10_000;
    let server = TestServer::start("");
    let subscriber = connect(&server).await;
    let publisher = connect(&server).await;
    let mut subs = Vec::with_capacity(SUBS);
    for i in 0..SUBS {
        subs.push(subscriber.subscribe(format!("many.{i}")).await.unwrap());
    }
    barrier(&subscriber).await;
    for i in 0..SUBS {
        publisher
            .publish(format!("many.{i}"), i.to_string().into())
            .await
            .unwrap();
    }
    publisher.flush().await.unwrap();
    for (i, sub) in subs.iter_mut().enumerate() {
        let msg = next_msg(sub).await;
        assert_eq!(msg.payload, Bytes::from(i.to_string()), "subscription {i}");
    }
}

#[tokio::test]
async fn no_echo_suppresses_own_publishes() {
    let server = TestServer::start("");
    let quiet = ConnectOptions::new()
        .no_echo()
        .connect(server.url())
        .await
        .unwrap();
    let other = connect(&server).await;
    let mut sub = quiet.subscribe("echo.x").await.unwrap();
    quiet.publish("echo.x", "own".into()).await.unwrap();
    barrier(&quiet).await;
    other.publish("echo.x", "other".into()).await.unwrap();
    let msg = next_msg(&mut sub).await;
    assert_eq!(msg.payload, Bytes::from("other"), "own message was echoed");
}

#[tokio::test]
async fn connection_name_is_visible_in_connz() {
    let server = TestServer::builder("").http().start();
    let client = ConnectOptions::new()
        .name("rejoin-test-name")
        .connect(server.url())
        .await
        .unwrap();
    barrier(&client).await;
    let http_addr = server.http_addr();
    let connz = tokio::task::spawn_blocking(move || http_get(http_addr, "/connz"))
        .await
        .unwrap()
        .expect("GET /connz")
        .json();
    let names: Vec<&str> = connz["connections"]
        .as_array()
        .expect("connections array")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(names.contains(&"rejoin-test-name"), "{connz}");
}
