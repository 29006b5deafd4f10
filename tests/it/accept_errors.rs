//! The accept loop when the process runs out of file descriptors: accept
//! fails with EMFILE, the failure is counted, and the listener comes back
//! on its own once descriptors are free again (the listener is
//! edge-triggered: no new connection is needed to wake it).
//!
//! It runs alone in a process of its own ([`alone`]): it lowers the whole
//! process's RLIMIT_NOFILE (with the `prlimit` command, on our own pid) for
//! a moment.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::raw::{cer, result_code};
use crate::support::{alone, poll_until, wait_until};
use diameter::message::Message;
use diameter::node::peer::AppId;
use diameter::node::{Node, NodeOptions, PeerOptions};

const REALM: &str = "example.net";
const RAW: &str = "raw.example.net";

/// Connections the python child holds open: more than the descriptors
/// left to the server.
const HELD: usize = 30;
/// Descriptors left free to the process (the server's accepts among them).
const SPARE: u64 = 8;

/// The python child: holds connections, and plays a raw Diameter client,
/// one command per line on stdin, one reply line each on stdout.
const CHILD: &str = r#"
import socket, sys
held, real = [], None
def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError("connection closed")
        out += chunk
    return out
for line in sys.stdin:
    cmd = line.split()
    if not cmd:
        continue
    try:
        if cmd[0] == "hold":
            for _ in range(int(cmd[2])):
                held.append(socket.create_connection(("127.0.0.1", int(cmd[1])), timeout=5))
            print("held", len(held), flush=True)
        elif cmd[0] == "cer":
            real = socket.create_connection(("127.0.0.1", int(cmd[1])), timeout=5)
            real.sendall(bytes.fromhex(cmd[2]))
            print("sent", flush=True)
        elif cmd[0] == "release":
            for s in held:
                s.close()
            held = []
            print("released", flush=True)
        elif cmd[0] == "read":
            real.settimeout(float(cmd[1]))
            head = recv_exact(real, 20)
            body = recv_exact(real, int.from_bytes(head[1:4], "big") - 20)
            print("msg", (head + body).hex(), flush=True)
        elif cmd[0] == "quit":
            break
    except Exception as e:
        print("error", type(e).__name__, str(e).replace("\n", " "), flush=True)
"#;

/// Why the test cannot run here, if it cannot.
fn missing_tool() -> Option<String> {
    for (tool, arg) in [("prlimit", "--version"), ("python3", "--version")] {
        match Command::new(tool).arg(arg).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => return Some(format!("`{tool} {arg}` failed: {}", out.status)),
            Err(e) => return Some(format!("cannot run `{tool} {arg}`: {e}")),
        }
    }
    if !std::path::Path::new("/proc/self/fd").is_dir() {
        return Some("no /proc/self/fd".into());
    }
    None
}

/// This process's RLIMIT_NOFILE (soft, hard), as prlimit reports it.
fn nofile() -> (u64, u64) {
    let out = Command::new("prlimit")
        .args(["--pid", &std::process::id().to_string()])
        .args(["--nofile", "--raw", "--noheadings", "--output=SOFT,HARD"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Vec<u64> = text
        .split_whitespace()
        .map(|n| n.parse().unwrap_or(u64::MAX))
        .collect();
    assert_eq!(v.len(), 2, "prlimit said {text:?}");
    (v[0], v[1])
}

/// Sets this process's RLIMIT_NOFILE with prlimit.
fn set_nofile(soft: u64, hard: u64) -> std::io::Result<()> {
    let status = Command::new("prlimit")
        .args(["--pid", &std::process::id().to_string()])
        .arg(format!("--nofile={soft}:{hard}"))
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("prlimit: {status}")))
    }
}

/// Puts the descriptor limit back when dropped, even on a failed assert.
struct Restore(u64, u64);

impl Drop for Restore {
    fn drop(&mut self) {
        if set_nofile(self.0, self.1).is_ok() {
            return;
        }
        // no descriptors left to start prlimit with: set it ourselves
        let limit = libc::rlimit {
            rlim_cur: self.0 as libc::rlim_t,
            rlim_max: self.1 as libc::rlim_t,
        };
        // SAFETY: setrlimit reads the struct we pass and nothing else.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
        if rc != 0 && !std::thread::panicking() {
            panic!(
                "cannot restore RLIMIT_NOFILE: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// The descriptor limit that leaves exactly `spare` descriptors free to
/// this process: new descriptors take the lowest free numbers, and the
/// limit caps the numbers, so holes below the highest open one count too.
fn limit_leaving(spare: u64) -> u64 {
    let open: std::collections::HashSet<u64> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .collect();
    let mut free = 0;
    let mut n = 0;
    while free < spare {
        if !open.contains(&n) {
            free += 1;
        }
        n += 1;
    }
    n
}

/// The python child and its pipes; killed when dropped.
struct Py {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Py {
    fn spawn() -> Py {
        let mut child = Command::new("python3")
            .args(["-u", "-c", CHILD])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Py {
            child,
            stdin,
            stdout,
        }
    }

    /// Sends one command and returns its reply line.
    fn ask(&mut self, cmd: &str) -> String {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    }
}

impl Drop for Py {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        if poll_until(Duration::from_secs(2), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        }) {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn the_accept_loop_survives_running_out_of_descriptors() {
    if !alone(
        module_path!(),
        "the_accept_loop_survives_running_out_of_descriptors",
    ) {
        return;
    }
    if let Some(why) = missing_tool() {
        println!("skipped: {why}");
        return;
    }
    let server = Node::new(
        "server.example.net",
        REALM,
        NodeOptions {
            ip_addresses: vec!["127.0.0.1".parse().unwrap()],
            tcp_port: Some(0),
            ..Default::default()
        },
    );
    server.add_application_id(AppId::auth(4));
    server
        .add_peer(
            &format!("aaa://{RAW}"),
            None,
            PeerOptions {
                ip_addresses: vec!["127.0.0.1".parse().unwrap()],
                ..Default::default()
            },
        )
        .unwrap();
    server.start().unwrap();
    let port = server.listen_addresses()[0].port();
    // started before the limit is lowered: the child keeps its own
    let mut py = Py::spawn();

    let (soft, hard) = nofile();
    let low = limit_leaving(SPARE);
    assert!(low < soft, "the limit is already {soft}");
    set_nofile(low, hard).unwrap();
    let restore = Restore(soft, hard);
    assert_eq!(nofile().0, low);

    // more connections than descriptors: accept fails with EMFILE
    assert_eq!(
        py.ask(&format!("hold {port} {HELD}")),
        format!("held {HELD}")
    );
    wait_until("an accept error", Duration::from_secs(3), || {
        server.protocol_stats().accept_errors >= 1
    });
    // a real client waits in the backlog meanwhile; nothing new arrives
    // after it, so only the listener's own retry can accept it
    let request = cer(RAW, REALM, &[4], &[]).as_bytes().unwrap();
    assert_eq!(py.ask(&format!("cer {port} {}", hex(&request))), "sent");

    assert_eq!(py.ask("release"), "released");
    let released = Instant::now();
    let reply = py.ask("read 3");
    let took = released.elapsed();
    let Some(cea) = reply.strip_prefix("msg ") else {
        panic!("no CEA within 3 s of the release: {reply}");
    };
    let cea = Message::from_bytes(&unhex(cea)).unwrap();
    assert_eq!(result_code(&cea), Some(2001), "{cea:?}");
    assert!(
        took < Duration::from_secs(3),
        "served {took:?} after the release"
    );
    let errors = server.protocol_stats().accept_errors;

    drop(restore);
    assert_eq!(nofile(), (soft, hard));
    drop(py);
    server.stop(Duration::from_secs(2), true).unwrap();
    println!("{errors} accept errors; served {took:?} after the release");
}
