//! The command line and the config file as an operator meets them: `-t`, `--version`,
//! `--help`, `-p`/`-a`, SIGTERM, size units, `include` and variables.

use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rejoin_tests::process::{run_to_exit, Finished};
use rejoin_tests::scratch::ScratchDir;
use rejoin_tests::server::{free_port, Profile};
use rejoin_tests::{rejoin_only, Frame, RawClient, ServerKind, TestServer, WAIT};

fn binary() -> PathBuf {
    ServerKind::from_env()
        .binary(Profile::Debug)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Writes `files` into a fresh directory and runs the binary there with `args`.
fn run_in_dir(files: &[(&str, &str)], args: &[&str]) -> Finished {
    let dir = ScratchDir::new("cli").expect("scratch dir");
    for (name, contents) in files {
        dir.write(name, contents).expect("write file");
    }
    run_to_exit(&binary(), args, dir.path(), WAIT).unwrap_or_else(|e| panic!("{e}"))
}

/// Whether `text` contains `<file>:<line>:<col>` with numeric line and column.
fn names_position(text: &str, file: &str) -> bool {
    text.match_indices(&format!("{file}:")).any(|(at, m)| {
        let rest = &text[at + m.len()..];
        let mut parts = rest.splitn(3, ':');
        let line = parts.next().unwrap_or("");
        let col: String = parts
            .next()
            .unwrap_or("")
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        !line.is_empty() && line.chars().all(|c| c.is_ascii_digit()) && !col.is_empty()
    })
}

const BROKEN: &str = "max_payload: 1024\nauthorization {\n  user: a\n";

#[test]
fn check_flag_accepts_a_valid_config() {
    let run = run_in_dir(
        &[("good.conf", "max_payload: 512KB\nmax_connections: 10\n")],
        &["-t", "-c", "good.conf"],
    );
    assert!(
        run.status.success(),
        "exit {}: {}",
        run.status,
        run.output()
    );
}

#[test]
fn check_flag_rejects_a_broken_config() {
    let run = run_in_dir(&[("bad.conf", BROKEN)], &["-t", "-c", "bad.conf"]);
    assert!(
        !run.status.success(),
        "a broken file passed -t: {}",
        run.output()
    );
}

#[test]
fn check_flag_error_names_file_line_and_column() {
    rejoin_only!("nats-server reports parse errors as 'Parse error on line N' without the file");
    let run = run_in_dir(&[("bad.conf", BROKEN)], &["-t", "-c", "bad.conf"]);
    assert!(!run.status.success());
    assert!(
        names_position(&run.stderr, "bad.conf"),
        "stderr should name bad.conf:line:col, got {:?}",
        run.stderr
    );
}

#[test]
fn unknown_field_is_an_error_naming_it() {
    let run = run_in_dir(
        &[(
            "unknown.conf",
            "max_payload: 1024\nmax_connections: 10\nfoo_unknown: 1\n",
        )],
        &["-t", "-c", "unknown.conf"],
    );
    assert!(
        !run.status.success(),
        "unknown field accepted: {}",
        run.output()
    );
    let out = run.output();
    assert!(
        out.contains("foo_unknown"),
        "error should name the field: {out:?}"
    );
    assert!(
        out.contains("unknown.conf:3:1"),
        "error should give the position: {out:?}"
    );
}

#[test]
fn startup_with_unknown_field_fails() {
    let conf = format!("listen: 127.0.0.1:{}\nfoo_unknown: 1\n", free_port());
    let run = run_in_dir(&[("start.conf", &conf)], &["-c", "start.conf"]);
    assert!(!run.status.success(), "started despite an unknown field");
    assert!(run.output().contains("foo_unknown"), "{}", run.output());
}

#[test]
fn missing_config_file_is_an_error() {
    let run = run_in_dir(&[], &["-c", "does-not-exist.conf"]);
    assert!(!run.status.success(), "started without its config file");
}

#[test]
fn version_flag_prints_a_version() {
    let run = run_in_dir(&[], &["--version"]);
    assert!(run.status.success(), "exit {}", run.status);
    assert!(
        run.output().chars().any(|c| c.is_ascii_digit()),
        "no version number in {:?}",
        run.output()
    );
}

#[test]
fn help_flag_describes_the_config_option() {
    let run = run_in_dir(&[], &["--help"]);
    assert!(run.status.success(), "exit {}", run.status);
    assert!(
        run.output().contains("-c"),
        "help should mention -c: {}",
        run.output()
    );
}

#[test]
fn port_and_address_flags_override_the_config() {
    // The config asks for another address and port; the flags must win.
    let conf = format!("listen: 127.0.0.2:{}\n", free_port());
    let server = TestServer::builder(&conf).listen_by_flags().start();
    let mut c = RawClient::connect(server.addr());
    let info = c.read_info();
    assert_eq!(info["port"], server.port(), "{info}");
    c.send("CONNECT {\"verbose\":false}\r\n");
    c.sync_clean();
}

#[test]
fn sigterm_flushes_and_closes_clients_cleanly() {
    let mut server = TestServer::start("");
    let mut sub = RawClient::connect_quiet(server.addr());
    sub.send("SUB bye 1\r\n");
    sub.sync_clean();
    let mut publisher = RawClient::connect_quiet(server.addr());
    for i in 0..100 {
        publisher.send(format!("PUB bye 3\r\n{i:03}\r\n"));
    }
    publisher.sync_clean();
    server.signal("TERM");
    for i in 0..100 {
        assert_eq!(sub.expect_msg().payload, format!("{i:03}").into_bytes());
    }
    let rest = sub.expect_closed(WAIT);
    assert!(
        rest.is_empty(),
        "nothing after the messages: {:?}",
        String::from_utf8_lossy(&rest)
    );
    assert!(
        server.wait_exit(WAIT).is_some(),
        "still running after SIGTERM"
    );
}

#[test]
fn sigterm_exits_with_status_zero() {
    rejoin_only!("nats-server 2.9.10 exits with status 1 on SIGTERM");
    let mut server = TestServer::start("");
    let _client = RawClient::connect_quiet(server.addr());
    server.signal("TERM");
    let status = server.wait_exit(WAIT).expect("exit after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(
        TcpStream::connect(server.addr()).is_err(),
        "port still open after exit"
    );
}

#[test]
fn size_units_are_understood() {
    let server = TestServer::start("max_payload: 512KB");
    let info = RawClient::connect(server.addr()).read_info();
    assert_eq!(info["max_payload"], 512 * 1024);
}

#[test]
fn include_merges_another_file() {
    let server = TestServer::builder("server_name: incl\ninclude ./limits.conf\n")
        .file("limits.conf", "max_payload: 2KB\n")
        .start();
    let info = RawClient::connect(server.addr()).read_info();
    assert_eq!(info["max_payload"], 2048);
    assert_eq!(info["server_name"], "incl");
}

#[test]
fn variables_are_substituted() {
    let server = TestServer::start("PAYLOAD_LIMIT = 4KB\nmax_payload: $PAYLOAD_LIMIT\n");
    let info = RawClient::connect(server.addr()).read_info();
    assert_eq!(info["max_payload"], 4096);
}

#[test]
fn comments_and_separators_are_accepted() {
    let server = TestServer::start(
        "# comment\nmax_payload = 3000 // trailing comment\nmax_connections 50;\n\
         authorization { user: \"u\"; password: 'p' }\n",
    );
    let (mut c, info) =
        RawClient::connect_with(server.addr(), r#"{"verbose":false,"user":"u","pass":"p"}"#);
    assert_eq!(info["max_payload"], 3000);
    c.sync_clean();
}

#[test]
fn sighup_reloads_max_payload_for_new_connections() {
    let server = TestServer::start("max_payload: 1024");
    let mut old = RawClient::connect_quiet(server.addr());
    let conf = std::fs::read_to_string(server.conf_path()).expect("read conf");
    std::fs::write(
        server.conf_path(),
        conf.replace("max_payload: 1024", "max_payload: 2048"),
    )
    .expect("rewrite conf");
    server.signal("HUP");
    // The reload is asynchronous: look at fresh connections until one sees the new limit.
    let deadline = Instant::now() + WAIT;
    loop {
        let info = RawClient::connect(server.addr()).read_info();
        if info["max_payload"] == 2048 {
            break;
        }
        assert_eq!(info["max_payload"], 1024, "{info}");
        assert!(
            Instant::now() < deadline,
            "reload not applied within {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Existing connections survive a reload (an async INFO would be fine for clients).
    let frames = old.sync();
    assert!(
        frames.iter().all(|f| matches!(f, Frame::Info(_))),
        "unexpected frames on the old connection: {frames:?}"
    );
}

#[test]
fn sighup_with_broken_config_keeps_running() {
    let server = TestServer::start("max_payload: 1024");
    let conf = std::fs::read_to_string(server.conf_path()).expect("read conf");
    std::fs::write(server.conf_path(), format!("{conf}\nauthorization {{\n")).expect("write");
    server.signal("HUP");
    // A failed reload changes nothing: the server keeps serving with the old limit.
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        let (mut c, info) = RawClient::connect_with(server.addr(), r#"{"verbose":false}"#);
        assert_eq!(info["max_payload"], 1024);
        c.sync_clean();
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sighup_refuses_a_restart_only_change_whole() {
    let server = TestServer::start("server_name: first\nmax_payload: 1024");
    let conf = std::fs::read_to_string(server.conf_path()).expect("read conf");
    let changed = conf
        .replace("server_name: first", "server_name: second")
        .replace("max_payload: 1024", "max_payload: 2048");
    std::fs::write(server.conf_path(), changed).expect("rewrite conf");
    server.signal("HUP");
    let deadline = Instant::now() + WAIT;
    while !server
        .log()
        .contains("config reload not supported for server_name")
    {
        assert!(
            Instant::now() < deadline,
            "refusal not logged within {WAIT:?}:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Nothing of the refused file was applied, not even the reloadable key.
    let (mut c, info) = RawClient::connect_with(server.addr(), r#"{"verbose":false}"#);
    assert_eq!(info["max_payload"], 1024, "{info}");
    assert_eq!(info["server_name"], "first", "{info}");
    c.sync_clean();
}

#[test]
fn sighup_moves_the_pid_file() {
    let server = TestServer::start("pid_file: \"one.pid\"");
    let one = server.dir().join("one.pid");
    let two = server.dir().join("two.pid");
    let deadline = Instant::now() + WAIT;
    while !one.exists() {
        assert!(
            Instant::now() < deadline,
            "no pid file at {}",
            one.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let conf = std::fs::read_to_string(server.conf_path()).expect("read conf");
    std::fs::write(server.conf_path(), conf.replace("one.pid", "two.pid")).expect("rewrite");
    server.signal("HUP");
    while !two.exists() || one.exists() {
        assert!(
            Instant::now() < deadline + WAIT,
            "pid file not moved:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&two).expect("read pid file");
    assert_eq!(text.trim(), server.pid().to_string());
}

#[test]
fn pid_file_holds_the_process_id() {
    let server = TestServer::start("pid_file: \"server.pid\"");
    let path = server.dir().join("server.pid");
    let deadline = Instant::now() + WAIT;
    let text = loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if !text.trim().is_empty() {
                break text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no pid file at {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(text.trim(), server.pid().to_string());
}

#[test]
fn position_matcher_recognises_file_line_col() {
    assert!(names_position(
        "error: bad.conf:4:2: Unexpected EOF",
        "bad.conf"
    ));
    assert!(names_position(
        "/tmp/x/bad.conf:12:1: unknown field",
        "bad.conf"
    ));
    assert!(!names_position(
        "Parse error on line 4: 'Unexpected EOF'",
        "bad.conf"
    ));
    assert!(!names_position("bad.conf: cannot read", "bad.conf"));
}
