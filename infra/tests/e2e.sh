#!/usr/bin/env bash
# The end-to-end tests (crate infra/tests/e2e) against the whole local stack on free ports.
# Short Plivo timeout and visibility timeout, so the fault tests finish quickly.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
cd "$root"
cargo test -p e2e --no-run --quiet
export PLIVO_TIMEOUT_SECONDS=2 POLLER_VISIBILITY_TIMEOUT=5
# Job counts a second behind the reports rather than the template's five (the stream
# trigger's batching window), so tests that wait for counts wait less.
export POLLER_BATCHING_WINDOW_SECONDS=1
# The fallback provider for the jobs that ask (fallback.rs), sending at moto's pace.
export FALLBACK=jobs FALLBACK_ORIGINATION=+14155550188 FALLBACK_MESSAGES_PER_SECOND=1000
unset PUBLIC_BASE_URL LOCAL_API_KEY PLIVO_AUTH_ID PLIVO_AUTH_TOKEN
# The volume test gets a stack of its own: it is the heaviest, and a fresh stack keeps what the
# fault tests did to the local functions (killed invocations, returned records) out of it.
light=()
for t in "$root"/infra/tests/e2e/tests/*.rs; do
  name=$(basename "$t" .rs)
  [ "$name" = volume ] || light+=(--test "$name")
done
"$root/infra/tests/with-stack.sh" cargo test -p e2e "${light[@]}" -- --test-threads=1
exec "$root/infra/tests/with-stack.sh" cargo test -p e2e --test volume -- --test-threads=1
