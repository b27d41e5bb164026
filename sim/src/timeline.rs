//! The trace as a self-contained HTML timeline: one lane per host, connections as bars,
//! faults as markers and bands, messages as ticks, and the invariant verdicts.
//!
//! Input is the trace text itself (JSON lines), so any saved trace renders. The output is
//! one HTML file with inline CSS and SVG (tooltips via `<title>`), no scripts or external
//! assets, so it opens anywhere and can be attached to a bug report.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::duration::parse_stamp;

const WIDTH: f64 = 1400.0;
const LABEL_W: f64 = 130.0;
const RIGHT_PAD: f64 = 20.0;
const ROW_H: f64 = 9.0;
const LANE_PAD: f64 = 10.0;
const TOP: f64 = 40.0;

/// One parsed trace line.
struct Line {
    t: f64,
    host: String,
    event: String,
    v: Value,
}

/// A bar in a lane.
struct Bar {
    from: f64,
    to: Option<f64>,
    label: String,
    tip: String,
    class: &'static str,
}

/// A point marker in a lane.
struct Mark {
    t: f64,
    tip: String,
    class: &'static str,
}

#[derive(Default)]
struct Lane {
    role: String,
    down: Vec<(f64, Option<f64>)>,
    bands: Vec<(f64, Option<f64>, String)>,
    bars: Vec<Bar>,
    marks: Vec<Mark>,
    published: Vec<f64>,
    received: Vec<f64>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn parse(trace: &str) -> Vec<Line> {
    trace
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| Line {
            t: parse_stamp(s(&v, "t")).map_or(0.0, |d| d.as_secs_f64()),
            host: s(&v, "host").to_string(),
            event: s(&v, "event").to_string(),
            v,
        })
        .collect()
}

fn close_open<T>(items: &mut [(f64, Option<f64>, T)], t: f64, pred: impl Fn(&T) -> bool) {
    for it in items.iter_mut().filter(|it| it.1.is_none() && pred(&it.2)) {
        it.1 = Some(t);
    }
}

/// Builds the lanes from the trace.
fn lanes(lines: &[Line]) -> (Vec<String>, BTreeMap<String, Lane>) {
    let mut order: Vec<String> = Vec::new();
    let mut lanes: BTreeMap<String, Lane> = BTreeMap::new();
    let is_host = |h: &str| !matches!(h, "nemesis" | "check" | "world" | "");
    for l in lines {
        if is_host(&l.host) && !lanes.contains_key(&l.host) {
            order.push(l.host.clone());
            lanes.insert(l.host.clone(), Lane::default());
        }
        if l.event == "fault" {
            for h in
                l.v.get("hosts")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            {
                let h = h.as_str().unwrap_or("").to_string();
                if is_host(&h) && !lanes.contains_key(&h) {
                    order.push(h.clone());
                    lanes.insert(h, Lane::default());
                }
            }
        }
    }
    // Server connections: (host, inc, cid) -> index into that lane's bars.
    let mut conns: BTreeMap<(String, u64, u64), usize> = BTreeMap::new();
    let mut client_conn: BTreeMap<String, usize> = BTreeMap::new();
    for l in lines {
        let t = l.t;
        if l.event == "fault" {
            let action = s(&l.v, "action").to_string();
            let words: Vec<&str> = action.split_whitespace().collect();
            let hosts: Vec<String> =
                l.v.get("hosts")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|h| h.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
            let err = s(&l.v, "error");
            let tip = if err.is_empty() {
                action.clone()
            } else {
                format!("{action} (not applied: {err})")
            };
            for h in &hosts {
                if let Some(lane) = lanes.get_mut(h) {
                    lane.marks.push(Mark {
                        t,
                        tip: tip.clone(),
                        class: "fault",
                    });
                }
            }
            let verb = words.first().copied().unwrap_or("");
            let pair = |i: usize| words.get(i).map(|w| w.to_string()).unwrap_or_default();
            match verb {
                "partition" | "partition_oneway" | "hold" => {
                    let (a, b) = (pair(1), pair(2));
                    let what = match verb {
                        "hold" => "held",
                        "partition_oneway" => "one-way cut",
                        _ => "cut",
                    };
                    if let Some(lane) = lanes.get_mut(&a) {
                        lane.bands.push((t, None, format!("{what} from {b}")));
                    }
                    if let Some(lane) = lanes.get_mut(&b) {
                        lane.bands.push((t, None, format!("{what} from {a}")));
                    }
                }
                "repair" | "repair_oneway" | "unhold" => {
                    let (a, b) = (pair(1), pair(2));
                    let what = if verb == "unhold" { "held" } else { "cut" };
                    for (x, y) in [(&a, &b), (&b, &a)] {
                        if let Some(lane) = lanes.get_mut(x) {
                            let y = y.clone();
                            close_open(&mut lane.bands, t, |lbl: &String| {
                                lbl.ends_with(&format!("from {y}")) && lbl.contains(what)
                            });
                        }
                    }
                }
                "isolate" | "silent_kill" => {
                    if let Some(lane) = lanes.get_mut(&pair(1)) {
                        lane.bands.push((t, None, "isolated".into()));
                    }
                }
                "heal" => {
                    let h = pair(1);
                    for (name, lane) in lanes.iter_mut() {
                        if *name == h {
                            close_open(&mut lane.bands, t, |_| true);
                        } else {
                            close_open(&mut lane.bands, t, |lbl: &String| {
                                lbl.ends_with(&format!("from {h}"))
                            });
                        }
                    }
                }
                "unresponsive" => {
                    if let Some(lane) = lanes.get_mut(&pair(1)) {
                        lane.bands.push((t, None, "unresponsive".into()));
                    }
                }
                "responsive" => {
                    if let Some(lane) = lanes.get_mut(&pair(1)) {
                        close_open(&mut lane.bands, t, |lbl: &String| lbl == "unresponsive");
                    }
                }
                _ => {}
            }
            if matches!(verb, "crash" | "silent_kill" | "restart") && err.is_empty() {
                let h = pair(1);
                if let Some(lane) = lanes.get_mut(&h) {
                    if verb != "restart" {
                        lane.down.push((t, None));
                    }
                    for b in lane.bars.iter_mut().filter(|b| b.to.is_none()) {
                        b.to = Some(t);
                        b.tip.push_str(&format!("\nends: {verb} at {t:.3}s"));
                    }
                }
                conns.retain(|(host, _, _), _| *host != h);
                client_conn.remove(&h);
            }
            continue;
        }
        let Some(lane) = lanes.get_mut(&l.host) else {
            continue;
        };
        match l.event.as_str() {
            "host_started" => {
                lane.role = s(&l.v, "role").to_string();
                for d in lane.down.iter_mut().filter(|d| d.1.is_none()) {
                    d.1 = Some(t);
                }
            }
            "server_exited" | "config_rejected" | "stopped" => {
                lane.down.push((t, None));
                lane.marks.push(Mark {
                    t,
                    tip: format!("{}: {}", l.event, compact(&l.v)),
                    class: "event",
                });
            }
            "client_accepted" | "client_connected" => {
                let inc = l.v.get("inc").and_then(Value::as_u64).unwrap_or(0);
                let cid = l.v.get("cid").and_then(Value::as_u64).unwrap_or(0);
                let key = (l.host.clone(), inc, cid);
                let idx = *conns.entry(key).or_insert_with(|| {
                    lane.bars.push(Bar {
                        from: t,
                        to: None,
                        label: format!("cid {cid}"),
                        tip: format!("inc {inc} cid {cid}\naccepted at {t:.3}s"),
                        class: "conn",
                    });
                    lane.bars.len() - 1
                });
                if l.event == "client_connected" {
                    let name = s(&l.v, "name");
                    let b = &mut lane.bars[idx];
                    if !name.is_empty() {
                        b.label = format!("{name} #{cid}");
                    }
                    b.tip.push_str(&format!("\nCONNECT {name} at {t:.3}s"));
                }
            }
            "client_closed" => {
                let inc = l.v.get("inc").and_then(Value::as_u64).unwrap_or(0);
                let cid = l.v.get("cid").and_then(Value::as_u64).unwrap_or(0);
                let reason = match l.v.get("reason") {
                    Some(Value::String(r)) => r.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                if let Some(idx) = conns.remove(&(l.host.clone(), inc, cid)) {
                    let b = &mut lane.bars[idx];
                    b.to = Some(t);
                    b.tip.push_str(&format!("\nclosed at {t:.3}s: {reason}"));
                    b.class = match reason.as_str() {
                        "client_closed" | "server_shutdown" => "conn",
                        "stale_connection" => "stale",
                        _ => "badclose",
                    };
                }
                if reason != "client_closed" {
                    lane.marks.push(Mark {
                        t,
                        tip: format!("cid {cid} closed: {reason}"),
                        class: "close",
                    });
                }
            }
            "connected" => {
                let server = s(&l.v, "server").to_string();
                lane.bars.push(Bar {
                    from: t,
                    to: None,
                    label: server.clone(),
                    tip: format!("connected to {server} at {t:.3}s"),
                    class: "conn",
                });
                client_conn.insert(l.host.clone(), lane.bars.len() - 1);
            }
            "disconnected" => {
                let reason = s(&l.v, "reason").to_string();
                if let Some(idx) = client_conn.remove(&l.host) {
                    let b = &mut lane.bars[idx];
                    b.to = Some(t);
                    b.tip
                        .push_str(&format!("\ndisconnected at {t:.3}s: {reason}"));
                    if reason != "stopped" {
                        b.class = "badclose";
                    }
                } else {
                    lane.marks.push(Mark {
                        t,
                        tip: format!("handshake ended: {reason}"),
                        class: "close",
                    });
                }
            }
            "connect_failed" => lane.marks.push(Mark {
                t,
                tip: format!("connect failed: {}", s(&l.v, "error")),
                class: "fail",
            }),
            "published" | "request_sent" => lane.published.push(t),
            "received" | "reply_received" => lane.received.push(t),
            "ping_sent" => {}
            _ => lane.marks.push(Mark {
                t,
                tip: format!("{}: {}", l.event, compact(&l.v)),
                class: "event",
            }),
        }
    }
    (order, lanes)
}

fn compact(v: &Value) -> String {
    let Some(o) = v.as_object() else {
        return String::new();
    };
    o.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "t" | "host" | "event"))
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Packs bars into rows so that overlapping bars never share one.
fn pack(bars: &[Bar], end: f64) -> Vec<usize> {
    let mut row_end: Vec<f64> = Vec::new();
    let mut rows = Vec::with_capacity(bars.len());
    for b in bars {
        let to = b.to.unwrap_or(end);
        let row = row_end
            .iter()
            .position(|e| *e <= b.from)
            .unwrap_or(row_end.len());
        if row == row_end.len() {
            row_end.push(to);
        } else {
            row_end[row] = to;
        }
        rows.push(row);
    }
    rows
}

fn nice_step(span: f64) -> f64 {
    let raw = span / 12.0;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(mag * 10.0)
}

/// Renders trace text (JSON lines) as a self-contained HTML page.
pub fn render(trace: &str, title: &str) -> String {
    let lines = parse(trace);
    let end = lines.iter().map(|l| l.t).fold(0.0f64, f64::max).max(0.001);
    let (order, lanes) = lanes(&lines);
    let plot_w = WIDTH - LABEL_W - RIGHT_PAD;
    let x = |t: f64| LABEL_W + t / end * plot_w;

    let mut body = String::new();
    let mut y = TOP;
    let mut lane_ys: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for name in &order {
        let lane = &lanes[name];
        let rows = pack(&lane.bars, end);
        let n_rows = rows.iter().copied().max().map_or(1, |m| m + 1);
        let msg_h = if lane.published.is_empty() && lane.received.is_empty() {
            0.0
        } else {
            12.0
        };
        let h = LANE_PAD * 2.0 + n_rows as f64 * (ROW_H + 2.0) + msg_h;
        lane_ys.insert(name.clone(), (y, h));
        let _ = write!(
            body,
            r#"<rect class="lane" x="0" y="{y:.1}" width="{WIDTH}" height="{h:.1}"/><text class="host" x="8" y="{:.1}">{}</text><text class="role" x="8" y="{:.1}">{}</text>"#,
            y + 16.0,
            esc(name),
            y + 28.0,
            esc(&lane.role)
        );
        for (from, to) in &lane.down {
            let (x0, x1) = (x(*from), x(to.unwrap_or(end)));
            let _ = write!(
                body,
                r#"<rect class="down" x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}"><title>{} down {from:.3}s – {}</title></rect>"#,
                (x1 - x0).max(1.0),
                esc(name),
                to.map_or("end".to_string(), |t| format!("{t:.3}s"))
            );
        }
        for (from, to, label) in &lane.bands {
            let (x0, x1) = (x(*from), x(to.unwrap_or(end)));
            let _ = write!(
                body,
                r#"<rect class="band" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{} {from:.3}s – {}</title></rect><text class="bandlbl" x="{:.1}" y="{:.1}">{}</text>"#,
                y + 1.0,
                (x1 - x0).max(1.0),
                h - 2.0,
                esc(label),
                to.map_or("end".to_string(), |t| format!("{t:.3}s")),
                x0 + 3.0,
                y + h - 3.0,
                esc(label)
            );
        }
        for (b, row) in lane.bars.iter().zip(&rows) {
            let (x0, x1) = (x(b.from), x(b.to.unwrap_or(end)));
            let by = y + LANE_PAD + *row as f64 * (ROW_H + 2.0);
            let w = (x1 - x0).max(2.0);
            let _ = write!(
                body,
                r#"<rect class="bar {}" x="{x0:.1}" y="{by:.1}" width="{w:.1}" height="{ROW_H}" rx="2"><title>{}</title></rect>"#,
                b.class,
                esc(&b.tip)
            );
            if w > 60.0 {
                let _ = write!(
                    body,
                    r#"<text class="barlbl" x="{:.1}" y="{:.1}">{}</text>"#,
                    x0 + 3.0,
                    by + 7.5,
                    esc(&b.label)
                );
            }
        }
        let my = y + LANE_PAD + n_rows as f64 * (ROW_H + 2.0) + 1.0;
        for t in &lane.published {
            let _ = write!(
                body,
                r#"<line class="pub" x1="{0:.1}" x2="{0:.1}" y1="{my:.1}" y2="{1:.1}"/>"#,
                x(*t),
                my + 5.0
            );
        }
        for t in &lane.received {
            let _ = write!(
                body,
                r#"<line class="recv" x1="{0:.1}" x2="{0:.1}" y1="{1:.1}" y2="{2:.1}"/>"#,
                x(*t),
                my + 5.0,
                my + 10.0
            );
        }
        for m in &lane.marks {
            let mx = x(m.t);
            let _ = write!(
                body,
                r#"<path class="mark {}" d="M{mx:.1},{:.1} l-4,-7 h8 z"><title>{:.3}s {}</title></path>"#,
                m.class,
                y + 8.0,
                m.t,
                esc(&m.tip)
            );
        }
        y += h;
    }
    let chart_h = y + 30.0;

    // Faults: a dashed line across the lanes they name, labelled at the top.
    let mut overlay = String::new();
    let mut label_rows: Vec<f64> = Vec::new();
    for l in lines.iter().filter(|l| l.event == "fault") {
        let fx = x(l.t);
        let action = s(&l.v, "action");
        let hosts: Vec<&str> =
            l.v.get("hosts")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
        let spans: Vec<(f64, f64)> = hosts
            .iter()
            .filter_map(|h| lane_ys.get(*h).copied())
            .collect();
        let (y0, y1) = if spans.is_empty() {
            (TOP, y)
        } else {
            (
                spans.iter().map(|s| s.0).fold(f64::MAX, f64::min),
                spans.iter().map(|s| s.0 + s.1).fold(0.0, f64::max),
            )
        };
        let row = label_rows
            .iter()
            .position(|e| *e < fx)
            .unwrap_or(label_rows.len());
        let lbl_w = action.len() as f64 * 6.2 + 8.0;
        if row == label_rows.len() {
            label_rows.push(fx + lbl_w);
        } else {
            label_rows[row] = fx + lbl_w;
        }
        let ly = 12.0 + (row % 2) as f64 * 12.0;
        let _ = write!(
            overlay,
            r#"<line class="faultline" x1="{fx:.1}" x2="{fx:.1}" y1="{:.1}" y2="{y1:.1}"/><line class="faultline" x1="{fx:.1}" x2="{fx:.1}" y1="{}" y2="{y0:.1}" opacity="0.35"/><text class="faultlbl" x="{:.1}" y="{ly:.1}">{}</text>"#,
            y0,
            ly + 2.0,
            fx + 2.0,
            esc(action)
        );
    }
    // Time axis.
    let step = nice_step(end);
    let mut axis = String::new();
    let mut t = 0.0;
    while t <= end + 1e-9 {
        let ax = x(t);
        let _ = write!(
            axis,
            r#"<line class="grid" x1="{ax:.1}" x2="{ax:.1}" y1="{TOP}" y2="{y:.1}"/><text class="tick" x="{ax:.1}" y="{:.1}">{}s</text>"#,
            y + 14.0,
            trim_float(t)
        );
        t += step;
    }
    // Verdicts: failures of "always" invariants are also marked at their time.
    let mut verdicts = String::new();
    let mut all_pass = true;
    for l in lines.iter().filter(|l| l.event == "verdict") {
        let pass = l.v.get("pass").and_then(Value::as_bool).unwrap_or(false);
        all_pass &= pass;
        let skipped = pass && s(&l.v, "detail") == crate::world::NOT_EVALUATED;
        let _ = write!(
            verdicts,
            r#"<tr class="{}"><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            match (pass, skipped) {
                (false, _) => "fail",
                (true, true) => "skip",
                (true, false) => "pass",
            },
            match (pass, skipped) {
                (false, _) => "FAIL",
                (true, true) => "skip",
                (true, false) => "ok",
            },
            esc(s(&l.v, "invariant")),
            esc(s(&l.v, "detail"))
        );
        if !pass && l.t < end - 1e-9 {
            let vx = x(l.t);
            let _ = write!(
                overlay,
                r#"<line class="violation" x1="{vx:.1}" x2="{vx:.1}" y1="{TOP}" y2="{y:.1}"><title>{}</title></line>"#,
                esc(s(&l.v, "invariant"))
            );
        }
    }
    let headline = if lines.iter().any(|l| l.event == "verdict") {
        if all_pass {
            "PASS"
        } else {
            "FAIL"
        }
    } else {
        "no verdicts"
    };
    let mut events = String::new();
    for l in lines.iter().filter(|l| {
        !matches!(
            l.event.as_str(),
            "published" | "received" | "ping_sent" | "request_sent" | "reply_received"
        )
    }) {
        let _ = writeln!(
            events,
            "{:>9.3}s  {:<10} {:<16} {}",
            l.t,
            esc(&l.host),
            esc(&l.event),
            esc(&compact(&l.v))
        );
    }

    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} — rejoin-sim timeline</title>
<style>
body {{ font: 13px/1.4 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 16px; color: #222; background: #fff; }}
h1 {{ font-size: 18px; margin: 0 0 6px; }} .PASS {{ color: #1a7f37; }} .FAIL {{ color: #cf222e; }}
svg text {{ font-family: inherit; }}
.lane {{ fill: #fafbfc; stroke: #d0d7de; stroke-width: 0.5; }}
.host {{ font-weight: 600; font-size: 13px; }} .role {{ fill: #6e7781; font-size: 11px; }}
.down {{ fill: #8c959f; opacity: 0.35; }}
.band {{ fill: #ff8182; opacity: 0.18; }} .bandlbl {{ fill: #a40e26; font-size: 9px; }}
.bar {{ stroke-width: 0.5; }} .conn {{ fill: #54aeff; stroke: #0969da; }} .stale {{ fill: #fb8f44; stroke: #bc4c00; }}
.badclose {{ fill: #a5d6ff; stroke: #cf222e; }} .barlbl {{ font-size: 8px; fill: #0a3069; pointer-events: none; }}
.pub {{ stroke: #8250df; stroke-width: 0.6; opacity: 0.6; }} .recv {{ stroke: #1a7f37; stroke-width: 0.6; opacity: 0.6; }}
.mark {{ stroke: none; }} .fault {{ fill: #cf222e; }} .close {{ fill: #bc4c00; }} .fail {{ fill: #6e7781; }} .event {{ fill: #0969da; }}
.faultline {{ stroke: #cf222e; stroke-dasharray: 4 3; stroke-width: 1; }} .faultlbl {{ fill: #cf222e; font-size: 10px; }}
.violation {{ stroke: #cf222e; stroke-width: 2.5; opacity: 0.7; }}
.grid {{ stroke: #d0d7de; stroke-width: 0.5; }} .tick {{ fill: #57606a; font-size: 10px; text-anchor: middle; }}
table {{ border-collapse: collapse; margin-top: 10px; }} td {{ padding: 2px 8px; border-bottom: 1px solid #eaeef2; vertical-align: top; }}
tr.pass td:first-child {{ color: #1a7f37; font-weight: 600; }} tr.fail td:first-child {{ color: #cf222e; font-weight: 600; }}
tr.fail {{ background: #ffebe9; }} tr.skip td {{ color: #8c959f; }} .legend span {{ display: inline-block; margin-right: 14px; }}
.sw {{ display: inline-block; width: 14px; height: 9px; vertical-align: middle; margin-right: 4px; border: 1px solid #999; }}
pre {{ font-size: 11px; background: #f6f8fa; padding: 8px; overflow-x: auto; }}
</style></head><body>
<h1>{title}: <span class="{headline}">{headline}</span></h1>
<div class="legend"><span><i class="sw" style="background:#54aeff"></i>connection</span><span><i class="sw" style="background:#fb8f44"></i>closed as stale</span><span><i class="sw" style="background:#a5d6ff;border-color:#cf222e"></i>ended abnormally</span><span><i class="sw" style="background:#8c959f;opacity:.5"></i>host down</span><span><i class="sw" style="background:#ff8182;opacity:.4"></i>partitioned / held / unresponsive</span><span style="color:#8250df">| published</span><span style="color:#1a7f37">| received</span><span style="color:#cf222e">▼ fault</span><span style="color:#bc4c00">▼ close</span><span style="color:#0969da">▼ event</span> (hover for details)</div>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{chart_h:.0}" viewBox="0 0 {WIDTH} {chart_h:.0}">
{axis}{body}{overlay}
</svg>
<h2 style="font-size:15px">Invariants</h2>
<table>{verdicts}</table>
<details><summary>Events (without messages and pings)</summary><pre>{events}</pre></details>
</body></html>
"#,
        title = esc(title),
    )
}

fn trim_float(t: f64) -> String {
    let s = format!("{t:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = r#"{"t":"0.000s","host":"s1","event":"host_started","inc":1,"role":"server"}
{"t":"0.010s","host":"s1","inc":1,"event":"client_accepted","cid":1}
{"t":"0.030s","host":"s1","inc":1,"event":"client_connected","cid":1,"name":"c<1>","account":"$G"}
{"t":"0.060s","host":"c<1>","event":"connected","server":"s1:4222"}
{"t":"1.000s","host":"nemesis","event":"fault","action":"partition c<1> s1","hosts":["c<1>","s1"]}
{"t":"3.500s","host":"s1","inc":1,"event":"client_closed","cid":1,"reason":"stale_connection"}
{"t":"4.000s","host":"nemesis","event":"fault","action":"repair c<1> s1","hosts":["c<1>","s1"]}
{"t":"5.000s","host":"check","event":"verdict","invariant":"stale_detected{}","pass":true,"detail":"ok"}
"#;

    #[test]
    fn renders_lanes_bars_faults_and_verdicts_escaped() {
        let html = render(TRACE, "demo");
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<span class=\"PASS\">PASS</span>"));
        assert!(
            html.contains("class=\"bar stale\""),
            "the stale close colours the server's bar"
        );
        assert!(html.contains("partition c&lt;1&gt; s1"));
        assert!(!html.contains("c<1>"), "host names are escaped");
        assert!(html.contains("class=\"band\""));
        assert!(
            !html.contains("http://") || html.matches("http://").count() == 1,
            "only the SVG namespace"
        );
    }

    #[test]
    fn bars_pack_into_rows() {
        let bar = |from, to| Bar {
            from,
            to,
            label: String::new(),
            tip: String::new(),
            class: "conn",
        };
        let rows = pack(
            &[bar(0.0, Some(2.0)), bar(1.0, Some(3.0)), bar(2.5, None)],
            10.0,
        );
        assert_eq!(rows, vec![0, 1, 0]);
    }
}
