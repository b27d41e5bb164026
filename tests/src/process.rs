//! Running short-lived invocations of the server binary (`-t`, `--version`, `--help`) and
//! sending signals, always with a bound on how long we wait.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::scratch::ScratchDir;

/// What a finished invocation produced.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// stdout and stderr together, for assertions that do not care which stream was used.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `bin args...` in `cwd` and waits at most `timeout` for it to exit; a process still
/// running then is killed and reported as an error (a `-t` or `--help` that hangs is a bug).
///
/// Output goes to files rather than pipes so a chatty process can never block on a full pipe
/// while we wait for it.
pub fn run_to_exit(
    bin: &Path,
    args: &[&str],
    cwd: &Path,
    timeout: Duration,
) -> Result<Finished, String> {
    let scratch = ScratchDir::new("run").map_err(|e| format!("scratch dir: {e}"))?;
    let out_path = scratch.path().join("stdout");
    let err_path = scratch.path().join("stderr");
    let out = std::fs::File::create(&out_path).map_err(|e| e.to_string())?;
    let err = std::fs::File::create(&err_path).map_err(|e| e.to_string())?;
    let mut child = Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let status = match wait_exit(&mut child, timeout) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} {args:?} did not exit within {timeout:?}\nstdout: {}\nstderr: {}",
                bin.display(),
                std::fs::read_to_string(&out_path).unwrap_or_default(),
                std::fs::read_to_string(&err_path).unwrap_or_default(),
            ));
        }
    };
    Ok(Finished {
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    })
}

/// Polls `child` until it exits or `timeout` passes.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            Err(_) => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends a signal by name (`TERM`, `HUP`, `INT`, ...) to one process, using the system
/// `kill` utility so the harness needs no libc bindings.
pub fn send_signal(pid: u32, signal: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill -{signal} {pid} failed: {status}"))
    }
}
