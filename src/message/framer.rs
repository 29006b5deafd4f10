//! Splitting a TCP byte stream into Diameter messages.
//!
//! A message announces its length in its first four bytes, so the stream is
//! cut by reading headers. A version other than 1, a length below 20 bytes or
//! above the maximum cannot be skipped over: they are [`FrameError`]s and the
//! connection must close (python-diameter loops forever on a length below 20).
//!
//! ```
//! use diameter::message::framer::Framer;
//! use diameter::message::{Message, MessageHeader};
//!
//! let bytes = Message::new(MessageHeader::new(280, 0), vec![]).as_bytes().unwrap();
//! let mut framer = Framer::new();
//! framer.feed(&bytes[..7]);
//! assert_eq!(framer.next_frame().unwrap(), None); // partial
//! framer.feed(&bytes[7..]);
//! assert_eq!(framer.next_frame().unwrap(), Some(&bytes[..]));
//! ```

use super::header::HEADER_LENGTH;
use crate::error::FrameError;

/// Default largest message accepted: 1 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: u32 = 1 << 20;

/// What the start of a buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameStatus {
    /// Not a whole message yet; at least `needed` more bytes are wanted.
    Partial {
        /// Bytes missing, as far as known.
        needed: usize,
    },
    /// A whole message of `length` bytes.
    Complete {
        /// The message length.
        length: usize,
    },
}

/// Checks the start of `buf` for a whole message.
pub fn check_frame(buf: &[u8], max_message_size: u32) -> Result<FrameStatus, FrameError> {
    let Some(&version) = buf.first() else {
        return Ok(FrameStatus::Partial {
            needed: HEADER_LENGTH,
        });
    };
    if version != 1 {
        return Err(FrameError::UnsupportedVersion(version));
    }
    let Some(word) = buf.get(..4) else {
        return Ok(FrameStatus::Partial {
            needed: HEADER_LENGTH - buf.len(),
        });
    };
    let length = u32::from_be_bytes([0, word[1], word[2], word[3]]);
    if (length as usize) < HEADER_LENGTH {
        return Err(FrameError::TooShort(length));
    }
    if length > max_message_size {
        return Err(FrameError::TooLong {
            length,
            max: max_message_size,
        });
    }
    let length = length as usize;
    Ok(if buf.len() >= length {
        FrameStatus::Complete { length }
    } else {
        FrameStatus::Partial {
            needed: length - buf.len(),
        }
    })
}

/// A buffering framer: feed it bytes as they arrive, take whole messages out.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    start: usize,
    max_message_size: u32,
    failed: Option<FrameError>,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framer {
    /// A framer with the default maximum message size (1 MiB).
    pub fn new() -> Framer {
        Self::with_max_message_size(DEFAULT_MAX_MESSAGE_SIZE)
    }

    /// A framer that rejects messages longer than `max_message_size`.
    pub fn with_max_message_size(max_message_size: u32) -> Framer {
        Framer {
            buf: Vec::new(),
            start: 0,
            max_message_size,
            failed: None,
        }
    }

    /// The maximum message size in force.
    pub fn max_message_size(&self) -> u32 {
        self.max_message_size
    }

    /// Appends received bytes.
    pub fn feed(&mut self, data: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        // drop what was consumed once it is half the buffer (all of it, often)
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes received and not yet taken as messages.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next whole message, `None` while only part of one is buffered.
    /// After an error the stream is unusable and every call returns it again.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let pending = self.buf.get(self.start..).unwrap_or_default();
        match check_frame(pending, self.max_message_size) {
            Ok(FrameStatus::Partial { .. }) => Ok(None),
            Ok(FrameStatus::Complete { length }) => {
                let from = self.start;
                self.start += length;
                Ok(self.buf.get(from..self.start))
            }
            Err(e) => {
                self.failed = Some(e);
                self.buf = Vec::new();
                self.start = 0;
                Err(e)
            }
        }
    }
}
