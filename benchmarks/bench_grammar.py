"""What llama.cpp's grammar engine costs on formatlock's GBNF, per schema of ../shared/jsonschemabench.

    .venv/bin/python benchmarks/bench_grammar.py --per-split 5 [--walk random] [--out .bench/grammar.jsonl]

For each schema: the compiled constraint as GBNF (``compile.gbnf``), its size, the time llama.cpp's
parser takes to read it (``llama_sampler_init_grammar``), and the sampler's cost along one output:
before each of its tokens the grammar sampler is applied to the whole vocabulary, as a server
does when it decodes under that grammar. ``--walk model``: the embedded model writes the output
under the local mask (at most ``--max-tokens``). ``--walk random``: ``--length`` tokens, each drawn at
random from those llama.cpp's grammar allows at that point (so free text runs long), which finds the
texts that make an ambiguous grammar expensive. The schemas run in a worker process, replaced
after one that takes longer than ``--timeout`` seconds (reported as a hang). Prints the slowest schemas
and the quantiles. Run it alone: other heavy work on the machine inflates every number.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import multiprocessing
import queue
import sys
import time
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np

from formatlock.benchmark.coverage import servable, shared_cases
from formatlock.compile.gbnf import to_gbnf
from formatlock.compile.json_regex import compile_schema
from formatlock.errors import FormatlockError
from formatlock.generation import generate_results
from formatlock.runtime.backends.dialects import vocabulary_owner

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "jsonschemabench"


def measure(document: object, owner: llama_cpp.Llama, walk: str, max_tokens: int, length: int) -> dict[str, object]:
    compiled = compile_schema(document)
    if compiled.regex is None or compiled.unsupported:
        return {"skipped": "the compiler cannot carry it"}
    grammar = to_gbnf(compiled.regex, compiled.string_cap)
    vocab = llama_cpp.llama_model_get_vocab(owner.model)
    size = llama_cpp.llama_vocab_n_tokens(vocab)
    started = time.perf_counter()
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
    parse_s = time.perf_counter() - started
    if not sampler:
        return {"skipped": "llama.cpp's parser refused the grammar"}
    tokens = None
    if walk == "model":
        text = generate_results(document, "Produce one realistic example.", max_tokens=max_tokens, seed=0)[0].text
        tokens = owner.tokenize(text.encode(), add_bos=False, special=False)
    rng = np.random.default_rng(0)
    end = llama_cpp.llama_vocab_eos(vocab)
    fresh = (llama_cpp.llama_token_data * size)()
    for i in range(size):
        fresh[i].id = i
    data = (llama_cpp.llama_token_data * size)()
    view = np.frombuffer(data, dtype=np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")]))
    costs = []
    for step in range(len(tokens) if tokens is not None else length):
        ctypes.memmove(data, fresh, ctypes.sizeof(fresh))  # every token a candidate again, equally likely
        candidates = llama_cpp.llama_token_data_array(data=data, size=size, selected=-1, sorted=False)
        started = time.perf_counter()
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(candidates))
        costs.append(time.perf_counter() - started)
        if tokens is not None:
            token = tokens[step]
        else:  # a random token the grammar allows: free text runs long, as a wandering model's would
            live = view["id"][: candidates.size][np.isfinite(view["logit"][: candidates.size])]
            live = live[live != end]
            if not len(live):
                break
            token = int(rng.choice(live))
        llama_cpp.llama_sampler_accept(sampler, token)
    llama_cpp.llama_sampler_free(sampler)
    return {"grammar_chars": len(grammar), "rules": grammar.count("\n"), "parse_ms": parse_s * 1e3,
            "tokens": len(costs), "apply_ms_mean": 1e3 * sum(costs) / max(1, len(costs)),
            "apply_ms_max": 1e3 * max(costs, default=0.0), "apply_s_total": sum(costs)}


def _worker(tasks: Any, results: Any) -> None:
    owner = vocabulary_owner()
    while True:
        document, walk, max_tokens, length = tasks.get()
        try:
            results.put(measure(document, owner, walk, max_tokens, length))
        except FormatlockError as exc:
            results.put({"skipped": str(exc)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-split", type=int, help="first N schemas of each split (default: all)")
    parser.add_argument("--walk", choices=["model", "random"], default="model")
    parser.add_argument("--max-tokens", type=int, default=1024)
    parser.add_argument("--length", type=int, default=400, help="tokens of a random walk")
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--out", type=Path, default=Path(".bench/grammar.jsonl"))
    args = parser.parse_args()
    if not ROOT.is_dir():
        sys.exit(f"no JSONSchemaBench sample at {ROOT}")
    rows = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("spawn")
    worker = None
    with args.out.open("w") as out:
        for case in (c for c in shared_cases(ROOT, None, args.per_split) if servable(c)):
            if worker is None:  # one worker for every schema, replaced only after a hang
                tasks, results = context.Queue(), context.Queue()
                worker = context.Process(target=_worker, args=(tasks, results), daemon=True)
                worker.start()
            tasks.put((case.document, args.walk, args.max_tokens, args.length))
            try:
                found = results.get(timeout=args.timeout)
            except queue.Empty:
                worker.kill()
                worker.join()
                worker = None
                found = {"hang": f"over {args.timeout:g} s"}
            row = {"schema": f"{case.split}/{case.name}", **found}
            rows.append(row)
            out.write(json.dumps(row) + "\n")
            print(json.dumps(row), file=sys.stderr)
    if worker is not None:
        worker.kill()
    done = [r for r in rows if "skipped" not in r and "hang" not in r]
    hung = [r["schema"] for r in rows if "hang" in r]
    if not done:
        sys.exit("no schema measured")

    def quantile(key: str, q: float) -> float:
        values = sorted(float(r[key]) for r in done)  # type: ignore[arg-type]
        return values[min(len(values) - 1, int(q * len(values)))]

    print(f"{len(done)} schemas measured, {len(hung)} hung (over {args.timeout:g} s): {', '.join(hung) or '-'}, "
          f"{len(rows) - len(done) - len(hung)} skipped")
    print("| measure | p50 | p95 | max |\n|---|---|---|---|")
    for key in ("grammar_chars", "rules", "parse_ms", "apply_ms_mean", "apply_ms_max", "apply_s_total"):
        print(f"| {key} | {quantile(key, 0.5):.3g} | {quantile(key, 0.95):.3g} | {quantile(key, 1.0):.3g} |")
    for row in sorted(done, key=lambda r: -float(r["apply_s_total"]))[:5]:  # type: ignore[arg-type]
        print(f"slowest: {row['schema']}: {row['tokens']} tokens, {row['apply_s_total']:.2f} s in the sampler "
              f"({row['apply_ms_mean']:.1f} ms/token, worst {row['apply_ms_max']:.1f} ms)")


if __name__ == "__main__":
    main()
