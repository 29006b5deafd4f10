//! Decoding allocates in proportion to the input, never to a length field.
//!
//! A counting global allocator measures the peak heap growth of
//! `Message::from_bytes(input)`, result or error included, over random and
//! adversarial inputs, and checks it against `K * input.len() + C`.
//!
//! Only allocations made by the measuring thread while a measurement runs are
//! counted (a thread-local switch), and this file holds a single `#[test]`,
//! so the test harness cannot disturb the figures.
//!
//! The factor: the worst input is a body of empty 8-byte AVPs, each of which
//! becomes one `Avp` value in the message's vector (the vector is sized
//! exactly, by a pre-count of the length fields, so there is no doubling
//! slack). An `Avp` is 48 bytes on 64-bit targets, so the growth is
//! 48 / 8 = 6 bytes per input byte: measured 6.000 for 1 MiB of 8-byte
//! AVPs (unknown, empty OctetString, empty UTF8String or empty Grouped), and
//! the same for grouped AVPs nested one in another (each level is one `Avp`
//! in a one-element vector). 12-byte vendor AVPs give 4.0. Everything else
//! (strings, raw and octet payloads, failed-AVP copies) costs at most one
//! byte per input byte on top of its own 8- or 12-byte header: a 1 MiB
//! payload measures 1.00. Rejected headers (a 20-byte header claiming
//! 16 MiB) and too-deep nesting allocate nothing or a constant.
//!
//! K = 7 is the measured 6 plus one; the test also asserts that `Avp` has
//! not grown past 48 bytes, the figure K rests on. C = 1 KiB covers the fixed
//! costs of small inputs (error boxes, the 32-level Failed-AVP chain of a
//! too-deep message: 1680 bytes for a 284-byte input). A length field from the
//! wire never
//! sizes an allocation: a 20-byte header claiming 16 MiB allocates nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};

use diameter::message::constants::*;
use diameter::message::framer::{check_frame, Framer};
use diameter::message::{Avp, AvpDecodeError, DecodeLimits, Message, MessageHeader};

// ---------------------------------------------------------------------------
// The counting allocator
// ---------------------------------------------------------------------------

struct Counting;

static CURRENT: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
}

fn tracking() -> bool {
    TRACKING.try_with(Cell::get).unwrap_or(false)
}

fn grow(bytes: usize) {
    let now = CURRENT.fetch_add(bytes as isize, Ordering::Relaxed) + bytes as isize;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrink(bytes: usize) {
    CURRENT.fetch_sub(bytes as isize, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() && tracking() {
            grow(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() && tracking() {
            grow(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        if tracking() {
            shrink(layout.size());
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() && tracking() {
            if new_size >= layout.size() {
                grow(new_size - layout.size());
            } else {
                shrink(layout.size() - new_size);
            }
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns the peak heap growth while it ran (what `f` returns
/// is still alive at the end, so it is included) and what it returned.
fn measure<R>(f: impl FnOnce() -> R) -> (usize, R) {
    CURRENT.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    TRACKING.with(|t| t.set(true));
    let out = f();
    TRACKING.with(|t| t.set(false));
    (PEAK.load(Ordering::Relaxed).max(0) as usize, out)
}

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

fn avp_header(code: u32, flags: u8, length: u32, vendor: Option<u32>) -> Vec<u8> {
    let mut out = Vec::with_capacity(12);
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&(u32::from(flags) << 24 | (length & 0x00ff_ffff)).to_be_bytes());
    if let Some(v) = vendor {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

/// A well-formed AVP around `payload`, padded.
fn avp(code: u32, vendor: Option<u32>, payload: &[u8]) -> Vec<u8> {
    let header_len = if vendor.is_some() { 12 } else { 8 };
    let flags = if vendor.is_some() { 0xc0 } else { 0x40 };
    let mut out = avp_header(code, flags, (header_len + payload.len()) as u32, vendor);
    out.extend_from_slice(payload);
    out.resize(out.len().div_ceil(4) * 4, 0);
    out
}

/// A request whose Message Length counts `body` (padded), unless `length`.
fn message(body: &[u8], length: Option<u32>) -> Vec<u8> {
    let padded = body.len().div_ceil(4) * 4;
    let mut header = MessageHeader::new(CMD_CREDIT_CONTROL, 4);
    header.set_request(true);
    header.length = length.unwrap_or((20 + padded) as u32);
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(body);
    out.resize(20 + padded, 0);
    out
}

/// `levels` grouped AVPs of `code`, each the only member of the next.
fn nested(code: u32, levels: usize, innermost: &[u8]) -> Vec<u8> {
    let mut headers = Vec::with_capacity(levels);
    let mut length = innermost.len() as u32;
    for _ in 0..levels {
        length += 8;
        headers.push(avp_header(code, 0x40, length, None));
    }
    let mut out: Vec<u8> = headers.into_iter().rev().flatten().collect();
    out.extend_from_slice(innermost);
    out
}

fn repeat(item: &[u8], n: usize) -> Vec<u8> {
    item.repeat(n)
}

/// Random AVP-shaped bytes: known and unknown codes, right and wrong lengths,
/// nested grouped AVPs.
fn random_avps(rng: &mut Rng, budget: usize, depth: usize) -> Vec<u8> {
    const CODES: [u32; 12] = [
        AVP_PROXY_INFO,                     // Grouped
        AVP_VENDOR_SPECIFIC_APPLICATION_ID, // Grouped
        AVP_SUBSCRIPTION_ID,                // Grouped
        AVP_USER_NAME,                      // UTF8String
        AVP_CLASS,                          // OctetString
        AVP_PROXY_STATE,                    // OctetString
        AVP_ORIGIN_HOST,                    // DiameterIdentity
        AVP_ORIGIN_STATE_ID,                // Unsigned32
        AVP_HOST_IP_ADDRESS,                // Address
        AVP_EVENT_TIMESTAMP,                // Time
        AVP_CC_TOTAL_OCTETS,                // Unsigned64
        0x00ab_cdef,                        // unknown
    ];
    let mut out = Vec::new();
    while out.len() < budget {
        let code = rng.pick(&CODES);
        let vendor = (rng.below(8) == 0).then(|| rng.next() as u32 | 1);
        let grouped = matches!(code, 284 | 260 | 443);
        let payload = if grouped && depth < 40 {
            let inner = rng.below(budget - out.len() + 1);
            random_avps(rng, inner, depth + 1)
        } else if rng.below(4) > 0 {
            // a valid value of the AVP's type, mostly
            let n = rng.pick(&[0, 1, 15, 200, 3000]);
            match code {
                AVP_ORIGIN_STATE_ID | AVP_EVENT_TIMESTAMP => rng.bytes(4),
                AVP_CC_TOTAL_OCTETS => rng.bytes(8),
                AVP_HOST_IP_ADDRESS => match rng.below(3) {
                    0 => [&[0, 1][..], &rng.bytes(4)].concat(),
                    1 => [&[0, 2][..], &rng.bytes(16)].concat(),
                    _ => [&[0, 8][..], &vec![b'5'; n]].concat(),
                },
                AVP_USER_NAME | AVP_ORIGIN_HOST => vec![b'x'; n],
                _ => rng.bytes(n),
            }
        } else {
            let (small, large) = (rng.below(64), rng.below(4096));
            let n = rng.pick(&[0, 0, 4, 6, 8, 18, small, large]);
            rng.bytes(n)
        };
        let mut a = avp(code, vendor, &payload);
        match rng.below(40) {
            0 => a[5..8].copy_from_slice(&[0xff, 0xff, 0xff]), // length 16 MiB
            1 => a[7] = a[7].wrapping_add(rng.below(16) as u8), // slightly off
            2 => a[4] |= 1 << rng.below(5),                    // reserved flag
            _ => {}
        }
        out.extend_from_slice(&a);
    }
    out
}

struct Case {
    name: String,
    input: Vec<u8>,
    limits: DecodeLimits,
}

fn case(name: impl Into<String>, input: Vec<u8>) -> Case {
    Case {
        name: name.into(),
        input,
        limits: DecodeLimits::DEFAULT,
    }
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mib = 1 << 20;

    // --- length fields that lie ---
    // a 20-byte header claiming 16 MiB, with the default limit and with a
    // limit that lets it through to the truncation check
    cases.push(case(
        "header claims 16 MiB",
        message(&[], Some(0x00ff_fffc)),
    ));
    cases.push(Case {
        limits: DecodeLimits {
            max_message_size: 16 * mib,
            ..DecodeLimits::DEFAULT
        },
        ..case(
            "header claims 16 MiB, limit 16 MiB",
            message(&[], Some(0x00ff_fffc)),
        )
    });
    cases.push(case(
        "header claims 16 MiB, 64 KiB follow",
        message(&[0; 65_536], Some(0x00ff_fffc)),
    ));
    for code in [AVP_PROXY_INFO, AVP_CLASS, AVP_USER_NAME, 0x00ab_cdef] {
        let mut body = avp_header(code, 0x40, 0x00ff_ffff, None);
        body.extend_from_slice(&[0; 24]);
        cases.push(case(
            format!("avp {code} claims 0xffffff"),
            message(&body, None),
        ));
        let inner = avp_header(code, 0x40, 0x00ff_ffff, None);
        cases.push(case(
            format!("avp {code} claims 0xffffff inside a grouped avp"),
            message(&avp(AVP_PROXY_INFO, None, &inner), None),
        ));
        let mut vendor = avp_header(code, 0xc0, 0x00ff_ffff, Some(10415));
        vendor.extend_from_slice(&[0; 8]);
        cases.push(case(
            format!("vendor avp {code} claims 0xffffff"),
            message(&vendor, None),
        ));
    }
    // an AVP Length of 0xffffff, alone after the header
    cases.push(case(
        "avp header only, length 0xffffff",
        message(&avp_header(0, 0, 0x00ff_ffff, None), None),
    ));

    // --- many tiny AVPs: the worst ratio ---
    let tiny: [(&str, Vec<u8>); 6] = [
        ("unknown", avp(0x00ab_cdef, None, &[])),
        ("empty OctetString", avp(AVP_CLASS, None, &[])),
        ("empty UTF8String", avp(AVP_USER_NAME, None, &[])),
        ("empty Grouped", avp(AVP_PROXY_INFO, None, &[])),
        ("unknown vendor", avp(1, Some(99_999), &[])),
        (
            "Unsigned32 (12 bytes)",
            avp(AVP_ORIGIN_STATE_ID, None, &[0; 4]),
        ),
    ];
    for (what, item) in &tiny {
        for n in [1, 100, 10_000, 65_536, 65_537, (mib - 20) / item.len()] {
            cases.push(case(
                format!("{n} x {what}"),
                message(&repeat(item, n), None),
            ));
        }
    }
    // many tiny AVPs, then one that fails: the vector is already full
    let mut body = repeat(&avp(AVP_CLASS, None, &[]), 60_000);
    body.extend_from_slice(&avp_header(AVP_CLASS, 0x40, 0x00ff_ffff, None));
    cases.push(case(
        "60000 tiny avps then a bad length",
        message(&body, None),
    ));
    let mut body = repeat(&avp(AVP_CLASS, None, &[]), 60_000);
    body.extend_from_slice(&avp(AVP_USER_NAME, None, b"\xff\xfe"));
    cases.push(case(
        "60000 tiny avps then invalid UTF-8",
        message(&body, None),
    ));
    // a grouped AVP full of tiny members, and one inside each of 32 levels
    let members = repeat(&avp(AVP_CLASS, None, &[]), 100_000);
    cases.push(case(
        "grouped with 100000 members",
        message(&avp(AVP_PROXY_INFO, None, &members), None),
    ));
    let members = repeat(&avp(AVP_CLASS, None, &[]), 60_000);
    cases.push(case(
        "31 levels, then 60000 members",
        message(&nested(AVP_PROXY_INFO, 31, &members), None),
    ));
    cases.push(case(
        "many grouped siblings, each 2 deep",
        message(
            &repeat(
                &nested(AVP_PROXY_INFO, 2, &avp(AVP_CLASS, None, &[])),
                40_000,
            ),
            None,
        ),
    ));

    // --- nesting ---
    for levels in [32, 33, 10_000, (mib - 20) / 8] {
        for code in [AVP_PROXY_INFO, AVP_VENDOR_SPECIFIC_APPLICATION_ID] {
            cases.push(case(
                format!("{levels} levels of {code}"),
                message(&nested(code, levels, &[]), None),
            ));
        }
    }
    cases.push(Case {
        limits: DecodeLimits {
            max_depth: 200,
            ..DecodeLimits::DEFAULT
        },
        ..case(
            "200 levels, limit 200",
            message(&nested(AVP_PROXY_INFO, 200, &[]), None),
        )
    });

    // --- big payloads: one copy at most ---
    let big = mib - 20 - 8;
    for (what, code) in [
        ("raw", 0x00ab_cdef),
        ("OctetString", AVP_CLASS),
        ("UTF8String", AVP_USER_NAME),
        ("DiameterIdentity", AVP_ORIGIN_HOST),
    ] {
        cases.push(case(
            format!("1 MiB {what}"),
            message(&avp(code, None, &vec![b'a'; big]), None),
        ));
    }
    let mut text = vec![b'a'; big];
    text[big - 1] = 0xff;
    cases.push(case(
        "1 MiB invalid UTF-8",
        message(&avp(AVP_USER_NAME, None, &text), None),
    ));
    let mut bits = avp(AVP_CLASS, None, &vec![0; big]);
    bits[4] |= 0x01;
    cases.push(case("1 MiB with a reserved flag", message(&bits, None)));
    let mut address = vec![0u8; big];
    address[1] = 99;
    cases.push(case(
        "1 MiB Address of family 99",
        message(&avp(AVP_HOST_IP_ADDRESS, None, &address), None),
    ));
    address[1] = 1;
    cases.push(case(
        "1 MiB Address of family 1",
        message(&avp(AVP_HOST_IP_ADDRESS, None, &address), None),
    ));
    cases.push(case(
        "1 MiB Unsigned32",
        message(&avp(AVP_ORIGIN_STATE_ID, None, &vec![0; big]), None),
    ));
    cases.push(case(
        "1 MiB raw inside 32 levels",
        message(
            &nested(
                AVP_PROXY_INFO,
                32,
                &avp(0x00ab_cdef, None, &vec![0; big - 32 * 8]),
            ),
            None,
        ),
    ));

    // --- random ---
    let mut rng = Rng(0x5eed_d1a3_e7e2_0001);
    for i in 0..300 {
        let n = rng.pick(&[0, 1, 19, 20, 21, 24, 64, 256, 4096, 65_536]);
        let mut bytes = rng.bytes(n);
        if i % 2 == 0 && bytes.len() >= 20 {
            // a valid header, so that the AVP decoder runs on random bytes
            bytes.truncate(bytes.len() / 4 * 4);
            let length = bytes.len() as u32;
            bytes[..4].copy_from_slice(&(1 << 24 | length).to_be_bytes());
            bytes[4] &= !0x20;
        }
        cases.push(case(format!("random bytes {i}"), bytes));
    }
    for i in 0..300 {
        let budget = rng.pick(&[8, 64, 512, 4096, 65_536]);
        let body = random_avps(&mut rng, budget, 0);
        if body.len() + 20 < mib {
            cases.push(case(format!("random avps {i}"), message(&body, None)));
        }
    }
    cases
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

/// Bytes of heap per input byte allowed (see the module comment).
const K: usize = 7;
/// Fixed bytes of heap allowed.
const C: usize = 1024;

#[test]
fn decoding_allocates_in_proportion_to_the_input() {
    // the layout the factor was measured with (see the module comment)
    assert!(
        std::mem::size_of::<Avp>() <= 8 * (K - 1),
        "Avp grew to {} bytes: revisit K",
        std::mem::size_of::<Avp>()
    );

    let verbose = std::env::var_os("ALLOC_BOUND_VERBOSE").is_some();
    let mut worst: (f64, String) = (0.0, String::new());
    let mut outcomes = [0usize; 2];
    for Case {
        name,
        input,
        limits,
    } in cases()
    {
        let (peak, result) = measure(|| Message::from_bytes_with(&input, &limits));
        let bound = K * input.len() + C;
        let outcome = match &result {
            Ok(m) => format!("ok, {} avps", m.avps.len()),
            Err(e) => format!("{e}"),
        };
        outcomes[usize::from(result.is_err())] += 1;
        if verbose {
            eprintln!(
                "{name}: {} bytes in, peak {peak} ({:.2}x): {outcome}",
                input.len(),
                peak as f64 / input.len().max(1) as f64
            );
        }
        assert!(
            peak <= bound,
            "{name}: {} bytes in, peak heap growth {peak} > {K} * len + {C} = {bound} ({outcome})",
            input.len(),
        );
        if input.len() >= 4096 {
            let factor = peak as f64 / input.len() as f64;
            if factor > worst.0 {
                worst = (factor, name.clone());
            }
        }
        drop(result);

        // a single AVP decoded from the same bytes (past the header)
        if let Some(body) = input.get(20..) {
            let (peak, result) = measure(|| Avp::from_bytes(body));
            assert!(
                peak <= K * body.len() + C,
                "{name}: Avp::from_bytes, peak {peak} for {} bytes",
                body.len()
            );
            drop(result);
        }
    }
    eprintln!(
        "worst factor {:.3} bytes per input byte ({}); {} ok, {} errors; size_of::<Avp>() = {}",
        worst.0,
        worst.1,
        outcomes[0],
        outcomes[1],
        std::mem::size_of::<Avp>()
    );
    assert!(outcomes[0] > 50 && outcomes[1] > 50, "{outcomes:?}");

    // some sanity on what the adversarial inputs do
    let (_, r) =
        measure(|| Message::from_bytes(&message(&nested(AVP_PROXY_INFO, 10_000, &[]), None)));
    assert!(matches!(
        r.as_ref().map_err(|e| e.avp_error()),
        Err(Some(AvpDecodeError::TooDeep { .. }))
    ));

    framer_memory();
}

/// The framer buffers what it is fed, never what a header announces.
fn framer_memory() {
    // check_frame allocates nothing, whatever it is given
    let header = {
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(&(1u32 << 24 | 0x00ff_ffff).to_be_bytes());
        h
    };
    let (peak, status) = measure(|| check_frame(&header, u32::MAX));
    assert_eq!(peak, 0, "{status:?}");

    // A header claiming the most the 24-bit field holds (16 MiB; "1 GiB"
    // cannot be said on the wire), with no size limit at all: the framer
    // waits for it, holding only the 20 bytes it got.
    let mut framer = Framer::with_max_message_size(u32::MAX);
    let (peak, ()) = measure(|| {
        framer.feed(&header);
        assert_eq!(framer.next_frame(), Ok(None));
    });
    assert!(peak <= 256, "a 20-byte header cost {peak} bytes");
    assert_eq!(framer.buffered(), 20);

    // fed 1 MiB of it in 4 KiB chunks: the buffer follows what was fed
    // (doubling growth: at most twice that)
    let chunk = vec![0u8; 4096];
    let (peak, ()) = measure(|| {
        for _ in 0..256 {
            framer.feed(&chunk);
            assert_eq!(framer.next_frame(), Ok(None));
        }
    });
    let fed = 256 * 4096;
    assert!(peak <= 2 * (fed + 20) + 1024, "fed {fed}, peak {peak}");
    drop(framer);

    // with the default limit the same header is an error and the buffer goes
    let mut framer = Framer::new();
    let (peak, ()) = measure(|| {
        framer.feed(&header);
        assert!(framer.next_frame().is_err());
        framer.feed(&chunk); // ignored after the error
    });
    assert!(peak <= 256, "peak {peak}");
    assert_eq!(framer.buffered(), 0);

    // a long stream of messages, drained as it arrives in odd-sized chunks:
    // the buffer stays around the size of a message and a chunk
    let one = message(&repeat(&avp(AVP_CLASS, None, b"abc"), 50), None);
    let stream = repeat(&one, 2000);
    let mut framer = Framer::new();
    let (peak, frames) = measure(|| {
        let mut frames = 0;
        for chunk in stream.chunks(1000) {
            framer.feed(chunk);
            while let Ok(Some(_)) = framer.next_frame() {
                frames += 1;
            }
        }
        frames
    });
    assert_eq!(frames, 2000);
    assert!(
        peak <= 4 * (one.len() + 1000) + 1024,
        "streaming {} bytes held {peak} at peak",
        stream.len()
    );
}
