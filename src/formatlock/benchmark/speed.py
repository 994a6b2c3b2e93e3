"""``formatlock bench``: speed and validity of the five paths on the same prompts and seeds.

Per (schema, path): output tokens per second, for the whole call (prompt prefill included) and
for decoding alone (the prompt already in the KV cache, timed separately), seconds per valid
output, valid rate, cold and cached compile time, and model steps per output token (below 1.0
when jump-forward skips forced tokens).

Each (schema, path) first makes one untimed call, reported as ``first_call_s``: it pays the
prefill of the prompt's shared start (chat template and schema instruction), which the paths that
keep their KV cache across calls (formatlock, llama-cpp-python's completion) then reuse, as for
any caller making many calls on one schema; Outlines resets the context after every call and
prefills the whole prompt each time. The timed calls measure that steady state, round-robin
across paths; each still prefills its own user prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from ..runtime.backends import is_server_ref
from ..schema.loading import load_schema
from ..schema.validation import Validator
from .isolation import Isolated
from .paths import ENGINES, SERVER_ENGINES

WARM_UP_PROMPT = "Write one example."
PROMPTS = (
    "Write one realistic example for a small business.",
    "Fill this in for a customer called Dana Smith.",
    "Give a typical example from an online shop.",
    "Make up an example about a software team.",
)


def bench(
    schemas: list[str],
    model: str,
    n: int,
    paths: tuple[str, ...] = ENGINES,
    progress: Callable[[str], None] = lambda _: None,
    timeout: float = 300,
    local_model: str = "smollm2",
) -> list[dict[str, Any]]:
    """One row per (schema, path), measured in this run on the same prompts and seeds.

    With a server ``model``, the server paths run on it and the local paths on ``local_model``.
    """
    def model_of(path: str) -> str:
        return model if path in SERVER_ENGINES or not is_server_ref(model) else local_model

    workers = {path: Isolated(path, model_of(path)) for path in paths}
    rows = []
    try:
        for ref in schemas:
            schema = load_schema(ref)
            rows += _measure(schema.name, schema.document, workers, Validator(schema), n, timeout, progress)
    finally:
        for worker in workers.values():
            worker.stop()
    return rows


def _measure(name: str, document: Any, workers: dict[str, Isolated], validator: Validator, n: int,
             timeout: float, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    """Compile and warm up every path, then time the calls round-robin across paths, so that a
    slow moment of a shared machine hits all paths alike instead of one path's whole series."""
    rows: dict[str, dict[str, Any]] = {path: {"schema": name, "path": path} for path in workers}
    totals: dict[str, dict[str, float]] = {}
    for path, worker in workers.items():
        progress(f"{name}: {path}: compile and first call")
        prepared = worker.call("prepare", timeout, schema=document)
        warm_up = {} if "error" in prepared else worker.call("run", timeout, prompt=WARM_UP_PROMPT, max_tokens=512, seed=n)
        if "error" in prepared or "error" in warm_up:
            rows[path]["error"] = prepared.get("error") or warm_up["error"]
            continue
        rows[path].update(compile_s=prepared["compile_s"], compile_cached_s=prepared["compile_cached_s"],
                          first_call_s=warm_up["seconds"])
        totals[path] = dict.fromkeys(("seconds", "decoding", "tokens", "steps", "valid"), 0.0)
    for i in range(n):
        progress(f"{name}: timed call {i + 1} of {n} on each path")
        for path in list(totals):
            out = workers[path].call("run", timeout, prompt=PROMPTS[i % len(PROMPTS)], max_tokens=512, seed=i)
            if "error" in out:
                rows[path] = {"schema": name, "path": path, "error": out["error"]}
                del totals[path]
                continue
            total = totals[path]
            total["seconds"] += out["seconds"]
            total["decoding"] += out["decode_s"]
            total["tokens"] += out["tokens"]
            total["steps"] += out["model_steps"]
            total["valid"] += not out.get("refused") and not validator.check_text(out["text"])[1]
    for path, total in totals.items():
        seconds, tokens, valid = total["seconds"], total["tokens"], total["valid"]
        rows[path].update(
            tokens_per_s=tokens / seconds if seconds else 0.0,
            decode_tokens_per_s=tokens / total["decoding"] if total["decoding"] else 0.0,
            s_per_valid=seconds / valid if valid else None,
            valid_rate=valid / n,
            model_steps_per_output_token=total["steps"] / tokens if tokens else None,
        )
    return list(rows.values())


def plotting() -> Any:
    """matplotlib's pyplot, or a UsageError saying how to install it (asked before a run, not after)."""
    try:
        import matplotlib  # start-up: only a plot loads matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # start-up: only a plot loads matplotlib
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'formatlock[plot]'") from None
    return plt


def plot(rows: list[dict[str, Any]], target: str) -> None:
    """Grouped bars of output tokens/s per schema and path: whole calls, and decoding alone (needs matplotlib)."""
    plt = plotting()
    schemas = sorted({r["schema"] for r in rows})
    paths = [p for p in ENGINES if any(r["path"] == p for r in rows)]
    width = 0.8 / max(1, len(paths))
    fig, axes = plt.subplots(2, 1, figsize=(max(7, 1.5 * len(schemas)), 7), sharey=True)
    for ax, key, title in ((axes[0], "tokens_per_s", "whole call (user prompt's prefill included)"),
                           (axes[1], "decode_tokens_per_s", "decoding alone (prompt cached)")):
        for i, path in enumerate(paths):
            values = [next((r.get(key) or 0 for r in rows if r["schema"] == s and r["path"] == path), 0) for s in schemas]
            ax.bar([x + i * width for x in range(len(schemas))], values, width, label=path)
        ax.set_xticks([x + width * (len(paths) - 1) / 2 for x in range(len(schemas))], schemas, rotation=20)
        ax.set_title(title, fontsize="medium")
    for ax in axes:
        ax.set_ylabel("output tokens / s")
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(target, dpi=110)
