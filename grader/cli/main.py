"""The `grader` command line: the root app and its command groups, one module each."""

from __future__ import annotations

import typer

from grader.cli.assignment import assignment_app
from grader.cli.credentials import credential_app, keys_app
from grader.cli.demo import demo
from grader.cli.grade import grade
from grader.cli.service import register as register_service_commands

app = typer.Typer(help="Grade learners' git repositories and issue verifiable micro-credentials.", no_args_is_help=True)
app.command()(grade)
app.command()(demo)
app.add_typer(assignment_app, name="assignment")
app.add_typer(keys_app, name="keys")
app.add_typer(credential_app, name="credential")
register_service_commands(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
