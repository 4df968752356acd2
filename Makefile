.PHONY: demo test lint bench mutation
demo:
	scripts/demo.sh
test:
	scripts/test.sh
lint:
	.venv/bin/ruff check grader credentials tests bench && .venv/bin/mypy && .venv/bin/lint-imports
bench:
	.venv/bin/python bench/bench_credentials.py
	.venv/bin/python bench/bench_grading.py --out docs/benchmarks
	.venv/bin/python bench/bench_similarity.py --out docs/benchmarks
MODULES ?= core credentials
mutation:
	scripts/mutation.sh $(MODULES)
