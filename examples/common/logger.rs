//! The examples' logger: env_logger on standard error, filtered by
//! `RUST_LOG` (e.g. `RUST_LOG=debug`, or `RUST_LOG=warn,diameter.peer.msg=debug`
//! for the message dumps only), with a default filter per example where
//! `RUST_LOG` is unset. Each record is `target level message`, like python's
//! `%(name)-22s %(levelname)-7s %(message)s` without the time.
//!
//! The stack's log targets are python's logger names: `diameter.node`,
//! `diameter.connection`, `diameter.peer`, `diameter.peer.msg` (a dump of
//! every message sent and received, at debug), `diameter.application` and
//! `diameter.stats`.

use std::io::Write;

/// Installs the logger; `default_filter` (env_logger's syntax, as in
/// `RUST_LOG`) applies when `RUST_LOG` is unset.
pub fn init(default_filter: &str) {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter))
        .format(|buf, record| {
            writeln!(
                buf,
                "{:<22} {:<7} {}",
                record.target(),
                record.level(),
                record.args()
            )
        })
        .init();
}
