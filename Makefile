# The two commands of the README: `make dev` runs the whole system locally, `make test`
# runs every test. Both install what they need on first use (infra/local/bootstrap.sh).
.PHONY: dev test lint unit e2e contract fmt build events template-check bench cost-bench

dev:
	infra/local/dev.sh

test:
	infra/tests/test.sh

# Pieces of `make test`, for a quicker loop while working.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings

unit:
	infra/local/bootstrap.sh
	infra/tests/with-moto.sh cargo test --workspace --exclude e2e

e2e:
	infra/tests/e2e.sh

# The API's contract, docs/openapi.yaml: validated, then schemathesis against a local stack.
contract:
	infra/tests/contract.sh

fmt:
	cargo fmt --all

# Deployment side (docs/operations.md).
# `sam build`: arm64 bootstrap for the four functions, zipped into target/lambda-zips/;
# and smsctl, the command-line client, for this machine (target/release/smsctl).
build:
	infra/deploy/build.sh

# Every sample event in events/ through the local stack, checked against events/expected.tsv.
events:
	infra/tests/events.sh

# cfn-lint, sam validate --lint and the template rules (also a step of `make test`).
template-check:
	infra/tests/template-tests/check.sh

# The figures in the README's Benchmarks section: send-bulk's core (time, peak memory),
# recipients per second through the local stack, cold starts against a hello-world binary, the
# zipped arm64 bootstraps' sizes and status-callback's CPU per report, and the AWS cost of a
# bulk job per million recipients, before and after (infra/tests/cost/bench.sh).
bench:
	infra/tests/bench.sh

# That last figure alone: the same job on COST_BASELINE_REV's functions and this checkout's.
cost-bench:
	infra/tests/cost/bench.sh
