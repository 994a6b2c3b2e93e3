"""``formatlock check-schema``: how each keyword of a schema will be enforced."""

from __future__ import annotations

import json

import click


@click.command("check-schema")
@click.argument("schema_ref", metavar="SCHEMA")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(schema_ref: str, output: str) -> None:
    """Meta-validate SCHEMA and list every keyword use with how it will be enforced.

    \b
    mask         compiled into the constraint: decoding cannot violate it
    resample     checked after decoding; failing outputs are resampled
    unsupported  cannot be served: generation is refused before it starts
    unknown      not a keyword of the schema's draft, so it constrains nothing (a typo?)

    \b
    Examples:
      formatlock check-schema invoice
      formatlock check-schema ./schema.json --output json

    \b
    Exit codes: 0 generation supported, 1 not supported, 2 invalid schema.
    """
    from ..json_regex import compile_schema
    from ..schemas import load_schema, unknown_keywords

    schema = load_schema(schema_ref)
    compiled = compile_schema(schema.document)
    supported = compiled.regex is not None and not compiled.unsupported
    unknown = unknown_keywords(schema.document)
    if output == "json":
        click.echo(json.dumps({"schema": schema.name, "schema_id": schema.id, "supported": supported,
                               "uses": [u.as_dict() for u in compiled.uses],
                               "unknown_keywords": [{"pointer": p, "keyword": k, "did_you_mean": m}
                                                    for p, k, m in unknown]}))
    else:
        for use in compiled.uses:
            note = f"  ({use.note})" if use.note else ""
            click.echo(f"{use.enforcement:<12} {use.pointer or '/'}: {use.keyword}{note}")
        for pointer, keyword, match in unknown:
            hint = f"; did you mean {match!r}?" if match else ""
            click.echo(f"{'unknown':<12} {pointer or '/'}: {keyword}  (not a keyword of this draft: ignored{hint})")
        click.echo(f"{schema.name}: generation {'supported' if supported else 'NOT supported'}")
    raise SystemExit(0 if supported else 1)
