"""Token-mask cost along valid documents, formatlock against llguidance (JSONSchemaBench's maskbench style).

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python benchmarks/bench_mask.py [--models smollm2 gemma3-270m] [--shared 24] [--out .bench/mask.jsonl]

For each schema (the bundled ones and a seeded sample of ``../shared/jsonschemabench``), one valid
document is made once with ``formatlock.generate`` (greedy) and tokenised as the model would. Then,
per engine and cold (a fresh compile and mask state, an empty ``FORMATLOCK_CACHE``), the mask is
computed at every token position of that document and the token consumed:

- ``formatlock``: the product's own per-step work (``formatlock.runtime.masks`` as the decoder uses it: the
  bitmask with end tokens cleared and the string cap applied; the decoder then tests its sampled
  token against it in O(1));
- ``llguidance``: ``LLMatcher`` on llguidance's own JSON Schema grammar, ``fill_next_token_bitmask``.

Engines alternate per schema, in one process, so a slow moment of the machine hits both alike.
Reported per engine: compile (schema to a ready mask state; the model's one-time vocabulary load is
reported separately), mask p50 / p99 / max per token, and the total along the document. A path an
engine refuses (a token it does not allow) is reported, not hidden.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "jsonschemabench"


def schema_files(shared: int, seed: int) -> list[Path]:
    """The bundled schemas, then ``shared`` seeded picks from the shared sample (none if it is absent)."""
    files = sorted((ROOT / "schemas").glob("*.json"))
    pool = sorted(Path(p) for p in glob.glob(str(SHARED / "*" / "*.json")))
    random.Random(seed).shuffle(pool)
    return files + pool[:shared]


class FormatlockMasks:
    """formatlock's mask work per token, as the decoder does it."""

    name = "formatlock"

    def __init__(self, model: Any) -> None:
        from formatlock.runtime import masks

        self.model = model
        started = time.perf_counter()
        masks.for_model(model)
        self.vocabulary_s = time.perf_counter() - started

    def compile(self, schema: dict) -> Any:
        from formatlock.compile import constraints
        from formatlock.runtime import masks

        constraint = constraints.for_schema(schema, cached=False)
        return masks.for_model(self.model).compile(constraint.regex).start(constraint.string_cap)

    def mask(self, state: Any) -> None:
        state.allowed()

    def consume(self, state: Any, token: int) -> bool:
        return state.consume(token)


class LlguidanceMasks:
    """llguidance 1.x on its own JSON Schema grammar, with llama.cpp's tokenizer."""

    name = "llguidance"

    def __init__(self, model: Any) -> None:
        import llama_cpp
        import llguidance.llamacpp
        import llguidance.numpy

        self.np = llguidance.numpy
        self.llguidance = llguidance
        started = time.perf_counter()
        self.tokenizer = llguidance.llamacpp.lltokenizer_from_vocab(llama_cpp.llama_model_get_vocab(model.llm.model))
        self.vocabulary_s = time.perf_counter() - started
        self.bitmask = self.np.allocate_token_bitmask(1, self.tokenizer.vocab_size)

    def compile(self, schema: dict) -> Any:
        grammar = self.llguidance.LLMatcher.grammar_from_json_schema(
            schema, defaults={"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"})
        matcher = self.llguidance.LLMatcher(self.tokenizer, grammar)
        if matcher.is_error():
            raise ValueError(matcher.get_error())
        return matcher

    def mask(self, matcher: Any) -> None:
        self.np.fill_next_token_bitmask(matcher, self.bitmask)

    def consume(self, matcher: Any, token: int) -> bool:
        return matcher.consume_token(token) and not matcher.is_error()


def document(model: Any, schema: dict) -> str | None:
    """One valid document for ``schema`` on ``model`` (greedy), or None if none is made."""
    from formatlock.errors import FormatlockError
    from formatlock.generation import generate_results

    try:
        return generate_results(schema, "Fill in a realistic example.", model=model)[0].text
    except FormatlockError:
        return None


def measure(engine: Any, schema: dict, tokens: list[int]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        state = engine.compile(schema)
    except Exception as exc:  # noqa: BLE001 - a refusal is a result to report
        return {"error": f"compile: {str(exc)[:160]}"}
    compile_s = time.perf_counter() - started
    times = []
    for i, token in enumerate(tokens):
        started = time.perf_counter()
        engine.mask(state)
        ok = engine.consume(state, token)
        times.append(time.perf_counter() - started)
        if not ok:
            return {"error": f"token {i} of {len(tokens)} refused", "compile_s": compile_s}
    return {"compile_s": compile_s, "mask_s": times}


def summary(rows: list[dict[str, Any]], engine: str) -> dict[str, Any]:
    done = [r[engine] for r in rows if "mask_s" in r[engine]]
    every = sorted(t for r in done for t in r["mask_s"])
    if not every:
        return {"documents": 0}
    totals = [sum(r["mask_s"]) for r in done]
    return {"documents": len(done), "refused": sum("error" in r[engine] for r in rows), "tokens": len(every),
            "p50_ms": 1000 * every[len(every) // 2], "p99_ms": 1000 * every[min(len(every) - 1, int(0.99 * len(every)))],
            "max_ms": 1000 * every[-1], "total_s": sum(totals), "total_per_doc_p50_ms": 1000 * statistics.median(totals),
            "compile_p50_ms": 1000 * statistics.median(r["compile_s"] for r in done)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["smollm2", "gemma3-270m"])
    parser.add_argument("--shared", type=int, default=24, help="schemas sampled from ../shared/jsonschemabench")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write every row as JSONL")
    args = parser.parse_args()
    os.environ["FORMATLOCK_CACHE"] = tempfile.mkdtemp(prefix="bench-mask-")  # cold: nothing cached on disk
    from formatlock.runtime.models import load_model

    files = schema_files(args.shared, args.seed)
    out = args.out.open("w") if args.out else None
    for name in args.models:
        model = load_model(name)
        engines = [FormatlockMasks(model), LlguidanceMasks(model)]
        print(f"\n## {name} (vocabulary {model.n_vocab:,}); one-time vocabulary load: "
              + ", ".join(f"{e.name} {e.vocabulary_s:.2f} s" for e in engines), file=sys.stderr)
        rows = []
        for k, path in enumerate(files):
            schema = json.loads(path.read_text())
            text = document(model, schema)
            if text is None:
                print(f"  {path.parent.name}/{path.name}: no document made, skipped", file=sys.stderr)
                continue
            tokens = model.tokenize(text, add_bos=False, special=False)
            row: dict[str, Any] = {"model": name, "schema": f"{path.parent.name}/{path.name}", "tokens": len(tokens)}
            for engine in engines if k % 2 == 0 else engines[::-1]:
                row[engine.name] = measure(engine, schema, tokens)
            rows.append(row)
            cells = []
            for e in engines:
                r = row[e.name]
                cells.append(f"{e.name} " + (r["error"] if "error" in r else f"{1000 * sum(r['mask_s']):.1f} ms"))
            print(f"  {row['schema']} ({len(tokens)} tokens): " + "; ".join(cells), file=sys.stderr)
            if out:
                out.write(json.dumps({**row, **{e.name: {k2: v for k2, v in row[e.name].items()} for e in engines}}) + "\n")
        print(f"\n{name}: {len(rows)} documents\n")
        print("| engine | documents | refused | mask p50 / p99 / max ms | total along all documents s | per document p50 ms | compile p50 ms |")
        print("|---|---|---|---|---|---|---|")
        stats = {e.name: summary(rows, e.name) for e in engines}
        for e in engines:
            s = stats[e.name]
            if not s["documents"]:
                print(f"| {e.name} | 0 | | | | | |")
                continue
            print(f"| {e.name} | {s['documents']} | {s['refused']} | {s['p50_ms']:.3f} / {s['p99_ms']:.2f} / {s['max_ms']:.1f}"
                  f" | {s['total_s']:.3f} | {s['total_per_doc_p50_ms']:.1f} | {s['compile_p50_ms']:.1f} |")
        both = [r for r in rows if all("mask_s" in r[e.name] for e in engines)]
        if both:
            ratios = [sum(r["formatlock"]["mask_s"]) / sum(r["llguidance"]["mask_s"]) for r in both]
            ours, theirs = (sum(sum(r[e]["mask_s"]) for r in both) for e in ("formatlock", "llguidance"))
            print(f"\ntotal mask time formatlock / llguidance over the {len(both)} documents both engines took: "
                  f"{ours:.3f} / {theirs:.3f} s = {ours / theirs:.2f}x; per document: p50 {statistics.median(ratios):.2f}x, "
                  f"max {max(ratios):.2f}x; documents within 2x: {sum(x <= 2 for x in ratios)}/{len(ratios)}")
        sys.stdout.flush()
    if out:
        out.close()


if __name__ == "__main__":
    main()
