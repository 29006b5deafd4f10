#!/usr/bin/env python3
"""A python-diameter (0.9.0) node for interoperability tests.

Runs one `diameter.node.Node` as a server (listening on 127.0.0.1), as a
client (connecting out to configured peers), or both, and reports what
happens as machine-readable lines on stdout, flushed one by one:

    EVENT started origin=py.example.test listen=127.0.0.1:3868 pid=123
    EVENT sent CER to=fd.example.test
    EVENT recv CEA from=fd.example.test origin=fd.example.test result=2001
    EVENT ready peer=fd.example.test auth_apps=[4] acct_apps=[]
    EVENT recv DWR from=fd.example.test
    EVENT sent DWA to=fd.example.test result=2001
    EVENT recv DPR from=fd.example.test cause=0
    EVENT disconnected peer=fd.example.test reason=DPR
    EVENT stopping reason=stdin-closed
    EVENT stopped

Every received message gives `EVENT recv <CMD> from=<Origin-Host> ...` and
every sent one `EVENT sent <CMD> to=<peer> ...`, where <CMD> is the usual
abbreviation (CER, CEA, DWR, DWA, DPR, DPA, CCR, CCA, ...; unknown commands
are CMD<code>R / CMD<code>A), followed by result=<Result-Code> and
cause=<Disconnect-Cause> where the message has them (a CCR: its type=,
number=, session= and, when relayed, route_record=<host>,<host>...), then
error_bit=1 when the E bit is set, and for a CCR or CCA e2e=<End-to-End id>
and, when it has Proxy-Info, proxy_info=<host>/<state>,...
With --cc-client, each answer gives `EVENT cca n=<n> result=... type=...
number=... granted_time=... origin=<its Origin-Host> session_ok=<1 when its
Session-Id is the request's> e2e=<the request's End-to-End id>
answer_e2e=<the answer's> proxy_info=<the answer's Proxy-Info, or ->`.
python-diameter's own log goes to stderr (see --log-level).

The node stops gracefully (node.stop(): DPR to every open peer, wait for DPA)
on SIGTERM or SIGINT, when standard input is a pipe that reaches EOF or
receives the line "stop", after --stop-after seconds of the first peer being
ready, or after --duration seconds at most. It then prints
`EVENT stopped` and exits 0 (3 if python-diameter's connection thread died,
which it does in 0.9.0 when a CEA carries an error Result-Code).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import stat
import sys
import threading
import time

from diameter.message import constants
from diameter.message.avp.grouped import GrantedServiceUnit, ProxyInfo, RequestedServiceUnit
from diameter.message.commands import CreditControlRequest
from diameter.node import Node
from diameter.node.application import Application
from diameter.node.peer import (
    PEER_READY_STATES,
    DISCONNECT_REASON_CER_REJECTED,
    DISCONNECT_REASON_CLEAN_DISCONNECT,
    DISCONNECT_REASON_DPR,
    DISCONNECT_REASON_DWA_TIMEOUT,
    DISCONNECT_REASON_FAILED_CONNECT,
    DISCONNECT_REASON_FAILED_CONNECT_CE,
    DISCONNECT_REASON_GONE_AWAY,
    DISCONNECT_REASON_NODE_SHUTDOWN,
    DISCONNECT_REASON_SOCKET_FAIL,
    DISCONNECT_REASON_UNKNOWN,
)

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

DISCONNECT_REASONS = {
    DISCONNECT_REASON_DPR: "DPR",
    DISCONNECT_REASON_NODE_SHUTDOWN: "NODE_SHUTDOWN",
    DISCONNECT_REASON_CLEAN_DISCONNECT: "CLEAN_DISCONNECT",
    DISCONNECT_REASON_SOCKET_FAIL: "SOCKET_FAIL",
    DISCONNECT_REASON_GONE_AWAY: "GONE_AWAY",
    DISCONNECT_REASON_FAILED_CONNECT: "FAILED_CONNECT",
    DISCONNECT_REASON_FAILED_CONNECT_CE: "FAILED_CONNECT_CE",
    DISCONNECT_REASON_CER_REJECTED: "CER_REJECTED",
    DISCONNECT_REASON_DWA_TIMEOUT: "DWA_TIMEOUT",
    DISCONNECT_REASON_UNKNOWN: "UNKNOWN",
}

_out_lock = threading.Lock()


def event(text: str) -> None:
    """Print one EVENT line to stdout, flushed, never interleaved."""
    with _out_lock:
        sys.stdout.write(f"EVENT {text}\n")
        sys.stdout.flush()


def _text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).replace(" ", "_") or "-"


def cmd_name(msg) -> str:
    code = msg.header.command_code
    req, ans = COMMANDS.get(code, (f"CMD{code}R", f"CMD{code}A"))
    return req if msg.header.is_request else ans


def msg_details(msg) -> str:
    parts = []
    if getattr(msg, "result_code", None) is not None:
        parts.append(f"result={msg.result_code}")
    if getattr(msg, "disconnect_cause", None) is not None:
        parts.append(f"cause={msg.disconnect_cause}")
    if msg.header.command_code == constants.CMD_CREDIT_CONTROL:
        for attr, key in (("cc_request_type", "type"),
                          ("cc_request_number", "number"),
                          ("session_id", "session")):
            if getattr(msg, attr, None) is not None:
                parts.append(f"{key}={_text(getattr(msg, attr))}")
        # the agents a relayed request passed (RFC 6733 §6.1.9)
        records = getattr(msg, "route_record", None) if msg.header.is_request else None
        if records:
            parts.append("route_record=" + ",".join(_text(r) for r in records))
    if msg.header.is_error:
        parts.append("error_bit=1")
    if msg.header.command_code == constants.CMD_CREDIT_CONTROL:
        parts.append(f"e2e={msg.header.end_to_end_identifier:#010x}")
        proxy = proxy_infos(msg)
        if proxy:
            parts.append(f"proxy_info={proxy}")
    return (" " + " ".join(parts)) if parts else ""


def proxy_infos(msg) -> str:
    """The message's Proxy-Info AVPs as HOST/STATE,HOST/STATE ("" if none)."""
    return ",".join(f"{_text(p.proxy_host)}/{_text(p.proxy_state)}"
                    for p in getattr(msg, "proxy_info", None) or [])


def conn_peer(conn) -> str:
    return conn.host_identity or conn.node_name or f"{conn.ip}:{conn.port}"


class EventNode(Node):
    """A Node that reports protocol events as EVENT lines."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.first_ready_at: float | None = None
        self._removed: set[str] = set()

    # Every received message passes here (python-diameter 0.9.0 sets
    # conn.message_handler = self._receive_message for each connection).
    def _receive_message(self, conn, msg):
        origin = getattr(msg, "origin_host", None)
        sender = _text(origin) if origin is not None else conn_peer(conn)
        extra = ""
        if msg.header.command_code == constants.CMD_CAPABILITIES_EXCHANGE:
            extra = f" origin={sender}"
        event(f"recv {cmd_name(msg)} from={sender}{extra}{msg_details(msg)}")
        return super()._receive_message(conn, msg)

    def send_message(self, conn, message):
        event(f"sent {cmd_name(message)} to={conn_peer(conn)}"
              f"{msg_details(message)}")
        return super().send_message(conn, message)

    def _report_ready(self, conn):
        if conn.state in PEER_READY_STATES:
            if self.first_ready_at is None:
                self.first_ready_at = time.monotonic()
            event(f"ready peer={conn_peer(conn)} "
                  f"auth_apps={sorted(conn.auth_application_ids)} "
                  f"acct_apps={sorted(conn.acct_application_ids)}".replace(", ", ","))

    def receive_cer(self, conn, message):
        super().receive_cer(conn, message)
        self._report_ready(conn)

    def receive_cea(self, conn, message):
        super().receive_cea(conn, message)
        self._report_ready(conn)

    def remove_peer_connection(self, conn, disconnect_reason=DISCONNECT_REASON_UNKNOWN):
        first = conn.ident not in self._removed
        self._removed.add(conn.ident)
        super().remove_peer_connection(conn, disconnect_reason)
        if first:
            # The peer keeps the first reason (e.g. DPR), the argument is the
            # reason of this particular socket closure.
            peer = self._find_connection_peer(conn)
            reason = disconnect_reason
            if peer is not None and peer.disconnect_reason is not None:
                reason = peer.disconnect_reason
            event(f"disconnected peer={conn_peer(conn)} "
                  f"reason={DISCONNECT_REASONS.get(reason, reason)} "
                  f"socket={DISCONNECT_REASONS.get(disconnect_reason, disconnect_reason)}")


class CcApp(Application):
    """Credit-Control (or any auth app id): answers requests in place."""

    def __init__(self, app_id: int, cc_server: bool, granted_time: int):
        super().__init__(app_id, is_auth_application=True)
        self.cc_server = cc_server
        self.granted_time = granted_time

    def handle_request(self, message):
        if (self.cc_server and
                message.header.command_code == constants.CMD_CREDIT_CONTROL):
            answer = self.generate_answer(
                message, result_code=constants.E_RESULT_CODE_DIAMETER_SUCCESS)
            answer.cc_request_type = message.cc_request_type
            answer.cc_request_number = message.cc_request_number
            if message.cc_request_type != constants.E_CC_REQUEST_TYPE_TERMINATION_REQUEST:
                answer.granted_service_unit = GrantedServiceUnit(
                    cc_time=self.granted_time)
        else:
            answer = self.generate_answer(
                message,
                result_code=constants.E_RESULT_CODE_DIAMETER_UNABLE_TO_COMPLY,
                error_message="python_peer.py answers only CCR, with --cc-server")
            if message.header.command_code == constants.CMD_CREDIT_CONTROL:
                answer.cc_request_type = message.cc_request_type
                answer.cc_request_number = message.cc_request_number
        self.send_answer(answer)


def run_cc_client(node: EventNode, app: CcApp, count: int, realm: str,
                  dest_host: str | None, interval: float, stop: threading.Event,
                  proxy_host: str | None = None):
    try:
        app.wait_for_ready(timeout=60)
    except Exception as e:  # noqa: BLE001 - report and give up
        event(f"cc-client error=not-ready detail={_text(e)}")
        return
    session_id = node.session_generator.next_id()
    ok = failed = 0
    for n in range(count):
        if stop.is_set():
            break
        ccr = CreditControlRequest()
        ccr.session_id = session_id
        ccr.origin_host = node.origin_host.encode()
        ccr.origin_realm = node.realm_name.encode()
        ccr.destination_realm = realm.encode()
        if dest_host:
            ccr.destination_host = dest_host.encode()
        ccr.auth_application_id = app.application_id
        ccr.service_context_id = "32251@3gpp.org"
        if count == 1:
            ccr.cc_request_type = constants.E_CC_REQUEST_TYPE_EVENT_REQUEST
        elif n == 0:
            ccr.cc_request_type = constants.E_CC_REQUEST_TYPE_INITIAL_REQUEST
        elif n == count - 1:
            ccr.cc_request_type = constants.E_CC_REQUEST_TYPE_TERMINATION_REQUEST
        else:
            ccr.cc_request_type = constants.E_CC_REQUEST_TYPE_UPDATE_REQUEST
        ccr.cc_request_number = n
        if ccr.cc_request_type in (constants.E_CC_REQUEST_TYPE_INITIAL_REQUEST,
                                   constants.E_CC_REQUEST_TYPE_UPDATE_REQUEST,
                                   constants.E_CC_REQUEST_TYPE_EVENT_REQUEST):
            ccr.requested_service_unit = RequestedServiceUnit(cc_time=600)
        if proxy_host:
            ccr.proxy_info = [ProxyInfo(proxy_host=proxy_host.encode(),
                                        proxy_state=f"state-{n + 1}".encode())]
        try:
            cca = app.send_request(ccr, timeout=10)
        except Exception as e:  # noqa: BLE001 - report and go on
            failed += 1
            event(f"cca n={n + 1} error={type(e).__name__} detail={_text(e)}")
        else:
            granted = getattr(cca, "granted_service_unit", None)
            granted_time = getattr(granted, "cc_time", None) if granted else None
            result = getattr(cca, "result_code", None)
            if result == constants.E_RESULT_CODE_DIAMETER_SUCCESS:
                ok += 1
            else:
                failed += 1
            # what an agent on the way must keep: End-to-End, Proxy-Info
            event(f"cca n={n + 1} result={result} type={ccr.cc_request_type} "
                  f"number={getattr(cca, 'cc_request_number', None)} "
                  f"granted_time={granted_time} "
                  f"origin={_text(getattr(cca, 'origin_host', None))} "
                  f"session_ok={int(getattr(cca, 'session_id', None) == session_id)} "
                  f"e2e={ccr.header.end_to_end_identifier:#010x} "
                  f"answer_e2e={cca.header.end_to_end_identifier:#010x} "
                  f"proxy_info={proxy_infos(cca) or '-'}")
        if interval > 0 and n + 1 < count:
            stop.wait(interval)
    event(f"cc-client done ok={ok} failed={failed}")


def watch_stdin(stop: threading.Event, reasons: list[str]):
    """Stop on EOF or a "stop" line, when stdin is a pipe or a socket."""
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
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--origin-host", required=True,
                   help="our Origin-Host (a lowercase FQDN)")
    p.add_argument("--realm", required=True, help="our Origin-Realm")
    p.add_argument("--listen-port", type=int, default=0,
                   help="accept connections on this TCP port (0: do not listen)")
    p.add_argument("--listen-address", default="127.0.0.1")
    p.add_argument("--peer-uri", action="append", default=[],
                   help="a peer, aaa://HOST[:PORT][;transport=tcp]; repeatable")
    p.add_argument("--peer-realm", help="the peers' realm (default: --realm)")
    p.add_argument("--peer-ip", default="127.0.0.1",
                   help="address to connect to for --persistent peers")
    p.add_argument("--persistent", action="store_true",
                   help="connect out to the peers and reconnect when lost")
    p.add_argument("--always-reconnect", action="store_true",
                   help="reconnect even after a DPR (needs --persistent)")
    p.add_argument("--reconnect-wait", type=int, default=2,
                   help="seconds before reconnecting a persistent peer")
    p.add_argument("--app-id", type=int, default=constants.APP_DIAMETER_CREDIT_CONTROL_APPLICATION,
                   help="auth application id to advertise (default 4)")
    p.add_argument("--acct-app-id", type=int, action="append", default=[],
                   help="also advertise this acct application id; repeatable")
    p.add_argument("--idle-timeout", type=int, default=30,
                   help="seconds without traffic before we send a DWR")
    p.add_argument("--dwa-timeout", type=int, default=4)
    p.add_argument("--cea-timeout", type=int, default=4)
    p.add_argument("--cer-timeout", type=int, default=4)
    p.add_argument("--wakeup-interval", type=int, default=1,
                   help="python-diameter's timer resolution (its default is 6)")
    p.add_argument("--duration", type=float, default=60,
                   help="stop (gracefully) after this many seconds at most")
    p.add_argument("--stop-after", type=float, default=0,
                   help="stop this many seconds after the first peer is ready")
    p.add_argument("--stop-timeout", type=int, default=5,
                   help="seconds node.stop() waits for DPA and closure")
    p.add_argument("--cc-server", action="store_true",
                   help="answer CCR with CCA 2001 + Granted-Service-Unit")
    p.add_argument("--granted-time", type=int, default=3600,
                   help="CC-Time granted by --cc-server")
    p.add_argument("--cc-client", type=int, default=0, metavar="N",
                   help="send N CCRs (one session) once a peer is ready")
    p.add_argument("--cc-interval", type=float, default=0,
                   help="seconds between the CCRs of --cc-client")
    p.add_argument("--cc-destination-host", help="Destination-Host of the CCRs")
    p.add_argument("--cc-proxy-info", metavar="HOST",
                   help="add a Proxy-Info to each CCR: Proxy-Host HOST, Proxy-State "
                        "state-<n> (n counts the CCRs from 1)")
    p.add_argument("--log-level", default="WARNING",
                   help="python-diameter's log level on stderr (DEBUG dumps messages)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    stop = threading.Event()
    reasons: list[str] = []

    def on_signal(signum, _frame):
        reasons.append(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    origin_host = args.origin_host
    if origin_host != origin_host.lower():
        event("warning origin-host is not lowercase; python-diameter "
              "lowercases the Origin-Host of received CERs")

    listen = args.listen_port > 0
    node = EventNode(origin_host, args.realm,
                     ip_addresses=[args.listen_address] if listen else None,
                     tcp_port=args.listen_port if listen else None)
    node.wakeup_interval = args.wakeup_interval
    node.idle_timeout = args.idle_timeout
    node.dwa_timeout = args.dwa_timeout
    node.cea_timeout = args.cea_timeout
    node.cer_timeout = args.cer_timeout

    peer_realm = args.peer_realm or args.realm
    peers = []
    for uri in args.peer_uri:
        # python-diameter 0.9.0 keys peers by the URI's host as given, but
        # compares the lowercased Origin-Host of a received CER with it.
        scheme, rest = uri.split("://", 1)
        host, sep, tail = rest.partition(";")
        hostname, colon, port = host.partition(":")
        if hostname != hostname.lower():
            event(f"warning peer host {hostname} lowercased")
        uri = f"{scheme}://{hostname.lower()}{colon}{port}{sep}{tail}"
        peer = node.add_peer(uri, peer_realm,
                             ip_addresses=[args.peer_ip] if args.persistent else None,
                             is_persistent=args.persistent)
        peer.idle_timeout = args.idle_timeout
        peer.dwa_timeout = args.dwa_timeout
        peer.cea_timeout = args.cea_timeout
        peer.cer_timeout = args.cer_timeout
        peer.reconnect_wait = args.reconnect_wait
        peer.always_reconnect = args.always_reconnect
        peers.append(peer)

    app = CcApp(args.app_id, args.cc_server, args.granted_time)
    node.add_application(app, peers)
    for acct_id in args.acct_app_id:
        node.add_application(
            _AcctApp(acct_id), peers)

    node.start()
    event(f"started origin={origin_host} realm={args.realm} "
          f"listen={f'{args.listen_address}:{args.listen_port}' if listen else 'none'} "
          f"pid={os.getpid()}")

    watch_stdin(stop, reasons)
    if args.cc_client > 0:
        threading.Thread(
            target=run_cc_client, daemon=True, name="cc-client",
            args=(node, app, args.cc_client, peer_realm,
                  args.cc_destination_host, args.cc_interval, stop,
                  args.cc_proxy_info)).start()

    started = time.monotonic()
    exit_code = 0
    while True:
        if stop.wait(0.2):
            break
        now = time.monotonic()
        if now - started >= args.duration:
            reasons.append("duration")
            break
        if (args.stop_after > 0 and node.first_ready_at is not None and
                now - node.first_ready_at >= args.stop_after):
            reasons.append("stop-after")
            break
        if not node._connection_thread.is_alive():
            event("error python-diameter connection thread died")
            reasons.append("connection-thread-died")
            exit_code = 3
            break

    event(f"stopping reason={reasons[0] if reasons else 'unknown'}")
    stop.set()
    try:
        node.stop(wait_timeout=args.stop_timeout,
                  force=not node._connection_thread.is_alive())
    except Exception as e:  # noqa: BLE001 - report, still exit
        event(f"error stop failed: {_text(e)}")
    event("stopped")
    sys.stdout.flush()
    sys.stderr.flush()
    # python-diameter's worker threads are not daemons and poll with 5 s
    # timeouts; do not wait for them.
    os._exit(exit_code)


class _AcctApp(Application):
    def __init__(self, app_id: int):
        super().__init__(app_id, is_acct_application=True)

    def handle_request(self, message):
        self.send_answer(self.generate_answer(
            message, result_code=constants.E_RESULT_CODE_DIAMETER_UNABLE_TO_COMPLY))


if __name__ == "__main__":
    sys.exit(main())
