//! The allocator policy of the example servers (`cc_server`, `dra`).
//!
//! glibc's malloc gives threads their own arenas, up to eight per CPU. In a
//! node, requests are decoded on the event loop and dropped on worker
//! threads, and answers go the other way, so under a flood every worker's
//! arena ends up holding a little of everything and none can be given back:
//! a 30 s flood of retransmissions grew a server by about 60 MiB with
//! glibc's default, and by about 20 MiB (then flat) with one arena per CPU.
//! So the servers cap the arenas at one per CPU, unless the environment
//! already says how many (`MALLOC_ARENA_MAX`, or `arena_max` in
//! `GLIBC_TUNABLES`). This is process policy, so it lives in the program,
//! not in the library: an application of its own does the same with one
//! `mallopt` call, or with `MALLOC_ARENA_MAX=N` in its service's
//! environment.

/// Caps glibc's malloc arenas at one per CPU, unless the environment sets
/// the cap; does nothing on other C libraries.
pub fn cap_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let set_already = std::env::var_os("MALLOC_ARENA_MAX").is_some()
            || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("arena_max"));
        if !set_already {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            let arenas = libc::c_int::try_from(cpus).unwrap_or(libc::c_int::MAX);
            // SAFETY: mallopt only changes a malloc setting; it is called
            // first thing in main, before any other thread exists
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, arenas);
            }
        }
    }
}
