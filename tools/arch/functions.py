#!/usr/bin/env python3
"""The longest functions under a folder (default src/node), by lines from `fn` to its closing
brace, tests excluded. Usage: tools/arch/functions.py [--root src/node] [--over 80] [--top 15]
Exits 1 when a function is longer than --over and --check is given."""
import argparse
import os
import re
import sys

FN = re.compile(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?(?:const\s+)?(?:unsafe\s+)?fn\s+(\w+)")


def functions(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    out, owner = [], None
    end = len(lines)
    for i, line in enumerate(lines):
        if re.match(r"\s*#\[cfg\(test\)\]", line) and i + 1 < len(lines) and re.match(r"\s*mod\s", lines[i + 1]):
            end = i
            break
    i = 0
    while i < end:
        m = FN.match(lines[i])
        im = re.match(r"^impl(?:<[^>]*>)?\s+(?:[\w:<>, ]+\s+for\s+)?([\w:]+)", lines[i])
        if im:
            owner = im.group(1)
        if not m:
            i += 1
            continue
        depth, started, j = 0, False, i
        while j < end:
            code = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])\'|//.*', "", lines[j])
            depth += code.count("{") - code.count("}")
            if "{" in code:
                started = True
            if started and depth <= 0:
                break
            if not started and code.rstrip().endswith(";"):
                break
            j += 1
        name = f"{owner}::{m.group(1)}" if owner and lines[i].startswith("    ") else m.group(1)
        out.append((j - i + 1, name, path, i + 1))
        i = j + 1 if started else i + 1
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="src/node")
    ap.add_argument("--over", type=int, default=80)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    found = []
    for d, _, names in os.walk(a.root):
        for n in names:
            if n.endswith(".rs"):
                found += functions(os.path.join(d, n))
    found.sort(reverse=True)
    for n, name, path, line in found[: a.top]:
        print(f"{n:5} {name}  {path}:{line}")
    over = [f for f in found if f[0] > a.over]
    print(f"{len(found)} functions, {len(over)} over {a.over} lines")
    return 1 if a.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
