"""``formatlock generate``: constrained generation from the shell."""

from __future__ import annotations

import json
import sys

import click

from ..errors import UsageError
from .options import lora_option


@click.command("generate")
@click.option("--schema", "schema_ref", metavar="SCHEMA", help="JSON Schema file, bundled schema name, or module:Class.")
@click.option("--regex", metavar="RE", help="Output must fully match this regular expression.")
@click.option("--choice", "choices", multiple=True, metavar="TEXT", help="Output must be one of these (repeatable).")
@click.option("--model", "-m", metavar="MODEL",
              help="smollm2 (default), gemma3-270m, a path to a .gguf file, or MODEL+ADAPTER.gguf (a LoRA on it).")
@lora_option
@click.option("-n", "n", type=click.IntRange(min=1), default=1, show_default=True, help="How many outputs.")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Token budget per output (default: from the schema).")
@click.option("--temperature", type=click.FloatRange(min=0), help="0 is greedy (default for -n 1; 0.7 otherwise).")
@click.option("--seed", type=int, help="Seed for reproducible sampling.")
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True,
              help="Resamples per output when one fails validation.")
@click.argument("prompt")
def command(
    schema_ref: str | None,
    regex: str | None,
    choices: tuple[str, ...],
    model: str | None,
    lora: str | None,
    n: int,
    max_tokens: int | None,
    temperature: float | None,
    seed: int | None,
    retries: int,
    prompt: str,
) -> None:
    """Generate output that is guaranteed to match a schema, a regex or a choice.

    Prints N lines: compact JSON documents for --schema, the raw text for --regex/--choice.
    Every line has been validated; if no valid output can be produced, nothing invalid is
    printed and the exit code is 1.

    \b
    Examples:
      formatlock generate --schema invoice "Invoice ACME for 3 h of consulting at 120 EUR"
      formatlock generate --schema ./ticket.json -n 3 --seed 7 "Printer on fire"
      formatlock generate --schema myapp.models:Ticket "I was charged twice"
      formatlock generate --regex '[0-9]{3}-[0-9]{4}' "A phone extension:"
      formatlock generate --choice yes --choice no "Is the sky blue?"

    \b
    Exit codes:
      0  all N outputs produced and valid
      1  the guarantee could not be met (unsupported schema, compile bound, retries exhausted);
         the outputs finished before it are printed
      2  usage error, bad schema, unknown or unreadable model
      130  interrupted (Ctrl-C): the outputs finished before it are printed
    """
    from .. import constraints
    from ..generation import Result, run
    from ..models import with_adapter

    model = with_adapter(model, lora)
    given = [x for x in (schema_ref, regex, choices or None) if x]
    if len(given) != 1:
        raise UsageError("give exactly one of --schema, --regex or --choice")
    if schema_ref:
        constraint = constraints.for_schema(schema_ref)
    elif regex:
        constraint = constraints.for_regex(regex)
    else:
        constraint = constraints.for_choice(list(choices))

    def emit(result: Result) -> None:  # each output is printed when done: an interruption keeps it
        if constraint.kind == "schema":
            click.echo(json.dumps(json.loads(result.text), separators=(",", ":"), ensure_ascii=False))
        else:
            click.echo(result.text)
        sys.stdout.flush()

    run(constraint, prompt, model=model, n=n, max_tokens=max_tokens, temperature=temperature, seed=seed,
        retries=retries, on_result=emit)
