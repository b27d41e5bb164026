//! Syntax tests. Expected values were checked against `nats-server -t` (2.9.10) where
//! nats-server accepts the input; see the module docs for where we differ on purpose.

use super::*;

fn src() -> MemSource {
    MemSource::new()
}

fn parse_ok(text: &str) -> Map {
    match parse(text, "t.conf", &src()) {
        Ok(m) => m,
        Err(e) => panic!("parse failed: {e}\n--- input ---\n{text}"),
    }
}

fn parse_err(text: &str) -> String {
    match parse(text, "t.conf", &src()) {
        Ok(m) => panic!("expected an error, got {m:?}\n--- input ---\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn val(text: &str) -> Value {
    let m = parse_ok(text);
    assert_eq!(m.len(), 1, "{text}: {m:?}");
    m.iter().next().unwrap().node.value.clone()
}

fn s(x: &str) -> Value {
    Value::Str(x.to_string())
}

#[test]
fn separators_colon_equals_space() {
    for text in [
        "port: 4222",
        "port = 4222",
        "port 4222",
        "port\t4222",
        "port:4222",
        "port=4222",
    ] {
        assert_eq!(val(text), Value::Int(4222), "{text}");
    }
    // A key may even be followed by new lines before its value when there is no
    // separator (nats-server accepts this too).
    assert_eq!(val("port\n4222"), Value::Int(4222));
    assert!(parse_err("port:\n4222").contains("Expected value but found new line"));
}

#[test]
fn values_end_at_newline_semicolon_comma() {
    let m = parse_ok("a: 1; b: 2, c: 3\nd: x;");
    assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b", "c", "d"]);
    assert!(parse_err("port 4222 server_name: x").contains(
        "t.conf:1:11: Expected a top-level value to end with a new line, comment or EOF, but got 's' instead."
    ));
}

#[test]
fn comments() {
    let m = parse_ok(
        "# hash\n// slashes\nport: 1 # trailing\nhost: h // trailing\nm { a: 1 # c\n // c\n b: [1, # c\n 2 // c\n] }\n",
    );
    assert_eq!(m.get("port").unwrap().value, Value::Int(1));
    assert_eq!(m.get("host").unwrap().value, s("h"));
    let inner = m.get("m").unwrap().as_map().unwrap();
    assert_eq!(inner.get("a").unwrap().value, Value::Int(1));
    let b = inner.get("b").unwrap().as_array().unwrap();
    assert_eq!(b.len(), 2);
    // A `#` inside a bare word is part of it, as in nats-server.
    assert_eq!(val("x: abc#def"), s("abc#def"));
}

#[test]
fn maps_nest_and_share_lines() {
    let m = parse_ok("leafnodes { listen = \"127.0.0.1:37999\"; reconnect: 3 }");
    let l = m.get("leafnodes").unwrap().as_map().unwrap();
    assert_eq!(l.get("listen").unwrap().value, s("127.0.0.1:37999"));
    assert_eq!(l.get("reconnect").unwrap().value, Value::Int(3));

    let m = parse_ok("a {\n b {\n  c: { d: [ { e: 1 }, { e: 2 } ] }\n }\n}");
    let c = m
        .get("a")
        .unwrap()
        .as_map()
        .unwrap()
        .get("b")
        .unwrap()
        .as_map()
        .unwrap();
    let d = c
        .get("c")
        .unwrap()
        .as_map()
        .unwrap()
        .get("d")
        .unwrap()
        .as_array()
        .unwrap();
    assert_eq!(
        d[1].as_map().unwrap().get("e").unwrap().value,
        Value::Int(2)
    );

    // Separator before a map is optional; so is the space (our extension).
    for text in ["a { x: 1 }", "a: { x: 1 }", "a = {x:1}", "a{ x: 1 }"] {
        let m = parse_ok(text);
        assert_eq!(
            m.get("a")
                .unwrap()
                .as_map()
                .unwrap()
                .get("x")
                .unwrap()
                .value,
            Value::Int(1),
            "{text}"
        );
    }
    // Trailing terminators inside maps are fine.
    parse_ok("a { x: 1, }");
    parse_ok("a { x: 1; }");
    // Inside maps a value may start on the next line.
    assert_eq!(
        parse_ok("a { x:\n 1 }")
            .get("a")
            .unwrap()
            .as_map()
            .unwrap()
            .get("x")
            .unwrap()
            .value,
        Value::Int(1)
    );
}

#[test]
fn map_errors() {
    assert_eq!(
        parse_err("a { x: 1 "),
        "t.conf:1:10: Unexpected EOF processing map."
    );
    assert_eq!(
        parse_err("a {\n x: 1\n"),
        "t.conf:3:1: Unexpected EOF processing map."
    );
    assert!(parse_err("a { x: 1 y: 2 }").contains(
        "Expected a map value terminator ',' or a map terminator '}', but got 'y' instead."
    ));
    assert!(parse_err("a { x: 1,, }").contains("Unexpected value terminator ','."));
    assert!(parse_err("x: 1;;").contains("Unexpected value terminator ';'."));
    assert!(parse_err("a { : 1 }").contains("Unexpected key separator ':'."));
    assert!(parse_err("a { x ]").contains("Expected a map value terminator"));
    assert!(parse_err("a { ] }").contains("Unexpected array end ']' processing map."));
    assert!(parse_err("a { x }").contains("Key 'x' has no value."));
    assert!(parse_err("a { x: , }").contains("Unexpected map value terminator ','."));
    assert!(parse_err("a { \"x: 1 }").contains("Unexpected EOF processing double quoted map key."));
}

#[test]
fn arrays() {
    let v = val("a: [1, 2, 3]");
    assert_eq!(
        v,
        Value::Array(vec![
            Node::new(Value::Int(1), Pos::new("t.conf", 1, 5)),
            Node::new(Value::Int(2), Pos::new("t.conf", 1, 8)),
            Node::new(Value::Int(3), Pos::new("t.conf", 1, 11)),
        ])
    );
    let arr = |text: &str| -> Vec<Value> {
        match val(text) {
            Value::Array(items) => items.into_iter().map(|n| n.value).collect(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(arr("a: [\n x\n y\n]"), [s("x"), s("y")]);
    assert_eq!(arr("a: [x,y,]"), [s("x"), s("y")]);
    assert_eq!(arr("a: []"), Vec::<Value>::new());
    assert_eq!(arr("a: [ [1], [\"b\", c] ]").len(), 2);
    assert_eq!(arr("a: [1k, 2kb]"), [Value::Int(1000), Value::Int(2048)]);
    assert_eq!(
        arr("a: [true, off, 1.5]"),
        [Value::Bool(true), Value::Bool(false), Value::Float(1.5)]
    );
    assert!(parse_err("a: [1,,2]").contains("Unexpected array value terminator ','."));
    assert!(parse_err("a: [1 2]").contains(
        "Expected an array value terminator ',' or an array terminator ']', but got '2' instead."
    ));
    assert!(parse_err("a: [1, 2").contains("Unexpected EOF processing array."));
}

#[test]
fn outer_braces() {
    let m = parse_ok("{\n  port: 4333\n  debug: true\n}\n");
    assert_eq!(m.get("port").unwrap().value, Value::Int(4333));
    let m = parse_ok("{ port: 4333 }");
    assert_eq!(m.get("port").unwrap().value, Value::Int(4333));
    let m = parse_ok("# c\n{\"port\": 4333, \"host\": \"h\"}");
    assert_eq!(m.get("host").unwrap().value, s("h"));
    // Stricter than nats-server: unbalanced braces are errors.
    assert!(parse_err("{ port: 4333").contains("Unexpected EOF processing map."));
    assert!(parse_err("port: 4333\n}").contains("Unexpected '}' without a matching '{'."));
    assert!(parse_err("{ port: 4333 } x: 1").contains("Expected end of file after the closing '}'"));
}

#[test]
fn quoted_keys() {
    let m = parse_ok("\"a b\": 1\n'c:d' = 2\nm { \"x y\": 3, 'z': 4 }");
    assert_eq!(m.get("a b").unwrap().value, Value::Int(1));
    assert_eq!(m.get("c:d").unwrap().value, Value::Int(2));
    let inner = m.get("m").unwrap().as_map().unwrap();
    assert_eq!(inner.get("x y").unwrap().value, Value::Int(3));
    assert_eq!(inner.get("z").unwrap().value, Value::Int(4));
}

#[test]
fn strings() {
    assert_eq!(val("a: hello"), s("hello"));
    assert_eq!(
        val("a: \"he said \\\"hi\\\"\\t\\n\\r\\\\ \\x41\\x42\""),
        s("he said \"hi\"\t\n\r\\ AB")
    );
    // Multi-byte UTF-8 from escapes and literally.
    assert_eq!(val("a: \"\\xc3\\xa9 é\""), s("é é"));
    assert_eq!(val("a: 'raw \\t $x'"), s("raw \\t $x"));
    assert_eq!(val("a: \"$NOT_A_VAR\""), s("$NOT_A_VAR"));
    // Escapes work in bare words too, and make them strings.
    assert_eq!(val("a: x\\ty"), s("x\ty"));
    assert_eq!(val("a: tru\\x65"), s("true"));
    // Bare words end at a quote, which is dropped (nats-server does the same).
    assert_eq!(val("a: abc'"), s("abc"));
    assert!(parse_err("a: abc'def").contains("but got 'd' instead"));
    // URLs and paths with colons and slashes are single bare words.
    assert_eq!(val("a: nats://u:p@h:4222/x"), s("nats://u:p@h:4222/x"));
    assert_eq!(val("a: /var/log/x.log"), s("/var/log/x.log"));
    assert!(parse_err("a: \"x\\qy\"").contains(
        "Invalid escape character 'q'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\."
    ));
    assert!(parse_err("a: \"\\xzz\"")
        .contains("Expected two hexadecimal digits after '\\x', but got 'zz'"));
    assert!(parse_err("a: \"\\xff\"").contains("not valid UTF-8"));
    assert!(parse_err("a: \"abc").contains("Unexpected EOF processing quoted string."));
    assert!(parse_err("a: 'abc").contains("Unexpected EOF processing quoted string."));
    assert!(parse_err("a: ./x.log").contains("Floats must start with a digit"));
}

#[test]
fn block_strings() {
    assert_eq!(
        val("a: (\n  hello\n  (world)\n)\n"),
        s("\n  hello\n  (world)\n")
    );
    assert_eq!(val("a: (\nx\n)"), s("\nx\n"));
    assert_eq!(val("a: (\nx\n)\r\n"), s("\nx\n"));
    // `)` must be alone at the start of its line.
    assert_eq!(val("a: (\nx) y\n )\nz\n)\n"), s("\nx) y\n )\nz\n"));
    assert!(parse_err("a: (hello)\n").contains("Unexpected EOF processing block."));
}

#[test]
fn numbers_and_units() {
    let cases: &[(&str, Value)] = &[
        ("a: 0", Value::Int(0)),
        ("a: 4222", Value::Int(4222)),
        ("a: -42", Value::Int(-42)),
        ("a: 1k", Value::Int(1000)),
        ("a: 2K", Value::Int(2000)),
        ("a: 512KB", Value::Int(512 * 1024)),
        ("a: 1kib", Value::Int(1024)),
        ("a: 1Ki", Value::Int(1024)),
        ("a: 1m", Value::Int(1_000_000)),
        ("a: 1MB", Value::Int(1 << 20)),
        ("a: 1mib", Value::Int(1 << 20)),
        ("a: 1g", Value::Int(1_000_000_000)),
        ("a: 1GB", Value::Int(1 << 30)),
        ("a: 1t", Value::Int(1_000_000_000_000)),
        ("a: 1tb", Value::Int(1 << 40)),
        ("a: 1p", Value::Int(1_000_000_000_000_000)),
        ("a: 1pb", Value::Int(1 << 50)),
        ("a: 1e", Value::Int(1_000_000_000_000_000_000)),
        ("a: 1eb", Value::Int(1 << 60)),
        ("a: -2k", Value::Int(-2000)),
        ("a: 1.5", Value::Float(1.5)),
        ("a: -0.25", Value::Float(-0.25)),
    ];
    for (text, want) in cases {
        assert_eq!(&val(text), want, "{text}");
    }
    assert!(parse_err("a: 9223372036854775808").contains("out of the range"));
    assert!(parse_err("a: 9eb").contains("out of the range"));
    assert!(parse_err("a: 1kbb").contains("unknown unit suffix"));
    assert!(
        parse_err("a: 1.").contains("Floats must have a digit after the '.', but got '' instead.")
    );
    assert!(parse_err("a: -x").contains("Expected a digit but got 'x'."));
    assert!(parse_err("a: -.5").contains("Floats must start with a digit, not '.'."));
    // Digits right after a unit: the integer ends there and the rest is an error.
    assert!(parse_err("a: 1e5").contains("but got '5' instead"));
    assert!(parse_err("a: 1.5k").contains("but got 'k' instead"));
    assert!(parse_err("a: -1abc").contains("but got 'a' instead"));
}

#[test]
fn values_starting_with_digits_can_be_strings() {
    let cases: &[(&str, &str)] = &[
        ("a: 1abc", "1abc"),
        ("a: 12ab3", "12ab3"),
        ("a: 10mbx", "10mbx"),
        ("a: 1kx", "1kx"),
        ("a: 42x22", "42x22"),
        ("a: 0x10", "0x10"),
        ("a: 1:4222", "1:4222"),
        ("a: 127.0.0.1:4222", "127.0.0.1:4222"),
        ("a: 1.2.3", "1.2.3"),
        ("a: 10.0.0.1", "10.0.0.1"),
        ("a: 3rd-party", "3rd-party"),
    ];
    for (text, want) in cases {
        assert_eq!(val(text), s(want), "{text}");
    }
    assert!(parse_err("a: 1.2.3.4:80abc").contains("but got 'a' instead"));
    assert!(parse_err("a: 12.5x").contains("but got 'x' instead"));
}

#[test]
fn datetimes() {
    assert_eq!(
        val("a: 2026-01-02T03:04:05Z"),
        Value::DateTime("2026-01-02T03:04:05Z".into())
    );
    assert!(parse_err("a: 2026-01-02")
        .contains("Expected 'T' in ISO8601 datetime, but found '' instead."));
    assert!(parse_err("a: 2026-0x")
        .contains("Expected digit in ISO8601 datetime, but found 'x' instead."));
    assert!(parse_err("a: 12-34").contains("All ISO8601 dates must be in full Zulu form."));
    assert!(parse_err("a: 2026-13-02T03:04:05Z").contains("expected Zulu formatted DateTime"));
}

#[test]
fn booleans() {
    for (w, b) in [
        ("true", true),
        ("TRUE", true),
        ("yes", true),
        ("Yes", true),
        ("on", true),
        ("ON", true),
        ("false", false),
        ("False", false),
        ("no", false),
        ("NO", false),
        ("off", false),
        ("Off", false),
    ] {
        assert_eq!(val(&format!("a: {w}")), Value::Bool(b), "{w}");
    }
    assert_eq!(val("a: \"true\""), s("true"));
    assert_eq!(val("a: truex"), s("truex"));
}

#[test]
fn positions_of_keys_and_values() {
    let m = parse_ok("\n  port:   4222\nm {\n\tx: [a, b]\n}");
    let e = m.entry("port").unwrap();
    assert_eq!(e.key_pos.to_string(), "t.conf:2:3");
    assert_eq!(e.node.pos.to_string(), "t.conf:2:11");
    let inner = m.get("m").unwrap();
    assert_eq!(inner.pos.to_string(), "t.conf:3:3");
    let x = inner.as_map().unwrap().entry("x").unwrap();
    assert_eq!(x.key_pos.to_string(), "t.conf:4:2");
    assert_eq!(x.node.as_array().unwrap()[1].pos.to_string(), "t.conf:4:9");
}

#[test]
fn duplicate_keys_last_wins_in_first_slot() {
    let m = parse_ok("a: 1\nb: 2\na: 3");
    assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(m.get("a").unwrap().value, Value::Int(3));
}

#[test]
fn variables_block_scoped_innermost_first() {
    let m = parse_ok("A: 1\nm {\n  A: 2\n  x: $A\n  n { y: $A }\n}\nz: $A\n");
    let mm = m.get("m").unwrap().as_map().unwrap();
    assert_eq!(mm.get("x").unwrap().value, Value::Int(2));
    assert_eq!(
        mm.get("n")
            .unwrap()
            .as_map()
            .unwrap()
            .get("y")
            .unwrap()
            .value,
        Value::Int(2)
    );
    assert_eq!(m.get("z").unwrap().value, Value::Int(1));
    // The reference's position, not the definition's.
    assert_eq!(m.get("z").unwrap().pos.to_string(), "t.conf:7:4");
    assert!(m.entry("A").unwrap().used_as_variable);
    assert!(mm.entry("A").unwrap().used_as_variable);
    assert!(!m.entry("z").unwrap().used_as_variable);
}

#[test]
fn variables_hold_any_value_and_work_in_arrays() {
    let m = parse_ok("U: { user: a, password: b }\nL: [1, 2]\nusers: [$U, $U]\nx: [$L]\n");
    let users = m.get("users").unwrap().as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(
        users[1].as_map().unwrap().get("user").unwrap().value,
        s("a")
    );
    // Maps inside arrays are scopes too.
    let m = parse_ok("r: [ { P: 7, port: $P } ]");
    let r0 = m.get("r").unwrap().as_array().unwrap()[0]
        .as_map()
        .unwrap()
        .clone();
    assert_eq!(r0.get("port").unwrap().value, Value::Int(7));
}

#[test]
fn variables_defined_later_or_in_siblings_are_not_visible() {
    assert_eq!(
        parse_err("leafnodes { port: $Y }\nY=3"),
        "t.conf:1:19: variable reference for 'Y' on line 1 can not be found"
    );
    assert!(parse_err("a { Y: 1 }\nb { x: $Y }").contains("variable reference for 'Y' on line 2"));
    assert_eq!(
        parse_err("port: 1\nx: $NOPE\n"),
        "t.conf:2:4: variable reference for 'NOPE' on line 2 can not be found"
    );
}

#[test]
fn variables_fall_back_to_the_environment() {
    let env = MemSource::new()
        .with_env("PORT", "4333")
        .with_env("URL", "nats://h:7422")
        .with_env("LIST", "[a, b]")
        .with_env("MAP", "{ x: 1 }")
        .with_env("EMPTY", "")
        .with_env("NESTED", "$PORT")
        .with_env("SELF", "$SELF")
        .with_env("BAD", "a b");
    let m = parse(
        "port: $PORT\nurl: $URL\nl: $LIST\nm: $MAP\ne: $EMPTY\nn: $NESTED\n",
        "t.conf",
        &env,
    )
    .unwrap();
    assert_eq!(m.get("port").unwrap().value, Value::Int(4333));
    assert_eq!(m.get("port").unwrap().pos.to_string(), "t.conf:1:7");
    assert_eq!(m.get("url").unwrap().value, s("nats://h:7422"));
    assert_eq!(m.get("l").unwrap().as_array().unwrap()[1].value, s("b"));
    assert_eq!(
        m.get("l").unwrap().as_array().unwrap()[1].pos.to_string(),
        "t.conf:3:4"
    );
    assert_eq!(
        m.get("m")
            .unwrap()
            .as_map()
            .unwrap()
            .get("x")
            .unwrap()
            .value,
        Value::Int(1)
    );
    assert_eq!(m.get("e").unwrap().value, s(""));
    assert_eq!(m.get("n").unwrap().value, Value::Int(4333));
    // A key in scope shadows the environment.
    let m = parse("PORT: 1\nport: $PORT", "t.conf", &env).unwrap();
    assert_eq!(m.get("port").unwrap().value, Value::Int(1));

    let e = parse("\nx: $SELF", "t.conf", &env).unwrap_err().to_string();
    assert_eq!(
        e,
        "t.conf:2:4: variable reference for 'SELF' on line 2 could not be parsed: variables nested too deeply"
    );
    let e = parse("x: $BAD", "t.conf", &env).unwrap_err().to_string();
    assert_eq!(
        e,
        "t.conf:1:4: variable reference for 'BAD' on line 1 could not be parsed: Expected a top-level value to end with a new line, comment or EOF, but got 'b' instead."
    );
    let env = env.with_env("DANGLING", "$NOPE");
    let e = parse("x: $DANGLING", "t.conf", &env)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "t.conf:1:4: variable reference for 'NOPE' on line 1 can not be found"
    );
}

#[test]
fn no_interpolation_and_bcrypt_passthrough() {
    assert_eq!(
        val("pw: $2a$11$abcdefghijklmnopqrstuv"),
        s("$2a$11$abcdefghijklmnopqrstuv")
    );
    assert_eq!(val("x: a$b"), s("a$b"));
    // `127.0.0.1:$PORT` lexes as an address followed by garbage, as in nats-server.
    assert!(parse(
        "listen: 127.0.0.1:$PORT",
        "t.conf",
        &MemSource::new().with_env("PORT", "1")
    )
    .is_err());
}

#[test]
fn include_merges_top_level_keys_at_that_point() {
    let src = MemSource::new()
        .with_file(
            "etc/auth.conf",
            "authorization { user: a, password: b }\nport: 5000\n",
        )
        .with_file("etc/sub/users.conf", "users: [ { user: u } ]\n")
        .with_file("etc/q.conf", "q: 1");
    let m = parse(
        "port: 4222\ninclude auth.conf\ndebug: true\naccounts { A { include ./sub/users.conf } }\ninclude \"q.conf\"\n",
        "etc/main.conf",
        &src,
    )
    .unwrap();
    assert_eq!(
        m.keys().collect::<Vec<_>>(),
        ["port", "authorization", "debug", "accounts", "q"]
    );
    // The include overrode `port` (last wins), and positions name the included file.
    assert_eq!(m.get("port").unwrap().value, Value::Int(5000));
    assert_eq!(m.get("port").unwrap().pos.to_string(), "etc/auth.conf:2:7");
    let a = m
        .get("accounts")
        .unwrap()
        .as_map()
        .unwrap()
        .get("A")
        .unwrap()
        .as_map()
        .unwrap();
    assert_eq!(
        a.get("users").unwrap().pos.file.as_ref(),
        "etc/sub/users.conf"
    );
    // Quotes are optional and either kind works; the keyword is case-insensitive.
    let m = parse("INCLUDE 'q.conf'", "etc/main.conf", &src).unwrap();
    assert_eq!(m.get("q").unwrap().value, Value::Int(1));
}

#[test]
fn include_errors() {
    let src = MemSource::new()
        .with_file("a.conf", "x: 1\ninclude b.conf\n")
        .with_file("b.conf", "include ./a.conf\n")
        .with_file("self.conf", "include self.conf")
        .with_file("bad.conf", "x: {\n");
    let e = parse("include a.conf", "main.conf", &src).unwrap_err();
    assert!(matches!(e.kind, ConfErrorKind::IncludeCycle { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "b.conf:1:9: include cycle: main.conf -> a.conf -> b.conf -> a.conf"
    );
    let e = parse("include self.conf", "self.conf", &src).unwrap_err();
    assert!(matches!(e.kind, ConfErrorKind::IncludeCycle { .. }), "{e}");
    let e = parse("include nope.conf", "main.conf", &src)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("main.conf:1:9: error parsing include file 'nope.conf', "),
        "{e}"
    );
    // Errors inside an included file point into that file.
    let e = parse("include bad.conf", "main.conf", &src)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "bad.conf:2:1: Unexpected EOF processing map.");
    assert!(parse_err("include [x]").contains("Expected include value but found start of an array"));
    assert!(parse_err("include 5.conf").contains("found start of a number"));
    // The same file may be included twice (not a cycle).
    let src = MemSource::new().with_file("q.conf", "q: 1");
    parse("include q.conf\nm { include q.conf }", "main.conf", &src).unwrap();
}

#[test]
fn include_sees_environment_but_not_includer_keys() {
    let src = MemSource::new()
        .with_file("inc.conf", "a: $V\n")
        .with_env("V", "env");
    let m = parse("V: local\ninclude inc.conf", "main.conf", &src).unwrap();
    assert_eq!(m.get("a").unwrap().value, s("env"));
}

#[test]
fn key_without_value_is_an_error() {
    assert!(parse_err("port").contains("key 'port' has no value"));
    assert!(parse_err("port:").contains("key 'port' has no value"));
}

#[test]
fn deep_nesting_is_refused_not_a_crash() {
    let text = format!("a: {}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(parse_err(&text).contains("nested deeper than"));
    let text = format!("a: {}", "{b: ".repeat(10_000));
    assert!(parse_err(&text).contains("nested deeper than"));
}

#[test]
fn garbage_never_panics() {
    // A small deterministic fuzz: every prefix of a rich document, and byte-level
    // mutations of it, must parse or fail cleanly.
    let doc = "{ a: [1, 2k, \"x\\x41\", 'y', (\nblk\n)], b { c: $a, d: 2026-01-02T03:04:05Z }\n e: -1.5; f=127.0.0.1:4222 // c\n include x.conf }";
    let src = MemSource::new().with_file("x.conf", "g: 1");
    let chars: Vec<char> = doc.chars().collect();
    for n in 0..=chars.len() {
        let prefix: String = chars[..n].iter().collect();
        let _ = parse(&prefix, "t.conf", &src);
    }
    let specials = [
        '{', '}', '[', ']', '(', ')', '"', '\'', '\\', '$', '\n', '-', '.', ':', '#', '/',
    ];
    for i in 0..chars.len() {
        for sp in specials {
            let mut c = chars.clone();
            c[i] = sp;
            let text: String = c.into_iter().collect();
            let _ = parse(&text, "t.conf", &src);
        }
    }
}

// ---- the serde deserializer -------------------------------------------------------------

mod deserializer {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::super::*;

    fn from<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ConfError> {
        from_map(&parse(text, "d.conf", &MemSource::new())?)
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        n: i32,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
        Slow,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Meters(u32);

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        name: String,
        #[serde(alias = "nick")]
        alias: Option<String>,
        absent: Option<u8>,
        mode: Mode,
        length: Meters,
        ratio: f64,
        inner: Inner,
        list: Vec<Inner>,
        by_name: BTreeMap<String, i64>,
        pair: (bool, String),
    }

    #[test]
    fn derive_covers_the_serde_data_model() {
        let o: Outer = from(
            "name: x\nnick: y\nmode: SLOW\nlength: 5\nratio: 2\ninner { n: 1, tags: [a] }\nlist: [ {n: 2}, {n: 3} ]\nby_name { Zed: 1, alpha: 2 }\npair: [true, s]",
        )
        .unwrap();
        assert_eq!(
            o,
            Outer {
                name: "x".into(),
                alias: Some("y".into()),
                absent: None,
                mode: Mode::Slow,
                length: Meters(5),
                ratio: 2.0,
                inner: Inner {
                    n: 1,
                    tags: vec!["a".into()]
                },
                list: vec![Inner { n: 2, tags: vec![] }, Inner { n: 3, tags: vec![] }],
                // Map keys keep their case (only struct fields are case-insensitive).
                by_name: [("Zed".to_string(), 1), ("alpha".to_string(), 2)].into(),
                pair: (true, "s".into()),
            }
        );
        let _ = Mode::Fast;
    }

    #[test]
    fn any_reproduces_the_tree() {
        let v: serde_json::Value =
            from("a: 1\nb: [true, 1.5, \"s\", 2026-01-02T03:04:05Z]\nc { d: {} }").unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": 1, "b": [true, 1.5, "s", "2026-01-02T03:04:05Z"], "c": {"d": {}}})
        );
    }

    #[test]
    fn errors_carry_innermost_path_and_position() {
        let e = from::<Outer>("name: x\nmode: fast\nlength: 1\nratio: 1\ninner { n: 1 }\nlist: [ {n: 1}, {n: \"two\"} ]\nby_name {}\npair: [true, s]").unwrap_err();
        assert_eq!(e.path, "list[1].n");
        assert_eq!(e.pos.unwrap().to_string(), "d.conf:6:21");
        let e = from::<Outer>("name: x\nmode: fast\nlength: -1").unwrap_err();
        assert_eq!(e.path, "length");
        assert!(
            e.to_string()
                .contains("invalid value: integer `-1`, expected u32"),
            "{e}"
        );
        let e = from::<Inner>("n: 300000000000").unwrap_err();
        assert!(
            e.to_string().starts_with("d.conf:1:4: n: invalid value"),
            "{e}"
        );
        let e = from::<Inner>("tags: [a]").unwrap_err();
        assert_eq!(e.to_string(), "d.conf:1:1: missing field \"n\"");
        let e = from::<Outer>("name: [x]").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("d.conf:1:7: name: invalid type: sequence"),
            "{e}"
        );
    }
}

// ---- properties -------------------------------------------------------------------------

mod properties {
    use proptest::prelude::*;

    use super::super::*;

    /// Renders a value in the conf syntax, quoting every string.
    fn render(v: &Value, out: &mut String) {
        match v {
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Float(f) => out.push_str(&format!("{f:?}")),
            Value::Str(s) | Value::DateTime(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\t' => out.push_str("\\t"),
                        '\r' => out.push_str("\\r"),
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, n) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    render(&n.value, out);
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push_str("{\n");
                for e in m {
                    out.push_str(&format!("{}: ", e.key));
                    render(&e.node.value, out);
                    out.push('\n');
                }
                out.push('}');
            }
        }
    }

    /// Values compared without positions.
    fn shape(v: &Value) -> String {
        let mut s = String::new();
        render(v, &mut s);
        s
    }

    fn pos() -> Pos {
        Pos::new("p", 1, 1)
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            (-1.0e6f64..1.0e6).prop_map(Value::Float),
            "[ -~\t\n\u{e9}\u{1F600}]{0,12}".prop_map(Value::Str),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|v| Value::Array(
                    v.into_iter().map(|x| Node::new(x, pos())).collect()
                )),
                prop::collection::btree_map("[a-z][a-z0-9_]{0,6}", inner, 0..4).prop_map(|m| {
                    let mut map = Map::new();
                    for (k, v) in m {
                        map.insert(k, pos(), Node::new(v, pos()));
                    }
                    Value::Map(map)
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn rendered_values_parse_back(v in value()) {
            let mut text = String::from("k: ");
            render(&v, &mut text);
            let map = parse(&text, "p", &MemSource::new()).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(map.len(), 1);
            prop_assert_eq!(shape(&map.get("k").unwrap().value), shape(&v));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "[ -~\n\t]{0,80}") {
            let _ = parse(&text, "p", &MemSource::new().with_file("x", "a: 1"));
        }

        #[test]
        fn conf_like_text_never_panics(parts in prop::collection::vec(prop::sample::select(vec![
            "a", "b:", "=", " ", "\n", "{", "}", "[", "]", ",", ";", "\"s\\x41\"", "'r'", "(\n", "\n)\n",
            "1k", "-2", "1.5", "1.2.3", "2026-01-02T03:04:05Z", "$a", "$X", "# c\n", "// c\n", "include x",
            "true", "\\", "12ab", "$2a$x",
        ]), 0..40)) {
            let text: String = parts.concat();
            let src = MemSource::new().with_file("x", "a: 1").with_env("X", "[1, {y: 2}]");
            let _ = parse(&text, "p", &src);
        }
    }
}
