# The two commands of a fresh machine: `make run` (install + start the stack) and `make test`.
.PHONY: setup run test bench

setup:
	./scripts/setup.sh

run: setup
	.venv/bin/tandem serve

test: setup
	.venv/bin/python -m pytest -q -rs

bench: setup
	.venv/bin/python -m benchmarks.realtime
