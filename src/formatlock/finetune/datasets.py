"""Fine-tuning datasets whose every target is schema-valid, split by prompt and written crash-safely.

Flow of :func:`export`: targets come from constrained decoding on the local model (the teacher),
from the inputs themselves (a ``target`` given with an input, validated), or from valid calls in
the call log. Each target made by the teacher is appended to a checkpoint
(``DIR/.partial/examples.jsonl``, flushed and fsynced one by one) so ``--resume`` loses nothing
and repeats nothing. At the end every target is validated again, prompts are deduplicated and
split with the seed, the upload checks run on the rendered rows, and ``train.jsonl``,
``val.jsonl`` and last ``manifest.json`` (the completeness marker) are each written to a
temporary file and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ..calllog import CallLog
from ..compile.constraints import for_schema
from ..errors import EnforcementError, InputError, RefusedError, ServerError, UsageError
from ..fanout import ordered
from ..generation import run
from ..runtime.backends import Backend, open_backend
from ..runtime.models import Model, load_model
from ..schema import json_text
from ..schema.loading import Schema
from ..schema.validation import Validator
from . import dataset_formats, quality
from .headroom import DEFAULT as DEFAULT_HEADROOM
from .headroom import tightened
from .inputs import Input, Progress, no_progress


@dataclass(frozen=True)
class Example:
    """One training pair: the user's prompt and the schema-valid JSON answer (compact)."""

    prompt: str
    target: str


@dataclass
class Summary:
    """What an export wrote, and the inputs for which the teacher found no valid target."""

    out_dir: Path
    train: int
    val: int
    skipped: list[str] = field(default_factory=list)
    quality: list[str] = field(default_factory=list)  # the quality gates' warnings, one line each
    dropped: int = 0  # examples left out by strict quality gates
    relabelled: int = 0  # examples whose target came from a new sample after the gates flagged the first


def default_system(schema: Schema) -> str:
    """The system prompt of every example unless ``--system`` gives one."""
    return f"Reply with only a JSON document that matches the {schema.title} schema."


def prompt_hash(seed: int, prompt: str) -> int:
    """A 64-bit hash of (seed, prompt): decides the split side and the teacher's sampling seed."""
    return int.from_bytes(hashlib.sha256(f"{seed}\0{prompt}".encode()).digest()[:8], "big")


def is_validation(prompt: str, seed: int, fraction: float) -> bool:
    """Deterministic split by prompt: the same prompt and seed always land on the same side."""
    return prompt_hash(seed, prompt) / 2**64 < fraction


def split(examples: Iterable[Example], seed: int, fraction: float) -> tuple[list[Example], list[Example]]:
    """Deduplicate by prompt (first kept), then split into (train, val) by prompt; with a fraction
    above 0 and two prompts or more, val gets at least one."""
    unique: dict[str, Example] = {}
    for example in examples:
        unique.setdefault(example.prompt, example)
    train: list[Example] = []
    val: list[Example] = []
    for example in unique.values():
        (val if is_validation(example.prompt, seed, fraction) else train).append(example)
    if fraction > 0 and not val and len(train) > 1:
        # A small export would otherwise get an empty val.jsonl: the prompt nearest the cut goes to val.
        nearest = min(train, key=lambda e: prompt_hash(seed, e.prompt))
        train.remove(nearest)
        val.append(nearest)
    return train, val


class Checkpoint:
    """The examples an export has finished so far, in ``DIR/.partial/``, appended durably one at a time.

    ``settings.json`` records what decides the targets (schema, teacher, temperature, seed), so a
    resume with different settings is refused instead of mixing two datasets.
    """

    def __init__(self, out_dir: Path) -> None:
        self.folder = out_dir / ".partial"
        self.path = self.folder / "examples.jsonl"
        self.settings_path = self.folder / "settings.json"

    def exists(self) -> bool:
        return self.settings_path.exists() or self.path.exists()

    def start(self, settings: dict[str, Any], resume: bool) -> list[Example]:
        """The finished examples to continue from (none for a fresh start); refuses a silent restart."""
        if not self.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write(self.settings_path, json.dumps(settings, sort_keys=True) + "\n")
            return []
        if not resume:
            raise UsageError(f"{self.folder.parent} holds an interrupted export: pass --resume, or delete {self.folder}")
        try:
            saved = json.loads(self.settings_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            saved = None
        if saved != settings:
            differ = sorted(k for k in settings if not isinstance(saved, dict) or saved.get(k) != settings[k])
            raise UsageError(f"cannot resume {self.folder.parent}: it was started with other {', '.join(differ)} "
                             f"(recorded in {self.settings_path}); pass the same options or delete {self.folder}")
        return self.load()

    def load(self) -> list[Example]:
        """Every complete line; a line torn by a kill is dropped, and that example is made again."""
        if not self.path.exists():
            return []
        examples = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                examples.append(Example(row["prompt"], row["target"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
        return examples

    def append(self, example: Example) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"prompt": example.prompt, "target": example.target}, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def teach(schema: Schema, prompts: list[str], checkpoint: Checkpoint, done: list[Example], *, teacher: Backend,
          temperature: float, seed: int, concurrency: int = 1, relabel: int = 0,
          flagged: Callable[[Any], bool] = lambda _: False,
          progress: Progress = no_progress) -> tuple[list[Example], list[str], int]:
    """Constrained targets for the prompts not in ``done``, each checkpointed as soon as it is made.

    A target that ``flagged`` rejects (the quality gates) is sampled again, with the next seed, up
    to ``relabel`` times; the first one that passes is kept, else the first one made. A server
    teacher labels up to ``concurrency`` prompts at once. Returns (examples for ``prompts``,
    prompts the teacher found no valid target for, how many targets made now came from a new
    sample). A server failure stops the export; every target made before it is in the
    checkpoint, for ``--resume``.
    """
    finished = {e.prompt: e for e in done}
    todo = [p for p in dict.fromkeys(prompts) if p not in finished]
    constraint = for_schema(schema, masked=teacher.masks_locally)
    saving = threading.Lock()

    def sample(prompt: str, attempt: int) -> Any:
        """One valid target (parsed), or None where the teacher found none."""
        try:
            result = run(constraint, prompt, model=teacher, temperature=temperature,
                         seed=(prompt_hash(seed, prompt) + attempt) % 2**32)[0]
        except (EnforcementError, RefusedError):  # no valid target, or a compile bound hit while decoding
            return None
        return json_text.loads(result.text)

    def label(prompt: str) -> tuple[str, Example | None, bool]:
        first = target = sample(prompt, 0)
        if first is not None and relabel and flagged(first):
            again = (sample(prompt, attempt) for attempt in range(1, relabel + 1))
            # the first new sample that passes the gates; if none does, the first one made, which the gates report
            target = next((t for t in again if t is not None and not flagged(t)), first)
        if target is None:
            return prompt, None, False
        example = Example(prompt, json_text.dumps(target))
        with saving:
            checkpoint.append(example)
        return prompt, example, target is not first

    skipped, relabelled = [], 0
    with progress(len(todo)) as bar:
        try:
            for prompt, example, renewed in ordered(label, todo, teacher.workers(concurrency)):
                relabelled += renewed
                if example is None:
                    skipped.append(prompt)
                else:
                    finished[prompt] = example
                bar.update(1)
        except ServerError as exc:
            raise ServerError(f"{exc} (the targets made so far are kept in {checkpoint.folder}: "
                              "rerun with --resume)") from exc
    return [finished[p] for p in dict.fromkeys(prompts) if p in finished], skipped, relabelled


def given_targets(schema: Schema, inputs: list[Input]) -> dict[str, Example]:
    """The examples whose input came with its answer (a ``target`` key: a person's label, another
    system's output), by prompt; one that does not validate stops the export, naming its input."""
    validator = Validator(schema)
    given: dict[str, Example] = {}
    for item in inputs:
        if "target" not in item.meta or item.text in given:
            continue
        target = json_text.dumps(item.meta["target"])
        issues = validator.check_text(target)[1]
        if issues:
            raise InputError(f"nothing written: the target given for input {item.text[:60]!r} is not schema-valid: "
                             f"{issues[0]}")
        given[item.text] = Example(item.text, target)
    return given


def from_log(schema: Schema, log: CallLog | None = None) -> tuple[list[Example], list[str]]:
    """(prompt, validated document) of every valid logged attempt for the schema, and the models seen.

    A chat prompt contributes its last user message; calls logged without a prompt are left out.
    """
    examples, models = [], set()
    for attempt in (log or CallLog()).iter_attempts(schema_id=schema.id, valid=True):
        prompt = attempt.prompt
        if isinstance(prompt, list):
            users = [m.get("content") for m in prompt if m.get("role") == "user"]
            prompt = users[-1] if users else None
        if isinstance(prompt, str) and prompt.strip():
            examples.append(Example(prompt, json_text.dumps(attempt.document)))
            models.add(attempt.model or "remote")
    return examples, sorted(models)


def export(schema: Schema, out_dir: Path, inputs: list[Input] | None, *, fmt: str = "openai",
           val_fraction: float = 0.1, seed: int = 0, model: str | None = None, temperature: float = 0.7,
           system: str | None = None, resume: bool = False, force: bool = False, strict: bool = False,
           headroom: float = DEFAULT_HEADROOM, relabel: int = 0, concurrency: int = 1,
           progress: Progress = no_progress) -> Summary:
    """Build and write the dataset for ``inputs`` (each input's given ``target``, else the teacher's) or,
    when None, from the call log.

    A folder that already holds a finished dataset is kept: resuming it is refused (there is
    nothing to resume), and replacing it takes ``force``. The teacher labels under the schema's
    limits cut to ``headroom`` of themselves (:mod:`formatlock.finetune.headroom`). The quality gates
    (:mod:`formatlock.finetune.quality`) go into the manifest; ``relabel`` samples a flagged target
    again up to that many times, and ``strict`` drops the examples still flagged.
    """
    if fmt not in dataset_formats.FORMATS:
        raise UsageError(f"unknown format {fmt!r}: use one of {', '.join(dataset_formats.FORMATS)}")
    if (out_dir / "manifest.json").exists() and not Checkpoint(out_dir).exists() and not force:
        if resume:
            raise UsageError(f"{out_dir} holds a finished dataset: there is nothing to resume "
                             "(use --force to make it again)")
        raise UsageError(f"{out_dir} already holds a finished dataset: pass --force to replace it, or choose --out")
    teacher = open_backend(model)
    counter = teacher.local_model or load_model(None)  # the tokenizer of the context check (a server's is unknown)
    checkpoint = Checkpoint(out_dir)
    skipped: list[str] = []
    labelled = schema  # the schema the targets were made under: the gates judge against its limits
    system = system or default_system(schema)
    relabelled = 0
    prompts: list[str] = []  # the inputs the teacher labels
    if inputs is None:
        examples, models = from_log(schema)
        if not examples:
            raise UsageError(f"the call log has no valid calls with a prompt for schema {schema.name}")
        source, model_name = "valid calls in the call log", ", ".join(models)
    else:
        given = given_targets(schema, inputs)
        prompts = [i.text for i in inputs if i.text not in given]
        taught: dict[str, Example] = {}
        if prompts:
            settings = {"schema_hash": schema.id, "model": teacher.name, "temperature": temperature, "seed": seed,
                        "headroom": headroom, "relabel": relabel}
            done = checkpoint.start(settings, resume)
            labelled = tightened(schema, headroom)

            def flagged(target: Any) -> bool:
                return bool(quality.check(labelled, [target], instruction=system).flagged)

            try:
                made, skipped, relabelled = teach(labelled, prompts, checkpoint, done, teacher=teacher,
                                                  temperature=temperature, seed=seed, concurrency=concurrency,
                                                  relabel=relabel, flagged=flagged, progress=progress)
            except BaseException:
                if not done and not checkpoint.load():  # refused or stopped before the first example: leave nothing
                    checkpoint.remove()
                raise
            if not made and not given:
                raise EnforcementError(f"the teacher {teacher.name} found no schema-valid target for any input")
            taught = {e.prompt: e for e in made}
        examples = [e for p in dict.fromkeys(i.text for i in inputs) if (e := given.get(p) or taught.get(p))]
        how = "constrained decoding" if teacher.constrains else "validated prompt-only replies (with retries)"
        source, model_name = f"{how} on {teacher.name}", teacher.name
        if given:
            source = "targets given with the inputs" + (f", the rest by {source}" if prompts else "")
            model_name = "given" + (f" + {teacher.name}" if prompts else "")
    gates = quality.check(labelled, [json_text.loads(e.target) for e in examples], instruction=system)
    kept = [e for i, e in enumerate(examples) if not (strict and i in gates.flagged)]
    if not kept:
        raise EnforcementError(f"--strict left no example: the quality gates flagged all {len(examples)}")
    dropped, examples = len(examples) - len(kept), kept
    train, val = split(examples, seed, val_fraction)
    rows = _checked_rows(schema, {"train.jsonl": train, "val.jsonl": val}, fmt, system, counter)
    manifest = {
        "schema": schema.name, "schema_title": schema.title, "schema_hash": schema.id,
        "schema_document": schema.document, "model": model_name, "teacher": model_name, "source": source,
        "format": fmt,
        "system": system, "seed": seed, "val_fraction": val_fraction,
        "headroom": headroom if prompts else None, "relabel": relabel if prompts else None,
        "counts": {"train": len(train), "val": len(val), "skipped": len(skipped), "dropped_by_quality": dropped,
                   "relabelled": relabelled},
        "quality": {**gates.as_dict(), "strict": strict},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "formatlock_version": _version(),
    }
    write_dataset(out_dir, rows, manifest)
    checkpoint.remove()
    return Summary(out_dir, len(train), len(val), skipped, [str(w) for w in gates.warnings], dropped, relabelled)


def _checked_rows(schema: Schema, parts: dict[str, list[Example]], fmt: str, system: str,
                  counter: Model) -> dict[str, list[dict[str, Any]]]:
    """Each part rendered in ``fmt``, after validating every target again and running the upload checks."""
    validator = Validator(schema)

    def count_tokens(text: str) -> int:
        return len(counter.tokenize(text, add_bos=False, special=False))

    rows: dict[str, list[dict[str, Any]]] = {}
    for name, examples in parts.items():
        rows[name] = []
        for number, example in enumerate(examples, 1):
            row = dataset_formats.render(system, example.prompt, example.target, fmt)
            problem = dataset_formats.check(row, fmt, count_tokens, counter.n_ctx)
            issues = [] if problem else validator.check_text(example.target)[1]
            if problem or issues:
                raise InputError(f"nothing written: {name} example {number} (prompt {example.prompt[:60]!r}): "
                                 f"{problem or f'the target is not schema-valid: {issues[0]}'}")
            rows[name].append(row)
    return rows


def write_dataset(out_dir: Path, rows: dict[str, list[dict[str, Any]]], manifest: dict[str, Any]) -> None:
    """Write each file of ``rows`` and then the manifest, each atomically; the manifest marks completeness."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "manifest.json").unlink(missing_ok=True)  # old files are not vouched for while being replaced
    for name, part in rows.items():
        atomic_write(out_dir / name, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part))
    atomic_write(out_dir / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def atomic_write(path: Path, text: str) -> None:
    """Write a temporary file beside ``path``, fsync it, rename it over ``path``, fsync the folder."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)  # mode honours the umask
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _version() -> str:
    try:
        return version("formatlock")
    except PackageNotFoundError:
        return "unknown"
