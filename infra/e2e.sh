#!/usr/bin/env bash
# Starts the local stack (infra/dev.sh) on free ports, runs the end-to-end tests (crate
# infra/e2e) against it, and stops it again, whatever the outcome.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

export LOCAL_PORT=$(free_port) MOTO_PORT=$(free_port) PLIVO_SIM_PORT=$(free_port)
export LOCAL_API_KEY=e2e-api-key PLIVO_AUTH_ID=MAE2ETESTACCOUNT0001 PLIVO_AUTH_TOKEN=e2e-plivo-token
export DEV_READY_FILE="$root/target/e2e-ready"
unset PLIVO_BASE_URL PUBLIC_BASE_URL
rm -f "$DEV_READY_FILE"
mkdir -p "$root/target"

# The e2e tests compile while the stack starts.
cargo test -p e2e --no-run --quiet

setsid "$root/infra/dev.sh" >"$root/target/e2e-dev.log" 2>&1 &
dev=$!
stop() { kill -TERM "$dev" 2>/dev/null || true; wait "$dev" 2>/dev/null || true; }
trap stop EXIT

for _ in $(seq 600); do
  [ -f "$DEV_READY_FILE" ] && break
  if ! kill -0 "$dev" 2>/dev/null; then
    echo "e2e: the local stack failed to start:" >&2; tail -40 "$root/target/e2e-dev.log" >&2; exit 1
  fi
  sleep 0.5
done
[ -f "$DEV_READY_FILE" ] || { echo "e2e: the local stack was not ready in 5 minutes" >&2; tail -40 "$root/target/e2e-dev.log" >&2; exit 1; }

export SMS_E2E_API_URL="http://127.0.0.1:$LOCAL_PORT"
export SMS_E2E_SIM_URL="http://127.0.0.1:$PLIVO_SIM_PORT"
export SMS_E2E_API_KEY=$LOCAL_API_KEY
export SMS_E2E_PLIVO_AUTH_ID=$PLIVO_AUTH_ID
export SMS_E2E_PUBLIC_BASE_URL="http://127.0.0.1:$LOCAL_PORT"
if ! cargo test -p e2e -- --test-threads=1; then
  echo "e2e: failed; the local stack's logs are in .local/logs/" >&2
  exit 1
fi
