//! Client protocol framing and operations as nats-server 2.9.10 speaks them (protocol notes
//! §1.1–§1.6), checked byte by byte with a raw client. Error replies have their own file
//! (`protocol_errors.rs`).

use std::collections::BTreeSet;

use rejoin_tests::{Frame, RawClient, TestServer};

/// The CONNECT async-nats 0.51 sends, `null`s included (captured live).
const ASYNC_NATS_CONNECT: &str = r#"{"verbose":false,"pedantic":false,"jwt":null,"nkey":null,"sig":null,"name":"asynccheck","echo":true,"lang":"rust","version":"0.51.0","protocol":1,"tls_required":false,"user":null,"pass":null,"auth_token":null,"headers":true,"no_responders":true}"#;

/// The CONNECT nats-py 2.16 sends (sorted keys, spaces after separators).
const NATS_PY_CONNECT: &str = r#"{"echo": true, "headers": true, "lang": "python3", "name": "pycheck", "no_responders": true, "pedantic": false, "protocol": 1, "verbose": false, "version": "2.16.0"}"#;

const QUIET_NO_HEADERS: &str = r#"{"verbose":false,"pedantic":false,"headers":false}"#;

#[test]
fn info_comes_first_with_required_fields() {
    let server = TestServer::start("");
    let mut client = RawClient::connect(server.addr());
    let info = client.read_info();
    let server_id = info["server_id"].as_str().expect("server_id string");
    assert!(!server_id.is_empty(), "empty server_id");
    // Without a configured server_name, nats-server names itself after its id.
    assert_eq!(info["server_name"], server_id, "server_name: {info}");
    assert!(info["version"].as_str().is_some(), "version: {info}");
    assert_eq!(info["proto"], 1, "proto: {info}");
    assert_eq!(info["headers"], true, "headers: {info}");
    assert_eq!(
        info["max_payload"], 1_048_576,
        "default max_payload: {info}"
    );
    assert!(
        info["client_id"].as_u64().unwrap_or(0) > 0,
        "client_id: {info}"
    );
    assert_eq!(info["port"], server.port(), "port: {info}");
    assert_ne!(info["auth_required"], true, "no auth configured: {info}");
}

#[test]
fn info_client_ids_differ_per_connection() {
    let server = TestServer::start("");
    let a = RawClient::connect(server.addr()).read_info();
    let b = RawClient::connect(server.addr()).read_info();
    assert_ne!(a["client_id"], b["client_id"]);
    assert_eq!(a["server_id"], b["server_id"]);
}

#[test]
fn info_reports_configured_max_payload() {
    let server = TestServer::start("max_payload: 1024");
    let info = RawClient::connect(server.addr()).read_info();
    assert_eq!(info["max_payload"], 1024);
}

#[test]
fn empty_connect_turns_verbose_on() {
    let server = TestServer::start("");
    let mut c = RawClient::connect(server.addr());
    c.read_info();
    c.send("CONNECT {}\r\n");
    c.expect_line("+OK");
    c.send("SUB foo 1\r\n");
    c.expect_line("+OK");
    // The +OK for a PUB precedes the MSG that the same PUB produces.
    c.send("PUB foo 2\r\nhi\r\n");
    c.expect_line("+OK");
    c.expect_bytes(b"MSG foo 1 2\r\nhi\r\n");
    c.send("UNSUB 1\r\n");
    c.expect_line("+OK");
    // PING is answered with PONG only, no +OK.
    c.send("PING\r\n");
    c.expect_line("PONG");
    c.expect_quiet();
}

#[test]
fn non_verbose_connect_sends_no_ok() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB foo 1\r\nPUB foo 2\r\nhi\r\nUNSUB 1\r\n");
    c.expect_bytes(b"MSG foo 1 2\r\nhi\r\n");
    c.sync_clean();
}

#[test]
fn operations_before_connect_work_without_auth() {
    let server = TestServer::start("");
    let mut c = RawClient::connect(server.addr());
    c.read_info();
    // Verbose is on by default, so each SUB/PUB is acknowledged.
    c.send("SUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n");
    c.expect_line("+OK");
    c.expect_line("+OK");
    c.expect_bytes(b"MSG foo 1 2\r\nhi\r\n");
    c.expect_line("PONG");
}

#[test]
fn real_client_connect_lines_are_accepted() {
    let server = TestServer::start("");
    for connect in [ASYNC_NATS_CONNECT, NATS_PY_CONNECT] {
        let (mut c, _) = RawClient::connect_with(server.addr(), connect);
        c.send("SUB x 0\r\nPUB x 1\r\nz\r\n");
        c.expect_bytes(b"MSG x 0 1\r\nz\r\n");
        c.sync_clean();
    }
}

#[test]
fn protocol_zero_is_accepted() {
    let server = TestServer::start("");
    let (mut c, _) = RawClient::connect_with(server.addr(), r#"{"verbose":false,"protocol":0}"#);
    c.sync_clean();
}

#[test]
fn unknown_connect_fields_are_ignored() {
    let server = TestServer::start("");
    let (mut c, _) = RawClient::connect_with(
        server.addr(),
        r#"{"verbose":false,"future_field":{"x":[1,2]},"another":"y"}"#,
    );
    c.sync_clean();
}

#[test]
fn operation_names_are_case_insensitive() {
    let server = TestServer::start("");
    let mut c = RawClient::connect(server.addr());
    c.read_info();
    c.send("connect {\"verbose\":false,\"headers\":true}\r\nsub foo 1\r\npub foo 2\r\nhi\r\n");
    c.expect_bytes(b"MSG foo 1 2\r\nhi\r\n");
    c.send("hpub foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    c.expect_bytes(b"HMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    c.send("ping\r\n");
    c.expect_line("PONG");
    c.send("unsub 1\r\nPub foo 1\r\nx\r\n");
    c.sync_clean();
}

#[test]
fn tabs_and_space_runs_separate_arguments() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB\tfoo\t\t1\r\nPUB\tfoo\t\t2\r\nhi\r\n");
    c.expect_bytes(b"MSG foo 1 2\r\nhi\r\n");
    // nats-py's shapes: empty queue / reply fields give double spaces, UNSUB a trailing space.
    c.send("SUB t.>  2\r\nPUB t.a  5\r\nhello\r\n");
    c.expect_bytes(b"MSG t.a 2 5\r\nhello\r\n");
    c.send("HPUB t.b  12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    c.expect_bytes(b"HMSG t.b 2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    c.send("UNSUB 2 \r\nPUB t.c 1\r\nx\r\n");
    c.send("PUB   foo   reply.to   3  \r\nabc\r\n");
    c.expect_bytes(b"MSG foo 1 reply.to 3\r\nabc\r\n");
    c.sync_clean();
}

#[test]
fn bare_lf_ends_control_lines() {
    let server = TestServer::start("");
    let mut c = RawClient::connect(server.addr());
    c.read_info();
    c.send("CONNECT {\"verbose\":false}\nPING\n");
    c.expect_line("PONG");
    c.send("SUB foo 1\nPUB foo 2\nhi\r\n");
    c.expect_bytes(b"MSG foo 1 2\r\nhi\r\n");
    c.sync_clean();
}

#[test]
fn payload_is_opaque_bytes() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB foo 1\r\n");
    // CRLFs and op names inside a payload are data, and so is a zero-length payload.
    c.send("PUB foo 11\r\nPING\r\nPUB x\r\n");
    c.expect_bytes(b"MSG foo 1 11\r\nPING\r\nPUB x\r\n");
    c.send("PUB foo 0\r\n\r\n");
    c.expect_bytes(b"MSG foo 1 0\r\n\r\n");
    let binary: Vec<u8> = (0u8..=255).collect();
    let mut frame = b"PUB foo 256\r\n".to_vec();
    frame.extend_from_slice(&binary);
    frame.extend_from_slice(b"\r\n");
    c.send(&frame);
    let msg = c.expect_msg();
    assert_eq!(msg.payload, binary);
    c.sync_clean();
}

#[test]
fn frames_split_into_single_bytes_are_reassembled() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    let input =
        b"SUB split 1\r\nPUB split reply 5\r\nhello\r\nHPUB split 12 14\r\nNATS/1.0\r\n\r\nhi\r\n";
    for byte in input {
        c.send([*byte]);
    }
    c.expect_bytes(b"MSG split 1 reply 5\r\nhello\r\n");
    c.expect_bytes(b"HMSG split 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    c.sync_clean();
}

#[test]
fn many_frames_in_one_write_are_all_processed() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    let mut batch = String::from("SUB batch 1\r\n");
    for i in 0..500 {
        let payload = format!("m{i}");
        batch.push_str(&format!("PUB batch {}\r\n{payload}\r\n", payload.len()));
    }
    c.send(batch);
    for i in 0..500 {
        let msg = c.expect_msg();
        assert_eq!(msg.payload, format!("m{i}").into_bytes(), "order at {i}");
    }
    c.sync_clean();
}

#[test]
fn reply_subject_is_relayed() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB foo 1\r\nPUB foo bar.reply 2\r\nhi\r\n");
    c.expect_bytes(b"MSG foo 1 bar.reply 2\r\nhi\r\n");
}

#[test]
fn header_messages_are_relayed_verbatim() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB foo 1\r\n");
    c.send("HPUB foo reply.x 24 29\r\nNATS/1.0\r\nA: b\r\nC: d\r\n\r\nhello\r\n");
    c.expect_bytes(b"HMSG foo 1 reply.x 24 29\r\nNATS/1.0\r\nA: b\r\nC: d\r\n\r\nhello\r\n");
    c.send("HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n");
    c.expect_bytes(b"HMSG foo 1 12 12\r\nNATS/1.0\r\n\r\n\r\n");
    // The server does not validate the header block.
    c.send("HPUB foo 5 7\r\nabcdehi\r\n");
    c.expect_bytes(b"HMSG foo 1 5 7\r\nabcdehi\r\n");
    c.sync_clean();
}

#[test]
fn headers_are_stripped_for_subscribers_without_header_support() {
    let server = TestServer::start("");
    let (mut sub, _) = RawClient::connect_with(server.addr(), QUIET_NO_HEADERS);
    sub.send("SUB foo 1\r\n");
    sub.sync_clean();
    let mut publisher = RawClient::connect_quiet(server.addr());
    publisher.send("HPUB foo reply.x 24 26\r\nNATS/1.0\r\nA: b\r\nC: d\r\n\r\nhi\r\n");
    publisher.sync_clean();
    sub.expect_bytes(b"MSG foo 1 reply.x 2\r\nhi\r\n");
}

#[test]
fn duplicate_sid_is_ignored_and_first_subscription_kept() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB foo 1\r\nSUB bar 1\r\n");
    c.sync_clean();
    c.send("PUB bar 1\r\nb\r\nPUB foo 1\r\nf\r\n");
    c.expect_bytes(b"MSG foo 1 1\r\nf\r\n");
    c.sync_clean();
}

#[test]
fn unsub_of_unknown_sid_is_ignored() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("UNSUB 99\r\nUNSUB 100 5\r\n");
    c.sync_clean();
    c.send("SUB foo 1\r\nPUB foo 1\r\nx\r\n");
    c.expect_bytes(b"MSG foo 1 1\r\nx\r\n");
}

#[test]
fn unsub_removes_subscription() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB foo 1\r\nUNSUB 1\r\nPUB foo 1\r\nx\r\n");
    c.sync_clean();
}

#[test]
fn unsub_with_max_delivers_exactly_max() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB foo 7\r\nUNSUB 7 2\r\n");
    c.send("PUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\n");
    c.expect_bytes(b"MSG foo 7 1\r\na\r\n");
    c.expect_bytes(b"MSG foo 7 1\r\nb\r\n");
    c.sync_clean();
    // The sid is free again: the subscription really is gone.
    c.send("PUB foo 1\r\nd\r\n");
    c.sync_clean();
}

#[test]
fn unsub_with_max_already_reached_removes_now() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB foo 8\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\n");
    c.expect_bytes(b"MSG foo 8 1\r\na\r\n");
    c.expect_bytes(b"MSG foo 8 1\r\nb\r\n");
    c.send("UNSUB 8 1\r\nPUB foo 1\r\nc\r\n");
    c.sync_clean();
}

#[test]
fn no_responders_status_message_exact_bytes() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB _INBOX.1 1\r\nPUB nobody _INBOX.1 2\r\nhi\r\n");
    c.expect_bytes(b"HMSG _INBOX.1 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n");
    c.sync_clean();
}

#[test]
fn no_responders_also_applies_to_hpub_requests() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB _INBOX.2 1\r\nHPUB nobody _INBOX.2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    c.expect_bytes(b"HMSG _INBOX.2 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n");
    c.sync_clean();
}

#[test]
fn no_responders_not_sent_without_opt_in() {
    let server = TestServer::start("");
    let (mut c, _) = RawClient::connect_with(
        server.addr(),
        r#"{"verbose":false,"headers":true,"no_responders":false}"#,
    );
    c.send("SUB _INBOX.1 1\r\nPUB nobody _INBOX.1 2\r\nhi\r\n");
    c.sync_clean();
}

#[test]
fn no_responders_not_sent_when_someone_listens() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB svc 2\r\nSUB _INBOX.1 1\r\nPUB svc _INBOX.1 2\r\nhi\r\n");
    c.expect_bytes(b"MSG svc 2 _INBOX.1 2\r\nhi\r\n");
    c.sync_clean();
}

#[test]
fn echo_false_suppresses_own_messages_only() {
    let server = TestServer::start("");
    let (mut quiet, _) =
        RawClient::connect_with(server.addr(), r#"{"verbose":false,"echo":false}"#);
    quiet.send("SUB foo 1\r\nPUB foo 4\r\nself\r\n");
    quiet.sync_clean();
    let mut other = RawClient::connect_quiet(server.addr());
    other.send("PUB foo 5\r\nother\r\n");
    other.sync_clean();
    quiet.expect_bytes(b"MSG foo 1 5\r\nother\r\n");
}

#[test]
fn sids_need_not_be_numeric() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB x s0\r\nPUB x 1\r\nz\r\n");
    c.expect_bytes(b"MSG x s0 1\r\nz\r\n");
}

#[test]
fn wildcard_matching() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB a.* 1\r\nSUB a.> 2\r\nSUB > 3\r\nSUB *.b.* 4\r\n");
    let cases: [(&str, &[&str]); 4] = [
        ("a.b", &["1", "2", "3"]),
        ("a.b.c", &["2", "3", "4"]),
        ("a", &["3"]),
        ("x.b.y", &["3", "4"]),
    ];
    for (subject, expected) in cases {
        c.send(format!("PUB {subject} 1\r\nx\r\n"));
        let frames = c.sync();
        let mut sids = BTreeSet::new();
        for frame in frames {
            match frame {
                Frame::Msg(m) => {
                    assert_eq!(m.subject, subject);
                    assert!(
                        sids.insert(m.sid.clone()),
                        "sid {} twice for {subject}",
                        m.sid
                    );
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(sids, expected, "subscriptions matching {subject}");
    }
}

#[test]
fn overlapping_subscriptions_each_get_a_copy() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB foo 1\r\nSUB foo 2\r\nSUB * 3\r\nPUB foo 1\r\nx\r\n");
    let frames = c.sync();
    assert_eq!(frames.len(), 3, "{frames:?}");
}

#[test]
fn wildcard_characters_inside_tokens_are_literal() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB foo*.bar 1\r\nSUB foo.>bar 2\r\n");
    c.send("PUB fooX.bar 1\r\nx\r\nPUB foo.xbar 1\r\nx\r\n");
    c.sync_clean();
    c.send("PUB foo*.bar 1\r\nx\r\nPUB foo.>bar 1\r\ny\r\n");
    c.expect_bytes(b"MSG foo*.bar 1 1\r\nx\r\n");
    c.expect_bytes(b"MSG foo.>bar 2 1\r\ny\r\n");
}

#[test]
fn non_pedantic_publish_to_wildcard_subject_is_literal() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB > 1\r\nPUB foo.* 1\r\nx\r\n");
    c.expect_bytes(b"MSG foo.* 1 1\r\nx\r\n");
    // An empty token matches nothing, silently.
    c.send("PUB foo..bar 1\r\nx\r\n");
    c.sync_clean();
}

#[test]
fn utf8_subjects_are_allowed() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB ünï.* 1\r\nPUB ünï.çødé 1\r\nx\r\n");
    c.expect_bytes("MSG ünï.çødé 1 1\r\nx\r\n".as_bytes());
}

#[test]
fn queue_group_names_are_not_validated() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("SUB q.x q.* 101\r\nPUB q.x 1\r\nx\r\n");
    c.expect_bytes(b"MSG q.x 101 1\r\nx\r\n");
}

#[test]
fn queue_group_delivers_to_one_member_and_every_plain_sub() {
    let server = TestServer::start("");
    let mut members = [
        RawClient::connect_quiet(server.addr()),
        RawClient::connect_quiet(server.addr()),
    ];
    for m in members.iter_mut() {
        m.send("SUB work grp 1\r\n");
        m.sync_clean();
    }
    let mut plain = RawClient::connect_quiet(server.addr());
    plain.send("SUB work 9\r\n");
    plain.sync_clean();
    let mut publisher = RawClient::connect_quiet(server.addr());
    for i in 0..20 {
        publisher.send(format!("PUB work 2\r\n{i:02}\r\n"));
    }
    publisher.sync_clean();
    for i in 0..20 {
        assert_eq!(plain.expect_msg().payload, format!("{i:02}").into_bytes());
    }
    plain.sync_clean();
    // Deliveries to the members happened before the plain sub's PONG only for the plain
    // connection; each member's own PING/PONG bounds what it has been sent.
    let total: usize = members.iter_mut().map(|m| m.sync().len()).sum();
    assert_eq!(total, 20, "each message to exactly one member");
}

#[test]
fn client_pong_is_accepted() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    c.send("PONG\r\n");
    c.sync_clean();
}

#[test]
fn subscription_survives_other_connection_closing() {
    let server = TestServer::start("");
    let mut sub = RawClient::connect_quiet(server.addr());
    sub.send("SUB foo 1\r\n");
    sub.sync_clean();
    {
        let mut other = RawClient::connect_quiet(server.addr());
        other.send("SUB foo 1\r\n");
        other.sync_clean();
    }
    let mut publisher = RawClient::connect_quiet(server.addr());
    publisher.send("PUB foo 1\r\nx\r\n");
    publisher.sync_clean();
    sub.expect_bytes(b"MSG foo 1 1\r\nx\r\n");
}

#[test]
fn payload_of_default_max_size_is_relayed_intact() {
    let server = TestServer::start("");
    let mut c = RawClient::connect_quiet(server.addr());
    let payload: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    let mut frame = b"SUB big 1\r\nPUB big 1048576\r\n".to_vec();
    frame.extend_from_slice(&payload);
    frame.extend_from_slice(b"\r\n");
    c.send(&frame);
    let msg = c.expect_msg();
    assert!(msg.payload == payload, "payload corrupted");
    c.sync_clean();
}

#[test]
fn queue_member_leaving_hands_work_to_the_rest() {
    let server = TestServer::start("");
    let mut leaving = RawClient::connect_quiet(server.addr());
    leaving.send("SUB work grp 1\r\n");
    leaving.sync_clean();
    let mut staying = RawClient::connect_quiet(server.addr());
    staying.send("SUB work grp 1\r\n");
    staying.sync_clean();
    leaving.send("UNSUB 1\r\n");
    leaving.sync_clean();
    let mut publisher = RawClient::connect_quiet(server.addr());
    for i in 0..10 {
        publisher.send(format!("PUB work 1\r\n{i}\r\n"));
    }
    publisher.sync_clean();
    for i in 0..10 {
        assert_eq!(staying.expect_msg().payload, format!("{i}").into_bytes());
    }
    staying.sync_clean();
    leaving.sync_clean();
}
