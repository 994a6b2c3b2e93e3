"""The ``formatlock`` command line: a thin click shell over the library.

Each command lives in its own module and only parses options, calls the library and reports.
Every :class:`~formatlock.errors.FormatlockError` becomes a one-line message on stderr and the
error's exit code; tracebacks are for bugs only.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import click

from ..errors import FormatlockError

INTERRUPTED = 130  # the shell's convention for a run stopped by SIGINT (128 + 2)


class _Group(click.Group):
    """A click group that turns formatlock errors into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FormatlockError as exc:
            click.echo(f"formatlock: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:  # what was finished has been written already; the code says why it stopped
            click.echo("formatlock: interrupted", err=True)
            ctx.exit(INTERRUPTED)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="formatlock")
def cli() -> None:
    """Make local LLMs return output that always matches a schema.

    \b
    Exit codes (every command):
      0  success
      1  the output/documents did not meet the schema (see each command)
      2  usage error, bad schema, unreadable input or model
      3  a model server failed (unreachable, timed out, refused the key or the request)
      130  interrupted (Ctrl-C); what was finished before it is kept
    """


def main() -> None:
    """Console-script entry point."""
    def one_line(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        click.echo(f"formatlock: warning: {message}", err=True)

    warnings.showwarning = one_line  # library warnings (a server ignoring constraints) as one line, no source
    cli(prog_name="formatlock")


COMMANDS = ("bench", "check_schema", "export", "finetune", "generate", "log", "models", "probe", "serve", "validate")


def _register() -> None:
    """Add each command of :data:`COMMANDS` (module ``NAME_cmd``); command modules import model libraries lazily."""
    for name in COMMANDS:
        cli.add_command(importlib.import_module(f"{__name__}.{name}_cmd").command)


_register()
