#!/usr/bin/env bash
# `make events`: starts the local stack (infra/dev.sh) on free ports, invokes the function of
# every sample event in events/ with `cargo lambda invoke --data-file`, in the order of
# events/expected.tsv (file, function, expected; later samples refer to what earlier ones
# created), and checks each answer:
#   - API Gateway events (payload 2.0): the response's statusCode must equal `expected`;
#   - SQS events (Records[].eventSource aws:sqs): the number of batchItemFailures must. Before
#     one, the script waits until the local batch queue is empty, i.e. the stack's SQS poller
#     has handled whatever earlier samples enqueued.
# The function is the longest binary name that prefixes the file name before a "-"
# (send-sms-*, send-bulk-*, sender-*, status-callback-*) and must match the table. A sample
# without a line in the table, or a line without its sample, fails the run. The stack is
# stopped again whatever the outcome.
#
# The samples carry the API key local-dev-key-not-secret-0123456789, and the callbacks are signed with the local
# Plivo token for the URL http://127.0.0.1:3000 (see the README): the stack gets that key and
# that PUBLIC_BASE_URL whatever port it listens on, and the Plivo simulator's own delivery
# reports are off (they would go to that URL, not to this stack).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

functions=(send-sms send-bulk sender status-callback)
table="$root/events/expected.tsv"

function_of() {
  local file=$1 best=""
  for f in "${functions[@]}"; do
    if [[ $file == "$f-"* ]] && [ ${#f} -gt ${#best} ]; then best=$f; fi
  done
  printf '%s' "$best"
}

# Read the table and check it against events/ before starting anything.
declare -A want_fn want_value
order=()
while IFS=$'\t' read -r file fn value rest; do
  [[ -z ${file// } || $file == \#* ]] && continue
  if [ -z "${fn:-}" ] || [ -z "${value:-}" ] || [ -n "${rest:-}" ]; then
    echo "events: malformed line in events/expected.tsv: $file ${fn:-} ${value:-} ${rest:-}" >&2; exit 1
  fi
  if [ -n "${want_fn[$file]:-}" ]; then
    echo "events: events/expected.tsv lists $file twice" >&2; exit 1
  fi
  want_fn[$file]=$fn want_value[$file]=$value
  order+=("$file")
done <"$table"

shopt -s nullglob
samples=(events/*.json)
[ ${#samples[@]} -gt 0 ] || { echo "events: no events/*.json" >&2; exit 1; }
problems=0
for path in "${samples[@]}"; do
  file=${path#events/}
  fn=$(function_of "$file")
  if [ -z "$fn" ]; then
    echo "events: $file: no function's name prefixes it (${functions[*]})" >&2; problems=$((problems + 1))
  elif [ -z "${want_fn[$file]:-}" ]; then
    echo "events: $file has no expectation in events/expected.tsv" >&2; problems=$((problems + 1))
  elif [ "${want_fn[$file]}" != "$fn" ]; then
    echo "events: $file: events/expected.tsv says ${want_fn[$file]}, its name says $fn" >&2; problems=$((problems + 1))
  fi
done
for file in "${!want_fn[@]}"; do
  [ -f "events/$file" ] || { echo "events: events/expected.tsv lists $file, which does not exist" >&2; problems=$((problems + 1)); }
done
[ "$problems" -eq 0 ] || exit 1

# The local stack (infra/with-stack.sh, free ports) with the sample events' key, token and
# public URL; this script then runs again inside it to invoke the samples.
if [ "${1:-}" != "--against-stack" ]; then
  export LOCAL_API_KEY=local-dev-key-not-secret-0123456789 PLIVO_AUTH_TOKEN=local-simulator-token
  export PUBLIC_BASE_URL=http://127.0.0.1:3000 PLIVO_SIM_REPORTS=off
  unset PLIVO_AUTH_ID PLIVO_SRC
  exec "$root/infra/with-stack.sh" "$0" --against-stack
fi
export PATH="$root/.venv/bin:$PATH"

# Waits until the local batch queue holds nothing, visible or in flight.
queue_drained() {
  python3 - "http://127.0.0.1:$MOTO_PORT" <<'PY'
import sys, time
import boto3
sqs = boto3.client("sqs", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="local", aws_secret_access_key="local")
url = sqs.get_queue_url(QueueName="sms-batches")["QueueUrl"]
deadline = time.time() + 120
while time.time() < deadline:
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    if int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"]) == 0:
        sys.exit(0)
    time.sleep(0.5)
print("the batch queue did not drain in 120 s", file=sys.stderr)
sys.exit(1)
PY
}

failed=0
for file in "${order[@]}"; do
  path=events/$file
  fn=${want_fn[$file]} want=${want_value[$file]}
  if grep -q '"eventSource": *"aws:sqs"' "$path" && ! queue_drained; then
    echo "FAIL  $file → $fn: the local queue never drained" >&2; failed=$((failed + 1)); continue
  fi
  if ! answer=$(cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$LOCAL_PORT" \
      --output-format json --data-file "$path" "$fn" 2>"$root/target/events-invoke.err"); then
    echo "FAIL  $file → $fn: cargo lambda invoke failed: $(tail -3 "$root/target/events-invoke.err")" >&2
    failed=$((failed + 1)); continue
  fi
  verdict=$(python3 - "$path" "$want" "$answer" <<'PY'
import json, sys
path, want, answer = sys.argv[1], sys.argv[2], sys.argv[3]
event = json.load(open(path))
try:
    out = json.loads(answer)
except ValueError:
    print(f"FAIL not JSON: {answer[:200]}"); sys.exit()
if isinstance(event.get("Records"), list) and any(r.get("eventSource") == "aws:sqs" for r in event["Records"]):
    got = len((out or {}).get("batchItemFailures") or [])
    what = "batchItemFailures"
else:
    got = (out or {}).get("statusCode")
    what = "statusCode"
print(("ok" if str(got) == want else "FAIL") + f" {what} {got} (expected {want})")
PY
)
  if [[ $verdict == ok* ]]; then
    echo "ok    $file → $fn: ${verdict#ok }"
  else
    echo "FAIL  $file → $fn: ${verdict#FAIL } — answer: ${answer:0:300}" >&2
    failed=$((failed + 1))
  fi
done

if [ "$failed" -gt 0 ]; then
  echo "events: $failed of ${#order[@]} sample events did not answer as expected; the stack's logs are in .local/logs/ and $log" >&2
  exit 1
fi
echo "events: all ${#order[@]} sample events answered as expected"
