.PHONY: demo test lint bench mutation
demo:
	scripts/demo.sh
test:
	scripts/test.sh
lint:
	.venv/bin/ruff check grader credentials tests && .venv/bin/mypy
bench:
	.venv/bin/python bench/bench_credentials.py
	.venv/bin/python bench/bench_grading.py --out docs/benchmarks
MODULES ?= core credentials
mutation:
	scripts/mutation.sh $(MODULES)
