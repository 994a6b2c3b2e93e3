"""``formatlock probe``: does prompting alone reliably produce this schema?"""

from __future__ import annotations

import json
import sys

import click

from ..errors import UsageError


@click.command("probe")
@click.option("--schema", "schema_ref", required=True, metavar="SCHEMA", help="Schema file, bundled name, or module:Class.")
@click.option("--inputs", "inputs_path", type=click.Path(dir_okay=False), metavar="FILE",
              help='JSONL of {"input": "..."} (extra keys kept) or plain text, one input per line.')
@click.option("--from-log", is_flag=True, help="Use recorded wrap-call first attempts instead of sampling.")
@click.option("-n", "n", type=click.IntRange(min=1), default=1, show_default=True, help="Samples per input and mode.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.95, show_default=True,
              help="Prompt-only valid rate needed for the verdict prompting-reliable.")
@click.option("--model", "-m", metavar="MODEL", help="smollm2 (default), gemma3-270m, or a .gguf path.")
@click.option("--temperature", type=click.FloatRange(min=0), default=0.7, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--max-tokens", type=click.IntRange(min=1), default=512, show_default=True,
              help="Token budget of each prompt-only sample.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(schema_ref: str, inputs_path: str | None, from_log: bool, n: int, threshold: float, model: str | None,
            temperature: float, seed: int, max_tokens: int, output: str) -> None:
    """Measure the prompt-only valid rate against the constrained one, and give a verdict.

    For each input: N samples with the schema described in the prompt and no mask, and N
    constrained samples. Verdict: prompting-reliable when the prompt-only rate >= --threshold,
    else fine-tune (constrained decoding still serves wherever it is available).

    \b
    Examples:
      formatlock probe --schema support_ticket --inputs emails.jsonl -n 3
      formatlock probe --schema support_ticket --from-log --output json

    \b
    Exit codes: 0 prompting-reliable, 1 fine-tune, 2 errors.
    """
    from ..inputs import read_inputs
    from ..probe import RELIABLE, probe, probe_from_log
    from ..schemas import load_schema

    if bool(inputs_path) == from_log:
        raise UsageError("give exactly one of --inputs FILE or --from-log")
    schema = load_schema(schema_ref)
    if from_log:
        report = probe_from_log(schema, threshold)
        if not report.prompt_only_samples:
            raise UsageError(f"the call log has no wrap-call attempts for schema {schema.name}")
    else:
        inputs = read_inputs(inputs_path)
        with click.progressbar(length=len(inputs), label="probing", file=sys.stderr) as bar:
            report = probe(schema, inputs, n=n, threshold=threshold, model=model, temperature=temperature,
                           seed=seed, max_tokens=max_tokens, progress=lambda: bar.update(1))
    data = report.as_dict()
    if output == "json":
        click.echo(json.dumps(data))
    else:
        def pct(rate: float | None) -> str:
            return "n/a" if rate is None else f"{rate:.0%}"

        click.echo(f"schema {data['schema']} ({data['schema_id']}), {data['n_inputs']} inputs")
        click.echo(f"prompt-only valid: {pct(data['prompt_only_valid_rate'])} of {data['prompt_only_samples']}")
        click.echo(f"constrained valid: {pct(data['constrained_valid_rate'])} of {data['constrained_samples']}")
        kinds = ", ".join(f"{k} {v}" for k, v in data["failure_kinds"].items()) or "none"
        click.echo(f"prompt-only failures: {kinds}")
        click.echo(f"verdict: {data['verdict']} ({data['advice']})")
    raise SystemExit(0 if report.verdict == RELIABLE else 1)
