//! SIGINT and SIGTERM for the long-running examples: they serve until one
//! arrives (or until their `--duration`, where they have one), then stop
//! their node, which says goodbye to every peer with a DPR (Disconnect-Cause
//! REBOOTING), and exit with status 0. This is python's
//! `except KeyboardInterrupt: node.stop()`, extended to the signal a service
//! manager sends. Standard input is not read: a server started with it
//! closed keeps serving.
//!
//! A second signal while the node stops ends the process at once (status 1).

use std::io;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The handlers for SIGINT and SIGTERM, installed by [`Shutdown::install`].
pub struct Shutdown {
    received: Receiver<i32>,
}

impl Shutdown {
    /// Installs the handlers (before the node starts, so that a signal sent
    /// while it starts is not lost): from here on the two signals no longer
    /// kill the process but end [`Shutdown::wait`].
    pub fn install() -> io::Result<Shutdown> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let (tx, received) = mpsc::channel();
        thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                let mut seen = 0;
                for signal in signals.forever() {
                    seen += 1;
                    if seen > 1 {
                        eprintln!("{}: stopping at once", name(signal));
                        std::process::exit(1);
                    }
                    let _ = tx.send(signal);
                }
            })?;
        Ok(Shutdown { received })
    }

    /// Blocks until SIGINT or SIGTERM arrives, and returns its name; or,
    /// with a `limit`, until that much time has passed (then `None`).
    pub fn wait(&self, limit: Option<Duration>) -> Option<&'static str> {
        let signal = match limit {
            Some(limit) => match self.received.recv_timeout(limit) {
                Ok(signal) => signal,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            },
            None => self.received.recv().ok()?,
        };
        log::info!(target: "example", "{}: stopping", name(signal));
        Some(name(signal))
    }
}

/// The usual name of the two signals handled.
fn name(signal: i32) -> &'static str {
    if signal == SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    }
}
