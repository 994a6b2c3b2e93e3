"""``formatlock log``: what the call log says about each schema."""

from __future__ import annotations

import json

import click

from ..calllog import CallLog, SchemaStats
from ..errors import UsageError
from .options import table

_COLUMNS = ("SCHEMA", "ID", "CALLS", "VALID CALLS", "ATTEMPTS", "VALID ATTEMPTS", "PROMPT-ONLY VALID")


@click.command("log")
@click.option("--schema", "schema_ref", metavar="SCHEMA",
              help="Only this schema: bundled name, path, module:Class, title or id.")
@click.option("--output", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(schema_ref: str | None, output_format: str) -> None:
    """Per-schema counts of the enforced calls recorded in the call log.

    PROMPT-ONLY VALID is the share of wrapped calls (@enforce.output) whose first reply was
    already valid: high means prompting the remote model is enough for that schema; low
    means it needs retries, the local fallback, or fine-tuning. The log is
    $FORMATLOCK_HOME/calls.sqlite3 (default ~/.local/share/formatlock).

    \b
    Examples:
      formatlock log
      formatlock log --schema invoice --output json
    """
    log = CallLog()
    ids = None
    if schema_ref is not None:
        ids = log.schema_ids(schema_ref)
        if not ids:
            raise UsageError(f"schema {schema_ref!r} is not in the call log, and not a file, bundled schema "
                             "or module:Class")
    stats = log.schema_stats(ids)
    if output_format == "json":
        click.echo(json.dumps({"database": str(log.path), "schemas": [s.as_dict() for s in stats]}, indent=2))
    elif not stats:
        scope = f" for schema {schema_ref!r}" if schema_ref else ""
        click.echo(f"no calls logged{scope} (database: {log.path})")
    else:
        click.echo(f"database: {log.path}")
        click.echo(table([_COLUMNS, *(_row(s) for s in stats)], left=2))  # names and ids left, counts right


def _row(s: SchemaStats) -> tuple[str, ...]:
    rate = s.prompt_only_valid_rate
    prompt_only = "-" if rate is None else f"{s.wrap_first_valid}/{s.wrap_first_attempts} ({rate:.0%})"
    return (s.title, s.schema_id, str(s.calls), str(s.valid_calls), str(s.attempts), str(s.valid_attempts),
            prompt_only)


