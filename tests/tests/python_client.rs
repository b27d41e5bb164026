//! Smoke tests with nats-py, an independently written client with its own wire habits
//! (double spaces in SUB/PUB, sorted-key CONNECT, a strict PONG after CONNECT).
//!
//! Skipped with a printed reason when `python3 -c "import nats"` fails
//! (`pip install nats-py` enables them).

use std::time::Duration;

use rejoin_tests::python::{nats_py_available, run_python};
use rejoin_tests::TestServer;

/// Budget for one script: interpreter start-up plus a handful of round trips.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

const PUBSUB_SCRIPT: &str = r#"
import asyncio, sys
import nats
from nats.errors import NoRespondersError

async def main(url):
    nc = await nats.connect(url, name="py-smoke", allow_reconnect=False)
    got = []
    sub = await nc.subscribe("py.>")
    async def serve(m):
        await m.respond(b"re:" + m.data)
    await nc.subscribe("py.svc", queue="workers", cb=serve)
    await nc.publish("py.a", b"one", headers={"K": "v"})
    await nc.publish("py.b.c", b"two")
    await nc.flush()
    first = await sub.next_msg(timeout=5)
    second = await sub.next_msg(timeout=5)
    assert first.subject == "py.a" and first.data == b"one", first
    assert first.headers == {"K": "v"}, first.headers
    assert second.subject == "py.b.c" and second.data == b"two", second
    reply = await nc.request("py.svc", b"q", timeout=5)
    assert reply.data == b"re:q", reply.data
    try:
        await nc.request("nobody.here", b"x", timeout=5)
        raise AssertionError("expected no responders")
    except NoRespondersError:
        pass
    await nc.close()
    print("OK")

asyncio.run(main(sys.argv[1]))
"#;

const AUTH_SCRIPT: &str = r#"
import asyncio, sys
import nats

async def main(port):
    nc = await nats.connect(f"nats://alice:s3cret@127.0.0.1:{port}", allow_reconnect=False)
    await nc.close()
    try:
        await nats.connect(f"nats://alice:wrong@127.0.0.1:{port}", allow_reconnect=False,
                           max_reconnect_attempts=0, connect_timeout=5)
        raise AssertionError("wrong password accepted")
    except AssertionError:
        raise
    except Exception as e:
        assert "authorization violation" in str(e).lower(), repr(e)
    print("OK")

asyncio.run(main(sys.argv[1]))
"#;

fn skip_without_nats_py() -> bool {
    if nats_py_available() {
        return false;
    }
    eprintln!("skipped: nats-py is not importable (pip install nats-py)");
    true
}

fn assert_script_ok(script: &str, args: &[&str]) {
    let run = run_python(script, args, SCRIPT_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        run.status.success() && run.stdout.trim_end().ends_with("OK"),
        "nats-py script failed ({}):\nstdout: {}\nstderr: {}",
        run.status,
        run.stdout,
        run.stderr
    );
}

#[test]
fn nats_py_pub_sub_headers_request_and_no_responders() {
    if skip_without_nats_py() {
        return;
    }
    let server = TestServer::start("");
    assert_script_ok(PUBSUB_SCRIPT, &[&server.url()]);
}

#[test]
fn nats_py_user_password_auth() {
    if skip_without_nats_py() {
        return;
    }
    let server = TestServer::start("authorization { user: alice, password: s3cret }");
    assert_script_ok(AUTH_SCRIPT, &[&server.port().to_string()]);
}
