#!/usr/bin/env bash
# The main job: set up what is missing, then grade the bundled reference and flawed solutions of every
# assignment through a loopback git server, the Docker sandbox and the judge, and verify the credential.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/grader demo "$@"
