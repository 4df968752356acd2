"""`grader gradebook`: an assignment's gradebook from the service's store, as CSV or JSON."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from grader.config import get_settings
from grader.jobs.services import store_sessions
from grader.lti.gradebook import export
from grader.store import catalog, tenancy
from grader.store.db import session_scope


class Format(StrEnum):
    CSV = "csv"
    JSON = "json"


def gradebook(
    assignment: Annotated[str, typer.Argument(help="The assignment's id (its spec's `id`)")],
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="Tenant slug")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="csv or json")] = Format.CSV,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout")] = None,
    roster: Annotated[
        bool, typer.Option("--roster", help="Add the LMS courses' learners who have not submitted (Names and Roles)")
    ] = False,
) -> None:
    """Export an assignment's gradebook (one row per learner) as CSV or JSON."""
    settings = get_settings()
    with session_scope(store_sessions(settings)) as session:
        found = tenancy.tenant_by_slug(session, tenant)
        if found is None:
            typer.echo(f"no tenant {tenant!r}", err=True)
            raise typer.Exit(2)
        row = catalog.assignment_by_slug(session, found.id, assignment)
        if row is None:
            typer.echo(f"no assignment {assignment!r} in tenant {tenant!r}", err=True)
            raise typer.Exit(2)
        done = export(session, settings, found.id, row, "csv" if fmt is Format.CSV else "json", roster)
    for problem in done.roster_problems or []:
        typer.echo(f"roster left out: {problem}", err=True)
    text = done.text
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        typer.echo(f"cannot write {output}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{done.learners} learner(s) written to {output}", err=True)
