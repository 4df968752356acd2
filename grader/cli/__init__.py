"""The `grader` command line: one module per command group (see main)."""

from grader.cli.main import app, main

__all__ = ["app", "main"]
