#!/usr/bin/env python3
"""Import check for src/node: no cycles between its files, and the layer rule.

Every `super::...`, `self::...` and `crate::node::...` path in a file under src/node is resolved
to the file (module) it names, following `pub use` re-exports, and becomes an edge
importer -> imported. The check fails when

- the graph has a cycle (a file that, through its imports, imports itself), or
- an edge goes against the layers below (a lower layer importing a higher one).

Layers, lowest first (a file may import its own layer and the ones below; `node/` alone is the
python-facing top, which may import everything):

  base      ids, uri, idhash, ratelimit, stats   (no thread, no protocol state)
  peer      node/peer/      the per-connection state machine
  settings  config, error, tls, proxy, routing   (what a node is told and reports; pure routing)
  shared    node/shared/    the seam: what crosses threads, data only
  core      node/core/      the protocol, sans-IO (core/agent/ inside it)
  app       node/app/       callers' and workers' threads
  io        node/io/        the event loop and the transports
  top       node/mod.rs, node/node.rs

`app` and `core` may not import each other: they meet only through `shared`.

Usage: tools/arch/imports.py [--graph] [--root src]
"""
import argparse
import os
import re
import sys

MODULES = set()
LAYERS = ["base", "peer", "settings", "shared", "core", "app", "io", "top"]
BASE = {"ids", "uri", "idhash", "ratelimit", "stats"}
SETTINGS = {"config", "error", "tls", "routing", "proxy"}
APART = {("app", "core"), ("core", "app")}

PATH_RE = re.compile(r"\b(?:crate::node|super(?:::super)*|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+")
USE_RE = re.compile(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?use\s+([^;]+);", re.S | re.M)


def module_of(root, path):
    rel = os.path.relpath(path, root)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib"):
        rel = rel[:-1]
    return tuple(rel)


def layer(mod):
    # mod: ('node', ...)
    if len(mod) == 1 or mod[1:] == ("core", "sim"):
        # the node, and the simulator that stands in for it in tests
        return "top"
    head = mod[1]
    if head in ("peer", "shared", "core", "app", "io"):
        return head
    if head in BASE:
        return "base"
    if head in SETTINGS:
        return "settings"
    if head == "node":
        return "top"
    return "top"


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    # unit tests (an inline `mod tests` at the end of a file) are not part of the picture, and
    # their `super::` means the file itself
    m = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
    return text[: m.start()] if m else text


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s*(::|\{|\}|,)\s*", r"\1", re.sub(r"\s+", " ", tree.strip()))
    out = []

    def walk(prefix, s):
        depth, start, parts = 0, 0, []
        for i, ch in enumerate(s):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(s[start:i])
                start = i + 1
        parts.append(s[start:])
        for p in parts:
            if not p:
                continue
            if "{" in p:
                head, rest = p.split("{", 1)
                walk(prefix + head, rest[:-1])
            else:
                out.append(prefix + p)

    walk("", tree)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="src")
    ap.add_argument("--graph", action="store_true", help="print every edge")
    args = ap.parse_args()
    node_dir = os.path.join(args.root, "node")
    files = {}
    for dirpath, _, names in os.walk(node_dir):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(dirpath, n)
                files[module_of(args.root, p)] = strip_comments(open(p, encoding="utf-8").read())
    modules = set(files)
    MODULES.update(modules)

    # re-exports: (module, name) -> full path it stands for
    reexports = {}
    for mod, text in files.items():
        for m in USE_RE.finditer(text):
            if not re.match(r"\s*pub", m.group(0)):
                continue
            for item in expand_use(m.group(1)):
                alias = None
                if " as " in item:
                    item, alias = item.rsplit(" as ", 1)
                full = resolve_rel(mod, item)
                if full is None:
                    continue
                name = alias or full[-1]
                if name != "*":
                    reexports[(mod, name)] = full

    def to_module(full, seen=0):
        # longest prefix that is a module; follow re-exports of the item after it
        for k in range(len(full), 0, -1):
            pre = tuple(full[:k])
            if pre in modules:
                if k < len(full) and (pre, full[k]) in reexports and seen < 8:
                    target = reexports[(pre, full[k])] + list(full[k + 1:])
                    if tuple(target[:k]) != pre or len(target) > k:
                        return to_module(target, seen + 1)
                return pre
        return None

    edges = {}
    for mod, text in files.items():
        # a module's `pub use` of its own children is its facade, not an import
        facade = set()
        body = text
        for m in USE_RE.finditer(text):
            public = re.match(r"\s*pub", m.group(0)) is not None
            for item in expand_use(m.group(1)):
                (facade if public else set()).add(item.split(" as ")[0])
            if public:
                body = body.replace(m.group(0), "")
        blocks = inline_mods(body)
        refs = set()
        for m in PATH_RE.finditer(body):
            refs.add((m.group(0), inner_path(blocks, m.start())))
        for m in USE_RE.finditer(body):
            for item in expand_use(m.group(1)):
                refs.add((item.split(" as ")[0], inner_path(blocks, m.start())))
        for item in facade:
            full = resolve_rel(mod, item)
            target = to_module(full) if full else None
            if target and target[: len(mod)] != mod:
                refs.add((item, ()))
        for ref, inner in refs:
            if ref.endswith("::self"):
                ref = ref[: -len("::self")]
            full = resolve_rel(tuple(mod) + inner, ref)
            if full is None:
                continue
            target = to_module(full)
            if target is None or target == mod:
                continue
            # a parent module declaring its children is not an import
            if target[: len(mod)] == mod and mod_declares(files[mod], target[len(mod)]):
                if not re.search(r"\b" + re.escape(target[len(mod)]) + r"::", strip_mod_decls(files[mod])):
                    continue
            edges.setdefault(mod, set()).add(target)

    name = lambda m: "/".join(m)  # noqa: E731
    bad = 0
    if args.graph:
        for a in sorted(edges):
            for b in sorted(edges[a]):
                print(f"{name(a)} -> {name(b)}")
    # layer rule
    for a in sorted(edges):
        for b in sorted(edges[a]):
            la, lb = layer(a), layer(b)
            if (la, lb) in APART or LAYERS.index(lb) > LAYERS.index(la):
                print(f"layer: {name(a)} ({la}) imports {name(b)} ({lb})")
                bad += 1
    # cycles (Tarjan)
    cycles = scc(modules, edges)
    for comp in cycles:
        print("cycle: " + " <-> ".join(sorted(name(m) for m in comp)))
        bad += 1
    print(f"{len(modules)} files, {sum(len(v) for v in edges.values())} imports, "
          f"{len(cycles)} cycles, {bad} problems")
    return 1 if bad else 0


def inline_mods(text):
    """(start, end, name) of each inline `mod name { ... }` block."""
    out = []
    for m in re.finditer(r"\bmod\s+(\w+)\s*\{", text):
        depth, i = 0, m.end() - 1
        while i < len(text):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        out.append((m.start(), i, m.group(1)))
    return out


def inner_path(blocks, pos):
    return tuple(name for start, end, name in blocks if start < pos < end)


def mod_declares(text, child):
    return re.search(r"\bmod\s+" + re.escape(child) + r"\b", text) is not None


def strip_mod_decls(text):
    return re.sub(r"(?m)^\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([a-z]+\))?\s+)?mod\s+\w+\s*;", "", text)


def resolve_rel(mod, ref):
    parts = ref.split("::")
    if parts[0] == "crate":
        if len(parts) > 1 and parts[1] == "node":
            return parts[1:]
        return None
    cur = list(mod)
    if parts[0] == "self":
        parts = parts[1:]
    elif parts[0] == "super":
        while parts and parts[0] == "super":
            cur = cur[:-1]
            parts = parts[1:]
    elif tuple(cur + parts[:1]) in MODULES:
        pass  # a child module named without `self::` (a `use` in a mod.rs)
    else:
        return None
    if not cur or cur[0] != "node":
        return None
    return cur + parts


def scc(nodes, edges):
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


if __name__ == "__main__":
    sys.exit(main())
