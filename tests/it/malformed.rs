//! Malformed inputs, each with the exact error and Result-Code it must give.

use diameter::message::constants::*;
use diameter::message::framer::{check_frame, FrameStatus, Framer};
use diameter::message::{
    Avp, AvpDecodeError, AvpValue, DecodeLimits, FrameError, Message, MessageDecodeError,
};

/// A message: a header with R set (unless `flags` says otherwise), a length
/// field that counts `body`, unless `length` overrides it.
fn msg(flags: u8, length: Option<u32>, body: &[u8]) -> Vec<u8> {
    let len = length.unwrap_or(20 + body.len() as u32);
    let mut out = Vec::new();
    out.extend_from_slice(&(1u32 << 24 | len).to_be_bytes());
    out.extend_from_slice(&(u32::from(flags) << 24 | 272).to_be_bytes());
    out.extend_from_slice(&4u32.to_be_bytes());
    out.extend_from_slice(&0x1111u32.to_be_bytes());
    out.extend_from_slice(&0x2222u32.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// An AVP with a given length field; `payload` is padded to 4 bytes.
fn avp(code: u32, flags: u8, vendor: Option<u32>, length: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&(u32::from(flags) << 24 | length).to_be_bytes());
    if let Some(v) = vendor {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(payload);
    out.resize(out.len().div_ceil(4) * 4, 0);
    out
}

/// A well-formed AVP: the length field counts header and payload.
fn good(code: u32, flags: u8, vendor: Option<u32>, payload: &[u8]) -> Vec<u8> {
    let hdr = if vendor.is_some() { 12 } else { 8 };
    avp(code, flags, vendor, hdr + payload.len() as u32, payload)
}

fn raw(code: u32, flags: u8, vendor: u32, payload: &[u8]) -> Avp {
    let mut a = Avp::with_value(code, vendor, AvpValue::Raw(payload.to_vec()));
    a.set_flags(flags);
    a
}

struct Case {
    name: &'static str,
    input: Vec<u8>,
    limits: DecodeLimits,
    check: fn(&MessageDecodeError) -> bool,
    result_code: u32,
    failed_avp: Option<Avp>,
}

fn case(
    name: &'static str,
    input: Vec<u8>,
    check: fn(&MessageDecodeError) -> bool,
    result_code: u32,
    failed_avp: Option<Avp>,
) -> Case {
    Case {
        name,
        input,
        limits: DecodeLimits::DEFAULT,
        check,
        result_code,
        failed_avp,
    }
}

#[test]
fn malformed_messages_give_their_exact_error() {
    use AvpDecodeError as A;
    use MessageDecodeError as M;
    let sub_id_type_5 = good(AVP_SUBSCRIPTION_ID_TYPE, 0x40, None, &[0, 0, 0, 0, 1]);
    let mut grouped_bad_member = good(AVP_SUBSCRIPTION_ID, 0x40, None, &sub_id_type_5);
    grouped_bad_member.extend(good(AVP_ORIGIN_HOST, 0x40, None, b"x"));
    let nested3 = good(
        AVP_PROXY_INFO,
        0x40,
        None,
        &good(
            AVP_PROXY_INFO,
            0x40,
            None,
            &good(AVP_PROXY_INFO, 0x40, None, &[]),
        ),
    );
    let many: Vec<u8> = (0..5)
        .flat_map(|_| good(AVP_ORIGIN_STATE_ID, 0x40, None, &[0, 0, 0, 1]))
        .collect();

    let mut cases = vec![
        case(
            "empty buffer",
            vec![],
            |e| {
                matches!(
                    e,
                    M::Truncated {
                        header: None,
                        length: 20,
                        available: 0
                    }
                )
            },
            5015,
            None,
        ),
        case(
            "19 bytes, no full header",
            msg(0x80, None, &[])[..19].to_vec(),
            |e| {
                matches!(
                    e,
                    M::Truncated {
                        header: None,
                        available: 19,
                        ..
                    }
                )
            },
            5015,
            None,
        ),
        case(
            "version 2",
            {
                let mut m = msg(0x80, None, &[]);
                m[0] = 2;
                m
            },
            |e| matches!(e, M::UnsupportedVersion { version: 2, .. }),
            5011,
            None,
        ),
        case(
            "length 16, below the header",
            msg(0x80, Some(16), &[]),
            |e| matches!(e, M::InvalidLength { length: 16, .. }),
            5015,
            None,
        ),
        case(
            "length not a multiple of 4",
            msg(0x80, Some(22), &[0, 0]),
            |e| matches!(e, M::InvalidLength { length: 22, .. }),
            5015,
            None,
        ),
        case(
            "length above the 1 MiB maximum",
            msg(0x80, Some(2 << 20), &[]),
            |e| {
                matches!(
                    e,
                    M::InvalidLength {
                        length: 0x20_0000,
                        ..
                    }
                )
            },
            5015,
            None,
        ),
        case(
            "buffer shorter than the length field",
            msg(0x80, Some(40), &[0; 16]),
            |e| {
                matches!(
                    e,
                    M::Truncated {
                        header: Some(_),
                        length: 40,
                        available: 36
                    }
                )
            },
            5015,
            None,
        ),
        case(
            "bytes after the message",
            msg(0x80, Some(20), &[0; 8]),
            |e| {
                matches!(
                    e,
                    M::TrailingBytes {
                        length: 20,
                        extra: 8,
                        ..
                    }
                )
            },
            5015,
            None,
        ),
        case(
            "request with the E bit",
            msg(0xa0, None, &[]),
            |e| matches!(e, M::InvalidHeaderBits { flags: 0xa0, .. }),
            3008,
            None,
        ),
        case(
            "4 bytes left for an AVP header",
            msg(0x80, None, &263u32.to_be_bytes()),
            |e| {
                matches!(
                    e,
                    M::Avp {
                        source: A::TruncatedHeader {
                            needed: 8,
                            available: 4,
                            ..
                        },
                        ..
                    }
                )
            },
            5014,
            Some(raw(263, 0, 0, &[])),
        ),
        case(
            "V flag set, 8 bytes left",
            msg(0x80, None, &avp(1, 0xc0, None, 8, &[])),
            |e| {
                matches!(
                    e,
                    M::Avp {
                        source: A::TruncatedHeader {
                            needed: 12,
                            available: 8,
                            ..
                        },
                        ..
                    }
                )
            },
            5014,
            None,
        ),
        case(
            "AVP length 4, below its header",
            msg(
                0x80,
                None,
                &avp(AVP_RESULT_CODE, 0x40, None, 4, &[0, 0, 0, 0]),
            ),
            |e| {
                matches!(
                    e,
                    M::Avp {
                        source: A::InvalidLength {
                            code: 268,
                            length: 4,
                            ..
                        },
                        ..
                    }
                )
            },
            5014,
            Some(raw(AVP_RESULT_CODE, 0x40, 0, &[0, 0, 0, 0])),
        ),
        case(
            "AVP length past the end of the message",
            msg(0x80, None, &avp(AVP_SESSION_ID, 0x40, None, 64, b"abcd")),
            |e| {
                matches!(
                    e,
                    M::Avp {
                        source: A::InvalidLength {
                            code: 263,
                            length: 64,
                            ..
                        },
                        ..
                    }
                )
            },
            5014,
            Some(raw(AVP_SESSION_ID, 0x40, 0, &[])),
        ),
        case(
            "Unsigned32 of 5 bytes",
            msg(
                0x80,
                None,
                &good(AVP_RESULT_CODE, 0x40, None, &[0, 0, 7, 0xd1, 0]),
            ),
            |e| {
                matches!(
                    e,
                    M::Avp {
                        source: A::InvalidLength {
                            code: 268,
                            length: 13,
                            ..
                        },
                        ..
                    }
                )
            },
            5014,
            Some(raw(AVP_RESULT_CODE, 0x40, 0, &[0, 0, 0, 0])),
        ),
        case(
            "Unsigned64 of 4 bytes",
            msg(
                0x80,
                None,
                &good(AVP_CC_TOTAL_OCTETS, 0x40, None, &[0, 0, 0, 1]),
            ),
            |e| {
                matches!(
                    e,
                    M::Avp {
                        source: A::InvalidLength {
                            code: 421,
                            length: 12,
                            ..
                        },
                        ..
                    }
                )
            },
            5014,
            Some(raw(AVP_CC_TOTAL_OCTETS, 0x40, 0, &[0; 8])),
        ),
        case(
            "Time of 8 bytes",
            msg(
                0x80,
                None,
                &good(AVP_EVENT_TIMESTAMP, 0x40, None, &[0, 0, 0, 1, 0, 0, 0, 1]),
            ),
            |e| {
                matches!(
                    e,
                    M::Avp {
                        source: A::InvalidLength {
                            code: 55,
                            length: 16,
                            ..
                        },
                        ..
                    }
                )
            },
            5014,
            Some(raw(AVP_EVENT_TIMESTAMP, 0x40, 0, &[0; 4])),
        ),
        case(
            "UTF8String that is not UTF-8",
            msg(
                0x80,
                None,
                &good(AVP_SESSION_ID, 0x40, None, b"\xff\xfeIl\xed\x8b"),
            ),
            |e| {
                matches!(
                    e,
                    M::Avp {
                        source: A::InvalidValue { code: 263, .. },
                        ..
                    }
                )
            },
            5004,
            Some(raw(AVP_SESSION_ID, 0x40, 0, b"\xff\xfeIl\xed\x8b")),
        ),
        case(
            "DiameterIdentity that is not UTF-8",
            msg(0x80, None, &good(AVP_ORIGIN_HOST, 0x40, None, b"h\xc3")),
            |e| {
                matches!(
                    e,
                    M::Avp {
                        source: A::InvalidValue { code: 264, .. },
                        ..
                    }
                )
            },
            5004,
            Some(raw(AVP_ORIGIN_HOST, 0x40, 0, b"h\xc3")),
        ),
        case(
            "IPv4 Address of 5 bytes",
            msg(
                0x80,
                None,
                &good(AVP_HOST_IP_ADDRESS, 0x40, None, &[0, 1, 10, 0, 0, 1, 9]),
            ),
            |e| {
                matches!(
                    e,
                    M::Avp {
                        source: A::InvalidValue { code: 257, .. },
                        ..
                    }
                )
            },
            5004,
            Some(raw(AVP_HOST_IP_ADDRESS, 0x40, 0, &[0, 1, 10, 0, 0, 1, 9])),
        ),
        case(
            "IPv6 Address of 4 bytes",
            msg(
                0x80,
                None,
                &good(AVP_HOST_IP_ADDRESS, 0x40, None, &[0, 2, 10, 0, 0, 1]),
            ),
            |e| {
                matches!(
                    e,
                    M::Avp {
                        source: A::InvalidValue { code: 257, .. },
                        ..
                    }
                )
            },
            5004,
            Some(raw(AVP_HOST_IP_ADDRESS, 0x40, 0, &[0, 2, 10, 0, 0, 1])),
        ),
        case(
            "Address without its family",
            msg(0x80, None, &good(AVP_HOST_IP_ADDRESS, 0x40, None, &[0])),
            |e| {
                matches!(
                    e,
                    M::Avp {
                        source: A::InvalidLength {
                            code: 257,
                            length: 9,
                            ..
                        },
                        ..
                    }
                )
            },
            5014,
            Some(raw(AVP_HOST_IP_ADDRESS, 0x40, 0, &[0, 0])),
        ),
        case(
            "reserved AVP flag bit",
            msg(
                0x80,
                None,
                &good(AVP_ORIGIN_STATE_ID, 0x41, None, &[0, 0, 0, 1]),
            ),
            |e| {
                matches!(
                    e,
                    M::Avp {
                        source: A::InvalidBits {
                            code: 278,
                            flags: 0x41,
                            ..
                        },
                        ..
                    }
                )
            },
            3009,
            Some(raw(AVP_ORIGIN_STATE_ID, 0x40, 0, &[0, 0, 0, 1])),
        ),
        case(
            "bad member inside a grouped AVP",
            msg(0x80, None, &grouped_bad_member),
            |e| {
                matches!(
                    e,
                    M::Avp {
                        source: A::InvalidLength {
                            code: 450,
                            length: 13,
                            ..
                        },
                        ..
                    }
                )
            },
            5014,
            Some(
                Avp::with_value(
                    AVP_SUBSCRIPTION_ID,
                    0,
                    AvpValue::Grouped(vec![raw(AVP_SUBSCRIPTION_ID_TYPE, 0x40, 0, &[0; 4])]),
                )
                .with_mandatory(true),
            ),
        ),
        Case {
            limits: DecodeLimits {
                max_avps: 4,
                ..DecodeLimits::DEFAULT
            },
            ..case(
                "more AVPs than the limit",
                msg(0x80, None, &many),
                |e| {
                    matches!(
                        e,
                        M::Avp {
                            source: A::TooManyAvps { max_avps: 4 },
                            ..
                        }
                    )
                },
                5012,
                None,
            )
        },
        Case {
            limits: DecodeLimits {
                max_depth: 2,
                ..DecodeLimits::DEFAULT
            },
            ..case(
                "grouped AVPs nested deeper than the limit",
                msg(0x80, None, &nested3),
                |e| {
                    matches!(
                        e,
                        M::Avp {
                            source: A::TooDeep { max_depth: 2, .. },
                            ..
                        }
                    )
                },
                5012,
                Some(
                    Avp::with_value(
                        AVP_PROXY_INFO,
                        0,
                        AvpValue::Grouped(vec![Avp::with_value(
                            AVP_PROXY_INFO,
                            0,
                            AvpValue::Grouped(vec![raw(AVP_PROXY_INFO, 0x40, 0, &[])]),
                        )
                        .with_mandatory(true)]),
                    )
                    .with_mandatory(true),
                ),
            )
        },
    ];
    // the vendor-flag case: the partial header is zero-padded, vendor 0
    cases[10].failed_avp = Some(raw(1, 0x40, 0, &[]));

    for c in &cases {
        let err = Message::from_bytes_with(&c.input, &c.limits).expect_err(c.name);
        assert!((c.check)(&err), "{}: unexpected error {err:?}", c.name);
        assert_eq!(err.result_code(), c.result_code, "{}: {err}", c.name);
        assert_eq!(err.failed_avp(), c.failed_avp.as_ref(), "{}", c.name);
        if c.input.len() >= 20 {
            let hdr = err
                .header()
                .unwrap_or_else(|| panic!("{}: no header", c.name));
            assert_eq!(hdr.hop_by_hop_identifier, 0x1111, "{}", c.name);
        }
        // the error's text is lowercase and names something concrete
        let text = err.to_string();
        assert!(
            !text.is_empty() && !text.ends_with('.'),
            "{}: {text}",
            c.name
        );
    }
}

#[test]
fn a_failed_avp_encodes_as_the_rfc_asks() {
    // RFC 6733 §7.5: an AVP of invalid length is echoed as its header with a
    // zero-filled payload of the type's minimum size
    let input = msg(
        0x80,
        None,
        &good(AVP_RESULT_CODE, 0x40, None, &[0, 0, 7, 0xd1, 0]),
    );
    let err = Message::from_bytes(&input).unwrap_err();
    let failed = err.failed_avp().unwrap().as_bytes().unwrap();
    assert_eq!(failed, [0, 0, 1, 12, 0x40, 0, 0, 12, 0, 0, 0, 0]);
}

#[test]
fn python_truncated_avp_vector_fails() {
    // python-diameter tests/test_avp.py test_error_from_bytes: cut mid-payload
    let bytes = hex("000001cd40000016333232353140336770702e60");
    let err = Avp::from_bytes(&bytes).unwrap_err();
    assert!(matches!(
        err,
        AvpDecodeError::InvalidLength {
            code: 461,
            length: 22,
            ..
        }
    ));
    assert_eq!(err.result_code(), 5014);
}

#[test]
fn broken_frames_are_connection_errors() {
    let cases: [(&[u8], FrameError); 5] = [
        (&[0, 0, 0, 20], FrameError::UnsupportedVersion(0)),
        (&[2], FrameError::UnsupportedVersion(2)),
        (&[1, 0, 0, 0], FrameError::TooShort(0)),
        (&[1, 0, 0, 19, 0x80], FrameError::TooShort(19)),
        (
            &[1, 0x10, 0, 4],
            FrameError::TooLong {
                length: 0x10_0004,
                max: 1 << 20,
            },
        ),
    ];
    for (input, want) in cases {
        assert_eq!(check_frame(input, 1 << 20), Err(want), "{input:?}");
        let mut framer = Framer::new();
        framer.feed(input);
        assert_eq!(framer.next_frame(), Err(want));
        // the stream stays failed
        framer.feed(&msg(0x80, None, &[]));
        assert_eq!(framer.next_frame(), Err(want));
    }
    assert_eq!(
        check_frame(&[1, 0, 0, 24], 1 << 20),
        Ok(FrameStatus::Partial { needed: 20 })
    );
    let small = Framer::with_max_message_size(64).max_message_size();
    assert_eq!(small, 64);
    assert_eq!(
        check_frame(&msg(0x80, Some(68), &[0; 48]), 64),
        Err(FrameError::TooLong {
            length: 68,
            max: 64
        })
    );
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn failed_avp_members_with_invalid_values_decode_raw() {
    // RFC 6733 §7.5: Failed-AVP carries the AVPs that were invalid; an answer
    // holding one must still decode
    let bad_session = avp(AVP_SESSION_ID, 0x40, None, 10, b"\xff\xfe");
    let failed = good(AVP_FAILED_AVP, 0x40, None, &bad_session);
    let mut answer = good(AVP_RESULT_CODE, 0x40, None, &5004u32.to_be_bytes());
    answer.extend(failed);
    let m = Message::from_bytes(&msg(0x00, None, &answer)).unwrap();
    let member = m
        .find_avp(&[(AVP_FAILED_AVP, 0), (AVP_SESSION_ID, 0)])
        .unwrap();
    assert_eq!(member.value(), &AvpValue::Raw(b"\xff\xfe".to_vec()));
    assert_eq!(m.as_bytes().unwrap(), msg(0x00, None, &answer));
    // outside a Failed-AVP the same AVP is an error
    assert!(Message::from_bytes(&msg(0x80, None, &bad_session)).is_err());
}
