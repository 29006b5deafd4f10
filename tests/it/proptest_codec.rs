//! Property tests of the wire codec: decoding never panics, generated
//! messages round-trip, the framer cuts streams however they are chunked, and
//! deep nesting is an error rather than a stack overflow.
//!
//! Each property runs 256 cases (`config()`; set `PROPTEST_CASES` for more),
//! with bounded shrinking and no regression files written to the source tree.

use crate::support::check;

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diameter::message::constants::*;
use diameter::message::dictionary::{self, AvpType};
use diameter::message::framer::{check_frame, FrameStatus, Framer, DEFAULT_MAX_MESSAGE_SIZE};
use diameter::message::{
    ntp_to_unix, Address, Avp, AvpDecodeError, AvpValue, DecodeLimits, Message, MessageDecodeError,
    MessageHeader,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

/// 256 cases per property; `PROPTEST_CASES=100000` for a longer hunt.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        max_shrink_iters: 2048,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

const ALL_TYPES: [AvpType; 16] = [
    AvpType::OctetString,
    AvpType::Integer32,
    AvpType::Integer64,
    AvpType::Unsigned32,
    AvpType::Unsigned64,
    AvpType::Float32,
    AvpType::Float64,
    AvpType::Grouped,
    AvpType::Address,
    AvpType::Time,
    AvpType::Utf8String,
    AvpType::DiameterIdentity,
    AvpType::DiameterUri,
    AvpType::Enumerated,
    AvpType::IpFilterRule,
    AvpType::QosFilterRule,
];

/// `(code, vendor_id)`.
type Code = (u32, u32);

/// A few `(code, vendor)` pairs per type from the built-in dictionary, vendor
/// 0 and vendor-specific ones, each checked to look up to that very type.
fn codes_of(avp_type: AvpType) -> Vec<Code> {
    static CODES: OnceLock<Vec<(AvpType, Vec<Code>)>> = OnceLock::new();
    let all = CODES.get_or_init(|| {
        ALL_TYPES
            .iter()
            .map(|&t| {
                let defs: Vec<(u32, u32)> = dictionary::builtin_definitions()
                    .filter(|d| d.avp_type == t)
                    .filter(|d| {
                        dictionary::lookup(d.code, d.vendor_id).map(|l| l.avp_type) == Some(t)
                    })
                    .map(|d| (d.code, d.vendor_id))
                    .collect();
                let ietf = defs.iter().filter(|(_, v)| *v == 0).take(3);
                let vendor = defs.iter().filter(|(_, v)| *v != 0);
                // spread the vendor picks over the table
                let step = (vendor.clone().count() / 3).max(1);
                let picks: Vec<(u32, u32)> =
                    ietf.chain(vendor.step_by(step).take(3)).copied().collect();
                assert!(!picks.is_empty(), "the dictionary has no {t} AVP");
                (t, picks)
            })
            .collect()
    });
    all.iter()
        .find(|(t, _)| *t == avp_type)
        .map(|(_, c)| c.clone())
        .unwrap_or_default()
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        vec(any::<char>(), 0..12).prop_map(String::from_iter),
        "[a-z0-9.;@:=-]{0,24}",
    ]
}

fn octets() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..24)
}

/// A Time value: whole seconds, anywhere in the 32-bit NTP range
/// (1968-01-20 03:14:08 to 2104-02-26 09:42:23 UTC).
fn time_value() -> impl Strategy<Value = SystemTime> {
    any::<u32>().prop_map(|ntp| {
        let unix = ntp_to_unix(ntp);
        let secs = Duration::from_secs(unix.unsigned_abs());
        if unix >= 0 {
            UNIX_EPOCH + secs
        } else {
            UNIX_EPOCH - secs
        }
    })
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| Address::Ipv4(o.into())),
        any::<[u8; 16]>().prop_map(|o| Address::Ipv6(o.into())),
        // E.164 as text: non-UTF-8 family-8 bytes decode to `Other`
        text().prop_map(Address::E164),
        (
            any::<u16>().prop_filter("families 1, 2 and 8 decode to their own variants", |f| {
                ![1, 2, 8].contains(f)
            }),
            octets()
        )
            .prop_map(|(family, data)| Address::Other { family, data }),
    ]
}

/// A value of a non-grouped type.
fn scalar_value(avp_type: AvpType) -> BoxedStrategy<AvpValue> {
    match avp_type {
        AvpType::OctetString => octets().prop_map(AvpValue::OctetString).boxed(),
        AvpType::Integer32 => any::<i32>().prop_map(AvpValue::Integer32).boxed(),
        AvpType::Integer64 => any::<i64>().prop_map(AvpValue::Integer64).boxed(),
        AvpType::Unsigned32 => any::<u32>().prop_map(AvpValue::Unsigned32).boxed(),
        AvpType::Unsigned64 => any::<u64>().prop_map(AvpValue::Unsigned64).boxed(),
        // any bit pattern, NaNs and infinities included (compared by bits)
        AvpType::Float32 => any::<u32>()
            .prop_map(|b| AvpValue::Float32(f32::from_bits(b)))
            .boxed(),
        AvpType::Float64 => any::<u64>()
            .prop_map(|b| AvpValue::Float64(f64::from_bits(b)))
            .boxed(),
        AvpType::Address => address().prop_map(AvpValue::Address).boxed(),
        AvpType::Time => time_value().prop_map(AvpValue::Time).boxed(),
        AvpType::Utf8String => text().prop_map(AvpValue::Utf8String).boxed(),
        AvpType::DiameterIdentity => text().prop_map(AvpValue::DiameterIdentity).boxed(),
        AvpType::DiameterUri => text().prop_map(AvpValue::DiameterUri).boxed(),
        AvpType::Enumerated => any::<i32>().prop_map(AvpValue::Enumerated).boxed(),
        AvpType::IpFilterRule => text().prop_map(AvpValue::IpFilterRule).boxed(),
        AvpType::QosFilterRule => text().prop_map(AvpValue::QosFilterRule).boxed(),
        AvpType::Grouped => unreachable!("grouped values are built by avp()"),
    }
}

/// M and P flags (V follows the vendor id).
fn with_flags(mut avp: Avp, (mandatory, private): (bool, bool)) -> Avp {
    avp.set_mandatory(mandatory);
    avp.set_private(private);
    avp
}

/// A dictionary AVP of a non-grouped type, with a value of that type.
fn scalar_avp() -> impl Strategy<Value = Avp> {
    let types: Vec<AvpType> = ALL_TYPES
        .into_iter()
        .filter(|t| *t != AvpType::Grouped)
        .collect();
    select(types)
        .prop_flat_map(|t| (select(codes_of(t)), scalar_value(t), any::<(bool, bool)>()))
        .prop_map(|((code, vendor), value, flags)| {
            with_flags(Avp::with_value(code, vendor, value), flags)
        })
}

/// An AVP the dictionary does not know, carried as raw bytes.
fn raw_avp() -> impl Strategy<Value = Avp> {
    (
        any::<u32>(),
        prop_oneof![Just(0u32), Just(10415u32), Just(5535u32), any::<u32>()],
        octets(),
        any::<(bool, bool)>(),
    )
        .prop_filter("unknown to the dictionary", |(code, vendor, _, _)| {
            dictionary::lookup(*code, *vendor).is_none()
        })
        .prop_map(|(code, vendor, bytes, flags)| {
            with_flags(Avp::with_value(code, vendor, AvpValue::Raw(bytes)), flags)
        })
}

fn grouped_avp(members: impl Strategy<Value = Vec<Avp>>) -> impl Strategy<Value = Avp> {
    (
        select(codes_of(AvpType::Grouped)),
        members,
        any::<(bool, bool)>(),
    )
        .prop_map(|((code, vendor), members, flags)| {
            with_flags(
                Avp::with_value(code, vendor, AvpValue::Grouped(members)),
                flags,
            )
        })
}

/// Any AVP: every value type, unknown AVPs, grouped AVPs nested up to 4 deep.
fn avp() -> impl Strategy<Value = Avp> {
    let leaf = prop_oneof![
        6 => scalar_avp(),
        2 => raw_avp(),
        1 => grouped_avp(Just(Vec::new())),
    ];
    leaf.prop_recursive(4, 48, 4, |inner| grouped_avp(vec(inner, 0..4)))
}

fn header() -> impl Strategy<Value = MessageHeader> {
    (
        any::<u8>(),
        0..=0x00ff_ffffu32,
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(flags, command_code, application_id, hbh, e2e)| {
            // never R and E together (an invalid combination decoding rejects)
            let flags = if flags & MessageHeader::FLAG_REQUEST != 0 {
                flags & !MessageHeader::FLAG_ERROR
            } else {
                flags
            };
            MessageHeader {
                command_flags: flags,
                hop_by_hop_identifier: hbh,
                end_to_end_identifier: e2e,
                ..MessageHeader::new(command_code, application_id)
            }
        })
}

fn message() -> impl Strategy<Value = Message> {
    (header(), vec(avp(), 0..6)).prop_map(|(header, avps)| Message::new(header, avps))
}

/// Bytes shaped like AVPs, with length fields that are right, a little off,
/// or wild, flags that are valid or not, and grouped payloads made of more of
/// the same: the input that drives the AVP decoder into its corners.
fn avpish() -> impl Strategy<Value = Vec<u8>> {
    let known: Vec<(u32, u32)> = ALL_TYPES.iter().flat_map(|&t| codes_of(t)).collect();
    let code = prop_oneof![
        3 => select(known),
        1 => (any::<u32>(), prop_oneof![Just(0u32), any::<u32>()]),
    ];
    let flags = prop_oneof![
        12 => select(vec![0x00u8, 0x40, 0x80, 0xc0, 0x60, 0xe0]),
        1 => any::<u8>(),
    ];
    let delta = prop_oneof![
        16 => Just(0i64),
        3 => -9i64..9,
        1 => any::<u32>().prop_map(|l| i64::from(l & 0x00ff_ffff) - 0x0080_0000),
    ];
    let leaf_payload = prop_oneof![
        vec(any::<u8>(), 0..20),
        // the sizes of the fixed-size types
        select(vec![4usize, 8]).prop_flat_map(|n| vec(any::<u8>(), n)),
        "[a-z0-9.]{0,12}".prop_map(String::into_bytes),
        // a plausible Address, Time or integer payload
        (any::<u16>(), vec(any::<u8>(), 0..17)).prop_map(|(f, mut d)| {
            d.splice(0..0, (f % 10).to_be_bytes());
            d
        }),
    ];
    let padding = prop_oneof![4 => Just(true), 1 => Just(false)];
    // grouped payloads mostly under grouped codes
    let grouped_code = prop_oneof![
        4 => select(codes_of(AvpType::Grouped)),
        1 => code.clone(),
    ];
    let one = move |code: BoxedStrategy<(u32, u32)>, payload: BoxedStrategy<Vec<u8>>| {
        let consistent = prop_oneof![9 => Just(true), 1 => Just(false)];
        (
            code,
            flags.clone(),
            consistent,
            delta.clone(),
            payload,
            padding.clone(),
        )
            .prop_map(|((code, vendor), flags, consistent, delta, payload, pad)| {
                // mostly the V flag that goes with the vendor id
                let flags = match (consistent, vendor) {
                    (false, _) => flags,
                    (true, 0) => flags & !0x80,
                    (true, _) => flags | 0x80,
                };
                let header_len = if flags & 0x80 != 0 { 12 } else { 8 };
                let length = (header_len + payload.len()) as i64 + delta;
                let length = length.clamp(0, 0x00ff_ffff) as u32;
                let mut out = Vec::new();
                out.extend_from_slice(&code.to_be_bytes());
                out.extend_from_slice(&(u32::from(flags) << 24 | length).to_be_bytes());
                if header_len == 12 {
                    out.extend_from_slice(&vendor.to_be_bytes());
                }
                out.extend_from_slice(&payload);
                if pad {
                    out.resize(out.len().div_ceil(4) * 4, 0);
                }
                out
            })
    };
    let leaf = one(code.boxed(), leaf_payload.boxed());
    leaf.prop_recursive(3, 32, 4, move |inner| {
        one(
            grouped_code.clone().boxed(),
            vec(inner, 0..4).prop_map(|parts| parts.concat()).boxed(),
        )
    })
}

/// A header whose Message Length counts `body` (padded to 4 bytes).
fn message_bytes(header: &MessageHeader, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + body.len() + 3);
    let mut hdr = *header;
    let padded = body.len().div_ceil(4) * 4;
    hdr.length = (20 + padded) as u32;
    out.extend_from_slice(&hdr.as_bytes());
    out.extend_from_slice(body);
    out.resize(20 + padded, 0);
    out
}

// ---------------------------------------------------------------------------
// Decoding arbitrary bytes never panics
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(data in vec(any::<u8>(), 0..256)) {
        // check() decodes it as a message, an AVP and a stream; here also
        // with other size limits
        for max in [0, 20, 64, DEFAULT_MAX_MESSAGE_SIZE, u32::MAX] {
            let _ = check_frame(&data, max);
        }
        check::check(&data);
    }

    #[test]
    fn arbitrary_body_after_a_valid_header_never_panics(
        header in header(),
        body in vec(any::<u8>(), 0..256),
    ) {
        let data = message_bytes(&header, &body);
        check::check(&data);
    }

    /// The interesting case: AVP-shaped bodies, so that decoding gets deep
    /// into the AVP decoder; whatever decodes must round-trip.
    #[test]
    fn avp_shaped_body_after_a_valid_header_never_panics_and_round_trips(
        header in header(),
        avps in vec(avpish(), 1..6),
    ) {
        let data = message_bytes(&header, &avps.concat());
        if let Err(e) = Message::from_bytes(&data) {
            // every error answers with a protocol (3xxx) or permanent (5xxx)
            // Result-Code and keeps the header
            prop_assert!((3000..6000).contains(&e.result_code()), "{:?}", e);
            prop_assert_eq!(e.header(), Some(&MessageHeader { length: data.len() as u32, ..header }));
        }
        check::check(&data);
        for avp in &avps {
            check::check_avp(avp);
        }
    }

    #[test]
    fn framer_fed_arbitrary_chunks_never_panics(
        chunks in vec(vec(any::<u8>(), 0..40), 0..10),
        max in prop_oneof![Just(DEFAULT_MAX_MESSAGE_SIZE), 0..100u32],
    ) {
        let mut framer = Framer::with_max_message_size(max);
        let mut frames = Vec::new();
        let mut error = None;
        for chunk in &chunks {
            framer.feed(chunk);
            loop {
                match framer.next_frame() {
                    Ok(Some(frame)) => frames.push(frame.to_vec()),
                    Ok(None) => break,
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
        }
        let stream = chunks.concat();
        let (expected, expected_error) = check::reference_frames(&stream, max);
        prop_assert_eq!(frames, expected.iter().map(|f| f.to_vec()).collect::<Vec<_>>());
        // after the last chunk the framer has seen the whole stream
        prop_assert_eq!(error, expected_error);
    }

    /// Streams of frame-shaped pieces (version 1, small lengths) so that the
    /// framer really cuts frames, then garbage.
    #[test]
    fn framer_agrees_with_check_frame_on_frame_shaped_streams(
        frames in vec((20u32..80, any::<u8>(), vec(any::<u8>(), 0..80)), 0..6),
        garbage in vec(any::<u8>(), 0..30),
        sizes in vec(0usize..50, 1..8),
    ) {
        let mut stream = Vec::new();
        for (length, version, body) in &frames {
            let version = if version % 8 == 0 { *version } else { 1 };
            stream.extend_from_slice(&(u32::from(version) << 24 | length).to_be_bytes());
            stream.extend_from_slice(body);
        }
        stream.extend_from_slice(&garbage);
        let (expected, expected_error) = check::reference_frames(&stream, DEFAULT_MAX_MESSAGE_SIZE);
        let (got, error) = check::framer_frames(&stream, DEFAULT_MAX_MESSAGE_SIZE, &sizes);
        prop_assert_eq!(error, expected_error);
        prop_assert_eq!(got, expected.iter().map(|f| f.to_vec()).collect::<Vec<_>>());
    }
}

// ---------------------------------------------------------------------------
// Round trips of generated messages
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn decode_of_encode_is_identity(m in message()) {
        let encoded = m.as_bytes().expect("generated messages encode");
        prop_assert_eq!(encoded.len(), m.length());
        let decoded = Message::from_bytes(&encoded).expect("encoded messages decode");
        let expected = Message::new(
            MessageHeader { length: encoded.len() as u32, ..m.header },
            m.avps.clone(),
        );
        prop_assert_eq!(&decoded, &expected);
        // canonical input: re-encoding is byte-identical
        prop_assert_eq!(decoded.as_bytes().expect("decoded messages encode"), encoded);
    }

    #[test]
    fn avp_decode_of_encode_is_identity(a in avp()) {
        let encoded = a.as_bytes().expect("generated avps encode");
        prop_assert_eq!(encoded.len(), a.padded_len());
        prop_assert_eq!(encoded.len() % 4, 0);
        let decoded = Avp::from_bytes(&encoded).expect("encoded avps decode");
        prop_assert_eq!(&decoded, &a);
        prop_assert_eq!(decoded.as_bytes().expect("decoded avps encode"), encoded);
    }

    #[test]
    fn generated_messages_pass_the_fuzz_checks(m in message()) {
        check::check(&m.as_bytes().expect("generated messages encode"));
    }
}

// ---------------------------------------------------------------------------
// The framer on streams of real messages
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn framer_splits_streams_of_messages(
        messages in vec(message(), 1..5),
        sizes in vec(1usize..64, 1..10),
    ) {
        let encoded: Vec<Vec<u8>> = messages
            .iter()
            .map(|m| m.as_bytes().expect("generated messages encode"))
            .collect();

        // every strict prefix of every message is partial
        for one in &encoded {
            for end in 0..one.len() {
                let prefix = &one[..end];
                prop_assert!(
                    matches!(
                        check_frame(prefix, DEFAULT_MAX_MESSAGE_SIZE),
                        Ok(FrameStatus::Partial { needed }) if needed > 0
                    ),
                    "prefix of {} bytes",
                    end
                );
                let mut framer = Framer::new();
                framer.feed(prefix);
                prop_assert_eq!(framer.next_frame(), Ok(None));
                prop_assert_eq!(framer.buffered(), end);
            }
            prop_assert_eq!(
                check_frame(one, DEFAULT_MAX_MESSAGE_SIZE),
                Ok(FrameStatus::Complete { length: one.len() })
            );
        }

        // the whole stream in chunks gives the messages back, in order
        let stream = encoded.concat();
        let (frames, error) = check::framer_frames(&stream, DEFAULT_MAX_MESSAGE_SIZE, &sizes);
        prop_assert_eq!(error, None);
        prop_assert_eq!(&frames, &encoded);
        for (frame, m) in frames.iter().zip(&messages) {
            let decoded = Message::from_bytes(frame).expect("frames decode");
            prop_assert_eq!(decoded.avps.as_slice(), m.avps.as_slice());
            prop_assert_eq!(decoded.header, MessageHeader { length: frame.len() as u32, ..m.header });
        }

        // the same with a framer fed directly and drained after every chunk,
        // checking what it holds on to
        let mut framer = Framer::new();
        let mut got = Vec::new();
        let mut fed = 0;
        let mut taken = 0;
        for chunk in stream.chunks(sizes[0]) {
            framer.feed(chunk);
            fed += chunk.len();
            while let Some(frame) = framer.next_frame().expect("a valid stream") {
                taken += frame.len();
                got.push(frame.to_vec());
            }
            prop_assert_eq!(framer.buffered(), fed - taken);
        }
        prop_assert_eq!(got, encoded);
        prop_assert_eq!(framer.buffered(), 0);
    }
}

// ---------------------------------------------------------------------------
// Deep nesting
// ---------------------------------------------------------------------------

/// `levels` grouped AVPs of `code`, each the only member of the one around
/// it, the innermost empty; built innermost first, without recursion.
fn nested_grouped(code: u32, levels: usize) -> Vec<u8> {
    let mut headers = Vec::with_capacity(levels);
    let mut length = 0u32;
    for _ in 0..levels {
        length += 8;
        assert!(length <= 0x00ff_ffff, "the 24-bit AVP Length field");
        let mut h = [0u8; 8];
        h[..4].copy_from_slice(&code.to_be_bytes());
        h[4..].copy_from_slice(&(0x40 << 24 | length).to_be_bytes());
        headers.push(h);
    }
    headers.into_iter().rev().flatten().collect()
}

fn request(body: &[u8]) -> Vec<u8> {
    let mut header = MessageHeader::new(CMD_CREDIT_CONTROL, 4);
    header.set_request(true);
    message_bytes(&header, body)
}

/// How many grouped AVPs are nested in `avp`, itself included, following the
/// first member; and the innermost AVP.
fn depth_of(avp: &Avp) -> (usize, &Avp) {
    let mut depth = 0;
    let mut at = avp;
    while let Some(members) = at.as_grouped() {
        depth += 1;
        match members.first() {
            Some(first) => {
                assert_eq!(members.len(), 1);
                at = first;
            }
            None => break,
        }
    }
    (depth, at)
}

#[test]
fn default_depth_limit() {
    assert_eq!(DecodeLimits::DEFAULT.max_depth, 32);
    assert_eq!(DecodeLimits::default(), DecodeLimits::DEFAULT);
    assert_eq!(DecodeLimits::DEFAULT.max_message_size, 1 << 20);
    assert_eq!(DecodeLimits::DEFAULT.max_avps, 65_536);
}

#[test]
fn ten_thousand_levels_of_nesting_is_too_deep_not_a_stack_overflow() {
    const LEVELS: usize = 10_000;
    for code in [AVP_PROXY_INFO, AVP_VENDOR_SPECIFIC_APPLICATION_ID] {
        assert_eq!(
            dictionary::lookup(code, 0).map(|d| d.avp_type),
            Some(AvpType::Grouped)
        );
        let body = nested_grouped(code, LEVELS);
        assert_eq!(body.len(), 8 * LEVELS);
        assert_eq!(
            u32::from_be_bytes([0, body[5], body[6], body[7]]),
            80_000,
            "the outermost AVP Length"
        );
        let data = request(&body);
        assert_eq!(data.len(), 80_020);

        let err = Message::from_bytes(&data).expect_err("too deep");
        let MessageDecodeError::Avp {
            header,
            source:
                AvpDecodeError::TooDeep {
                    max_depth,
                    failed_avp,
                },
        } = &err
        else {
            panic!("expected TooDeep, got {err:?}");
        };
        assert_eq!(*max_depth, 32);
        assert_eq!(header.command_code, CMD_CREDIT_CONTROL);
        assert_eq!(err.result_code(), E_RESULT_CODE_DIAMETER_UNABLE_TO_COMPLY);
        assert_eq!(err.result_code(), 5012);
        assert_eq!(err.avp_error().map(AvpDecodeError::result_code), Some(5012));

        // Failed-AVP: the 32 enclosing grouped AVPs, each holding only the
        // next, down to the AVP at the limit with an empty payload
        let (depth, innermost) = depth_of(failed_avp);
        assert_eq!(depth, 32);
        assert_eq!(innermost.code(), code);
        assert_eq!(innermost.value(), &AvpValue::Raw(Vec::new()));
        assert_eq!(failed_avp.code(), code);
        assert_eq!(err.failed_avp(), Some(&**failed_avp));

        // a single AVP decodes the same way
        let err = Avp::from_bytes(&body).expect_err("too deep");
        assert!(
            matches!(err, AvpDecodeError::TooDeep { max_depth: 32, .. }),
            "{err:?}"
        );
        assert_eq!(err.result_code(), 5012);
    }
}

#[test]
fn nesting_exactly_at_the_limit_decodes_and_one_more_fails() {
    // the default limit
    let at_limit = Message::from_bytes(&request(&nested_grouped(AVP_PROXY_INFO, 32)))
        .expect("32 levels decode");
    assert_eq!(depth_of(&at_limit.avps[0]).0, 32);
    let err = Message::from_bytes(&request(&nested_grouped(AVP_PROXY_INFO, 33)))
        .expect_err("33 levels do not");
    assert!(
        matches!(
            err.avp_error(),
            Some(AvpDecodeError::TooDeep { max_depth: 32, .. })
        ),
        "{err:?}"
    );

    // other limits
    for max_depth in [0, 1, 2, 5, 100] {
        let limits = DecodeLimits {
            max_depth,
            ..DecodeLimits::DEFAULT
        };
        for code in [AVP_PROXY_INFO, AVP_VENDOR_SPECIFIC_APPLICATION_ID] {
            let ok = Message::from_bytes_with(&request(&nested_grouped(code, max_depth)), &limits)
                .unwrap_or_else(|e| panic!("{max_depth} levels under a limit of {max_depth}: {e}"));
            assert_eq!(ok.avps.first().map_or(0, |a| depth_of(a).0), max_depth);

            let err =
                Message::from_bytes_with(&request(&nested_grouped(code, max_depth + 1)), &limits)
                    .expect_err("one level more");
            match err.avp_error() {
                Some(AvpDecodeError::TooDeep {
                    max_depth: m,
                    failed_avp,
                }) => {
                    assert_eq!(*m, max_depth);
                    assert_eq!(depth_of(failed_avp).0, max_depth);
                }
                other => panic!("limit {max_depth}: expected TooDeep, got {other:?}"),
            }
            assert_eq!(err.result_code(), 5012);
        }
    }
}

/// An AVP with the V flag set and a Vendor-ID of 0 re-encodes as it came,
/// Vendor-ID field included (found by fuzzing).
#[test]
fn avp_with_v_flag_and_vendor_id_zero_round_trips() {
    // unknown code 1, flags V, length 12, Vendor-ID 0, no payload
    let wire = [0, 0, 0, 1, 0x80, 0, 0, 12, 0, 0, 0, 0];
    let avp = Avp::from_bytes(&wire).expect("decodes");
    let encoded = avp.as_bytes().expect("encodes");
    assert_eq!(encoded, wire, "re-encoding of {avp:?}");
    assert_eq!(Avp::from_bytes(&encoded), Ok(avp));
    let data = request(&wire);
    let m = Message::from_bytes(&data).expect("decodes");
    assert_eq!(m.as_bytes().expect("encodes"), data);
}
