#!/usr/bin/env bash
# Regenerates the adversarial results table on purpose: runs the whole adversarial suite with the
# table writer switched on (tests/adversarial/RESULTS.md and results.json), then copies the table into
# SECURITY.md. Ordinary test runs never write these tracked files.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
GRADER_ADVERSARIAL_TABLE=1 .venv/bin/pytest -q -p no:cacheprovider tests/adversarial
.venv/bin/python scripts/security-table.py
