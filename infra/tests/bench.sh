#!/usr/bin/env bash
# `make bench`: prints the figures recorded in the README.
#  1. the send-bulk core (parse, de-duplicate, batch) for 10k, 100k and 300k recipients:
#     time (criterion) and peak memory (/usr/bin/time's maximum resident set);
#  2. end-to-end recipients per second through the local stack, with 100 ms of simulated
#     Plivo latency per request (PLIVO_SIM_LATENCY_MS) and delivery reports off.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
cd "$root"
"$root/infra/local/bootstrap.sh"

echo "== send-bulk core: time (criterion)"
cargo bench -p send-bulk --bench intake -- --noplot 2>&1 | grep -E "^send-bulk intake|time:|thrpt:"

echo
echo "== send-bulk core: peak memory (release build)"
cargo build --quiet --release -p send-bulk --example intake_peak
for n in 10000 100000 300000; do
  /usr/bin/time -f "  max_rss_kb=%M" "$root/target/release/examples/intake_peak" "$n" 2>&1 | paste -sd' '
done

echo
echo "== end to end through the local stack (100 ms Plivo latency)"
cargo build --quiet -p e2e --bin bulk-throughput
PLIVO_SIM_LATENCY_MS=${PLIVO_SIM_LATENCY_MS:-100} PLIVO_SIM_REPORTS=off \
  "$root/infra/tests/with-stack.sh" "$root/target/debug/bulk-throughput" "${BENCH_RECIPIENTS:-20000}"
