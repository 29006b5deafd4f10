//! What a thread wake-up costs on this machine: the floor under every
//! blocking `send_request`, whose caller parks until the event loop wakes
//! it (one wake per request, whatever the stack does around it).
//!
//! ```text
//! cargo bench --bench wake
//! ```
//!
//! Prints, per wake: wall time and CPU time of the whole process (utime +
//! stime from `/proc/self/stat`, so Linux only), for
//!
//! - `ping-pong`: two threads waking each other in turn (park/unpark), the
//!   shape of one caller and the loop with one request in flight;
//! - `fan-out N`: one thread waking N parked threads, each of which reports
//!   back, the shape of a loop delivering N answers per turn.
//!
//! Run it pinned to one core (`taskset -c 0 cargo bench --bench wake`) to
//! see what the same wakes cost without crossing cores.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// CPU time of this process so far (clock ticks of 10 ms), if readable.
fn cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // the fields after the command name, which is in parentheses
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn report(name: &str, wakes: u64, wall: Duration, cpu: Option<Duration>) {
    let per = |d: Duration| d.as_secs_f64() * 1e6 / wakes as f64;
    match cpu {
        Some(cpu) => println!(
            "{name:<12} {wakes:>8} wakes: {:6.2} µs wall, {:6.2} µs CPU per wake",
            per(wall),
            per(cpu)
        ),
        None => println!(
            "{name:<12} {wakes:>8} wakes: {:6.2} µs wall per wake",
            per(wall)
        ),
    }
}

fn ping_pong(rounds: u64) {
    let turn = Arc::new(AtomicU64::new(0));
    let other_turn = Arc::clone(&turn);
    let main = thread::current();
    let other = thread::spawn(move || {
        for i in 0..rounds {
            while other_turn.load(Ordering::Acquire) != 2 * i + 1 {
                thread::park();
            }
            other_turn.store(2 * i + 2, Ordering::Release);
            main.unpark();
        }
    });
    let (cpu0, t0) = (cpu(), Instant::now());
    for i in 0..rounds {
        turn.store(2 * i + 1, Ordering::Release);
        other.thread().unpark();
        while turn.load(Ordering::Acquire) != 2 * i + 2 {
            thread::park();
        }
    }
    let (wall, cpu1) = (t0.elapsed(), cpu());
    other
        .join()
        .expect("the other thread of ping-pong panicked");
    let spent = cpu0.zip(cpu1).map(|(a, b)| b.saturating_sub(a));
    report("ping-pong", 2 * rounds, wall, spent);
}

fn fan_out(n: usize, rounds: u64) {
    let generation = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let main = thread::current();
    let workers: Vec<_> = (0..n)
        .map(|_| {
            let (generation, done, main) =
                (Arc::clone(&generation), Arc::clone(&done), main.clone());
            thread::spawn(move || {
                let mut seen = 0;
                loop {
                    let g = generation.load(Ordering::Acquire);
                    if g == u64::MAX {
                        return;
                    }
                    if g == seen {
                        thread::park();
                        continue;
                    }
                    seen = g;
                    if done.fetch_add(1, Ordering::AcqRel) + 1 == n {
                        main.unpark();
                    }
                }
            })
        })
        .collect();
    let (cpu0, t0) = (cpu(), Instant::now());
    for round in 1..=rounds {
        done.store(0, Ordering::Release);
        generation.store(round, Ordering::Release);
        for w in &workers {
            w.thread().unpark();
        }
        while done.load(Ordering::Acquire) < n {
            thread::park();
        }
    }
    let (wall, cpu1) = (t0.elapsed(), cpu());
    generation.store(u64::MAX, Ordering::Release);
    for w in &workers {
        w.thread().unpark();
    }
    for w in workers {
        w.join().expect("a fan-out thread panicked");
    }
    let spent = cpu0.zip(cpu1).map(|(a, b)| b.saturating_sub(a));
    report(&format!("fan-out {n}"), rounds * n as u64, wall, spent);
}

fn main() {
    // `cargo test --benches` runs this too: a quick pass then
    let quick = std::env::args()
        .any(|a| a == "--bench")
        .then_some(1)
        .is_none();
    let scale = if quick { 100 } else { 1 };
    ping_pong(100_000 / scale);
    for n in [16, 64] {
        fan_out(n, 20_000 / scale);
    }
}
