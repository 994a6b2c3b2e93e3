"""Decode speed with the prompt already in the KV cache: formatlock vs plain llama.cpp sampling.

    .venv/bin/python benchmarks/bench_decode.py [--schema product_review --schema invoice ...]

`formatlock bench` compares paths in separate worker processes. This checks its decoding figure in
one process: each schema is run once to compile and cache the prompt, then timed over N outputs
on the same prompt; the baseline is llama-cpp-python's own sampler on the same prompt and model,
in the same run.
"""

from __future__ import annotations

import argparse
import time

from formatlock.generation import generate_results
from formatlock.runtime.models import load_model

PROMPT = "Write a long, detailed review of a kitchen blender you bought last month."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schema", action="append", help="bundled name or path (repeatable)")
    parser.add_argument("-n", type=int, default=3)
    parser.add_argument("--baseline-tokens", type=int, default=200)
    args = parser.parse_args()
    for schema in args.schema or ["product_review", "invoice", "calendar_event"]:
        generate_results(schema, PROMPT, n=1, seed=0, temperature=0.7)  # compile, and cache the prompt
        results = generate_results(schema, PROMPT, n=args.n, seed=1, temperature=0.7)
        seconds = sum(r.seconds for r in results)
        tokens = sum(r.tokens for r in results)
        steps = sum(r.model_steps for r in results)
        print(f"{schema}: formatlock {tokens / seconds:.1f} tokens/s ({tokens} tokens, {steps} model steps)")
    llm = load_model(None).llm
    llm.reset()
    llm.eval(llm.tokenize(PROMPT.encode()))
    started = time.perf_counter()
    for _ in range(args.baseline_tokens):
        llm.eval([llm.sample(temp=0.7)])
    print(f"unconstrained llama.cpp: {args.baseline_tokens / (time.perf_counter() - started):.1f} tokens/s")


if __name__ == "__main__":
    main()
