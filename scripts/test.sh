#!/usr/bin/env bash
# The whole test suite: set up what is missing, start the services the tests need, lint, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
if [ -x scripts/start-services.sh ]; then
  scripts/start-services.sh
fi
echo "[test] ruff + mypy + lint-imports (the layering rule)"
.venv/bin/ruff check grader credentials grader_harness runners tests bench
.venv/bin/mypy
.venv/bin/lint-imports
echo "[test] pytest"
exec .venv/bin/pytest -q -p no:cacheprovider "$@"
