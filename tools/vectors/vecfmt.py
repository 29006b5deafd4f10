"""Shared text formats for the test-vector tools in this directory.

The value grammar written here is documented in
tests/data/python-golden/README.md; keep the two in step.
"""
from __future__ import annotations

import calendar
import datetime
import os
import time

from diameter.message import avp as pavp
from diameter.message.avp import (Avp, AvpAddress, AvpFloat32, AvpFloat64,
                                  AvpGrouped, AvpInteger32, AvpInteger64,
                                  AvpOctetString, AvpTime, AvpUnsigned32,
                                  AvpUnsigned64, AvpUtf8String)


def force_utc() -> None:
    """python-diameter reads and writes Time AVPs through naive local-time
    datetimes, so every vector is produced with the process time zone set
    to UTC."""
    os.environ["TZ"] = "UTC"
    time.tzset()


def esc(text: str) -> str:
    """Escape a text field: backslash, tab, newline and carriage return."""
    return (text.replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\n", "\\n").replace("\r", "\\r"))


def unesc(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            nxt = text[i + 1]
            out.append({"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def type_name(a: Avp) -> str:
    # AvpEnumerated is the same class object as AvpInteger32 in
    # python-diameter, so Enumerated AVPs report "AvpInteger32".
    return type(a).__name__


def dt_to_unix(value: datetime.datetime) -> int:
    # value is a naive datetime in local time, which is UTC here
    return calendar.timegm(value.timetuple())


def fmt_value(a: Avp) -> str:
    """The typed value of an AVP, as python-diameter decodes it."""
    cls = type(a)
    if cls is AvpGrouped:
        try:
            a.value
        except pavp.AvpDecodeError:
            return "undecodable:" + a.payload.hex()
        return "grouped"
    try:
        v = a.value
    except pavp.AvpDecodeError:
        return "undecodable:" + a.payload.hex()
    if cls is AvpOctetString or cls is Avp:
        return "hex:" + v.hex()
    if cls is AvpUtf8String:
        return "str:" + esc(v)
    if cls is AvpInteger32:
        return f"i32:{v}"
    if cls is AvpInteger64:
        return f"i64:{v}"
    if cls is AvpUnsigned32:
        return f"u32:{v}"
    if cls is AvpUnsigned64:
        return f"u64:{v}"
    if cls is AvpFloat32:
        return "f32bits:0x" + a.payload.hex()
    if cls is AvpFloat64:
        return "f64bits:0x" + a.payload.hex()
    if cls is AvpTime:
        secs = dt_to_unix(v)
        assert secs == int(v.timestamp())
        return f"time:{secs}"
    if cls is AvpAddress:
        family, text = v
        return f"addr:{family}:{esc(text)}"
    raise TypeError(f"no value format for {cls}")


def payload_from_value(type_cls: type, value: str) -> bytes | None:
    """Inverse of fmt_value, through python-diameter's own setters where one
    exists. Returns None for values that cannot be encoded (undecodable)."""
    kind, _, rest = value.partition(":")
    if kind == "undecodable":
        return None
    if kind == "grouped":
        raise ValueError("grouped values are carried by the hex column only")
    if kind in ("hex",):
        return bytes.fromhex(rest)
    if kind in ("f32bits", "f64bits"):
        return bytes.fromhex(rest[2:])
    if kind == "addr":
        fam_s, _, text = rest.partition(":")
        family = int(fam_s)
        text = unesc(text)
        if family in (1, 2, 8):
            probe = AvpAddress()
            probe.value = text
            assert probe.value == (family, text), (probe.value, family, text)
            return probe.payload
        # families python does not interpret are shown as hex of the rest
        return family.to_bytes(2, "big") + bytes.fromhex(text)
    probe = type_cls()
    if kind in ("i32", "i64", "u32", "u64"):
        probe.value = int(rest)
    elif kind == "str":
        probe.value = unesc(rest)
    elif kind == "time":
        probe.value = datetime.datetime.fromtimestamp(int(rest))
    else:
        raise ValueError(f"unknown value kind {kind}")
    return probe.payload


def write_text(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def write_tsv(path: str, comments: list[str], columns: list[str],
              rows: list[list[str]]) -> None:
    lines = [("# " + c).rstrip() for c in comments]
    lines.append("#" + "\t".join(columns))
    for row in rows:
        assert len(row) == len(columns), row
        for field in row:
            assert "\t" not in field and "\n" not in field and field != "", row
        lines.append("\t".join(row))
    write_text(path, "\n".join(lines) + "\n")


def fetch_sdist(tmp: str, version: str = "0.9.0") -> str:
    """Download and unpack the python-diameter sdist into tmp; return its folder."""
    import subprocess
    import sys
    import tarfile
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--no-binary", ":all:", "--dest", tmp,
                    f"python-diameter=={version}"], check=True)
    archive = os.path.join(tmp, f"python_diameter-{version}.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
    return os.path.join(tmp, f"python_diameter-{version}")
