#!/usr/bin/env bash
# Installs what the local stack and the tests need into ./.venv (moto's server, cargo-lambda
# with its zig; the pinned libphonenumber data of tools/phonedata). Idempotent and quick when
# everything is present: it only reinstalls what a changed requirements file names.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
venv="$root/.venv"
req="$root/infra/local/requirements.txt"
stamp="$venv/.requirements.sha256"

want=$(sha256sum "$req" | cut -d' ' -f1)
if ! [ -x "$venv/bin/moto_server" ] || ! [ -x "$venv/bin/cargo-lambda" ] \
   || ! [ -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing local tools into .venv (first run only)" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi

# The numbering data's pin (libphonenumber's, for tools/phonedata and the check in `make test`
# that the generated table is current), on a stamp of its own: a new pin installs only it.
data_req="$root/tools/phonedata/requirements.txt"
data_stamp="$venv/.phonedata.sha256"
data_want=$(sha256sum "$data_req" | cut -d' ' -f1)
if ! [ -f "$data_stamp" ] || [ "$(cat "$data_stamp")" != "$data_want" ]; then
  echo "bootstrap: installing tools/phonedata/requirements.txt into .venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$data_req"
  echo "$data_want" > "$data_stamp"
fi
