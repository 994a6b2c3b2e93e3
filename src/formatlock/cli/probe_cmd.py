"""``formatlock probe``: does prompting alone reliably produce this schema?"""

from __future__ import annotations

import json

import click

from .options import (
    concurrency_option,
    inputs_option,
    lora_option,
    model_option,
    progress_bar,
    quiet_option,
    schema_option,
    table,
)


@click.command("probe")
@schema_option
@inputs_option
@click.option("--from-log", is_flag=True, help="Judge first attempts of wrapped calls in the call log; no sampling.")
@click.option("-n", "n", type=click.IntRange(min=1), default=1, show_default=True,
              help="Samples per input in each mode (prompt-only and constrained).")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.95, show_default=True,
              help="Prompt-only valid rate needed for the verdict prompting-reliable.")
@model_option
@lora_option
@click.option("--compare", "compare", type=click.Path(exists=True, dir_okay=False), metavar="ADAPTER",
              help="Probe the model without and with this LoRA adapter on the same inputs and seeds, side by side.")
@concurrency_option
@click.option("--temperature", type=click.FloatRange(min=0), default=0.7, show_default=True,
              help="Sampling temperature of both modes (> 0 so that N samples differ).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the first sample; the others follow.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=512, show_default=True,
              help="Token budget of each prompt-only sample; a reply cut off there counts as truncated.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: a short report; json: one object (rates, failure_kinds, verdict, per-input counts).")
@quiet_option
def command(schema_ref: str, inputs_path: str | None, from_log: bool, n: int, threshold: float, model: str | None,
            lora: str | None, compare: str | None, concurrency: int, temperature: float, seed: int, max_tokens: int, output: str, quiet: bool) -> None:
    """Measure the prompt-only valid rate against the constrained one, and give a verdict.

    For each input, N samples with the schema described in the prompt and no mask (the reply is
    parsed tolerantly: code fences and prose around the JSON are ignored), and N constrained
    samples. Failures are counted by kind: unparsable, truncated, missing field, wrong type,
    constraint. The verdict is prompting-reliable when the prompt-only rate is at least
    --threshold, else fine-tune: constrained decoding serves wherever it is available, and
    `formatlock export` makes the dataset for hosts without it.

    \b
    Examples:
      formatlock probe --schema support_ticket --inputs finetune_data/support_ticket.inputs.jsonl -n 2
      formatlock probe --schema schema.json --inputs emails.txt --threshold 0.9 --output json
      formatlock probe --schema support_ticket --from-log
      formatlock probe --schema support_ticket --inputs held_out.jsonl --lora data/tickets/adapter/adapter.gguf
      formatlock probe --schema support_ticket --inputs data/tickets/val.jsonl --compare data/tickets/adapter/adapter.gguf
      formatlock probe --schema support_ticket --inputs held_out.jsonl -m 'http://127.0.0.1:8080/v1#qwen' --concurrency 4

    With --compare ADAPTER, both runs use the same inputs and seeds; use inputs the adapter was
    not trained on (an export's val.jsonl prompts, which its split keeps out of training). The
    verdict and exit code are those of the model with the adapter.

    \b
    Exit codes:
      0  prompting-reliable
      1  fine-tune
      2  usage error, bad schema, unreadable inputs or model, empty call log
      3  the model's server failed (unreachable, timed out, refused the request)
    """
    from ..errors import UsageError  # start-up: every command module loads for --help
    from ..finetune.inputs import one_source, read_inputs  # start-up: every command module loads for --help
    from ..finetune.probe import (  # start-up: every command module loads for --help
        RELIABLE,
        ProbeReport,
        probe,
        probe_from_log,
    )
    from ..runtime.models import check_reference, with_adapter  # start-up: every command module loads for --help
    from ..schema.loading import load_schema  # start-up: every command module loads for --help

    one_source(inputs_path, from_log)
    if compare is not None and (from_log or lora is not None):
        raise UsageError("--compare ADAPTER probes the model without and with it: give it without --lora or --from-log")
    schema = load_schema(schema_ref)
    if from_log:
        report = probe_from_log(schema, threshold)
        if not report.prompt_only.samples:
            raise UsageError(f"the call log has no wrapped calls for schema {schema.name} (id {schema.id})")
    else:
        assert inputs_path is not None  # one_source: --inputs when not --from-log
        inputs = read_inputs(inputs_path)

        def sampled(ref: str | None, label: str) -> ProbeReport:
            return probe(schema, inputs, n=n, threshold=threshold, model=ref, temperature=temperature, seed=seed,
                         max_tokens=max_tokens, concurrency=concurrency, progress=progress_bar(label, quiet))

        if compare is not None:
            check_reference(with_adapter(model, compare))  # before the base half's minutes are spent
            base = sampled(with_adapter(model, None), "probing base").as_dict()
            report = sampled(with_adapter(model, compare), "probing adapter")
            _show_comparison(base, report.as_dict(), output)
            raise SystemExit(0 if report.verdict == RELIABLE else 1)
        report = sampled(with_adapter(model, lora), "probing")
    data = report.as_dict()
    if output == "json":
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        _print_text(data)
    raise SystemExit(0 if report.verdict == RELIABLE else 1)


def _rate(data: dict, mode: str) -> str:
    """A report's valid rate in one mode (prompt_only, constrained) as "75% of 8", or n/a."""
    value = data[f"{mode}_valid_rate"]
    return "n/a" if value is None else f"{value:.0%} of {data[f'{mode}_samples']}"


def _keywords(data: dict, most: int = 6) -> str:
    """The most frequent failing keywords of a report, as "/summary maxLength 14, /tags/0 pattern 2"."""
    counts = list(data["failure_keywords"].items())
    shown = ", ".join(f"{where} {count}" for where, count in counts[:most])
    return shown + (f", {len(counts) - most} more" if len(counts) > most else "")


def _show_comparison(base: dict, tuned: dict, output: str) -> None:
    """The base and adapter reports side by side (text), or both with the prompt-only gain (json)."""
    if output == "json":
        rates = (base["prompt_only_valid_rate"], tuned["prompt_only_valid_rate"])
        gain = None if None in rates else rates[1] - rates[0]
        click.echo(json.dumps({"base": base, "adapter": tuned, "prompt_only_gain": gain}, ensure_ascii=False))
        return
    click.echo(f"schema {base['schema']} ({base['schema_id']}), {base['n_inputs']} inputs, the same for both")
    rows = [("", "base", "with adapter"), ("model", base["model"] or "", tuned["model"] or ""),
            ("prompt-only valid", _rate(base, "prompt_only"), _rate(tuned, "prompt_only")),
            ("constrained valid", _rate(base, "constrained"), _rate(tuned, "constrained"))]
    kinds = dict.fromkeys([*base["failure_kinds"], *tuned["failure_kinds"]])
    rows += [(f"  {kind}", str(base["failure_kinds"].get(kind, 0)), str(tuned["failure_kinds"].get(kind, 0)))
             for kind in kinds]
    rows.append(("verdict", base["verdict"], tuned["verdict"]))
    click.echo(table(rows, left=3))
    for label, data in (("base", base), ("with adapter", tuned)):
        if data["failure_keywords"]:
            click.echo(f"failing keywords, {label}: {_keywords(data)}")


def _print_text(data: dict) -> None:
    click.echo(f"schema {data['schema']} ({data['schema_id']}), {data['n_inputs']} inputs")
    if data.get("model"):
        click.echo(f"model: {data['model']}")
    click.echo(f"prompt-only valid: {_rate(data, 'prompt_only')}")
    how = "" if data.get("server_constraint") is not False else " (the server ignores constraints: retries only)"
    click.echo(f"constrained valid: {_rate(data, 'constrained')}{how}")
    if data["failure_kinds"]:
        click.echo("prompt-only failures:")
    for kind, count in data["failure_kinds"].items():
        click.echo(f"  {kind}: {count}, e.g. {data['failure_examples'][kind][:100]}")
    if data["failure_keywords"]:
        click.echo(f"failing keywords: {_keywords(data)}")
    click.echo(f"verdict: {data['verdict']}: {data['advice']}")
