#!/usr/bin/env bash
# Template checks (part of `make test`; alone: `make template-check`), all offline:
#   cfn-lint               template.yaml (after the SAM transform) and infra/deploy/deploy-role.yaml
#   sam validate --lint    template.yaml, as `sam deploy` will see it
#   pytest                 infra/tests/template-tests: routes, environment against the Rust code,
#                          least privilege, queue, table (template_rules.py)
set -euo pipefail
. "$(dirname "$0")/../../lib.sh"
cd "$root"

local_tools_on_path

# No AWS account is involved: SAM's translation only needs a region, and nothing may reach
# out (no telemetry, no credentials from the developer's profile, no emulator endpoint).
export SAM_CLI_TELEMETRY=0
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=offline AWS_SECRET_ACCESS_KEY=offline
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export PYTHONDONTWRITEBYTECODE=1

echo "template-check: cfn-lint" >&2
cfn-lint template.yaml infra/deploy/deploy-role.yaml

echo "template-check: sam validate --lint" >&2
sam validate --lint --template-file template.yaml

echo "template-check: rules (pytest)" >&2
pytest -q -p no:cacheprovider infra/tests/template-tests
