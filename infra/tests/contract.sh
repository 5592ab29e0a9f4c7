#!/usr/bin/env bash
# The API's contract (docs/openapi.yaml) against a fresh local stack: infra/tests/contract/run.sh.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
cd "$root"
exec "$root/infra/tests/with-stack.sh" "$root/infra/tests/contract/run.sh"
