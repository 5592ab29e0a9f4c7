#!/usr/bin/env bash
# `make test`: formatting, lints, unit and handler tests, adapter tests against moto, and the
# end-to-end tests through the local stack. Installs its tools first (idempotent).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
cd "$root"

step() { printf '\n== %s\n' "$*" >&2; }

step "tools"
"$root/infra/local/bootstrap.sh"
rustup show active-toolchain >/dev/null  # installs the pinned toolchain if it is missing

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "numbering table (functions/sms-core/src/domain/numbering) is what tools/phonedata generates"
"$root/.venv/bin/python" "$root/tools/phonedata/numbers.py" --check

step "the local moto's request meter (infra/local/moto_meter.py) and the cost benchmark's pricing"
"$root/.venv/bin/python" -m pytest -q -p no:cacheprovider "$root/infra/tests/moto-meter" "$root/infra/tests/cost"

step "unit, handler and adapter tests (moto)"
"$root/infra/tests/with-moto.sh" cargo test --workspace --exclude e2e

step "template checks"
"$root/infra/tests/template-tests/check.sh"

step "end-to-end tests through the local stack"
"$root/infra/tests/e2e.sh"

step "the API's contract (docs/openapi.yaml): validated, served, and schemathesis against the local stack"
"$root/infra/tests/contract.sh"

step "sample events through their functions on a fresh local stack"
"$root/infra/tests/events.sh"
