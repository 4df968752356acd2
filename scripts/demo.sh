#!/usr/bin/env bash
# The main job: set up what is missing, then grade the bundled reference and flawed solutions of every
# assignment through a loopback git server, the Docker sandbox and the judge; issue credentials to the
# passing ones; and finally verify the reference solution's credential with the offline verifier.
#   scripts/demo.sh           grade with the command-line pipeline
#   scripts/demo.sh --stack   the same through the whole service: Redis, REST API, queue workers
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
if [ "${1:-}" = "--stack" ]; then
  exec .venv/bin/grader demo --stack
fi
out=demo-output
.venv/bin/grader demo --out "$out" "$@"
echo
echo "Verifying the reference solution's credential offline (grader credential verify):"
.venv/bin/grader credential verify "$out/py-ledger-reference.credential.json" \
  --status-list "$out/status-list.json" --require-evidence
