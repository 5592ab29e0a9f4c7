#!/usr/bin/env bash
# with-stack.sh CMD...: starts the whole local stack (infra/local/dev.sh) on free ports, runs
# CMD against it with the SMS_E2E_* variables (and dev.sh's LOCAL_PORT and MOTO_PORT) set, and
# stops the stack whatever the outcome. Used by the end-to-end tests (infra/tests/e2e.sh), the
# sample events (infra/tests/events.sh) and the throughput benchmark (infra/tests/bench.sh);
# settings of dev.sh (e.g. PLIVO_SIM_LATENCY_MS, or LOCAL_API_KEY, PLIVO_AUTH_TOKEN and
# PUBLIC_BASE_URL for signed sample events) pass through the environment.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
cd "$root"

export LOCAL_PORT=$(free_port) LAMBDA_PORT=$(free_port) MOTO_PORT=$(free_port) PLIVO_SIM_PORT=$(free_port)
export LOCAL_API_KEY=${LOCAL_API_KEY:-e2e-api-key-not-secret-0123456789}
export PLIVO_AUTH_ID=${PLIVO_AUTH_ID:-MAE2ETESTACCOUNT0001} PLIVO_AUTH_TOKEN=${PLIVO_AUTH_TOKEN:-e2e-plivo-token}
export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-http://127.0.0.1:$LOCAL_PORT}
export DEV_READY_FILE="$root/target/stack-ready-$LOCAL_PORT"
unset PLIVO_BASE_URL SMS_TABLE SMS_QUEUE_NAME SMS_FILES_QUEUE_NAME SMS_SECRET_ID SMS_BUCKET
mkdir -p "$root/target"
log="$root/target/stack-$LOCAL_PORT.log"

# Build first, in the foreground: the start-up wait below is then for the stack, not the compiler.
"$root/infra/local/bootstrap.sh"
cargo build --quiet --bins

setsid "$root/infra/local/dev.sh" >"$log" 2>&1 &
dev=$!
stop() { kill -TERM "$dev" 2>/dev/null || true; wait "$dev" 2>/dev/null || true; rm -f "$log"; }
trap stop EXIT

for _ in $(seq 1200); do
  [ -f "$DEV_READY_FILE" ] && break
  if ! kill -0 "$dev" 2>/dev/null; then
    echo "with-stack: the local stack failed to start:" >&2; tail -40 "$log" >&2; exit 1
  fi
  sleep 0.5
done
[ -f "$DEV_READY_FILE" ] || { echo "with-stack: the local stack was not ready in 10 minutes" >&2; tail -40 "$log" >&2; exit 1; }

export SMS_E2E_API_URL="http://127.0.0.1:$LOCAL_PORT"
export SMS_E2E_SIM_URL="http://127.0.0.1:$PLIVO_SIM_PORT"
export SMS_E2E_API_KEY=$LOCAL_API_KEY
export SMS_E2E_PLIVO_AUTH_ID=$PLIVO_AUTH_ID SMS_E2E_PLIVO_AUTH_TOKEN=$PLIVO_AUTH_TOKEN
export SMS_E2E_PUBLIC_BASE_URL=$PUBLIC_BASE_URL
# The emulator, and the functions' logs (where their metrics are, as Embedded Metric Format
# lines).
export SMS_E2E_MOTO_URL="http://127.0.0.1:$MOTO_PORT" SMS_E2E_LOGS="$root/.local/logs"
if ! "$@"; then
  echo "with-stack: '$*' failed; the local stack's logs are in .local/logs/" >&2
  # CI keeps only what is printed: the functions' errors and the emulator's last words.
  logs="$root/.local/logs"
  # Colour codes and the spans' prefixes (request and trace ids) are cut: the messages are what
  # tells what happened.
  readable() { sed -E 's/\x1b\[[0-9;]*m//g; s/^.*\}: //' | cut -c1-300; }
  for f in "$logs"/*.log; do
    echo "--- $(basename "$f"): its last errors" >&2
    grep -a -i -E 'panic|error|fail|warn' "$f" | grep -v -E 'available_functions' | tail -n 15 | readable >&2 || true
  done
  echo "--- api.log: its last lines" >&2
  tail -n 25 "$logs/api.log" | readable >&2
  exit 1
fi
