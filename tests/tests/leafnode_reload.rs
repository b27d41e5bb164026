//! Reloading a rejoin leaf's `leafnodes.remotes` (SIGHUP and `--signal reload=<pidfile>`),
//! judged from the hub's side.
//!
//! The hub is the real nats-server when it is installed, so the count of links it lists in
//! `/leafz` (and each link's peer port, which changes when a link is replaced) is an
//! independent view of what the leaf did; without nats-server a rejoin hub plays that part.
//!
//! nats-server 2.9.10 cannot reload remotes at all ("config reload not supported for
//! LeafNode"), so tests that change remotes are rejoin-only; the no-op and broken-file
//! reloads also run under `REJOIN_TEST_SERVER=nats-server`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rejoin_tests::client::next_msg;
use rejoin_tests::leafnode::{
    assert_links_stable, connect, hub_conf, leaf_conf, link_ports, log_count,
    nats_server_available, reload, remote, start, start_hub, sync_interest, wait_for, wait_links,
    SlowStartProxy, RECONNECT, RELOADED, RELOAD_FAILED,
};
use rejoin_tests::process::run_to_exit;
use rejoin_tests::server::Profile;
use rejoin_tests::{rejoin_only, ServerKind, TestServer, WAIT};

/// How long a link must stay put to count as kept: longer than a reconnect interval, so a
/// link that was closed and re-dialled would show a new port.
const KEPT: Duration = Duration::from_secs(2);

/// The hub: nats-server where installed, else the server under test.
fn hub_kind() -> ServerKind {
    if nats_server_available() {
        ServerKind::NatsServer
    } else {
        eprintln!("note: nats-server not installed; a rejoin hub judges the reloads");
        ServerKind::from_env()
    }
}

/// A hub plus a leaf started with `leaf_body(hub_port)`; waits for `links` links on the hub.
fn topology(leaf_body: impl Fn(u16) -> String, links: usize) -> (TestServer, TestServer, u16) {
    let (hub, port) = start_hub(hub_kind(), |port| hub_conf("hub", port, ""));
    let leaf = start(ServerKind::from_env(), &leaf_body(port));
    wait_links(&hub, links);
    (hub, leaf, port)
}

fn one_remote(port: u16) -> String {
    leaf_conf("leaf", &[remote(port)], "")
}

fn no_remotes() -> String {
    leaf_conf("leaf", &[], "")
}

/// Messages cross the link both ways (fresh clients on each side).
async fn assert_flows(hub: &TestServer, leaf: &TestServer) {
    let on_hub = connect(hub).await;
    let on_leaf = connect(leaf).await;
    for (publisher, subscriber, what) in [
        (&on_leaf, &on_hub, "leaf→hub"),
        (&on_hub, &on_leaf, "hub→leaf"),
    ] {
        let subject = format!("flow.{}", what.replace('→', "_to_"));
        let mut sub = subscriber.subscribe(subject.clone()).await.unwrap();
        sync_interest(subscriber, publisher).await;
        publisher
            .publish(subject, what.to_string().into())
            .await
            .unwrap();
        publisher.flush().await.unwrap();
        assert_eq!(next_msg(&mut sub).await.payload, Bytes::from(what));
    }
}

/// The "Done when": a reload that removes a remote and one that re-adds it 50 ms
/// later leave exactly one link on the hub, which stays, and messages flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_then_readd_50ms_apart_ends_with_exactly_one_link() {
    rejoin_only!("nats-server 2.9.10 cannot reload remotes");
    let (hub, leaf, port) = topology(one_remote, 1);
    let first = wait_links(&hub, 1);
    for round in 0..3 {
        let removed_at = Instant::now();
        reload(&leaf, &no_remotes(), RELOADED);
        let elapsed = removed_at.elapsed();
        if elapsed < Duration::from_millis(50) {
            std::thread::sleep(Duration::from_millis(50) - elapsed);
        }
        reload(&leaf, &one_remote(port), RELOADED);
        let ports = wait_links(&hub, 1);
        assert_links_stable(&hub, &ports, KEPT);
        assert_eq!(
            link_ports(&leaf).len(),
            1,
            "round {round}: the leaf's own view"
        );
        if round == 0 {
            assert_ne!(ports, first, "the removal closed the old link");
        }
    }
    assert_flows(&hub, &leaf).await;
}

/// What the hub tells the older of two links from one server; in the leaf's log (rejoin logs
/// it at debug level) it proves two links coexisted, however briefly.
const DUPLICATE: &str = "Duplicate Remote LeafNode Connection";

fn debug_leaf(remotes: &[String]) -> String {
    leaf_conf("leaf", remotes, "debug: true")
}

/// Incident 1B: a remove and re-add while the remote's connect is mid-handshake (a proxy
/// holds the hub's INFO back for 300 ms). The cancelled attempt must not register, so the
/// hub never sees two links from the leaf and ends with exactly one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_readd_while_a_connect_is_in_flight_ends_with_one_link() {
    rejoin_only!("nats-server 2.9.10 cannot reload remotes");
    let (hub, port) = start_hub(hub_kind(), |port| hub_conf("hub", port, ""));
    let proxy = SlowStartProxy::start(
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    )
    .await;
    let with = debug_leaf(&[remote(proxy.port())]);
    let without = debug_leaf(&[]);
    let leaf = start(ServerKind::from_env(), &with);
    wait_links(&hub, 1);
    for round in 0..3 {
        reload(&leaf, &without, RELOADED);
        reload(&leaf, &with, RELOADED);
        // The new attempt is now waiting for the delayed INFO: remove and re-add it.
        let added = Instant::now();
        std::thread::sleep(Duration::from_millis(50));
        reload(&leaf, &without, RELOADED);
        std::thread::sleep(Duration::from_millis(50));
        reload(&leaf, &with, RELOADED);
        assert!(
            added.elapsed() < Duration::from_millis(300),
            "round {round}: too slow to hit the handshake window ({:?})",
            added.elapsed()
        );
        let ports = wait_links(&hub, 1);
        assert_links_stable(&hub, &ports, KEPT);
        assert_eq!(
            log_count(&leaf, DUPLICATE),
            0,
            "round {round}: two links coexisted"
        );
    }
    assert_flows(&hub, &leaf).await;
}

/// Incident 1A: with the hub down the remote's reconnect is sleeping; a disable/enable (or
/// remove/re-add) 50 ms apart must leave one attempt, so once the hub is back on its port
/// the leaf makes exactly one link.
async fn toggle_while_reconnect_sleeps(off: impl Fn(u16) -> String) {
    let kind = hub_kind();
    let (hub, port) = start_hub(kind, |port| hub_conf("hub", port, ""));
    let on = debug_leaf(&[remote(port)]);
    let leaf = start(ServerKind::from_env(), &on);
    wait_links(&hub, 1);
    drop(hub); // SIGKILL
    wait_links(&leaf, 0);
    // Let at least one redial fail, so the remote is in its reconnect sleep.
    std::thread::sleep(RECONNECT + Duration::from_millis(200));
    let toggled = Instant::now();
    reload(&leaf, &off(port), RELOADED);
    let elapsed = toggled.elapsed();
    if elapsed < Duration::from_millis(50) {
        std::thread::sleep(Duration::from_millis(50) - elapsed);
    }
    reload(&leaf, &on, RELOADED);
    let hub = start(kind, &hub_conf("hub", port, ""));
    let ports = wait_links(&hub, 1);
    assert_links_stable(&hub, &ports, KEPT);
    assert_eq!(log_count(&leaf, DUPLICATE), 0, "two links coexisted");
    assert_flows(&hub, &leaf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_enable_while_the_reconnect_sleeps_ends_with_one_link() {
    rejoin_only!("`disabled` is not a nats-server 2.9.10 remote option");
    toggle_while_reconnect_sleeps(|port| {
        debug_leaf(&[format!(
            "{{ url: \"nats-leaf://127.0.0.1:{port}\", disabled: true }}"
        )])
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_readd_while_the_reconnect_sleeps_ends_with_one_link() {
    rejoin_only!("nats-server 2.9.10 cannot reload remotes");
    toggle_while_reconnect_sleeps(|_| debug_leaf(&[])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_then_enable() {
    rejoin_only!("`disabled` is not a nats-server 2.9.10 remote option");
    let (hub, leaf, port) = topology(one_remote, 1);
    let disabled = format!("{{ url: \"nats-leaf://127.0.0.1:{port}\", disabled: true }}");
    reload(&leaf, &leaf_conf("leaf", &[disabled], ""), RELOADED);
    wait_links(&hub, 0);
    // Disabled means disabled: no re-dial after a reconnect interval either.
    assert_links_stable(&hub, &[], KEPT);
    reload(&leaf, &one_remote(port), RELOADED);
    let ports = wait_links(&hub, 1);
    assert_links_stable(&hub, &ports, KEPT);
    assert_flows(&hub, &leaf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_all_remotes_then_add_one() {
    rejoin_only!("nats-server 2.9.10 cannot reload remotes");
    let (hub, leaf, port) = topology(one_remote, 1);
    reload(&leaf, &no_remotes(), RELOADED);
    wait_links(&hub, 0);
    assert_links_stable(&hub, &[], KEPT);
    assert_eq!(link_ports(&leaf), Vec::<u16>::new(), "the leaf's own view");
    reload(&leaf, &one_remote(port), RELOADED);
    let ports = wait_links(&hub, 1);
    assert_links_stable(&hub, &ports, KEPT);
    assert_flows(&hub, &leaf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_a_remote_to_a_leaf_without_remotes() {
    rejoin_only!("nats-server 2.9.10 cannot reload remotes");
    let (hub, leaf, port) = topology(|_| no_remotes(), 0);
    assert_links_stable(&hub, &[], Duration::from_millis(500));
    reload(&leaf, &one_remote(port), RELOADED);
    let ports = wait_links(&hub, 1);
    assert_links_stable(&hub, &ports, KEPT);
    assert_flows(&hub, &leaf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noop_reload_keeps_the_connection() {
    let (hub, leaf, port) = topology(one_remote, 1);
    let ports = wait_links(&hub, 1);
    // The same remotes, written differently elsewhere in the file.
    let body = format!("{}\n# rewritten\n", one_remote(port));
    reload(&leaf, &body, RELOADED);
    assert_links_stable(&hub, &ports, KEPT);
    reload(&leaf, &body, RELOADED);
    assert_links_stable(&hub, &ports, KEPT);
    assert_flows(&hub, &leaf).await;
}

/// Two remotes to one hub, each bound to its own account on both sides (one remote per
/// account, and distinct hub accounts so the hub does not see duplicates).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordering_two_remotes_keeps_both_connections() {
    rejoin_only!("nats-server 2.9.10 cannot reload remotes");
    const ACCOUNTS: &str = "accounts {\n  A: { users: [ { user: ua, password: pa } ] }\n  \
                            B: { users: [ { user: ub, password: pb } ] }\n}\n";
    let hub_body = |port: u16| {
        format!(
            "server_name: hub\n{ACCOUNTS}leafnodes {{\n  listen: \"127.0.0.1:{port}\"\n  \
             authorization {{\n    users: [\n      \
             {{ user: la, password: pla, account: A }}\n      \
             {{ user: lb, password: plb, account: B }}\n    ]\n  }}\n}}\n"
        )
    };
    let (hub, port) = start_hub(hub_kind(), hub_body);
    let a = format!("{{ url: \"nats-leaf://la:pla@127.0.0.1:{port}\", account: A }}");
    let b = format!("{{ url: \"nats-leaf://lb:plb@127.0.0.1:{port}\", account: B }}");
    let leaf = start(
        ServerKind::from_env(),
        &leaf_conf("leaf", &[a.clone(), b.clone()], ACCOUNTS),
    );
    let ports = wait_links(&hub, 2);
    assert_links_stable(&hub, &ports, Duration::from_millis(500));
    reload(&leaf, &leaf_conf("leaf", &[b, a], ACCOUNTS), RELOADED);
    assert_links_stable(&hub, &ports, KEPT);
    assert_eq!(link_ports(&leaf).len(), 2, "the leaf's own view");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_file_changes_nothing() {
    let (hub, leaf, port) = topology(one_remote, 1);
    let ports = wait_links(&hub, 1);
    // Unterminated: a parse error, not just an invalid value.
    let broken = format!(
        "server_name: leaf\nleafnodes {{\n  remotes: [ {{ url: \"nats-leaf://127.0.0.1:{port}\"\n"
    );
    reload(&leaf, &broken, RELOAD_FAILED);
    assert_links_stable(&hub, &ports, KEPT);
    assert_eq!(log_count(&leaf, RELOADED), 0, "nothing was applied");
    assert_flows(&hub, &leaf).await;
}

/// Two remotes with the same identity (same URL list, account and credentials) are a
/// config error, so such a reload is refused as a whole and the running link stays.
/// (nats-server 2.9.10 refuses it too, because it refuses any change of remotes.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_with_two_remotes_of_the_same_identity_is_refused() {
    let (hub, leaf, port) = topology(one_remote, 1);
    let ports = wait_links(&hub, 1);
    reload(
        &leaf,
        &leaf_conf("leaf", &[remote(port), remote(port)], ""),
        RELOAD_FAILED,
    );
    if leaf.kind() == ServerKind::Rejoin {
        // Refused for the right reason, not for some other config error.
        assert_eq!(log_count(&leaf, "are the same remote"), 1, "{}", leaf.log());
    }
    assert_links_stable(&hub, &ports, KEPT);
    assert_eq!(log_count(&leaf, RELOADED), 0, "nothing was applied");
    assert_flows(&hub, &leaf).await;
}

/// `rejoin --signal reload=<pidfile>` finds the process through its `pid_file` and the
/// reload takes effect (here: the remote goes away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_reload_through_the_pid_file() {
    rejoin_only!("nats-server 2.9.10 cannot reload remotes");
    let with_pid = |remotes: &[String]| leaf_conf("leaf", remotes, "pid_file: \"leaf.pid\"");
    let (hub, leaf, _port) = topology(|port| with_pid(&[remote(port)]), 1);
    let pid_file = leaf.dir().join("leaf.pid");
    wait_for(WAIT, "the pid file", || pid_file.exists().then_some(()));
    rejoin_tests::leafnode::rewrite_conf(&leaf, &with_pid(&[]));
    let before = log_count(&leaf, RELOADED);
    let bin = leaf.kind().binary(Profile::Debug).expect("rejoin binary");
    let signal = format!("reload={}", pid_file.display());
    let done = run_to_exit(&bin, &["--signal", &signal], leaf.dir(), WAIT)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(done.status.success(), "--signal failed: {}", done.output());
    wait_for(WAIT, "the reload", || {
        (log_count(&leaf, RELOADED) > before).then_some(())
    });
    wait_links(&hub, 0);
    assert_links_stable(&hub, &[], RECONNECT + Duration::from_millis(500));
}
