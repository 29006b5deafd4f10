#!/usr/bin/env bash
# Throughput and latency of two builds of the cc_server/cc_client pair, plain
# TCP on loopback, measured in one sitting: base and new alternate run by run
# (base-new, then new-base, ...) so that drift on the machine hits both alike.
# Prints one line per run (cc_client's last line) and a markdown table of the
# medians over the runs.
#
#   tools/bench/compare.sh BASE_DIR NEW_DIR [REQUESTS] [RUNS]
#   (each DIR holds cc_server and cc_client, e.g. target/release/examples;
#   defaults: 50000 requests per run, at most 20000 at concurrency 1; 3 runs)
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 BASE_DIR NEW_DIR [REQUESTS] [RUNS]" >&2; exit 2; }
base=$1 new=$2 requests=${3:-50000} runs=${4:-3}
for d in "$base" "$new"; do
  for b in cc_server cc_client; do
    [ -x "$d/$b" ] || { echo "$0: no executable $d/$b" >&2; exit 2; }
  done
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# free_port, wait_for_line
. "$(dirname "$0")/lib.sh"

# run DIR CONCURRENCY REQUESTS: one server, one client run; prints the client's last line
run() {
  local bin=$1 c=$2 n=$3 port server
  port=$(free_port)
  mkfifo "$work/stdin"
  # the server stops on SIGTERM (builds before that: at end of its stdin,
  # the fifo held open on fd 9)
  "$bin/cc_server" --listen "127.0.0.1:$port" --origin-host node2.example.test \
    --realm example.test --client-host node1.example.test \
    < "$work/stdin" > "$work/server.log" 2>&1 &
  server=$!
  exec 9> "$work/stdin"
  if ! wait_for_line "$work/server.log" "listening on" 200; then
    echo "$0: $bin/cc_server did not start" >&2
    cat "$work/server.log" >&2
    kill "$server"
    exit 1
  fi
  timeout 600 "$bin/cc_client" --peer "127.0.0.1:$port" --peer-host node2.example.test \
    --peer-realm example.test --origin-host node1.example.test --realm example.test \
    --requests "$n" --concurrency "$c" | tail -n 1
  exec 9>&-
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" || true
  rm -f "$work/stdin"
}

results="$work/results"
: > "$results"
for c in 1 16 64; do
  n=$requests
  [ "$c" -eq 1 ] && [ "$n" -gt 20000 ] && n=20000
  for r in $(seq "$runs"); do
    order="base new"
    [ $((r % 2)) -eq 0 ] && order="new base"
    for side in $order; do
      dir=$base
      [ "$side" = new ] && dir=$new
      line=$(run "$dir" "$c" "$n")
      echo "$side concurrency=$c run=$r $line"
      echo "$side $c $line" >> "$results"
    done
  done
done

# medians per side and concurrency, from "requests=N answered=A errors=E rate=R/s p50_us=X p99_us=Y"
python3 - "$results" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    side, c, rest = line.split(" ", 2)
    f = dict(re.findall(r"(\w+)=([\d.]+)", rest))
    if "rate" not in f or int(f.get("errors", 1)) != 0:
        print(f"warning: errors or no result in: {line.strip()}")
    rows.setdefault((int(c), side), []).append(
        (float(f.get("rate", "nan")), float(f.get("p99_us", "nan"))))
print("\n| concurrency | base rate/s | new rate/s | new/base | base p99 µs | new p99 µs |")
print("|---:|---:|---:|---:|---:|---:|")
for c in sorted({c for c, _ in rows}):
    (br, bp), (nr, np_) = ([statistics.median(x) for x in zip(*rows[(c, s)])] for s in ("base", "new"))
    print(f"| {c} | {br:.0f} | {nr:.0f} | {nr / br:.2f} | {bp:.0f} | {np_:.0f} |")
PY
