"""``formatlock export``: a fine-tuning dataset whose every target validates against the schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .. import datasets
from ..errors import UsageError

if TYPE_CHECKING:
    from ..datasets import Checkpoint
    from ..models import Model
    from ..schemas import Schema


@click.command("export")
@click.option("--schema", "schema_ref", required=True, metavar="SCHEMA", help="Schema file, bundled name, or module:Class.")
@click.option("--inputs", "inputs_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Prompts (JSONL {\"input\": ...} or text lines); targets come from the local model, constrained.")
@click.option("--from-log", is_flag=True, help="Take prompts and targets from valid calls in the call log.")
@click.option("--format", "fmt", type=click.Choice(["openai", "messages", "alpaca", "sharegpt"]), default="openai",
              show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: finetune_data/<schema name>/).")
@click.option("--val-fraction", type=click.FloatRange(0, 0.9), default=0.1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split and of sampling.")
@click.option("--model", "-m", metavar="MODEL", help="Teacher model: smollm2 (default), gemma3-270m, or a .gguf path.")
@click.option("--temperature", type=click.FloatRange(min=0), default=0.7, show_default=True)
@click.option("--system", metavar="TEXT", help="System prompt of every example (default: names the schema).")
@click.option("--resume", is_flag=True, help="Continue an interrupted export in the same folder.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(schema_ref: str, inputs_path: str | None, from_log: bool, fmt: str, out_dir: Path | None,
            val_fraction: float, seed: int, model: str | None, temperature: float, system: str | None,
            resume: bool, quiet: bool) -> None:
    """Export train.jsonl, val.jsonl and manifest.json for fine-tuning.

    Every target is produced by constrained decoding (or taken from a valid logged call) and is
    validated again when written. Prompts are deduplicated and split by prompt with --seed, so a
    prompt never lands in both files. Examples failing the upload checks (roles, assistant last,
    non-empty content, fits the model context) stop the export: nothing is written.
    An interrupted export keeps its finished examples in OUT/.partial; --resume continues it.
    manifest.json is written last: a folder without it is not a finished dataset.

    \b
    Examples:
      formatlock export --schema support_ticket --inputs finetune_data/support_ticket.inputs.jsonl
      formatlock export --schema support_ticket --from-log --format sharegpt --out data/tickets

    \b
    Exit codes: 0 written, 1 no valid target could be produced for an input, 2 usage/input errors.
    """
    from ..models import load_model
    from ..schemas import load_schema
    from ..validation import Validator

    if bool(inputs_path) == from_log:
        raise UsageError("give exactly one of --inputs FILE or --from-log")
    schema = load_schema(schema_ref)
    out_dir = out_dir or Path("finetune_data") / schema.name
    checkpoint = datasets.Checkpoint(out_dir)
    if checkpoint.exists() and not resume:
        raise UsageError(f"{out_dir} holds an interrupted export: pass --resume, or delete {checkpoint.folder}")
    validator = Validator(schema)
    system = system or datasets.default_system(schema)
    teacher = load_model(model)
    if from_log:
        examples = _from_log(schema)
        source = "call log"
    else:
        examples = _generate(schema, inputs_path, checkpoint, teacher, temperature, seed, quiet)
        source = f"constrained decoding on {teacher.name}"
    if not examples:
        raise UsageError("no examples to export")
    datasets.require_valid(examples, lambda text: not validator.check_text(text)[1])
    train, val = datasets.split(examples, seed, val_fraction)

    def count_tokens(text: str) -> int:
        return len(teacher.tokenize(text, add_bos=False, special=False))

    for example in train + val:
        problem = datasets.check(example, system, count_tokens, teacher.n_ctx)
        if problem:
            raise UsageError(f"not written: example {example.prompt[:60]!r}: {problem}")
    datasets.write_dataset(out_dir, train, val, fmt, system,
                           datasets.manifest(schema, teacher.name, fmt, seed, val_fraction, len(train), len(val), source))
    checkpoint.remove()
    click.echo(f"wrote {out_dir}: {len(train)} train, {len(val)} val ({fmt})")


def _generate(schema: Schema, inputs_path: str, checkpoint: Checkpoint, teacher: Model, temperature: float,
              seed: int, quiet: bool) -> list[datasets.Example]:
    """Constrained targets for the inputs not in the checkpoint yet, each checkpointed when done."""
    from ..constraints import for_schema
    from ..generation import run
    from ..inputs import read_inputs

    done = checkpoint.load()
    finished = {e.prompt for e in done}
    todo = [i for i in dict.fromkeys(i.text for i in read_inputs(inputs_path)) if i not in finished]
    constraint = for_schema(schema)
    bar = click.progressbar(length=len(todo), label="exporting", file=sys.stderr,
                            hidden=quiet)
    with bar:
        for index, prompt in enumerate(todo):
            result = run(constraint, prompt, model=teacher, temperature=temperature, seed=seed + index)[0]
            example = datasets.Example(prompt, json.dumps(json.loads(result.text), separators=(",", ":"), ensure_ascii=False))
            checkpoint.append(example)
            done.append(example)
            bar.update(1)
    return done


def _from_log(schema: Schema) -> list[datasets.Example]:
    """Prompts and validated documents of valid logged calls for the schema."""
    from ..calllog import CallLog

    examples = []
    for attempt in CallLog().iter_attempts(schema_id=schema.id, valid=True):
        prompt = attempt.prompt
        if isinstance(prompt, list):
            users = [m.get("content", "") for m in prompt if m.get("role") == "user"]
            prompt = users[-1] if users else None
        if isinstance(prompt, str) and prompt.strip():
            examples.append(datasets.Example(prompt, json.dumps(attempt.document, separators=(",", ":"), ensure_ascii=False)))
    return examples
