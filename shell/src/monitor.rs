//! HTTP monitoring: `/healthz`, `/varz`, `/connz`, `/subsz`, `/leafz`, `/metrics`, with
//! nats-server's JSON field names so existing dashboards and exporters can read them.
//!
//! A deliberately small HTTP/1.1 server (GET only, one request per connection, `Connection:
//! close`): monitoring is low-rate, and keeping it on the [`Transport`](crate::Transport)
//! means the simulator can probe `/healthz` exactly like an orchestrator would.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::server::state::Shared;
use crate::transport::{Listener, Stream};

/// Serve monitoring requests until the task is aborted.
pub async fn serve<L: Listener>(shared: Arc<Shared>, mut listener: L) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(handle(shared.clone(), stream));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn handle<S: Stream>(shared: Arc<Shared>, mut stream: S) {
    let mut buf = Vec::with_capacity(1024);
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        true
    })
    .await;
    if !matches!(read, Ok(true)) {
        return;
    }
    let request = String::from_utf8_lossy(&buf);
    let target = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let (status, content_type, body) = respond(&shared, path, query);
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Build the response for `path`: (status line, content type, body).
pub fn respond(shared: &Shared, path: &str, query: &str) -> (&'static str, &'static str, String) {
    let json_ok = |v: Value| ("200 OK", "application/json", pretty(&v));
    match path.trim_end_matches('/') {
        "/healthz" => {
            let (ok, body) = health(shared);
            let status = if ok { "200 OK" } else { "503 Service Unavailable" };
            (status, "application/json", body.to_string())
        }
        "/varz" => json_ok(varz(shared)),
        "/connz" => json_ok(connz(shared, query)),
        "/subsz" => json_ok(subsz(shared)),
        "/leafz" => json_ok(leafz(shared, query)),
        "/metrics" => ("200 OK", "text/plain; version=0.0.4", metrics(shared)),
        "" => (
            "200 OK",
            "text/html",
            "<html><body><a href=/varz>varz</a> <a href=/connz>connz</a> <a href=/leafz>leafz</a> \
             <a href=/subsz>subsz</a> <a href=/healthz>healthz</a> <a href=/metrics>metrics</a></body></html>"
                .to_string(),
        ),
        _ => ("404 Not Found", "text/plain", "404 page not found\n".to_string()),
    }
}

/// Seconds as Go's JSON encoder writes a float64: `2`, not `2.0`, when whole.
fn seconds_json(d: Duration) -> Value {
    let f = d.as_secs_f64();
    if f.fract() == 0.0 {
        json!(f as u64)
    } else {
        json!(f)
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Health: ok unless a subsystem reports itself wedged (a backbone remote that gave up or
/// went silent, see docs/broadcaster.md). An ordinary reconnect is not wedged.
pub fn health(shared: &Shared) -> (bool, Value) {
    match crate::server::backbone::unhealthy(shared) {
        None => (true, json!({"status": "ok"})),
        Some(error) => (false, json!({"status": "unavailable", "error": error})),
    }
}

/// `/varz` `backbone`: one entry per backbone remote (ours; nats-server has none).
fn backbone_varz(shared: &Shared) -> Option<Value> {
    let stats = crate::server::backbone::stats(shared);
    if stats.is_empty() {
        return None;
    }
    let wall = |t: rejoin_core::time::Instant| rfc3339(shared.start_wall + t.since_start());
    let list: Vec<Value> = stats
        .iter()
        .map(|(remote, s)| {
            json!({
                "remote": remote,
                "state": s.state.name(),
                "gaps": s.gaps,
                "buffered": s.buffered,
                "dropped": s.dropped,
                "replayed": s.replayed,
                "resyncs": s.resyncs,
                "silences": s.silences,
                "consecutive_failures": s.failures,
                "buffer_msgs": s.buffer_msgs,
                "buffer_bytes": s.buffer_bytes,
                "last_gap": s.last_gap.map(|(start, end)| json!({
                    "started": wall(start),
                    "ended": end.map(wall),
                })),
            })
        })
        .collect();
    Some(json!(list))
}

/// Prometheus lines for the backbone remotes, labelled by remote.
fn backbone_metrics(shared: &Shared, out: &mut String) {
    let stats = crate::server::backbone::stats(shared);
    if stats.is_empty() {
        return;
    }
    let label = |r: &str| {
        r.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    type Field = fn(&rejoin_core::backbone::BackboneStats) -> u64;
    let series: [(&str, &str, &str, Field); 10] = [
        (
            "rejoin_backbone_up",
            "gauge",
            "1 when the backbone link is up and recovered",
            |s| u64::from(s.state == rejoin_core::backbone::BackboneState::Up),
        ),
        (
            "rejoin_backbone_gaps_total",
            "counter",
            "Backbone gaps (link lost after a session)",
            |s| s.gaps,
        ),
        (
            "rejoin_backbone_buffered_total",
            "counter",
            "Messages buffered while the backbone was down",
            |s| s.buffered,
        ),
        (
            "rejoin_backbone_dropped_total",
            "counter",
            "Buffered messages dropped by the buffer bounds",
            |s| s.dropped,
        ),
        (
            "rejoin_backbone_replayed_total",
            "counter",
            "Buffered messages replayed to the hub",
            |s| s.replayed,
        ),
        (
            "rejoin_backbone_resyncs_total",
            "counter",
            "Resync announcements published",
            |s| s.resyncs,
        ),
        (
            "rejoin_backbone_silences_total",
            "counter",
            "Backbone links declared dead for silence",
            |s| s.silences,
        ),
        (
            "rejoin_backbone_consecutive_failures",
            "gauge",
            "Failed backbone sessions in a row",
            |s| u64::from(s.failures),
        ),
        (
            "rejoin_backbone_buffer_msgs",
            "gauge",
            "Messages in the replay buffer",
            |s| s.buffer_msgs,
        ),
        (
            "rejoin_backbone_buffer_bytes",
            "gauge",
            "Bytes in the replay buffer",
            |s| s.buffer_bytes,
        ),
    ];
    for (name, kind, help, field) in series {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (remote, s) in &stats {
            out.push_str(&format!(
                "{name}{{remote=\"{}\"}} {}\n",
                label(remote),
                field(s)
            ));
        }
    }
}

struct Totals {
    in_msgs: u64,
    in_bytes: u64,
    out_msgs: u64,
    out_bytes: u64,
}

fn totals(shared: &Shared) -> Totals {
    let s = &shared.stats;
    let mut t = Totals {
        in_msgs: s.in_msgs.load(Ordering::Relaxed),
        in_bytes: s.in_bytes.load(Ordering::Relaxed),
        out_msgs: s.out_msgs.load(Ordering::Relaxed),
        out_bytes: s.out_bytes.load(Ordering::Relaxed),
    };
    for c in shared.conns.lock().expect("conns lock").values() {
        let i = c.info.lock().expect("info lock");
        t.in_msgs += i.in_msgs;
        t.in_bytes += i.in_bytes;
        t.out_msgs += c.outbound.out_msgs.load(Ordering::Relaxed);
        t.out_bytes += c.outbound.out_bytes.load(Ordering::Relaxed);
    }
    t
}

fn subscription_count(shared: &Shared) -> usize {
    shared
        .accounts
        .read()
        .expect("accounts lock")
        .values()
        .map(|a| a.sublist.read().expect("sublist lock").len())
        .sum()
}

fn varz(shared: &Shared) -> Value {
    let s = shared.settings();
    let t = totals(shared);
    let uptime = shared.now().since_start();
    let mut v = json!({
        "server_id": shared.server_id,
        "server_name": shared.server_name(),
        "version": crate::VERSION,
        "proto": 1,
        "host": s.host,
        "port": s.port,
        "max_connections": s.max_connections,
        "ping_interval": s.session.ping_interval.as_nanos() as u64,
        "ping_max": s.session.ping_max,
        "http_host": s.http.as_deref().and_then(|h| h.rsplit_once(':')).map(|(h, _)| h).unwrap_or(""),
        "http_port": s.http.as_deref().and_then(|h| h.rsplit_once(':')).and_then(|(_, p)| p.parse::<u16>().ok()).unwrap_or(0),
        "auth_required": s.auth().auth_configured(),
        "auth_timeout": seconds_json(s.session.auth_timeout),
        "max_control_line": s.max_control_line,
        "max_payload": s.max_payload,
        "max_pending": s.max_pending,
        "max_subscriptions": s.max_subscriptions,
        "write_deadline": s.write_deadline.as_nanos() as u64,
        "tls_timeout": 2,
        "cluster": {},
        "gateway": {},
        "leaf": leaf_varz(shared),
        "presence": crate::server::presence::varz(shared),
        "start": rfc3339(shared.start_wall),
        "uptime": format_uptime(uptime),
        "now": now_rfc3339(shared),
        "mem": rss_bytes(),
        "cpu": cpu_percent(uptime),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "connections": shared.conns.lock().expect("conns lock").len(),
        "total_connections": shared.stats.total_connections.load(Ordering::Relaxed),
        "routes": 0,
        "remotes": 0,
        "leafnodes": shared.leafs.lock().expect("leafs lock").len(),
        "in_msgs": t.in_msgs,
        "out_msgs": t.out_msgs,
        "in_bytes": t.in_bytes,
        "out_bytes": t.out_bytes,
        "slow_consumers": shared.stats.slow_consumers.load(Ordering::Relaxed),
        "subscriptions": subscription_count(shared),
        "config_load_time": rfc3339(shared.start_wall + shared.config_load_time.lock().expect("lock").since_start()),
    });
    if let Some(b) = backbone_varz(shared) {
        v["backbone"] = b;
    }
    v
}

fn connz(shared: &Shared, query: &str) -> Value {
    let subs = query
        .split('&')
        .any(|kv| kv == "subs=1" || kv == "subs=true" || kv == "subs=detail");
    let conns = shared.conns.lock().expect("conns lock");
    let now = shared.now();
    let list: Vec<Value> = conns
        .values()
        .map(|c| {
            let i = c.info.lock().expect("info lock");
            let (ip, port) = i.addr.rsplit_once(':').unwrap_or((&i.addr, "0"));
            let mut v = json!({
                "cid": c.cid,
                "kind": "Client",
                "type": "nats",
                "ip": ip,
                "port": port.parse::<u16>().unwrap_or(0),
                "start": rfc3339(shared.start_wall + i.start.since_start()),
                "last_activity": rfc3339(shared.start_wall + i.last_activity.max(i.start).since_start()),
                "uptime": format_uptime(now - i.start),
                "idle": format_uptime(now - i.last_activity.max(i.start)),
                "pending_bytes": c.outbound.pending(),
                "in_msgs": i.in_msgs,
                "out_msgs": c.outbound.out_msgs.load(Ordering::Relaxed),
                "in_bytes": i.in_bytes,
                "out_bytes": c.outbound.out_bytes.load(Ordering::Relaxed),
                "subscriptions": i.subscriptions.len(),
                "account": i.account,
            });
            let m = v.as_object_mut().expect("object");
            if let Some(n) = &i.name {
                m.insert("name".into(), json!(n));
            }
            if let Some(l) = &i.lang {
                m.insert("lang".into(), json!(l));
            }
            if let Some(ver) = &i.version {
                m.insert("version".into(), json!(ver));
            }
            if let Some(u) = &i.user {
                m.insert("authorized_user".into(), json!(u));
            }
            if subs {
                m.insert("subscriptions_list".into(), json!(i.subscriptions));
            }
            v
        })
        .collect();
    json!({
        "server_id": shared.server_id,
        "now": now_rfc3339(shared),
        "num_connections": list.len(),
        "total": list.len(),
        "offset": 0,
        "limit": 1024,
        "connections": list,
    })
}

fn leafz(shared: &Shared, query: &str) -> Value {
    let subs = query
        .split('&')
        .any(|kv| kv == "subs=1" || kv == "subs=true");
    let leafs = shared.leafs.lock().expect("leafs lock");
    let list: Vec<Value> = leafs
        .values()
        .map(|c| {
            let i = c.info.lock().expect("info lock");
            let (ip, port) = i.addr.rsplit_once(':').unwrap_or((&i.addr, "0"));
            let mut v = json!({
                "name": i.name.clone().unwrap_or_default(),
                "account": i.account,
                "ip": ip,
                "port": port.parse::<u16>().unwrap_or(0),
                "in_msgs": i.in_msgs,
                "out_msgs": c.outbound.out_msgs.load(Ordering::Relaxed),
                "in_bytes": i.in_bytes,
                "out_bytes": c.outbound.out_bytes.load(Ordering::Relaxed),
                "subscriptions": i.subscriptions.len(),
                "solicited": matches!(c.kind, crate::server::state::ConnKind::Leaf { solicited: true }),
            });
            if subs {
                v.as_object_mut().expect("object").insert("subscriptions_list".into(), json!(i.subscriptions));
            }
            v
        })
        .collect();
    json!({
        "server_id": shared.server_id,
        "now": now_rfc3339(shared),
        "leafnodes": list.len(),
        "leafs": list,
    })
}

/// The `leaf` block of `/varz`: listener settings and configured remotes (with their state,
/// an addition to nats-server's fields).
fn leaf_varz(shared: &Shared) -> Value {
    let mut v = serde_json::Map::new();
    if let Some((host, port)) = shared.leaf_listen.lock().expect("lock").clone() {
        v.insert("host".into(), json!(host));
        v.insert("port".into(), json!(port));
        v.insert("auth_timeout".into(), json!(2));
        v.insert("tls_timeout".into(), json!(2));
    }
    let remotes: Vec<Value> = shared
        .remotes
        .lock()
        .expect("remotes lock")
        .iter()
        .map(|r| {
            let mut m = json!({
                "local_account": r.account,
                "urls": r.urls,
                "state": format!("{:?}", r.state).split([' ', '{', '(']).next().unwrap_or("").to_lowercase(),
                "consecutive_failures": r.consecutive_failures,
            });
            if let Some(n) = &r.name {
                m.as_object_mut().expect("object").insert("name".into(), json!(n));
            }
            m
        })
        .collect();
    if !remotes.is_empty() {
        v.insert("remotes".into(), json!(remotes));
    }
    Value::Object(v)
}

fn subsz(shared: &Shared) -> Value {
    json!({
        "num_subscriptions": subscription_count(shared),
        "num_cache": 0,
        "num_inserts": shared.next_sub_id.load(Ordering::Relaxed) - 1,
    })
}

fn metrics(shared: &Shared) -> String {
    let t = totals(shared);
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, v: u64| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"
        ));
    };
    gauge(
        "rejoin_connections",
        "Current client connections",
        shared.conns.lock().expect("conns lock").len() as u64,
    );
    gauge(
        "rejoin_total_connections",
        "Connections accepted since start",
        shared.stats.total_connections.load(Ordering::Relaxed),
    );
    gauge("rejoin_in_msgs", "Messages received", t.in_msgs);
    gauge("rejoin_out_msgs", "Messages sent", t.out_msgs);
    gauge("rejoin_in_bytes", "Bytes received", t.in_bytes);
    gauge("rejoin_out_bytes", "Bytes sent", t.out_bytes);
    gauge(
        "rejoin_slow_consumers",
        "Connections closed as slow consumers",
        shared.stats.slow_consumers.load(Ordering::Relaxed),
    );
    gauge(
        "rejoin_subscriptions",
        "Live subscriptions",
        subscription_count(shared) as u64,
    );
    backbone_metrics(shared, &mut out);
    out
}

/// nats-server style uptime: `1d2h3m4s`.
fn format_uptime(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86400, (s / 3600) % 24, (s / 60) % 60, s % 60);
    let mut out = String::new();
    if days > 0 {
        out.push_str(&format!("{days}d"));
    }
    if days > 0 || h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if days > 0 || h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{sec}s"));
    out
}

/// Wall-clock "now" in RFC 3339, derived from the start time plus the (possibly simulated)
/// time since start, so that it stays consistent with `uptime` in the simulator too.
fn now_rfc3339(shared: &Shared) -> String {
    rfc3339(shared.start_wall + shared.now().since_start())
}

/// Format a system time as RFC 3339 UTC with microseconds (`2026-11-24T21:09:19.707797Z`).
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm), valid for the proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Average CPU use since start, in percent of one core (nats-server reports a recent
/// sample; an average is close enough for dashboards and needs no sampler task).
fn cpu_percent(uptime: Duration) -> f64 {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may contain spaces) start after ')'.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        });
    match ticks {
        Some(t) if uptime.as_secs_f64() > 0.0 => {
            let pct = t as f64 / 100.0 / uptime.as_secs_f64() * 100.0;
            (pct * 100.0).round() / 100.0
        }
        _ => 0.0,
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        let t = std::time::UNIX_EPOCH + Duration::from_micros(1_795_986_559_707_797);
        assert_eq!(rfc3339(t), "2026-11-29T21:09:19.707797Z");
        assert_eq!(
            rfc3339(std::time::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(format_uptime(Duration::from_secs(90061)), "1d1h1m1s");
    }
}
