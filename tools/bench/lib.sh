# Helpers shared by the benchmark scripts in tools/bench (sourced, not run).

# free_port: a TCP port that was free on 127.0.0.1 a moment ago.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_line FILE TEXT [TRIES]: waits until a line of FILE contains TEXT,
# checking every 0.05 s, TRIES times at most (default 200: 10 s); fails when
# it never does.
wait_for_line() {
  local file=$1 text=$2 tries=${3:-200}
  for _ in $(seq "$tries"); do
    grep -qF -- "$text" "$file" 2>/dev/null && return 0
    sleep 0.05
  done
  grep -qF -- "$text" "$file" 2>/dev/null
}
