//! Every fault primitive and client workload, end to end against the real server: each
//! scenario states with invariants what the primitive must cause, so a primitive that
//! silently does nothing fails here.

use rejoin_sim::scenario::Scenario;
use rejoin_sim::world::{run, RunOptions, RunOutcome};

const SERVER: &str = r#"
[[server]]
name = "s1"
config = """
port: 4222
ping_interval: "1s"
ping_max: 2
"""
"#;

fn run_text(body: &str) -> RunOutcome {
    let text = format!("{body}\n{SERVER}");
    let s = Scenario::from_text(&text, "inline").unwrap_or_else(|e| panic!("{e}"));
    let out = run(
        &s,
        &RunOptions {
            seed: 3,
            keep_trace: true,
            ..RunOptions::default()
        },
    )
    .unwrap();
    let failed: Vec<_> = out.verdicts.iter().filter(|v| !v.pass).collect();
    assert!(failed.is_empty(), "{failed:#?}\n{}", out.trace.text());
    out
}

fn faults_applied(out: &RunOutcome) {
    for l in out.trace.lines() {
        assert!(
            !(l.contains("\"event\":\"fault\"") && l.contains("\"error\"")),
            "fault not applied: {l}"
        );
    }
}

#[test]
fn request_reply_queue_groups_reload_and_client_stop() {
    let out = run_text(
        r#"
duration = "8s"
[configs]
slow_pings = """
port: 4222
ping_interval: "3s"
"""
[[client]]
name = "svc"
servers = ["s1:4222"]
reply = ["echo"]
queue_subscribe = [{ subject = "jobs", queue = "workers" }]
[[client]]
name = "app"
servers = ["s1:4222"]
[[client.request]]
subject = "echo"
every = "250ms"
count = 8
start = "1s"
[[client.publish]]
subject = "jobs"
every = "500ms"
count = 4
start = "1s"
[[fault]]
at = "4s"
do = "reload s1 slow_pings"
[[fault]]
at = "5s"
do = "client_stop app"
id = "stop"
[[invariant]]
check = "count_at_most"
host = "app"
match = { event = "request_timed_out" }
max = 0
[[invariant]]
check = "event_within"
host = "app"
match = { event = "reply_received", seq = 8 }
after = "start"
within = "3.5s"
[[invariant]]
check = "event_within"
host = "svc"
match = { event = "received", subject = "jobs", from = "app", seq = 4 }
after = "start"
within = "3s"
[[invariant]]
check = "event_within"
host = "s1"
match = { event = "config_reloaded" }
after = "4s"
within = "100ms"
[[invariant]]
check = "event_within"
host = "app"
match = { event = "stopped" }
after = "stop"
within = "100ms"
[[invariant]]
check = "open_connections"
server = "s1"
client = "app"
max = 0
after = "stop"
within = "1s"
"#,
    );
    faults_applied(&out);
}

#[test]
fn crash_start_silent_kill_heal_shutdown_and_lame_duck() {
    let out = run_text(
        r#"
duration = "24s"
[[client]]
name = "c1"
servers = ["s1:4222"]
ping_interval = "1s"
[[fault]]
at = "2s"
do = "crash s1"
id = "crash"
[[fault]]
at = "3s"
do = "start s1"
id = "start"
[[fault]]
at = "6s"
do = "silent_kill s1"
id = "kill"
[[fault]]
at = "10s"
do = "heal s1"
[[fault]]
at = "10s"
do = "start s1"
id = "back"
[[fault]]
at = "14s"
do = "shutdown s1"
id = "shutdown"
[[fault]]
at = "16s"
do = "start s1"
[[fault]]
at = "19s"
do = "lame_duck s1"
id = "lame"
[[invariant]]
check = "event_within"
host = "c1"
match = { event = "disconnected", reason = "eof" }
after = "crash"
within = "50ms"
[[invariant]]
check = "client_reconnected"
client = "c1"
after = "start"
within = "1s"
[[invariant]]
check = "event_within"
host = "c1"
match = { event = "disconnected", reason = "ping_timeout" }
after = "kill"
within = "3.5s"
[[invariant]]
check = "client_reconnected"
client = "c1"
after = "back"
within = "1s"
[[invariant]]
check = "event_within"
host = "s1"
match = { event = "shutdown_started", inc = 3 }
after = "shutdown"
within = "50ms"
[[invariant]]
check = "event_within"
host = "s1"
match = { event = "server_exited", inc = 3 }
after = "shutdown"
within = "1s"
[[invariant]]
check = "event_within"
host = "s1"
match = { event = "server_ready", inc = 4 }
after = "16s"
within = "50ms"
[[invariant]]
check = "event_within"
host = "s1"
match = { event = "server_exited", inc = 4 }
after = "lame"
within = "4s"
"#,
    );
    faults_applied(&out);
}

#[test]
fn unresponsive_client_is_closed_as_stale_and_latency_and_hold_delay_delivery() {
    let out = run_text(
        r#"
duration = "12s"
[[client]]
name = "mute"
servers = ["s1:4222"]
ping_interval = "30s"
[[client]]
name = "sub"
servers = ["s1:4222"]
subscribe = ["t"]
[[client]]
name = "pub"
servers = ["s1:4222"]
[[client.publish]]
subject = "t"
every = "1s"
start = "1s"
count = 3
[[fault]]
at = "1s"
do = "unresponsive mute"
id = "mute"
[[fault]]
at = "6s"
do = "latency sub s1 400ms"
id = "slow"
[[fault]]
at = "9s"
do = "hold pub s1"
id = "hold"
[[fault]]
at = "9.5s"
do = "unhold pub s1"
[[invariant]]
check = "stale_detected"
server = "s1"
client = "mute"
after = "mute"
within = "3.01s"
[[invariant]]
check = "messages_delivered"
from = "pub"
to = "sub"
after = "start"
wait_reconnect = false
"#,
    );
    faults_applied(&out);
}

#[test]
fn faults_that_cannot_apply_are_logged_with_the_reason() {
    let text = format!(
        "duration = \"2s\"\n[[fault]]\nat = \"1s\"\ndo = \"start s1\"\n[[fault]]\nat = \"1s\"\ndo = \"crash s1\"\n[[fault]]\nat = \"1.5s\"\ndo = \"shutdown s1\"\n{SERVER}"
    );
    let s = Scenario::from_text(&text, "inline").unwrap();
    let out = run(
        &s,
        &RunOptions {
            seed: 1,
            keep_trace: true,
            ..RunOptions::default()
        },
    )
    .unwrap();
    let errors: Vec<&String> = out
        .trace
        .lines()
        .iter()
        .filter(|l| l.contains("\"error\""))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].contains("already running"));
    assert!(errors[1].contains("not running"));
}
