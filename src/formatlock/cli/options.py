"""Options and helpers that several commands share, so their flags and help read the same."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from ..finetune.inputs import Progress

schema_option = click.option(
    "--schema", "schema_ref", required=True, metavar="SCHEMA",
    help="JSON Schema file, bundled schema name, or module:Class (Pydantic).")

inputs_option = click.option(
    "--inputs", "inputs_path", type=click.Path(dir_okay=False), metavar="FILE",
    help='JSONL of {"input": "..."} (other keys kept as metadata), exported chat examples (the user message '
         'is the input), or plain text, one input per line.')

MODEL_HELP = ("smollm2 (default), gemma3-270m, a .gguf path, MODEL+ADAPTER.gguf (a LoRA on it), or a model on "
              "an OpenAI-compatible server: http://HOST:PORT/v1[?dialect=D]#NAME (docs/servers.md).")

model_option = click.option("--model", "-m", metavar="MODEL", help=MODEL_HELP)

concurrency_option = click.option(
    "--concurrency", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
    help="Requests in flight at once to a server model (a local model answers one call at a time).")

lora_option = click.option(
    "--lora", type=click.Path(dir_okay=False), metavar="ADAPTER",
    help="A LoRA adapter .gguf (from `formatlock finetune`) on the model; the same as --model MODEL+ADAPTER.")

quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bar (it is shown on a terminal only).")


class _Lines:
    """Progress as one ``label: done/total`` line per step on stderr, for logs and pipes."""

    def __init__(self, label: str, length: int) -> None:
        self.label, self.length, self.done = label, length, 0

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n_steps: int) -> None:
        self.done += n_steps
        click.echo(f"{self.label}: {self.done}/{self.length}", err=True)


def progress_bar(label: str, quiet: bool) -> Progress:
    """A factory of progress reports on stderr: a bar on a terminal, a line per step elsewhere, none when quiet."""
    if not quiet and not sys.stderr.isatty():
        return lambda length: _Lines(label, length)
    return lambda length: click.progressbar(length=length, label=label, file=sys.stderr, hidden=quiet)


def table(rows: Sequence[tuple[str, ...]], left: int) -> str:
    """The rows as aligned columns: the first ``left`` columns to the left, the rest to the right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i < left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
        for row in rows
    )
