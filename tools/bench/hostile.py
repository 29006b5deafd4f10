#!/usr/bin/env python3
"""Hostile-peer scenarios against a cc_server binary (python3, stdlib only).

Starts the given cc_server itself (--allow-any, free port, stdin a pipe kept
open), runs one scenario against it while sampling the server's VmRSS and
Threads once per second, and meanwhile a well-behaved "bystander" peer (a
child process: own connection, CER/CEA, one CCR every 100 ms) checks that
other peers are still served (answered: within 2 s; late: after; lost:
never; p99 null when lost ones reach the 99th percentile). Should the server's RSS pass --max-rss-mb
(default 4096) the hostile client stops early (reported). Prints one `RESULT {json}` line per scenario
and a table at the end. RSS/threads: start = before the hostile phase, end =
at its end (flood: after the wait), max = over all samples until the server
is told to stop.

  hostile.py --server-bin PATH
             [--scenario noread|forged|flood|evict|oversize|admission|all]
             [--seconds N] [--keepalive-wait N] [--max-rss-mb N]
             [--evict-requests N] [--dra-bin PATH] [--max-message-size N]
             [--admission-rate N] [--server-arg ARG]...

Scenarios:
  noread  CER/CEA, then DWRs and CCRs as fast as possible, never reading.
  forged  CCRs with the T flag, each with a fresh Origin-Host and End-to-End
          id, pipelined (~256 unanswered).
  flood   20,000 CCRs pipelined on one connection; thread count right after
          the last answer and after --keepalive-wait seconds.
  evict   fair share of the duplicate table: a quiet peer sends one CCR; a
          busy peer then sends --evict-requests (default 80,000, more than
          the server's 65,536 records) distinct CCRs, pipelined; then the
          quiet peer sends its CCR again with the T flag, on the same
          connection. quiet_cached: whether that copy was answered from the
          cache (the server's retransmissions_answered, printed when it
          stops, is 1) rather than processed a second time (0); the answer's
          bytes are compared too (cc_server's answers to one CCR are alike
          either way, so they only show that the same answer came back).
  oversize  (needs --dra-bin, the `dra` example) two cc_servers behind a dra;
          the hostile client and the bystander talk to the dra. For --seconds,
          a CCR of exactly --max-message-size bytes (the size the dra reads;
          its Route-Record makes it larger than what a cc_server reads) every
          0.5 s, each waiting for its answer. Reports the upstream
          connections the dra lost (its "disconnected" lines) and got back,
          the oversized requests' result codes, and the dra's counters; RSS
          and threads are the dra's.
  admission
          connections that never send a CER, from 127.0.0.2-201, opened at
          --admission-rate a second (default 400, at most 4,000 held) for
          --seconds and reopened as the server closes them. The server runs
          without --allow-any, with the bystander as its configured peer
          (--client-host); the bystander connects anew every 0.5 s (CER each
          time, one CCR, then it closes) and reports how often it got in and
          how long connect + CER/CEA took.

--server-arg passes an argument on to cc_server (repeat it for each), e.g.
--server-arg=--max-unauthenticated --server-arg=64, or --server-arg=--client-ip
--server-arg=127.0.0.1 for a build that has those flags.
"""
import argparse, json, multiprocessing as mp, os, random, selectors, signal
import socket, struct, subprocess, sys, threading, time

# --- Diameter encoding (RFC 6733 §3, §4) -----------------------------------
R, P, E, T = 0x80, 0x40, 0x20, 0x10
M = 0x40
CER, DWR, DPR, CCR = 257, 280, 282, 272
SERVER_HOST, REALM = "ocs.example.net", "example.net"
ABORT = threading.Event()  # set when the server's RSS passes --max-rss-mb


def avp(code, data, flags=M):
    n = 8 + len(data)
    return struct.pack("!IB", code, flags) + n.to_bytes(3, "big") + data + b"\0" * (-n % 4)


def s_avp(code, text, flags=M):
    return avp(code, text.encode(), flags)


def u32(code, v, flags=M):
    return avp(code, struct.pack("!I", v), flags)


def msg(cmd, app, flags, hbh, e2e, avps):
    body = b"".join(avps)
    return (bytes([1]) + (20 + len(body)).to_bytes(3, "big") + bytes([flags])
            + cmd.to_bytes(3, "big") + struct.pack("!III", app, hbh, e2e) + body)


def cer(host, hbh):
    return msg(CER, 0, R, hbh, hbh, [
        s_avp(264, host), s_avp(296, REALM),
        avp(257, struct.pack("!H4s", 1, socket.inet_aton("127.0.0.1"))),
        u32(266, 0), s_avp(269, "hostile.py", 0), u32(258, 4)])


def ccr(host, n, hbh, e2e, flags=R | P):
    # Service-Context-Id (461) too: without it the node answers 5005 itself
    # and the request never reaches the application
    return msg(CCR, 4, flags, hbh, e2e, [
        s_avp(263, f"{host};{n}"), s_avp(264, host), s_avp(296, REALM),
        s_avp(283, REALM), u32(258, 4), s_avp(461, "32251@3gpp.org"),
        u32(416, 1), u32(415, n)])


def dwr(host, hbh):
    return msg(DWR, 0, R, hbh, hbh, [s_avp(264, host), s_avp(296, REALM)])


def header(m):
    """(flags, command, hop-by-hop, end-to-end) of an encoded message."""
    return m[4], int.from_bytes(m[5:8], "big"), *struct.unpack("!II", m[12:20])


def result_code(m):
    """Top-level Result-Code (268) of a message, or None."""
    i = 20
    while i + 8 <= len(m):
        code, flags = struct.unpack("!IB", m[i:i + 5])
        n = int.from_bytes(m[i + 5:i + 8], "big")
        if n < 8:
            return None
        start = i + (12 if flags & 0x80 else 8)
        if code == 268:
            return struct.unpack("!I", m[start:start + 4])[0]
        i += n + (-n % 4)
    return None


def answer_to(m, host):
    """DWA/DPA for a DWR/DPR the server sends us (anything else: None)."""
    flags, cmd, hbh, e2e = header(m)
    if flags & R and cmd in (DWR, DPR):
        return msg(cmd, 0, 0, hbh, e2e, [u32(268, 2001), s_avp(264, host), s_avp(296, REALM)])
    return None


class Framer:
    """Length-based framing on a socket whose timeout is short and fixed."""

    def __init__(self, sock):
        self.sock, self.buf = sock, bytearray()

    def read(self, deadline):
        """Next whole message, or None at deadline; raises EOFError on close."""
        while True:
            if len(self.buf) >= 4:
                n = int.from_bytes(self.buf[1:4], "big")
                if self.buf[0] != 1 or n < 20:
                    raise EOFError(f"bad header {bytes(self.buf[:4]).hex()}")
                if len(self.buf) >= n:
                    m = bytes(self.buf[:n])
                    del self.buf[:n]
                    return m
            if time.monotonic() >= deadline:
                return None
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk


def connect(port, host):
    """A connection that has done CER/CEA (2001) as `host`; raises otherwise."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(0.5)
    s.sendall(cer(host, 1))
    f = Framer(s)
    cea = f.read(time.monotonic() + 5)
    if cea is None or result_code(cea) != 2001:
        raise RuntimeError(f"CER of {host}: {'no CEA' if cea is None else result_code(cea)}")
    return s, f


def send_all(sock, data, deadline, stats=None):
    """sendall with a 1 s timeout per send call, retried until deadline.
    Counts bytes sent and time spent in send calls that took > 100 ms."""
    view, off = memoryview(data), 0
    while off < len(data) and time.monotonic() < deadline and not ABORT.is_set():
        t = time.monotonic()
        try:
            off += sock.send(view[off:])
        except socket.timeout:
            pass
        except OSError as e:  # the server closed the connection
            if stats is None:
                raise
            stats["send_error"] = repr(e)
            break
        dt = time.monotonic() - t
        if stats is not None and dt > 0.1:
            stats["blocked_s"] += dt
            stats["blocks"] += 1
    if stats is not None:
        stats["bytes_sent"] += off
    return off


# --- the bystander (a child process, so the GIL does not skew its latency) ---
def bystander(port, stop, conn, server_stdin):
    for sig in (signal.SIGTERM, signal.SIGINT):  # not the parent's handlers
        signal.signal(sig, signal.SIG_DFL)
    os.close(server_stdin)  # or the server would not see end of stdin
    res = {"sent": 0, "answered": 0, "late": 0, "error": None, "lat_ms": [],
           "result_codes": {}}
    sent = {}  # hop-by-hop -> send time, of requests not answered yet

    def take(m):  # an answer, or a request of the server's that we answer
        a = answer_to(m, "bystander.example.net")
        if a:
            s.sendall(a)
            return None
        t0 = sent.pop(header(m)[2], None)
        if t0 is not None:
            ms = (time.monotonic() - t0) * 1000
            res["lat_ms"].append(ms)
            res["late" if ms > 2000 else "answered"] += 1
            rc = str(result_code(m))
            res["result_codes"][rc] = res["result_codes"].get(rc, 0) + 1
        return t0
    try:
        s, f = connect(port, "bystander.example.net")
        n, nxt = 0, time.monotonic()
        while not stop.is_set():
            nxt = max(nxt + 0.1, time.monotonic())
            n += 1
            sent[n + 1] = t0 = time.monotonic()
            s.sendall(ccr("bystander.example.net", n, n + 1, n + 1))
            res["sent"] += 1
            # wait for this answer for 2 s at most (late ones are counted too)
            while n + 1 in sent and (m := f.read(t0 + 2.0)) is not None:
                take(m)
            stop.wait(max(0, nxt - time.monotonic()))
        deadline = time.monotonic() + 2  # a last chance for late answers
        while sent and (m := f.read(deadline)) is not None:
            take(m)
        s.close()
    except Exception as e:  # recorded, the scenario carries on
        res["error"] = repr(e)
    res["lost"] = len(sent)
    conn.send(res)


def reconnecting_bystander(port, stop, conn, server_stdin):
    """A configured peer that connects anew every 0.5 s: CER, one CCR, close.
    Reports attempts, how many got in (CEA 2001) and were served (CCA),
    connect + CER/CEA times of those that got in, and why the others failed."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    os.close(server_stdin)
    host = "bystander.example.net"
    res = {"sent": 0, "answered": 0, "late": 0, "lost": 0, "error": None, "lat_ms": [],
           "result_codes": {}, "attempts": 0, "got_in": 0, "cea_ms": [], "failed": {},
           "tries": []}  # (start, got in) of each attempt

    def failed(why):
        res["failed"][why] = res["failed"].get(why, 0) + 1
    n, nxt = 0, time.monotonic()
    while not stop.is_set():
        nxt = max(nxt + 0.5, time.monotonic())
        n += 1
        res["attempts"] += 1
        t0 = time.monotonic()
        s = None
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.settimeout(0.5)
            s.sendall(cer(host, 1))
            f = Framer(s)
            cea = f.read(t0 + 5)
            if cea is None:
                failed("no CEA within 5 s")
            elif result_code(cea) != 2001:
                failed(f"CEA {result_code(cea)}")
            else:
                res["got_in"] += 1
                res["cea_ms"].append((time.monotonic() - t0) * 1000)
                res["tries"].append((t0, True))
                t1 = time.monotonic()
                s.sendall(ccr(host, n, 2, n))
                res["sent"] += 1
                while True:
                    m = f.read(t1 + 2)
                    if m is None:
                        res["lost"] += 1
                        break
                    a = answer_to(m, host)
                    if a:
                        s.sendall(a)
                        continue
                    res["lat_ms"].append((time.monotonic() - t1) * 1000)
                    res["answered"] += 1
                    rc = str(result_code(m))
                    res["result_codes"][rc] = res["result_codes"].get(rc, 0) + 1
                    break
        except EOFError:
            failed("closed by the server")
        except OSError as e:
            failed(type(e).__name__)
        finally:
            if s is not None:
                s.close()
        if not res["tries"] or res["tries"][-1][0] != t0:
            res["tries"].append((t0, False))
        stop.wait(max(0, nxt - time.monotonic()))
    ms = sorted(res.pop("cea_ms"))
    res["cea_ms"] = {"p50": ms and round(ms[len(ms) // 2], 1),
                     "max": ms and round(ms[-1], 1), "n": len(ms)}
    conn.send(res)


# --- the server and its sampling ---------------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A cc_server (or, with `argv`, another example: argv(port) its command
    line) on a free port; `ready` its lines to wait for (each that many
    times); lines containing a `watch` text are counted in self.counts."""

    def __init__(self, binary, max_rss_mb, host=SERVER_HOST, argv=None,
                 ready=((b"listening on", 1),), watch=(), env=None,
                 args=("--allow-any",)):
        self.max_rss_mb = max_rss_mb
        self.port = free_port()
        cmd = argv(self.port) if argv else [
            binary, "--listen", f"127.0.0.1:{self.port}", "--origin-host", host,
            "--realm", REALM, *args]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=env)
        self.lines, self.counts, seen = [], {w: 0 for w in watch}, {t: 0 for t, _ in ready}
        is_ready, self.drained = threading.Event(), threading.Event()

        def drain():  # keeps the pipe empty; remembers the last lines
            for line in self.proc.stdout:
                self.lines = (self.lines + [line.decode(errors="replace").rstrip()])[-20:]
                for w in self.counts:
                    self.counts[w] += w in line
                for t, _ in ready:
                    seen[t] += t in line
                if all(seen[t] >= n for t, n in ready):
                    is_ready.set()
            self.drained.set()
        self.drainer = threading.Thread(target=drain, daemon=True)
        self.drainer.start()
        if not is_ready.wait(10):
            self.kill()
            raise RuntimeError(f"{cmd[0]} not ready after 10 s: {self.lines}")
        self.samples, self._stop = [], threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def status(self):
        """(VmRSS MB, Threads) now, or None if the process is gone."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as st:
                d = dict(l.split(":", 1) for l in st if ":" in l)
            return int(d["VmRSS"].split()[0]) / 1024, int(d["Threads"])
        except (OSError, KeyError, ValueError):
            return None

    def _sample(self):
        while not self._stop.is_set():
            s = self.status()
            if s:
                self.samples.append(s)
                if s[0] > self.max_rss_mb and not ABORT.is_set():
                    ABORT.set()  # spare the machine: the hostile client stops
            self._stop.wait(1)

    def stop(self):
        """SIGTERM (and end of stdin, what builds before that stopped on);
        kills it after 10 s."""
        self._stop.set()
        t = time.monotonic()
        try:
            self.proc.stdin.close()
            self.proc.send_signal(signal.SIGTERM)
            code = self.proc.wait(10)
        except (subprocess.TimeoutExpired, OSError):
            self.kill()
            code = "killed after 10 s"
        self.drainer.join(2)  # its last lines (cc_server's counters)
        return {"exit": code, "stop_s": round(time.monotonic() - t, 1)}

    def counters(self):
        """The name=value pairs of cc_server's "stopped:" line, as ints."""
        for line in reversed(self.lines):
            if " stopped: " in line:
                pairs = (w.split("=", 1) for w in line.split(" stopped: ", 1)[1].split())
                return {k: int(v) for k, v in pairs if v.isdigit()}
        return {}

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# --- scenarios: each gets (server, args, hostile stats) ----------------------
def noread(srv, a, st):
    s, _ = connect(srv.port, "hostile.example.net")
    st.update(bytes_sent=0, blocked_s=0.0, blocks=0, messages_sent=0)
    # a batch of 512 messages, DWR/CCR alternating; ids patched per batch
    host, batch, ends = "hostile.example.net", bytearray(), []
    for i in range(512):
        batch += dwr(host, 0) if i % 2 == 0 else ccr(host, i, 0, 0)
        ends.append(len(batch))
    starts = [0] + ends[:-1]
    t0 = time.monotonic()
    deadline, ident = t0 + a.seconds, 1
    while (time.monotonic() < deadline and "send_error" not in st
           and not ABORT.is_set()):
        for o in starts:
            struct.pack_into("!II", batch, o + 12, ident, ident)
            ident += 1
        sent = send_all(s, batch, deadline, st)
        st["messages_sent"] += sum(1 for e in ends if e <= sent)
    st["end_sample"] = srv.status()
    st["elapsed_s"] = round(time.monotonic() - t0, 1)  # short if --max-rss-mb hit
    st["writer_blocked"] = st["blocks"] > 0
    st["blocked_s"] = round(st["blocked_s"], 2)
    s.close()


def pipelined(srv, st, host, make, total, deadline, window, drain_s):
    """Writer thread sends make(n) (bytes) for n < total until deadline,
    keeping at most `window` unanswered; this thread reads the answers."""
    s, f = connect(srv.port, host)
    slots, lock = threading.Semaphore(window), threading.Lock()
    st.update(bytes_sent=0, blocked_s=0.0, blocks=0, messages_sent=0, answers=0, result_codes={})

    def writer():
        n = 0
        while (n < total and time.monotonic() < deadline and "send_error" not in st
               and not ABORT.is_set()):
            batch = []
            while len(batch) < 64 and n < total and slots.acquire(timeout=0 if batch else 0.5):
                batch.append(make(n))
                n += 1
            if batch:
                with lock:
                    sent = send_all(s, b"".join(batch), deadline, st)
                for m in batch:  # whole messages only
                    sent -= len(m)
                    st["messages_sent"] += sent >= 0
    w = threading.Thread(target=writer, daemon=True)
    w.start()
    last = time.monotonic()  # of the last answer
    try:
        while st["answers"] < total:
            now = time.monotonic()
            # the writer is done (or stuck) and answers stopped coming: give up
            if now > deadline + drain_s or (not w.is_alive() and now - last > drain_s):
                break
            m = f.read(now + 0.5)
            if m is None:
                continue
            a = answer_to(m, host)
            if a:
                with lock:
                    send_all(s, a, time.monotonic() + 2)
                continue
            st["answers"] += 1
            rc = str(result_code(m))
            st["result_codes"][rc] = st["result_codes"].get(rc, 0) + 1
            slots.release()
            last = time.monotonic()
    except EOFError as e:
        st["closed_by_server"] = str(e)
    st["blocked_s"] = round(st["blocked_s"], 2)
    return s


def forged(srv, a, st):
    nonce, t0 = random.getrandbits(32), time.monotonic()

    def make(n):  # T flag, a fresh Origin-Host and End-to-End id each
        return ccr(f"forged-{nonce:x}{n}.example.net", n, n + 2, (nonce + n) & 0xFFFFFFFF, R | P | T)
    s = pipelined(srv, st, "forged.example.net", make, 1 << 62,
                  t0 + a.seconds, 256, 3)
    st["end_sample"] = srv.status()
    st["elapsed_s"] = round(time.monotonic() - t0, 1)
    s.close()


def flood(srv, a, st):
    host, t0 = "flood.example.net", time.monotonic()
    s = pipelined(srv, st, host, lambda n: ccr(host, n, n + 2, n + 2), 20000,
                  t0 + 120, 20000, 10)
    st["flood_s"] = round(time.monotonic() - t0, 2)
    st["threads_after_last_answer"] = (srv.status() or (0, None))[1]
    time.sleep(a.keepalive_wait)  # the connection stays open meanwhile
    st["threads_after_wait"] = (srv.status() or (0, None))[1]
    st["end_sample"] = srv.status()
    s.close()


def evict(srv, a, st):
    t0, host = time.monotonic(), "quiet.example.net"
    s, f = connect(srv.port, host)
    e2e = random.getrandbits(32)
    first = ccr(host, 1, 2, e2e)
    st.update(quiet_first=None, quiet_again=None)

    def answer(hbh, deadline):  # the answer to hbh, answering DWRs meanwhile
        while (m := f.read(deadline)) is not None:
            reply = answer_to(m, host)
            if reply:
                s.sendall(reply)
            elif header(m)[2] == hbh:
                return m
        return None
    s.sendall(first)
    got = answer(2, time.monotonic() + 5)
    st["quiet_first"] = got and result_code(got)
    # the quiet peer keeps its connection (its identity, under --allow-any)
    # alive while the busy one floods
    quiet_stop = threading.Event()

    def keepalive():
        while not quiet_stop.is_set():
            m = f.read(time.monotonic() + 0.2)
            reply = m and answer_to(m, host)
            if reply:
                s.sendall(reply)
    k = threading.Thread(target=keepalive, daemon=True)
    k.start()
    busy = "busy.example.net"
    b = pipelined(srv, st, busy, lambda n: ccr(busy, n, n + 2, n + 2), a.evict_requests,
                  t0 + 300, 256, 10)
    st["busy_s"] = round(time.monotonic() - t0, 1)
    quiet_stop.set()
    k.join(2)
    again = bytearray(first)
    again[4] |= T
    struct.pack_into("!I", again, 12, 3)  # a new hop-by-hop id
    s.sendall(bytes(again))
    second = answer(3, time.monotonic() + 5)
    st["quiet_again"] = second and result_code(second)
    # the same bytes but for the hop-by-hop id
    st["same_answer_bytes"] = bool(got and second and got[:12] + got[16:] == second[:12] + second[16:])
    st["end_sample"] = srv.status()
    st["elapsed_s"] = round(time.monotonic() - t0, 1)
    s.close()
    b.close()


def verdict(name, counters, st):
    """What the server's counters say of a scenario (after it stopped)."""
    if name == "evict" and "retransmissions_answered" in counters:
        st["quiet_cached"] = counters["retransmissions_answered"] == 1


def oversize(srv, a, st):
    """Requests of exactly --max-message-size bytes through the dra `srv`."""
    host, t0 = "oversize.example.net", time.monotonic()
    s, f = connect(srv.port, host)
    base = ccr(host, 0, 0, 0)
    pad = a.max_message_size - len(base) - 8  # an unknown AVP, no M bit
    if pad < 0 or a.max_message_size % 4:
        raise ValueError("--max-message-size: too small or not a multiple of 4")
    st.update(oversized_sent=0, answers=0, result_codes={}, no_answer=0, max_answer_ms=0,
              bytes_sent=0, messages_sent=0)
    lost0 = srv.counts.get(b"disconnected (reason", 0)
    n, deadline = 0, t0 + a.seconds
    while time.monotonic() < deadline and not ABORT.is_set():
        n += 1
        body = ccr(host, n, n + 2, n + 2)[20:] + avp(999999, b"\x07" * pad, 0)
        m = msg(CCR, 4, R | P, n + 2, n + 2, [body])
        sent = time.monotonic()
        try:
            if send_all(s, m, sent + 5) < len(m):
                raise OSError("the dra read no more after 5 s")
            st["oversized_sent"] += 1
            st["messages_sent"] += 1
            st["bytes_sent"] += len(m)
            while (r := f.read(sent + 5)) is not None:
                a_ = answer_to(r, host)
                if a_:
                    s.sendall(a_)
                    continue
                if header(r)[2] == n + 2:
                    break
        except (EOFError, OSError) as e:
            st["closed_by_dra"] = repr(e)
            break
        if r is None:
            st["no_answer"] += 1
        else:
            st["answers"] += 1
            rc = str(result_code(r))
            st["result_codes"][rc] = st["result_codes"].get(rc, 0) + 1
            st["max_answer_ms"] = max(st["max_answer_ms"],
                                      round((time.monotonic() - sent) * 1000, 1))
        time.sleep(max(0, sent + 0.5 - time.monotonic()))
    # the upstreams the dra lost (its reconnect wait is 1 s: let them come back)
    time.sleep(2)
    st["upstream_connections_lost"] = srv.counts.get(b"disconnected (reason", 0) - lost0
    st["upstream_connections_made"] = srv.counts.get(b"capabilities exchanged with", 0)
    st["elapsed_s"] = round(time.monotonic() - t0, 1)
    st["end_sample"] = srv.status()
    s.close()




def start_dra(a, procs):
    """Two cc_servers (ocs1, ocs2 of REALM) and a dra routing REALM to them;
    returns the dra (a Server) once it exchanged capabilities with both."""
    ups = []
    for h in ("ocs1", "ocs2"):
        ups.append(Server(a.server_bin, float("inf"), host=f"{h}.{REALM}"))
        procs.append(ups[-1])
    peers = []
    for h, u in zip(("ocs1", "ocs2"), ups):
        peers += ["--peer", f"aaa://{h}.{REALM}:{u.port}", "--peer-address",
                  f"{h}.{REALM}=127.0.0.1"]

    def argv(port):
        return [a.dra_bin, "--listen", f"127.0.0.1:{port}", "--origin-host", "dra.relay.test",
                "--realm", "relay.test", "--allow-any", *peers,
                "--route", f"{REALM}=ocs1.{REALM},ocs2.{REALM}", "--app", "4"]
    env = dict(os.environ, RUST_LOG="warn,diameter.node=info")
    dra = Server(a.dra_bin, a.max_rss_mb, argv=argv, env=env,
                 ready=((b"capabilities exchanged with", 2),),
                 watch=(b"disconnected (reason", b"capabilities exchanged with"))
    return dra, ups


def admission(srv, a, st):
    """Connections that never send a CER, from many source addresses,
    opened at a steady rate and reopened as the server closes them."""
    import resource  # 4,000 sockets held at most, and some to spare
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 4200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4200, hard), hard))
    sel, held = selectors.DefaultSelector(), set()
    st.update(opened=0, connect_errors=0, closed_by_server=0, max_held=0)
    t0 = time.monotonic()
    deadline, buf_n = t0 + a.seconds, 4096
    st["flood_from"] = t0
    while time.monotonic() < deadline and not ABORT.is_set():
        due = int((time.monotonic() - t0) * a.admission_rate)
        while st["opened"] < due and len(held) < 4000:
            n = st["opened"]
            st["opened"] += 1
            s = socket.socket()
            s.setblocking(False)
            try:
                s.bind((f"127.0.0.{2 + n % 200}", 0))
                s.connect_ex(("127.0.0.1", srv.port))
            except OSError:
                st["connect_errors"] += 1
                s.close()
                continue
            sel.register(s, selectors.EVENT_READ)
            held.add(s)
        st["max_held"] = max(st["max_held"], len(held))
        for key, _ in sel.select(timeout=0.005):
            s = key.fileobj
            try:
                data = s.recv(buf_n)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:  # closed (or refused): opened again in later rounds
                sel.unregister(s)
                s.close()
                held.discard(s)
                st["closed_by_server"] += 1
    st["flood_to"] = time.monotonic()
    st["held_at_end"] = len(held)
    st["end_sample"] = srv.status()
    st["elapsed_s"] = round(time.monotonic() - t0, 1)
    for s in held:
        s.close()
    sel.close()


SCENARIOS = {"noread": noread, "forged": forged, "flood": flood, "evict": evict,
             "oversize": oversize, "admission": admission}
# the admission scenario's server has the bystander as its configured peer,
# and its bystander reconnects
SERVER_ARGS = {"admission": ["--client-host", "bystander.example.net"]}
BYSTANDERS = {"admission": reconnecting_bystander}


def run(name, a, procs):
    ABORT.clear()
    ups = []
    if name == "oversize":
        srv, ups = start_dra(a, procs)
    else:
        srv = Server(a.server_bin, a.max_rss_mb,
                     args=SERVER_ARGS.get(name, ["--allow-any"]) + a.server_arg)
    procs.append(srv)
    try:
        stop, (rx, tx) = mp.Event(), mp.Pipe(False)
        by = mp.Process(target=BYSTANDERS.get(name, bystander), args=(srv.port, stop, tx, srv.proc.stdin.fileno()),
                        daemon=True)
        by.start()
        procs.append(by)
        time.sleep(2)  # the bystander is connected and the start sample taken
        start = srv.status()
        st = {}
        SCENARIOS[name](srv, a, st)
        stop.set()
        b = rx.recv() if rx.poll(10) else {"error": "bystander gave no result"}
        by.join(5)
        if by.is_alive():
            by.kill()
        end = st.pop("end_sample", None) or srv.status() or (None, None)
        alive = srv.proc.poll() is None
        exit_info = srv.stop()
        verdict(name, srv.counters(), st)
        if ups:  # the dra's counters, printed as it stops
            srv.drained.wait(5)
            st["dra_counters"] = " ".join(
                l for l in srv.lines if "relayed=" in l or "too_large=" in l)
            for u in ups:
                u.stop()
    finally:
        srv.kill()
        for u in ups:
            u.kill()
    samples = srv.samples or [(0, 0)]
    if "tries" in b:  # the bystander's attempts while the flood ran (after 1 s)
        lo, hi = st.pop("flood_from", 0) + 1, st.pop("flood_to", 0)
        during = [ok for t, ok in b.pop("tries") if lo <= t <= hi]
        b["during_flood"] = f"{sum(during)}/{len(during)}"
    # latencies of all requests sent, the never answered ones as infinite
    lat = sorted(b.pop("lat_ms", [])) + [float("inf")] * b.get("lost", 0)
    top = max((x for x in lat if x < float("inf")), default=None)
    b["max_ms"] = top and round(top, 1)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None
    b["p99_ms"] = round(p99, 1) if p99 not in (None, float("inf")) else None  # None: lost
    r = {"scenario": name, "seconds": a.seconds,
         "rss_mb": {"start": round(start[0], 1), "max": round(max(x[0] for x in samples), 1),
                    "end": end[0] and round(end[0], 1)},
         "threads": {"start": start[1], "max": max(x[1] for x in samples), "end": end[1]},
         # RSS every 5 samples (about 5 s), to see whether it levels off
         "rss_mb_every_5s": [round(x[0], 1) for x in samples[::5]],
         "rss_limit_hit": ABORT.is_set(), "hostile": st, "bystander": b,
         "server_alive_at_end": alive, "server_stop": exit_info,
         "server_counters": srv.counters()}
    print("RESULT " + json.dumps(r), flush=True)
    return r


def table(results):
    rows = [("scenario", lambda r: r["scenario"]),
            ("RSS MB start/max/end", lambda r: "{start}/{max}/{end}".format(**r["rss_mb"])),
            ("threads start/max/end", lambda r: "{start}/{max}/{end}".format(**r["threads"])),
            ("hostile bytes sent", lambda r: r["hostile"].get("bytes_sent")),
            ("hostile msgs sent", lambda r: r["hostile"].get("messages_sent")),
            ("hostile answers", lambda r: r["hostile"].get("answers", "-")),
            ("evict: quiet peer's copy cached", lambda r: r["hostile"].get("quiet_cached", "-")),
            ("hostile writer blocked (s)", lambda r: "%s (%s)" % (
                r["hostile"].get("writer_blocked", r["hostile"].get("blocks", 0) > 0),
                r["hostile"].get("blocked_s"))),
            ("flood threads after/+wait", lambda r: "%s/%s" % (
                r["hostile"].get("threads_after_last_answer", "-"),
                r["hostile"].get("threads_after_wait", "-"))),
            ("oversize sent / results", lambda r: "%s / %s" % (
                r["hostile"].get("oversized_sent", "-"), r["hostile"].get("result_codes", "-"))
                if "oversized_sent" in r["hostile"] else "-"),
            ("upstream conns lost / made", lambda r: "%s / %s" % (
                r["hostile"].get("upstream_connections_lost", "-"),
                r["hostile"].get("upstream_connections_made", "-"))),
            ("bystander sent/answered/late/lost", lambda r: "{}/{}/{}/{}".format(
                *(r["bystander"].get(k) for k in ("sent", "answered", "late", "lost")))),
            ("bystander max / p99 ms", lambda r: "{}/{}".format(
                r["bystander"].get("max_ms"), r["bystander"].get("p99_ms"))),
            ("bystander result codes", lambda r: r["bystander"].get("result_codes")),
            ("admission: opened/closed by server", lambda r: "%s/%s" % (
                r["hostile"].get("opened", "-"), r["hostile"].get("closed_by_server", "-"))),
            ("admission: bystander in/attempts", lambda r: "%s/%s" % (
                r["bystander"].get("got_in", "-"), r["bystander"].get("attempts", "-"))),
            ("admission: in/attempts during flood", lambda r: r["bystander"].get(
                "during_flood", "-")),
            ("admission: CER/CEA ms p50/max", lambda r: "{p50}/{max}".format(
                **r["bystander"]["cea_ms"]) if "cea_ms" in r["bystander"] else "-"),
            ("admission: bystander failures", lambda r: r["bystander"].get("failed", "-")),
            ("bystander error", lambda r: r["bystander"].get("error") or "-"),
            ("RSS limit hit (hostile s)", lambda r: "%s (%s)" % (
                r["rss_limit_hit"], r["hostile"].get("elapsed_s", r["hostile"].get("flood_s")))),
            ("server exit (stop s)", lambda r: "{exit} ({stop_s})".format(**r["server_stop"]))]
    cells = [[label] + [str(f(r)) for r in results] for label, f in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cells[0]))]
    for c in cells:
        print("  ".join(x.ljust(w) for x, w in zip(c, widths)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--server-bin", required=True)
    p.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--keepalive-wait", type=float, default=15)
    p.add_argument("--max-rss-mb", type=float, default=4096,
                   help="stop the hostile client once the server's RSS passes this")
    p.add_argument("--evict-requests", type=int, default=80000,
                   help="evict: distinct requests of the busy peer")
    p.add_argument("--dra-bin", help="the dra example, for the oversize scenario")
    p.add_argument("--max-message-size", type=int, default=1 << 20,
                   help="oversize: the size of each request (the dra's max_message_size)")
    p.add_argument("--admission-rate", type=float, default=400,
                   help="admission: connections opened a second")
    p.add_argument("--server-arg", action="append", default=[],
                   help="an argument passed on to cc_server (repeatable)")
    a = p.parse_args()
    names = list(SCENARIOS) if a.scenario == "all" else [a.scenario]
    if "oversize" in names and not a.dra_bin:
        if a.scenario == "oversize":
            p.error("--scenario oversize needs --dra-bin")
        names.remove("oversize")
    procs = []

    def die(code, why):  # kills what we started; never returns
        print(f"hostile.py: {why}", file=sys.stderr, flush=True)
        for x in procs:
            (x.kill if isinstance(x, Server) else x.terminate)()
        os._exit(code)
    # global watchdog: generous per-scenario budgets, then everything dies
    budget = 60 + sum({"flood": 150 + a.keepalive_wait, "evict": 340}.get(n, a.seconds + 40)
                      for n in names)
    threading.Timer(budget, die, (3, f"watchdog: still running after {budget:.0f} s")).start()
    signal.signal(signal.SIGTERM, lambda *_: die(4, "terminated"))
    signal.signal(signal.SIGINT, lambda *_: die(4, "interrupted"))
    results = []
    try:
        for n in names:
            print(f"== {n}", flush=True)
            results.append(run(n, a, procs))
    except Exception as e:
        die(2, f"setup failure in {names[len(results)]}: {e!r}")
    print()
    table(results)
    sys.stdout.flush()
    os._exit(0)  # also cancels the watchdog timer


if __name__ == "__main__":
    mp.set_start_method("fork")
    main()
