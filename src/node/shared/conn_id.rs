//! Connection ids: how every thread names a connection.

/// A connection's id: unique in the process, never reused (a stale id can
/// never reach a newer connection).
pub(crate) type ConnId = u64;

/// The next connection id.
pub(crate) fn next_conn_id() -> ConnId {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
