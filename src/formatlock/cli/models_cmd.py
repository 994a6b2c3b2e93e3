"""``formatlock models``: list the models formatlock can use."""

from __future__ import annotations

import json

import click


@click.command("models")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(output: str) -> None:
    """List the known models and whether they are installed.

    Any other model is used by passing the path of its .gguf file to --model.
    Instruct models (with a chat template in their GGUF metadata) get chat-formatted prompts;
    base models get plain text.
    """
    from ..models import DEFAULT_MODEL, KNOWN_MODELS

    rows = [
        {"name": info.name, "default": info.name == DEFAULT_MODEL, "available": info.available(),
         "description": info.description}
        for info in KNOWN_MODELS.values()
    ]
    if output == "json":
        for row in rows:
            click.echo(json.dumps(row))
        return
    for row in rows:
        mark = "*" if row["default"] else " "
        state = "installed" if row["available"] else "not installed"
        click.echo(f"{mark} {row['name']:<12} {state:<14} {row['description']}")
    click.echo("  <path>.gguf   any GGUF model file")
