#!/usr/bin/env bash
# `make dev`: the whole system on this machine, with no AWS or Plivo account.
#
#   moto_server          DynamoDB, SQS, Secrets Manager and S3, speaking the real AWS protocols
#   local-setup          creates the table, the batch and files queues with their dead-letter
#                        queues, the secret, the files' bucket, the schedule group
#   plivo-sim            Plivo's Message API; posts signed delivery reports back
#   cargo lambda watch   every function's real binary, behind Lambda's invoke API on
#                        127.0.0.1:$LAMBDA_PORT
#   api-gateway          API Gateway's HTTP API on 127.0.0.1:$LOCAL_PORT: the routes of
#                        Cargo.toml's router, each request as payload format 2.0 to its
#                        function (local-stack's api_gateway.rs); the invoke API and function
#                        URLs passed through, so every tool keeps this one address
#   sqs-poller (twice)   Lambda's SQS event source mappings: the batch queue → the real sender
#                        function, the files queue → the real job-files function
#   schedule-poller      EventBridge Scheduler: fires scheduled jobs' due one-time schedules
#                        (their start task, to the files queue)
#   stream-poller        Lambda's DynamoDB event source mapping: the table's stream → the real
#                        report-counts function (the jobs' counts)
#
# STACK_FUNCTIONS_DIR (default: this checkout) is the checkout whose functions `cargo lambda
# watch` serves: the cost benchmark (infra/tests/cost/bench.sh) points it at a baseline
# revision's checkout, so that only the functions differ and every tool standing in for AWS
# (moto and its meter, the simulator, the pollers) is this checkout's.
#
# Settings (environment; defaults in brackets) are listed in the README. Runs in the
# foreground and stops everything it started on Ctrl-C. With DEV_READY_FILE set, it writes
# that file once every route answers (the end-to-end tests wait for it).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
cd "$root"

local_tools_on_path

export LOCAL_PORT=${LOCAL_PORT:-3000}
export LOCAL_API_KEY=${LOCAL_API_KEY:-local-dev-key-not-secret-0123456789}
export PLIVO_AUTH_ID=${PLIVO_AUTH_ID:-MASIMULATOR000000001}
export PLIVO_AUTH_TOKEN=${PLIVO_AUTH_TOKEN:-local-simulator-token}
export PLIVO_SRC=${PLIVO_SRC:-+14155550100}
export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-http://127.0.0.1:$LOCAL_PORT}
# As the template's default: a callback signed with V2 alone is refused (V3 decides).
export PLIVO_ACCEPT_V2_SIGNATURES=${PLIVO_ACCEPT_V2_SIGNATURES:-false}
# The account's request budget (sms_core::pace), read by the sender and send-sms.
export PLIVO_REQUESTS_PER_SECOND=${PLIVO_REQUESTS_PER_SECOND:-55}
# An unknown batch is settled from the simulator's records after this many seconds (the
# template's ReconcileDelaySeconds is 120): the simulator's records are there at once.
export RECONCILE_DELAY_SECONDS=${RECONCILE_DELAY_SECONDS:-3}
# The fallback provider (moto's SNS) is off unless asked for, as in the template.
export FALLBACK=${FALLBACK:-off}
MOTO_PORT=${MOTO_PORT:-5050}
# cargo lambda watch's own port, behind api-gateway.
LAMBDA_PORT=${LAMBDA_PORT:-9000}
PLIVO_SIM_PORT=${PLIVO_SIM_PORT:-8089}
export SMS_TABLE=${SMS_TABLE:-sms-local}
export SMS_QUEUE_NAME=${SMS_QUEUE_NAME:-sms-batches}
export SMS_FILES_QUEUE_NAME=${SMS_FILES_QUEUE_NAME:-sms-files}
export SMS_SECRET_ID=${SMS_SECRET_ID:-sms/local}
export SMS_BUCKET=${SMS_BUCKET:-sms-local-files}
export SCHEDULE_GROUP=${SCHEDULE_GROUP:-sms-local-starts}
export RUST_LOG=${RUST_LOG:-info}
# Locally one function instance serves every callback in turn (cargo lambda watch), so the
# simulator keeps few reports in flight; Plivo's 8-second wait per callback is then never hit.
export PLIVO_SIM_REPORT_CONCURRENCY=${PLIVO_SIM_REPORT_CONCURRENCY:-2}
export LOG_FORMAT=${LOG_FORMAT:-text}
functions_dir=${STACK_FUNCTIONS_DIR:-$root}
# The AWS SDK's standard settings point every function at the emulator.
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
unset AWS_PROFILE AWS_SESSION_TOKEN

logs="$root/.local/logs"
mkdir -p "$logs"
pids=()

cleanup() {
  trap - INT TERM EXIT
  stop_groups "${pids[@]}"
  [ -n "${DEV_READY_FILE:-}" ] && rm -f "$DEV_READY_FILE"
  echo "dev: stopped" >&2
}
trap cleanup INT TERM EXIT

# Each part runs in its own process group so that stopping it stops its children too.
start() {
  local name=$1; shift
  setsid "$@" >"$logs/$name.log" 2>&1 &
  pids+=($!)
}

wait_for() {
  local what=$1 url=$2
  wait_for_http "$url" 120 0.5 || { echo "dev: $what did not come up; see $logs" >&2; exit 1; }
}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
for p in "$LOCAL_PORT" "$LAMBDA_PORT" "$MOTO_PORT" $([ -z "${PLIVO_BASE_URL:-}" ] && echo "$PLIVO_SIM_PORT"); do
  port_free "$p" || { echo "dev: port $p is in use; set LOCAL_PORT, MOTO_PORT or PLIVO_SIM_PORT" >&2; exit 1; }
done

echo "dev: building the functions and local tools" >&2
cargo build --quiet --bins

# moto_server with the fix the Rust SDK needs (infra/local/moto_server.py says which).
# With MOTO_METER=1 (the cost benchmark) it meters what it serves (infra/local/moto_meter.py).
start moto "$root/.venv/bin/python" "$root/infra/local/moto_server.py" -H 127.0.0.1 -p "$MOTO_PORT"
wait_for "moto_server" "$AWS_ENDPOINT_URL/moto-api/"
# The tools standing in for AWS name themselves in their requests' User-Agent (the SDK's
# AWS_SDK_UA_APP_ID), so moto's meter tells their requests from the functions'.
settings=$(AWS_SDK_UA_APP_ID=local-setup "$root/target/debug/local-setup")
while IFS='=' read -r key value; do export "$key=$value"; done <<<"$settings"

if [ -z "${PLIVO_BASE_URL:-}" ]; then
  export PLIVO_BASE_URL="http://127.0.0.1:$PLIVO_SIM_PORT"
  PLIVO_SIM_ADDR="127.0.0.1:$PLIVO_SIM_PORT" start plivo-sim "$root/target/debug/plivo-sim"
  wait_for "plivo-sim" "$PLIVO_BASE_URL/health"
  sim_note="Plivo simulator  $PLIVO_BASE_URL  (what it received: $PLIVO_BASE_URL/__sim/requests)"
else
  sim_note="Plivo            $PLIVO_BASE_URL  (no simulator started)"
fi

# No --timeout: cargo-lambda 1.9 applies it to the runtime's idle /next long-poll too, and a
# function left idle that long then crashes in lambda_runtime (no request id). The sender
# bounds its own work (Plivo and AWS timeouts).
start api env -C "$functions_dir" cargo lambda watch --quiet --ignore-changes -A 127.0.0.1 -P "$LAMBDA_PORT"
wait_for "cargo lambda watch" "http://127.0.0.1:$LAMBDA_PORT/"
# The routes are the served checkout's (the cost benchmark's baseline has its own).
start gateway env API_GATEWAY_ADDR="127.0.0.1:$LOCAL_PORT" LAMBDA_URL="http://127.0.0.1:$LAMBDA_PORT" \
  ROUTES_MANIFEST="$functions_dir/Cargo.toml" "$root/target/debug/api-gateway"
wait_for "api-gateway" "http://127.0.0.1:$LOCAL_PORT/v1/messages/warm-up"
# The first request to each function starts its process; make that happen now.
for path in /v1/messages/warm-up /v1/bulk/warm-up /v1/callbacks/plivo/status; do
  curl -s -o /dev/null --max-time 60 "http://127.0.0.1:$LOCAL_PORT$path" || true
done

# Lambda's SQS trigger, played against the emulated queue.
export SENDER_INVOKE_URL="http://127.0.0.1:$LAMBDA_PORT/2015-03-31/functions/sender/invocations"
start poller env AWS_SDK_UA_APP_ID=local-sqs-poller "$root/target/debug/sqs-poller"
# And the files queue's trigger: job-files, one task at a time (the template's BatchSize 1),
# each allowed Lambda's longest invocation.
start files-poller env AWS_SDK_UA_APP_ID=local-files-poller POLLER_QUEUE_URL="$SMS_FILES_QUEUE_URL" \
  POLLER_INVOKE_URL="http://127.0.0.1:$LAMBDA_PORT/2015-03-31/functions/job-files/invocations" \
  POLLER_BATCH_SIZE=1 POLLER_CONCURRENCY=1 POLLER_VISIBILITY_TIMEOUT=900 \
  "$root/target/debug/sqs-poller"

# And EventBridge Scheduler: due one-time schedules (scheduled jobs' starts) are delivered to
# the files queue, as Scheduler would.
start schedule-poller env AWS_SDK_UA_APP_ID=local-schedule-poller "$root/target/debug/schedule-poller"

# And the table's stream trigger: delivery reports' STATUS changes → report-counts, which
# keeps the jobs' counts (a moment behind the reports, as on AWS).
start stream-poller env \
  STREAM_INVOKE_URL="http://127.0.0.1:$LAMBDA_PORT/2015-03-31/functions/report-counts/invocations" \
  "$root/target/debug/stream-poller"

cat >&2 <<MSG

dev: ready
  API              http://127.0.0.1:$LOCAL_PORT   (API key: $LOCAL_API_KEY)
  $sim_note
  AWS emulator     $AWS_ENDPOINT_URL  (table $SMS_TABLE, secret $SMS_SECRET_ID)
  batch queue      $SMS_QUEUE_URL  (dead letters: $SMS_DLQ_URL)
  files queue      $SMS_FILES_QUEUE_URL  (dead letters: $SMS_FILES_DLQ_URL)
  files bucket     $SMS_BUCKET  ($AWS_ENDPOINT_URL/$SMS_BUCKET, path-style)
  logs             $logs/

Try:
  curl -s -X POST http://127.0.0.1:$LOCAL_PORT/v1/messages \\
    -H 'Authorization: Bearer $LOCAL_API_KEY' -H 'Content-Type: application/json' \\
    -d '{"to": "+14155550123", "text": "Hello from plivo-sms-lambdas"}'

  curl -s -X POST http://127.0.0.1:$LOCAL_PORT/v1/bulk \\
    -H 'Authorization: Bearer $LOCAL_API_KEY' -H 'Content-Type: application/json' \\
    -d '{"recipients": ["+14155550123", "+14155550124", "bogus"], "text": "Hello, everyone"}'

Ctrl-C stops everything.
MSG
[ -n "${DEV_READY_FILE:-}" ] && : >"$DEV_READY_FILE"

# Stay in the foreground; if any part dies, stop the rest and say which.
set +e
wait -n "${pids[@]}"
echo "dev: a part of the stack exited; see $logs" >&2
exit 1
