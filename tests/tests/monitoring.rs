//! The HTTP monitoring endpoints that dashboards and exporters read: `/healthz`, `/varz` and
//! `/connz`, with nats-server's JSON field names (protocol notes §4).

use std::time::Instant;

use rejoin_tests::{http_get, RawClient, TestServer, WAIT};
use serde_json::Value;

fn get_json(server: &TestServer, path: &str) -> Value {
    let response = http_get(server.http_addr(), path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(response.status, 200, "GET {path}: {}", response.text());
    response.json()
}

/// Polls `path` until `check` accepts the JSON, bounded by [`WAIT`]; for values that settle
/// asynchronously (a closed connection being reaped).
fn wait_for_json(server: &TestServer, path: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let json = get_json(server, path);
        if check(&json) {
            return json;
        }
        assert!(
            Instant::now() < deadline,
            "GET {path} never satisfied the check: {json}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn client(server: &TestServer, name: &str) -> (RawClient, Value) {
    RawClient::connect_with(
        server.addr(),
        &format!(r#"{{"verbose":false,"name":"{name}","lang":"raw","version":"9.9.9"}}"#),
    )
}

#[test]
fn healthz_reports_ok() {
    let server = TestServer::builder("").http().start();
    let response = http_get(server.http_addr(), "/healthz").expect("GET /healthz");
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["status"], "ok", "{}", response.text());
}

#[test]
fn varz_has_nats_server_field_names_and_config_values() {
    let server = TestServer::builder("max_payload: 2048\nserver_name: varz-test")
        .http()
        .start();
    let info = RawClient::connect(server.addr()).read_info();
    let varz = get_json(&server, "/varz");

    let strings = [
        "server_id",
        "server_name",
        "version",
        "host",
        "http_host",
        "start",
        "now",
        "uptime",
    ];
    for key in strings {
        assert!(
            varz[key].is_string(),
            "/varz {key} should be a string: {varz}"
        );
    }
    let numbers = [
        "proto",
        "port",
        "max_connections",
        "ping_interval",
        "ping_max",
        "http_port",
        "auth_timeout",
        "max_control_line",
        "max_payload",
        "max_pending",
        "tls_timeout",
        "write_deadline",
        "mem",
        "cores",
        "cpu",
        "connections",
        "total_connections",
        "routes",
        "remotes",
        "leafnodes",
        "in_msgs",
        "out_msgs",
        "in_bytes",
        "out_bytes",
        "slow_consumers",
        "subscriptions",
    ];
    for key in numbers {
        assert!(
            varz[key].is_number(),
            "/varz {key} should be a number: {varz}"
        );
    }

    assert_eq!(varz["server_id"], info["server_id"]);
    assert_eq!(varz["version"], info["version"]);
    assert_eq!(varz["server_name"], "varz-test");
    assert_eq!(varz["port"], server.port());
    assert_eq!(varz["http_port"], server.http_addr().port());
    assert_eq!(varz["max_payload"], 2048);
    // Defaults, in nats-server's units (durations in nanoseconds).
    assert_eq!(varz["max_connections"], 65536);
    assert_eq!(varz["ping_interval"], 120_000_000_000u64);
    assert_eq!(varz["ping_max"], 2);
    assert_eq!(varz["max_control_line"], 4096);
    assert_eq!(varz["max_pending"], 67_108_864);
    assert_eq!(varz["auth_timeout"], 2);
    assert_eq!(varz["write_deadline"], 10_000_000_000u64);
}

#[test]
fn varz_counts_messages_bytes_and_connections() {
    let server = TestServer::builder("").http().start();
    let (mut sub, _) = client(&server, "sub");
    sub.send("SUB count.x 1\r\n");
    sub.sync_clean();
    let (mut publisher, _) = client(&server, "pub");
    for _ in 0..3 {
        publisher.send("PUB count.x 5\r\nabcde\r\n");
    }
    publisher.sync_clean();
    for _ in 0..3 {
        sub.expect_msg();
    }
    let varz = get_json(&server, "/varz");
    assert_eq!(varz["connections"], 2, "{varz}");
    assert!(
        varz["total_connections"].as_u64().unwrap_or(0) >= 2,
        "{varz}"
    );
    assert_eq!(varz["in_msgs"], 3, "{varz}");
    assert_eq!(varz["out_msgs"], 3, "{varz}");
    assert_eq!(varz["in_bytes"], 15, "{varz}");
    assert_eq!(varz["out_bytes"], 15, "{varz}");
    assert!(varz["subscriptions"].as_u64().unwrap_or(0) >= 1, "{varz}");
    assert_eq!(varz["slow_consumers"], 0, "{varz}");

    drop(sub);
    drop(publisher);
    wait_for_json(&server, "/varz", |v| v["connections"] == 0);
}

#[test]
fn connz_lists_each_client_connection() {
    let server = TestServer::builder("").http().start();
    let (mut first, first_info) = client(&server, "mon-first");
    first.send("SUB mon.x 1\r\nSUB mon.q workers 2\r\n");
    first.sync_clean();
    let (mut second, second_info) = client(&server, "mon-second");
    second.send("PUB mon.x 5\r\nhello\r\n");
    second.sync_clean();
    first.expect_msg();

    let connz = get_json(&server, "/connz");
    assert_eq!(connz["num_connections"], 2, "{connz}");
    assert!(connz["server_id"].is_string(), "{connz}");
    let conns = connz["connections"].as_array().expect("connections array");
    let find = |name: &str| -> &Value {
        conns
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no connection named {name}: {connz}"))
    };
    let a = find("mon-first");
    assert_eq!(a["cid"], first_info["client_id"], "{a}");
    assert_eq!(a["lang"], "raw");
    assert_eq!(a["version"], "9.9.9");
    assert_eq!(a["subscriptions"], 2, "{a}");
    assert_eq!(a["ip"], "127.0.0.1");
    assert_eq!(
        a["port"],
        first.stream().local_addr().unwrap().port(),
        "client port"
    );
    for key in ["start", "last_activity", "uptime", "idle"] {
        assert!(
            a[key].is_string(),
            "/connz connection {key} should be a string: {a}"
        );
    }
    assert!(a["pending_bytes"].is_number(), "{a}");
    assert_eq!(a["out_msgs"], 1, "{a}");
    assert_eq!(a["out_bytes"], 5, "{a}");

    let b = find("mon-second");
    assert_eq!(b["cid"], second_info["client_id"], "{b}");
    assert_eq!(b["subscriptions"], 0, "{b}");
    assert_eq!(b["in_msgs"], 1, "{b}");
    assert_eq!(b["in_bytes"], 5, "{b}");
}

#[test]
fn connz_with_subs_lists_subjects() {
    let server = TestServer::builder("").http().start();
    let (mut c, _) = client(&server, "with-subs");
    c.send("SUB mon.x 1\r\nSUB mon.q workers 2\r\n");
    c.sync_clean();
    let connz = get_json(&server, "/connz?subs=1");
    let conn = &connz["connections"][0];
    let mut subjects: Vec<&str> = conn["subscriptions_list"]
        .as_array()
        .unwrap_or_else(|| panic!("subscriptions_list missing: {connz}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    subjects.sort_unstable();
    assert_eq!(subjects, ["mon.q", "mon.x"]);
}

#[test]
fn connz_drops_closed_connections() {
    let server = TestServer::builder("").http().start();
    let (gone, _) = client(&server, "short-lived");
    let (_stays, _) = client(&server, "long-lived");
    drop(gone);
    let connz = wait_for_json(&server, "/connz", |v| v["num_connections"] == 1);
    assert_eq!(connz["connections"][0]["name"], "long-lived", "{connz}");
}
