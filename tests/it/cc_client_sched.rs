//! `cc_client --sched-batch` against `cc_server` on loopback: every request
//! is answered, and while the load runs the client's load threads are under
//! `SCHED_BATCH` while its event loop keeps the default policy (read from
//! `/proc`, Linux only).

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::interop::{self, ok};
use crate::support::poll_until;

/// `(thread name, policy)` of each thread of `pid` (field 41 of
/// `/proc/PID/task/TID/stat`: 0 `SCHED_OTHER`, 3 `SCHED_BATCH`).
fn policies(pid: u32) -> Vec<(String, u32)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
        .filter_map(|stat| {
            // "TID (NAME) STATE ...": fields after the name, which may hold spaces
            let open = stat.find('(')?;
            let close = stat.rfind(')')?;
            let name = stat[open + 1..close].to_string();
            let rest: Vec<&str> = stat[close + 2..].split(' ').collect();
            // field 3 (state) is rest[0]: field 41 is rest[38]
            Some((name, rest.get(38)?.parse().ok()?))
        })
        .collect()
}

#[test]
fn sched_batch_load_threads_get_every_answer() {
    let port = interop::free_port();
    let mut server = crate::support::cc_server(
        port,
        "ocs.example.test",
        "example.test",
        &["--client-host", "pgw.example.test"],
        &[],
    );
    let mut client = Command::new(crate::support::example("cc_client"))
        .args([
            "--peer",
            &format!("127.0.0.1:{port}"),
            "--peer-host",
            "ocs.example.test",
            "--peer-realm",
            "example.test",
            "--origin-host",
            "pgw.example.test",
            "--realm",
            "example.test",
            "--requests",
            "20000",
            "--concurrency",
            "8",
            "--timeout",
            "10",
            "--sched-batch",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // sample the client's threads until it ends (at most 60 s)
    let (mut batch_load_threads, mut loop_policies) = (0, Vec::new());
    poll_until(Duration::from_secs(60), || {
        if client.try_wait().unwrap().is_some() {
            return true;
        }
        for (name, policy) in policies(client.id()) {
            match name.as_str() {
                "diameter-node" => loop_policies.push(policy),
                "cc_client" if policy == 3 => batch_load_threads += 1,
                _ => {}
            }
        }
        false
    });
    let out = client.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        out.status.success() && last.starts_with("requests=20000 answered=20000 errors=0 "),
        "{stdout}\n{stderr}"
    );
    assert!(!stderr.contains("--sched-batch"), "{stderr}");
    assert!(
        batch_load_threads > 0,
        "no load thread seen under SCHED_BATCH"
    );
    assert!(
        !loop_policies.is_empty() && loop_policies.iter().all(|&p| p == 0),
        "the event loop's policy: {loop_policies:?}"
    );
    let status = ok(server.signal_stop(libc::SIGTERM, Duration::from_secs(15)));
    assert!(status.success(), "{}", server.dump());
}
