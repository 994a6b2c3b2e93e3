"""LoRA fine-tuning of a local GGUF model on an exported dataset, on CPU, into a llama.cpp adapter.

The fallback path's last step: ``formatlock export`` writes chat examples whose every target
validates; this trains a LoRA on them (loss on the answers only), so that the model writes the
format when prompted alone. The context before the last user message (an export's long schema
instruction) runs without gradients, which saves most of a step's backward pass. transformers
loads the GGUF itself (dequantised to fp32), peft adds the LoRA, and
:mod:`formatlock.finetune.lora_gguf` writes the adapter that ``MODEL+DIR/adapter.gguf`` loads
everywhere a model is named. Needs the ``train`` extra (CPU torch, transformers, peft, gguf).

Crash safety, as for exports: ``finetune.json`` is removed first and written last, after the
adapter was renamed into place, so a folder without it never holds a finished adapter.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import inspect
import io
import json
import os
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, ModelError, UsageError
from ..runtime.adapters import architecture
from ..runtime.models import resolve
from .datasets import atomic_write
from .lora_gguf import TARGET_MODULES, write_adapter

TRAIN_EXTRA = "pip install 'formatlock[train]'"
CHAT_FORMATS = ("openai", "messages")
ADAPTER = "adapter.gguf"
RECORD = "finetune.json"

Step = Callable[[int, int, float], object]  # (steps done, steps in all, last loss)
CONTEXT_REUSE = 4  # steps that share one computation of the same context's keys and values


@dataclass(frozen=True)
class Settings:
    """The hyperparameters, as recorded in ``finetune.json``."""

    epochs: int = 2
    rank: int = 16
    learning_rate: float = 2e-4
    max_examples: int | None = None
    seed: int = 0

    @property
    def alpha(self) -> float:
        return 2.0 * self.rank


def finetune(data_dir: Path, *, model: str | None = None, out_dir: Path | None = None,
             settings: Settings = Settings(), on_step: Step | None = None) -> Path:
    """Train a LoRA on ``data_dir``'s train.jsonl (val.jsonl for the validation loss); returns the adapter path."""
    started = time.perf_counter()
    manifest_path = data_dir / "manifest.json"
    manifest = _manifest(manifest_path)
    train, val = _rows(data_dir / "train.jsonl"), _rows(data_dir / "val.jsonl", required=False)
    if settings.max_examples is not None:
        train = train[: settings.max_examples]
    if settings.epochs < 1 or settings.rank < 1 or settings.learning_rate <= 0:
        raise UsageError("epochs and rank must be at least 1, and the learning rate above 0")
    name, path = resolve(model)
    _check_architecture(name, architecture(path))  # from the GGUF header, before a minute of loading
    torch, transformers, peft = _train_libraries()
    out_dir = out_dir or data_dir / "adapter"
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in (RECORD, ADAPTER):  # an older adapter here would look finished beside a failed run
        (out_dir / stale).unlink(missing_ok=True)

    torch.manual_seed(settings.seed)
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # its de-quantizing bar (plain tqdm); finetune shows its own
            tokenizer = transformers.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
            network = transformers.AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name,
                                                                        torch_dtype=torch.float32)
    except Exception as exc:  # noqa: BLE001 - transformers fails in many ways on a GGUF it cannot read
        raise ModelError(f"transformers cannot load {name} from {path} for training: {exc}") from None
    config = network.config
    _check_architecture(name, config.model_type)
    with warnings.catch_warnings():  # peft reads a deprecated transformers alias: not the user's to act on
        warnings.simplefilter("ignore", FutureWarning)
        network = peft.get_peft_model(network, peft.LoraConfig(
            r=settings.rank, lora_alpha=settings.alpha, lora_dropout=0.0, target_modules=TARGET_MODULES,
            task_type="CAUSAL_LM"))
    train_ids = [_encode(tokenizer, row, torch) for row in train]
    val_ids = [_encode(tokenizer, row, torch) for row in val]
    optimizer = torch.optim.AdamW([p for p in network.parameters() if p.requires_grad], lr=settings.learning_rate)
    order = random.Random(settings.seed)
    contexts = _Contexts(CONTEXT_REUSE)
    history, total, done = [], settings.epochs * len(train_ids), 0
    for epoch in range(1, settings.epochs + 1):
        network.train()
        losses = []
        for i in order.sample(range(len(train_ids)), len(train_ids)):
            loss = _loss(network, train_ids[i], torch, contexts)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.detach().item())
            done += 1
            if on_step is not None:
                on_step(done, total, losses[-1])
        history.append({"epoch": epoch, "train_loss": sum(losses) / len(losses),
                        "val_loss": _mean_loss(network, val_ids, torch)})
        contexts.clear()

    adapter = out_dir / ADAPTER
    temporary = out_dir / f".{ADAPTER}.{os.getpid()}.tmp"
    state = {k: v for k, v in network.state_dict().items() if "lora_" in k}
    write_adapter(temporary, state, alpha=settings.alpha, n_head=config.num_attention_heads,
                  n_head_kv=getattr(config, "num_key_value_heads", None) or config.num_attention_heads)
    os.replace(temporary, adapter)
    record = {
        "base_model": name, "base_model_sha256": _sha256(path), "dataset": str(data_dir),
        "dataset_manifest_sha256": _sha256(manifest_path), "schema": manifest.get("schema"),
        "examples": {"train": len(train_ids), "val": len(val_ids)},
        "hyperparameters": {"epochs": settings.epochs, "rank": settings.rank, "alpha": settings.alpha,
                            "learning_rate": settings.learning_rate, "max_examples": settings.max_examples,
                            "seed": settings.seed, "target_modules": TARGET_MODULES, "batch_size": 1,
                            "context_gradients": False, "context_reuse": CONTEXT_REUSE},
        "history": history, "wall_time_s": round(time.perf_counter() - started, 1),
        "adapter": ADAPTER, "adapter_bytes": adapter.stat().st_size,
    }
    atomic_write(out_dir / RECORD, json.dumps(record, indent=2) + "\n")
    return adapter


def _check_architecture(name: str, kind: str | None) -> None:
    """Adapters convert for llama-architecture models only (``None``: not known yet, checked after loading)."""
    if kind is not None and kind != "llama":
        raise UsageError(f"{name} is a {kind} model; adapters are converted for llama-architecture "
                         "models only (smollm2, or another llama GGUF)")


def _train_libraries() -> tuple[Any, Any, Any]:
    try:
        import peft  # start-up: the training libraries load only to train
        import torch  # start-up: the training libraries load only to train
        import transformers  # start-up: the training libraries load only to train
    except ImportError as exc:
        raise UsageError(f"formatlock finetune needs the train extra ({exc.name} is missing): {TRAIN_EXTRA}") from None
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()  # its weight-loading bar; finetune shows its own
    return torch, transformers, peft


def _manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path.parent} holds no finished dataset (no manifest.json): run formatlock export") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    if manifest.get("format") not in CHAT_FORMATS:
        raise UsageError(f"{path.parent} is in the {manifest.get('format')!r} format; finetune reads "
                         f"{' or '.join(CHAT_FORMATS)} (export --format openai)")
    return manifest


def _rows(path: Path, required: bool = True) -> list[list[dict[str, str]]]:
    """The chat messages of every row; the last message is the assistant's answer."""
    if not path.exists() and not required:
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            messages = json.loads(line)["messages"]
            answered = messages[-1]["role"] == "assistant"
        except (json.JSONDecodeError, KeyError, TypeError, IndexError):
            answered = False
        if not answered:
            raise InputError(f"{path}:{number}: not a chat example with the assistant's answer last")
        rows.append(messages)
    if required and not rows:
        raise InputError(f"{path} holds no example")
    return rows


@dataclass(frozen=True)
class _Encoded:
    """One chat example as token ids: the context before the last user message, then the rest."""

    context: Any | None  # (1, C) ids run without gradients, or None
    ids: Any  # (1, N) the last user message and the answer
    labels: Any  # (1, N) the answer's ids, -100 elsewhere


def _encode(tokenizer: Any, messages: list[dict[str, str]], torch: Any) -> _Encoded:
    """Token ids of the whole conversation, labels that count only the answer's tokens, and where the context ends.

    The context (the system prompt, in an export: the same long schema instruction in every row)
    is split off so that training runs it without gradients, which skips most of its backward pass.
    """
    def text(part: list[dict[str, str]], **options: Any) -> str:
        return tokenizer.apply_chat_template(part, tokenize=False, **options)

    def tokens(part: str) -> list[int]:
        return tokenizer(part, add_special_tokens=False)["input_ids"]

    prompt, full = text(messages[:-1], add_generation_prompt=True), text(messages)
    if not full.startswith(prompt):
        raise UsageError("the model's chat template does not put the answer after the prompt; cannot mask it")
    prompt_ids, ids = tokens(prompt), tokens(full)
    labels = [-100] * len(prompt_ids) + ids[len(prompt_ids):]
    users = [i for i, message in enumerate(messages) if message["role"] == "user"]
    try:
        head = text(messages[: users[-1]]) if users and users[-1] > 0 else ""
    except Exception:  # noqa: BLE001 - a template may refuse a conversation without a user turn: no split then
        head = ""
    head_ids = tokens(head) if head and prompt.startswith(head) else []
    cut = len(head_ids) if ids[: len(head_ids)] == head_ids else 0  # the conversation's own first tokens, or no split
    return _Encoded(torch.tensor([ids[:cut]]) if cut else None, torch.tensor([ids[cut:]]), torch.tensor([labels[cut:]]))


class _Contexts:
    """The keys and values of the last context, shared by up to ``reuse`` consecutive steps on it.

    Running the context is most of a step. A LoRA's weights move little in a few steps, so the
    steps after the first see keys and values a few updates old; the first step of each run, and
    every evaluation (no updates), are exact.
    """

    def __init__(self, reuse: int | None) -> None:
        self.reuse, self.ids, self.cache, self.uses = reuse, None, None, 0
        self.keyword: str | None = None  # the model's name for its cache argument, looked up once

    def get(self, network: Any, context: Any, torch: Any) -> dict[str, Any]:
        """The cache argument for a forward pass after ``context``: a fresh copy (a step appends its tokens)."""
        self.keyword = self.keyword or _cache_keyword(network)
        stale = self.reuse is not None and self.uses >= self.reuse
        if self.ids is None or stale or not torch.equal(self.ids, context):
            with torch.no_grad():
                self.cache = network(input_ids=context, use_cache=True)[self.keyword]
            self.ids, self.uses = context, 0
        self.uses += 1
        return {self.keyword: copy.deepcopy(self.cache)}

    def clear(self) -> None:
        self.ids, self.cache, self.uses = None, None, 0


def _loss(network: Any, example: _Encoded, torch: Any, contexts: _Contexts) -> Any:
    """The answer's mean token loss; the context runs first, with recent weights but no gradients.

    No gradient flows back through the context's keys and values (the LoRA learns from the user
    message and the answer), so its backward pass is never run, and ``contexts`` shares one run
    of a context among a few steps.
    """
    if example.context is None:
        return network(input_ids=example.ids, labels=example.labels).loss
    cache = contexts.get(network, example.context, torch)
    return network(input_ids=example.ids, labels=example.labels, use_cache=True, **cache).loss


def _cache_keyword(network: Any) -> str:
    """transformers 5 renames ``past_key_values`` to ``cache``; the base model's signature says which it takes."""
    return "cache" if "cache" in inspect.signature(network.get_base_model().forward).parameters else "past_key_values"


def _mean_loss(network: Any, examples: list[_Encoded], torch: Any) -> float | None:
    if not examples:
        return None
    network.eval()
    contexts = _Contexts(None)  # no update between evaluations: one run per context is exact
    with torch.no_grad():
        return sum(float(_loss(network, example, torch, contexts)) for example in examples) / len(examples)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
