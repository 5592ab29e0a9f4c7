#!/usr/bin/env bash
# The contract test: docs/openapi.yaml is a valid OpenAPI 3.1 document, the running API serves
# it, and schemathesis finds no answer the document does not describe. Runs inside
# infra/tests/with-stack.sh (infra/tests/contract.sh), which sets SMS_E2E_*.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
py="$root/.venv/bin/python"
spec="$root/docs/openapi.yaml"

echo "contract: docs/openapi.yaml against the OpenAPI 3.1 schema" >&2
"$py" -m openapi_spec_validator "$spec"

echo "contract: GET /v1/openapi.json serves the document" >&2
"$py" - "$spec" "$SMS_E2E_API_URL/v1/openapi.json" <<'PY'
import json, sys, urllib.request
import yaml
spec = yaml.safe_load(open(sys.argv[1]))
# YAML's numeric keys (response codes) are strings in JSON.
spec = json.loads(json.dumps(spec))
with urllib.request.urlopen(sys.argv[2]) as answer:
    assert answer.status == 200, answer.status
    assert answer.headers["content-type"] == "application/json", answer.headers["content-type"]
    served = json.load(answer)
assert served == spec, "GET /v1/openapi.json is not docs/openapi.yaml: rebuild send-sms"
PY

echo "contract: schemathesis against $SMS_E2E_API_URL" >&2
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=hooks
reports="$root/target/contract"
rm -rf "$reports"
exec "$root/.venv/bin/schemathesis" --config-file "$here/schemathesis.toml" run "$spec" \
  --url "$SMS_E2E_API_URL" --report junit --report-dir "$reports"
