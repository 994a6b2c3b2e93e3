"""``formatlock validate``: check JSON / JSONL documents against a schema (no model libraries loaded)."""

from __future__ import annotations

import sys

import click

from .options import schema_option


@click.command("validate")
@schema_option
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: FILE:LINE: /pointer: message lines and a summary; json: one object per document.")
@click.option("--no-formats", is_flag=True, help="Do not assert `format` (date, email, uuid, ...).")
@click.option("--max-errors", type=click.IntRange(min=1), metavar="N", help="Report at most N errors per document.")
@click.option("--require-documents", is_flag=True,
              help="Fail (exit 1) when the input holds no document at all, e.g. an empty JSONL from a job that died.")
@click.argument("files", nargs=-1, metavar="[FILE ...]")
def command(schema_ref: str, output: str, no_formats: bool, max_errors: int | None, require_documents: bool,
            files: tuple[str, ...]) -> None:
    """Validate documents against a JSON Schema.

    FILE.json is one document; FILE.jsonl / FILE.ndjson is one document per line (blank lines
    skipped); '-' or no FILE reads JSONL from stdin. The schema's $schema picks the draft
    (default 2020-12) and the schema is meta-validated first. Formats are asserted unless
    --no-formats. $ref is resolved locally only: a remote $ref is an error, never fetched.
    Input with no document at all is reported on stderr; --require-documents makes it fail.
    jsonschema-rs decides validity; python-jsonschema words the errors.

    \b
    Examples:
      formatlock validate --schema invoice out.jsonl
      formatlock validate --schema schema.json --output json a.json b.json
      my-llm-job | formatlock validate --schema myapp.models:Ticket -

    \b
    Exit codes:
      0  every document is valid
      1  at least one document is invalid or unparsable (or none, with --require-documents)
      2  usage error, unreadable file, invalid schema
    """
    from ..schema.documents import iter_raw  # start-up: every command module loads for --help
    from ..schema.loading import load_schema  # start-up: every command module loads for --help
    from ..schema.validation import Validator  # start-up: every command module loads for --help
    from .bulk import validate_stream  # start-up: every command module loads for --help

    validator = Validator(load_schema(schema_ref), formats=not no_formats)
    stdout = sys.stdout  # buffered when not a terminal: one write per batch, one flush at the end
    write = stdout.write if not stdout.isatty() else lambda text: click.echo(text, nl=False)
    try:
        tally = validate_stream(validator, iter_raw(list(files)), output, max_errors, write)
    finally:
        stdout.flush()
    if output == "text":
        click.echo(tally.summary())
    if not tally.documents:
        click.echo("formatlock: warning: no documents in the input" +
                   ("" if require_documents else " (--require-documents makes this fail)"), err=True)
        raise SystemExit(1 if require_documents else 0)
    raise SystemExit(1 if tally.invalid else 0)
