"""Whose fault is it? One taxonomy of faults, and the one place that says what each kind means.

Every fault the grader raises on purpose derives from one of three classes:

- LearnerFault: the submission itself is why it cannot be graded (its URL broke a rule, the repository
  or ref does not exist, its tree breaks the fetch policy). Final: the submission is `rejected`, never
  retried, and it counts as one of the learner's attempts (they chose what to submit).
- AuthorFault: the assignment is why it cannot be graded (a malformed spec, a package in `packages`
  that does not exist, suites too large for the harness). Final: the submission ends in `error`, never
  retried (the same assignment fails the same way), and it does not count as an attempt.
- SystemFault: our side failed (Docker engine, image build, the git host unreachable from the worker,
  a DNS failure, a timeout of our network). Retried with backoff; `error` only after the last try;
  never counts as an attempt.

`disposition` maps a fault to everything that depends on its kind: the CLI's exit code, the
submission's state, whether to retry, whether it uses up an attempt, and the HTTP problem. The CLI,
the worker and the API all read it from here, so the mapping is written once. Anything that is not a
GraderFault (an unexpected exception) is treated as a fault of the system.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_SYSTEM_FAULT",
    "AuthorFault",
    "Disposition",
    "FaultKind",
    "GraderFault",
    "IssuerUnavailable",
    "LearnerFault",
    "SystemFault",
    "disposition",
    "fault_detail",
    "fault_label",
    "is_known_fault",
    "problem_code",
]

EXIT_BAD_INPUT = 2  # the CLI's exit code for a learner's or an author's fault
EXIT_SYSTEM_FAULT = 1  # the CLI's exit code for a fault of the system


class FaultKind(StrEnum):
    LEARNER = "learner"
    AUTHOR = "author"
    SYSTEM = "system"


class GraderFault(Exception):
    """A fault the grader names. Subclass LearnerFault, AuthorFault or SystemFault, never this one.

    `code` is a stable machine-readable name (the HTTP problem type); `label`, when set, is how the
    CLI introduces the message instead of its kind's label.
    """

    kind: FaultKind = FaultKind.SYSTEM
    code: str = "fault"
    label: str = ""


class LearnerFault(GraderFault):
    """The submission is why it cannot be graded: rejected, never retried, counts as an attempt."""

    kind = FaultKind.LEARNER
    code = "submission-refused"


class AuthorFault(GraderFault):
    """The assignment is why it cannot be graded: an error, never retried, no attempt used.

    `file` and `field` say where in the assignment the author should look (both optional).
    """

    kind = FaultKind.AUTHOR
    code = "assignment-invalid"

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None) -> None:
        self.file = file
        self.field = field
        where = ": ".join(part for part in (file, field) if part)
        super().__init__(f"{where}: {message}" if where else message)


class SystemFault(GraderFault):
    """Our side failed (engine, network, build): retried with backoff, never counts as an attempt."""

    kind = FaultKind.SYSTEM
    code = "system-fault"


class IssuerUnavailable(SystemFault):
    """The issuer cannot sign on this machine (no keystore for the tenant, no or the wrong passphrase).
    The issue stage catches it: the grade stands and is notified, without a credential, and the
    submission's history says why."""

    code = "issuer-unavailable"


@dataclass(frozen=True)
class Disposition:
    """What a fault of one kind means everywhere it can surface."""

    kind: FaultKind
    exit_code: int  # the CLI's: 2 bad input (learner's or author's), 1 a fault of the system
    state: str  # the submission's final state (a grader.store.models.SubmissionState value)
    retry: bool  # whether the worker asks the queue to run the job again
    consumes_attempt: bool  # whether the submission counts against the learner's max_attempts
    http_status: int
    title: str
    label: str  # how the CLI introduces the message


_DISPOSITIONS = {
    FaultKind.LEARNER: Disposition(
        FaultKind.LEARNER, EXIT_BAD_INPUT, "rejected", False, True, 422, "Submission refused", "error"
    ),
    FaultKind.AUTHOR: Disposition(
        FaultKind.AUTHOR, EXIT_BAD_INPUT, "error", False, False, 422, "Assignment cannot be used", "assignment error"
    ),
    FaultKind.SYSTEM: Disposition(
        FaultKind.SYSTEM, EXIT_SYSTEM_FAULT, "error", True, False, 503, "Service unavailable", "system fault"
    ),
}


# Libraries whose exceptions are faults of the infrastructure they talk to (the Docker engine, HTTP, Redis,
# the database): named by module so that this module imports none of them.
_INFRASTRUCTURE_MODULES = ("docker.", "requests.", "urllib3.", "redis.", "rq.", "sqlalchemy.", "psycopg")


def is_known_fault(exc: BaseException) -> bool:
    """Whether `exc` is a fault the grader can name: a GraderFault, or an error of the infrastructure
    (Docker engine, HTTP, Redis, database). Anything else is a bug, worth its traceback."""
    return isinstance(exc, GraderFault) or type(exc).__module__.startswith(_INFRASTRUCTURE_MODULES)


def disposition(exc: BaseException) -> Disposition:
    """The disposition of any exception: a GraderFault's own kind, anything else a system fault."""
    kind = exc.kind if isinstance(exc, GraderFault) else FaultKind.SYSTEM
    return _DISPOSITIONS[kind]


def fault_label(exc: BaseException) -> str:
    """How the CLI introduces the fault's message ("error", "fetch failed", "system fault"...)."""
    own = exc.label if isinstance(exc, GraderFault) else ""
    return own or disposition(exc).label


def problem_code(exc: BaseException) -> str:
    """The HTTP problem type's code: the fault's own, or `system-fault` for an unexpected exception."""
    return exc.code if isinstance(exc, GraderFault) else SystemFault.code


def fault_detail(exc: BaseException) -> str:
    """A one-line description for logs, the store and the CLI (the type name for unexpected exceptions)."""
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, GraderFault) else f"{type(exc).__name__}: {text}"
