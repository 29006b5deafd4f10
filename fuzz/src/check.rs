//! The codec invariants checked on arbitrary input, shared by the cargo-fuzz
//! target (`fuzz/fuzz_targets/message.rs`) and the stable test runners
//! (`tests/it/fuzz_seeds.rs`, `tests/it/proptest_codec.rs`; the test
//! support module includes this file with `#[path]`). Every check panics on
//! a violation, which is what both libFuzzer and the test harness want.
//!
//! Invariants:
//! - decoding never panics (message, single AVP, framer, `check_frame`);
//! - whatever decodes re-encodes, the re-encoding decodes to the same value,
//!   and encoding that value again gives the same bytes (the first encoding
//!   is canonical even when the input was not, e.g. non-zero padding);
//! - the framer, fed the input in chunks of any size, cuts exactly the frames
//!   that `check_frame` finds walking the whole input, and stops with the same
//!   error.

use diameter::message::framer::{check_frame, FrameStatus, Framer, DEFAULT_MAX_MESSAGE_SIZE};
use diameter::message::{Avp, Message};

/// Runs every check on `data`.
pub fn check(data: &[u8]) {
    check_message(data);
    check_avp(data);
    check_framer(data);
}

/// `Message::from_bytes` never panics; a decoded message round-trips.
pub fn check_message(data: &[u8]) {
    let Ok(first) = Message::from_bytes(data) else {
        return;
    };
    assert_eq!(first.header.length as usize, data.len());
    let encoded = first
        .as_bytes()
        .unwrap_or_else(|e| panic!("a decoded message does not encode: {e}\n{first:?}"));
    assert_eq!(
        encoded.len(),
        data.len(),
        "re-encoding changed the length of a decoded message"
    );
    let second = Message::from_bytes(&encoded).unwrap_or_else(|e| {
        panic!("the re-encoding of a decoded message does not decode: {e}\n{first:?}")
    });
    assert_eq!(second, first, "decode(encode(decode(x))) != decode(x)");
    let again = second.as_bytes().expect("encodes once, encodes twice");
    assert_eq!(again, encoded, "encode(decode(encode(m))) != encode(m)");
}

/// `Avp::from_bytes` never panics; a decoded AVP round-trips.
pub fn check_avp(data: &[u8]) {
    let Ok(first) = Avp::from_bytes(data) else {
        return;
    };
    let encoded = first
        .as_bytes()
        .unwrap_or_else(|e| panic!("a decoded avp does not encode: {e}\n{first:?}"));
    assert_eq!(encoded.len(), first.padded_len());
    let second = Avp::from_bytes(&encoded).unwrap_or_else(|e| {
        panic!("the re-encoding of a decoded avp does not decode: {e}\n{first:?}")
    });
    assert_eq!(
        second, first,
        "decode(encode(decode(x))) != decode(x) for an avp"
    );
    assert_eq!(second.as_bytes().expect("encodes twice"), encoded);
}

/// The frames `check_frame` finds walking `data`, and the error it stops at.
pub fn reference_frames(data: &[u8], max: u32) -> (Vec<&[u8]>, Option<diameter::FrameError>) {
    let mut frames = Vec::new();
    let mut rest = data;
    loop {
        match check_frame(rest, max) {
            Ok(FrameStatus::Complete { length }) => {
                assert!(length >= 20 && length <= rest.len());
                let (frame, tail) = rest.split_at(length);
                frames.push(frame);
                rest = tail;
            }
            Ok(FrameStatus::Partial { needed }) => {
                assert!(needed > 0);
                return (frames, None);
            }
            Err(e) => return (frames, Some(e)),
        }
    }
}

/// Feeds `data` to a [`Framer`] in chunks of the given sizes (cycled; a zero
/// size feeds an empty chunk), taking frames out after every chunk.
pub fn framer_frames(
    data: &[u8],
    max: u32,
    chunk_sizes: &[usize],
) -> (Vec<Vec<u8>>, Option<diameter::FrameError>) {
    let mut framer = Framer::with_max_message_size(max);
    let mut frames = Vec::new();
    let mut rest = data;
    let mut sizes = chunk_sizes.iter().copied().cycle();
    loop {
        loop {
            match framer.next_frame() {
                Ok(Some(frame)) => frames.push(frame.to_vec()),
                Ok(None) => break,
                Err(e) => {
                    // the error sticks
                    assert_eq!(framer.next_frame(), Err(e));
                    return (frames, Some(e));
                }
            }
        }
        if rest.is_empty() {
            return (frames, None);
        }
        let size = sizes.next().unwrap_or(rest.len()).min(rest.len());
        let (chunk, tail) = rest.split_at(size);
        framer.feed(chunk);
        rest = tail;
        if size == 0 && chunk_sizes.iter().all(|&s| s == 0) {
            // only empty chunks: feed the rest at once
            framer.feed(rest);
            rest = &[];
        }
    }
}

/// The framer agrees with `check_frame`, however the input is chunked; every
/// frame is also run through the message checks.
pub fn check_framer(data: &[u8]) {
    // Chunk sizes taken from the input itself, so that the fuzzer explores
    // them too; plus byte-by-byte and all-at-once.
    let from_input: Vec<usize> = data.iter().take(8).map(|&b| usize::from(b % 29)).collect();
    for max in [DEFAULT_MAX_MESSAGE_SIZE, 64] {
        let (expected, expected_err) = reference_frames(data, max);
        for sizes in [&from_input[..], &[1][..], &[usize::MAX][..]] {
            let (frames, err) = framer_frames(data, max, sizes);
            assert_eq!(err, expected_err, "framer error differs (chunks {sizes:?})");
            assert_eq!(frames.len(), expected.len(), "framer frame count differs");
            for (got, want) in frames.iter().zip(&expected) {
                assert_eq!(&got[..], *want, "framer frame differs (chunks {sizes:?})");
            }
        }
        if max == DEFAULT_MAX_MESSAGE_SIZE {
            for frame in expected {
                check_message(frame);
            }
        }
    }
}
