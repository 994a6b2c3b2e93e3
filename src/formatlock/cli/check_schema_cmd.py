"""``formatlock check-schema``: how each keyword of a schema will be enforced."""

from __future__ import annotations

import json

import click

from ..runtime.backends.dialect_names import DIALECTS


@click.command("check-schema")
@click.argument("schema_ref", metavar="SCHEMA")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--server-dialect", type=click.Choice(DIALECTS), metavar="DIALECT",
              help="Also list the keywords a server of this dialect is known not to enforce "
                   f"({', '.join(DIALECTS)}); those rest on validation and retries there.")
def command(schema_ref: str, output: str, server_dialect: str | None) -> None:
    """Meta-validate SCHEMA and list every keyword use with how it will be enforced.

    \b
    mask         compiled into the constraint: decoding cannot violate it
    resample     checked after decoding; failing outputs are resampled
    unsupported  cannot be served: generation is refused before it starts
    unknown      not a keyword of the schema's draft, so it constrains nothing (a typo?)

    server       (with --server-dialect) the server's grammar is known not to enforce it: it rests on
                 the check after decoding and retries on that server

    \b
    Examples:
      formatlock check-schema invoice
      formatlock check-schema ./schema.json --output json
      formatlock check-schema invoice --server-dialect json_object

    \b
    Exit codes: 0 generation supported, 1 not supported, 2 invalid schema.
    """
    from ..compile.json_regex import compile_schema  # start-up: every command module loads for --help
    from ..runtime.backends.dialects import unenforced  # start-up: every command module loads for --help
    from ..schema.loading import load_schema, unknown_keywords  # start-up: every command module loads for --help

    schema = load_schema(schema_ref)
    compiled = compile_schema(schema.document)
    supported = compiled.regex is not None and not compiled.unsupported
    unknown = unknown_keywords(schema.document)
    ignored = None if server_dialect is None else unenforced(server_dialect, schema.document)
    if output == "json":
        server = {} if server_dialect is None else {"server_dialect": server_dialect, "server_unenforced": (
            None if ignored is None else [{"pointer": p, "keyword": k} for p, k in ignored])}
        click.echo(json.dumps({"schema": schema.name, "schema_id": schema.id, "supported": supported,
                               "uses": [u.as_dict() for u in compiled.uses],
                               "unknown_keywords": [{"pointer": p, "keyword": k, "did_you_mean": m}
                                                    for p, k, m in unknown], **server}))
    else:
        for use in compiled.uses:
            note = f"  ({use.note})" if use.note else ""
            click.echo(f"{use.enforcement:<12} {use.pointer or '/'}: {use.keyword}{note}")
        for pointer, keyword, match in unknown:
            hint = f"; did you mean {match!r}?" if match else ""
            click.echo(f"{'unknown':<12} {pointer or '/'}: {keyword}  (not a keyword of this draft: ignored{hint})")
        if server_dialect is not None:
            _print_server(server_dialect, ignored)
        click.echo(f"{schema.name}: generation {'supported' if supported else 'NOT supported'}")
    raise SystemExit(0 if supported else 1)


def _print_server(dialect: str, ignored: list[tuple[str, str]] | None) -> None:
    if ignored is None:
        click.echo(f"{'server':<12} {dialect}: what its grammar enforces depends on the server's backend and model; "
                   "every output is still checked and retried")
        return
    for pointer, keyword in ignored:
        click.echo(f"{'server':<12} {pointer or '/'}: {keyword}  (not enforced by {dialect} servers: rests on retries)")
    click.echo(f"{'server':<12} {dialect}: {len(ignored)} keyword use(s) rest on validation and retries")
