# The two commands of the README: `make dev` runs the whole system locally, `make test`
# runs every test. Both install what they need on first use (infra/bootstrap.sh).
.PHONY: dev test lint unit e2e fmt

dev:
	infra/dev.sh

test:
	infra/test.sh

# Pieces of `make test`, for a quicker loop while working.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings

unit:
	infra/bootstrap.sh
	infra/with-moto.sh cargo test --workspace --exclude e2e

e2e:
	infra/e2e.sh

fmt:
	cargo fmt --all
