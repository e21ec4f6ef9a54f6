# The two commands a fresh machine needs (both install what they need), plus the benchmark.
.PHONY: run test bench lint

run:
	scripts/run.sh

test:
	scripts/test.sh

bench:
	scripts/bench.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
