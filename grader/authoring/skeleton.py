"""`grader assignment new ID`: a working assignment to start from. Pure: the files as {path: text}.

The skeleton is complete on purpose: a spec with a rubric and a credential block, a visible and a
hidden suite (a conftest fixture, a parametrized test, an exception test), a reference solution that
passes everything, a known-bad one, and the expected outcomes of both, so that
`grader assignment check --write-manifest` passes at once and every part has an example to copy.
"""

from __future__ import annotations

import re

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def package_name(assignment_id: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", assignment_id.removeprefix("py-")) or "project"


def skeleton(assignment_id: str) -> dict[str, str]:
    """The files of a new assignment. Raises ValueError for an id that is not a lowercase slug."""
    if not SLUG.match(assignment_id):
        raise ValueError(f"{assignment_id!r} is not an assignment id: lowercase letters, digits and '-', 2 to 63")
    package = package_name(assignment_id)
    title = assignment_id.replace("-", " ").title()
    return {
        "assignment.yaml": f"""\
id: {assignment_id}
version: 0.1.0
title: {title}
runner: python-3.11
mode: unit                     # isolated: the learner's package and the tests in separate containers
packages: ["pytest==8.*"]
limits: {{timeout_s: 60, memory_mb: 256, cpus: 1.0, pids: 64, output_kb: 256, disk_mb: 64, call_timeout_s: 10}}
tests: {{visible: tests/visible, hidden: tests/hidden}}
rubric:
  pass: {{min_percent: 80, require: [basics]}}
  criteria:
    - id: basics
      title: Counting words
      points: 60
      tests: ["test_basics.py::*", "test_basics_hidden.py::*"]
      levels: {{Exemplary: 100, Proficient: 75, Developing: 40}}
      pass_level: Proficient
    - id: errors
      title: Refusing bad input
      points: 40
      tests: ["test_errors.py::*"]
      levels: {{Exemplary: 100, Developing: 50}}
credential:
  achievement:
    name: {title}
    description: Built a small, tested Python package.
    criteria: The holder's package passed at least 80% of an automated suite of visible and hidden tests.
    skills: [Python, Unit testing]
  valid_for: P2Y
submission: {{max_attempts: 20, cooldown_s: 60, late: reject}}
feedback: {{visible_tests: full, hidden_tests: summary}}
""",
        "tests/visible/conftest.py": f"""\
import pytest

from {package} import WordCounter


@pytest.fixture
def counter():
    return WordCounter()
""",
        "tests/visible/test_basics.py": f"""\
import pytest

from {package} import WordCounter


def test_empty_text_has_no_words(counter):
    assert counter.count("") == {{}}


@pytest.mark.parametrize(("text", "expected"), [("a b a", {{"a": 2, "b": 1}}), ("Hi hi", {{"hi": 2}})], ids=["repeat", "case"])
def test_counts_words(counter, text, expected):
    assert counter.count(text) == expected


def test_is_a_word_counter(counter):
    assert isinstance(counter, WordCounter)
""",
        "tests/visible/test_errors.py": f"""\
import pytest

from {package} import NotText


def test_refuses_what_is_not_text(counter):
    with pytest.raises(NotText):
        counter.count(42)
""",
        "tests/hidden/test_basics_hidden.py": f"""\
from {package} import WordCounter


def test_punctuation_is_not_part_of_a_word():
    assert WordCounter().count("end. End!") == {{"end": 2}}


def test_most_common():
    assert WordCounter().most_common("b a b c b a", 2) == [("b", 3), ("a", 2)]
""",
        f"solutions/reference/{package}/__init__.py": """\
import re
from collections import Counter


class NotText(TypeError):
    \"\"\"Raised for input that is not a string.\"\"\"


class WordCounter:
    def count(self, text):
        if not isinstance(text, str):
            raise NotText(f"expected text, not {type(text).__name__}")
        return dict(Counter(re.findall(r"[a-z']+", text.lower())))

    def most_common(self, text, n):
        return Counter(self.count(text)).most_common(n)
""",
        f"solutions/failing/{package}/__init__.py": """\
class NotText(TypeError):
    pass


class WordCounter:
    def count(self, text):
        words = {}
        for word in text.split():
            words[word] = words.get(word, 0) + 1
        return words

    def most_common(self, text, n):
        return sorted(self.count(text).items())[:n]
""",
        "solutions/expected.yaml": """\
# The grade each solution must get (grader assignment check compares).
reference:
  score: 100.0
  passed: true
failing:
  score: 30.0
  passed: false
  criteria:
    basics: {points: 30.0, level: Developing}   # 3 of 6 tests
    errors: {points: 0.0, level: Not yet}
""",
        "README.md": f"""\
# {title}

Made by `grader assignment new {assignment_id}`. Edit the tests and solutions, then run
`grader assignment check --write-manifest .` until it passes, and commit `manifest.json` with the rest.
""",
    }
