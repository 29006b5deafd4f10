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
    EVENT connected peer=py.example.test transport=TCP,TLS
    EVENT tls-established peer=py.example.test mode=connect   (or mode=inband)
    EVENT tls-failed reason=Error_in_the_certificate.
    EVENT tls-cert-error reason=name-mismatch expected=py.example.test
    EVENT tls-error reason=The_TLS_connection_was_non-properly_terminated.
    EVENT error assertion-failed where=p_psm.c:447 what=...
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
Either role may also connect to more peers (--connect IDENTITY:PORT, at
--peer-host, without TLS) and load rt_default with routing rules (--route):
a server that connects to servers is freeDiameter as a relay agent (it
advertises the relay application unless --no-relay).

TLS (all optional; without these flags nothing changes):
  --tls-cert/--tls-key/--tls-ca  freeDiameter's TLS_Cred and TLS_CA instead of
          the throw-away self-signed certificate. freeDiameter refuses to start
          unless the certificate chains to TLS_CA and is valid for --identity
          (gnutls_x509_crt_check_hostname: subjectAltName DNS, else CN).
          Peers' certificates must chain to TLS_CA; GnuTLS requires a client
          certificate from every TLS client (GNUTLS_CERT_REQUIRE).
  --sec-port N  SecPort: a listener where TLS starts at once (RFC 6733
          "TLS from connect"), next to the cleartext --port (which may be 0
          then). freeDiameter, as TLS server, verifies only the client's
          chain: the client certificate's names are never compared with the
          CER's Origin-Host (acl_wl accepts any whitelisted identity once TLS
          is up, with or without ALLOW_* flags). A CER received over TLS
          must not offer Inband-Security-Id 1: freeDiameter echoes it in the
          CEA and then starts a second (in-band) TLS handshake inside the TLS
          connection, which fails and aborts freeDiameterd (see below).
  --tls-prio S  TLS_Prio (GnuTLS priority string). freeDiameter's default is
          "NORMAL", with Debian's GnuTLS 3.7.9: TLS 1.3, 1.2, 1.1 and 1.0;
          preferred TLS 1.3 TLS_AES_256_GCM_SHA384 (also AES-128-GCM,
          CHACHA20-POLY1305, AES-128-CCM), TLS 1.2 ECDHE-ECDSA-AES256-GCM-SHA384
          (also AES-128-GCM, CHACHA20-POLY1305, CBC suites), key share X25519.
  --peer-tls {none,connect,inband}
      client role, the ConnectPeer's security:
        none     No_TLS: cleartext to --peer-port (the default, as before);
                 the CER carries Inband-Security-Id 0.
        connect  TLS from the first byte to --peer-port (freeDiameter is the
                 TLS client; it checks that the server's certificate is valid
                 for --peer with gnutls_x509_crt_check_hostname). The CER has
                 no Inband-Security-Id.
        inband   TLS_old_method (RFC 3588): cleartext to --peer-port, the CER
                 carries Inband-Security-Id 1 (TLS); as soon as a successful
                 CEA arrives freeDiameter starts the TLS handshake as TLS
                 client (also when the CEA has no Inband-Security-Id or only
                 0), checking the server's certificate against --peer as in
                 connect. Nothing else is sent in cleartext after the CEA.
      server role, the acl_wl flag of the --allow patterns, which decides how
      a cleartext connection on --port is treated (TLS connections on
      --sec-port are accepted in every mode):
        none     ALLOW_IPSEC (the default, as before): cleartext accepted.
                 A CER offering Inband-Security-Id 1 (TLS) is still answered
                 by a CEA without Inband-Security-Id, and the connection
                 stays in cleartext (no TLS).
        inband   ALLOW_OLD_TLS: the CER must offer Inband-Security-Id 1; the
                 CEA (Result-Code 2001, Inband-Security-Id 1) is sent in
                 cleartext and freeDiameter then waits for the TLS handshake
                 as TLS server: the Diameter connection initiator is the TLS
                 client. A CER without Inband-Security-Id 1 gets
                 DIAMETER_NO_COMMON_SECURITY (5017). (ALLOW_OLD_TLS together
                 with ALLOW_IPSEC means ALLOW_IPSEC for acl_wl.)
        connect  no flag: only TLS-protected connections (--sec-port) are
                 accepted; a cleartext CER on --port is refused with
                 DIAMETER_UNKNOWN_PEER.

TLS events: "connected" (every connection, once its CER/CEA succeeds), then
"tls-established" for a TLS connection (mode=connect: TLS from the first
byte; mode=inband: the handshake after CER/CEA succeeded). A failed handshake
gives "tls-failed" (GnuTLS's message), preceded by "tls-cert-error" when
freeDiameter refused the peer's certificate (reason unknown-issuer,
name-mismatch with expected=<name>, expired, ...), and followed by
"connect-failed" (peer=<unknown_peer> for an incoming connection on the
SecPort). "tls-error" is a failure of an established TLS connection; a peer
that closes TCP without a TLS close_notify gives
"tls-error reason=The_TLS_connection_was_non-properly_terminated.".

freeDiameter 1.2.1 aborts (SIGABRT, "EVENT error assertion-failed
where=p_psm.c:447 ...", then "EVENT error freeDiameterd exited by itself")
when an in-band (TLS_old_method / ALLOW_OLD_TLS) handshake fails, in the
client and in the server role, and when a CER over a SecPort connection
offers Inband-Security-Id 1: the peer state machine is left in
STATE_OPEN_HANDSHAKE. A failed handshake on the SecPort or at connect is
survived: the server closes the connection; a client logs "connect-failed
... reason=TLS_Handshake_failed" and leaves the peer in STATE_WAITCNXACK (no
new attempt was seen within 6 s).

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
CONNECT_FAILED_RE = re.compile(r"CONNECT FAILED to (?P<peer><unknown peer>|\S+): (?P<reason>.*)$")
INITIALIZED_RE = re.compile(r"freeDiameterd daemon initialized\.")
# "CONNECTED TO 'py.example.test' (TCP,TLS,soc#5)" (TLS only when TLS started
# at connect; in-band TLS shows as STATE_OPEN_HANDSHAKE -> STATE_OPEN).
CONNECTED_RE = re.compile(r"CONNECTED TO '(?P<peer>[^']*)' \((?P<transport>[^)]*?),soc#\d+\)")
# "TLS ERROR: in 'ret = gnutls_handshake(conn->cc_tls_para.session)' :\tError in the certificate."
TLS_HANDSHAKE_RE = re.compile(r"TLS ERROR: in '[^']*gnutls_handshake\([^']*' :\s*(?P<reason>.*)$")
# "Fatal GNUTLS error: The TLS connection was non-properly terminated." (a
# record-layer failure; the "TLS ERROR: in '...gnutls_record_recv...'" lines
# before it include harmless "Resource temporarily unavailable" ones)
TLS_FATAL_RE = re.compile(r"Fatal GNUTLS error: (?P<reason>.*)$")
# After "TLS: Remote certificate invalid on socket N (...)" (and at startup for
# freeDiameter's own certificate): " - The certificate hasn't got a known
# issuer." / " - The certificate hostname does not match 'py.example.test'"
TLS_CERT_RE = re.compile(r"\s- The certificate (?P<what>.*?)\.?$")
TLS_CERT_REASONS = (
    ("hostname does not match", "name-mismatch"),
    ("hasn't got a known issuer", "unknown-issuer"),
    ("has been revoked", "revoked"),
    ("has expired", "expired"),
    ("is not yet activated", "not-activated"),
    ("signer is not a CA", "signer-not-ca"),
    ("signature uses a weak algorithm", "weak-algorithm"),
)
EXPECTED_NAME_RE = re.compile(r"does not match '(?P<name>[^']*)'")
# "freeDiameterd: ./libfdcore/p_psm.c:447: p_psm_th: Assertion `cur_state !=
# STATE_OPEN_HANDSHAKE' failed." (freeDiameter 1.2.1 aborts so when an
# in-band TLS handshake fails, on either side)
ASSERT_RE = re.compile(r"(?P<where>[\w./-]+:\d+): [^:]*: Assertion `(?P<what>.*)' failed")

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
        if old == "STATE_OPEN_HANDSHAKE" and new in ("STATE_OPEN", "STATE_REOPEN"):
            events.append(f"tls-established peer={peer} mode=inband")
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
        events.append(f"connect-failed peer={m.group('peer').replace(' ', '_')} "
                      f"reason={m.group('reason').strip().replace(' ', '_')}")
        return events
    if INITIALIZED_RE.search(line):
        events.append(f"started {started_info}")
        return events
    m = CONNECTED_RE.search(line)
    if m:
        transport = m.group("transport")
        events.append(f"connected peer={m.group('peer')} transport={transport}")
        if "TLS" in transport.split(","):
            events.append(f"tls-established peer={m.group('peer')} mode=connect")
        return events
    m = TLS_HANDSHAKE_RE.search(line)
    if m:
        events.append(f"tls-failed reason={_word(m.group('reason'))}")
        return events
    m = TLS_FATAL_RE.search(line)
    if m:
        events.append(f"tls-error reason={_word(m.group('reason'))}")
        return events
    m = TLS_CERT_RE.search(line)
    if m:
        what = m.group("what")
        reason = next((r for text, r in TLS_CERT_REASONS if text in what), _word(what))
        text = f"tls-cert-error reason={reason}"
        expected = EXPECTED_NAME_RE.search(what)
        if expected:
            text += f" expected={expected.group('name')}"
        events.append(text)
        return events
    m = ASSERT_RE.search(line)
    if m:
        events.append(f"error assertion-failed where={m.group('where').rsplit('/', 1)[-1]} "
                      f"what={_word(m.group('what'))}")
    return events


def _word(text: str) -> str:
    """One EVENT field value: spaces (and tabs) become underscores."""
    return "_".join(text.strip().split())


def make_certificate(workdir: str, identity: str) -> tuple[str, str]:
    cert = os.path.join(workdir, "cert.pem")
    key = os.path.join(workdir, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={identity}"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        timeout=60)
    return cert, key


# acl_wl flag of the server role's --allow patterns, per --peer-tls.
ACL_FLAGS = {"none": "ALLOW_IPSEC ", "inband": "ALLOW_OLD_TLS ", "connect": ""}
# ConnectPeer parameter of the client role, per --peer-tls.
PEER_TLS_PARAMS = {"none": ["No_TLS;"], "inband": ["TLS_old_method;"], "connect": []}


def write_config(args, workdir: str) -> str:
    if args.tls_cert:
        cert, key, ca = (os.path.abspath(f) for f in (args.tls_cert, args.tls_key, args.tls_ca))
    else:
        cert, key = make_certificate(workdir, args.identity)
        ca = cert
    lines = [
        "# Generated by tests/interop/freediameter.py",
        f'Identity = "{args.identity}";',
        f'Realm = "{args.realm}";',
        f"Port = {args.port};",
        f"SecPort = {args.sec_port};",
        "No_SCTP;",
        "No_IPv6;",
        "Prefer_TCP;",
        f"TcTimer = {args.tc};",
        f"TwTimer = {args.tw};",
        f'TLS_Cred = "{cert}", "{key}";',
        f'TLS_CA = "{ca}";',
    ]
    if args.tls_prio:
        lines.append(f'TLS_Prio = "{args.tls_prio}";')
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
            f.write(ACL_FLAGS[args.peer_tls] + " ".join(allow) + "\n")
        lines.append(f'LoadExtension = "acl_wl.fdx" : "{acl}";')
    if args.dict_dcca:
        for ext in ("dict_nasreq.fdx", "dict_dcca.fdx", "dict_dcca_3gpp.fdx"):
            lines.append(f'LoadExtension = "{ext}";')
    if args.route:
        rules = os.path.join(workdir, "rt_default.conf")
        with open(rules, "w") as f:
            f.write("# Generated by tests/interop/freediameter.py\n")
            for rule in args.route:
                f.write(rule.rstrip().rstrip(";") + " ;\n")
        lines.append(f'LoadExtension = "rt_default.fdx" : "{rules}";')
    for ext in args.extension:
        name, sep, conf = ext.partition(":")
        lines.append(f'LoadExtension = "{name}"' + (f' : "{conf}"' if sep else "") + ";")
    if args.dump != "none":
        lines.append(f'LoadExtension = "dbg_msg_dumps.fdx" : "{args.dump}";')
    if args.role == "client":
        params = [f'ConnectTo = "{args.peer_host}";', f"Port = {args.peer_port};",
                  *PEER_TLS_PARAMS[args.peer_tls], "No_SCTP;", f"TcTimer = {args.tc};"]
        if args.peer_tw:
            params.append(f"TwTimer = {args.peer_tw};")
        if args.peer_realm:
            params.append(f'Realm = "{args.peer_realm}";')
        lines.append(f'ConnectPeer = "{args.peer}" {{ {" ".join(params)} }};')
    for identity, port in args.connect:
        lines.append(f'ConnectPeer = "{identity}" {{ ConnectTo = "{args.peer_host}"; '
                     f'Port = {port}; No_TLS; No_SCTP; TcTimer = {args.tc}; }};')
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


def _identity_port(text: str) -> tuple[str, int]:
    identity, sep, port = text.rpartition(":")
    if not sep or not identity or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text}: not IDENTITY:PORT")
    return identity, int(port)


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
    p.add_argument("--connect", action="append", default=[], type=_identity_port,
                   metavar="IDENTITY:PORT",
                   help="also ConnectPeer to IDENTITY at --peer-host:PORT, without TLS (either "
                        "role; e.g. the servers behind a relay); repeatable")
    p.add_argument("--route", action="append", default=[], metavar="RULE",
                   help="load rt_default with this rule, e.g. 'dr=\"x.test\" : "
                        "rlm=\"x.test\" += REALM'; repeatable")
    p.add_argument("--tls-cert", metavar="FILE",
                   help="TLS_Cred certificate (PEM, valid for --identity); with --tls-key "
                        "and --tls-ca (default: a self-signed certificate)")
    p.add_argument("--tls-key", metavar="FILE", help="TLS_Cred private key (PEM)")
    p.add_argument("--tls-ca", metavar="FILE",
                   help="TLS_CA: CA certificates (PEM) for the peers' and its own certificate")
    p.add_argument("--tls-prio", metavar="STRING",
                   help="TLS_Prio, a GnuTLS priority string (freeDiameter's default: NORMAL)")
    p.add_argument("--sec-port", type=int, default=0,
                   help="SecPort: listening port where TLS starts at connect (default 0, none)")
    p.add_argument("--peer-tls", choices=("none", "connect", "inband"), default="none",
                   help="client: the ConnectPeer's security (none: No_TLS, connect: TLS at "
                        "connect, inband: TLS_old_method, TLS after CER/CEA); server: the "
                        "acl_wl flag for cleartext connections (none: ALLOW_IPSEC, inband: "
                        "ALLOW_OLD_TLS, connect: TLS-protected connections only). Default none")
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
    tls_files = (args.tls_cert, args.tls_key, args.tls_ca)
    if any(tls_files) and not all(tls_files):
        p.error("--tls-cert, --tls-key and --tls-ca go together")
    if args.role == "server":
        if args.port is None and args.sec_port:
            args.port = 0
        if not args.port and not args.sec_port:
            p.error("--port (or --sec-port) is required for --role server")
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
