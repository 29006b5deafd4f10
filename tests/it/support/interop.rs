//! Interoperability harness: runs independent Diameter peers (python-diameter
//! through `tests/interop/python_peer.py`, freeDiameter through
//! `tests/interop/freediameter.py`) as child processes on 127.0.0.1 and lets a
//! test wait for the lines they print. See `tests/interop/README.md` for the
//! scripts' options and the `EVENT ...` lines they print.
//!
//! ```ignore
//! use crate::support::interop::{self, PeerProcess};
//!
//! if !interop::require_python() {
//!     return;
//! }
//! let port = interop::free_port();
//! let py = PeerProcess::python_peer("py", &["--origin-host", "py.example.test", ...])?;
//! py.wait_for_line("EVENT started", interop::STARTUP)?;
//! ```
//!
//! Set `INTEROP_ECHO=1` to see every line of every peer on stderr as it
//! arrives, `INTEROP_PYTHON` to use another Python interpreter and
//! `INTEROP_FREEDIAMETERD` another freeDiameterd binary.
#![allow(dead_code)]

use std::env;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::poll_until;

/// Generous bound for a peer to start (freeDiameter generates a key first).
pub const STARTUP: Duration = Duration::from_secs(20);
/// Generous bound for a protocol exchange (CER/CEA, DWR/DWA, DPR/DPA).
pub const EXCHANGE: Duration = Duration::from_secs(15);
/// How many trailing lines an error message quotes.
const TAIL_LINES: usize = 60;

/// How CI installs the peers (also in tests/interop/README.md).
pub const INSTALL_HINT: &str = "install them with `apt-get update && apt-get install -y \
     freediameterd freediameter-extensions openssl` and \
     `python3 -m pip install python-diameter==0.9.0`";

/// The crate's root directory.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/interop`, where the peer scripts live.
pub fn interop_dir() -> PathBuf {
    manifest_dir().join("tests").join("interop")
}

/// The Python interpreter: `$INTEROP_PYTHON`, else `python3`.
pub fn python() -> String {
    env::var("INTEROP_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// The freeDiameter daemon: `$INTEROP_FREEDIAMETERD`, else `freeDiameterd`.
pub fn freediameterd() -> String {
    env::var("INTEROP_FREEDIAMETERD").unwrap_or_else(|_| "freeDiameterd".to_string())
}

/// Runs a short command, true when it exits 0 within 30 s.
pub fn runs_ok(program: &str, args: &[&str]) -> bool {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(_) => return false,
    };
    let mut status = None;
    poll_until(Duration::from_secs(30), || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    match status {
        Some(status) => status.success(),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            false
        }
    }
}

/// python3 with python-diameter 0.9.x importable.
pub fn python_available() -> bool {
    runs_ok(
        &python(),
        &[
            "-c",
            "import importlib.metadata as m, diameter.node; \
             assert m.version('python-diameter').startswith('0.9.')",
        ],
    )
}

/// freeDiameterd, openssl (for the certificate it insists on) and python3
/// (which runs the wrapper script). The extensions it loads (acl_wl,
/// dbg_msg_dumps) come with Debian's freediameter-extensions package; a
/// missing one shows as an error in its output.
pub fn freediameter_available() -> bool {
    runs_ok(&freediameterd(), &["--version"])
        && runs_ok("openssl", &["version"])
        && runs_ok(
            &python(),
            &["-c", "import sys; assert sys.version_info >= (3, 8)"],
        )
}

/// True when running under CI (`CI` set and not empty).
pub fn in_ci() -> bool {
    env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Decides what a test does when a peer is missing: with `available` it
/// returns true (run the test); without it, it panics under CI (the peers
/// must be installed there) and otherwise prints "skipping: ..." and returns
/// false (the test should return early).
pub fn require(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    if in_ci() {
        panic!("{what} is not available, and CI is set: {INSTALL_HINT}");
    }
    eprintln!("skipping: {what} is not available ({INSTALL_HINT})");
    false
}

/// `require(python_available(), ...)`.
pub fn require_python() -> bool {
    require(python_available(), "python-diameter 0.9 (python3)")
}

/// `require(freediameter_available(), ...)`.
pub fn require_freediameter() -> bool {
    require(
        freediameter_available(),
        "freeDiameter (freeDiameterd, openssl, python3)",
    )
}

/// A TCP port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A peer running as a child process, with its stdout and stderr lines
/// (stderr lines prefixed with `[stderr] `) collected by two threads.
///
/// Its standard input is a pipe: both scripts stop gracefully (DPR to their
/// open peers) when it closes. Dropping a `PeerProcess` closes it, waits up
/// to 5 s and then kills the process.
pub struct PeerProcess {
    name: String,
    child: Mutex<Child>,
    stdin: Option<ChildStdin>,
    rx: Mutex<Receiver<String>>,
    lines: Mutex<Vec<String>>,
}

impl PeerProcess {
    /// Spawns `program args...`; `name` tags its lines in messages.
    pub fn spawn(name: &str, program: &str, args: &[String]) -> Result<Self, String> {
        Self::spawn_with_env(name, program, args, &[])
    }

    /// Like `spawn`, with these environment variables set for the child
    /// (e.g. `RUST_LOG` for an example).
    pub fn spawn_with_env(
        name: &str,
        program: &str,
        args: &[String],
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        let mut child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(manifest_dir())
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{name}: cannot start {program}: {e}"))?;
        let (tx, rx) = mpsc::channel();
        let echo = env::var_os("INTEROP_ECHO").is_some_and(|v| !v.is_empty());
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        spawn_reader(name, stdout, "", tx.clone(), echo);
        spawn_reader(name, stderr, "[stderr] ", tx, echo);
        let stdin = child.stdin.take();
        Ok(PeerProcess {
            name: name.to_string(),
            child: Mutex::new(child),
            stdin,
            rx: Mutex::new(rx),
            lines: Mutex::new(Vec::new()),
        })
    }

    /// Runs `tests/interop/python_peer.py` with `args`.
    pub fn python_peer(name: &str, args: &[&str]) -> Result<Self, String> {
        let mut full = vec![interop_dir()
            .join("python_peer.py")
            .to_string_lossy()
            .into_owned()];
        full.extend(args.iter().map(|a| a.to_string()));
        Self::spawn(name, &python(), &full)
    }

    /// Runs `tests/interop/freediameter.py` with `args` (plus `--binary`
    /// when `INTEROP_FREEDIAMETERD` is set).
    pub fn freediameter(name: &str, args: &[&str]) -> Result<Self, String> {
        let mut full = vec![interop_dir()
            .join("freediameter.py")
            .to_string_lossy()
            .into_owned()];
        if let Ok(binary) = env::var("INTEROP_FREEDIAMETERD") {
            full.push("--binary".to_string());
            full.push(binary);
        }
        full.extend(args.iter().map(|a| a.to_string()));
        Self::spawn(name, &python(), &full)
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        lock(&self.child).id()
    }

    /// Moves every line received so far into `lines`.
    fn drain(&self) {
        let rx = lock(&self.rx);
        let mut lines = lock(&self.lines);
        while let Ok(line) = rx.try_recv() {
            lines.push(line);
        }
    }

    /// Every line printed so far (stderr lines prefixed `[stderr] `).
    pub fn lines_so_far(&self) -> Vec<String> {
        self.drain();
        lock(&self.lines).clone()
    }

    /// How many lines were printed so far: an index for `wait_for_line_from`.
    pub fn mark(&self) -> usize {
        self.drain();
        lock(&self.lines).len()
    }

    /// How many lines printed so far contain `pattern`.
    pub fn count(&self, pattern: &str) -> usize {
        self.drain();
        lock(&self.lines)
            .iter()
            .filter(|l| l.contains(pattern))
            .count()
    }

    /// Waits until `n` lines contain `pattern` (a peer may print what it
    /// did a moment after its effect is seen, e.g. "sent CCA" after the CCA
    /// arrived), then returns how many do.
    pub fn wait_for_count(
        &self,
        pattern: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<usize, String> {
        let mut start = 0;
        for _ in 0..n {
            let (index, _) = self.wait_for_line_from(start, pattern, timeout)?;
            start = index + 1;
        }
        Ok(self.count(pattern))
    }

    /// The first line (from the start of the output) that contains
    /// `pattern`, waiting up to `timeout` for it. The error names the
    /// pattern, says whether the process exited and quotes the last lines.
    pub fn wait_for_line(&self, pattern: &str, timeout: Duration) -> Result<String, String> {
        self.wait_for_line_from(0, pattern, timeout)
            .map(|(_, line)| line)
    }

    /// Like `wait_for_line`, for lines from index `start` on (see `mark`);
    /// returns the line's index too.
    pub fn wait_for_line_from(
        &self,
        start: usize,
        pattern: &str,
        timeout: Duration,
    ) -> Result<(usize, String), String> {
        self.wait_for(
            start,
            &format!("a line containing {pattern:?}"),
            timeout,
            |l| l.contains(pattern),
        )
    }

    /// The first line from index `start` on for which `matches` is true.
    pub fn wait_for(
        &self,
        start: usize,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Result<(usize, String), String> {
        let deadline = Instant::now() + timeout;
        let rx = lock(&self.rx);
        let mut next = start;
        loop {
            {
                let mut lines = lock(&self.lines);
                while let Ok(line) = rx.try_recv() {
                    lines.push(line);
                }
                while next < lines.len() {
                    if matches(&lines[next]) {
                        return Ok((next, lines[next].clone()));
                    }
                    next += 1;
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.failure(what, &format!("not seen within {timeout:?}")));
            }
            match rx.recv_timeout(deadline - now) {
                Ok(line) => lock(&self.lines).push(line),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.failure(what, "its output ended before it appeared"));
                }
            }
        }
    }

    /// Waits for every pattern in turn (each from the start of the output).
    pub fn wait_for_all(&self, patterns: &[&str], timeout: Duration) -> Result<(), String> {
        for p in patterns {
            self.wait_for_line(p, timeout)?;
        }
        Ok(())
    }

    fn failure(&self, what: &str, why: &str) -> String {
        let status = match lock(&self.child).try_wait() {
            Ok(Some(s)) => format!("exited ({s})"),
            Ok(None) => "still running".to_string(),
            Err(e) => format!("state unknown ({e})"),
        };
        let lines = lock(&self.lines);
        let skip = lines.len().saturating_sub(TAIL_LINES);
        let mut msg = format!(
            "{}: {what}: {why}; process {status}; last {} of {} lines:\n",
            self.name,
            lines.len() - skip,
            lines.len()
        );
        for l in &lines[skip..] {
            msg.push_str(&format!("  [{}] {l}\n", self.name));
        }
        msg
    }

    /// All lines so far, one per line, tagged with the name.
    pub fn dump(&self) -> String {
        self.lines_so_far()
            .iter()
            .map(|l| format!("[{}] {l}\n", self.name))
            .collect()
    }

    /// Writes one line to the process's standard input (both scripts stop
    /// on the line "stop").
    pub fn send_line(&mut self, line: &str) -> Result<(), String> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| format!("{}: stdin already closed", self.name))?;
        writeln!(stdin, "{line}")
            .and_then(|_| stdin.flush())
            .map_err(|e| format!("{}: write to stdin: {e}", self.name))
    }

    /// True while the process has not exited.
    pub fn is_running(&self) -> bool {
        matches!(lock(&self.child).try_wait(), Ok(None))
    }

    /// Stops the peer gracefully: closes its standard input (the scripts then
    /// send DPR to their open peers and exit) and waits up to `timeout`; kills
    /// it and returns an error if it is still running then.
    pub fn stop(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        drop(self.stdin.take());
        let mut child = lock(&self.child);
        let mut result = None;
        poll_until(timeout, || {
            result = match child.try_wait() {
                Ok(Some(status)) => Some(Ok(status)),
                Ok(None) => None,
                Err(e) => Some(Err(format!("{}: wait: {e}", self.name))),
            };
            result.is_some()
        });
        if let Some(result) = result {
            return result;
        }
        let _ = child.kill();
        let _ = child.wait();
        drop(child);
        Err(self.failure("exit", &format!("still running after {timeout:?}, killed")))
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`, `libc::SIGINT`) to the process
    /// and waits up to `timeout` for it to exit; kills it and returns an
    /// error if it is still running then. The examples stop gracefully on
    /// SIGINT and SIGTERM (not at end of standard input), python's scripts
    /// on SIGINT.
    pub fn signal_stop(&mut self, signal: i32, timeout: Duration) -> Result<ExitStatus, String> {
        {
            let mut child = lock(&self.child);
            if let Ok(Some(status)) = child.try_wait() {
                return Ok(status);
            }
            let pid = libc::pid_t::try_from(child.id())
                .map_err(|e| format!("{}: pid: {e}", self.name))?;
            // SAFETY: kill(2) on our own child, which has not been reaped
            // (try_wait above saw it running), so the pid is still its own.
            if unsafe { libc::kill(pid, signal) } != 0 {
                return Err(format!(
                    "{}: kill: {}",
                    self.name,
                    std::io::Error::last_os_error()
                ));
            }
        }
        self.stop(timeout)
    }

    /// Kills the process at once (SIGKILL), without DPR.
    pub fn kill(&mut self) {
        let mut child = lock(&self.child);
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.stop(Duration::from_secs(5));
        }
        self.kill();
    }
}

fn spawn_reader<R: Read + Send + 'static>(
    name: &str,
    stream: R,
    prefix: &'static str,
    tx: Sender<String>,
    echo: bool,
) {
    let name = name.to_string();
    thread::Builder::new()
        .name(format!("{name}-output"))
        .spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&buf);
                        let line = format!("{prefix}{}", text.trim_end_matches(['\r', '\n']));
                        if echo {
                            eprintln!("[{name}] {line}");
                        }
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        })
        .expect("spawn reader thread");
}

/// The value, or a panic with the harness's error text.
pub fn ok<T>(r: Result<T, String>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// [`super::wait_until`], with `dump()` (a peer's output) in the message
/// when `f` does not hold within `timeout`.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    f: impl FnMut() -> bool,
    dump: impl Fn() -> String,
) {
    assert!(
        poll_until(timeout, f),
        "timed out waiting for {what}\n{}",
        dump()
    );
}

/// The value of `key=value` among the words of `line` (e.g. a `cc_client`
/// report or an `EVENT` line).
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}
