"""``formatlock models``: list the models formatlock can use."""

from __future__ import annotations

import json

import click


@click.command("models")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--path", "path_of", metavar="MODEL", help="Print the GGUF file of MODEL instead (e.g. to serve it).")
def command(output: str, path_of: str | None) -> None:
    """List the known models and whether they are installed.

    Any other model is used by passing the path of its .gguf file to --model, or its server
    URL (http://HOST:PORT/v1#NAME). Instruct models (with a chat template in their GGUF
    metadata) get chat-formatted prompts; base models get plain text.

    \b
    Examples:
      formatlock models
      formatlock serve --model smollm2 --port 8080
    """
    from ..runtime.models import DEFAULT_MODEL, KNOWN_MODELS, resolve  # start-up: every command module loads for --help

    if path_of is not None:
        click.echo(str(resolve(path_of)[1]))
        return

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
    click.echo("  http://HOST:PORT/v1#NAME   a model on an OpenAI-compatible server (docs/servers.md)")
    if any(row["available"] for row in rows):
        from ..runtime.models import host_decision  # start-up: every command module loads for --help

        made = host_decision()
        click.echo(f"\nllama.cpp here: extra CPU buffer types {'on' if made.extra else 'off'} ({made.reason})")
