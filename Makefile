# The two commands a fresh machine needs (both install what they need), plus the benchmark.
.PHONY: run test bench lint image image-stack

run:
	scripts/run.sh

test:
	scripts/test.sh

bench:
	scripts/bench.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

image:
	scripts/image.sh

image-stack:
	scripts/image.sh stack
