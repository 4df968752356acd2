"""What every command prints through: the two consoles, labelled messages, live progress, and the one
way a fault leaves the CLI (its exit code by grader.core.errors)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from grader.core.errors import EXIT_BAD_INPUT, disposition, fault_detail, fault_label

if TYPE_CHECKING:
    from rich.console import Console

    from grader.core.spec import LoadedAssignment


class _LazyConsole:
    """A Rich console made on first use: `grader grade --json` prints nothing through Rich when all goes
    well, and importing Rich's console costs about a tenth of a second."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


err = cast("Console", _LazyConsole(stderr=True, soft_wrap=True))
out = cast("Console", _LazyConsole(soft_wrap=True))


def say(console: Console, label: str, message: object, style: str = "red") -> None:
    """Print a styled label, then the message verbatim: messages quote user input (regexes, URLs,
    build output) whose brackets Rich would otherwise read as markup and drop."""
    from rich.text import Text

    console.print(Text.assemble((label, style), " ", str(message)))


def fault_exit(exc: BaseException) -> typer.Exit:
    """Print a fault once, introduced by its label, and give the exit code its kind maps to (grader.core.errors:
    2 a learner's or an author's fault, 1 a fault of the system)."""
    from rich.text import Text

    err.print(Text.assemble((fault_label(exc), "red"), " ", fault_detail(exc)))
    return typer.Exit(disposition(exc).exit_code)


class Progress:
    """Live progress through the stages, on stderr so that --json output stays clean."""

    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.status: Any = None

    def __call__(self, stage: str, status: str, detail: str) -> None:
        if self.quiet:
            return
        from rich.markup import escape

        if status == "start":
            self.status = self.console.status(f"[bold]{stage}[/] {escape(detail)}")
            self.status.start()
        elif status == "info" and self.status is not None:
            self.status.update(f"[bold]{stage}[/] {escape(detail[:100])}")
        elif status in ("done", "fail"):
            if self.status is not None:
                self.status.stop()
            # A failure's reason is printed once, by the caller, with its exit code.
            mark = "[green]✓[/]" if status == "done" else "[red]✗[/]"
            self.console.print(f"{mark} {stage}")


def load_or_exit(path: Path) -> LoadedAssignment:
    """The assignment at `path`, or every spec issue printed and exit 2."""
    from grader.core.spec import SpecError, load_assignment

    try:
        return load_assignment(path)
    except SpecError as exc:
        for issue in exc.issues:
            say(err, "error", issue)
        raise typer.Exit(EXIT_BAD_INPUT) from exc


