use std::time::Duration;

use super::*;
use crate::conf::{ConfErrorKind, MemSource};

fn parse(text: &str) -> Config {
    match Config::parse(text, "rejoin.conf", &MemSource::new()) {
        Ok(c) => c,
        Err(e) => panic!("{e}\n--- input ---\n{text}"),
    }
}

fn parse_err(text: &str) -> ConfError {
    match Config::parse(text, "rejoin.conf", &MemSource::new()) {
        Ok(c) => panic!("expected an error, got {c:?}\n--- input ---\n{text}"),
        Err(e) => e,
    }
}

fn valid(text: &str) -> Config {
    let c = parse(text);
    if let Err(e) = c.validate() {
        panic!("{e}\n--- input ---\n{text}");
    }
    c
}

fn invalid(text: &str) -> ConfigError {
    parse(text).validate().expect_err(text)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ---- defaults ---------------------------------------------------------------------------

#[test]
fn defaults_match_nats_server() {
    let c = Config::default();
    assert_eq!(c.port, 4222);
    assert_eq!(c.host, "0.0.0.0");
    assert_eq!(c.client_addr().to_string(), "0.0.0.0:4222");
    assert_eq!(c.max_payload, 1_048_576);
    assert_eq!(c.max_control_line, 4096);
    assert_eq!(c.max_pending, 67_108_864);
    assert_eq!(c.max_connections, 65536);
    assert_eq!(c.max_subscriptions, 0);
    assert_eq!(c.ping_interval, secs(120));
    assert_eq!(c.ping_max, 2);
    assert_eq!(c.auth_timeout(), secs(2));
    assert_eq!(c.write_deadline, secs(10));
    assert_eq!(c.lame_duck_duration, secs(120));
    assert_eq!(c.monitoring_addr(), None);
    assert!(c.logtime && !c.debug && !c.trace);
    assert_eq!(c.leafnodes.reconnect, secs(1));
    assert_eq!(c.leafnodes.listen_addr(), None);
    assert!(c.leafnodes.remotes.is_empty());
    assert!(c.presence_enabled().is_none());
    assert_eq!(c.seed, None);
    c.validate().unwrap();
}

#[test]
fn empty_file_is_the_default_config() {
    assert_eq!(parse(""), Config::default());
    assert_eq!(parse("# only a comment\n\n"), Config::default());
    assert_eq!(parse("{}"), Config::default());
}

// ---- top-level keys ------------------------------------------------------------------------

#[test]
fn top_level_keys_and_aliases() {
    let c = valid(
        r#"
        server_name: edge-1
        host: 127.0.0.1
        port: 4333
        http: "127.0.0.1:8222"
        max_payload: 512KB
        max_pending: 32MB
        max_control_line: 2k
        max_connections: 100
        max_subs: 50
        ping_interval: "30s"
        ping_max: 3
        write_deadline: "500ms"
        lame_duck_duration: "1m30s"
        no_auth_user: a
        authorization { users: [ { user: a, password: pa } ] }
        debug: true
        trace: yes
        logtime: off
        log_file: "/var/log/rejoin.log"
        pid_file: "/run/rejoin.pid"
        seed: 42
        "#,
    );
    assert_eq!(c.server_name.as_deref(), Some("edge-1"));
    assert_eq!(c.client_addr().to_string(), "127.0.0.1:4333");
    assert_eq!(c.monitoring_addr().unwrap().to_string(), "127.0.0.1:8222");
    assert_eq!(c.max_payload, 512 * 1024);
    assert_eq!(c.max_pending, 32 << 20);
    assert_eq!(c.max_control_line, 2000);
    assert_eq!(c.max_connections, 100);
    assert_eq!(c.max_subscriptions, 50);
    assert_eq!(c.ping_interval, secs(30));
    assert_eq!(c.ping_max, 3);
    assert_eq!(c.write_deadline, Duration::from_millis(500));
    assert_eq!(c.lame_duck_duration, secs(90));
    assert!(c.debug && c.trace && !c.logtime);
    assert_eq!(c.log_file.as_deref(), Some("/var/log/rejoin.log"));
    assert_eq!(c.pid_file.as_deref(), Some("/run/rejoin.pid"));
    assert_eq!(c.seed, Some(42));

    let c = parse("net: 10.0.0.1\nmonitor_port: 8333\nmax_subscriptions: 7");
    assert_eq!(c.host, "10.0.0.1");
    assert_eq!(c.monitoring_addr().unwrap().to_string(), "10.0.0.1:8333");
    assert_eq!(c.max_subscriptions, 7);
    assert_eq!(
        parse("http_port: 8222").monitoring_addr().unwrap().port,
        8222
    );
    assert_eq!(
        parse("http: 8222").monitoring_addr().unwrap().to_string(),
        "0.0.0.0:8222"
    );
}

#[test]
fn listen_and_ports() {
    assert_eq!(
        parse("listen: 127.0.0.1:4333").client_addr().to_string(),
        "127.0.0.1:4333"
    );
    assert_eq!(
        parse("listen: \"localhost:1\"").client_addr().to_string(),
        "localhost:1"
    );
    assert_eq!(
        parse("host: h\nlisten: 5000").client_addr().to_string(),
        "h:5000"
    );
    // `listen` wins over host/port whatever the order.
    assert_eq!(
        parse("listen: a:1\nhost: b\nport: 2")
            .client_addr()
            .to_string(),
        "a:1"
    );
    // nats-server's conventions: -1 is any free port, 0 the default.
    assert_eq!(parse("port: -1").port, EPHEMERAL_PORT);
    assert_eq!(parse("port: 0").port, 4222);
    assert_eq!(
        parse("http_port: -1").monitoring_addr().unwrap().port,
        EPHEMERAL_PORT
    );
    assert_eq!(parse("http_port: 0").monitoring_addr(), None);
    let e = parse_err("port: 70000");
    assert_eq!(e.path, "port");
    assert!(
        e.to_string()
            .starts_with("rejoin.conf:1:7: port: invalid port 70000"),
        "{e}"
    );
    let e = parse_err("listen: localhost");
    assert!(e.to_string().contains("missing port"), "{e}");
}

#[test]
fn option_names_are_case_insensitive() {
    let c = parse("Port: 4333\nMAX_PAYLOAD: 1k\nLeafNodes { Reconnect: 3 }");
    assert_eq!(c.port, 4333);
    assert_eq!(c.max_payload, 1000);
    assert_eq!(c.leafnodes.reconnect, secs(3));
    // Two spellings of one option are a duplicate, reported at the second.
    let e = parse_err("port: 1\nPort: 2");
    assert!(matches!(e.kind, ConfErrorKind::DuplicateField(_)), "{e}");
    assert_eq!(e.pos.unwrap().line, 2);
}

#[test]
fn durations_and_sizes() {
    assert_eq!(parse("ping_interval: 45").ping_interval, secs(45));
    assert_eq!(parse("ping_interval: \"2m\"").ping_interval, secs(120));
    assert_eq!(
        parse("ping_interval: 100us").ping_interval,
        Duration::from_micros(100)
    );
    assert_eq!(parse("ping_interval: 1h").ping_interval, secs(3600));
    assert_eq!(parse("max_payload: \"1MB\"").max_payload, 1 << 20);
    assert_eq!(parse("max_payload: 2048").max_payload, 2048);
    assert_eq!(
        parse("authorization { timeout: 0.5 }").auth_timeout(),
        Duration::from_millis(500)
    );
    assert_eq!(
        parse("authorization { timeout: 3 }").auth_timeout(),
        secs(3)
    );
    assert_eq!(
        parse("authorization { timeout: \"1s\" }").auth_timeout(),
        secs(1)
    );

    let e = parse_err("write_deadline: \"soon\"");
    assert_eq!(
        e.to_string(),
        "rejoin.conf:1:17: write_deadline: invalid duration \"soon\""
    );
    let e = parse_err("ping_interval: 1.5");
    assert!(
        e.to_string()
            .contains("ping_interval: invalid type: floating point `1.5`"),
        "{e}"
    );
    let e = parse_err("ping_interval: -5");
    assert!(e.to_string().contains("negative duration"), "{e}");
    let e = parse_err("max_payload: -1");
    assert!(
        e.to_string().contains("max_payload: invalid size -1"),
        "{e}"
    );
    let e = parse_err("max_payload: \"lots\"");
    assert!(
        e.to_string().contains("max_payload: expected integer"),
        "{e}"
    );
    let e = parse_err("max_payload: [1]");
    assert!(e.to_string().contains("invalid type: sequence"), "{e}");
}

// ---- unknown keys, type errors, paths ---------------------------------------------------

#[test]
fn unknown_top_level_key() {
    let e = parse_err("port: 4333\n\nfoo_unknown: 1\n");
    assert_eq!(
        e.to_string(),
        "rejoin.conf:3:1: unknown field \"foo_unknown\""
    );
    assert_eq!(e.path, "foo_unknown");
    // Reported as written.
    let e = parse_err("Foo_Unknown: 1");
    assert_eq!(
        e.to_string(),
        "rejoin.conf:1:1: unknown field \"Foo_Unknown\""
    );
    // Unsupported nats-server blocks are unknown too.
    assert!(parse_err("cluster { port: 6222 }")
        .to_string()
        .contains("unknown field \"cluster\""));
}

#[test]
fn unknown_nested_keys_name_their_path() {
    let text = "leafnodes {\n  remotes: [\n    { url: \"nats://a\" }\n    { url: \"nats://b\", tls: { insecure: true } }\n  ]\n}\n";
    let e = parse_err(text);
    assert_eq!(e.path, "leafnodes.remotes[1].tls.insecure");
    assert_eq!(
        e.to_string(),
        "rejoin.conf:4:31: unknown field \"insecure\" in leafnodes.remotes[1].tls"
    );
    let e = parse_err("authorization { users: [ { user: a, perms: {} } ] }");
    assert_eq!(e.path, "authorization.users[0].perms");
    let e = parse_err("accounts { A { users: [], jetstream: enabled } }");
    assert_eq!(e.path, "accounts.A.jetstream");
    let e = parse_err("presence { subject: x }");
    assert_eq!(e.path, "presence.subject");
    let e =
        parse_err("leafnodes { remotes: [ { url: nats://a, backbone { buffer { max: 1 } } } ] }");
    assert_eq!(e.path, "leafnodes.remotes[0].backbone.buffer.max");
}

#[test]
fn type_errors_name_path_and_value_position() {
    let e = parse_err("leafnodes {\n  remotes: [ { url: nats://a }, { url: 5 } ]\n}");
    assert_eq!(e.path, "leafnodes.remotes[1].url");
    assert_eq!(e.pos.as_ref().unwrap().to_string(), "rejoin.conf:2:40");
    assert!(
        e.to_string()
            .contains("leafnodes.remotes[1].url: invalid type: integer `5`"),
        "{e}"
    );
    let e = parse_err("leafnodes { remotes: [ { urls: [nats://a, \"http://b\"] } ] }");
    assert_eq!(e.path, "leafnodes.remotes[0].urls[1]");
    assert!(e.to_string().contains("scheme \"http\""), "{e}");
    let e = parse_err("debug: maybe");
    assert!(
        e.to_string().starts_with(
            "rejoin.conf:1:8: debug: invalid type: string \"maybe\", expected a boolean"
        ),
        "{e}"
    );
    let e = parse_err("authorization: 5");
    assert!(
        e.to_string()
            .contains("authorization: invalid type: integer `5`, expected struct Authorization"),
        "{e}"
    );
    // Datetimes reach serde as strings (nats-server would refuse this one).
    assert_eq!(
        parse("server_name: 2026-01-02T03:04:05Z")
            .server_name
            .as_deref(),
        Some("2026-01-02T03:04:05Z")
    );
}

#[test]
fn missing_and_duplicate_fields() {
    let e = parse_err("authorization {\n  users: [ { password: x } ]\n}");
    assert_eq!(e.kind, ConfErrorKind::MissingField("user".into()));
    assert_eq!(
        e.to_string(),
        "rejoin.conf:2:12: authorization.users[0]: missing field \"user\""
    );
    let e = parse_err("leafnodes { remotes: [ { url: nats://a, urls: [nats://b] } ] }");
    assert!(matches!(e.kind, ConfErrorKind::DuplicateField(_)), "{e}");
    assert_eq!(e.path, "leafnodes.remotes[0].urls");
}

// ---- variables --------------------------------------------------------------------------

#[test]
fn used_variables_are_not_unknown_fields() {
    let c = parse("MYP = 4333\nport: $MYP");
    assert_eq!(c.port, 4333);
    let c = parse("leafnodes { X = 3\n reconnect: $X }");
    assert_eq!(c.leafnodes.reconnect, secs(3));
    let c = parse("PASS: s3\nauthorization { user: a, password: $PASS }");
    assert_eq!(c.authorization.unwrap().password.as_deref(), Some("s3"));
    // A known option that is also used as a variable keeps its meaning.
    let c = parse("port: 4333\nhttp_port: $port");
    assert_eq!((c.port, c.http_port), (4333, Some(4333)));
    // Inside a map-typed block (accounts) a variable definition is not an account.
    let c = parse("accounts { U = { user: u }\n A { users: [$U] } }");
    assert_eq!(c.accounts.keys().collect::<Vec<_>>(), ["A"]);
}

#[test]
fn unused_variables_are_unknown_fields() {
    // nats-server: `t.conf:1:0: unknown field "MYP"`.
    let e = parse_err("MYP = 4333\nport: 4222");
    assert_eq!(e.to_string(), "rejoin.conf:1:1: unknown field \"MYP\"");
}

#[test]
fn unknown_variable() {
    let e = parse_err("port: 4222\nhttp_port: $NOPE");
    assert_eq!(
        e.to_string(),
        "rejoin.conf:2:12: variable reference for 'NOPE' on line 2 can not be found"
    );
}

#[test]
fn environment_variables_through_the_source() {
    let src = MemSource::new()
        .with_env("HUB", "nats-leaf://hub:7422")
        .with_env("P", "4333");
    let c = Config::parse(
        "port: $P\nleafnodes { remotes: [ { url: $HUB } ] }",
        "r.conf",
        &src,
    )
    .unwrap();
    assert_eq!(c.port, 4333);
    assert_eq!(
        c.leafnodes.remotes[0].urls[0].unredacted(),
        "nats-leaf://hub:7422"
    );
}

#[test]
fn includes_through_the_source() {
    let src = MemSource::new().with_file("conf.d/auth.conf", "authorization { token: t }");
    let c = Config::parse("include conf.d/auth.conf\nport: 1", "rejoin.conf", &src).unwrap();
    assert_eq!(c.authorization.unwrap().token.as_deref(), Some("t"));
    let src = MemSource::new().with_file("extra.conf", "nope: 1");
    let e = Config::parse("include extra.conf", "rejoin.conf", &src).unwrap_err();
    assert_eq!(e.to_string(), "extra.conf:1:1: unknown field \"nope\"");
}

// ---- authorization and accounts ---------------------------------------------------------

#[test]
fn permissions_forms() {
    let c = valid(
        r#"
        authorization {
          timeout: 1.5
          users: [
            { user: a, password: pa, permissions: { publish: "x.>", subscribe: ["y", "z.*"] } }
            { username: b, pass: pb, permissions: {
                publish: { allow: ["a.>"], deny: "a.secret" }
                subscribe: { deny: [">"] } } }
            { user: c, permissions: { pub: p, sub: { allow: s } } }
          ]
        }
        "#,
    );
    let a = c.authorization.unwrap();
    assert_eq!(a.timeout, Duration::from_millis(1500));
    let p0 = a.users[0].permissions.clone().unwrap();
    assert_eq!(p0.publish.unwrap().allow, ["x.>"]);
    assert_eq!(p0.subscribe.unwrap().allow, ["y", "z.*"]);
    let p1 = a.users[1].permissions.clone().unwrap();
    assert_eq!(a.users[1].user, "b");
    assert_eq!(a.users[1].password.as_deref(), Some("pb"));
    let pb = p1.publish.unwrap();
    assert_eq!(
        (pb.allow, pb.deny),
        (vec!["a.>".to_string()], vec!["a.secret".to_string()])
    );
    let sb = p1.subscribe.unwrap();
    assert!(sb.allow.is_empty());
    assert_eq!(sb.deny, [">"]);
    let p2 = a.users[2].permissions.clone().unwrap();
    assert_eq!(p2.publish.unwrap().allow, ["p"]);
    assert_eq!(p2.subscribe.unwrap().allow, ["s"]);
    assert_eq!(a.users[2].password, None);

    let e = parse_err(
        "authorization { users: [ { user: a, permissions: { publish: { allw: x } } } ] }",
    );
    assert_eq!(e.path, "authorization.users[0].permissions.publish.allw");
    let e = parse_err("authorization { users: [ { user: a, permissions: { publish: 5 } } ] }");
    assert!(
        e.to_string()
            .contains("expected a subject, a list of subjects, or { allow, deny }"),
        "{e}"
    );
}

#[test]
fn accounts_and_no_auth_user() {
    let c = valid(
        "accounts {\n  A: { users: [ { user: ua, password: p } ] }\n  'B C': { users: [ { user: ub } ] }\n  EMPTY: {}\n}\nno_auth_user: ub\n",
    );
    assert_eq!(c.accounts.keys().collect::<Vec<_>>(), ["A", "B C", "EMPTY"]);
    assert_eq!(c.accounts["A"].users[0].user, "ua");
    assert_eq!(c.account_names(), ["$G", "$SYS", "A", "B C", "EMPTY"]);

    assert_eq!(
        invalid("authorization { users: [ {user: a} ] }\nno_auth_user: zed").to_string(),
        "no_auth_user: \"zed\" not present as user in authorization block or account configuration"
    );
    assert_eq!(
        invalid("no_auth_user: zed"),
        ConfigError::UnknownNoAuthUser("zed".into())
    );
    assert_eq!(
        invalid("authorization { users: [ {user: a} ] }\naccounts { A { users: [ {user: a} ] } }"),
        ConfigError::DuplicateUser("a".into())
    );
    assert_eq!(
        invalid("authorization { token: t, users: [ {user: a} ] }"),
        ConfigError::MixedAuthorization
    );
}

// ---- leafnodes --------------------------------------------------------------------------

#[test]
fn leafnodes_block() {
    let c = valid(
        r#"
        accounts { HUBACC: {} }
        leafnodes {
          host: 127.0.0.1
          port: 7422
          advertise: "edge.example:7422"
          no_advertise: true
          reconnect_interval: "250ms"
          min_version: "2.8.0"
          authorization {
            user: leaf
            password: secret
            account: HUBACC
            timeout: 0.5
          }
          tls { cert_file: c.pem, key_file: k.pem, ca_file: ca.pem, verify: true, timeout: 3, handshake_first: true }
        }
        "#,
    );
    let l = &c.leafnodes;
    assert_eq!(l.listen_addr().unwrap().to_string(), "127.0.0.1:7422");
    assert_eq!(l.advertise.as_deref(), Some("edge.example:7422"));
    assert!(l.no_advertise);
    assert_eq!(l.reconnect, Duration::from_millis(250));
    assert_eq!(l.min_version.as_deref(), Some("2.8.0"));
    let a = l.authorization.as_ref().unwrap();
    assert_eq!(
        (a.user.as_deref(), a.account.as_deref()),
        (Some("leaf"), Some("HUBACC"))
    );
    assert_eq!(a.timeout, Duration::from_millis(500));
    let t = l.tls.as_ref().unwrap();
    assert_eq!(t.cert_file.as_deref(), Some("c.pem"));
    assert!(t.verify && t.handshake_first);
    assert_eq!(t.timeout, secs(3));

    assert_eq!(
        parse("leafnodes { listen: 127.0.0.1:7999 }")
            .leafnodes
            .listen_addr()
            .unwrap()
            .to_string(),
        "127.0.0.1:7999"
    );
    assert_eq!(
        parse("leafnodes { port: -1 }")
            .leafnodes
            .listen_addr()
            .unwrap()
            .to_string(),
        "0.0.0.0:0"
    );
    assert_eq!(parse("leafnodes { port: 0 }").leafnodes.listen_addr(), None);
    assert_eq!(
        parse("leafnodes { reconnect: 2 }").leafnodes.reconnect,
        secs(2)
    );
    assert_eq!(
        parse("leafnodes { reconnect_delay: \"2s\" }")
            .leafnodes
            .reconnect,
        secs(2)
    );
    assert_eq!(
        parse("leafnodes { leafnode_advertise: x }")
            .leafnodes
            .advertise
            .as_deref(),
        Some("x")
    );
    // nats-server 2.9.10's documented example line.
    parse("leafnodes { listen = \"127.0.0.1:37999\"; reconnect: 3 }");
}

#[test]
fn leaf_authorization_rules() {
    assert_eq!(
        invalid("leafnodes { authorization { account: NOPE } }"),
        ConfigError::UnknownLeafAccount {
            account: "NOPE".into(),
            context: "authorization"
        }
    );
    assert_eq!(
        invalid("leafnodes { authorization { users: [ { user: a, account: NOPE } ] } }")
            .to_string(),
        "cannot find local account \"NOPE\" specified in leafnode authorization"
    );
    valid(
        r#"leafnodes { authorization { users: [ { user: a, password: p, account: "$G" }, { user: b, account: "$SYS" } ] } }"#,
    );
    assert_eq!(
        invalid("leafnodes { authorization { user: x, users: [ { user: a } ] } }"),
        ConfigError::MixedLeafAuthorization
    );
    assert_eq!(
        invalid("leafnodes { authorization { users: [ { user: a }, { user: a } ] } }"),
        ConfigError::DuplicateLeafUser("a".into())
    );
    // A rejoin extension: nats-server 2.9.10 refuses `permissions` here.
    let c = valid(
        "leafnodes { authorization { users: [ { user: a, password: p, permissions: { publish: \"up.>\", subscribe: { allow: \"down.>\", deny: [\"down.secret\"] } } } ] } }",
    );
    let users = &c.leafnodes.authorization.as_ref().unwrap().users;
    let p = users[0].permissions.as_ref().unwrap();
    assert_eq!(p.publish.as_ref().unwrap().allow, ["up.>"]);
    assert_eq!(p.subscribe.as_ref().unwrap().deny, ["down.secret"]);
}

#[test]
fn remote_keys_and_aliases() {
    let c = valid(
        r#"
        accounts { LOCAL: {} }
        leafnodes {
          remotes: [
            {
              urls: ["nats-leaf://u:p@hub1", "nats-leaf://hub2:7000"]
              local: LOCAL
              creds: "/etc/rejoin/leaf.creds"
              tls { ca_file: ca.pem, handshake_first: true }
              dont_randomize: true
              hub: true
              deny_import: "private.>"
              deny_exports: ["a", "b"]
              first_info_timeout: "3s"
              disabled: true
              name: primary
              backoff { min: "100ms", max: "5s" }
            }
            { url: "tls://other", account: LOCAL, credentials: x.creds, no_randomize: false, deny_imports: [x], deny_export: y }
          ]
        }
        "#,
    );
    let r = &c.leafnodes.remotes[0];
    assert_eq!(
        r.redacted_urls(),
        ["nats-leaf://u:xxxxx@hub1:7422", "nats-leaf://hub2:7000"]
    );
    assert_eq!(r.local_account(), "LOCAL");
    assert_eq!(r.credentials.as_deref(), Some("/etc/rejoin/leaf.creds"));
    assert!(r.tls.as_ref().unwrap().handshake_first);
    assert!(r.no_randomize && r.hub && r.disabled);
    assert_eq!(r.deny_imports, ["private.>"]);
    assert_eq!(r.deny_exports, ["a", "b"]);
    assert_eq!(r.first_info_timeout, secs(3));
    assert_eq!(r.name.as_deref(), Some("primary"));
    assert_eq!(
        r.backoff,
        Some(Backoff {
            min: Duration::from_millis(100),
            max: secs(5)
        })
    );
    assert!(!r.is_backbone());
    let r = &c.leafnodes.remotes[1];
    assert_eq!(r.redacted_urls(), ["tls://other:7422"]);
    assert_eq!(r.credentials.as_deref(), Some("x.creds"));
    assert_eq!(
        (r.deny_imports.as_slice(), r.deny_exports.as_slice()),
        (&["x".to_string()][..], &["y".to_string()][..])
    );
    assert_eq!(r.first_info_timeout, secs(1));
    assert!(!r.disabled);
    assert_eq!(r.backoff, None);
    assert_eq!(r.local_account(), "LOCAL");
}

#[test]
fn backbone_defaults_and_overrides() {
    let c = valid("leafnodes { remotes: [ { url: nats://hub, backbone {} } ] }");
    let b = c.leafnodes.remotes[0].backbone.clone().unwrap();
    assert_eq!(b, Backbone::default());
    assert_eq!(b.buffer.max_msgs, 10_000);
    assert_eq!(b.buffer.max_bytes, 64 << 20);
    assert_eq!(b.settle, secs(2));
    assert_eq!(b.resync.subject, "$REJOIN.RESYNC");
    assert_eq!(b.resync.mode, ResyncMode::Notify);
    assert_eq!(b.resync.cooldown, secs(30));
    assert_eq!(b.resync.window, secs(10));
    assert_eq!(
        b.backoff,
        Backoff {
            min: Duration::from_millis(500),
            max: secs(30)
        }
    );
    assert_eq!(b.max_reconnect_attempts, 0);
    assert_eq!(b.silence_timeout, secs(10));

    let c = valid(
        r#"leafnodes { remotes: [ { url: nats://hub, backbone {
            buffer { max_msgs: 5k, max_bytes: 1MB }
            settle: "500ms"
            resync { subject: "OPS.RESYNC", mode: LameDuck, cooldown: 5, window: "1s" }
            backoff { min: "1s", max: "10s" }
            max_reconnect_attempts: 20
            silence_timeout: "3s"
        } } ] }"#,
    );
    let b = c.leafnodes.remotes[0].backbone.clone().unwrap();
    assert_eq!(
        b.buffer,
        BufferLimits {
            max_msgs: 5000,
            max_bytes: 1 << 20
        }
    );
    assert_eq!(b.settle, Duration::from_millis(500));
    assert_eq!(b.resync.subject, "OPS.RESYNC");
    assert_eq!(b.resync.mode, ResyncMode::Lameduck);
    assert_eq!((b.resync.cooldown, b.resync.window), (secs(5), secs(1)));
    assert_eq!(
        b.backoff,
        Backoff {
            min: secs(1),
            max: secs(10)
        }
    );
    assert_eq!(b.max_reconnect_attempts, 20);
    assert_eq!(b.silence_timeout, secs(3));
    assert_eq!(
        parse(
            "leafnodes { remotes: [ { url: nats://h, backbone { resync { mode: lame_duck } } } ] }"
        )
        .leafnodes
        .remotes[0]
            .backbone
            .as_ref()
            .unwrap()
            .resync
            .mode,
        ResyncMode::Lameduck
    );
    let e = parse_err(
        "leafnodes { remotes: [ { url: nats://h, backbone { resync { mode: loud } } } ] }",
    );
    assert_eq!(e.path, "leafnodes.remotes[0].backbone.resync.mode");
    assert!(
        e.to_string()
            .contains("unknown variant `loud`, expected one of `notify`"),
        "{e}"
    );
}

#[test]
fn presence_block() {
    let c = valid("presence {}");
    let p = c.presence_enabled().unwrap();
    assert_eq!(p, &Presence::default());
    assert!(p.enabled && p.takeover);
    assert_eq!(p.id_from, IdFrom::Name);
    assert!(p.accounts.is_empty());
    assert_eq!(
        (p.subject_prefix.as_str(), p.relay_prefix.as_str()),
        ("$PRESENCE", "$RELAY")
    );
    assert_eq!(p.takeover_backoff, secs(1));

    let c = valid(
        "accounts { A {}, B {} }\npresence { id_from: user, accounts: [A, B], subject_prefix: \"ops.presence\", relay_prefix: ops.relay, takeover: false, takeover_backoff: \"250ms\" }",
    );
    let p = c.presence_enabled().unwrap();
    assert_eq!(p.id_from, IdFrom::User);
    assert_eq!(p.accounts, ["A", "B"]);
    assert_eq!(p.subject_prefix, "ops.presence");
    assert!(!p.takeover);
    assert_eq!(p.takeover_backoff, Duration::from_millis(250));
    assert!(valid("presence { enabled: false }")
        .presence_enabled()
        .is_none());
    assert_eq!(
        valid("accounts { A {} }\npresence { accounts: A }")
            .presence
            .unwrap()
            .accounts,
        ["A"]
    );
}

// ---- validation -------------------------------------------------------------------------

#[test]
fn max_payload_rules() {
    assert_eq!(
        invalid("max_payload: 2MB\nmax_pending: 1MB").to_string(),
        "max_payload (2097152) cannot be higher than max_pending (1048576)"
    );
    assert_eq!(
        invalid("max_payload: 9MB"),
        ConfigError::MaxPayloadTooLarge(9 << 20)
    );
    valid("max_payload: 8MB");
    valid("max_payload: 1MB\nmax_pending: 1MB");
}

#[test]
fn remote_validation() {
    // Same identity after normalisation; the message shows redacted URLs only.
    let e = invalid(
        "leafnodes { remotes: [ { url: \"nats://u:secret@h\" }, { url: \"nats://u:secret@h:7422\" } ] }",
    );
    assert_eq!(
        e.to_string(),
        r#"leafnodes.remotes[0] and leafnodes.remotes[1] are the same remote: urls=["nats://u:xxxxx@h:7422"] account="$G" credentials="""#
    );
    // Same account bound to the same URL set under another identity (other order, other
    // credentials, or names).
    for text in [
        "leafnodes { remotes: [ { urls: [\"nats://a\", \"nats://b\"] }, { urls: [\"nats://b\", \"nats://a:7422\"] } ] }",
        "leafnodes { remotes: [ { url: nats://a, creds: x }, { url: nats://a, creds: y } ] }",
        "leafnodes { remotes: [ { url: \"nats://u:secret@a\", name: one }, { url: \"nats://u:secret@a\", name: two } ] }",
    ] {
        let e = invalid(text);
        assert!(matches!(e, ConfigError::SameAccountSameUrls { first: 0, second: 1, .. }), "{text}: {e}");
        assert!(!e.to_string().contains("secret"), "{e}");
    }
    // Two names are distinct remotes when their URLs or accounts differ.
    valid("leafnodes { remotes: [ { url: nats://a, name: one }, { url: nats://b, name: two } ] }");
    valid("accounts { X {} }\nleafnodes { remotes: [ { url: nats://a }, { url: nats://a, account: X } ] }");
    assert!(matches!(
        invalid(
            "leafnodes { remotes: [ { url: nats://a, name: n }, { url: nats://b, name: n } ] }"
        ),
        ConfigError::DuplicateRemote {
            first: 0,
            second: 1,
            ..
        }
    ));
    assert_eq!(
        invalid("leafnodes { remotes: [ { urls: [] } ] }"),
        ConfigError::EmptyUrls { index: 0 }
    );
    assert_eq!(
        invalid("leafnodes { remotes: [ {} ] }"),
        ConfigError::EmptyUrls { index: 0 }
    );
    assert!(matches!(
        invalid("leafnodes { remotes: [ { urls: [ws://a, nats://b] } ] }"),
        ConfigError::MixedWebsocketUrls { index: 0, .. }
    ));
    assert_eq!(
        invalid("leafnodes { remotes: [ { url: nats://a, account: NOPE } ] }").to_string(),
        "cannot find local account \"NOPE\" specified in leafnode remote"
    );
    assert_eq!(
        invalid("leafnodes { remotes: [ { url: nats://a, backoff { min: 5s, max: 1s } } ] }")
            .to_string(),
        "leafnodes.remotes[0].backoff: min (5s) cannot be higher than max (1s)"
    );
    assert!(matches!(
        invalid("leafnodes { remotes: [ { url: nats://a, backbone { backoff { min: 0s, max: 0s } } } ] }"),
        ConfigError::ZeroBackoff { .. }
    ));
    assert!(matches!(
        invalid("leafnodes { remotes: [ { url: nats://a, backbone { resync { subject: \"a.*\" } } } ] }"),
        ConfigError::InvalidSubject { .. }
    ));
    // Programmatically built URLs are checked too.
    let mut c = valid("leafnodes { remotes: [ { url: nats://a } ] }");
    c.leafnodes.remotes[0].urls[0].scheme = "http".into();
    assert!(matches!(
        c.validate(),
        Err(ConfigError::InvalidUrl { index: 0, .. })
    ));
    // Bad URLs in the file fail at parse time, with their position.
    let e = parse_err("leafnodes { remotes: [ { url: \"nats://u:secret@h:notaport\" } ] }");
    assert_eq!(e.path, "leafnodes.remotes[0].url");
    assert!(
        e.to_string().contains("invalid port") && !e.to_string().contains("secret"),
        "{e}"
    );
}

#[test]
fn presence_validation() {
    for bad in ["", "a..b", "$PRESENCE.*", ">", "has space"] {
        let text = format!("presence {{ subject_prefix: \"{bad}\" }}");
        assert_eq!(
            invalid(&text),
            ConfigError::InvalidSubject {
                path: "presence.subject_prefix".into(),
                subject: bad.into()
            },
            "{bad:?}"
        );
    }
    assert!(matches!(
        invalid("presence { relay_prefix: \"a.>\" }"),
        ConfigError::InvalidSubject { .. }
    ));
    assert_eq!(
        invalid("presence { accounts: [NOPE] }"),
        ConfigError::UnknownPresenceAccount("NOPE".into())
    );
}

// ---- remote diff ------------------------------------------------------------------------

fn remotes(text: &str) -> Config {
    valid(&format!(
        "accounts {{ X {{}} }}\nleafnodes {{ remotes: [ {text} ] }}"
    ))
}

fn names(list: &[RemoteConfig]) -> Vec<String> {
    list.iter()
        .map(|r| {
            r.name
                .clone()
                .unwrap_or_else(|| r.redacted_urls().join(","))
        })
        .collect()
}

#[test]
fn diff_remotes_table() {
    struct Case {
        what: &'static str,
        old: &'static str,
        new: &'static str,
        added: &'static [&'static str],
        removed: &'static [&'static str],
        changed: &'static [&'static str],
        unchanged: &'static [&'static str],
    }
    let a = "{ url: nats://a }";
    let b = "{ url: nats://b }";
    let cases = [
        Case { what: "identical", old: "{ url: nats://a }, { url: nats://b }", new: "{ url: nats://a }, { url: nats://b }", added: &[], removed: &[], changed: &[], unchanged: &["nats://a:7422", "nats://b:7422"] },
        Case { what: "normalised equal", old: a, new: "{ url: \"nats://a:7422\" }", added: &[], removed: &[], changed: &[], unchanged: &["nats://a:7422"] },
        Case { what: "add one", old: a, new: "{ url: nats://a }, { url: nats://b }", added: &["nats://b:7422"], removed: &[], changed: &[], unchanged: &["nats://a:7422"] },
        Case { what: "remove one", old: "{ url: nats://a }, { url: nats://b }", new: b, added: &[], removed: &["nats://a:7422"], changed: &[], unchanged: &["nats://b:7422"] },
        Case { what: "remove all (incident 1C)", old: "{ url: nats://a }, { url: nats://b }", new: "", added: &[], removed: &["nats://a:7422", "nats://b:7422"], changed: &[], unchanged: &[] },
        Case { what: "reorder remotes keeps them", old: "{ url: nats://a }, { url: nats://b }", new: "{ url: nats://b }, { url: nats://a }", added: &[], removed: &[], changed: &[], unchanged: &["nats://b:7422", "nats://a:7422"] },
        Case { what: "reorder urls inside a remote is remove + add", old: "{ urls: [nats://a, nats://b] }", new: "{ urls: [nats://b, nats://a] }", added: &["nats://b:7422,nats://a:7422"], removed: &["nats://a:7422,nats://b:7422"], changed: &[], unchanged: &[] },
        Case { what: "disable is a change", old: a, new: "{ url: nats://a, disabled: true }", added: &[], removed: &[], changed: &["nats://a:7422"], unchanged: &[] },
        Case { what: "tls is a change", old: a, new: "{ url: nats://a, tls { verify: true } }", added: &[], removed: &[], changed: &["nats://a:7422"], unchanged: &[] },
        Case { what: "account is identity", old: a, new: "{ url: nats://a, account: X }", added: &["nats://a:7422"], removed: &["nats://a:7422"], changed: &[], unchanged: &[] },
        Case { what: "credentials are identity", old: a, new: "{ url: nats://a, creds: c }", added: &["nats://a:7422"], removed: &["nats://a:7422"], changed: &[], unchanged: &[] },
        Case { what: "password is identity", old: "{ url: \"nats://u:one@a\" }", new: "{ url: \"nats://u:two@a\" }", added: &["nats://u:xxxxx@a:7422"], removed: &["nats://u:xxxxx@a:7422"], changed: &[], unchanged: &[] },
        Case { what: "named remote: url edit is a change", old: "{ url: nats://a, name: n }", new: "{ url: nats://b, name: n }", added: &[], removed: &[], changed: &["n"], unchanged: &[] },
        Case { what: "naming a remote is remove + add", old: a, new: "{ url: nats://a, name: n }", added: &["n"], removed: &["nats://a:7422"], changed: &[], unchanged: &[] },
        Case { what: "from nothing", old: "", new: "{ url: nats://a }, { url: nats://b }", added: &["nats://a:7422", "nats://b:7422"], removed: &[], changed: &[], unchanged: &[] },
        Case { what: "mixed, orders", old: "{ url: nats://c }, { url: nats://a }, { url: nats://d }, { url: nats://b, hub: true }", new: "{ url: nats://b }, { url: nats://e }, { url: nats://a }", added: &["nats://e:7422"], removed: &["nats://c:7422", "nats://d:7422"], changed: &["nats://b:7422"], unchanged: &["nats://a:7422"] },
    ];
    for c in cases {
        let old = remotes(c.old);
        let new = remotes(c.new);
        let d = Config::diff_remotes(&old, &new);
        assert_eq!(names(&d.added), c.added, "{}: added", c.what);
        assert_eq!(names(&d.removed), c.removed, "{}: removed", c.what);
        let changed: Vec<RemoteConfig> = d.changed.iter().map(|ch| ch.new.clone()).collect();
        assert_eq!(names(&changed), c.changed, "{}: changed", c.what);
        assert_eq!(names(&d.unchanged), c.unchanged, "{}: unchanged", c.what);
        let nothing = c.added.is_empty() && c.removed.is_empty() && c.changed.is_empty();
        assert_eq!(d.is_empty(), nothing, "{}: is_empty", c.what);
        for ch in &d.changed {
            assert_eq!(ch.old.identity(), ch.new.identity(), "{}", c.what);
            assert_ne!(ch.old, ch.new, "{}", c.what);
        }
    }
}

#[test]
fn diff_with_duplicate_identities_is_deterministic() {
    let a = RemoteConfig {
        urls: vec![RemoteUrl::parse("nats://a").unwrap()],
        ..RemoteConfig::default()
    };
    let old = vec![a.clone(), a.clone()];
    let new = vec![a.clone()];
    let d = RemoteDiff::between(&old, &new);
    assert_eq!(d.unchanged.len(), 1);
    assert_eq!(d.removed.len(), 1);
}

// ---- client-port TLS --------------------------------------------------------------------

#[test]
fn client_tls_block() {
    let c = valid(
        "tls { cert_file: c.pem, key_file: k.pem, ca_file: ca.pem, verify: true, timeout: 0.5, handshake_first: true }",
    );
    let t = c.tls.as_ref().unwrap();
    assert_eq!(t.cert_file.as_deref(), Some("c.pem"));
    assert_eq!(t.key_file.as_deref(), Some("k.pem"));
    assert_eq!(t.ca_file.as_deref(), Some("ca.pem"));
    assert!(t.verify && t.handshake_first);
    assert_eq!(t.handshake_timeout(), Duration::from_millis(500));
    assert_eq!(Config::default().tls, None);
    // nats-server treats a zero timeout as unset.
    let c = valid("tls { cert_file: c.pem, key_file: k.pem, timeout: 0 }");
    assert_eq!(c.tls.unwrap().handshake_timeout(), secs(2));
}

#[test]
fn tls_stretches_an_unset_auth_timeout() {
    let tls = "tls { cert_file: c.pem, key_file: k.pem }\n";
    assert_eq!(valid(tls).auth_timeout(), secs(3));
    assert_eq!(
        valid("tls { cert_file: c.pem, key_file: k.pem, timeout: 5 }").auth_timeout(),
        secs(6)
    );
    assert_eq!(
        valid(&format!("{tls}authorization {{ token: t }}")).auth_timeout(),
        secs(3)
    );
    assert_eq!(
        valid(&format!("{tls}authorization {{ token: t, timeout: 1 }}")).auth_timeout(),
        secs(1)
    );
    assert_eq!(valid("authorization { token: t }").auth_timeout(), secs(2));
}

#[test]
fn tls_validation() {
    for (text, err) in [
        (
            "tls { cert_file: c.pem }",
            "tls: cert_file and key_file must be given together",
        ),
        (
            "tls { key_file: k.pem }",
            "tls: cert_file and key_file must be given together",
        ),
        ("tls { }", "tls: a listener needs cert_file and key_file"),
        (
            "tls { cert_file: c.pem, key_file: k.pem, verify: true }",
            "tls: verify needs ca_file (rejoin trusts no system roots)",
        ),
        (
            "leafnodes { tls { ca_file: ca.pem } }",
            "leafnodes.tls: a listener needs cert_file and key_file",
        ),
        (
            "leafnodes { remotes: [ { url: nats://a }, { url: nats://b, tls { key_file: k.pem } } ] }",
            "leafnodes.remotes[1].tls: cert_file and key_file must be given together",
        ),
    ] {
        assert_eq!(invalid(text).to_string(), err, "{text}");
    }
    // A soliciting side needs no certificate of its own.
    valid("leafnodes { remotes: [ { url: tls://a, tls { ca_file: ca.pem } } ] }");
    valid("tls { cert_file: c.pem, key_file: k.pem, ca_file: ca.pem }");
}
