#!/usr/bin/env bash
# The AWS cost of a bulk job, per million recipients, before and after: section 9 of
# `make bench` (infra/tests/bench.sh), or on its own.
#
# The same job (COST_RECIPIENTS recipients, default 2,000, delivery reports on: queued, sent,
# delivered) runs twice through the local stack with moto's request meter on
# (infra/local/moto_meter.py): first with the functions of the baseline revision
# COST_BASELINE_REV, then with this checkout's. Only the functions (and the template that
# configures them) differ between the two runs: the stack itself (moto and its meter, the Plivo
# simulator, the pollers, dev.sh) is this checkout's in both (dev.sh's STACK_FUNCTIONS_DIR).
# Each run is priced by price.py at prices.json's list prices with its own template, and the
# totals are compared: the target is after ≤ 1/3 of before.
#
# The baseline is checked out with `git worktree add` under target/cost-baseline/<rev> and built
# there, in a target directory of its own (about 1.5 GB; kept for the next run, which then
# builds nothing). COST_SKIP_BASELINE=1 measures this checkout alone.
set -euo pipefail
. "$(dirname "$0")/../../lib.sh"
cd "$root"

# The whole script is one function, read before it runs: editing this file while a run is
# under way (it takes minutes) then cannot change what that run does.
main() {
  # The commit before any cost work: what "before" means.
  COST_BASELINE_REV=${COST_BASELINE_REV:-2942eba}
  recipients=${COST_RECIPIENTS:-2000}
  out="$root/target/cost"
  mkdir -p "$out"
  py="$root/.venv/bin/python"
  "$root/infra/local/bootstrap.sh"

  cargo build --quiet -p e2e --bin cost-job
  # cost-job is copied aside: the baseline's build must not be the one that runs it, and the
  # target directory may be shared with other cargo invocations.
  cp "$root/target/debug/cost-job" "$out/cost-job"

  # measure NAME LABEL DIR: one job through the stack with DIR's functions; what cost-job printed
  # in $out/NAME.json, its priced totals in $out/NAME.summary.json.
  measure() {
    local name=$1 label=$2 functions_dir=$3
    echo "  $label: ${recipients} recipients through the local stack" >&2
    MOTO_METER=1 LOG_FORMAT=json RUST_LOG=info STACK_FUNCTIONS_DIR="$functions_dir" \
      "$root/infra/tests/with-stack.sh" "$out/cost-job" "$recipients" "$out/$name.api.log" >"$out/$name.json"
    "$py" "$root/infra/tests/cost/price.py" "$out/$name.json" "$functions_dir/template.yaml" \
      --label "$label" --summary "$out/$name.summary.json"
  }

  if [ "${COST_SKIP_BASELINE:-0}" != 1 ]; then
    rev=$(git rev-parse --verify "$COST_BASELINE_REV^{commit}")
    base="$root/target/cost-baseline/${rev:0:12}"
    if [ ! -d "$base" ]; then
      git worktree prune
      git worktree add --quiet --detach "$base" "$rev"
    fi
    [ "$(git -C "$base" rev-parse HEAD)" = "$rev" ] || { echo "cost: $base is not at $rev" >&2; exit 1; }
    # The functions the template deploys, each built as cargo lambda watch runs it
    # (`cargo run --bin <name>`), so that the stack starts without compiling.
    mapfile -t functions < <(sed -n 's/^ *Binary: *\([a-z0-9-]*\) *$/\1/p' "$base/template.yaml")
    started=$(date +%s)
    for f in "${functions[@]}"; do (cd "$base" && cargo build --quiet --bin "$f"); done
    echo "  baseline $COST_BASELINE_REV (${rev:0:12}): ${#functions[@]} functions built in $(($(date +%s) - started)) s in $base" >&2
    measure before "before ($COST_BASELINE_REV)" "$base"
    echo
  fi

  changes=$(git diff --quiet HEAD -- functions template.yaml Cargo.toml Cargo.lock || echo ', with uncommitted changes')
  measure after "after (this checkout, $(git rev-parse --short HEAD)$changes)" "$root"

  if [ "${COST_SKIP_BASELINE:-0}" != 1 ]; then
    echo
    "$py" - "$out/before.summary.json" "$out/after.summary.json" <<'PY'
import json, sys
before = json.load(open(sys.argv[1]))
after = json.load(open(sys.argv[2]))
services = sorted(set(before["by_service"]) | set(after["by_service"]), key=lambda s: -before["by_service"].get(s, 0))
print(f"  {'$ per million recipients':<26} {'before':>9} {'after':>9} {'after/before':>13}")
for s in services:
    b, a = before["by_service"].get(s, 0), after["by_service"].get(s, 0)
    print(f"  {s:<26} {b:>9.2f} {a:>9.2f} {a / b if b else float('nan'):>13.3f}")
b, a = before["total_per_million"], after["total_per_million"]
ratio = a / b
print(f"  {'total':<26} {b:>9.2f} {a:>9.2f} {ratio:>13.3f}")
print(f"  after ≤ 1/3 of before: {'met' if ratio <= 1 / 3 else 'NOT met'} (after/before {ratio:.3f}, target ≤ 0.333)")
PY
  fi
}

main "$@"
