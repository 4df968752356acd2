"""Service commands of the `grader` CLI: serve, worker, db upgrade, tenant create, apikey create, service
backup and restore."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

from grader.cli.soak import soak as soak_command  # light: its heavy imports are inside it
from grader.config import get_settings
from grader.core.errors import IssuerUnavailable
from grader.core.policy import Scope
from grader.issuing import tenant as issuing
from grader.jobs.services import build_services, store_sessions
from grader.store import tenancy
from grader.store.db import session_scope, upgrade

db_app = typer.Typer(help="The service's database.", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants (schools, bootcamps, platforms).", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys of a tenant.", no_args_is_help=True)
service_app = typer.Typer(
    help="Operate the service: backup and restore of its state, the janitor, a soak run.", no_args_is_help=True
)


def _factory() -> sessionmaker[Session]:
    return store_sessions(get_settings())


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Create or migrate the database named by GRADER_DATABASE_URL (default SQLite in GRADER_HOME)."""
    url = get_settings().resolved_database_url()
    upgrade(url, revision)
    typer.echo(f"database at {url.split('@')[-1]} is at {revision}")


@tenant_app.command("create")
def tenant_create(
    slug: Annotated[str, typer.Argument(help="Short stable id, e.g. 'acme-bootcamp'")],
    name: Annotated[str, typer.Option(help="Display name")] = "",
    admin_key: Annotated[bool, typer.Option(help="Also create an admin API key and print it")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Create a tenant (and, by default, its first admin key)."""
    with session_scope(_factory()) as session:
        if tenancy.tenant_by_slug(session, slug) is not None:
            typer.echo(f"tenant {slug!r} exists already", err=True)
            raise typer.Exit(1)
        tenant = tenancy.create_tenant(session, slug, name or slug)
        raw = tenancy.create_api_key(session, tenant.id, [Scope.ADMIN], "initial admin key")[1] if admin_key else None
        result: dict[str, str | None] = {"tenant": tenant.slug, "tenant_id": tenant.id, "admin_key": raw, "did": None}
        try:
            keys = issuing.init_tenant_keys(session, get_settings(), tenant)
            result["did"] = keys[0].did
        except IssuerUnavailable as exc:
            typer.echo(f"no issuer keys yet ({exc}); credentials are issued once they exist", err=True)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        typer.echo(f"tenant {slug} ({result['tenant_id']}) issuer {result['did'] or '(no keys yet)'}")
        if raw:
            typer.echo(f"admin key (shown once): {raw}")


@tenant_app.command("keys")
def tenant_keys(
    slug: Annotated[str, typer.Argument(help="Tenant slug")],
    rotate: Annotated[bool, typer.Option(help="Make a new active key; old keys keep verifying")] = False,
) -> None:
    """Create (or rotate) the tenant's issuer keys. Needs GRADER_KEY_PASSPHRASE."""
    with session_scope(_factory()) as session:
        tenant = tenancy.tenant_by_slug(session, slug)
        if tenant is None:
            typer.echo(f"no tenant {slug!r}", err=True)
            raise typer.Exit(1)
        try:
            keys = issuing.init_tenant_keys(session, get_settings(), tenant, rotate=rotate)
        except IssuerUnavailable as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from exc
        for key in keys:
            typer.echo(f"{key.status:8} {key.verification_method}")


@apikey_app.command("create")
def apikey_create(
    tenant: Annotated[str, typer.Argument(help="Tenant slug")],
    scope: Annotated[list[Scope], typer.Option("--scope", "-s", help="submit, author or admin (repeatable)")],
    name: Annotated[str, typer.Option(help="What the key is for")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Create an API key; the key is printed once and only its hash is stored."""
    with session_scope(_factory()) as session:
        found = tenancy.tenant_by_slug(session, tenant)
        if found is None:
            typer.echo(f"no tenant {tenant!r}", err=True)
            raise typer.Exit(1)
        key, raw = tenancy.create_api_key(session, found.id, scope, name)
        result = {"id": key.id, "key": raw, "scopes": key.scopes}
    typer.echo(json.dumps(result) if as_json else raw)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
    migrate: Annotated[bool, typer.Option(help="Run database migrations first")] = True,
    grading_workers: Annotated[
        int, typer.Option(help="Also run this many queue workers beside the API (one command, one machine)")
    ] = 0,
) -> None:
    """Serve the REST API with uvicorn (and, with --grading-workers N, the queue workers too)."""
    import uvicorn

    if migrate:
        upgrade(get_settings().resolved_database_url())
    pool = None
    if grading_workers > 0:
        pool = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from grader.cli.main import app; app()",
                "worker",
                "--concurrency",
                str(grading_workers),
                "--exit-with-parent",
            ]
        )
    try:
        uvicorn.run("grader.http.asgi:app", host=host, port=port, workers=workers, log_level="info", proxy_headers=True)
    finally:
        if pool is not None:
            pool.send_signal(signal.SIGTERM)
            pool.wait()


def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Worker processes on this machine")] = 1,
    exit_with_parent: Annotated[bool, typer.Option(hidden=True, help="Stop when the parent process ends")] = False,
) -> None:
    """Run N queue workers (and the reconciler) until SIGINT/SIGTERM."""
    from grader.jobs.pool import run_pool

    run_pool(get_settings(), concurrency, exit_with_parent)


def reconcile() -> None:
    """Re-enqueue open submissions whose job is gone, once (the worker pool also does this on a timer)."""
    from grader.jobs.reconciler import reconcile as reconcile_now

    settings = get_settings()
    services = build_services(settings)
    requeued = reconcile_now(services.factory, services.queue, settings)
    typer.echo(f"requeued {len(requeued)} submission(s) and version check(s)")


@service_app.command("backup")
def service_backup(
    file: Annotated[Path, typer.Argument(help="The archive to write (.tar.gz); never overwritten")],
) -> None:
    """Back up the store, its status lists and the issuer keystores (still encrypted), service running.

    The passphrase is not in the archive: keep GRADER_KEY_PASSPHRASE apart from it (docs/faults.md).
    """
    from grader.store.backup import BackupError, backup

    try:
        report = backup(get_settings(), file)
    except BackupError as exc:
        typer.echo(f"backup refused: {exc}", err=True)
        raise typer.Exit(2) from exc
    rows = sum(report.tables.values())
    typer.echo(
        f"backed up {report.dialect} store at revision {report.revision} ({rows} rows in {len(report.tables)} "
        f"tables) and {len(report.key_files)} keystore files to {report.path}"
    )


@service_app.command("restore")
def service_restore(
    file: Annotated[Path, typer.Argument(help="An archive written by `grader service backup`")],
) -> None:
    """Restore a backup into a fresh store and keys folder, and check that the keys unlock.

    The store is GRADER_DATABASE_URL (or GRADER_HOME's SQLite), the keys folder GRADER_KEYS_DIR; the
    passphrase is GRADER_KEY_PASSPHRASE. Exit 2 when refused, 1 when a keystore does not unlock.
    """
    from credentials.errors import KeyError_
    from credentials.keys import Keystore
    from grader.config import key_passphrase
    from grader.store.backup import BackupError, restore

    settings = get_settings()
    try:
        report = restore(settings, file)
    except BackupError as exc:
        typer.echo(f"restore refused: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        f"restored {sum(report.tables.values())} rows in {len(report.tables)} tables "
        f"({report.method}, from a {report.dialect} store at revision {report.revision}) "
        f"and {len(report.key_files)} keystore files"
    )
    locked = []
    for directory in report.keystores:
        try:
            Keystore.open(directory, key_passphrase(settings)).signer().sign(b"restore check")
        except KeyError_ as exc:
            locked.append(f"{directory}: {exc}")
    if locked:
        typer.echo("these keystores do not open with this machine's passphrase (set GRADER_KEY_PASSPHRASE):", err=True)
        for line in locked:
            typer.echo(f"  {line}", err=True)
        raise typer.Exit(1)


@service_app.command("janitor")
def service_janitor() -> None:
    """Remove the sandboxes and scratch folders crashed workers left, once (the pool does it on a timer)."""
    from grader.jobs.janitor import sweep

    done = sweep(get_settings())
    typer.echo(
        f"removed {len(done.containers)} container(s), {len(done.networks)} network(s), {len(done.images)} image(s),"
        f" {len(done.folders)} scratch folder(s)" + (f"; could not remove {done.failed}" if done.failed else "")
    )


service_app.command("soak")(soak_command)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(tenant_app, name="tenant")
    app.add_typer(apikey_app, name="apikey")
    app.add_typer(service_app, name="service")
    app.command("serve")(serve)
    app.command("worker")(worker)
    app.command("reconcile")(reconcile)
