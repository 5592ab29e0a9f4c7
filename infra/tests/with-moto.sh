#!/usr/bin/env bash
# Usage: infra/tests/with-moto.sh CMD [ARGS...]
#
# Runs CMD with a private moto_server (DynamoDB, SQS, Secrets Manager, S3) on a free loopback
# port, and stops moto again when CMD ends, fails or is interrupted. CMD's exit code is
# this script's exit code. CMD sees:
#   SMS_TEST_MOTO_URL=http://127.0.0.1:PORT   (read by the sms-test-support crate)
#   AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
# moto's own output goes to target/moto/PORT.log, not the terminal; the log is deleted when
# CMD succeeds and kept (its path printed) when it fails.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
# moto_server with the fix the Rust SDK needs (infra/local/moto_server.py says which).
moto=("$root/.venv/bin/python" "$root/infra/local/moto_server.py")

if [ $# -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi
[ -x "$root/.venv/bin/moto_server" ] || "$root/infra/local/bootstrap.sh"

logs="$root/target/moto"
mkdir -p "$logs"

moto_pid=
stop_moto() {
  if [ -n "$moto_pid" ]; then
    # moto runs in its own process group (setsid): stop the whole group.
    stop_groups "$moto_pid"
    moto_pid=
  fi
}
trap stop_moto EXIT
trap 'stop_moto; exit 130' INT
trap 'stop_moto; exit 143' TERM

# The port is free when chosen but could be taken before moto binds it: try a few.
for _attempt in 1 2 3; do
  port=$(free_port)
  log="$logs/$port.log"
  setsid "${moto[@]}" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  moto_pid=$!
  url="http://127.0.0.1:$port"
  if wait_for_http "$url/moto-api/" 300 0.1 "$moto_pid"; then
    break
  fi
  stop_moto
  echo "with-moto: moto_server did not come up on port $port; log: $log" >&2
  tail -5 "$log" >&2 || true
done
if [ -z "$moto_pid" ]; then
  echo "with-moto: giving up on starting moto_server" >&2
  exit 1
fi

export SMS_TEST_MOTO_URL="$url"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN

status=0
"$@" || status=$?
if [ "$status" -eq 0 ]; then
  rm -f "$log"
else
  echo "with-moto: '$*' exited with $status; moto's log: $log" >&2
fi
exit "$status"
