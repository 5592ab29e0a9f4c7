#!/usr/bin/env bash
# Installs what the local stack and the tests need into ./.venv (moto's server, cargo-lambda
# with its zig). Idempotent and quick when everything is present: it only reinstalls when
# infra/local/requirements.txt changed since the last successful run.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
venv="$root/.venv"
req="$root/infra/local/requirements.txt"
stamp="$venv/.requirements.sha256"

want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/moto_server" ] && [ -x "$venv/bin/cargo-lambda" ] \
   && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

echo "bootstrap: installing local tools into .venv (first run only)" >&2
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
