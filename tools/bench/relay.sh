#!/usr/bin/env bash
# What a relay agent costs: cc_client -> dra -> cc_server against
# cc_client -> cc_server, plain TCP on loopback, measured in one sitting. The
# two paths alternate run by run (direct-relayed, then relayed-direct, ...)
# so that drift on the machine hits both alike; each run starts its own
# cc_server (and dra). The CCRs are the same on both paths (Destination-Realm
# server.test); the dra adds one hop, with its Route-Record. Prints one line
# per run (cc_client's last line; for a relayed run also the dra's counters)
# and a markdown table of the medians over the runs, with the relayed/direct
# ratios.
#
#   tools/bench/relay.sh BIN_DIR [REQUESTS] [RUNS] [CONCURRENCY...]
#   (BIN_DIR holds cc_server, cc_client and dra: cargo build --release
#   --examples, then target/release/examples; defaults: 50000 requests per
#   run, 3 runs, concurrency 16 and 64)
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 BIN_DIR [REQUESTS] [RUNS] [CONCURRENCY...]" >&2; exit 2; }
bin=$1 requests=${2:-50000} runs=${3:-3}
shift $(( $# > 3 ? 3 : $# ))
concurrency=("$@")
[ ${#concurrency[@]} -gt 0 ] || concurrency=(16 64)
for b in cc_server cc_client dra; do
  [ -x "$bin/$b" ] || { echo "$0: no executable $bin/$b (cargo build --release --examples)" >&2; exit 2; }
done
work=$(mktemp -d)
pids=()
# on exit (also on error or Ctrl-C): stop what is still running
cleanup() {
  for p in ${pids[@]+"${pids[@]}"}; do
    stop "$p"
  done
  rm -rf "$work"
}
trap cleanup EXIT
# free_port, wait_for_line
. "$(dirname "$0")/lib.sh"

# started NAME PID LOG TEXT: waits for TEXT in LOG (10 s), or reports NAME's
# log and exits
started() {
  if ! wait_for_line "$3" "$4" 200; then
    echo "$0: $1 did not start" >&2
    cat "$3" >&2
    exit 1
  fi
}

# stop PID: SIGTERM (the examples stop their node: DPR to every peer), wait,
# and forget the process
stop() {
  local keep=() p
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" || true
  for p in ${pids[@]+"${pids[@]}"}; do
    [ "$p" = "$1" ] || keep+=("$p")
  done
  pids=(${keep[@]+"${keep[@]}"})
}

# run PATH CONCURRENCY: one run (PATH direct or relayed) with fresh
# processes; prints the client's last line, and for a relayed run the dra's
# counters after " | dra "
run() {
  local path=$1 c=$2 sport dport server dra="" peer
  sport=$(free_port)
  # the server's only peer is its client: cc_client, or the dra
  local client_host=pgw.client.test
  [ "$path" = relayed ] && client_host=dra.relay.test
  "$bin/cc_server" --listen "127.0.0.1:$sport" --origin-host ocs.server.test \
    --realm server.test --client-host "$client_host" \
    < /dev/null > "$work/server.log" 2>&1 &
  server=$!
  pids+=("$server")
  started cc_server "$server" "$work/server.log" "listening on"
  peer=(--peer "127.0.0.1:$sport" --peer-host ocs.server.test --peer-realm server.test)
  if [ "$path" = relayed ]; then
    dport=$(free_port)
    RUST_LOG=warn,diameter.node=info "$bin/dra" --listen "127.0.0.1:$dport" \
      --origin-host dra.relay.test --realm relay.test --allow-any \
      --peer "aaa://ocs.server.test:$sport" --peer-address ocs.server.test=127.0.0.1 \
      --route server.test=ocs.server.test \
      < /dev/null > "$work/dra.log" 2>&1 &
    dra=$!
    pids+=("$dra")
    started dra "$dra" "$work/dra.log" "capabilities exchanged with ocs.server.test"
    peer=(--peer "127.0.0.1:$dport" --peer-host dra.relay.test --peer-realm relay.test)
  fi
  local line
  line=$(timeout 600 "$bin/cc_client" "${peer[@]}" --dest-realm server.test \
    --origin-host pgw.client.test --realm client.test \
    --requests "$requests" --concurrency "$c" | tail -n 1)
  if [ -n "$dra" ]; then
    stop "$dra"
    line="$line | dra $(grep -F "relayed=" "$work/dra.log" | tail -n 1)"
  fi
  stop "$server"
  echo "$line"
}

results="$work/results"
: > "$results"
for c in "${concurrency[@]}"; do
  for r in $(seq "$runs"); do
    order="direct relayed"
    [ $((r % 2)) -eq 0 ] && order="relayed direct"
    for path in $order; do
      # not in a $(...) subshell: run's processes stay known to cleanup
      run "$path" "$c" > "$work/line"
      line=$(cat "$work/line")
      echo "$path concurrency=$c run=$r $line"
      echo "$path $c $line" >> "$results"
    done
  done
done

# medians per path and concurrency, from "requests=N answered=A errors=E
# rate=R/s p50_us=X p99_us=Y [| dra relayed=N ...]"
python3 - "$results" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    path, c, rest = line.split(" ", 2)
    client = rest.split(" | ", 1)[0]
    f = dict(re.findall(r"(\w+)=([\d.]+)", client))
    if "rate" not in f or int(f.get("errors", 1)) != 0:
        print(f"warning: errors or no result in: {line.strip()}")
    rows.setdefault((int(c), path), []).append(
        tuple(float(f.get(k, "nan")) for k in ("rate", "p50_us", "p99_us")))
print("\n| concurrency | direct rate/s | relayed rate/s | relayed/direct | "
      "direct p50 µs | relayed p50 µs | direct p99 µs | relayed p99 µs |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for c in sorted({c for c, _ in rows}):
    (dr, d50, d99), (rr, r50, r99) = (
        [statistics.median(x) for x in zip(*rows[(c, p)])] for p in ("direct", "relayed"))
    print(f"| {c} | {dr:.0f} | {rr:.0f} | {rr / dr:.2f} | "
          f"{d50:.0f} | {r50:.0f} | {d99:.0f} | {r99:.0f} |")
PY
