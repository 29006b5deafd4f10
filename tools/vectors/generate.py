#!/usr/bin/env python3
"""Produce golden Diameter vectors with python-diameter.

Run from the repository root:

    TZ=UTC python3 tools/vectors/generate.py

Writes tests/data/python-golden/ (see the README.md written there). The
output depends only on the installed python-diameter version (checked below)
and is byte-identical from run to run: no clocks, no random identifiers.
"""
from __future__ import annotations

import datetime
import os
import sys

sys.dont_write_bytecode = True  # keep tools/vectors free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vecfmt  # noqa: E402

vecfmt.force_utc()

from importlib.metadata import version  # noqa: E402

from diameter.message import Message, MessageHeader, dump  # noqa: E402
from diameter.message import constants as C  # noqa: E402
from diameter.message.avp import Avp  # noqa: E402

EXPECTED_VERSION = "0.9.0"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "data", "python-golden")
TESTSUITE = os.path.join(ROOT, "tests", "data", "python-testsuite")

TGPP = C.VENDOR_TGPP
ERICSSON = C.VENDOR_ERICSSON
UNKNOWN_VENDOR = 99999


def utc(*args) -> datetime.datetime:
    # naive, interpreted by python-diameter as local time, which is UTC here
    return datetime.datetime(*args)


def raw_avp(code: int, vendor_id: int, flags: int, payload: bytes) -> bytes:
    """Hand-encode one AVP (header, payload, zero padding)."""
    hdr = 12 if vendor_id else 8
    out = code.to_bytes(4, "big") + bytes([flags]) + (hdr + len(payload)).to_bytes(3, "big")
    if vendor_id:
        out += vendor_id.to_bytes(4, "big")
    out += payload + b"\x00" * ((4 - len(payload) % 4) % 4)
    return out


# ---------------------------------------------------------------------------
# AVP vectors
# ---------------------------------------------------------------------------

def avp_cases():
    """(id, origin, avp) in output order.

    origin "new": built with Avp.new (M flag from the dictionary, overrides
    given explicitly); "ctor": built with the Avp base class constructor
    (unknown code/vendor, payload and flags given); "decoded": made by
    Avp.from_bytes from hand-encoded bytes (values python cannot build)."""
    n = Avp.new
    cases = []

    def new(cid, *args, **kw):
        cases.append((cid, "new", n(*args, **kw)))

    def dec(cid, code, vendor_id, flags, payload):
        data = raw_avp(code, vendor_id, flags, payload)
        a = Avp.from_bytes(data)
        assert a.as_bytes() == data, cid
        cases.append((cid, "decoded", a))

    def ctor(cid, code, vendor_id, flags, payload):
        cases.append((cid, "ctor", Avp(code, vendor_id, payload, flags)))

    # OctetString, including padding of 3, 2, 1 and 0 bytes
    new("octets-user-password", C.AVP_USER_PASSWORD, value=b"secret")
    new("octets-pad3", C.AVP_CLASS, value=b"a")
    new("octets-pad2", C.AVP_CLASS, value=b"ab")
    new("octets-pad1", C.AVP_CLASS, value=b"abc")
    new("octets-pad0-diameter-identity", C.AVP_ORIGIN_HOST, value=b"dra1.example.net")
    new("octets-empty", C.AVP_STATE, value=b"")
    new("octets-repr-single-quote", C.AVP_CLASS, value=b"it's")
    new("octets-repr-both-quotes", C.AVP_CLASS, value=b"it's \"x\"")
    new("octets-repr-escapes", C.AVP_CLASS,
        value=b"\x00\x01\x1f \x7f\x80\xff\t\n\r\\~")
    new("octets-vendor", C.AVP_TGPP_3GPP_USER_LOCATION_INFO, TGPP,
        value=bytes.fromhex("8205f539007b05f53900000101"))

    # Integer32 / Enumerated (the same python class)
    new("i32-positive", C.AVP_ACCT_INPUT_PACKETS, value=294967)
    new("i32-min", C.AVP_ACCT_INPUT_PACKETS, value=-2147483648)
    new("i32-vendor-negative", C.AVP_TGPP_CAUSE_CODE, TGPP, value=-1)
    new("enum-cc-request-type", C.AVP_CC_REQUEST_TYPE, value=C.E_CC_REQUEST_TYPE_UPDATE_REQUEST)
    new("i32-result-code", C.AVP_RESULT_CODE, value=2001)

    # Integer64
    new("i64-large", C.AVP_VALUE_DIGITS, value=9223372036854775800)
    new("i64-min", C.AVP_VALUE_DIGITS, value=-9223372036854775808)
    new("i64-minus-one", C.AVP_VALUE_DIGITS, value=-1)

    # Unsigned32
    new("u32-basic", C.AVP_NAS_PORT, value=294967)
    new("u32-max", C.AVP_ORIGIN_STATE_ID, value=4294967295)
    new("u32-zero", C.AVP_VENDOR_ID, value=0)
    dec("u32-empty-undecodable", C.AVP_ORIGIN_STATE_ID, 0, 0x40, b"")

    # Unsigned64
    new("u64-large", C.AVP_FRAMED_INTERFACE_ID, value=17347878958773879024)
    new("u64-max", C.AVP_CC_TOTAL_OCTETS, value=18446744073709551615)
    new("u64-dictionary-without-m", C.AVP_ACCOUNTING_EAP_AUTH_METHOD, value=1)

    # Float32 (str shows the value widened to a python float)
    new("f32-128.65", C.AVP_BANDWIDTH, value=128.65)
    new("f32-one", C.AVP_BANDWIDTH, value=1.0)
    new("f32-negative-zero", C.AVP_BANDWIDTH, value=-0.0)
    new("f32-small", C.AVP_BANDWIDTH, value=1e-05)
    new("f32-large", C.AVP_BANDWIDTH, value=1e16)
    new("f32-inf", C.AVP_BANDWIDTH, value=float("inf"))
    new("f32-nan", C.AVP_BANDWIDTH, value=float("nan"))

    # Float64
    new("f64-128.65", C.AVP_ERICSSON_COST, ERICSSON, value=128.65)
    new("f64-1e16", C.AVP_ERICSSON_COST, ERICSSON, value=1e16)
    new("f64-1e15", C.AVP_ERICSSON_COST, ERICSSON, value=1e15)
    new("f64-0.0001", C.AVP_ERICSSON_COST, ERICSSON, value=0.0001)
    new("f64-5e-324", C.AVP_ERICSSON_COST, ERICSSON, value=5e-324)
    new("f64-negative-inf", C.AVP_ERICSSON_COST, ERICSSON, value=float("-inf"))
    dec("f64-negative-nan", C.AVP_ERICSSON_COST, ERICSSON, 0xc0,
        bytes.fromhex("fff8000000000001"))

    # Grouped
    new("grouped-subscription-id", C.AVP_SUBSCRIPTION_ID, value=[
        n(C.AVP_SUBSCRIPTION_ID_TYPE, value=C.E_SUBSCRIPTION_ID_TYPE_END_USER_E164),
        n(C.AVP_SUBSCRIPTION_ID_DATA, value="485079164547")])
    new("grouped-empty", C.AVP_PROXY_INFO, value=[])
    new("grouped-nested", C.AVP_MULTIPLE_SERVICES_CREDIT_CONTROL, value=[
        n(C.AVP_REQUESTED_SERVICE_UNIT, value=[
            n(C.AVP_CC_TOTAL_OCTETS, value=1000)]),
        n(C.AVP_RATING_GROUP, value=8000)])
    new("grouped-vendor", C.AVP_TGPP_SERVICE_INFORMATION, TGPP, value=[
        n(C.AVP_TGPP_PS_INFORMATION, TGPP, value=[
            n(C.AVP_TGPP_3GPP_CHARGING_ID, TGPP, value=b"\x00\x00\x00\x01"),
            n(C.AVP_TGPP_SGSN_ADDRESS, TGPP, value="10.1.2.3")])])
    new("grouped-with-unknown-member", C.AVP_FAILED_AVP, value=[
        Avp(99999, 0, b"xy", 0)])

    # Address
    new("addr-v4", C.AVP_HOST_IP_ADDRESS, value="10.0.0.1")
    new("addr-v6-full", C.AVP_HOST_IP_ADDRESS, value="8b71:8c8a:1e29:716a:6184:7966:fd43:4200")
    new("addr-v6-compressed", C.AVP_HOST_IP_ADDRESS, value="2001:db8::1")
    new("addr-v6-v4-compatible", C.AVP_HOST_IP_ADDRESS, value="::c000:201")
    new("addr-v6-v4-mapped", C.AVP_HOST_IP_ADDRESS, value="::ffff:c000:201")
    new("addr-v6-low-words-as-v4", C.AVP_HOST_IP_ADDRESS, value="::1:2")
    new("addr-v6-loopback", C.AVP_HOST_IP_ADDRESS, value="::1")
    new("addr-e164-vendor", C.AVP_TGPP_SMSC_ADDRESS, TGPP, value="48507909008")
    new("addr-v4-vendor-no-m", C.AVP_TGPP_SGSN_ADDRESS, TGPP, value="193.16.219.96")
    dec("addr-family-10", C.AVP_TGPP_SMSC_ADDRESS, TGPP, 0x80, b"\x00\naddress")
    dec("addr-family-0-empty", C.AVP_HOST_IP_ADDRESS, 0, 0x40, b"\x00\x00")

    # Time. RFC 5905 eras: NTP era 0 covers 1968-01-20 03:14:08 ..
    # 2036-02-07 06:28:15 UTC, era 1 starts at 2036-02-07 06:28:16 UTC (unix
    # 2085978496). python-diameter 0.9.0 uses 2085974896 (one hour earlier)
    # as the era-1 base, both when encoding and when decoding era-1 values;
    # ids ending in "-py-era1-offset" carry that one-hour offset.
    new("time-2024", C.AVP_EVENT_TIMESTAMP, value=utc(2024, 1, 2, 3, 4, 5))
    new("time-unix-epoch", C.AVP_EVENT_TIMESTAMP, value=utc(1970, 1, 1, 0, 0, 0))
    new("time-earliest-1968", C.AVP_EVENT_TIMESTAMP, value=utc(1968, 1, 20, 3, 14, 8))
    new("time-2036-05-28-15-python-era0-last", C.AVP_EVENT_TIMESTAMP,
        value=utc(2036, 2, 7, 5, 28, 15))
    dec("time-ntp-ffffffff-era0-last", C.AVP_EVENT_TIMESTAMP, 0, 0x40, b"\xff\xff\xff\xff")
    new("time-2036-06-28-15-py-era1-offset", C.AVP_EVENT_TIMESTAMP,
        value=utc(2036, 2, 7, 6, 28, 15))
    new("time-2036-06-28-16-py-era1-offset", C.AVP_EVENT_TIMESTAMP,
        value=utc(2036, 2, 7, 6, 28, 16))
    dec("time-ntp-zero-py-era1-offset", C.AVP_EVENT_TIMESTAMP, 0, 0x40, b"\x00\x00\x00\x00")
    new("time-2048-py-era1-offset", C.AVP_EVENT_TIMESTAMP, value=utc(2048, 2, 7, 6, 28, 16))
    dec("time-ntp-7fffffff-py-era1-offset", C.AVP_ABSOLUTE_END_TIME, 0, 0x40,
        b"\x7f\xff\xff\xff")
    dec("time-8-bytes-undecodable", C.AVP_EVENT_TIMESTAMP, 0, 0x40,
        bytes.fromhex("0000000100000001"))

    # UTF8String
    new("utf8-ascii", C.AVP_SUBSCRIPTION_ID_DATA, value="485079164547")
    new("utf8-cjk", C.AVP_USER_NAME, value="汉语")
    new("utf8-escapes-emoji", C.AVP_ERROR_MESSAGE, value="tab\there\nnew\\line \"q\" it's 😀")
    new("utf8-empty", C.AVP_SESSION_ID, value="")
    dec("utf8-invalid-undecodable", C.AVP_USER_NAME, 0, 0x40, bytes.fromhex("fffe496ced8b"))

    # flags: M from the dictionary, overridden, P set
    new("flags-m-cleared", C.AVP_SESSION_ID, value="s;1", is_mandatory=False)
    new("flags-m-p", C.AVP_ORIGIN_STATE_ID, value=1, is_private=True)
    new("flags-v-m", C.AVP_TGPP_QUOTA_HOLDING_TIME, TGPP, value=3600)
    new("flags-v-m-p", C.AVP_TGPP_QUOTA_HOLDING_TIME, TGPP, value=3600, is_private=True)
    dec("flags-reserved-bits-kept", C.AVP_ORIGIN_STATE_ID, 0, 0x5f, b"\x00\x00\x00\x07")

    # unknown AVPs: python keeps the raw payload (base class Avp)
    ctor("unknown-code", 99999, 0, 0x00, b"abc")
    ctor("unknown-code-m", 65000, 0, 0x40, b"\x01\x02\x03\x04")
    ctor("unknown-vendor", 1, UNKNOWN_VENDOR, 0x80, b"\x00\x01")
    ctor("unknown-code-known-vendor", 9999, TGPP, 0xc0, b"z")
    ctor("unknown-empty", 70000, 0, 0x00, b"")
    ctor("unknown-max-code-max-vendor", 0xffffffff, 0xffffffff, 0x80, b"\xff")
    return cases


def avp_rows():
    rows = []
    seen = set()
    for cid, origin, a in avp_cases():
        assert cid not in seen, cid
        seen.add(cid)
        data = a.as_bytes()
        value = vecfmt.fmt_value(a)
        text = str(a)
        # Decoding the bytes must give back the same AVP in every column.
        back = Avp.from_bytes(data)
        assert back.as_bytes() == data, cid
        assert (back.code, back.vendor_id, back.flags) == (a.code, a.vendor_id, a.flags), cid
        assert type(back) is type(a), cid
        assert vecfmt.fmt_value(back) == value, cid
        assert str(back) == text, cid
        # Does the value column (plus code, vendor, flags) encode, through
        # python-diameter's own value setters, back to exactly these bytes?
        if value == "grouped":
            encodes = "yes"  # members are in the hex; checked by from_bytes
        else:
            payload = vecfmt.payload_from_value(type(a), value)
            if payload is None:
                assert value == "undecodable:" + a.payload.hex(), cid
                encodes = "no"
            else:
                rebuilt = type(a)(a.code, a.vendor_id, payload, a.flags)
                encodes = "yes" if rebuilt.as_bytes() == data else "no"
        # every AVP python built itself must round-trip through its value
        assert encodes == "yes" or origin == "decoded", cid
        rows.append([cid, origin, str(a.code), str(a.vendor_id),
                     f"0x{a.flags:02x}", vecfmt.type_name(a), value, data.hex(),
                     vecfmt.esc(text), encodes])
    return rows


# ---------------------------------------------------------------------------
# message vectors
# ---------------------------------------------------------------------------

def msg(code, flags, app_id, hbh, e2e, avps):
    hdr = MessageHeader(version=1, command_flags=flags, command_code=code,
                        application_id=app_id, hop_by_hop_identifier=hbh,
                        end_to_end_identifier=e2e)
    return Message(hdr, avps)


REQ, PXY, ERR, RTR = 0x80, 0x40, 0x20, 0x10
n = Avp.new

CLIENT = b"client.example.net"
SERVER = b"ocs1.example.net"
REALM = b"example.net"
SID = "client.example.net;1700000000;42;abcdef"
EVENT_TIME = utc(2024, 5, 17, 12, 34, 56)


def capabilities(host, ip4, ip6, extra):
    return extra + [
        n(C.AVP_ORIGIN_HOST, value=host),
        n(C.AVP_ORIGIN_REALM, value=REALM),
        n(C.AVP_HOST_IP_ADDRESS, value=ip4),
        n(C.AVP_HOST_IP_ADDRESS, value=ip6),
        n(C.AVP_VENDOR_ID, value=TGPP),
        n(C.AVP_PRODUCT_NAME, value="rust-diameter"),
        n(C.AVP_ORIGIN_STATE_ID, value=1689134718),
        n(C.AVP_SUPPORTED_VENDOR_ID, value=TGPP),
        n(C.AVP_SUPPORTED_VENDOR_ID, value=ERICSSON),
        n(C.AVP_AUTH_APPLICATION_ID, value=C.APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        n(C.AVP_VENDOR_SPECIFIC_APPLICATION_ID, value=[
            n(C.AVP_VENDOR_ID, value=TGPP),
            n(C.AVP_AUTH_APPLICATION_ID, value=16777238)]),
        n(C.AVP_FIRMWARE_REVISION, value=16777216),
    ]


def message_cases():
    m = {}
    m["cer"] = msg(C.CMD_CAPABILITIES_EXCHANGE, REQ, 0, 0x00000001, 0x10000001,
                   capabilities(CLIENT, "10.0.0.1", "2001:db8::1", []))
    m["cea"] = msg(C.CMD_CAPABILITIES_EXCHANGE, 0, 0, 0x00000001, 0x10000001,
                   capabilities(SERVER, "10.0.0.2", "2001:db8::2",
                                [n(C.AVP_RESULT_CODE, value=C.E_RESULT_CODE_DIAMETER_SUCCESS)]))
    m["dwr"] = msg(C.CMD_DEVICE_WATCHDOG, REQ, 0, 0x00000002, 0x10000002, [
        n(C.AVP_ORIGIN_HOST, value=CLIENT),
        n(C.AVP_ORIGIN_REALM, value=REALM),
        n(C.AVP_ORIGIN_STATE_ID, value=1689134718)])
    m["dwa"] = msg(C.CMD_DEVICE_WATCHDOG, 0, 0, 0x00000002, 0x10000002, [
        n(C.AVP_RESULT_CODE, value=C.E_RESULT_CODE_DIAMETER_SUCCESS),
        n(C.AVP_ORIGIN_HOST, value=SERVER),
        n(C.AVP_ORIGIN_REALM, value=REALM),
        n(C.AVP_ORIGIN_STATE_ID, value=1618404535)])
    m["dpr"] = msg(C.CMD_DISCONNECT_PEER, REQ, 0, 0x00000003, 0x10000003, [
        n(C.AVP_ORIGIN_HOST, value=CLIENT),
        n(C.AVP_ORIGIN_REALM, value=REALM),
        n(C.AVP_DISCONNECT_CAUSE, value=C.E_DISCONNECT_CAUSE_DO_NOT_WANT_TO_TALK_TO_YOU)])
    m["dpa"] = msg(C.CMD_DISCONNECT_PEER, 0, 0, 0x00000003, 0x10000003, [
        n(C.AVP_RESULT_CODE, value=C.E_RESULT_CODE_DIAMETER_SUCCESS),
        n(C.AVP_ORIGIN_HOST, value=SERVER),
        n(C.AVP_ORIGIN_REALM, value=REALM)])

    gy = C.APP_DIAMETER_CREDIT_CONTROL_APPLICATION
    m["ccr"] = msg(C.CMD_CREDIT_CONTROL, REQ | PXY, gy, 0x0a0b0c0d, 0xdeadbeef, [
        n(C.AVP_SESSION_ID, value=SID),
        n(C.AVP_ORIGIN_HOST, value=CLIENT),
        n(C.AVP_ORIGIN_REALM, value=REALM),
        n(C.AVP_DESTINATION_REALM, value=b"operator.example"),
        n(C.AVP_AUTH_APPLICATION_ID, value=gy),
        n(C.AVP_SERVICE_CONTEXT_ID, value="32251@3gpp.org"),
        n(C.AVP_CC_REQUEST_TYPE, value=C.E_CC_REQUEST_TYPE_UPDATE_REQUEST),
        n(C.AVP_CC_REQUEST_NUMBER, value=1),
        n(C.AVP_EVENT_TIMESTAMP, value=EVENT_TIME),
        n(C.AVP_SUBSCRIPTION_ID, value=[
            n(C.AVP_SUBSCRIPTION_ID_TYPE, value=C.E_SUBSCRIPTION_ID_TYPE_END_USER_E164),
            n(C.AVP_SUBSCRIPTION_ID_DATA, value="485079164547")]),
        n(C.AVP_SUBSCRIPTION_ID, value=[
            n(C.AVP_SUBSCRIPTION_ID_TYPE, value=C.E_SUBSCRIPTION_ID_TYPE_END_USER_IMSI),
            n(C.AVP_SUBSCRIPTION_ID_DATA, value="260061234567890")]),
        n(C.AVP_USER_EQUIPMENT_INFO, value=[
            n(C.AVP_USER_EQUIPMENT_INFO_TYPE, value=C.E_USER_EQUIPMENT_INFO_TYPE_IMEISV),
            n(C.AVP_USER_EQUIPMENT_INFO_VALUE, value=b"3578781006869801")]),
        n(C.AVP_MULTIPLE_SERVICES_CREDIT_CONTROL, value=[
            n(C.AVP_REQUESTED_SERVICE_UNIT, value=[
                n(C.AVP_CC_TOTAL_OCTETS, value=10485760)]),
            n(C.AVP_USED_SERVICE_UNIT, value=[
                n(C.AVP_CC_TIME, value=60),
                n(C.AVP_CC_INPUT_OCTETS, value=123456),
                n(C.AVP_CC_OUTPUT_OCTETS, value=6543210987)]),
            n(C.AVP_RATING_GROUP, value=8000),
            n(C.AVP_SERVICE_IDENTIFIER, value=1)]),
        n(C.AVP_TGPP_SERVICE_INFORMATION, TGPP, value=[
            n(C.AVP_TGPP_PS_INFORMATION, TGPP, value=[
                n(C.AVP_TGPP_3GPP_CHARGING_ID, TGPP, value=b"\x12\x34\x56\x78"),
                n(C.AVP_TGPP_3GPP_PDP_TYPE, TGPP, value=0),
                n(C.AVP_TGPP_PDP_ADDRESS, TGPP, value="10.40.93.32"),
                n(C.AVP_TGPP_SGSN_ADDRESS, TGPP, value="193.16.219.96"),
                n(C.AVP_TGPP_GGSN_ADDRESS, TGPP, value="2001:db8:0:1::10"),
                n(C.AVP_CALLED_STATION_ID, value="internet"),
                n(C.AVP_TGPP_3GPP_SGSN_MCC_MNC, TGPP, value="26006"),
                n(C.AVP_TGPP_3GPP_RAT_TYPE, TGPP, value=b"\x06"),
                n(C.AVP_TGPP_3GPP_USER_LOCATION_INFO, TGPP,
                  value=bytes.fromhex("8262f6000001620f60000a0b0c")),
                n(C.AVP_TGPP_3GPP_MS_TIMEZONE, TGPP, value=b"\x40\x00"),
                n(C.AVP_TGPP_3GPP_SELECTION_MODE, TGPP, value="0"),
                n(C.AVP_TGPP_3GPP_CHARGING_CHARACTERISTICS, TGPP, value="0800"),
                n(C.AVP_TGPP_3GPP_NSAPI, TGPP, value=b"5"),
                n(C.AVP_TGPP_PDN_CONNECTION_CHARGING_ID, TGPP, value=305419896)])]),
    ])
    m["cca"] = msg(C.CMD_CREDIT_CONTROL, PXY, gy, 0x0a0b0c0d, 0xdeadbeef, [
        n(C.AVP_SESSION_ID, value=SID),
        n(C.AVP_RESULT_CODE, value=C.E_RESULT_CODE_DIAMETER_SUCCESS),
        n(C.AVP_ORIGIN_HOST, value=SERVER),
        n(C.AVP_ORIGIN_REALM, value=REALM),
        n(C.AVP_AUTH_APPLICATION_ID, value=gy),
        n(C.AVP_CC_REQUEST_TYPE, value=C.E_CC_REQUEST_TYPE_UPDATE_REQUEST),
        n(C.AVP_CC_REQUEST_NUMBER, value=1),
        n(C.AVP_MULTIPLE_SERVICES_CREDIT_CONTROL, value=[
            n(C.AVP_GRANTED_SERVICE_UNIT, value=[
                n(C.AVP_CC_TOTAL_OCTETS, value=174076000),
                n(C.AVP_CC_TIME, value=3600)]),
            n(C.AVP_RATING_GROUP, value=8000),
            n(C.AVP_VALIDITY_TIME, value=3600),
            n(C.AVP_RESULT_CODE, value=C.E_RESULT_CODE_DIAMETER_SUCCESS),
            n(C.AVP_FINAL_UNIT_INDICATION, value=[
                n(C.AVP_FINAL_UNIT_ACTION, value=C.E_FINAL_UNIT_ACTION_TERMINATE)]),
            n(C.AVP_TGPP_QUOTA_HOLDING_TIME, TGPP, value=0)]),
    ])
    m["cca_error"] = msg(C.CMD_CREDIT_CONTROL, PXY | ERR, gy, 0x0a0b0c0e, 0xdeadbef0, [
        n(C.AVP_SESSION_ID, value=SID),
        n(C.AVP_ORIGIN_HOST, value=SERVER),
        n(C.AVP_ORIGIN_REALM, value=REALM),
        n(C.AVP_RESULT_CODE, value=C.E_RESULT_CODE_DIAMETER_INVALID_AVP_VALUE),
        n(C.AVP_ERROR_MESSAGE, value="CC-Request-Type out of range"),
        n(C.AVP_ERROR_REPORTING_HOST, value=SERVER),
        n(C.AVP_FAILED_AVP, value=[
            n(C.AVP_CC_REQUEST_TYPE, value=99)]),
    ])
    m["unknown_command"] = msg(9999, REQ | PXY, 16777999, 0x00000063, 0x00000064, [
        n(C.AVP_SESSION_ID, value="client.example.net;1;unknown"),
        n(C.AVP_ORIGIN_HOST, value=CLIENT),
        n(C.AVP_ORIGIN_REALM, value=REALM),
        Avp(4242, UNKNOWN_VENDOR, b"\x01\x02\x03", 0x80),
        Avp(4243, UNKNOWN_VENDOR, b"mandatory", 0xc0),
        Avp(9999, TGPP, b"\xca\xfe", 0x80),
        Avp(65000, 0, b"", 0x00),
    ])
    # P bit in the header (with R and T); a Protected (P flag) AVP inside.
    m["str_pbit"] = msg(C.CMD_SESSION_TERMINATION, REQ | PXY | RTR, gy, 0xffffffff, 0x00000000, [
        n(C.AVP_SESSION_ID, value=SID),
        n(C.AVP_ORIGIN_HOST, value=CLIENT),
        n(C.AVP_ORIGIN_REALM, value=REALM),
        n(C.AVP_DESTINATION_REALM, value=b"operator.example"),
        n(C.AVP_AUTH_APPLICATION_ID, value=gy),
        n(C.AVP_TERMINATION_CAUSE, value=C.E_TERMINATION_CAUSE_DIAMETER_LOGOUT),
        n(C.AVP_USER_NAME, value="alice@example.net", is_private=True),
    ])
    m["empty_unknown_command"] = msg(9998, 0, 0, 0x00000065, 0x00000066, [])
    return m


def message_files():
    files = {}
    for name, m in message_cases().items():
        data = m.as_bytes()          # also sets header.length
        assert m.header.length == len(data), name
        built = dump(m)
        plain = dump(Message.from_bytes(data, plain_msg=True))
        assert Message.from_bytes(data, plain_msg=True).as_bytes() == data, name
        # only the command name on the first line may differ: a generic
        # Message is "Unknown", a decoded one carries the command's name
        assert built.split("\n")[1:] == plain.split("\n")[1:], name
        assert built.split(" <", 1)[1] == plain.split(" <", 1)[1], name
        files[f"{name}.hex"] = data.hex() + "\n"
        files[f"{name}.dump.txt"] = built
        files[f"{name}.plain.dump.txt"] = plain
    # python's dump of the real-world captures in python-diameter's own tests
    for name in ("cer", "cea", "ulr"):
        with open(os.path.join(TESTSUITE, f"{name}.hex"), encoding="ascii") as f:
            data = bytes.fromhex(f.read().strip())
        decoded = Message.from_bytes(data, plain_msg=True)
        assert decoded.as_bytes() == data, name
        files[f"testsuite_{name}.hex"] = data.hex() + "\n"
        files[f"testsuite_{name}.plain.dump.txt"] = dump(decoded)
    return files


# ---------------------------------------------------------------------------

AVP_COLUMNS = ["id", "origin", "code", "vendor_id", "flags", "type", "value",
               "avp_hex", "str", "value_encodes"]
AVP_COMMENTS = [
    f"Golden AVP vectors produced by python-diameter {EXPECTED_VERSION} "
    "(tools/vectors/generate.py, TZ=UTC).",
    "Grammar of every column: tests/data/python-golden/README.md.",
    "Fields are tab-separated; lines starting with # are comments; the last "
    "comment line names the columns.",
]


def main() -> int:
    have = version("python-diameter")
    if have != EXPECTED_VERSION:
        print(f"python-diameter {have} installed, {EXPECTED_VERSION} expected",
              file=sys.stderr)
        return 1
    files = message_files()
    os.makedirs(OUT, exist_ok=True)
    vecfmt.write_tsv(os.path.join(OUT, "avps.tsv"), AVP_COMMENTS, AVP_COLUMNS,
                     avp_rows())
    for fname, text in sorted(files.items()):
        vecfmt.write_text(os.path.join(OUT, fname), text)
    # remove stale outputs from earlier versions of this script
    keep = set(files) | {"avps.tsv", "README.md"}
    for fname in sorted(os.listdir(OUT)):
        if fname not in keep and os.path.isfile(os.path.join(OUT, fname)):
            os.remove(os.path.join(OUT, fname))
    return 0


if __name__ == "__main__":
    sys.exit(main())
