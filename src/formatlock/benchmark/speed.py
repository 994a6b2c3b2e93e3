"""``formatlock bench``: speed and validity of the four paths on the same prompts and seeds.

Per (schema, path): output tokens per second, for the whole call (prompt prefill included) and
for decoding alone (the prompt already in the KV cache, timed separately), seconds per valid
output, valid rate, cold and cached compile time, and model steps per output token (below 1.0
when jump-forward skips forced tokens).

Each (schema, path) first makes one untimed warm-up call, reported as ``first_call_s``: it pays
the prefill of the prompt's shared start (chat template and schema instruction), which every path
then keeps in its KV cache, as any caller making many calls on one schema would. The timed calls
measure that steady state; each still prefills its own user prompt.
"""

from __future__ import annotations

from typing import Any, Callable

from ..schemas import load_schema
from ..validation import Validator
from .engines import ENGINES
from .isolation import Isolated

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
) -> list[dict[str, Any]]:
    """One row per (schema, path), measured in this run on the same prompts and seeds."""
    workers = {path: Isolated(path, model) for path in paths}
    rows = []
    try:
        for ref in schemas:
            schema = load_schema(ref)
            validator = Validator(schema)
            for path, worker in workers.items():
                progress(f"{schema.name}: {path}")
                rows.append(_measure(schema.name, schema.document, path, worker, validator, n, timeout))
    finally:
        for worker in workers.values():
            worker.stop()
    return rows


def _measure(name: str, document: Any, path: str, worker: Isolated, validator: Validator, n: int,
             timeout: float) -> dict[str, Any]:
    row: dict[str, Any] = {"schema": name, "path": path}
    prepared = worker.call("prepare", timeout, schema=document)
    if "error" in prepared:
        return {**row, "error": prepared["error"]}
    row.update(compile_s=prepared["compile_s"], compile_cached_s=prepared["compile_cached_s"])
    warm_up = worker.call("run", timeout, prompt=WARM_UP_PROMPT, max_tokens=512, seed=n)
    if "error" in warm_up:
        return {**row, "error": warm_up["error"]}
    row["first_call_s"] = warm_up["seconds"]
    seconds = decoding = tokens = steps = valid = 0
    for i in range(n):
        out = worker.call("run", timeout, prompt=PROMPTS[i % len(PROMPTS)], max_tokens=512, seed=i)
        if "error" in out:
            return {**row, "error": out["error"]}
        seconds += out["seconds"]
        decoding += out["decode_s"]
        tokens += out["tokens"]
        steps += out["model_steps"]
        valid += not out.get("refused") and not validator.check_text(out["text"])[1]
    row.update(
        tokens_per_s=tokens / seconds if seconds else 0.0,
        decode_tokens_per_s=tokens / decoding if decoding else 0.0,
        s_per_valid=seconds / valid if valid else None,
        valid_rate=valid / n,
        model_steps_per_output_token=steps / tokens if tokens else None,
    )
    return row


def plot(rows: list[dict[str, Any]], target: str) -> None:
    """A grouped bar chart of decoding tokens/s per schema and path (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from ..errors import UsageError

        raise UsageError("--plot needs matplotlib: pip install 'formatlock[plot]'") from None
    schemas = sorted({r["schema"] for r in rows})
    paths = [p for p in ENGINES if any(r["path"] == p for r in rows)]
    width = 0.8 / max(1, len(paths))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(schemas)), 4))
    for i, path in enumerate(paths):
        values = [next((r.get("decode_tokens_per_s") or 0 for r in rows if r["schema"] == s and r["path"] == path), 0)
                  for s in schemas]
        ax.bar([x + i * width for x in range(len(schemas))], values, width, label=path)
    ax.set_xticks([x + width * (len(paths) - 1) / 2 for x in range(len(schemas))], schemas, rotation=20)
    ax.set_ylabel("output tokens / s (decoding, prompt cached)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(target, dpi=120)
