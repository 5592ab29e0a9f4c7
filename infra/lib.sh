# Shell helpers the infra scripts share. Every script sources it first, by its path relative
# to the script's own directory (from infra/<role>/: `. "$(dirname "$0")/../lib.sh"`), which
# sets `root` (the repository's root, absolute) and defines the helpers below.

# lib.sh is infra/lib.sh, so the root is one level up from here, wherever the caller runs.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# A TCP port on 127.0.0.1 that is free now (the OS picks it).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Installs the local tools if they are missing or stale (infra/local/bootstrap.sh) and puts
# ./.venv/bin first on PATH, for moto_server, cargo-lambda, sam, cfn-lint and pytest.
local_tools_on_path() {
  "$root/infra/local/bootstrap.sh"
  export PATH="$root/.venv/bin:$PATH"
}

# wait_for_http URL TRIES PAUSE [PID]: succeeds once URL answers over HTTP (any status); fails
# after TRIES tries PAUSE seconds apart, or as soon as process PID (the server being waited
# for) has exited.
wait_for_http() {
  local url=$1 tries=$2 pause=$3 pid=${4:-}
  for _ in $(seq "$tries"); do
    if curl -s -o /dev/null --max-time 2 "$url"; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep "$pause"
  done
  return 1
}

# stop_groups PID...: stops the process groups led by these PIDs (each started with setsid,
# so that its children stop with it): TERM, up to 2 s for the leaders to exit, then KILL.
stop_groups() {
  local pid
  for pid in "$@"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 20); do
    local alive=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for pid in "$@"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}
