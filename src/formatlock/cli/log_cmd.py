"""``formatlock log``: what the call log says about each schema."""

from __future__ import annotations

import json

import click

from ..calllog import CallLog, SchemaStats
from ..errors import Enforced, UsageError
from .options import table

_COLUMNS = ("SCHEMA", "ID", "CALLS", "VALID CALLS", "ATTEMPTS", "VALID ATTEMPTS", "PROMPT-ONLY VALID", "ENFORCED BY")
_SHOWN = 8  # keywords listed per line of the text output; the JSON output has them all


@click.command("log")
@click.option("--schema", "schema_ref", metavar="SCHEMA",
              help="Only this schema: bundled name, path, module:Class, title or id.")
@click.option("--output", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(schema_ref: str | None, output_format: str) -> None:
    """Per-schema counts of the enforced calls recorded in the call log.

    PROMPT-ONLY VALID is the share of wrapped calls (@enforce.output) whose first reply was
    already valid: high means prompting the remote model is enough for that schema; low
    means it needs retries, the local fallback, or fine-tuning. ENFORCED BY says what held
    formatlock's own calls to the schema while decoding (attempts per way): "mask" (the local
    mask), "server:gbnf" (formatlock's grammar on a llama.cpp server), "server:DIALECT" (the
    server's own converter) or "none" (validation and retries alone); the lines under the table
    name the keywords that rested on the check after decoding. The log is
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
    enforcement = log.enforcement(ids)
    if output_format == "json":
        schemas = [{**s.as_dict(), "enforced": [{**e.as_dict(), "attempts": n} for e, n in enforcement.get(s.schema_id, [])]}
                   for s in stats]
        click.echo(json.dumps({"database": str(log.path), "schemas": schemas}, indent=2))
    elif not stats:
        scope = f" for schema {schema_ref!r}" if schema_ref else ""
        click.echo(f"no calls logged{scope} (database: {log.path})")
    else:
        click.echo(f"database: {log.path}")
        click.echo(table([_COLUMNS, *(_row(s, enforcement.get(s.schema_id, [])) for s in stats)], left=2))
        for s in stats:
            for enforced, _ in enforcement.get(s.schema_id, []):
                if enforced.checked != ():
                    click.echo(f"{s.title} ({enforced.by}): checked after decoding only: {_keywords(enforced)}")


def _row(s: SchemaStats, enforcement: list[tuple[Enforced, int]]) -> tuple[str, ...]:
    rate = s.prompt_only_valid_rate
    prompt_only = "-" if rate is None else f"{s.wrap_first_valid}/{s.wrap_first_attempts} ({rate:.0%})"
    ways: dict[str, int] = {}
    for enforced, count in enforcement:
        ways[enforced.by] = ways.get(enforced.by, 0) + count
    by = ", ".join(f"{way} {count}" for way, count in ways.items()) or "-"
    return (s.title, s.schema_id, str(s.calls), str(s.valid_calls), str(s.attempts), str(s.valid_attempts),
            prompt_only, by)


def _keywords(enforced: Enforced) -> str:
    if enforced.checked is None:
        return "not known (it depends on the server's backend or model)"
    uses = [f"{keyword} at {pointer or '/'}" for pointer, keyword in enforced.checked]
    more = f", and {len(uses) - _SHOWN} more" if len(uses) > _SHOWN else ""
    return ", ".join(uses[:_SHOWN]) + more
