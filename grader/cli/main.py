"""The `grader` command line: the root app and its command groups, one module each.

The commands are loaded lazily: the root group knows each command's name, module and one-line help,
and imports a module only when its command runs (or its own --help is asked for). `grader --help`
imports no command module at all, and `grader grade` only what grading needs, not the service's
database layer, the Docker SDK of `assignment build` or the verifier of `credential verify`.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import Any

import typer
from typer import _click as click  # typer's own (vendored) click, the one its groups are built on
from typer.core import TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    """One command of the root group: where it lives and its one-line help (checked against the
    command's own docstring by the unit tests, so the two never drift)."""

    module: str
    attribute: str
    help: str


COMMANDS: dict[str, LazyCommand] = {
    "grade": LazyCommand("grader.cli.grade", "grade", "Grade one learner repository against an assignment."),
    "demo": LazyCommand(
        "grader.cli.demo",
        "demo",
        "The main job: grade every bundled solution through a loopback git server and check the results.",
    ),
    "assignment": LazyCommand("grader.cli.assignment", "assignment_app", "Check and build assignment specs."),
    "keys": LazyCommand("grader.cli.credentials", "keys_app", "Manage the issuer's signing keys (encrypted at rest)."),
    "credential": LazyCommand(
        "grader.cli.credentials", "credential_app", "Verify, bake and unbake Open Badges 3.0 credentials."
    ),
    "db": LazyCommand("grader.cli.service", "db_app", "The service's database."),
    "tenant": LazyCommand("grader.cli.service", "tenant_app", "Tenants (schools, bootcamps, platforms)."),
    "apikey": LazyCommand("grader.cli.service", "apikey_app", "API keys of a tenant."),
    "lti": LazyCommand("grader.cli.lti", "lti_app", "LMS (LTI 1.3) registrations of a tenant."),
    "service": LazyCommand(
        "grader.cli.service", "service_app", "Operate the service: backup and restore of its state, the janitor, a soak run."
    ),
    "serve": LazyCommand(
        "grader.cli.service",
        "serve",
        "Serve the REST API with uvicorn (and, with --grading-workers N, the queue workers too).",
    ),
    "worker": LazyCommand("grader.cli.service", "worker", "Run N queue workers (and the reconciler) until SIGINT/SIGTERM."),
    "reconcile": LazyCommand(
        "grader.cli.service",
        "reconcile",
        "Re-enqueue open submissions whose job is gone, once (the worker pool also does this on a timer).",
    ),
    "gradebook": LazyCommand(
        "grader.cli.gradebook", "gradebook", "Export an assignment's gradebook (one row per learner) as CSV or JSON."
    ),
    "ownership": LazyCommand(
        "grader.cli.ownership", "ownership_app", "Learners' proof of ownership: claim tokens and signing keys."
    ),
}


def load_command(name: str) -> click.Command:
    """The click command of `name`, importing its module now. Raises KeyError for an unknown name and
    whatever the module's import raises (a broken module fails loudly, never hides its command)."""
    entry = COMMANDS[name]
    target: Any = getattr(importlib.import_module(entry.module), entry.attribute)
    if isinstance(target, typer.Typer):
        command: click.Command = typer.main.get_group(target)
    else:
        single = typer.Typer()
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """The root group: commands resolved by name on demand, listed from COMMANDS without importing."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(name for name in super().list_commands(ctx) if name not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in COMMANDS:
            found = load_command(cmd_name)
            self.commands[cmd_name] = found
        return found

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name].help) for name in COMMANDS]
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        with formatter.section("Commands"):
            formatter.write_dl([(name, text if len(text) <= limit else text[: limit - 3] + "...") for name, text in rows])


_done = False


def finished_cleanly() -> None:
    """Called by a command that has written all its output and released all it held (files closed,
    containers and workspaces removed, no thread left with work): the `grader` process may then end
    without the interpreter's teardown, which freeing every loaded module makes a noticeable part of
    a short command. Has no effect under a test's CliRunner, which never calls the app itself."""
    global _done
    _done = True


class _App(typer.Typer):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except SystemExit as done:
            if _done and (done.code is None or isinstance(done.code, int)):
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(done.code or 0)
            raise


# Plain (click) help, not Rich's: rendering it through Rich imports Rich's markdown stack, several
# times the cost of the rest of `grader --help`.
app = _App(
    cls=LazyGroup,
    help="Grade learners' git repositories and issue verifiable micro-credentials.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """Grade learners' git repositories and issue verifiable micro-credentials."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
