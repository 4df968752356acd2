"""`grader gradebook`: an assignment's gradebook from the service's store, as CSV or JSON."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from grader.config import get_settings
from grader.core.gradebook import to_csv, to_json, with_roster
from grader.jobs.services import store_sessions
from grader.lti import nrps
from grader.store import catalog, tenancy
from grader.store.db import session_scope
from grader.store.gradebook import gradebook as gradebook_rows


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
        counts, rows = gradebook_rows(session, found.id, row)
        problems: list[str] | None = None
        if roster:
            entries, problems = nrps.gradebook_roster(session, found.id, row.id, settings=settings)
            rows = with_roster(rows, entries, counts)
            for problem in problems:
                typer.echo(f"roster left out: {problem}", err=True)
        text = to_csv(rows) if fmt is Format.CSV else to_json(row.slug, counts, rows, problems)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        typer.echo(f"cannot write {output}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{len(rows)} learner(s) written to {output}", err=True)
