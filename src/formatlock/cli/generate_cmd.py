"""``formatlock generate``: constrained generation from the shell."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..errors import UsageError
from ..finetune.inputs import Input, read_inputs
from ..schema import json_text
from .options import concurrency_option, inputs_option, lora_option, model_option

if TYPE_CHECKING:  # start-up: every command module loads for --help
    from ..compile.constraints import Constraint
    from ..generation import Result


@click.command("generate")
@click.option("--schema", "schema_ref", metavar="SCHEMA", help="JSON Schema file, bundled schema name, or module:Class.")
@click.option("--regex", metavar="RE", help="Output must fully match this regular expression.")
@click.option("--choice", "choices", multiple=True, metavar="TEXT", help="Output must be one of these (repeatable).")
@model_option
@lora_option
@inputs_option
@concurrency_option
@click.option("-n", "n", type=click.IntRange(min=1), default=1, show_default=True, help="How many outputs.")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Token budget per output (default: from the schema).")
@click.option("--temperature", type=click.FloatRange(min=0), help="0 is greedy (default for -n 1; 0.7 otherwise).")
@click.option("--seed", type=click.IntRange(min=0), help="Seed for reproducible sampling.")
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True,
              help="Resamples per output when one fails validation.")
@click.argument("prompt", required=False)
def command(
    schema_ref: str | None,
    regex: str | None,
    choices: tuple[str, ...],
    model: str | None,
    lora: str | None,
    inputs_path: str | None,
    concurrency: int,
    n: int,
    max_tokens: int | None,
    temperature: float | None,
    seed: int | None,
    retries: int,
    prompt: str | None,
) -> None:
    """Generate output that is guaranteed to match a schema, a regex or a choice.

    Prints N lines: compact JSON documents for --schema (a string is printed in quotes, as
    JSON), the raw text for --regex/--choice.
    Every line has been validated; if no valid output can be produced, nothing invalid is
    printed and the exit code is 1.

    With --inputs instead of PROMPT, prints one JSON line per input, in input order:
    {"input": ..., "outputs": [...]} and, where the guarantee could not be met,
    "error": "..." (exit code 1). A server model answers --concurrency inputs at once.

    \b
    Examples:
      formatlock generate --schema invoice "Invoice ACME for 3 h of consulting at 120 EUR"
      formatlock generate --schema ./ticket.json -n 3 --seed 7 "Printer on fire"
      formatlock generate --schema myapp.models:Ticket "I was charged twice"
      formatlock generate --regex '[0-9]{3}-[0-9]{4}' "A phone extension:"
      formatlock generate --choice yes --choice no "Is the sky blue?"
      formatlock generate --schema invoice --inputs requests.txt -m 'http://127.0.0.1:8080/v1#smollm2' --concurrency 4

    \b
    Exit codes:
      0  all N outputs produced and valid
      1  the guarantee could not be met (unsupported schema, compile bound, retries exhausted);
         the outputs finished before it are printed
      2  usage error, bad schema, unknown or unreadable model
      3  the model's server failed (unreachable, timed out, refused the request)
      130  interrupted (Ctrl-C): the outputs finished before it are printed
    """
    from ..compile import constraints  # start-up: every command module loads for --help
    from ..generation import run  # start-up: every command module loads for --help
    from ..runtime.backends import masks_locally, open_backend  # start-up: every command module loads for --help
    from ..runtime.models import with_adapter  # start-up: every command module loads for --help

    given = [x for x in (schema_ref, regex, choices or None) if x]
    if len(given) != 1:
        raise UsageError("give exactly one of --schema, --regex or --choice")
    if (prompt is None) == (inputs_path is None):
        raise UsageError("give exactly one of PROMPT or --inputs FILE")
    model = with_adapter(model, lora)
    if schema_ref:
        constraint = constraints.for_schema(schema_ref, masked=masks_locally(model))
    elif regex:
        constraint = constraints.for_regex(regex)
    else:
        constraint = constraints.for_choice(list(choices))
    backend = open_backend(model)

    def shown(result: Result) -> object:
        """A schema's output as its JSON value (a string root too), a regex's or choice's as its text."""
        return json_text.loads(result.text) if constraint.kind == "schema" else result.text

    options: dict[str, Any] = dict(model=backend, n=n, max_tokens=max_tokens, temperature=temperature, seed=seed,
                                   retries=retries)
    if inputs_path is not None:
        _generate_each(constraint, read_inputs(inputs_path), options, shown, backend.workers(concurrency))
        return
    assert prompt is not None  # exactly one of the two, checked above

    def emit(result: Result) -> None:  # each output is printed when done: an interruption keeps it
        click.echo(json_text.dumps(shown(result)) if constraint.kind == "schema" else result.text)
        sys.stdout.flush()

    run(constraint, prompt, on_result=emit, **options)


def _generate_each(constraint: Constraint, inputs: list[Input], options: dict[str, Any],
                   shown: Callable[[Result], object], workers: int) -> None:
    """One JSON line per input, in order; exit code 1 when any input got no valid output."""
    from ..errors import EnforcementError, RefusedError  # start-up: every command module loads for --help
    from ..fanout import ordered  # start-up: every command module loads for --help
    from ..generation import run  # start-up: every command module loads for --help

    def answer(item: Input) -> dict[str, Any]:
        made: list[Result] = []
        line: dict[str, Any] = {"input": item.text}
        try:
            run(constraint, item.text, on_result=made.append, **options)
        except (EnforcementError, RefusedError) as exc:
            line["error"] = str(exc)
        line["outputs"] = [shown(r) for r in made]
        return {**line, **({"meta": item.meta} if item.meta else {})}

    failed = 0
    for line in ordered(answer, inputs, workers):
        failed += "error" in line
        click.echo(json_text.dumps(line))
        sys.stdout.flush()
    if failed:
        raise SystemExit(1)
