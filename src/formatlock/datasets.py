"""Fine-tuning datasets: examples whose every target is schema-valid, split by prompt, written safely.

Flow: examples (prompt, target) are appended to a checkpoint (``DIR/.partial/examples.jsonl``,
flushed and fsynced one by one, so ``--resume`` loses nothing and repeats nothing); at the end every
target is validated again, prompts are deduplicated and split with the seed, the format checks run,
and ``train.jsonl``, ``val.jsonl`` and finally ``manifest.json`` (the completeness marker) are each
written to a temporary file and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import InputError, UsageError
from .schemas import Schema

FORMATS = ("openai", "messages", "alpaca", "sharegpt")
_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Example:
    """One training pair: the user's prompt and the schema-valid JSON answer (compact)."""

    prompt: str
    target: str


def default_system(schema: Schema) -> str:
    return f"Reply with only a JSON document that matches the {schema.title} schema."


def is_validation(prompt: str, seed: int, fraction: float) -> bool:
    """Deterministic split by prompt: the same prompt and seed always land on the same side."""
    digest = hashlib.sha256(f"{seed}\0{prompt}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split(examples: Iterable[Example], seed: int, fraction: float) -> tuple[list[Example], list[Example]]:
    """Deduplicate by prompt (first kept), then split into (train, val) by prompt."""
    seen: dict[str, Example] = {}
    for example in examples:
        seen.setdefault(example.prompt, example)
    train = [e for e in seen.values() if not is_validation(e.prompt, seed, fraction)]
    val = [e for e in seen.values() if is_validation(e.prompt, seed, fraction)]
    return train, val


def render(example: Example, fmt: str, system: str) -> dict[str, Any]:
    """One example in a fine-tuning file format."""
    if fmt in ("openai", "messages"):
        return {"messages": [{"role": "system", "content": system}, {"role": "user", "content": example.prompt},
                             {"role": "assistant", "content": example.target}]}
    if fmt == "alpaca":
        return {"instruction": system, "input": example.prompt, "output": example.target}
    if fmt == "sharegpt":
        return {"conversations": [{"from": "system", "value": system}, {"from": "human", "value": example.prompt},
                                  {"from": "gpt", "value": example.target}]}
    raise UsageError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")


def check(example: Example, system: str, count_tokens: Callable[[str], int], max_tokens: int) -> str | None:
    """The usual upload checks on one chat example; the problem, or None when it passes."""
    messages = render(example, "openai", system)["messages"]
    if [m["role"] for m in messages][-1] != "assistant" or any(m["role"] not in _ROLES for m in messages):
        return "roles must be system/user/assistant with the assistant last"
    if any(not m["content"].strip() for m in messages):
        return "a message has empty content"
    total = sum(count_tokens(m["content"]) + 4 for m in messages)
    if total > max_tokens:
        return f"{total} tokens, more than the model's context of {max_tokens}"
    return None


class Checkpoint:
    """Finished examples of an interrupted or running export, appended durably one at a time."""

    def __init__(self, out_dir: Path) -> None:
        self.folder = out_dir / ".partial"
        self.path = self.folder / "examples.jsonl"

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> list[Example]:
        examples = []
        if not self.path.exists():
            return examples
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                examples.append(Example(row["prompt"], row["target"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line torn by a kill: that example is generated again
        return examples

    def append(self, example: Example) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"prompt": example.prompt, "target": example.target}, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def write_dataset(out_dir: Path, train: list[Example], val: list[Example], fmt: str, system: str,
                  manifest: dict[str, Any]) -> None:
    """Write train/val and then the manifest, each atomically (manifest last marks completeness)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "manifest.json").unlink(missing_ok=True)
    for name, rows in (("train.jsonl", train), ("val.jsonl", val)):
        _atomic_write(out_dir / name, "".join(json.dumps(render(e, fmt, system), ensure_ascii=False) + "\n" for e in rows))
    _atomic_write(out_dir / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def manifest(schema: Schema, model: str, fmt: str, seed: int, fraction: float, train: int, val: int,
             source: str) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        formatlock_version = version("formatlock")
    except PackageNotFoundError:
        formatlock_version = "unknown"
    return {"schema": schema.name, "schema_title": schema.title, "schema_hash": schema.id, "schema_document": schema.document,
            "model": model, "format": fmt, "seed": seed, "val_fraction": fraction, "counts": {"train": train, "val": val},
            "source": source, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "formatlock_version": formatlock_version}


def _atomic_write(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, path)


def require_valid(examples: list[Example], is_valid: Callable[[str], bool]) -> None:
    """Check every target again at write time; a single invalid one stops the export."""
    for example in examples:
        if not is_valid(example.target):
            raise InputError(f"refusing to write: the target for prompt {example.prompt[:60]!r} is not schema-valid")
