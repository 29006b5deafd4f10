#!/usr/bin/env python3
"""Run freeDiameterd (Debian's freediameterd 1.2.x) as a test peer.

Writes a configuration, a self-signed certificate (freeDiameter refuses to
start without TLS_Cred even when no TLS is used) and, for the server role, an
acl_wl whitelist into a fresh temporary directory, then runs
`freeDiameterd -c <dir>/freeDiameter.conf` in the foreground. Every line that
freeDiameterd prints goes to stdout unchanged, and the lines that matter are
also translated into the EVENT vocabulary of python_peer.py:

    EVENT started identity=fd.example.test realm=example.test port=3868 pid=123
    EVENT recv CER from=py.example.test origin=py.example.test
    EVENT sent CEA to=py.example.test result=2001
    EVENT state peer=py.example.test from=STATE_CLOSED to=STATE_OPEN
    EVENT ready peer=py.example.test
    EVENT sent DWR to=py.example.test
    EVENT recv DWA from=py.example.test result=2001
    EVENT recv DPR from=py.example.test cause=0
    EVENT sent DPA to=py.example.test result=2001
    EVENT disconnected peer=py.example.test state=STATE_ZOMBIE
    EVENT connect-failed peer=py.example.test reason=...
    EVENT stopping reason=stdin-closed
    EVENT stopped rc=0

Roles:
  server  listen on --port (all addresses: freeDiameter ignores loopback
          addresses in ListenOn) and accept the peers whose Diameter identity
          matches an --allow pattern (acl_wl extension, "ALLOW_IPSEC" so that
          connections without TLS are accepted).
  client  ConnectPeer to --peer at --peer-host:--peer-port, without TLS. The
          peer's CEA must carry Origin-Host == --peer, or freeDiameter drops it.
          --port defaults to 0 (no listening socket).

freeDiameterd stops (SIGTERM: DPR to every open peer, then exit) on SIGTERM
or SIGINT, when standard input is a pipe that reaches EOF or receives the
line "stop", or after --duration seconds; it is killed if it is still running
--stop-timeout seconds later, or if this script dies.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time

COMMANDS = {
    257: ("CER", "CEA"),
    258: ("RAR", "RAA"),
    265: ("AAR", "AAA"),
    271: ("ACR", "ACA"),
    272: ("CCR", "CCA"),
    274: ("ASR", "ASA"),
    275: ("STR", "STA"),
    280: ("DWR", "DWA"),
    282: ("DPR", "DPA"),
}

# dbg_msg_dumps parameter: errors compact (0x0002), send/receive in full, one
# line per message with every AVP (0x0040), routing compact (0x0200), peer
# connections compact (0x2000).
DEFAULT_DUMP = "0x2242"

# "22:52:55  NOTI   RCV from 'py.example.test': Capabilities-Exchange-Answer(257)[----], ..."
MSG_RE = re.compile(r"\b(RCV from|SND to|SENT to) '(?P<peer>[^']*)': (?P<body>.*)$")
# full dump: "Name(257)[R---]" ; compact dump: "'Name'0/257 f:R---" or "(no model)0/257 f:R---"
# (and "(no model) unknown(4/272)[RP--]" for commands not in the dictionary)
FULL_RE = re.compile(r"^[^,{]*?\((?:\d+/)?(?P<code>\d+)\)\[(?P<flags>[RPET-]{4})\]")
COMPACT_RE = re.compile(r"(?P<app>\d+)/(?P<code>\d+) f:(?P<flags>[RPET-]{4})")
ORIGIN_RE = re.compile(r"Origin-Host\(264\)\[[^\]]*\]=\"(?P<v>[^\"]*)\"")
RESULT_RE = re.compile(r"Result-Code\(268\)\[[^\]]*\]=(?:'[^']*'\s*\()?(?P<v>\d+)")
CAUSE_RE = re.compile(r"Disconnect-Cause\(273\)\[[^\]]*\]=(?:'[^']*'\s*\()?(?P<v>\d+)")
# "'STATE_WAITCEA'	-> 'STATE_OPEN'	'py.example.test'" and
# "'STATE_CLOSED'	-> STATE_ZOMBIE (terminated)	'py.example.test'"
STATE_RE = re.compile(r"'(?P<old>STATE_[A-Z_]+)'\s+->\s+'?(?P<new>STATE_[A-Z_]+)'?[^']*'(?P<peer>[^']*)'")
CONNECT_FAILED_RE = re.compile(r"CONNECT FAILED to (?P<peer>\S+): (?P<reason>.*)$")
INITIALIZED_RE = re.compile(r"freeDiameterd daemon initialized\.")

_out_lock = threading.Lock()


def out(line: str) -> None:
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def event(text: str) -> None:
    out(f"EVENT {text}")


def translate(line: str, started_info: str, open_peers: set[str]) -> list[str]:
    """EVENT texts for one line of freeDiameterd output.

    open_peers holds the peers last seen entering STATE_OPEN; it is updated.
    """
    events = []
    m = MSG_RE.search(line)
    if m:
        body = m.group("body")
        h = FULL_RE.search(body) or COMPACT_RE.search(body)
        if h:
            code = int(h.group("code"))
            is_request = h.group("flags")[0] == "R"
            req, ans = COMMANDS.get(code, (f"CMD{code}R", f"CMD{code}A"))
            name = req if is_request else ans
            peer = m.group("peer")
            origin = ORIGIN_RE.search(body)
            parts = []
            if m.group(1) == "RCV from":
                sender = peer
                if sender.startswith("<") and origin:
                    sender = origin.group("v")
                parts.append(f"recv {name} from={sender.replace(' ', '_')}")
                if code == 257 and origin:
                    parts.append(f"origin={origin.group('v')}")
            else:
                parts.append(f"sent {name} to={peer.replace(' ', '_')}")
            for regex, key in ((RESULT_RE, "result"), (CAUSE_RE, "cause")):
                v = regex.search(body)
                if v:
                    parts.append(f"{key}={v.group('v')}")
            if h.group("flags")[2] == "E":
                parts.append("error_bit=1")
            events.append(" ".join(parts))
        return events
    m = STATE_RE.search(line)
    if m:
        peer, old, new = m.group("peer"), m.group("old"), m.group("new")
        events.append(f"state peer={peer} from={old} to={new}")
        if new == "STATE_OPEN":
            open_peers.add(peer)
            events.append(f"ready peer={peer}")
        elif new in ("STATE_CLOSED", "STATE_ZOMBIE") and peer in open_peers:
            # freeDiameter logs only some transitions at its default level
            # (e.g. OPEN -> CLOSING_GRACE, then CLOSED -> ZOMBIE).
            open_peers.discard(peer)
            events.append(f"disconnected peer={peer} state={new}")
        return events
    m = CONNECT_FAILED_RE.search(line)
    if m:
        events.append(f"connect-failed peer={m.group('peer')} "
                      f"reason={m.group('reason').strip().replace(' ', '_')}")
        return events
    if INITIALIZED_RE.search(line):
        events.append(f"started {started_info}")
    return events


def make_certificate(workdir: str, identity: str) -> tuple[str, str]:
    cert = os.path.join(workdir, "cert.pem")
    key = os.path.join(workdir, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={identity}"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        timeout=60)
    return cert, key


def write_config(args, workdir: str) -> str:
    cert, key = make_certificate(workdir, args.identity)
    lines = [
        "# Generated by tests/interop/freediameter.py",
        f'Identity = "{args.identity}";',
        f'Realm = "{args.realm}";',
        f"Port = {args.port};",
        "SecPort = 0;",
        "No_SCTP;",
        "No_IPv6;",
        "Prefer_TCP;",
        f"TcTimer = {args.tc};",
        f"TwTimer = {args.tw};",
        f'TLS_Cred = "{cert}", "{key}";',
        f'TLS_CA = "{cert}";',
    ]
    if args.no_relay:
        lines.append("NoRelay;")
    if args.listen_on:
        lines.append(f'ListenOn = "{args.listen_on}";')
    allow = list(args.allow)
    if args.role == "server" and not allow:
        allow = [f"*.{args.realm}"]
    if allow:
        acl = os.path.join(workdir, "acl_wl.conf")
        with open(acl, "w") as f:
            f.write("# Generated by tests/interop/freediameter.py\n")
            f.write("ALLOW_IPSEC " + " ".join(allow) + "\n")
        lines.append(f'LoadExtension = "acl_wl.fdx" : "{acl}";')
    if args.dict_dcca:
        for ext in ("dict_nasreq.fdx", "dict_dcca.fdx", "dict_dcca_3gpp.fdx"):
            lines.append(f'LoadExtension = "{ext}";')
    for ext in args.extension:
        name, sep, conf = ext.partition(":")
        lines.append(f'LoadExtension = "{name}"' + (f' : "{conf}"' if sep else "") + ";")
    if args.dump != "none":
        lines.append(f'LoadExtension = "dbg_msg_dumps.fdx" : "{args.dump}";')
    if args.role == "client":
        params = [f'ConnectTo = "{args.peer_host}";', f"Port = {args.peer_port};",
                  "No_TLS;", "No_SCTP;", f"TcTimer = {args.tc};"]
        if args.peer_tw:
            params.append(f"TwTimer = {args.peer_tw};")
        if args.peer_realm:
            params.append(f'Realm = "{args.peer_realm}";')
        lines.append(f'ConnectPeer = "{args.peer}" {{ {" ".join(params)} }};')
    conf = os.path.join(workdir, "freeDiameter.conf")
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    return conf


def _die_with_parent():
    """Runs in the child before exec: SIGKILL it if this wrapper dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort
        pass
    os.setpgid(0, 0)


def watch_stdin(stop: threading.Event, reasons: list[str]):
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return

    def reader():
        for line in sys.stdin:
            if line.strip() == "stop":
                reasons.append("stdin-stop")
                stop.set()
                return
        reasons.append("stdin-closed")
        stop.set()

    threading.Thread(target=reader, name="stdin-watch", daemon=True).start()


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--role", choices=("server", "client"), required=True)
    p.add_argument("--identity", required=True, help="Diameter Identity (FQDN)")
    p.add_argument("--realm", help="Realm (default: the domain part of --identity)")
    p.add_argument("--port", type=int, help="listening port (server: required; client: default 0, none)")
    p.add_argument("--listen-on", help="ListenOn address (loopback addresses are ignored by freeDiameter)")
    p.add_argument("--allow", action="append", default=[],
                   help="acl_wl pattern of accepted peers, e.g. *.example.test "
                        "(server default: *.<realm>); repeatable")
    p.add_argument("--peer", help="client: Diameter Identity of the peer (must equal its CEA Origin-Host)")
    p.add_argument("--peer-host", default="127.0.0.1")
    p.add_argument("--peer-port", type=int, help="client: the peer's port")
    p.add_argument("--peer-realm", help="client: reject the peer unless it advertises this realm")
    p.add_argument("--tc", type=int, default=2, help="TcTimer, reconnect delay in s (default 2)")
    p.add_argument("--tw", type=int, default=6,
                   help="global TwTimer in s (watchdog), freeDiameter's minimum is 6 (default 6)")
    p.add_argument("--peer-tw", type=int, default=0,
                   help="client: the ConnectPeer's own TwTimer, may be below 6")
    p.add_argument("--no-relay", action="store_true",
                   help="NoRelay: freeDiameter then advertises no application at all "
                        "and refuses peers with DIAMETER_NO_COMMON_APPLICATION")
    p.add_argument("--dict-dcca", action="store_true",
                   help="load dict_nasreq, dict_dcca and dict_dcca_3gpp (dictionary only)")
    p.add_argument("--extension", action="append", default=[],
                   help="extra LoadExtension NAME[:CONF]; repeatable")
    p.add_argument("--dump", default=DEFAULT_DUMP,
                   help=f"dbg_msg_dumps parameter, or none (default {DEFAULT_DUMP})")
    p.add_argument("--debug", type=int, default=2,
                   help="pass -d this many times (default 2: adds DBG lines such as every "
                        "state transition; 0 keeps NOTI and above)")
    p.add_argument("--binary", default="freeDiameterd")
    p.add_argument("--duration", type=float, default=60, help="stop after this many seconds at most")
    p.add_argument("--stop-timeout", type=float, default=20,
                   help="kill freeDiameterd if still running this long after SIGTERM "
                        "(it waits up to 16 s for its peers)")
    p.add_argument("--dir", help="write the files here and keep them (default: a temporary directory, removed)")
    p.add_argument("--show-config", action="store_true", help="print the configuration (CONF lines)")
    p.add_argument("--write-only", action="store_true", help="write the files, print the command, do not run")
    args = p.parse_args(argv)
    if args.realm is None:
        if "." not in args.identity:
            p.error("--realm is required when --identity has no domain part")
        args.realm = args.identity.split(".", 1)[1]
    if args.tw < 6:
        p.error("--tw must be at least 6 (freeDiameter rejects smaller global TwTimer); "
                "use --peer-tw for a client's peer")
    if args.role == "server":
        if not args.port:
            p.error("--port is required for --role server")
    else:
        if not args.peer or not args.peer_port:
            p.error("--peer and --peer-port are required for --role client")
        if args.port is None:
            args.port = 0
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.dir:
        workdir = args.dir
        os.makedirs(workdir, exist_ok=True)
        cleanup = False
    else:
        workdir = tempfile.mkdtemp(prefix="fd-interop-")
        cleanup = True
    try:
        conf = write_config(args, workdir)
        cmd = [args.binary, "-c", conf] + ["-d"] * args.debug
        if args.show_config or args.write_only:
            with open(conf) as f:
                for line in f:
                    out("CONF " + line.rstrip("\n"))
        if args.write_only:
            out("COMMAND " + " ".join(cmd))
            cleanup = False
            return 0
        # freeDiameterd reads every file at startup: remove them once it runs.
        return run(args, cmd, workdir if cleanup else None)
    finally:
        if cleanup:
            shutil.rmtree(workdir, ignore_errors=True)


def run(args, cmd, remove_when_started: str | None) -> int:
    stop = threading.Event()
    reasons: list[str] = []

    def on_signal(signum, _frame):
        reasons.append(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    started_info = (f"identity={args.identity} realm={args.realm} "
                    f"port={args.port} pid={proc.pid}")

    def pump():
        open_peers: set[str] = set()
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            out(line)
            for text in translate(line, started_info, open_peers):
                event(text)
                if text.startswith("started ") and remove_when_started:
                    shutil.rmtree(remove_when_started, ignore_errors=True)

    reader = threading.Thread(target=pump, name="fd-output", daemon=True)
    reader.start()
    watch_stdin(stop, reasons)

    deadline = time.monotonic() + args.duration
    while proc.poll() is None:
        if stop.wait(0.1):
            break
        if time.monotonic() >= deadline:
            reasons.append("duration")
            break

    requested = proc.poll() is None
    if requested:
        event(f"stopping reason={reasons[0] if reasons else 'unknown'}")
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=args.stop_timeout)
        except subprocess.TimeoutExpired:
            event(f"error freeDiameterd still running {args.stop_timeout}s after SIGTERM, killing it")
            proc.kill()
            proc.wait()
    else:
        event("error freeDiameterd exited by itself")
    reader.join(timeout=5)
    rc = proc.returncode
    event(f"stopped rc={rc}")
    if requested:
        return 0 if rc == 0 else 1
    return rc if rc else 1


if __name__ == "__main__":
    sys.exit(main())
