#!/usr/bin/env bash
# Mutation testing with mutmut: how many deliberately planted bugs the tests kill.
#
#   scripts/mutation.sh credentials                      # credentials/verify.py and credentials/status.py
#   scripts/mutation.sh credentials/status.py            # any module paths (several allowed)
#   MUTATION_TESTS="tests/unit/x.py" scripts/mutation.sh grader/rubric.py
#   MUTATION_MIN=90 scripts/mutation.sh credentials      # exit 1 below this score (default 90)
#
# A target is a module path (file.py) or a named set (below). The tests that run against each
# mutant are the target's test files (or $MUTATION_TESTS). mutmut works in a throw-away copy of the
# checkout, so nothing in the working tree changes. Prints the score per module and in total.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-$ROOT/.venv/bin/python}
MUTMUT=${MUTMUT:-$ROOT/.venv/bin/mutmut}
MIN=${MUTATION_MIN:-90}

if [ "$#" -eq 0 ]; then
  echo "usage: $0 TARGET... (a module path such as credentials/verify.py, or: credentials)" >&2
  exit 2
fi
if [ ! -x "$MUTMUT" ]; then
  echo "mutmut is not installed: .venv/bin/pip install -e '.[dev]'" >&2
  exit 2
fi

modules=()
tests=()
for target in "$@"; do
  case "$target" in
    credentials)
      modules+=(credentials/verify.py credentials/status.py)
      tests+=(tests/unit/credentials/test_credentials_verify.py tests/unit/credentials/test_credentials_status.py
              tests/unit/credentials/test_credentials_pins.py tests/unit/credentials/test_credentials_interop_cases.py)
      ;;
    *.py)
      [ -f "$target" ] || { echo "no such module: $target" >&2; exit 2; }
      modules+=("$target")
      ;;
    *)
      echo "unknown target $target: give module paths (path/to/module.py) or a named set" >&2
      exit 2
      ;;
  esac
done
if [ -n "${MUTATION_TESTS:-}" ]; then
  read -r -a tests <<< "$MUTATION_TESTS"
fi
if [ "${#tests[@]}" -eq 0 ]; then
  tests=(tests/unit)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/mutation.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The copy: sources, tests and project metadata (no virtualenv, no git, no caches).
tar --exclude=.venv --exclude=.git --exclude='*/node_modules' --exclude='__pycache__' --exclude=mutants \
    --exclude=.mypy_cache --exclude=.ruff_cache --exclude=.pytest_cache --exclude=.hypothesis \
    -cf - credentials grader tests assignments pyproject.toml | tar -xf - -C "$work"

sources=$(printf '%s\n' "${modules[@]}" | cut -d/ -f1 | sort -u)
{
  echo "[mutmut]"
  echo "source_paths="
  printf '    %s\n' $sources
  echo "only_mutate="
  printf '    %s\n' "${modules[@]}"
  echo "pytest_add_cli_args_test_selection="
  printf '    %s\n' "${tests[@]}"
  echo "pytest_add_cli_args="
  echo "    -p no:cacheprovider"
  echo "    -p no:randomly"
  echo "    -x"
  echo "    -q"
} > "$work/setup.cfg"

cd "$work"
max_children=${MUTATION_JOBS:-$(nproc)}
"$MUTMUT" run --max-children "$max_children" > "$work/run.log" 2>&1 || {
  tail -40 "$work/run.log" >&2
  echo "mutmut run failed" >&2
  exit 1
}
"$MUTMUT" export-cicd-stats > /dev/null 2>&1 || true
"$MUTMUT" results --all true > "$work/results.txt" 2>/dev/null || "$MUTMUT" results > "$work/results.txt"

"$PY" - "$MIN" "$work/results.txt" "${modules[@]}" <<'EOF'
"""Score per module from `mutmut results --all true` (lines "    <mutant name>: <status>")."""
import re
import sys
from collections import Counter

minimum, results, modules = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
per_module: dict[str, Counter[str]] = {m: Counter() for m in modules}
survivors: list[str] = []
for line in open(results, encoding="utf-8"):
    match = re.match(r"\s*([\w.]+)__mutmut_\d+: (\w[\w ]*)", line)
    if not match:
        continue
    name, status = match.group(0).split(":")[0].strip(), match.group(2).strip()
    dotted = match.group(1).split(".x")[0].split(".x_")[0]
    module = next((m for m in modules if dotted.startswith(m[:-3].replace("/", "."))), None)
    if module is None:
        continue
    per_module[module][status] += 1
    if status == "survived":
        survivors.append(name)
total: Counter[str] = Counter()
for module, counts in per_module.items():
    total.update(counts)
    tested = sum(counts.values()) - counts["skipped"] - counts["not checked"]
    score = 100.0 * counts["killed"] / tested if tested else 0.0
    print(f"{module}: {counts['killed']} killed of {tested} mutants ({score:.1f}%)"
          f"; survived {counts['survived']}, timeout {counts['timeout']}, no tests {counts['no tests']}")
tested = sum(total.values()) - total["skipped"] - total["not checked"]
score = 100.0 * total["killed"] / tested if tested else 0.0
print(f"mutation score: {total['killed']}/{tested} killed = {score:.1f}% (minimum {minimum:.0f}%)")
if survivors:
    print("survivors (mutmut show NAME in a copy to see one):")
    for name in survivors:
        print(f"  {name}")
sys.exit(0 if score >= minimum else 1)
EOF
