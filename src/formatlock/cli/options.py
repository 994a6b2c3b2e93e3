"""Options and helpers that several commands share, so their flags and help read the same."""

from __future__ import annotations

import sys
from typing import Callable

import click

schema_option = click.option(
    "--schema", "schema_ref", required=True, metavar="SCHEMA",
    help="JSON Schema file, bundled schema name, or module:Class (Pydantic).")

inputs_option = click.option(
    "--inputs", "inputs_path", type=click.Path(dir_okay=False), metavar="FILE",
    help='JSONL of {"input": "..."} (other keys kept as metadata) or plain text, one input per line.')

quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bar (it is shown on a terminal only).")


def progress_bar(label: str, quiet: bool) -> Callable[[int], object]:
    """A factory of click progress bars on stderr, hidden when quiet or when stderr is not a terminal."""
    hidden = quiet or not sys.stderr.isatty()
    return lambda length: click.progressbar(length=length, label=label, file=sys.stderr, hidden=hidden)
