"""The check job: `grader assignment check` run on an uploaded version, which is published when every
solution grades as its author wrote down and refused (with the table) otherwise."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from grader.authoring.check import check_assignment, refusals
from grader.core.errors import FaultKind, disposition, fault_detail
from grader.core.spec import SpecError
from grader.jobs.context import Context, context
from grader.store import catalog
from grader.store.db import session_scope
from grader.store.models import AssignmentVersion, VersionStatus

log = logging.getLogger(__name__)


def _author_reasons(exc: SpecError, root: Path | None) -> list[str]:
    """Spec issues with paths relative to the uploaded folder (the worker's cache means nothing to an author)."""

    def relative(file: str) -> str:
        with contextlib.suppress(ValueError):
            return Path(file).relative_to(root).as_posix() if root is not None else file
        return file

    return [f"{relative(i.file)}: {i.field}: {i.message}" for i in exc.issues]


def _run_check(ctx: Context, version_id: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The check's report and its refusals. Raises what `check_assignment` raises for the system's faults."""
    root: Path | None = None
    try:
        with session_scope(ctx.factory) as session:
            version = session.get(AssignmentVersion, version_id)
            assert version is not None
            root = catalog.loaded_version(version, ctx.settings.cache_dir / "assignments").root
        report = check_assignment(root, ctx.settings)  # minutes, perhaps: no session held open meanwhile
    except SpecError as exc:
        return None, _author_reasons(exc, root)
    return report.model_dump(mode="json"), refusals(report)


def check_version(version_id: str) -> str:
    """Run `grader assignment check` on an uploaded version: published when every solution grades as the
    author wrote down, refused (with the table) otherwise. Returns the version's status; raises only to
    ask rq for a retry, after a fault of the system (the version stays `checking` meanwhile)."""
    ctx = context()
    with session_scope(ctx.factory) as session:
        version = session.get(AssignmentVersion, version_id)
        if version is None:
            return "missing"
        if version.status != VersionStatus.CHECKING:
            return version.status  # a duplicate job of a finished check
    try:
        report, reasons = _run_check(ctx, version_id)
    except Exception as exc:
        outcome = disposition(exc)
        if outcome.kind is not FaultKind.AUTHOR:
            detail = f"the check could not run yet and will be retried ({outcome.kind.value} fault): {fault_detail(exc)}"
            log.warning("version %s: %s", version_id, detail)
            with session_scope(ctx.factory) as session:
                row = session.get(AssignmentVersion, version_id)
                if row is not None:
                    row.status_detail = detail[:4000]
            raise
        report, reasons = None, [fault_detail(exc)]
    with session_scope(ctx.factory) as session:
        row = session.get(AssignmentVersion, version_id)
        if row is None:
            return "missing"
        catalog.settle_check(row, report, reasons)
        return row.status
