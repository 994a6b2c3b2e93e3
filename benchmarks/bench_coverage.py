"""Coverage benchmark on ../shared/jsonschemabench: formatlock vs plain Outlines vs llama.cpp grammars.

    .venv/bin/python benchmarks/bench_coverage.py --per-split 5 --out .bench/coverage.jsonl

Prints a markdown table per (split, engine) and writes every row as JSONL. One output per schema,
greedy, embedded model; each engine runs in its own memory-limited worker. Through a server:

    formatlock serve --port 8080 --n_ctx 4096 &
    .venv/bin/python benchmarks/bench_coverage.py --engines server --model 'http://127.0.0.1:8080/v1#smollm2'

"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from formatlock.benchmark.coverage import OUTCOMES, judge, servable, shared_cases, summarise
from formatlock.benchmark.isolation import Isolated
from formatlock.benchmark.paths import ENGINES, SERVER_ENGINES

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "jsonschemabench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="formatlock,outlines,llama-grammar")
    parser.add_argument("--splits", help="comma-separated split names (default: all)")
    parser.add_argument("--per-split", type=int, help="first N schemas of each split (default: all)")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--compile-timeout", type=float, default=60)
    parser.add_argument("--run-timeout", type=float, default=180)
    parser.add_argument("--memory-mb", type=int, default=8192)
    parser.add_argument("--out", type=Path, default=Path(".bench/coverage.jsonl"))
    args = parser.parse_args()
    if not ROOT.is_dir():
        sys.exit(f"no JSONSchemaBench sample at {ROOT}")
    engines = [Isolated(e, args.model, args.memory_mb) for e in args.engines.split(",") if e in (*ENGINES, *SERVER_ENGINES)]
    cases = [c for c in shared_cases(ROOT, args.splits.split(",") if args.splits else None, args.per_split)
             if servable(c)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    gone = None
    with args.out.open("w") as out:
        for i, case in enumerate(cases, 1):
            for engine in engines:
                row = judge(case, engine, args.compile_timeout, args.run_timeout)
                rows.append(row)
                out.write(json.dumps(row) + "\n")
                out.flush()
                print(f"[{i}/{len(cases)}] {case.split}/{case.name} {engine.engine}: {row['outcome']}", file=sys.stderr)
                if engine.engine in SERVER_ENGINES and "connection failed" in str(row.get("error")):
                    gone = f"the server stopped answering at {case.split}/{case.name}: {row['error']}"
            if gone:  # one line, not a crash row for every schema left
                print(f"stopping after {i} of {len(cases)} schemas: {gone}", file=sys.stderr)
                break
    for engine in engines:
        engine.stop()
    print("| split | engine | n | " + " | ".join(OUTCOMES) + " | compile p50 s | compile p95 s | peak RSS MB |")
    print("|---" * (6 + len(OUTCOMES)) + "|")
    for e in summarise(rows):
        shares = " | ".join(f"{e[o]:.0%}" for o in OUTCOMES)
        p50 = "-" if e["compile_p50_s"] is None else f"{e['compile_p50_s']:.3f}"
        p95 = "-" if e["compile_p95_s"] is None else f"{e['compile_p95_s']:.3f}"
        print(f"| {e['split']} | {e['engine']} | {e['n']} | {shares} | {p50} | {p95} | {e['peak_rss_mb']:.0f} |")
    if gone:
        sys.exit(1)


if __name__ == "__main__":
    main()
