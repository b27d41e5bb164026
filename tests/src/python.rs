//! Running nats-py scripts against the server under test.
//!
//! nats-py is a second, independently written client with its own quirks (double spaces in
//! SUB/PUB lines, strict PONG after CONNECT). Its tests are skipped with a printed reason when
//! `python3 -c "import nats"` fails, so the suite does not depend on a Python setup.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{run_to_exit, Finished};
use crate::scratch::ScratchDir;

/// Whether `python3` can import nats-py.
pub fn nats_py_available() -> bool {
    Command::new("python3")
        .args(["-c", "import nats"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs `script` with `python3 script.py <args>` and waits at most `timeout`.
pub fn run_python(script: &str, args: &[&str], timeout: Duration) -> Result<Finished, String> {
    let dir = ScratchDir::new("py").map_err(|e| e.to_string())?;
    let path = dir.write("script.py", script).map_err(|e| e.to_string())?;
    let path_text = path.to_string_lossy().into_owned();
    let mut full_args = vec![path_text.as_str()];
    full_args.extend_from_slice(args);
    run_to_exit(Path::new("python3"), &full_args, dir.path(), timeout)
}
