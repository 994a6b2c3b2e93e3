"""``formatlock export``: a fine-tuning dataset whose every target validates against the schema."""

from __future__ import annotations

from pathlib import Path

import click

from ..finetune.dataset_formats import FORMATS
from ..finetune.headroom import DEFAULT as DEFAULT_HEADROOM
from .options import concurrency_option, inputs_option, progress_bar, quiet_option, schema_option


@click.command("export")
@schema_option
@inputs_option
@click.option("--from-log", is_flag=True, help="Take prompts and targets from valid calls in the call log.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="openai", show_default=True,
              help="openai/messages: chat messages; alpaca: instruction/input/output; sharegpt: conversations.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Output folder  [default: finetune_data/<schema name>/]")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.1, show_default=True,
              help="Share of prompts in val.jsonl.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the split and of the teacher's sampling.")
@click.option("--teacher", "--model", "-m", "model", metavar="MODEL",
              help="The model that labels the inputs, e.g. a bigger one than you will train: smollm2 (default), "
                   "gemma3-270m, a .gguf path, or a server model http://HOST:PORT/v1#NAME. The context check "
                   "counts tokens with it (with the default local model for a server).")
@concurrency_option
@click.option("--temperature", type=click.FloatRange(min=0), default=0.7, show_default=True,
              help="Teacher sampling temperature.")
@click.option("--system", metavar="TEXT", help="System prompt of every example  [default: names the schema]")
@click.option("--resume", is_flag=True, help="Continue an interrupted export in the same folder.")
@click.option("--force", is_flag=True, help="Replace a finished dataset in DIR (without it, one is never overwritten).")
@click.option("--strict", is_flag=True,
              help="Leave out the examples the quality gates flag (copied schema text, empty strings, text cut at "
                   "its limit, text in a loop).")
@click.option("--headroom", type=click.FloatRange(0, 1, min_open=True), default=DEFAULT_HEADROOM, show_default=True,
              help="The teacher labels with every maxLength of free text and every maxItems cut to this share of "
                   "itself, so that a model trained on the data stops short of the real limit; 1 turns it off.")
@click.option("--relabel", type=click.IntRange(0, 20), default=0, show_default=True, metavar="N",
              help="Sample a target the quality gates flag again, with the next seed, up to N times, and keep the "
                   "first that passes (each try costs one more generation).")
@quiet_option
def command(schema_ref: str, inputs_path: str | None, from_log: bool, fmt: str, out_dir: Path | None,
            val_fraction: float, seed: int, model: str | None, concurrency: int, temperature: float,
            system: str | None,
            resume: bool, force: bool, strict: bool, headroom: float, relabel: int, quiet: bool) -> None:
    """Write DIR/train.jsonl, DIR/val.jsonl and DIR/manifest.json for fine-tuning.

    Targets come from the teacher (constrained decoding on a local model, or a server model with
    its own constraint where it has one, plus validation and retries), from valid logged calls,
    or with the inputs themselves: a JSONL row {"input": "...", "target": {...}} brings its
    answer (a person's label, another system's output), and the teacher labels only the rows
    without one. Every target is validated against the schema again when written. Prompts are
    deduplicated and split by a hash of (seed, prompt): a prompt never lands in both files.
    The upload checks (roles, assistant last, non-empty content, fits the model's context) run
    before anything is written; one failing example stops the export and names it.

    Each finished example is kept in DIR/.partial/ at once; after a crash or Ctrl-C, --resume
    makes only the missing ones. manifest.json is written last: a folder without it holds no
    finished dataset. A finished dataset is never replaced without --force.
    Quality gates (warnings, not validity) report per field: targets that copy the schema's
    words, empty strings, text cut at its length limit, text in a loop, a field that never
    changes, a skewed enum. --relabel N samples a target the first four flag again, up to N
    times; --strict drops the examples they still flag. With two prompts or
    more, val.jsonl gets at least one whatever --val-fraction (above 0) gives.

    The teacher labels with --headroom: each maxLength of free text and each maxItems is cut to
    that share (0.8: maxLength 60 becomes 48). A fine-tuned model does not count characters; with
    targets at the limit itself it learns to run to it, and its replies that run further fail.

    \b
    Examples:
      formatlock export --schema support_ticket --inputs finetune_data/support_ticket.inputs.jsonl --out /tmp/tickets
      formatlock export --schema support_ticket --inputs big.jsonl --resume
      formatlock export --schema support_ticket --inputs finetune_data/support_ticket.labelled.jsonl --out /tmp/t
      formatlock export --schema support_ticket --from-log --format sharegpt --out data/tickets
      formatlock export --schema support_ticket --inputs big.jsonl --teacher 'http://gpu-box:8000/v1#qwen' --concurrency 8

    \b
    Exit codes:
      0  dataset written
      1  the teacher found no schema-valid target for any input
      2  usage error, bad schema, unreadable inputs or model, an example failing the checks
         (a given target that is not schema-valid included)
      3  the teacher's server failed; what was made is kept for --resume
    """
    from ..finetune.datasets import export  # start-up: every command module loads for --help
    from ..finetune.inputs import one_source, read_inputs  # start-up: every command module loads for --help
    from ..finetune.quality import SMALL_DATASET  # start-up: every command module loads for --help
    from ..schema.loading import load_schema  # start-up: every command module loads for --help

    one_source(inputs_path, from_log)
    schema = load_schema(schema_ref)
    inputs = read_inputs(inputs_path) if inputs_path else None
    bar = progress_bar("exporting", quiet)
    summary = export(schema, out_dir or Path("finetune_data") / schema.name, inputs, fmt=fmt,
                     val_fraction=val_fraction, seed=seed, model=model, temperature=temperature, system=system,
                     resume=resume, force=force, strict=strict, headroom=headroom, relabel=relabel, concurrency=concurrency,
                     progress=bar)
    for prompt in summary.skipped:
        click.echo(f"formatlock: warning: no schema-valid target for {prompt[:60]!r}; left out", err=True)
    for line in summary.quality:
        click.echo(f"formatlock: quality: {line}", err=True)
    if summary.relabelled:
        click.echo(f"formatlock: quality: --relabel replaced {summary.relabelled} flagged targets", err=True)
    if summary.dropped:
        click.echo(f"formatlock: quality: --strict left out {summary.dropped} flagged examples", err=True)
    total = summary.train + summary.val
    if total < SMALL_DATASET:
        click.echo(f"formatlock: warning: {total} examples is a sample, not a dataset yet (aim for "
                   f"{SMALL_DATASET}+): add inputs to --inputs, or export --from-log once more calls are logged",
                   err=True)
    click.echo(f"wrote {summary.out_dir}: {summary.train} train, {summary.val} val ({fmt})")
