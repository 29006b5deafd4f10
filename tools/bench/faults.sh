#!/usr/bin/env bash
# What a hung, restarting or slow server costs behind a relay: cc_client
# (64 outstanding, 10 s timeout) -> relay -> two cc_servers of one realm,
# with one of the servers
#   frozen     stopped with SIGSTOP for FREEZE seconds (default 20), then
#              continued (SIGCONT): its kernel still accepts connections and
#              takes the bytes, nothing comes back;
#   restarted  killed with SIGKILL, and started again on the same address
#              DOWN seconds later (default 5);
#   slowed     answering each request SLOW_MS milliseconds late (default 20)
#              all along.
# The relay is our `dra` example and, when freeDiameterd is installed,
# freeDiameter (tests/interop/freediameter.py as in tests/it/relay_freediameter.rs:
# rt_default routing realm server.test to both servers, rt_load_balance, its
# watchdog at the wrapper's TwTimer of 6 s, TcTimer 2 s), with the same
# servers and client. cc_client runs back to back in chunks of CHUNK requests
# (default 40000) from 2 s before the fault until 10 s after it ends (the
# slowed run: 30 s); every request it sent is counted once: answered (2001),
# refused (another Result-Code: 3002 ...), timed out (no answer within 10 s)
# or failed otherwise. Prints one line per chunk, the dra's counters, and a
# markdown table per scenario and relay. A benchmark, not a test: nothing
# here decides pass or fail.
#
#   tools/bench/faults.sh BIN_DIR [SCENARIO...]
#   (BIN_DIR holds cc_server, cc_client and dra: cargo build --release
#   --examples, then target/release/examples; scenarios: frozen restarted
#   slowed, all by default; environment: CHUNK, FREEZE, DOWN, SLOW_MS)
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 BIN_DIR [frozen|restarted|slowed ...]" >&2; exit 2; }
bin=$1
shift
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(frozen restarted slowed)
for s in "${scenarios[@]}"; do
  case $s in frozen|restarted|slowed) ;; *) echo "$0: unknown scenario $s" >&2; exit 2 ;; esac
done
chunk=${CHUNK:-40000} freeze=${FREEZE:-20} down=${DOWN:-5} slow_ms=${SLOW_MS:-20}
for b in cc_server cc_client dra; do
  [ -x "$bin/$b" ] || { echo "$0: no executable $bin/$b (cargo build --release --examples)" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")" && pwd)
fd_wrapper="$here/../../tests/interop/freediameter.py"
relays=(dra)
if command -v freeDiameterd > /dev/null && command -v python3 > /dev/null; then
  relays+=(freediameter)
else
  echo "freeDiameterd not found: the freeDiameter column is skipped"
fi
work=$(mktemp -d)
pids=()
# on exit (also on error or Ctrl-C): continue and stop what is still running
cleanup() {
  for p in ${pids[@]+"${pids[@]}"}; do
    kill -CONT "$p" 2>/dev/null || true
    stop "$p"
  done
  rm -rf "$work"
}
trap cleanup EXIT
# free_port, wait_for_line
. "$here/lib.sh"

# started NAME LOG TEXT: waits for TEXT in LOG (20 s), or reports NAME's log
# and exits
started() {
  if ! wait_for_line "$2" "$3" 400; then
    echo "$0: $1 did not start" >&2
    cat "$2" >&2
    exit 1
  fi
}

# stop PID: SIGTERM (the examples stop their node: DPR to every peer), wait,
# and forget the process
stop() {
  local keep=() p
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  for p in ${pids[@]+"${pids[@]}"}; do
    [ "$p" = "$1" ] || keep+=("$p")
  done
  pids=(${keep[@]+"${keep[@]}"})
}

# server N PORT RELAY_HOST [ARGS...]: starts ocsN.server.test on PORT for the
# relay RELAY_HOST; its pid in $server_pid, its log in $work/ocsN.log (appended)
server() {
  local n=$1 port=$2 relay_host=$3
  shift 3
  "$bin/cc_server" --listen "127.0.0.1:$port" --origin-host "ocs$n.server.test" \
    --realm server.test --client-host "$relay_host" "$@" \
    < /dev/null >> "$work/ocs$n.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
}

# load RELAY_PORT RELAY_HOST: cc_client chunks until $work/stop exists; one
# line per chunk in $work/chunks
load() {
  local rport=$1 rhost=$2
  : > "$work/chunks"
  while [ ! -e "$work/stop" ]; do
    timeout 600 "$bin/cc_client" --peer "127.0.0.1:$rport" --peer-host "$rhost" \
      --peer-realm relay.test --dest-realm server.test \
      --origin-host pgw.client.test --realm client.test \
      --requests "$chunk" --concurrency 64 --timeout 10 \
      < /dev/null 2> /dev/null | tail -n 1 >> "$work/chunks" || true
  done
}

# run SCENARIO RELAY: one run with fresh processes; appends its totals to
# $work/results
run() {
  local scenario=$1 relay=$2 p1 p2 rport rhost relay_pid s1 s2 loader slow=()
  p1=$(free_port) p2=$(free_port) rport=$(free_port)
  rm -f "$work/stop" "$work"/ocs*.log "$work/relay.log"
  rhost=dra.relay.test
  [ "$relay" = freediameter ] && rhost=fd.relay.test
  [ "$scenario" = slowed ] && slow=(--delay-ms "$slow_ms")
  server 1 "$p1" "$rhost" ${slow[@]+"${slow[@]}"}
  s1=$server_pid
  server 2 "$p2" "$rhost"
  s2=$server_pid
  started ocs1 "$work/ocs1.log" "listening on"
  started ocs2 "$work/ocs2.log" "listening on"
  if [ "$relay" = dra ]; then
    RUST_LOG=warn,diameter.node=info "$bin/dra" --listen "127.0.0.1:$rport" \
      --origin-host dra.relay.test --realm relay.test --allow-any \
      --peer "aaa://ocs1.server.test:$p1" --peer "aaa://ocs2.server.test:$p2" \
      --peer-address ocs1.server.test=127.0.0.1 --peer-address ocs2.server.test=127.0.0.1 \
      --route server.test=ocs1.server.test,ocs2.server.test --app 4 \
      < /dev/null > "$work/relay.log" 2>&1 &
    relay_pid=$!
    pids+=("$relay_pid")
    started dra "$work/relay.log" "capabilities exchanged with ocs1.server.test"
    started dra "$work/relay.log" "capabilities exchanged with ocs2.server.test"
  else
    python3 "$fd_wrapper" --role server --identity fd.relay.test --allow '*.client.test' \
      --route 'dr="server.test" : rlm="server.test" += REALM' \
      --extension rt_load_balance.fdx --dump none --debug 0 --duration 3600 \
      --port "$rport" --connect "ocs1.server.test:$p1" --connect "ocs2.server.test:$p2" \
      < /dev/null > "$work/relay.log" 2>&1 &
    relay_pid=$!
    pids+=("$relay_pid")
    started freeDiameter "$work/relay.log" "EVENT ready peer=ocs1.server.test"
    started freeDiameter "$work/relay.log" "EVENT ready peer=ocs2.server.test"
  fi
  load "$rport" "$rhost" &
  loader=$!
  sleep 2
  case $scenario in
    frozen)
      kill -STOP "$s1"
      sleep "$freeze"
      kill -CONT "$s1"
      ;;
    restarted)
      kill -KILL "$s1"
      wait "$s1" 2>/dev/null || true
      stop "$s1"
      sleep "$down"
      server 1 "$p1" "$rhost"
      s1=$server_pid
      ;;
    slowed)
      sleep 20
      ;;
  esac
  sleep 10
  touch "$work/stop"
  wait "$loader" || true
  local counters=""
  stop "$relay_pid"
  [ "$relay" = dra ] && counters=$(grep -F "relayed=" "$work/relay.log" | tail -n 1)
  stop "$s1"
  stop "$s2"
  local a1 a2
  a1=$(grep -F "stopped:" "$work/ocs1.log" | tail -n 1 | sed -n 's/.* answered=\([0-9]*\).*/\1/p')
  a2=$(grep -F "stopped:" "$work/ocs2.log" | tail -n 1 | sed -n 's/.* answered=\([0-9]*\).*/\1/p')
  while read -r line; do
    echo "$scenario $relay chunk: $line"
  done < "$work/chunks"
  [ -z "$counters" ] || echo "$scenario $relay dra: $counters"
  python3 - "$scenario" "$relay" "${a1:-?}" "${a2:-?}" "$work/chunks" >> "$work/results" <<'PY'
import re, sys
scenario, relay, a1, a2, chunks = sys.argv[1:]
t = dict.fromkeys(("requests", "answered", "refused", "timed_out", "errors"), 0)
for line in open(chunks):
    f = dict(re.findall(r"(\w+)=([\d.]+)", line))
    for k in t:
        t[k] += int(f.get(k, 0))
other = t["errors"] - t["refused"] - t["timed_out"]
print(f"| {scenario} | {relay} | {t['requests']} | {t['answered']} | {t['refused']} "
      f"| {t['timed_out']} | {other} | {a1} / {a2} |")
PY
}

: > "$work/results"
for scenario in "${scenarios[@]}"; do
  for relay in "${relays[@]}"; do
    run "$scenario" "$relay"
  done
done
echo
echo "| scenario | relay | requests | answered | refused | timed out | other errors | answered by ocs1 / ocs2 |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
cat "$work/results"
