#!/usr/bin/env bash
# Mutation testing with mutmut: how many deliberately planted bugs the tests kill.
#
#   scripts/mutation.sh core                             # the grading core (grader/core/spec.py, rubric, judge, ...)
#   scripts/mutation.sh credentials                      # credentials/verify.py and credentials/status.py
#   scripts/mutation.sh 'grader/notify/webhooks.py::signature,verify_signature'   # only these top-level functions
#   scripts/mutation.sh 'grader/core/spec.py::-load_assignment'                 # all but these
#   scripts/mutation.sh credentials/status.py            # any module paths (several allowed)
#   MUTATION_TESTS="tests/unit/x.py" scripts/mutation.sh grader/core/rubric.py
#   MUTATION_MIN=90 scripts/mutation.sh credentials      # exit 1 below this score (default 90)
#
# A target is a module path (file.py), a module path restricted to some of its top-level functions
# or classes (file.py::f,g, or file.py::-f,g for all but those: the rest is fenced off with mutmut's
# `# pragma: no mutate start/end` in the copy), or a named set (below). The tests that run against
# each mutant are the target's test files (or $MUTATION_TESTS). mutmut works in a throw-away copy of
# the checkout, so nothing in the working tree changes. Prints the score per module and in total.
#
# The `core` set is the grading core's pure functions, data in, data out. Left out as I/O, and so
# not measured: spec.py's loaders (hash_assignment, known_runners, default_runners_dir,
# load_assignment read the assignment folder, _checked_manifest the manifest file and
# _inprocess_conftest_issues the suites' conftest.py files);
# webhooks.py's send (HTTP), emit and record_try (the store), new_secret (randomness), and the
# payload and backoff helpers beside the signing.
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

CORE=(
  "grader/core/spec.py::-hash_assignment,known_runners,default_runners_dir,load_assignment,_checked_manifest,_inprocess_conftest_issues"
  grader/core/rubric.py
  grader/core/judge.py
  grader/core/policy.py
  grader/core/urlpolicy.py
  "grader/notify/webhooks.py::encode_body,signature,signature_header,_parse_header,verify_signature"
)

modules=()
fences=()  # module::functions targets, applied to the copy
tests=()
add_module() {
  local module=${1%%::*}
  [ -f "$module" ] || { echo "no such module: $module" >&2; exit 2; }
  modules+=("$module")
  if [[ "$1" == *::* ]]; then
    fences+=("$1")
  fi
}
for target in "$@"; do
  case "$target" in
    core)
      for module in "${CORE[@]}"; do add_module "$module"; done
      tests+=(tests/unit)
      ;;
    credentials)
      modules+=(credentials/verify.py credentials/status.py)
      tests+=(tests/unit/credentials/test_credentials_verify.py tests/unit/credentials/test_credentials_status.py
              tests/unit/credentials/test_credentials_pins.py tests/unit/credentials/test_credentials_interop_cases.py)
      ;;
    *.py|*.py::*)
      add_module "$target"
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
# MUTATION_KEEP=1 keeps the copy, to read a survivor there with `mutmut show NAME`.
if [ "${MUTATION_KEEP:-0}" != 1 ]; then
  trap 'rm -rf "$work"' EXIT
else
  echo "copy kept in $work"
fi
# The copy: sources, tests and project metadata (no virtualenv, no git, no caches).
tar --exclude=.venv --exclude=.git --exclude='*/node_modules' --exclude='__pycache__' --exclude=mutants \
    --exclude=.mypy_cache --exclude=.ruff_cache --exclude=.pytest_cache --exclude=.hypothesis \
    -cf - credentials grader tests assignments runners pyproject.toml | tar -xf - -C "$work"

# Fence off what a `module.py::functions` target leaves out (see the header).
"$PY" - "$work" "${fences[@]}" <<'FENCE'
import ast
import sys
from pathlib import Path

work = Path(sys.argv[1])
for target in sys.argv[2:]:
    module, _, names = target.partition("::")
    keep = not names.startswith("-")
    chosen = set(names.removeprefix("-").split(","))
    path = work / module
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    tree = ast.parse("".join(lines))
    nodes = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
    unknown = chosen - {n.name for n in nodes}
    if unknown:
        sys.exit(f"{module}: no top-level function or class {sorted(unknown)}")
    for node in reversed(nodes):
        if (node.name in chosen) == keep:
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
        # A module-level `pass` after each marker keeps the comment attached to a statement of its own.
        lines[node.end_lineno : node.end_lineno] = ["\n# pragma: no mutate end\npass\n"]
        lines[first:first] = ["pass\n# pragma: no mutate start\n"]
    path.write_text("".join(lines), encoding="utf-8")
FENCE

sources=$(printf '%s\n' "${modules[@]}" | cut -d/ -f1 | sort -u)
{
  echo "[mutmut]"
  echo "source_paths="
  printf '    %s\n' $sources
  echo "only_mutate="
  printf '    %s\n' "${modules[@]}"
  # The tests read the bundled assignments and the runner folders from inside mutmut's own copy.
  echo "also_copy="
  printf '    %s\n' assignments/ runners/
  for package in credentials grader; do
    grep -qx "$package" <<< "$sources" || printf '    %s/\n' "$package"
  done
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
