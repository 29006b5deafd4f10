#!/usr/bin/env bash
# Throughput and latency of the cc_client/cc_server pair over TCP and over
# TLS, on loopback, measured in one sitting: the transports alternate run by
# run so that drift on the machine hits both alike. Prints one line per run
# (cc_client's last line) and a summary with the median of the runs and the
# TLS/TCP ratios.
#
#   tools/bench/transports.sh [REQUESTS] [RUNS] [CONCURRENCY...]
#   (defaults: 50000 requests, 3 runs, concurrency 1 16 64)
set -euo pipefail
cd "$(dirname "$0")/../.."

requests=${1:-50000}
runs=${2:-3}
shift $(( $# > 2 ? 2 : $# )) || true
concurrency=("$@")
[ ${#concurrency[@]} -gt 0 ] || concurrency=(1 16 64)

cargo build --quiet --release --features tls --example cc_server --example cc_client
bin=target/release/examples
certs=tests/data/tls
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run TRANSPORT CONCURRENCY: one server, one client run; prints the client's last line
run() {
  local transport=$1 c=$2 port tls_server=() tls_client=()
  port=$(free_port)
  if [ "$transport" = tls ]; then
    tls_server=(--tls-cert "$certs/node2.example.test.pem" --tls-key "$certs/node2.example.test.key" --tls-ca "$certs/ca.pem")
    tls_client=(--tls-cert "$certs/node1.example.test.pem" --tls-key "$certs/node1.example.test.key" --tls-ca "$certs/ca.pem")
  fi
  mkfifo "$work/stdin"
  "$bin/cc_server" --listen "127.0.0.1:$port" --origin-host node2.example.test --realm example.test \
    --client-host node1.example.test --transport "$transport" "${tls_server[@]}" \
    < "$work/stdin" > "$work/server.log" 2>&1 &
  local server=$!
  exec 9> "$work/stdin"
  for _ in $(seq 100); do
    grep -q "listening on" "$work/server.log" 2>/dev/null && break
    sleep 0.05
  done
  "$bin/cc_client" --peer "127.0.0.1:$port" --peer-host node2.example.test --peer-realm example.test \
    --origin-host node1.example.test --realm example.test --requests "$requests" --concurrency "$c" \
    --transport "$transport" "${tls_client[@]}" | tail -n 1
  exec 9>&-
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" || true
  rm -f "$work/stdin"
}

results="$work/results"
: > "$results"
for c in "${concurrency[@]}"; do
  for r in $(seq "$runs"); do
    for t in tcp tls; do
      line=$(run "$t" "$c")
      echo "transport=$t concurrency=$c run=$r $line"
      echo "$t $c $line" >> "$results"
    done
  done
done

python3 - "$results" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    t, c, rest = line.split(" ", 2)
    f = dict(re.findall(r"(\w+)=([\d.]+)", rest))
    if int(f.get("errors", 1)) != 0:
        print(f"warning: errors in {line.strip()}")
    rows.setdefault((int(c), t), []).append(
        (float(f["rate"]), float(f["p50_us"]), float(f["p99_us"])))
print("\nmedians: concurrency transport rate/s p50_us p99_us | TLS/TCP rate p99")
for c in sorted({c for c, _ in rows}):
    med = {t: [statistics.median(x) for x in zip(*rows[(c, t)])] for t in ("tcp", "tls")}
    for t in ("tcp", "tls"):
        rate, p50, p99 = med[t]
        extra = ""
        if t == "tls":
            extra = f" | {rate / med['tcp'][0]:.2f} {p99 / med['tcp'][2]:.2f}"
        print(f"C={c:<3} {t}  {rate:>9.0f} {p50:>7.0f} {p99:>7.0f}{extra}")
PY
