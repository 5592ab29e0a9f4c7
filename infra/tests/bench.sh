#!/usr/bin/env bash
# `make bench`: prints the figures recorded in the README.
#  1. the send-bulk core (parse, de-duplicate, batch) for 10k, 100k and 300k recipients:
#     time (criterion) and peak memory (/usr/bin/time's maximum resident set);
#  2. end-to-end recipients per second through the local stack, with 100 ms of simulated
#     Plivo latency per request (PLIVO_SIM_LATENCY_MS) and delivery reports off;
#  3. each function's cold start (exec → its first /next on a runtime-API stub) against a
#     hello-world lambda_runtime binary built in the same run (infra/tests/cold-start);
#  4. each function's zipped arm64 bootstrap (what `make build` deploys), in MiB;
#  5. status-callback's CPU per delivery report (criterion, in-memory store);
#  6. the sender's CPU per 1,000-recipient batch (criterion, I/O stubbed);
#  7. the Plivo request rate four sender processes reach sharing one budget, against the
#     simulator's enforced limit (infra/tests/pace-bench), and the 429s;
#  8. the planner's own cost on 1,000,000 CSV rows (store and queue stubbed, one core): CPU
#     seconds and peak memory, with a {{first_name}} text and with a text distinct per row;
#  9. the AWS cost of a bulk job with delivery reports, in dollars per million recipients by
#     service, counted by moto's request meter and priced at list (infra/tests/cost/bench.sh):
#     the functions of COST_BASELINE_REV and this checkout's, the same job, and their ratio.
# Each figure with a target prints it beside the figure, and whether it is met.
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
python3 - "$root/target/criterion/send-bulk intake/300000/new/estimates.json" <<'PY'
import json, sys
ms = json.load(open(sys.argv[1]))["median"]["point_estimate"] / 1e6
print(f"  300,000 recipients: median {ms:.1f} ms  target ≤ 150 ms: {'met' if ms <= 150 else 'NOT met'}")
PY
rss_kb=$(/usr/bin/time -f "%M" "$root/target/release/examples/intake_peak" 300000 2>&1 >/dev/null | tail -1)
awk -v kb="$rss_kb" 'BEGIN { mb = kb / 1000; printf "  300,000 recipients: peak %.1f MB  target ≤ 64 MB: %s\n", mb, (mb <= 64 ? "met" : "NOT met") }'

echo
echo "== end to end through the local stack (100 ms Plivo latency)"
cargo build --quiet -p e2e --bin bulk-throughput
PLIVO_SIM_LATENCY_MS=${PLIVO_SIM_LATENCY_MS:-100} PLIVO_SIM_REPORTS=off \
  "$root/infra/tests/with-stack.sh" "$root/target/debug/bulk-throughput" "${BENCH_RECIPIENTS:-20000}"

echo
echo "== cold start: exec → first /next, release builds, against hello (target: each ≤ 3× hello)"
# hello in a cargo invocation of its own, so that it gets none of the features the functions
# unify into shared crates; each binary is copied aside as soon as it is built (the target
# directory may be shared with other checkouts). COLD_START_ARGS adds harness options, e.g.
# "--env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt --env SSL_CERT_DIR=" for the
# single CA bundle a provided.al2023 image has instead of Debian's hashed directory.
functions=(send-sms send-bulk sender status-callback job-files report-counts)
bins="$root/target/bench-bin"
mkdir -p "$bins"
cargo build --quiet --release -p cold-start
cp "$root/target/release/hello" "$root/target/release/cold-start" "$bins/"
cargo build --quiet --release "${functions[@]/#/--package=}"
for f in "${functions[@]}"; do cp "$root/target/release/$f" "$bins/"; done
# shellcheck disable=SC2086  # COLD_START_ARGS is a list of options
"$bins/cold-start" --runs "${COLD_START_RUNS:-20}" ${COLD_START_ARGS:-} "$bins/hello" \
  "${functions[@]/#/$bins/}"

echo
echo "== zipped arm64 bootstrap (target: each ≤ 5 MiB)"
# The same build as `make build` (SAM runs `cargo lambda build --release --arm64 --bin <name>`
# in the workspace), in one cargo invocation, zipped by cargo-lambda into target/bench-lambda/.
local_tools_on_path
zips="$root/target/bench-lambda"
cargo lambda build --quiet --release --arm64 --output-format zip --lambda-dir "$zips" \
  "${functions[@]/#/--bin=}"
for f in "${functions[@]}"; do
  bytes=$(stat -c %s "$zips/$f/bootstrap.zip")
  awk -v f="$f" -v b="$bytes" 'BEGIN {
    mib = b / 1048576
    printf "  %-18s %5.2f MiB  target ≤ 5 MiB: %s\n", f, mib, (mib <= 5 ? "met" : "NOT met")
  }'
done

echo
echo "== status-callback: CPU per delivery report (criterion median; target ≤ 50 µs)"
# Criterion's own line gives [low, estimate, high] of the mean; the median is in its
# estimates.json.
cargo bench -p status-callback --bench report -- --noplot 2>&1 | grep -E "^status-callback report|time:"
python3 - "$root/target/criterion/status-callback report" <<'PY'
import json, sys
from pathlib import Path

for name in ("with JSON logs", "no subscriber"):
    estimates = json.loads((Path(sys.argv[1]) / name / "new/estimates.json").read_text())
    us = estimates["median"]["point_estimate"] / 1000
    print(f"  {name:<18} median {us:6.1f} µs  target ≤ 50 µs: {'met' if us <= 50 else 'NOT met'}")
PY

echo
echo "== sender: CPU per 1,000-recipient batch (criterion median; target ≤ 5 ms)"
cargo bench -p sender --bench batch -- --noplot 2>&1 | grep -E "^sender batch|time:"
python3 - "$root/target/criterion/sender batch/1000 recipients/new/estimates.json" <<'PY'
import json, sys
ms = json.load(open(sys.argv[1]))["median"]["point_estimate"] / 1e6
print(f"  median {ms:.2f} ms  target ≤ 5 ms: {'met' if ms <= 5 else 'NOT met'}")
PY

echo
# Four sender processes, one budget in moto, a simulator enforcing a sliding-window limit;
# PACE_* change the run (infra/tests/pace-bench/src/main.rs).
cargo build --quiet -p pace-bench
"$root/infra/tests/with-moto.sh" "$root/target/debug/pace-bench"

echo
echo "== planner: 1,000,000 CSV rows on one core, store and queue stubbed (target: ≤ 10 s CPU, ≤ 512 MB)"
cargo build --quiet --release -p sms-core --example plan_peak
rows_csv="$root/target/bench-recipients-1m.csv"
python3 "$root/infra/tests/make-recipients.py" 1000000 "$rows_csv"
for text in 'Hi {{first_name}}, your order has shipped' 'Hi {{first_name}}, your order {{order}} has shipped'; do
  echo "  text: $text"
  out=$(/usr/bin/time -f "%U %S %M" taskset -c 0 "$root/target/release/examples/plan_peak" "$rows_csv" "$text" 2>&1)
  echo "$out" | head -n -1
  echo "$out" | tail -1 | awk '{ cpu = $1 + $2; mb = $3 / 1000;
    printf "  CPU %.2f s  target ≤ 10 s: %s;  peak %.0f MB  target ≤ 512 MB: %s\n", cpu, (cpu <= 10 ? "met" : "NOT met"), mb, (mb <= 512 ? "met" : "NOT met") }'
done

echo
echo "== AWS cost of a bulk job with delivery reports, per million recipients (target: after ≤ 1/3 of before)"
# COST_RECIPIENTS (2,000) and COST_BASELINE_REV (2942eba) change the run.
"$root/infra/tests/cost/bench.sh"
