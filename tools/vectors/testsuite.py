#!/usr/bin/env python3
"""Collect the byte vectors of python-diameter's own test suite.

Run from the repository root, with the python-diameter 0.9.0 source
distribution unpacked somewhere (it holds tests/, the wheel does not):

    TZ=UTC python3 tools/vectors/testsuite.py [SDIST_DIR]

Without SDIST_DIR the source distribution is fetched from PyPI with
`pip download --no-deps --no-binary :all: python-diameter==0.9.0` into a
temporary folder and unpacked there. Writes
tests/data/python-testsuite/{cer,cea,ulr}.hex and avps.tsv. Every row is
checked against the installed python-diameter, and every row marked
"literal" is checked to occur in the test source.
"""
from __future__ import annotations

import ast
import datetime
import os
import sys

sys.dont_write_bytecode = True  # keep tools/vectors free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vecfmt  # noqa: E402

vecfmt.force_utc()

from diameter.message import constants as C  # noqa: E402
from diameter.message.avp import (Avp, AvpAddress, AvpDecodeError,  # noqa: E402
                                  AvpEncodeError, AvpFloat32, AvpFloat64,
                                  AvpGrouped, AvpInteger32, AvpInteger64,
                                  AvpOctetString, AvpTime, AvpUnsigned32,
                                  AvpUnsigned64, AvpUtf8String)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "data", "python-testsuite")
if len(sys.argv) > 1:
    SDIST = sys.argv[1]
else:
    import tempfile
    # removed when the script ends
    _SDIST_TMP = tempfile.TemporaryDirectory(prefix="python-diameter-sdist-")
    SDIST = vecfmt.fetch_sdist(_SDIST_TMP.name)

# the zone in which the Time literals of test_create_time_type hold
AUTHOR_TZ = "Europe/Berlin"


def set_tz(name: str) -> None:
    os.environ["TZ"] = name
    import time
    time.tzset()


def read_test(name: str) -> str:
    with open(os.path.join(SDIST, "tests", name), encoding="utf-8") as f:
        return f.read()


def message_vectors() -> dict[str, str]:
    tree = ast.parse(read_test("test_message.py"))
    found = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)):
            found[node.targets[0].id] = node.value.value
    return {k: found[k] for k in ("cer", "cea", "ulr")}


# ---------------------------------------------------------------------------
# AVP rows. Each: dict with the output columns plus
#   lit:   a string that must occur verbatim in tests/test_avp.py
#   run:   a callable doing python-diameter's side of the check; it returns
#          the hex the row carries (or None) so it can be compared
#   tz:    time zone to run the check in (default UTC)
# ---------------------------------------------------------------------------

def naive(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


def payload_of(cls, code, value, vendor_id=0):
    a = cls(code, vendor_id=vendor_id)
    a.value = value
    return a.payload


def decoded_value(cls, payload, like=""):
    a = cls(payload=payload)
    if like.startswith("datetime:"):
        # the test compares naive local datetimes
        return "datetime:" + str(a.value)
    return vecfmt.fmt_value(a)


def raises(exc, fn):
    try:
        fn()
    except exc:
        return True
    return False


def build_rows():
    rows = []

    def row(**kw):
        rows.append(kw)

    # --- test_decode_from_bytes / test_error_from_bytes ---------------------
    full = "000001cd40000016333232353140336770702e6f72670000"
    cut = "000001cd40000016333232353140336770702e60"

    def check_full():
        a = Avp.from_bytes(bytes.fromhex(full))
        assert (a.code, a.vendor_id, a.flags, a.length) == (461, 0, 0x40, 22)
        assert type(a) is AvpUtf8String and a.value == "32251@3gpp.org"
        assert a.as_bytes().hex() == full
        return full
    row(id="service-context-id", test="test_decode_from_bytes", check="avp-decode",
        type="AvpUtf8String", code=461, vendor_id=0, flags="0x40",
        hex="hex:" + full, value="str:32251@3gpp.org", hex_source="literal",
        note="Service-Context-Id; AVP length 22, 2 padding bytes; M set, V and P clear",
        lit=full, run=check_full)
    row(id="service-context-id-truncated", test="test_error_from_bytes",
        check="avp-decode-error", type="-", code=461, vendor_id=0, flags="0x40",
        hex="hex:" + cut, value="-", hex_source="literal",
        note="the same AVP cut to 20 bytes while its header says 22: decoding must fail",
        lit=cut,
        run=lambda: (raises(AvpDecodeError, lambda: Avp.from_bytes(bytes.fromhex(cut)))
                     and None))

    # --- Avp.new (computed bytes: the tests assert fields, not bytes) -------
    def new_bytes(*args, **kw):
        return lambda: Avp.new(*args, **kw).as_bytes().hex()
    oh = b"dra4.gy.mvno.net"
    for rid, test, flags, kw, note in [
            ("origin-host-new", "test_create_from_new", "0x40", {},
             "Avp.new sets M from the dictionary"),
            ("origin-host-new-m-cleared", "test_create_from_new_mandatory_override",
             "0x00", {"is_mandatory": False}, "is_mandatory=False clears M"),
            ("origin-host-new-p-cleared", "test_create_from_new_private_override",
             "0x40", {"is_private": False}, "is_private=False: P was never set")]:
        h = Avp.new(C.AVP_ORIGIN_HOST, value=oh, **kw).as_bytes().hex()
        row(id=rid, test=test, check="avp-encode", type="AvpOctetString", code=264,
            vendor_id=0, flags=flags, hex="hex:" + h, value="hex:" + oh.hex(),
            hex_source="computed", note=note, lit='b"dra4.gy.mvno.net"',
            run=new_bytes(C.AVP_ORIGIN_HOST, value=oh, **kw))
    h = Avp.new(C.AVP_CISCO_USER_AGENT, C.VENDOR_CISCO).as_bytes().hex()
    row(id="cisco-user-agent-no-value", test="test_create_from_new_vendor_override",
        check="avp-encode", type="AvpOctetString", code=C.AVP_CISCO_USER_AGENT,
        vendor_id=C.VENDOR_CISCO, flags="0xc0", hex="hex:" + h, value="hex:",
        hex_source="computed", note="vendor AVP created without a value: empty payload",
        lit="AVP_CISCO_USER_AGENT, constants.VENDOR_CISCO",
        run=new_bytes(C.AVP_CISCO_USER_AGENT, C.VENDOR_CISCO))
    row(id="origin-host-wrong-vendor", test="test_error_avp_vendor_mismatch",
        check="new-error", type="-", code=264, vendor_id=C.VENDOR_CISCO, flags="-",
        hex="-", value="-", hex_source="-",
        note="Avp.new must refuse a code the dictionary does not have for this vendor (ValueError)",
        lit="AVP_ORIGIN_HOST, constants.VENDOR_CISCO",
        run=lambda: raises(ValueError, lambda: Avp.new(C.AVP_ORIGIN_HOST, C.VENDOR_CISCO)) and None)

    # --- payload vectors ----------------------------------------------------
    def enc(rid, test, cls, code, value_in, hexp, value, lit, note="", vendor_id=0,
            check="payload-encode", source="literal", tz=None):
        def run():
            got = payload_of(cls, code, value_in, vendor_id).hex()
            assert decoded_value(cls, bytes.fromhex(got), value) == value, (rid, value)
            return got
        row(id=rid, test=test, check=check, type=cls.__name__, code=code,
            vendor_id=vendor_id, flags="-", hex="hex:" + hexp, value=value,
            hex_source=source, note=note or "-", lit=lit, run=run, tz=tz)

    def dec(rid, test, cls, code, hexp, value, lit, note="", vendor_id=0, tz=None):
        def run():
            assert decoded_value(cls, bytes.fromhex(hexp), value) == value, (rid, value)
            return hexp
        row(id=rid, test=test, check="payload-decode", type=cls.__name__, code=code,
            vendor_id=vendor_id, flags="-", hex="hex:" + hexp, value=value,
            hex_source="literal", note=note or "-", lit=lit, run=run, tz=tz)

    def dec_err(rid, test, cls, code, hexp, lit, note, source="literal"):
        def run():
            assert raises(AvpDecodeError, lambda: cls(payload=bytes.fromhex(hexp)).value)
            return hexp
        row(id=rid, test=test, check="payload-decode-error", type=cls.__name__,
            code=code, vendor_id=0, flags="-", hex="hex:" + hexp, value="-",
            hex_source=source, note=note, lit=lit, run=run)

    def enc_err(rid, test, cls, code, value_in, value, lit, note):
        def run():
            assert raises(AvpEncodeError, lambda: payload_of(cls, code, value_in))
        row(id=rid, test=test, check="encode-error", type=cls.__name__, code=code,
            vendor_id=0, flags="-", hex="-", value=value, hex_source="-", note=note,
            lit=lit, run=run)

    t = "test_create_address_type"
    enc("address-v4", t, AvpAddress, C.AVP_TGPP_SGSN_ADDRESS, "193.16.219.96",
        "0001c110db60", "addr:1:193.16.219.96", '"0001c110db60"',
        "code is AVP_TGPP_SGSN_ADDRESS, used without its vendor in the test")
    enc("address-v6", t, AvpAddress, C.AVP_TGPP_PDP_ADDRESS,
        "8b71:8c8a:1e29:716a:6184:7966:fd43:4200",
        "00028b718c8a1e29716a61847966fd434200",
        "addr:2:8b71:8c8a:1e29:716a:6184:7966:fd43:4200",
        '"00028b718c8a1e29716a61847966fd434200"')
    enc("address-e164", t, AvpAddress, C.AVP_TGPP_SMSC_ADDRESS, "48507909008",
        "00083438353037393039303038", "addr:8:48507909008",
        '"00083438353037393039303038"',
        "a string that is neither IPv4 nor IPv6 (no . or :) is taken as E.164")
    dec("address-family-10", t, AvpAddress, C.AVP_TGPP_SMSC_ADDRESS,
        "000a61646472657373", "addr:10:61646472657373", '"000a61646472657373"',
        "payload given as b\"\\x00\\naddress\"; unknown families read back as hex text")
    t = "test_error_address_type"
    enc_err("address-bad-v4", t, AvpAddress, C.AVP_TGPP_SGSN_ADDRESS,
            "193.16.219.960", "str:193.16.219.960", '"193.16.219.960"',
            "contains . so must be IPv4 or IPv6, and is neither")
    enc_err("address-bad-v6", t, AvpAddress, C.AVP_TGPP_SGSN_ADDRESS,
            "8b71:8c8a:1e29:716a:6184:7966:fd43", "str:8b71:8c8a:1e29:716a:6184:7966:fd43",
            '"8b71:8c8a:1e29:716a:6184:7966:fd43"', "seven groups: not a valid IPv6 address")

    t = "test_create_float_type"
    enc("float32", t, AvpFloat32, C.AVP_BANDWIDTH, 128.65, "4300a666",
        "f32bits:0x4300a666", 'b"C\\x00\\xa6f"',
        "input 128.65; the test compares the read-back value with approx()")
    enc("float64", t, AvpFloat64, C.AVP_ERICSSON_COST, 128.65, "406014cccccccccd",
        "f64bits:0x406014cccccccccd", 'b"@`\\x14\\xcc\\xcc\\xcc\\xcc\\xcd"',
        "input 128.65; Ericsson Cost AVP", vendor_id=C.VENDOR_ERICSSON)
    dec_err("float32-five-bytes", "test_error_float_type", AvpFloat32, C.AVP_BANDWIDTH,
            "4300a66600", 'b"C\\x00\\xa6f\\x00"', "5 bytes are not a 32-bit float")

    t = "test_create_signed_int_type"
    enc("integer32", t, AvpInteger32, C.AVP_ACCT_INPUT_PACKETS, 294967, "00048037",
        "i32:294967", 'b"\\x00\\x04\\x807"')
    enc("integer32-minus-one", t, AvpInteger32, C.AVP_TGPP_CAUSE_CODE, -1, "ffffffff",
        "i32:-1", 'b"\\xff\\xff\\xff\\xff"', "code is AVP_TGPP_CAUSE_CODE, used without its vendor")
    dec("integer32-minus-one-decode", t, AvpInteger32, C.AVP_TGPP_CAUSE_CODE,
        "ffffffff", "i32:-1", 'payload=b"\\xff\\xff\\xff\\xff"')
    enc("integer64", t, AvpInteger64, C.AVP_VALUE_DIGITS, 9223372036854775800,
        "7ffffffffffffff8", "i64:9223372036854775800", 'b"\\x7f\\xff\\xff\\xff\\xff\\xff\\xff\\xf8"')

    t = "test_create_unsigned_int_type"
    enc("unsigned32", t, AvpUnsigned32, C.AVP_NAS_PORT, 294967, "00048037",
        "u32:294967", 'b"\\x00\\x04\\x807"')
    enc("unsigned64", t, AvpUnsigned64, C.AVP_FRAMED_INTERFACE_ID,
        17347878958773879024, "f0c00c000030c0f0", "u64:17347878958773879024",
        'b"\\xf0\\xc0\\x0c\\x00\\x000\\xc0\\xf0"')

    t = "test_error_int_type"
    enc_err("integer32-too-big", t, AvpInteger32, C.AVP_ACCT_INPUT_PACKETS,
            17347878958773879024, "int:17347878958773879024", "a.value = 17347878958773879024",
            "does not fit in 32 signed bits")
    enc_err("unsigned32-negative", t, AvpUnsigned32, C.AVP_NAS_PORT, -1, "int:-1",
            "a.value = -1", "unsigned AVPs refuse negative values")
    enc_err("unsigned64-negative", t, AvpUnsigned64, C.AVP_FRAMED_INTERFACE_ID,
            -17347878958773879024, "int:-17347878958773879024",
            "a.value = -17347878958773879024", "unsigned AVPs refuse negative values")
    dec("unsigned32-all-ones", t, AvpUnsigned32, C.AVP_NAS_PORT, "ffffffff",
        "u32:4294967295", 'AvpUnsigned32(constants.AVP_NAS_PORT, payload=b"\\xff\\xff\\xff\\xff")',
        "the test builds this but asserts nothing about it; it decodes fine "
        "(the error the test then expects comes from the empty Unsigned64 payload)")
    dec_err("unsigned64-empty", t, AvpUnsigned64, C.AVP_FRAMED_INTERFACE_ID, "",
            "pytest.raises(avp.AvpDecodeError)",
            "value of the Unsigned64 whose negative assignment failed: its payload stayed empty",
            source="computed")

    t = "test_create_utf8_type"
    enc("utf8-digits", t, AvpUtf8String, C.AVP_SUBSCRIPTION_ID_DATA, "485079164547",
        "343835303739313634353437", "str:485079164547", 'b"485079164547"')
    enc("utf8-cjk", t, AvpUtf8String, C.AVP_USER_NAME, "汉语", "e6b189e8afad",
        "str:汉语", 'b"\\xe6\\xb1\\x89\\xe8\\xaf\\xad"')
    dec_err("utf8-invalid", "test_error_utf8_type", AvpUtf8String,
            C.AVP_SUBSCRIPTION_ID_DATA, "fffe496ced8b", 'b"\\xff\\xfeIl\\xed\\x8b"',
            "UTF-16 with BOM, not valid UTF-8")
    enc("octetstring", "test_create_octetstring_type", AvpOctetString,
        C.AVP_USER_PASSWORD, b"secret", "736563726574", "hex:736563726574",
        'b"secret"')

    # Time: the test's datetimes are naive local time. Its literals hold in
    # the author's zone (Europe/Berlin), not in UTC; see notes.
    t = "test_create_time_type"
    row(id="time-2036-overflow-date", test=t, check="roundtrip", type="AvpTime",
        code=0, vendor_id=0, flags="-", hex="-", value="datetime:2036-02-07 06:28:16",
        hex_source="-",
        note="only the round trip is asserted; python-diameter 0.9.0 encodes it as "
             "00000000 in Europe/Berlin and 00000e10 in UTC (RFC 5905: 00000000 for 06:28:16 UTC)",
        lit="datetime.datetime(2036, 2, 7, 6, 28, 16)",
        run=lambda: _time_roundtrip("2036-02-07 06:28:16", True))
    enc("time-2048", t, AvpTime, 0, naive("2048-02-07 06:28:16"), "16925e80",
        "datetime:2048-02-07 06:28:16", '"16925e80"',
        "holds with local time Europe/Berlin (CET, UTC+1); RFC 5905 maps 16925e80 to "
        "2048-02-07 06:28:16 UTC; python-diameter in UTC gives 16926c90",
        tz=AUTHOR_TZ)
    dec("time-2062-decode", t, AvpTime, 0, "3242122e", "datetime:2062-10-27 11:08:46",
        'b"2B\\x12."',
        "holds with local time Europe/Berlin (CEST, UTC+2); RFC 5905 maps 3242122e to "
        "2062-10-27 10:08:46 UTC; python-diameter in UTC reads 09:08:46",
        tz=AUTHOR_TZ)
    t = "test_error_time_type"
    dec_err("time-8-bytes", t, AvpTime, C.AVP_EVENT_TIMESTAMP, "0000000100000001",
            'b"\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x01"', "8 bytes are not a 32-bit NTP time")
    for rid, when, lit in [
            ("time-1968-before-range", "1968-01-16 06:28:15",
             "datetime.datetime(1968, 1, 16, 6, 28, 15)"),
            ("time-2105-after-range", "2105-02-07 06:28:17",
             "datetime.datetime(2105, 2, 7, 6, 28, 17)")]:
        row(id=rid, test=t, check="no-roundtrip", type="AvpTime", code=0, vendor_id=0,
            flags="-", hex="-", value="datetime:" + when, hex_source="-",
            note="outside the 1968-01-20 .. 2104 range of 32-bit NTP time: encoding "
                 "succeeds but reads back as a different date",
            lit=lit, run=lambda when=when: _time_roundtrip(when, False))

    # Grouped
    at = AvpUnsigned32(C.AVP_SUBSCRIPTION_ID_TYPE)
    at.value = 0
    ad = AvpUtf8String(C.AVP_SUBSCRIPTION_ID_DATA)
    ad.value = "485079164547"
    ag = AvpGrouped(C.AVP_SUBSCRIPTION_ID)
    ag.value = [at, ad]
    grouped_payload = ag.payload.hex()
    row(id="grouped-subscription-id", test="test_create_grouped_type",
        check="payload-encode", type="AvpGrouped", code=C.AVP_SUBSCRIPTION_ID,
        vendor_id=0, flags="-", hex="hex:" + grouped_payload, value="grouped",
        hex_source="computed",
        note="members Subscription-Id-Type (as Unsigned32, value 0) and "
             "Subscription-Id-Data '485079164547', both built with no flags; the "
             "payload is the two AVPs' bytes concatenated",
        lit="ag.payload == at.as_bytes() + ad.as_bytes()",
        run=lambda: grouped_payload if ag.payload == at.as_bytes() + ad.as_bytes() else None)

    bg = AvpGrouped(C.AVP_SUBSCRIPTION_ID)
    bt = AvpUnsigned32(C.AVP_SUBSCRIPTION_ID_TYPE)
    bt.value = 1
    bg.value = [bt]
    good = bg.as_bytes()
    junk = good[:-6] + b"00" + good[-6:]

    def check_junk():
        a = Avp.from_bytes(junk)
        assert raises(AvpDecodeError, lambda: a.value)
        return junk.hex()
    row(id="grouped-junk", test="test_error_grouped_type", check="grouped-decode-error",
        type="AvpGrouped", code=C.AVP_SUBSCRIPTION_ID, vendor_id=0, flags="0x00",
        hex="hex:" + junk.hex(), value="-", hex_source="computed",
        note="Subscription-Id{Subscription-Id-Type 1} with ASCII \"00\" inserted 6 bytes "
             "before the end; the outer header is intact, reading its members must fail",
        lit='ag.as_bytes()[:-6] + b"00" + ag.as_bytes()[-6:]', run=check_junk)
    return rows


def _time_roundtrip(when: str, expect_equal: bool):
    a = AvpTime()
    a.value = naive(when)
    assert (a.value == naive(when)) is expect_equal, when
    return None


COLUMNS = ["id", "test", "check", "type", "code", "vendor_id", "flags", "hex",
           "value", "hex_source", "note"]
COMMENTS = [
    "AVP vectors from python-diameter 0.9.0's tests/test_avp.py (source distribution).",
    "Written by tools/vectors/testsuite.py; grammar in tests/data/python-testsuite/README.md.",
    "Fields are tab-separated; lines starting with # are comments; the last "
    "comment line names the columns.",
]


def main() -> int:
    src = read_test("test_avp.py")
    rows = build_rows()
    out = []
    for r in rows:
        if r["lit"] not in src:
            raise SystemExit(f"{r['id']}: {r['lit']!r} not found in test_avp.py")
        if r["test"] != "-" and f"def {r['test']}(" not in src:
            raise SystemExit(f"{r['id']}: no test {r['test']}")
        set_tz(r.get("tz") or "UTC")
        try:
            got = r["run"]()
        finally:
            set_tz("UTC")
        if r["hex"] != "-" and r["check"] not in ("avp-decode-error",):
            assert got is not None and "hex:" + got == r["hex"], (r["id"], got)
        out.append([str(r[c]) if c not in ("note",) else vecfmt.esc(r[c])
                    for c in COLUMNS])
    msgs = message_vectors()
    sizes = {"cer": 180, "cea": 316, "ulr": 712}
    for name, hexs in msgs.items():
        assert len(bytes.fromhex(hexs)) == sizes[name], name
        vecfmt.write_text(os.path.join(OUT, f"{name}.hex"), hexs.lower() + "\n")
    vecfmt.write_tsv(os.path.join(OUT, "avps.tsv"), COMMENTS, COLUMNS, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
