//! Runs the fuzz target's checks (`fuzz/src/check.rs`) on every seed input in
//! `fuzz/seeds/message/`, so that the corpus is exercised on stable too.

use crate::support::check;

use std::path::PathBuf;

fn seeds() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/message");
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {name}: {e}"));
            (name, data)
        })
        .collect();
    seeds.sort();
    seeds
}

#[test]
fn every_seed_passes_the_fuzz_checks() {
    let seeds = seeds();
    assert!(
        seeds.len() >= 4,
        "expected the seed corpus, found {seeds:?}"
    );
    for (name, data) in &seeds {
        eprintln!("seed {name} ({} bytes)", data.len());
        check::check(data);
    }
}

#[test]
fn every_prefix_of_every_seed_passes_the_fuzz_checks() {
    for (name, data) in seeds() {
        for end in 0..data.len() {
            let result = std::panic::catch_unwind(|| check::check(&data[..end]));
            assert!(result.is_ok(), "seed {name} cut to {end} bytes");
        }
    }
}

/// The seeds are what their names say: a sanity check so that the corpus
/// keeps covering the cases it was made for.
#[test]
fn seeds_cover_what_they_claim() {
    use diameter::message::{AvpDecodeError, Message, MessageDecodeError};
    for (name, data) in seeds() {
        let decoded = Message::from_bytes(&data);
        match name.as_str() {
            "cer.bin" => assert_eq!(decoded.map(|m| m.header.command_code).ok(), Some(257)),
            "ccr_nested_grouped.bin" => {
                let m = decoded.expect("the CCR decodes");
                assert!(m.avps.iter().any(|a| a
                    .as_grouped()
                    .is_some_and(|g| g.iter().any(|b| b.as_grouped().is_some()))));
            }
            "ccr_truncated.bin" => {
                assert!(matches!(decoded, Err(MessageDecodeError::Truncated { .. })))
            }
            "cer_bad_avp_length.bin" | "cer_avp_length_below_header.bin" => assert!(matches!(
                decoded,
                Err(MessageDecodeError::Avp {
                    source: AvpDecodeError::InvalidLength { .. },
                    ..
                })
            )),
            "grouped_40_deep.bin" => assert!(matches!(
                decoded,
                Err(MessageDecodeError::Avp {
                    source: AvpDecodeError::TooDeep { .. },
                    ..
                })
            )),
            "noncanonical_padding.bin" => {
                let m = decoded.expect("non-canonical padding is tolerated");
                assert_ne!(m.as_bytes().expect("encodes"), data);
            }
            "stream_cer_dwr_ccr_partial.bin" => {
                // three messages back to back, the last cut short: the
                // framer yields the two whole ones
                let mut framer = diameter::message::framer::Framer::new();
                framer.feed(&data);
                let mut codes = Vec::new();
                while let Ok(Some(frame)) = framer.next_frame() {
                    codes.push(
                        Message::from_bytes(frame)
                            .map(|m| m.header.command_code)
                            .ok(),
                    );
                }
                assert_eq!(codes, [Some(257), Some(280)]);
            }
            "v_flag_vendor_zero.bin" => {
                let m = decoded.expect("a V flag with Vendor-Id 0 decodes");
                assert_eq!(
                    m.as_bytes().expect("encodes"),
                    data,
                    "re-encoded as received"
                );
            }
            other => panic!("seed {other} has no check here: say what it covers"),
        }
    }
}
