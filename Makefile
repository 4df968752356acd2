.PHONY: demo test lint bench bench-quick mutation
demo:
	scripts/demo.sh
test:
	scripts/test.sh
lint:
	.venv/bin/ruff check grader credentials tests bench && .venv/bin/mypy && .venv/bin/lint-imports
BENCH_QUICK_OUT ?= /tmp/grader-bench-quick
bench:  # every benchmark on the real stack (about 20-30 minutes); writes docs/benchmarks/report.md, .json, .png
	.venv/bin/python -m bench.run --out docs/benchmarks
bench-quick:  # the same with small counts, a smoke run, into $(BENCH_QUICK_OUT)
	.venv/bin/python -m bench.run --quick --out $(BENCH_QUICK_OUT)
MODULES ?= core credentials
mutation:
	scripts/mutation.sh $(MODULES)
