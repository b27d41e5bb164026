//! Leafnode links between rejoin and the real nats-server 2.9.10, and between two rejoins,
//! as async-nats clients on both ends see them.
//!
//! Every case runs in three topologies (one module each): rejoin leaf → nats-server hub,
//! nats-server leaf → rejoin hub, rejoin leaf → rejoin hub. Under
//! `REJOIN_TEST_SERVER=nats-server` every rejoin role is played by nats-server, which checks
//! the expectations against nats-server↔nats-server.
//!
//! Cases are written once against a [`Pair`] and name the two ends as [`Side`]s, so "both
//! directions" is a loop over `(publisher side, subscriber side)`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_nats::{Client, HeaderMap};
use bytes::Bytes;
use futures::StreamExt;
use rejoin_tests::client::next_msg;
use rejoin_tests::leafnode::{
    connect, drain_quiet, log_count, start, start_hub, sync_interest, wait_for, wait_links, Pair,
    Role, RECONNECT,
};
use rejoin_tests::{QUIET, WAIT};

/// One end of a [`Pair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Hub,
    Leaf,
}

use Side::{Hub, Leaf};

/// `(publisher side, subscriber side)` for "both directions".
const DIRECTIONS: [(Side, Side); 2] = [(Hub, Leaf), (Leaf, Hub)];

async fn client(pair: &Pair, side: Side) -> Client {
    match side {
        Hub => connect(pair.hub()).await,
        Leaf => connect(&pair.leaf).await,
    }
}

/// Payload bodies of `msgs`, as strings, in arrival order.
fn bodies(msgs: &[async_nats::Message]) -> Vec<String> {
    msgs.iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect()
}

async fn pubsub_both_directions(pair: Pair) {
    for (from, to) in DIRECTIONS {
        let publisher = client(&pair, from).await;
        let subscriber = client(&pair, to).await;
        let subject = format!("ps.{from:?}.to.{to:?}");
        let mut sub = subscriber.subscribe(subject.clone()).await.unwrap();
        sync_interest(&subscriber, &publisher).await;
        for i in 0..20 {
            publisher
                .publish(subject.clone(), format!("m{i}").into())
                .await
                .unwrap();
        }
        publisher.flush().await.unwrap();
        for i in 0..20 {
            let msg = next_msg(&mut sub).await;
            assert_eq!(msg.subject.as_str(), subject);
            assert_eq!(
                msg.payload,
                Bytes::from(format!("m{i}")),
                "{from:?}→{to:?} order"
            );
        }
        let extra = drain_quiet(&mut sub, QUIET).await;
        assert!(
            extra.is_empty(),
            "{from:?}→{to:?}: extra {:?}",
            bodies(&extra)
        );
    }
}

async fn wildcards_both_directions(pair: Pair) {
    for (from, to) in DIRECTIONS {
        let publisher = client(&pair, from).await;
        let subscriber = client(&pair, to).await;
        let base = format!("wc{from:?}");
        let mut star = subscriber.subscribe(format!("{base}.*")).await.unwrap();
        let mut tail = subscriber.subscribe(format!("{base}.t.>")).await.unwrap();
        sync_interest(&subscriber, &publisher).await;
        for suffix in ["a", "a.b", "t", "t.x", "t.x.y", "zz"] {
            publisher
                .publish(format!("{base}.{suffix}"), suffix.into())
                .await
                .unwrap();
        }
        // Not matched by either, and must not cross either.
        publisher
            .publish(format!("other.{base}.a"), "no".into())
            .await
            .unwrap();
        publisher.flush().await.unwrap();
        let star_got = drain_quiet(&mut star, QUIET).await;
        let tail_got = drain_quiet(&mut tail, QUIET).await;
        assert_eq!(bodies(&star_got), ["a", "t", "zz"], "{from:?}→{to:?} `*`");
        assert_eq!(bodies(&tail_got), ["t.x", "t.x.y"], "{from:?}→{to:?} `>`");
    }
}

/// Counts deliveries per queue member; panics if a message body was delivered twice.
fn tally(members: &[(&str, Vec<async_nats::Message>)]) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    let mut per_member = BTreeMap::new();
    for (name, msgs) in members {
        per_member.insert(name.to_string(), msgs.len());
        for m in msgs {
            let body = String::from_utf8_lossy(&m.payload).into_owned();
            if let Some(first) = seen.insert(body.clone(), name.to_string()) {
                panic!("{body} delivered twice (to {first} and {name})");
            }
        }
    }
    per_member
}

async fn queue_local_members_preferred(pair: Pair) {
    let hub = client(&pair, Hub).await;
    let leaf = client(&pair, Leaf).await;
    let mut on_hub = hub
        .queue_subscribe("qp.work", "workers".into())
        .await
        .unwrap();
    let mut on_leaf = leaf
        .queue_subscribe("qp.work", "workers".into())
        .await
        .unwrap();
    sync_interest(&hub, &leaf).await;
    sync_interest(&leaf, &hub).await;
    for (from, publisher) in [(Hub, &hub), (Leaf, &leaf)] {
        for i in 0..30 {
            publisher
                .publish("qp.work", format!("{from:?}-{i}").into())
                .await
                .unwrap();
        }
        publisher.flush().await.unwrap();
        let got = tally(&[
            ("hub member", drain_quiet(&mut on_hub, QUIET).await),
            ("leaf member", drain_quiet(&mut on_leaf, QUIET).await),
        ]);
        let (local, remote) = match from {
            Hub => ("hub member", "leaf member"),
            Leaf => ("leaf member", "hub member"),
        };
        assert_eq!(
            (got[local], got[remote]),
            (30, 0),
            "published on the {from:?}: the local member gets everything ({got:?})"
        );
    }
}

async fn queue_members_across_the_link(pair: Pair) {
    for (from, to) in DIRECTIONS {
        let publisher = client(&pair, from).await;
        let m1 = client(&pair, to).await;
        let m2 = client(&pair, to).await;
        let subject = format!("qx.{from:?}");
        let mut s1 = m1
            .queue_subscribe(subject.clone(), "workers".into())
            .await
            .unwrap();
        let mut s2 = m2
            .queue_subscribe(subject.clone(), "workers".into())
            .await
            .unwrap();
        // A plain subscriber beside the group gets every message once as well.
        let mut plain = m1.subscribe(subject.clone()).await.unwrap();
        sync_interest(&m1, &publisher).await;
        sync_interest(&m2, &publisher).await;
        for i in 0..40 {
            publisher
                .publish(subject.clone(), format!("{i}").into())
                .await
                .unwrap();
        }
        publisher.flush().await.unwrap();
        let got = tally(&[
            ("member 1", drain_quiet(&mut s1, QUIET).await),
            ("member 2", drain_quiet(&mut s2, QUIET).await),
        ]);
        assert_eq!(
            got.values().sum::<usize>(),
            40,
            "{from:?}→{to:?}: every message to exactly one member ({got:?})"
        );
        let plain_got = drain_quiet(&mut plain, QUIET).await;
        assert_eq!(plain_got.len(), 40, "{from:?}→{to:?}: plain subscriber");
    }
}

async fn request_reply_both_ways(pair: Pair) {
    for (from, to) in DIRECTIONS {
        let requester = client(&pair, from).await;
        let responder = client(&pair, to).await;
        let subject = format!("svc.{to:?}");
        let mut requests = responder.subscribe(subject.clone()).await.unwrap();
        sync_interest(&responder, &requester).await;
        let serve = {
            let responder = responder.clone();
            tokio::spawn(async move {
                while let Some(req) = requests.next().await {
                    let Some(reply) = req.reply else { continue };
                    let mut answer = b"re:".to_vec();
                    answer.extend_from_slice(&req.payload);
                    responder.publish(reply, answer.into()).await.unwrap();
                }
            })
        };
        for i in 0..5 {
            let request = requester.request(subject.clone(), format!("q{i}").into());
            let reply = tokio::time::timeout(WAIT, request)
                .await
                .unwrap_or_else(|_| panic!("{from:?}→{to:?}: no reply within {WAIT:?}"))
                .unwrap_or_else(|e| panic!("{from:?}→{to:?}: request failed: {e}"));
            assert_eq!(reply.payload, Bytes::from(format!("re:q{i}")));
        }
        serve.abort();
    }
}

async fn headers_both_ways(pair: Pair) {
    for (from, to) in DIRECTIONS {
        let publisher = client(&pair, from).await;
        let subscriber = client(&pair, to).await;
        let subject = format!("hdr.{from:?}");
        let mut sub = subscriber.subscribe(subject.clone()).await.unwrap();
        sync_interest(&subscriber, &publisher).await;
        let mut headers = HeaderMap::new();
        headers.insert("X-Origin", format!("{from:?}").as_str());
        headers.insert("X-Two", "2");
        publisher
            .publish_with_headers(subject.clone(), headers, "with headers".into())
            .await
            .unwrap();
        publisher.flush().await.unwrap();
        let msg = next_msg(&mut sub).await;
        assert_eq!(msg.payload, Bytes::from("with headers"));
        let got = msg
            .headers
            .unwrap_or_else(|| panic!("{from:?}→{to:?}: headers lost"));
        assert_eq!(
            got.get("X-Origin").map(|v| v.as_str()),
            Some(format!("{from:?}").as_str())
        );
        assert_eq!(got.get("X-Two").map(|v| v.as_str()), Some("2"));
    }
}

async fn large_payloads_both_ways(pair: Pair) {
    for (from, to) in DIRECTIONS {
        let publisher = client(&pair, from).await;
        let subscriber = client(&pair, to).await;
        let subject = format!("big.{from:?}");
        let mut sub = subscriber.subscribe(subject.clone()).await.unwrap();
        sync_interest(&subscriber, &publisher).await;
        let payloads: Vec<Bytes> = (0..3u8)
            .map(|n| {
                (0..512 * 1024usize)
                    .map(|i| (i % 251) as u8 ^ n)
                    .collect::<Vec<u8>>()
                    .into()
            })
            .collect();
        for p in &payloads {
            publisher.publish(subject.clone(), p.clone()).await.unwrap();
        }
        publisher.flush().await.unwrap();
        for (n, p) in payloads.iter().enumerate() {
            let msg = next_msg(&mut sub).await;
            assert_eq!(msg.payload.len(), p.len(), "{from:?}→{to:?} #{n} size");
            assert!(msg.payload == *p, "{from:?}→{to:?} #{n} content differs");
        }
    }
}

async fn no_duplicates_with_subscribers_on_both_sides(pair: Pair) {
    let hub = client(&pair, Hub).await;
    let leaf = client(&pair, Leaf).await;
    let leaf2 = client(&pair, Leaf).await;
    // Several subscriptions per side, overlapping on one connection: each gets its own copy
    // once, and the link carries one copy per message.
    let mut subs = vec![
        ("hub exact", hub.subscribe("dup.x").await.unwrap()),
        ("hub star", hub.subscribe("dup.*").await.unwrap()),
        ("leaf exact", leaf.subscribe("dup.x").await.unwrap()),
        ("leaf tail", leaf.subscribe("dup.>").await.unwrap()),
        ("leaf2 exact", leaf2.subscribe("dup.x").await.unwrap()),
    ];
    sync_interest(&hub, &leaf).await;
    sync_interest(&leaf, &hub).await;
    sync_interest(&leaf2, &hub).await;
    for i in 0..25 {
        hub.publish("dup.x", format!("h{i}").into()).await.unwrap();
        leaf.publish("dup.x", format!("l{i}").into()).await.unwrap();
    }
    hub.flush().await.unwrap();
    leaf.flush().await.unwrap();
    for (name, sub) in &mut subs {
        let got = bodies(&drain_quiet(sub, QUIET).await);
        let mut sorted = got.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            (got.len(), sorted.len()),
            (50, 50),
            "{name}: every message exactly once, got {got:?}"
        );
    }
}

/// The acceptance criterion: after the hub is killed and restarted on the same port,
/// traffic flows again within the reconnect interval + 1.5 s. Also: interest created on the
/// leaf while the hub is down works once the link is back.
async fn hub_restart_restores_traffic(mut pair: Pair) {
    let leaf = client(&pair, Leaf).await;
    let mut before = leaf.subscribe("rs.before").await.unwrap();
    {
        let hub = client(&pair, Hub).await;
        sync_interest(&leaf, &hub).await;
    }
    pair.kill_hub();
    wait_links(&pair.leaf, 0);
    let mut during = leaf.subscribe("rs.during").await.unwrap();
    leaf.flush().await.unwrap();

    pair.restart_hub();
    let up = Instant::now();
    let hub = client(&pair, Hub).await;
    let mut published = 0u32;
    let flowing = loop {
        hub.publish("rs.before", "again".into()).await.unwrap();
        hub.flush().await.unwrap();
        published += 1;
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(20), before.next()).await {
            break up.elapsed();
        }
        assert!(
            up.elapsed() < WAIT,
            "no traffic {WAIT:?} after the hub restart"
        );
    };
    eprintln!(
        "measured: {} hub restarted, traffic hub→{} leaf flows after {flowing:?} \
         ({published} probes)",
        pair.hub().kind().name(),
        pair.leaf.kind().name()
    );
    let bound = RECONNECT + Duration::from_millis(1500);
    assert!(
        flowing <= bound,
        "traffic resumed {flowing:?} after the restart, bound {bound:?}"
    );

    // Interest from while the hub was down crossed with the reconnect.
    hub.publish("rs.during", "late".into()).await.unwrap();
    hub.flush().await.unwrap();
    assert_eq!(next_msg(&mut during).await.payload, Bytes::from("late"));

    // And interest created on the new hub reaches the leaf.
    let mut after = hub.subscribe("rs.after").await.unwrap();
    sync_interest(&hub, &leaf).await;
    leaf.publish("rs.after", "up".into()).await.unwrap();
    leaf.flush().await.unwrap();
    assert_eq!(next_msg(&mut after).await.payload, Bytes::from("up"));
    pair.wait_linked();
}

/// One module per topology, each with every case as a test.
macro_rules! topology {
    ($module:ident, hub: $hub:expr, leaf: $leaf:expr, [$($case:ident),* $(,)?]) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(pair) = Pair::start($hub, $leaf) else { return };
                    super::$case(pair).await;
                }
            )*
        }
    };
}

topology!(rejoin_leaf_nats_hub, hub: Role::NatsServer, leaf: Role::UnderTest, [
    pubsub_both_directions,
    wildcards_both_directions,
    queue_local_members_preferred,
    queue_members_across_the_link,
    request_reply_both_ways,
    headers_both_ways,
    large_payloads_both_ways,
    no_duplicates_with_subscribers_on_both_sides,
    hub_restart_restores_traffic,
]);

topology!(nats_leaf_rejoin_hub, hub: Role::UnderTest, leaf: Role::NatsServer, [
    pubsub_both_directions,
    wildcards_both_directions,
    queue_local_members_preferred,
    queue_members_across_the_link,
    request_reply_both_ways,
    headers_both_ways,
    large_payloads_both_ways,
    no_duplicates_with_subscribers_on_both_sides,
    hub_restart_restores_traffic,
]);

topology!(rejoin_leaf_rejoin_hub, hub: Role::UnderTest, leaf: Role::UnderTest, [
    pubsub_both_directions,
    wildcards_both_directions,
    queue_local_members_preferred,
    queue_members_across_the_link,
    request_reply_both_ways,
    headers_both_ways,
    large_payloads_both_ways,
    no_duplicates_with_subscribers_on_both_sides,
    hub_restart_restores_traffic,
]);

/// Two leafs with the same `server_name` dial one hub: the hub keeps the newer link and
/// tells the older one `-ERR 'Duplicate Remote LeafNode Connection'`, which the older leaf
/// logs (rejoin at debug level, nats-server as an error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_leaf_name_replaces_the_older_link() {
    const DUPLICATE: &str = "Duplicate Remote LeafNode Connection";
    let kind = Role::UnderTest.kind();
    let (hub, port) = start_hub(kind, |port| {
        rejoin_tests::leafnode::hub_conf("hub", port, "")
    });
    let leaf_conf = rejoin_tests::leafnode::leaf_conf(
        "twin",
        &[rejoin_tests::leafnode::remote(port)],
        "debug: true",
    );
    let older = start(kind, &leaf_conf);
    wait_links(&older, 1);
    wait_links(&hub, 1);
    assert_eq!(log_count(&older, DUPLICATE), 0, "before the twin exists");
    let newer = start(kind, &leaf_conf);
    wait_for(WAIT, "the older leaf to log the duplicate error", || {
        (log_count(&older, DUPLICATE) > 0).then_some(())
    });
    drop(newer);
}
