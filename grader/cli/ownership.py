"""`grader ownership`: learners' proof of ownership (docs/authenticity.md): claim tokens, the
fingerprint of a public key, and the signing keys a learner registered in the service's store.

Imports are made in the command bodies: `grader ownership --help` needs none of the store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

ownership_app = typer.Typer(
    help="Learners' proof of ownership: claim tokens and signing keys.", no_args_is_help=True
)
key_app = typer.Typer(help="Signing keys a learner registered.", no_args_is_help=True)
ownership_app.add_typer(key_app, name="key")

Tenant = Annotated[str, typer.Option("--tenant", "-t", help="Tenant slug")]
Learner = Annotated[str, typer.Option("--learner", "-l", help="The learner's id (as in submissions, e.g. an email)")]


@ownership_app.command("claim-token")
def claim_token_command(
    tenant: Tenant,
    learner: Learner,
    assignment: Annotated[str, typer.Option("--assignment", "-a", help="The assignment's id (its spec's `id`)")],
) -> None:
    """Print a learner's claim token for an assignment (commit it in the spec's claim file)."""
    from grader.config import claim_secret, get_settings
    from grader.core.ownership import claim_token

    typer.echo(claim_token(claim_secret(get_settings()), tenant, assignment, learner))


def _read_key(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"cannot read {path}: {exc}", err=True)
        raise typer.Exit(2) from exc


@ownership_app.command("fingerprint")
def fingerprint(path: Annotated[Path, typer.Argument(help="An SSH public key file or an armored OpenPGP key")]) -> None:
    """Print a public key's kind and fingerprint, as the grader records it."""
    from grader.core.ownership import KeyProblem, parse_public_key

    try:
        key = parse_public_key(_read_key(path))
    except KeyProblem as exc:
        typer.echo(f"{path}: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{key.kind.value} {key.fingerprint}")


def _tenant_id(session: Session, slug: str) -> str:
    from grader.store import tenancy

    found = tenancy.tenant_by_slug(session, slug)
    if found is None:
        typer.echo(f"no tenant {slug!r}", err=True)
        raise typer.Exit(2)
    return found.id


@key_app.command("add")
def key_add(
    path: Annotated[Path, typer.Argument(help="An SSH public key file or an armored OpenPGP key")],
    tenant: Tenant,
    learner: Learner,
    label: Annotated[str, typer.Option(help="What the key is (e.g. 'laptop')")] = "",
) -> None:
    """Register a public key for a learner."""
    from grader.config import get_settings
    from grader.core.ownership import KeyProblem, parse_public_key
    from grader.jobs.services import store_sessions
    from grader.store import authenticity
    from grader.store.db import session_scope

    try:
        key = parse_public_key(_read_key(path))
    except KeyProblem as exc:
        typer.echo(f"{path}: {exc}", err=True)
        raise typer.Exit(2) from exc
    with session_scope(store_sessions(get_settings())) as session:
        try:
            row, new = authenticity.add_key(session, _tenant_id(session, tenant), learner, key, label)
        except authenticity.TooManyKeys as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from exc
        typer.echo(f"{'registered' if new else 'already registered'} {row.kind} {row.fingerprint} ({row.id})")


@key_app.command("list")
def key_list(tenant: Tenant, learner: Learner) -> None:
    """List a learner's registered keys."""
    from grader.config import get_settings
    from grader.jobs.services import store_sessions
    from grader.store import authenticity
    from grader.store.db import session_scope

    with session_scope(store_sessions(get_settings())) as session:
        for row in authenticity.learner_keys(session, _tenant_id(session, tenant), learner):
            typer.echo(f"{row.id} {row.kind:8} {row.fingerprint} {row.label}".rstrip())


@key_app.command("remove")
def key_remove(key_id: Annotated[str, typer.Argument(help="The key's id (from `key list`)")], tenant: Tenant, learner: Learner) -> None:
    """Remove one of a learner's keys."""
    from grader.config import get_settings
    from grader.jobs.services import store_sessions
    from grader.store import authenticity
    from grader.store.db import session_scope

    with session_scope(store_sessions(get_settings())) as session:
        if not authenticity.remove_key(session, _tenant_id(session, tenant), learner, key_id):
            typer.echo(f"no key {key_id!r} of {learner!r}", err=True)
            raise typer.Exit(2)
    typer.echo(f"removed {key_id}")
