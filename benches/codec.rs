//! Codec benchmarks: decode and encode of a CER, of a Gy CCR with nested
//! grouped AVPs, and of the CCR the `diameter` crate (diameter-rs) measures
//! in its own benchmark, next to a baseline (framing and copying the same
//! bytes) so that figures can be read as ratios on any machine.
//!
//! Run with `cargo bench --bench codec`; `tools/bench/peers.sh` runs the
//! `drs_ccr` group next to diameter-rs's codec on the same bytes.

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use diameter::message::constants::*;
use diameter::message::framer::{check_frame, DEFAULT_MAX_MESSAGE_SIZE};
use diameter::message::{Avp, Message, MessageHeader};

/// The CER of python-diameter's test suite (180 bytes).
const CER: &str = "010000b48000010100000000b237ee976801428f00000108400000216472612e73776c\
61622e726f616d2e7365727665722e6e6574000000000001284000001d73776c61622e\
726f616d2e7365727665722e6e6574000000000001014000000e0001ac142707000000\
00010a4000000c0001869f0000010d0000001067795f72656c6179000001164000000c\
64ae267e000001024000000c00000004000001034000000c000000040000010b000000\
0c01000000";

/// The CCR of diameter-rs 0.7.1's benchmark (`cca_message` in its
/// `benches/diameter_bench.rs`), as diameter-rs encodes it (168 bytes):
/// Origin-Host, Origin-Realm, Session-Id, Result-Code, CC-Request-Type,
/// CC-Request-Number and a 3GPP Service-Information holding PS-Information
/// holding Called-Station-Id.
const DRS_CCR: &str = "010000a8c00001100000000442f20a52b8ea971b0000010840000018686f7374\
2e6578616d706c652e636f6d00000128400000197265616c6d2e6578616d706c\
652e636f6d00000000000107400000147365733b31323334353838380000010c\
4000000c000007d1000001a04000000c000000010000019f4000000c000003e8\
00000369c0000028000028af0000036ac000001c000028af0000001e4000000d\
3130393939000000";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn a(code: u32, value: impl Into<diameter::message::AvpValue>) -> Avp {
    Avp::new(code, 0, value).expect("known avp")
}

fn v(code: u32, value: impl Into<diameter::message::AvpValue>) -> Avp {
    Avp::new(code, VENDOR_TGPP, value).expect("known avp")
}

/// A Gy CCR-U with two MSCCs (Requested- and Used-Service-Unit) and a 3GPP
/// Service-Information / PS-Information block.
fn ccr() -> Message {
    let mut hdr = MessageHeader::new(CMD_CREDIT_CONTROL, APP_DIAMETER_CREDIT_CONTROL_APPLICATION);
    hdr.set_request(true);
    hdr.set_proxyable(true);
    hdr.hop_by_hop_identifier = 0x1234_5678;
    hdr.end_to_end_identifier = 0x9abc_def0;
    let mscc = |rg: u32| {
        a(
            AVP_MULTIPLE_SERVICES_CREDIT_CONTROL,
            vec![
                a(
                    AVP_REQUESTED_SERVICE_UNIT,
                    vec![a(AVP_CC_TOTAL_OCTETS, 0u64)],
                ),
                a(
                    AVP_USED_SERVICE_UNIT,
                    vec![
                        a(AVP_CC_TIME, 300u32),
                        a(AVP_CC_INPUT_OCTETS, 1_234_567u64),
                        a(AVP_CC_OUTPUT_OCTETS, 7_654_321u64),
                        a(AVP_CC_TOTAL_OCTETS, 8_888_888u64),
                    ],
                ),
                a(AVP_RATING_GROUP, rg),
                a(AVP_SERVICE_IDENTIFIER, rg + 1),
            ],
        )
    };
    Message::new(
        hdr,
        vec![
            a(AVP_SESSION_ID, "pgw1.example.net;1234567890;1;gy"),
            a(AVP_ORIGIN_HOST, "pgw1.example.net"),
            a(AVP_ORIGIN_REALM, "example.net"),
            a(AVP_DESTINATION_REALM, "ocs.example.net"),
            a(AVP_AUTH_APPLICATION_ID, 4u32),
            a(AVP_SERVICE_CONTEXT_ID, "32251@3gpp.org"),
            a(AVP_CC_REQUEST_TYPE, 2),
            a(AVP_CC_REQUEST_NUMBER, 7u32),
            a(
                AVP_SUBSCRIPTION_ID,
                vec![
                    a(AVP_SUBSCRIPTION_ID_TYPE, 0),
                    a(AVP_SUBSCRIPTION_ID_DATA, "48507909008"),
                ],
            ),
            a(
                AVP_SUBSCRIPTION_ID,
                vec![
                    a(AVP_SUBSCRIPTION_ID_TYPE, 1),
                    a(AVP_SUBSCRIPTION_ID_DATA, "260011234567890"),
                ],
            ),
            mscc(8000),
            mscc(9000),
            v(
                AVP_TGPP_SERVICE_INFORMATION,
                vec![v(
                    AVP_TGPP_PS_INFORMATION,
                    vec![
                        v(AVP_TGPP_3GPP_CHARGING_ID, &[0u8, 0, 0x30, 0x39]),
                        v(AVP_TGPP_SGSN_ADDRESS, Ipv4Addr::new(10, 1, 2, 3)),
                        v(AVP_TGPP_GGSN_ADDRESS, Ipv4Addr::new(10, 4, 5, 6)),
                        a(AVP_CALLED_STATION_ID, "internet"),
                    ],
                )],
            ),
        ],
    )
}

fn codec(c: &mut Criterion) {
    let cer = hex(CER);
    let ccr_bytes = ccr().as_bytes().expect("encodes");
    let drs = hex(DRS_CCR);
    let cer_msg = Message::from_bytes(&cer).expect("decodes");
    let ccr_msg = Message::from_bytes(&ccr_bytes).expect("decodes");
    let drs_msg = Message::from_bytes(&drs).expect("decodes");
    assert_eq!(
        drs_msg.as_bytes().expect("encodes"),
        drs,
        "re-encodes as received"
    );

    for (name, bytes, msg) in [
        ("cer", &cer, &cer_msg),
        ("ccr", &ccr_bytes, &ccr_msg),
        ("drs_ccr", &drs, &drs_msg),
    ] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function("baseline_frame_and_copy", |b| {
            b.iter(|| {
                let status = check_frame(black_box(bytes), DEFAULT_MAX_MESSAGE_SIZE);
                (status, black_box(bytes).to_vec())
            })
        });
        g.bench_function("decode", |b| {
            b.iter(|| Message::from_bytes(black_box(bytes)))
        });
        let mut out = Vec::with_capacity(bytes.len());
        g.bench_function("encode", |b| {
            b.iter(|| {
                out.clear();
                black_box(msg).encode_into(&mut out).expect("encodes");
                out.len()
            })
        });
        g.bench_function("as_bytes", |b| b.iter(|| black_box(msg).as_bytes()));
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = codec
}
criterion_main!(benches);
