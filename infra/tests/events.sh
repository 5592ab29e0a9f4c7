#!/usr/bin/env bash
# `make events`: every sample event in events/ through its function on a fresh local stack,
# in the order of events/expected.tsv, each answer checked against that table. The work is
# the events-check binary (infra/local/local-stack/src/bin/events-check.rs; its rules, with
# their tests, in src/events_check.rs): it checks the table against events/ first, before
# anything starts, then runs inside infra/tests/with-stack.sh, which starts the stack on free
# ports and stops it again whatever the outcome.
#
# The samples carry the API key local-dev-key-not-secret-0123456789, and the callbacks are
# signed with the local Plivo token for the URL http://127.0.0.1:3000 (see the README): the
# stack gets that key and that PUBLIC_BASE_URL whatever port it listens on, and the Plivo
# simulator's own delivery reports are off (they would go to that URL, not to this stack).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
cd "$root"

cargo build --quiet -p local-stack --bin events-check
"$root/target/debug/events-check" --table-only

export LOCAL_API_KEY=local-dev-key-not-secret-0123456789 PLIVO_AUTH_TOKEN=local-simulator-token
export PUBLIC_BASE_URL=http://127.0.0.1:3000 PLIVO_SIM_REPORTS=off
unset PLIVO_AUTH_ID PLIVO_SRC
exec "$root/infra/tests/with-stack.sh" "$root/target/debug/events-check"
