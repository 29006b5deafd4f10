//! The generated command structs against python-diameter's facts: every
//! request/answer pair that `__for_each_command!` lists is checked for its
//! header bits, lossless conversions to and from generic messages and bytes,
//! its `AnyCommand` variant, and `to_answer`.
//!
//! The expected codes, names and P bits are python-diameter's, read from the
//! exported `tools/dictionary/defined_commands.tsv`.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime};

use diameter::message::commands::*;
use diameter::message::constants::*;
use diameter::message::dictionary::{self, AvpType};
use diameter::message::grouped::*;
use diameter::message::typed::{
    AvpField, AvpStruct, Command, CommandDecodeError, Request, WrongCommand,
};
use diameter::message::{Address, Avp, AvpValue, Message, MessageHeader};

/// One line of defined_commands.tsv.
#[derive(Debug)]
struct PythonCommand {
    code: u32,
    name: String,
    request_class: String,
    request_proxyable: bool,
    answer_class: String,
    answer_proxyable: bool,
}

fn python_commands() -> Vec<PythonCommand> {
    let tsv = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tools/dictionary/defined_commands.tsv"
    ));
    tsv.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 8, "{l}");
            PythonCommand {
                code: f[0].parse().unwrap(),
                name: f[2].to_owned(),
                request_class: f[4].to_owned(),
                request_proxyable: f[5] == "true",
                answer_class: f[6].to_owned(),
                answer_proxyable: f[7] == "true",
            }
        })
        .collect()
}

/// An AVP no dictionary knows: decoded as raw bytes.
fn unknown_avp(n: u8) -> Avp {
    Avp::with_value(
        16_000_000 + u32::from(n),
        4_000_000_000,
        AvpValue::Raw(vec![n; 5]),
    )
}

fn sample_value(avp_type: AvpType) -> AvpValue {
    match avp_type {
        AvpType::OctetString => AvpValue::OctetString(b"\x00octets\xff".to_vec()),
        AvpType::Integer32 => AvpValue::Integer32(-7),
        AvpType::Integer64 => AvpValue::Integer64(-(1 << 40)),
        AvpType::Unsigned32 => AvpValue::Unsigned32(7),
        AvpType::Unsigned64 => AvpValue::Unsigned64(1 << 40),
        AvpType::Float32 => AvpValue::Float32(1.5),
        AvpType::Float64 => AvpValue::Float64(-2.25),
        // a member no struct has a field for: python drops it for many classes
        AvpType::Grouped => AvpValue::Grouped(vec![unknown_avp(1)]),
        AvpType::Address => AvpValue::Address(Address::Ipv4(Ipv4Addr::new(192, 0, 2, 1))),
        AvpType::Time => {
            AvpValue::Time(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        }
        AvpType::Utf8String => AvpValue::Utf8String("text \u{e9}".into()),
        AvpType::DiameterIdentity => AvpValue::DiameterIdentity("host.example.net".into()),
        AvpType::DiameterUri => AvpValue::DiameterUri("aaa://host.example.net:3868".into()),
        AvpType::Enumerated => AvpValue::Enumerated(3),
        AvpType::IpFilterRule => AvpValue::IpFilterRule("permit in ip from any to any".into()),
        AvpType::QosFilterRule => AvpValue::QosFilterRule("meter in ip from any to any".into()),
    }
}

/// One AVP of every definition in the dictionary (so every field of every
/// struct gets a value, and every struct gets AVPs it does not know), and
/// two unknown AVPs.
fn sample_avps() -> Vec<Avp> {
    let mut avps: Vec<Avp> = dictionary::builtin_definitions()
        .map(|d| Avp::new(d.code, d.vendor_id, sample_value(d.avp_type)).unwrap())
        .collect();
    avps.insert(0, unknown_avp(2));
    avps.push(unknown_avp(3));
    avps
}

/// The AVPs as a sorted list of encodings, with the M flag of the top-level
/// AVPs cleared (some fields force it, as python's `is_mandatory` does).
fn multiset(avps: &[Avp]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = avps
        .iter()
        .map(|a| a.clone().with_mandatory(false).as_bytes().unwrap())
        .collect();
    out.sort();
    out
}

fn message_for<T: Command>(avps: Vec<Avp>) -> Message {
    let mut header = MessageHeader::new(T::CODE, 16_777_238);
    header.set_request(T::IS_REQUEST);
    header.set_proxyable(!T::PROXYABLE); // kept as received
    header.hop_by_hop_identifier = 0x1122_3344;
    header.end_to_end_identifier = 0x5566_7788;
    Message::new(header, avps)
}

/// new(): command code, R and P bits as python's class sets them.
fn check_new<T: Command>(class: &str, code: u32, request: bool, proxyable: bool) {
    let msg = T::new();
    let h = msg.header();
    assert_eq!(h.command_code, code, "{class}");
    assert_eq!(h.is_request(), request, "{class}");
    assert_eq!(
        h.is_proxyable(),
        proxyable,
        "{class}: P bit of python's {class}()"
    );
    assert!(!h.is_error() && !h.is_retransmit(), "{class}");
    assert_eq!(h.application_id, 0, "{class}: python never sets it");
    assert_eq!(
        (T::CODE, T::IS_REQUEST, T::PROXYABLE),
        (code, request, proxyable)
    );
}

/// Generic and byte round trips of a struct filled from `avps`: equal
/// structs, and not one AVP lost.
fn check_round_trip<T: Command + std::fmt::Debug + std::fmt::Display + PartialEq>(
    class: &str,
    avps: Vec<Avp>,
) -> T {
    let msg = message_for::<T>(avps.clone());
    let typed = T::from_message(msg.clone()).unwrap_or_else(|_| panic!("{class}"));
    assert_eq!(
        typed.header(),
        &msg.header,
        "{class}: header kept as received"
    );

    let generic = typed.to_message().unwrap();
    assert_eq!(
        multiset(&generic.avps),
        multiset(&avps),
        "{class}: AVPs lost or changed"
    );
    let again = T::from_message(generic.clone()).unwrap_or_else(|_| panic!("{class}"));
    assert_eq!(again, typed, "{class}: to_message -> from_message");

    // field_avps: exactly what to_avps gives for each (code, vendor)
    let mut keys: Vec<(u32, u32)> = generic
        .avps
        .iter()
        .map(|a| (a.code(), a.vendor_id()))
        .collect();
    keys.dedup();
    keys.push((AVP_SESSION_ID, 0));
    keys.push((1, 99));
    for (code, vendor) in keys {
        let want: Vec<Avp> = generic
            .avps
            .iter()
            .filter(|a| a.code() == code && a.vendor_id() == vendor)
            .cloned()
            .collect();
        assert_eq!(
            typed.field_avps(code, vendor).unwrap(),
            want,
            "{class}: field_avps({code}, {vendor})"
        );
    }

    // Display is the generic message's (python's str(msg))
    assert_eq!(typed.to_string(), generic.to_string(), "{class}: Display");

    let bytes = typed.as_bytes().unwrap();
    let decoded = T::from_bytes(&bytes).unwrap_or_else(|e| panic!("{class}: {e}"));
    let mut expected = T::from_avps(typed.to_avps().unwrap());
    *expected.header_mut() = MessageHeader {
        length: bytes.len() as u32,
        ..*typed.header()
    };
    assert_eq!(decoded, expected, "{class}: as_bytes -> from_bytes");
    typed
}

/// to_answer: the answer struct, python's header rules.
fn check_to_answer<R: Request>(class: &str, answer_proxyable: bool)
where
    R::Answer: std::fmt::Debug,
{
    let mut req = R::new();
    {
        let h = req.header_mut();
        h.application_id = 4;
        h.hop_by_hop_identifier = 0xdead_beef;
        h.end_to_end_identifier = 0x0bad_cafe;
        h.set_retransmit(true);
        h.set_error(true);
    }
    let answer = req.to_answer();
    let (h, a) = (req.header(), answer.header());
    assert_eq!(a.version, h.version);
    assert_eq!(a.command_code, h.command_code, "{class}");
    assert_eq!(a.application_id, 4, "{class}");
    assert_eq!(a.hop_by_hop_identifier, 0xdead_beef, "{class}");
    assert_eq!(a.end_to_end_identifier, 0x0bad_cafe, "{class}");
    assert!(
        !a.is_request() && !a.is_error() && !a.is_retransmit(),
        "{class}"
    );
    // python: the answer of a new request has the answer class's P bit
    assert_eq!(a.is_proxyable(), answer_proxyable, "{class}");
    // no AVPs copied; only python's body defaults of the answer class
    assert_eq!(
        answer.to_avps().unwrap(),
        R::Answer::new().to_avps().unwrap(),
        "{class}"
    );

    // the P bit of a received request is kept
    let flipped = !req.header().is_proxyable();
    req.header_mut().set_proxyable(flipped);
    assert_eq!(
        req.to_answer().header().is_proxyable(),
        req.header().is_proxyable()
    );
}

fn by_class() -> HashMap<String, PythonCommand> {
    let mut map = HashMap::new();
    for c in python_commands() {
        map.insert(c.request_class.clone(), c);
    }
    map
}

macro_rules! check_commands {
    ($($req:ident => $ans:ident),* $(,)?) => {
        /// The pairs `__for_each_command!` lists.
        fn listed() -> Vec<(&'static str, &'static str)> {
            vec![$((stringify!($req), stringify!($ans))),*]
        }

        #[test]
        fn every_python_command_is_listed() {
            let listed = listed();
            let python = python_commands();
            assert_eq!(python.len(), 35);
            assert_eq!(listed.len(), python.len());
            for c in &python {
                assert!(
                    listed.contains(&(c.request_class.as_str(), c.answer_class.as_str())),
                    "{c:?} has no structs"
                );
                assert_eq!(dictionary::command_name(c.code), c.name);
            }
        }

        #[test]
        fn new_has_python_code_and_flags() {
            let python = by_class();
            $({
                let c = &python[stringify!($req)];
                assert_eq!(c.answer_class, stringify!($ans));
                check_new::<$req>(stringify!($req), c.code, true, c.request_proxyable);
                check_new::<$ans>(stringify!($ans), c.code, false, c.answer_proxyable);
                // the inherent new() is the trait's
                assert_eq!($req::new(), <$req as Command>::new());
                assert_eq!($ans::new(), <$ans as Default>::default());
            })*
        }

        #[test]
        fn round_trips_lose_nothing() {
            let samples = sample_avps();
            $({
                let req: $req = check_round_trip(stringify!($req), samples.clone());
                let ans: $ans = check_round_trip(stringify!($ans), samples.clone());
                // the known AVPs went to fields, the rest (unknown ones
                // included) to additional_avps
                assert_eq!(req.origin_host.as_deref(), Some("host.example.net"));
                assert_eq!(ans.origin_host.as_deref(), Some("host.example.net"));
                for (class, extra) in [
                    (stringify!($req), &req.additional_avps),
                    (stringify!($ans), &ans.additional_avps),
                ] {
                    assert!(extra.len() < samples.len() - 2, "{class}: no field filled");
                    assert!(extra.contains(&unknown_avp(2)) && extra.contains(&unknown_avp(3)));
                }
                // new() values (python's body defaults) are not invented on decoding
                assert_eq!(
                    $req::from_message(message_for::<$req>(vec![])).unwrap().to_avps().unwrap(),
                    vec![]
                );
            })*
        }

        #[test]
        fn second_avp_of_single_field_is_kept() {
            let first = Avp::new(AVP_ORIGIN_HOST, 0, "first.example.net").unwrap();
            let second = Avp::new(AVP_ORIGIN_HOST, 0, "second.example.net").unwrap();
            let mut avps = sample_avps();
            let originals = avps.clone();
            avps.insert(0, first.clone());
            avps.push(second.clone());
            avps.extend(originals); // every AVP twice: single fields keep the first
            $({
                let req: $req = check_round_trip(stringify!($req), avps.clone());
                assert_eq!(req.origin_host.as_deref(), Some("first.example.net"));
                assert!(req.additional_avps.contains(&second), stringify!($req));
                let ans: $ans = check_round_trip(stringify!($ans), avps.clone());
                assert_eq!(ans.origin_host.as_deref(), Some("first.example.net"));
                assert!(ans.additional_avps.contains(&second), stringify!($ans));
            })*
        }

        #[test]
        fn any_command_picks_the_struct() {
            let python = by_class();
            $({
                let c = &python[stringify!($req)];
                let mut req = $req::new();
                req.origin_host = Some("client.example.net".into());
                let any = AnyCommand::from_bytes(&req.as_bytes().unwrap()).unwrap();
                assert!(matches!(any, AnyCommand::$req(_)), "{}: {any:?}", stringify!($req));
                assert_eq!(any.name(), c.name);
                assert_eq!(any.header().command_code, c.code);
                assert_eq!(any.to_message().unwrap().avps, req.to_message().unwrap().avps);
                assert_eq!(any.as_bytes().unwrap(), req.as_bytes().unwrap());
                let generic = req.to_message().unwrap();
                assert_eq!(AnyCommand::from(req.clone()), AnyCommand::from_message(generic));

                let ans = $ans::new();
                let any = ans.to_message().unwrap().into_command();
                assert!(matches!(any, AnyCommand::$ans(_)), "{}: {any:?}", stringify!($ans));
                assert_eq!(any.name(), c.name);
                assert_eq!(any.as_bytes().unwrap(), ans.as_bytes().unwrap());

                // a request struct does not take an answer, nor the reverse
                assert!($req::from_message(ans.to_message().unwrap()).is_err());
                assert!($ans::from_message(req.to_message().unwrap()).is_err());

                // python's class names, and what type_factory picks
                assert_eq!(<$req as Command>::NAME, c.request_class);
                assert_eq!(<$ans as Command>::NAME, c.answer_class);
                assert_eq!(type_factory(&req.header), c.request_class);
                assert_eq!(type_factory(&ans.header), c.answer_class);

                // the answer's bytes are no request: the error names both and
                // gives the decoded message back
                let wire = ans.as_bytes().unwrap();
                let err = match $req::from_bytes(&wire) {
                    Err(CommandDecodeError::WrongCommand(e)) => e,
                    other => panic!("{}: {other:?}", stringify!($req)),
                };
                assert_eq!(err.expected, c.request_class);
                assert_eq!(err.received(), c.answer_class);
                assert_eq!(
                    err.to_string(),
                    format!(
                        "expected {} (command {}, R bit set), received {} (command {}, R bit clear)",
                        c.request_class, c.code, c.answer_class, c.code
                    )
                );
                assert_eq!(err.into_message().as_bytes().unwrap(), wire);
                let generic = ans.to_message().unwrap();
                assert!(matches!($ans::try_from(generic.clone()), Ok(a) if a == ans));
                let wrong: WrongCommand = $req::try_from(generic.clone()).unwrap_err();
                assert_eq!(wrong.message, generic);
            })*
        }

        #[test]
        fn to_answer_gives_the_answer_struct() {
            let python = by_class();
            $({
                let c = &python[stringify!($req)];
                check_to_answer::<$req>(stringify!($req), c.answer_proxyable);
                let answer: $ans = $req::new().to_answer();
                assert_eq!(answer.header.command_code, c.code);
            })*
        }
    };
}

diameter::__for_each_command!(check_commands);

#[test]
fn any_command_keeps_other_commands_generic() {
    // known to python but without a struct (an UndefinedMessage there), and unknown
    for (code, name) in [
        (CMD_3GPP_PROVIDE_LOCATION, "3GPP-Provide-Location"),
        (9_999_999, "Unknown"),
    ] {
        let mut header = MessageHeader::new(code, 0);
        header.set_request(true);
        let msg = Message::new(
            header,
            vec![Avp::new(AVP_ORIGIN_HOST, 0, "a.example.net").unwrap()],
        );
        let bytes = msg.as_bytes().unwrap();
        let any = AnyCommand::from_bytes(&bytes).unwrap();
        let AnyCommand::Other(ref other) = any else {
            panic!("{code}: {any:?}");
        };
        assert_eq!(other.avps, msg.avps);
        assert_eq!(any.name(), name);
        assert_eq!(any.as_bytes().unwrap(), bytes);
        assert_eq!(Message::from_bytes(&bytes).unwrap().into_command(), any);
    }
}

#[test]
fn any_command_stays_small() {
    // the structs are boxed; unboxed the enum would be as large as the
    // largest (several kilobytes); the generic Message is held inline
    assert!(std::mem::size_of::<AnyCommand>() <= 96);
    assert!(std::mem::size_of::<CreditControlRequest>() > 1024);
}

#[test]
fn unknown_members_survive_where_python_drops_them() {
    // python's SubscriptionId, UsedServiceUnit and MultipleServicesCreditControl
    // members: SubscriptionId and UsedServiceUnit have no additional_avps in python
    let extra = unknown_avp(9);
    let sub = Avp::new(
        AVP_SUBSCRIPTION_ID,
        0,
        vec![
            Avp::new(
                AVP_SUBSCRIPTION_ID_TYPE,
                0,
                E_SUBSCRIPTION_ID_TYPE_END_USER_E164,
            )
            .unwrap(),
            extra.clone(),
            Avp::new(AVP_SUBSCRIPTION_ID_DATA, 0, "485079164547").unwrap(),
        ],
    )
    .unwrap();
    let used = Avp::new(
        AVP_USED_SERVICE_UNIT,
        0,
        vec![extra.clone(), Avp::new(AVP_CC_TIME, 0, 30u32).unwrap()],
    )
    .unwrap();
    let mscc = Avp::new(AVP_MULTIPLE_SERVICES_CREDIT_CONTROL, 0, vec![used.clone()]).unwrap();
    let mut header = MessageHeader::new(CMD_CREDIT_CONTROL, 4);
    header.set_request(true);
    let bytes = Message::new(header, vec![sub, mscc]).as_bytes().unwrap();

    let ccr = CreditControlRequest::from_bytes(&bytes).unwrap();
    let s = &ccr.subscription_id[0];
    assert_eq!(
        s.subscription_id_type,
        Some(E_SUBSCRIPTION_ID_TYPE_END_USER_E164)
    );
    assert_eq!(s.subscription_id_data.as_deref(), Some("485079164547"));
    assert_eq!(s.additional_avps, vec![extra.clone()]);
    let u = &ccr.multiple_services_credit_control[0].used_service_unit[0];
    assert_eq!(u.cc_time, Some(30));
    assert_eq!(u.additional_avps, vec![extra.clone()]);

    // re-encoded: known members first, in python's order, then the others
    let again = CreditControlRequest::from_bytes(&ccr.as_bytes().unwrap()).unwrap();
    assert_eq!(again.subscription_id, ccr.subscription_id);
    assert_eq!(
        again.multiple_services_credit_control,
        ccr.multiple_services_credit_control
    );
    assert_eq!(UsedServiceUnit::from_avp(used).unwrap(), *u);
}

#[test]
fn add_subscription_id_mirrors_python() {
    let mut ccr = CreditControlRequest::new();
    ccr.add_subscription_id(E_SUBSCRIPTION_ID_TYPE_END_USER_E164, "485079164547");
    ccr.add_subscription_id(
        E_SUBSCRIPTION_ID_TYPE_END_USER_IMSI,
        String::from("228011234567890"),
    );
    let mut aar = AaRequest::new();
    aar.add_subscription_id(E_SUBSCRIPTION_ID_TYPE_END_USER_E164, "485079164547");
    assert_eq!(aar.subscription_id[..], ccr.subscription_id[..1]);
    assert_eq!(
        ccr.subscription_id[1],
        SubscriptionId {
            subscription_id_type: Some(E_SUBSCRIPTION_ID_TYPE_END_USER_IMSI),
            subscription_id_data: Some("228011234567890".into()),
            additional_avps: vec![],
        }
    );
}

#[test]
fn add_multiple_services_credit_control_mirrors_python() {
    // python: ccr.add_multiple_services_credit_control(
    //     requested_service_unit=RequestedServiceUnit(cc_total_octets=1000),
    //     used_service_unit=UsedServiceUnit(cc_time=10), service_identifier=1,
    //     rating_group=8000, avp=[...])
    let extra = Avp::new(AVP_TGPP_3GPP_REPORTING_REASON, VENDOR_TGPP, 2).unwrap();
    let options = MsccOptions {
        requested_service_unit: Some(RequestedServiceUnit {
            cc_total_octets: Some(1000),
            ..Default::default()
        }),
        used_service_unit: vec![UsedServiceUnit {
            cc_time: Some(10),
            ..Default::default()
        }],
        service_identifier: vec![1],
        rating_group: Some(8000),
        avp: vec![extra.clone()],
        ..Default::default()
    };
    let expected = MultipleServicesCreditControl {
        requested_service_unit: options.requested_service_unit.clone(),
        used_service_unit: options.used_service_unit.clone(),
        service_identifier: vec![1],
        rating_group: Some(8000),
        additional_avps: vec![extra.clone()],
        ..Default::default()
    };

    let mut ccr = CreditControlRequest::new();
    ccr.add_multiple_services_credit_control_with(options.clone());
    ccr.add_multiple_services_credit_control(expected.clone());
    assert_eq!(
        ccr.multiple_services_credit_control,
        [expected.clone(), expected.clone()]
    );

    let mut cca = CreditControlAnswer::new();
    cca.add_multiple_services_credit_control_with(MsccOptions {
        granted_service_unit: Some(GrantedServiceUnit {
            cc_time: Some(3600),
            ..Default::default()
        }),
        validity_time: Some(60),
        result_code: Some(E_RESULT_CODE_DIAMETER_SUCCESS),
        final_unit_indication: Some(FinalUnitIndication {
            final_unit_action: Some(E_FINAL_UNIT_ACTION_TERMINATE),
            ..Default::default()
        }),
        ..Default::default()
    });
    let m = &cca.multiple_services_credit_control[0];
    assert_eq!(m.granted_service_unit.as_ref().unwrap().cc_time, Some(3600));
    assert_eq!((m.validity_time, m.result_code), (Some(60), Some(2001)));

    // the extra AVPs come after the known members on the wire
    let avp = expected
        .to_avp(AVP_MULTIPLE_SERVICES_CREDIT_CONTROL, 0)
        .unwrap();
    assert_eq!(avp.as_grouped().unwrap().last(), Some(&extra));
}

#[test]
fn corrected_definitions() {
    // fields tools/dictionary/fixes.tsv corrects, as they go on the wire
    let mut snr = SpendingStatusNotificationRequest::new();
    snr.sn_request_type = Some(0);
    let avps = snr.to_message().unwrap().avps;
    assert_eq!(
        (avps[0].code(), avps[0].vendor_id()),
        (AVP_TGPP_SN_REQUEST_TYPE, VENDOR_TGPP)
    );

    let mut cca = CreditControlAnswer::new();
    cca.credit_control_failure_handling = Some(1);
    cca.direct_debiting_failure_handling = Some(1);
    cca.oc_olr = Some(OcOlr::default());
    let codes: Vec<(u32, u32)> = cca
        .to_message()
        .unwrap()
        .avps
        .iter()
        .map(|a| (a.code(), a.vendor_id()))
        .collect();
    assert_eq!(
        codes,
        [
            (AVP_AUTH_APPLICATION_ID, 0),
            (AVP_CREDIT_CONTROL_FAILURE_HANDLING, 0), // once, not twice as in python
            (AVP_DIRECT_DEBITING_FAILURE_HANDLING, 0),
            (AVP_OC_OLR, 0),
        ]
    );

    let mut uda = UserDataAnswer::new();
    uda.user_data = Some(b"<Sh-Data/>".to_vec());
    let avps = uda.to_message().unwrap().avps;
    assert_eq!(avps[0].code(), AVP_TGPP_SH_USER_DATA);

    let mut rar = ReAuthRequest::new();
    rar.service_type = Some(E_SERVICE_TYPE_LOGIN);
    rar.state_class = vec![b"a".to_vec(), b"b".to_vec()];
    assert_eq!(rar.to_message().unwrap().avps.len(), 4); // Auth-Application-Id too

    // python's DefaultEpsBearerQos() carries an empty Allocation-Retention-Priority
    assert_eq!(DefaultEpsBearerQos::default().to_avps().unwrap(), vec![]);
}

fn from_hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Bytes that are no message at all: a decode error, not a wrong command.
#[test]
fn from_bytes_flattens_decode_errors() {
    let mut wire = CreditControlRequest::new().as_bytes().unwrap();
    wire.pop();
    let err = CreditControlRequest::from_bytes(&wire).unwrap_err();
    assert!(matches!(err, CommandDecodeError::Decode(_)), "{err:?}");
    assert_eq!(err.into_message(), None);
}

/// python: r = CreditControlRequest(); r.session_id = "a;1"; r.origin_host = b"h";
/// r.append_avp(Avp.new(AVP_USER_NAME, value="alice"));
/// r.append_avp(Avp.new(AVP_SESSION_ID, value="b;2")); r.as_bytes()
const PY_CCR_APPENDED: &str = "01000054c0000110000000000000000000000000000001074000000b613b3100\
    000001080000000968000000000001024000000c00000004000000014000000d616c696365000000\
    000001074000000b623b3200";

#[test]
fn append_avp_adds_to_additional_avps() {
    let mut ccr = CreditControlRequest::new();
    ccr.session_id = Some("a;1".into());
    ccr.origin_host = Some("h".into());
    ccr.append_avp(Avp::new(AVP_USER_NAME, 0, "alice").unwrap());
    ccr.append_avp(Avp::new(AVP_SESSION_ID, 0, "b;2").unwrap());
    assert_eq!(ccr.additional_avps.len(), 2);
    assert_eq!(
        ccr.user_name, None,
        "python does not move it into the field"
    );
    let wire = ccr.as_bytes().unwrap();
    assert_eq!(wire, from_hex(PY_CCR_APPENDED));

    let ids: Vec<String> = ccr
        .field_avps(AVP_SESSION_ID, 0)
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["a;1", "b;2"]);

    let back = CreditControlRequest::from_bytes(&wire).unwrap();
    assert_eq!(back.user_name.as_deref(), Some("alice"));
    // python: str(r) after as_bytes(); the decoded header has the length
    assert_eq!(
        back.to_string(),
        "Credit-Control <Version: 0x01, Length: 84, Flags: 0xc0 (request, proxyable), \
         Hop-by-Hop Identifier: 0x0, End-to-End Identifier: 0x0>"
    );
}

/// python: m = SipUserAuthorization(); m.header.is_request = True;
/// m.header.hop_by_hop_identifier = 0x1234; m.header.end_to_end_identifier = 0x5678;
/// m.append_avp(Avp.new(AVP_SESSION_ID, value="a;1")); m.as_bytes()
const PY_SIP_USER_AUTHORIZATION: &str =
    "010000208000011b000000000000123400005678000001074000000b613b3100";
/// python: c = CreditControl(); c.header.hop_by_hop_identifier = 7;
/// c.append_avp(Avp.new(AVP_RESULT_CODE, value=2001)); c.as_bytes()
const PY_CREDIT_CONTROL_PLAIN: &str =
    "01000020000001100000000000000007000000000000010c4000000c000007d1";

#[test]
fn command_classes_build_python_messages() {
    let mut m = SipUserAuthorization::new();
    assert_eq!(m.header.command_flags, 0, "python's SipUserAuthorization()");
    m.header.set_request(true);
    m.header.hop_by_hop_identifier = 0x1234;
    m.header.end_to_end_identifier = 0x5678;
    m.append_avp(Avp::new(AVP_SESSION_ID, 0, "a;1").unwrap());
    let wire = m.as_bytes().unwrap();
    assert_eq!(wire, from_hex(PY_SIP_USER_AUTHORIZATION));
    assert_eq!(SipUserAuthorization::new_request().header, {
        let mut h = MessageHeader::new(283, 0);
        h.set_request(true);
        h
    });
    let back = Message::from_bytes(&wire).unwrap();
    assert_eq!(back.name(), SipUserAuthorization::COMMAND_NAME);
    assert_eq!(type_factory(&back.header), SipUserAuthorization::NAME);
    assert_eq!(SipUserAuthorization::type_factory(&back.header), None);
    assert!(matches!(back.into_command(), AnyCommand::Other(_)));

    let mut c = CreditControl::new();
    c.header.hop_by_hop_identifier = 7;
    c.append_avp(Avp::new(AVP_RESULT_CODE, 0, 2001u32).unwrap());
    assert_eq!(c.as_bytes().unwrap(), from_hex(PY_CREDIT_CONTROL_PLAIN));
    assert_eq!(CreditControl::CODE, CMD_CREDIT_CONTROL);
    assert_eq!(CreditControl::NAME, "CreditControl");
    assert_eq!(CreditControl::COMMAND_NAME, "Credit-Control");
    assert_eq!(
        CreditControl::type_factory(&c.header),
        Some(CreditControlAnswer::NAME)
    );
    // python: Message.from_bytes(data) gives a CreditControlAnswer here
    assert_eq!(type_factory(&c.header), "CreditControlAnswer");
    assert_eq!(MIp6::COMMAND_NAME, "MIP6");
    assert_eq!(ProSeReset::COMMAND_NAME, "Reset");
    assert_eq!(MOData::CODE, 8_388_733);
}

/// all_commands() is python's all_commands without code 0, as exported in
/// tools/dictionary/commands.tsv (code, name, class).
#[test]
fn all_commands_match_python() {
    let tsv = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tools/dictionary/commands.tsv"
    ));
    let python: Vec<(u32, &str, &str)> = tsv
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 3, "{l}");
            (f[0].parse().unwrap(), f[1], f[2])
        })
        .collect();
    let ours: Vec<(u32, &str, &str)> = all_commands()
        .iter()
        .map(|c| (c.code, c.name, c.class_name))
        .collect();
    assert_eq!(ours, python);
    assert_eq!(all_commands().len(), 170);

    let defined = python_commands();
    assert_eq!(
        all_commands().iter().filter(|c| c.is_defined()).count(),
        defined.len()
    );
    for d in &defined {
        let class = command_class(d.code).unwrap();
        assert_eq!(class.request_class, Some(d.request_class.as_str()));
        assert_eq!(class.answer_class, Some(d.answer_class.as_str()));
    }
    for class in all_commands() {
        assert_eq!(command_class(class.code), Some(class));
        assert_eq!(dictionary::command_name(class.code), class.name);
        let msg = class.new_message();
        assert_eq!(
            (msg.header.command_code, msg.header.command_flags),
            (class.code, 0)
        );
        for request in [true, false] {
            let mut header = MessageHeader::new(class.code, 0);
            header.set_request(request);
            let want = class.type_factory(&header).unwrap_or(class.class_name);
            assert_eq!(type_factory(&header), want);
        }
    }
    assert_eq!(command_class(0), None);
    assert_eq!(
        type_factory(&MessageHeader::new(999, 0)),
        "UndefinedMessage"
    );
}

#[test]
fn generic_spec_keeps_every_member() {
    let members = vec![
        Avp::new(AVP_TCP_OPTION_TYPE, 0, 2i32).unwrap(),
        Avp::new(AVP_TCP_OPTION_VALUE, 0, vec![5u8, 0xb4]).unwrap(),
    ];
    let spec = GenericSpec::from_avps(members.clone());
    assert_eq!(spec.additional_avps, members);
    assert_eq!(spec.to_avps().unwrap(), members);
    assert_eq!(
        spec.field_avps(AVP_TCP_OPTION_VALUE, 0).unwrap(),
        members[1..]
    );
}
