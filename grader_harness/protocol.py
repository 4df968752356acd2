"""The protocol between the worker and the in-container harness, defined once.

Imported by the harness (inside the sandbox) and by the worker (`grader/core/run_report.py`, which
parses the stream, and `grader/sandbox/*`, which starts the containers and relays the bridge), so the
two sides cannot drift apart. Standard library only, and nothing but constants and types: importing
it runs no code.

The streams:

* worker -> harness, stdin: one JSON line, the run's configuration (`RunConfig`); in isolated unit
  mode followed by the bridge's relay ("L <frame>" from the learner, "C <json>" control lines).
* harness -> worker, stdout: one line per event, `@@grader:<token>:<json>` (`EVENT_PREFIX`), the
  events named below; in isolated unit mode also `@@bridge:<token>:<frame>` (`BRIDGE_PREFIX`, a frame
  for the learner's container) and `@@bctl:<token>:<json>` (`CONTROL_PREFIX`, a restart request).
* harness -> test process ("the child"), a pipe: one JSON document, `ChildConfig` (with the signing key).
* child -> harness, the result pipe: `<hmac-sha256 hex> <json>` lines, sequence-numbered (`seq`
  1, 2, 3, ...): per-phase results, test boundaries, collection errors, tampers, notices, finish.
* harness -> child, the acknowledgement pipe: the sequence number of each boundary, one a line.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

# -- line prefixes on the container's stdout -----------------------------------------------------------
EVENT_PREFIX = "@@grader:"
BRIDGE_PREFIX = "@@bridge:"
CONTROL_PREFIX = "@@bctl:"
EVENT_PREFIX_BYTES = EVENT_PREFIX.encode()
BRIDGE_PREFIX_BYTES = BRIDGE_PREFIX.encode()
CONTROL_PREFIX_BYTES = CONTROL_PREFIX.encode()
# Bridge lines between the harness and the test process, and on the harness's stdin: the first byte says
# whose line it is.
BRIDGE_LEARNER = "L"  # a frame to or from the learner's container
BRIDGE_CONTROL = "C"  # a control message to or from the worker

# The `harness` field of the start event: bumped when the stream changes shape.
HARNESS_VERSION = 2

# -- container paths -----------------------------------------------------------------------------------
HARNESS_DIR = "/opt/grader"  # the harness's files (read-only, owned by root) in every runner image
HARNESS_SCRIPT = HARNESS_DIR + "/harness.py"  # the supervisor: the runner image's entry point
CHILD_SCRIPT = HARNESS_DIR + "/child.py"  # the test process, started by the supervisor
AGENT_SCRIPT = HARNESS_DIR + "/agent.py"  # isolated unit mode: the learner's side of the bridge
VENV_PYTHON = "/opt/venv/bin/python"
AGENT_COMMAND = (VENV_PYTHON, "-I", AGENT_SCRIPT)
TESTS_ROOT = "/grader/tests"  # the author's suites, one folder per suite, mounted read-only
SUBMISSION_DIR = "/workspace/submission"  # the learner's snapshot, mounted read-only
RUN_DIR = "/tmp/work"  # the test process's working directory (and its pytest.ini)
HOME_DIR = "/tmp/home"
PYCACHE_DIR = "/tmp/pycache"  # sys.pycache_prefix of learner-facing processes

# -- limits of the stream ---------------------------------------------------------------------------------
MAX_EVENT_BYTES = 64 * 1024  # a line of the result pipe
MESSAGE_BUDGET = 1024 * 1024  # characters of failure messages per run, all tests together
SLICE_LIMIT = 4 * 1024  # bytes kept of what one test printed
OUTSIDE_LIMIT = 16 * 1024  # bytes kept of what was printed outside any test
# Bytes of output attributed to tests in all (never more than the run's own output limit); the worker
# leaves room for it in its read cap.
ATTRIBUTED_BUDGET = 1024 * 1024
MAX_MESSAGE = 4000  # characters of one failure or collection-error message
MAX_BRIDGE_LINE = 8 * 1024 * 1024  # a bridge frame

# -- events on stdout (harness -> worker) ---------------------------------------------------------------
START = "start"
SERVICE = "service"
RESULT = "result"
OUTPUT = "output"
COLLECT_ERROR = "collect_error"
FINISH = "finish"
TAMPER = "tamper"
NOTICE = "notice"
END = "end"
CRASH = "crash"
WORKER_EVENTS = frozenset({START, SERVICE, RESULT, OUTPUT, COLLECT_ERROR, FINISH, TAMPER, NOTICE, END, CRASH})

# -- events on the result pipe (child -> harness) --------------------------------------------------------
PHASE = "phase"  # one phase of one test; the harness adds a test's phases up into its RESULT
BEGIN = "begin"  # a test's boundaries (the harness splits the output by them; never relayed)
TEST_END = "end"
BOUNDARIES = (BEGIN, TEST_END)
RELAYED = (COLLECT_ERROR, FINISH, TAMPER, NOTICE)  # relayed to the worker as they are
PHASES = ("setup", "call", "teardown")
PHASE_OUTCOMES = ("passed", "failed", "skipped")
RESULT_OUTCOMES = ("passed", "failed", "error", "skipped")

Outcome = Literal["passed", "failed", "error", "skipped"]


class StartEvent(TypedDict):
    event: Literal["start"]
    harness: int


class ServiceEvent(TypedDict):
    """Service mode: whether the learner's service answered its readiness probe."""

    event: Literal["service"]
    ready: bool
    waited_s: float
    detail: str


class ResultEvent(TypedDict):
    event: Literal["result"]
    suite: str
    id: str
    outcome: Outcome
    duration: float
    message: str


class OutputEvent(TypedDict):
    """What one test printed (setup to teardown); `before_hidden`: all of it before any hidden test began."""

    event: Literal["output"]
    suite: str
    id: str
    output: str
    output_bytes: int
    before_hidden: bool


class CollectErrorEvent(TypedDict):
    event: Literal["collect_error"]
    suite: str
    file: str
    message: str


class FinishEvent(TypedDict):
    event: Literal["finish"]
    exit_status: int


class SignalEvent(TypedDict):
    """A tamper event (a tripwire) or a notice of the test process."""

    event: Literal["tamper", "notice"]
    code: str
    detail: str


class EndEvent(TypedDict):
    """The last event of a run. A run that ends before its tests (service not ready) sends only the first five."""

    event: Literal["end"]
    timed_out: bool
    child_finished: bool
    child_exit: int | None
    duration: float
    malformed_events: NotRequired[int]
    forged_events: NotRequired[int]
    events_after_finish: NotRequired[int]
    protocol_in_output: NotRequired[int]
    leftover_processes: NotRequired[int]
    output: NotRequired[str]
    output_bytes: NotRequired[int]
    output_truncated: NotRequired[bool]
    outside_output: NotRequired[str]
    outside_output_bytes: NotRequired[int]
    running: NotRequired[list[list[str]]]


class CrashEvent(TypedDict):
    event: Literal["crash"]
    traceback: str


class PhaseEvent(TypedDict):
    """Result pipe only: one phase of one test (`seq` is added by the signer)."""

    event: Literal["phase"]
    suite: str
    id: str
    when: str
    outcome: str
    duration: float
    message: str


class BoundaryEvent(TypedDict):
    """Result pipe only: a test begins or ends."""

    event: Literal["begin", "end"]
    suite: str
    id: str


# -- configuration -------------------------------------------------------------------------------------
class Canary(TypedDict):
    """A must-fail test to plant in one of the author's test modules."""

    suite: str
    file: str
    name: str
    left: int
    right: int
    total: int


class ServiceConfig(TypedDict):
    url: str
    ready_url: str
    ready_timeout_s: float


class BridgeConfig(TypedDict):
    """Isolated unit mode: the learner's top-level modules, each call's time limit, a fresh process per test."""

    modules: list[str]
    call_timeout_s: float
    per_test: NotRequired[bool]


class RunConfig(TypedDict):
    """The first line of the harness's stdin, from the worker."""

    token: str
    canaries: list[Canary]
    suites: dict[str, str]  # suite name -> its folder under TESTS_ROOT
    sources: dict[str, dict[str, str]]  # suite -> test module (relative path) -> source
    tests_root: str
    submission: str | None
    timeout_s: float
    test_timeout_s: float | None
    output_limit: int
    service: NotRequired[ServiceConfig]
    bridge: NotRequired[BridgeConfig]


class ChildConfig(TypedDict):
    """What the harness sends the test process over a pipe. `key` and `ack_fd` are taken out as soon as
    they are used; `sources` and `canaries` are dropped once the tests are compiled."""

    key: NotRequired[str]  # the signing key, hex
    ack_fd: NotRequired[int]
    suites: dict[str, str]
    sources: dict[str, dict[str, str]] | None
    canaries: list[Canary] | None
    submission: str | None
    tests_root: str
    run_dir: str
    bridge: BridgeConfig | None
    test_timeout_s: float | None
