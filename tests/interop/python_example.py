#!/usr/bin/env python3
"""Runs one of python-diameter's own examples, as shipped in its source
distribution, for the tests of the Rust ports (tests/it/python_examples.rs).

The script is run as `__main__` with its text unchanged but for the literals
given with --replace (its ports and peer addresses, so that tests can use
free loopback ports): each OLD must occur in the script, or this exits with
status 2 before running anything. A guide page (a .md file) stands for the
last python code block it holds, its complete script.

    python_example.py --sdist-dir DIR --fetch-only
    python_example.py --sdist-dir DIR --script examples/idle_server.py \\
        --replace tcp_port=6090 tcp_port=40001

With --start-with-applications, the script's `node.start()` takes effect
only once the script has called `node.add_application(...)`. The SMS client
example (and the guide's script) starts its node first and adds its
application after: python-diameter connects at once, and on loopback its
CER can leave before the application is added, advertising none, which a
Credit-Control server rejects (5010); the script then waits 30 s for a
reconnection that comes after 30 s. Against a remote peer the connection
takes long enough to hide that race. Nothing else in the script changes.

DIR caches the unpacked source distribution of python-diameter 0.9.0
(DIR/python_diameter-0.9.0); when it is not there yet, it is fetched with
`pip download --no-binary :all:` and unpacked. --fetch-only stops there
(exit status 0 when the examples are available).
"""
from __future__ import annotations

import argparse
import fcntl
import os
import re
import subprocess
import sys
import tarfile

VERSION = "0.9.0"
NAME = f"python_diameter-{VERSION}"


def sdist(cache: str) -> str:
    """The unpacked source distribution, fetched into `cache` if missing
    (under a lock: tests running at once fetch it once)."""
    folder = os.path.join(cache, NAME)
    marker = os.path.join(folder, "examples", "idle_server.py")
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.isfile(marker):
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet",
                            "--no-deps", "--no-binary", ":all:", "--dest", cache,
                            f"python-diameter=={VERSION}"], check=True)
            with tarfile.open(os.path.join(cache, f"{NAME}.tar.gz")) as tar:
                tar.extractall(cache, filter="data")
    return folder


def script_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".md"):
        blocks = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
        if not blocks:
            sys.exit(f"python_example.py: no python block in {path}")
        text = blocks[-1]
    return text


def start_with_applications() -> None:
    """Defers Node.start() until the next Node.add_application() returns."""
    from diameter.node import Node

    real_start = Node.start
    real_add_application = Node.add_application
    deferred: set[int] = set()

    def start(self, *args, **kwargs):
        deferred.add(id(self))

    def add_application(self, *args, **kwargs):
        result = real_add_application(self, *args, **kwargs)
        if id(self) in deferred:
            deferred.discard(id(self))
            real_start(self)
        return result

    Node.start = start
    Node.add_application = add_application


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sdist-dir", required=True)
    p.add_argument("--fetch-only", action="store_true")
    p.add_argument("--script", help="path inside the source distribution")
    p.add_argument("--replace", nargs=2, action="append", default=[],
                   metavar=("OLD", "NEW"))
    p.add_argument("--start-with-applications", action="store_true",
                   help="start the node once the script added an application")
    args = p.parse_args()

    folder = sdist(args.sdist_dir)
    if args.fetch_only:
        return
    if not args.script:
        p.error("--script is needed")
    path = os.path.join(folder, args.script)
    text = script_text(path)
    for old, new in args.replace:
        if old not in text:
            print(f"python_example.py: {old!r} is not in {args.script}",
                  file=sys.stderr)
            sys.exit(2)
        text = text.replace(old, new)
    if args.start_with_applications:
        start_with_applications()
    code = compile(text, path, "exec")
    exec(code, {"__name__": "__main__", "__file__": path})


if __name__ == "__main__":
    main()
