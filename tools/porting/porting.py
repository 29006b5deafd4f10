#!/usr/bin/env python3
"""Builds docs/porting.md and tests/it/porting_table.rs from the checked table
tools/porting/porting.md.in, and checks that every public name of the
installed python-diameter has a row.

    python3 tools/porting/porting.py              # regenerate both files
    python3 tools/porting/porting.py --check      # fail if they are stale
    python3 tools/porting/porting.py --check-names  # every python name has a row

The source is markdown. Text outside the special fences is copied as it
is. A fence opened with ```rows [module] holds table rows, blank-line
separated, one `key: value` per line (a line starting with two spaces
continues the previous value):

    py:      the python spelling (markdown)
    rs:      the Rust spelling (markdown); absent when `none:` says why
    names:   the python names the row covers, space separated, relative to
             the fence's module unless they start with "diameter."; `*`
             matches any run of characters (dots included)
    also:    python names the row covers that python_names.py does not list
             (reached through a submodule, such as
             diameter.message.avp.avp.register); absolute, no globs; they must
             exist in the installed package
    setup:   Rust statements the checks need (may use @name of a setup
             defined in a ```setups fence, which may use others)
    check:   Rust statements spelling the row (repeatable); they must compile
    differs: why the Rust shape differs from python's
    none:    why Rust has no counterpart (no check needed)

A row needs names: or also:. A ```prelude fence holds the `use` lines of
the generated test, and a ```setups fence holds `name: statements` lines. The marker
<!-- porting-summary --> is replaced by the row counts.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import sys
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SOURCE = os.path.join(HERE, "porting.md.in")
DOC = os.path.join(REPO, "docs", "porting.md")
TEST = os.path.join(REPO, "tests", "it", "porting_table.rs")

KEYS = {"py", "rs", "names", "also", "setup", "check", "differs", "none"}


@dataclass
class Row:
    line: int
    module: str
    py: str = ""
    rs: str = ""
    names: list[str] = field(default_factory=list)
    also: list[str] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    differs: str = ""
    none: str = ""

    @property
    def shape(self) -> str:
        if self.none:
            return f"none: {self.none}"
        if self.differs:
            return f"differs: {self.differs}"
        return "same"


class SourceError(Exception):
    pass


def parse_block(lines: list[tuple[int, str]], module: str) -> Row:
    row = Row(line=lines[0][0], module=module)
    entries: list[tuple[int, str, str]] = []
    for no, text in lines:
        if text.startswith("  ") and entries:
            n, k, v = entries[-1]
            entries[-1] = (n, k, v + "\n" + text[2:])
            continue
        m = re.match(r"^([a-z]+):\s?(.*)$", text)
        if not m or m.group(1) not in KEYS:
            raise SourceError(f"{SOURCE}:{no}: expected one of {sorted(KEYS)}: {text!r}")
        entries.append((no, m.group(1), m.group(2)))
    for no, key, value in entries:
        if key == "py":
            row.py = value
        elif key == "rs":
            row.rs = value
        elif key == "names":
            for n in value.split():
                row.names.append(n if n.startswith("diameter.") or not module else f"{module}.{n}")
        elif key == "also":
            row.also.extend(value.split())
        elif key == "setup":
            row.setup.append(value)
        elif key == "check":
            row.checks.append(value)
        elif key == "differs":
            row.differs = value
        elif key == "none":
            row.none = value
    where = f"{SOURCE}:{row.line}"
    if not row.py:
        raise SourceError(f"{where}: a row needs py:")
    if not row.names and not row.also:
        raise SourceError(f"{where}: a row needs names: (or also:)")
    if any("*" in n or not n.startswith("diameter.") for n in row.also):
        raise SourceError(f"{where}: also: takes absolute names without globs")
    if row.none and row.checks:
        raise SourceError(f"{where}: a row with none: has nothing to check")
    if not row.none and not row.rs:
        raise SourceError(f"{where}: a row needs rs: (or none: with the reason)")
    if not row.none and not row.checks:
        raise SourceError(f"{where}: a row with a Rust spelling needs check: (code that compiles)")
    if row.none and row.differs:
        raise SourceError(f"{where}: none: and differs: exclude each other")
    return row


@dataclass
class Source:
    parts: list = field(default_factory=list)  # str or list[Row]
    prelude: list[str] = field(default_factory=list)
    setups: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> list[Row]:
        return [r for p in self.parts if isinstance(p, list) for r in p]


def parse(path: str = SOURCE) -> Source:
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    src = Source()
    text: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^```(rows|prelude|setups)\s*(\S*)\s*$", line)
        if not m:
            text.append(line)
            i += 1
            continue
        kind, module = m.group(1), m.group(2)
        start = i + 1
        j = start
        while j < len(lines) and lines[j] != "```":
            j += 1
        if j == len(lines):
            raise SourceError(f"{path}:{i + 1}: unclosed ```{kind}")
        body = [(n + 1, lines[n]) for n in range(start, j)]
        i = j + 1
        if kind == "prelude":
            src.prelude.extend(t for _, t in body)
            continue
        if kind == "setups":
            for no, t in body:
                if not t.strip():
                    continue
                name, _, code = t.partition(":")
                if not code:
                    raise SourceError(f"{path}:{no}: expected name: statements")
                src.setups[name.strip()] = code.strip()
            continue
        if text:
            src.parts.append("\n".join(text))
            text = []
        rows: list[Row] = []
        block: list[tuple[int, str]] = []
        for no, t in body + [(j + 1, "")]:
            if t.strip():
                block.append((no, t))
            elif block:
                rows.append(parse_block(block, module))
                block = []
        src.parts.append(rows)
    if text:
        src.parts.append("\n".join(text))
    return src


def cell(text: str) -> str:
    return text.replace("\n", " ").replace("|", "\\|")


def summary(rows: list[Row]) -> str:
    same = sum(1 for r in rows if r.shape == "same")
    differs = [r for r in rows if r.differs]
    none = [r for r in rows if r.none]
    return (
        f"{len(rows)} rows cover every public name of python-diameter 0.9.0: "
        f"{same} port in the same shape, {len(differs)} differ in shape and "
        f"{len(none)} have no Rust counterpart; the last column of each table "
        f"gives the reason. Every Rust spelling below compiles "
        f"(`tests/it/porting_table.rs`, generated from the same table), and a test "
        f"checks the table against the names the installed package exports."
    )


def render_doc(src: Source) -> str:
    out: list[str] = [
        "<!-- @generated by tools/porting/porting.py from tools/porting/porting.md.in; do not edit -->",
    ]
    rows = src.rows
    for part in src.parts:
        if isinstance(part, str):
            out.append(part.replace("<!-- porting-summary -->", summary(rows)))
            continue
        table = ["| Python | Rust | Shape |", "| --- | --- | --- |"]
        for r in part:
            rs = r.rs if r.rs else "—"
            table.append(f"| {cell(r.py)} | {cell(rs)} | {cell(r.shape)} |")
        out.append("\n".join(table))
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"


def expand(code: str, setups: dict[str, str], row: Row, depth: int = 0) -> str:
    if depth > 8:
        raise SourceError(f"{SOURCE}:{row.line}: setups refer to each other in a loop")

    def sub(m):
        name = m.group(1)
        if name not in setups:
            raise SourceError(f"{SOURCE}:{row.line}: unknown setup @{name}")
        return expand(setups[name], setups, row, depth + 1)
    return re.sub(r"@([a-z_][a-z0-9_]*)", sub, code)


def indent(code: str, by: str = "    ") -> str:
    return "\n".join(by + l if l.strip() else "" for l in code.split("\n"))


def render_test(src: Source) -> str:
    out = [
        "// @generated by tools/porting/porting.py from tools/porting/porting.md.in; do not edit",
        "",
        "//! Every Rust spelling of docs/porting.md compiles: one function per",
        "//! row, its setup and then its checks, type-checked against the crate.",
        "//! They are compiled, not run (some would need a running node); what",
        "//! the spellings do is tested elsewhere.",
        "",
        "#![cfg_attr(rustfmt, rustfmt::skip)]",
        "#![allow(unused, dead_code, unreachable_code, deprecated)]",
        "#![allow(clippy::all, clippy::pedantic)]",
        "",
    ]
    out.extend(src.prelude)
    out += [
        "",
        "type Checked = Result<(), Box<dyn std::error::Error + Send + Sync>>;",
        "",
    ]
    n = 0
    for r in src.rows:
        if not r.checks:
            continue
        n += 1
        body = "\n".join(expand(c, src.setups, r) for c in r.setup + r.checks)
        py = " ".join(r.py.split())
        out.append(f"/// Row at porting.md.in line {r.line}: {py.replace('*/', '* /')}")
        out.append(f"fn row_{r.line}() -> Checked {{")
        out.append(indent(body))
        out.append("    #[allow(unreachable_code)]")
        out.append("    Ok(())")
        out.append("}")
        out.append("")
    out += [
        "#[test]",
        "fn every_row_compiles() {",
        f"    // {n} rows are type-checked by compiling this file",
        "}",
        "",
    ]
    return "\n".join(out)


def write_or_check(path: str, text: str, check: bool) -> bool:
    old = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
    if old == text:
        return True
    if check:
        print(f"{os.path.relpath(path, REPO)} is stale: run python3 tools/porting/porting.py",
              file=sys.stderr)
        return False
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(path, REPO)}")
    return True


def resolves(name: str) -> bool:
    """Whether a dotted name is a module or an attribute of the installed package."""
    import importlib
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                # an attribute of instances only: a dataclass field or one
                # __init__ sets is not on the class
                fields = getattr(obj, "__dataclass_fields__", {})
                if attr in fields or attr in getattr(obj, "__annotations__", {}):
                    return True
                return False
            obj = getattr(obj, attr)
        return True
    return False


def check_names(src: Source) -> int:
    sys.path.insert(0, HERE)
    import python_names  # noqa: E402 (the installed python-diameter is needed here only)
    names = python_names.python_names()
    patterns = [(n, r) for r in src.rows for n in r.names]
    exact = {n for n, _ in patterns if "*" not in n}
    globs = [n for n, _ in patterns if "*" in n]
    missing = [n for n in names if n not in exact and not any(fnmatch.fnmatchcase(n, g) for g in globs)]
    known = set(names)
    stale = sorted({f"{n} (porting.md.in line {r.line})" for n, r in patterns
                    if "*" not in n and n not in known})
    unused = sorted({f"{g} (porting.md.in line {r.line})" for g, r in patterns
                     if "*" in g and not any(fnmatch.fnmatchcase(n, g) for n in names)})
    absent = sorted({f"{n} (porting.md.in line {r.line})" for r in src.rows for n in r.also
                     if not resolves(n)})
    for n in missing:
        print(f"no row names {n}", file=sys.stderr)
    for n in absent:
        print(f"not in the installed python-diameter: {n}", file=sys.stderr)
    for n in stale:
        print(f"not a python-diameter name: {n}", file=sys.stderr)
    for n in unused:
        print(f"pattern matches no python-diameter name: {n}", file=sys.stderr)
    rows = src.rows
    print(f"{len(names)} python names, {len(rows)} rows: "
          f"{sum(1 for r in rows if r.shape == 'same')} same shape, "
          f"{sum(1 for r in rows if r.differs)} differ, "
          f"{sum(1 for r in rows if r.none)} without counterpart; "
          f"{len(missing)} names without a row")
    return 1 if missing or stale or unused or absent else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="fail when the generated files are stale")
    ap.add_argument("--check-names", action="store_true",
                    help="fail when a python-diameter name has no row")
    args = ap.parse_args()
    try:
        src = parse()
    except SourceError as e:
        print(e, file=sys.stderr)
        return 1
    if args.check_names:
        return check_names(src)
    ok = write_or_check(DOC, render_doc(src), args.check)
    ok = write_or_check(TEST, render_test(src), args.check) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
