"""`formatlock validate` against check-jsonschema: cold start and documents/s, whole processes, one run.

    .venv/bin/pip install -e ".[bench]"          # check-jsonschema
    .venv/bin/python benchmarks/bench_validate.py [--rounds 7] [--files 1000] [--lines 20000] [--repeat 3]

Every figure comes from one run with the tools interleaved (a slow moment of the machine hits each
alike). Cold start: median of ``--rounds`` whole-process runs on one tiny document. Throughput: one
process over 1,000 small ``.json`` files, and over one large JSONL file; check-jsonschema cannot read
JSONL, so it gets the same documents as one file each. The verdict on every document must match
(``--output json`` on both sides), or the benchmark fails.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def documents(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Invoices, about one in six invalid (a quantity over the schema's maximum)."""
    rng = random.Random(seed)
    return [{"invoice_number": f"INV-{1000 + i}", "issue_date": "2024-05-01", "currency": "EUR",
             "customer": {"name": "ACME", "email": "billing@acme.example"},
             "items": [{"description": "work", "quantity": rng.randint(1, 120), "unit_price": 10.5}],
             "total": 10.5} for i in range(count)]


def timed(command: list[str], cwd: Path | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed, done.stdout


def ours_invalid(stdout: str) -> set[str]:
    rows = [json.loads(line) for line in stdout.splitlines()]
    return {f"{r['file']}:{r['line']}" for r in rows if not r["valid"]}


def theirs_invalid(stdout: str) -> set[str]:
    report = json.loads(stdout)
    return {f"{e['filename']}:1" for e in report["errors"]} | {f"{e['filename']}:1" for e in report["parse_errors"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="cold-start runs per command")
    parser.add_argument("--files", type=int, default=1000, help="small files for the many-files run")
    parser.add_argument("--lines", type=int, default=20_000, help="lines of the large JSONL file")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs per tool (best is kept)")
    parser.add_argument("--check-jsonschema", dest="checker", metavar="PATH",
                        help="the check-jsonschema to time, e.g. from its own venv  [default: this venv's, else PATH's]")
    args = parser.parse_args()
    formatlock = [str(Path(sys.executable).with_name("formatlock"))]
    checker = args.checker or shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) \
        or shutil.which("check-jsonschema")
    if checker is None:
        raise SystemExit('check-jsonschema is not installed: pip install -e ".[bench]"')
    schema = str(ROOT / "schemas" / "invoice.json")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tiny = folder / "tiny.json"
        tiny.write_text(json.dumps(documents(1)[0]))
        starts = {
            "formatlock validate (1 document)": [*formatlock, "validate", "--schema", schema, str(tiny)],
            "check-jsonschema (1 document)": [checker, "--schemafile", schema, str(tiny)],
            "formatlock --help": [*formatlock, "--help"],
            "formatlock validate --help": [*formatlock, "validate", "--help"],
        }
        cold: dict[str, list[float]] = {name: [] for name in starts}
        for _ in range(args.rounds):
            for name, command in starts.items():
                cold[name].append(timed(command)[0])
        print("| cold start (whole process) | median s | min s |\n|---|---|---|")
        for name, times in cold.items():
            print(f"| {name} | {statistics.median(times):.3f} | {min(times):.3f} |")
        wins = sum(a < b for a, b in zip(cold["formatlock validate (1 document)"], cold["check-jsonschema (1 document)"], strict=False))
        print(f"formatlock validate started faster than check-jsonschema in {wins} of {args.rounds} rounds\n")

        small = folder / "small"
        small.mkdir()
        for i, doc in enumerate(documents(args.files, seed=1)):
            (small / f"{i:05d}.json").write_text(json.dumps(doc))
        big = folder / "big.jsonl"
        lines = documents(args.lines, seed=2)
        big.write_text("".join(json.dumps(doc) + "\n" for doc in lines))
        split = folder / "s"  # short names: check-jsonschema takes them all as arguments
        split.mkdir()
        for i, doc in enumerate(lines, 1):
            (split / f"{i}.json").write_text(json.dumps(doc))
        # Relative names, run from the folder: 100,000 absolute paths would pass the kernel's argument limit.
        small_files = sorted(str(p.relative_to(folder)) for p in small.iterdir())
        split_files = sorted((str(p.relative_to(folder)) for p in split.iterdir()), key=lambda name: int(Path(name).stem))
        runs = {
            ("many files", "formatlock"): ([*formatlock, "validate", "--schema", schema, "--output", "json", *small_files], args.files),
            ("many files", "check-jsonschema"): ([checker, "-o", "json", "--schemafile", schema, *small_files], args.files),
            ("large JSONL", "formatlock"): ([*formatlock, "validate", "--schema", schema, "--output", "json", str(big)], args.lines),
            ("large JSONL", "check-jsonschema"): ([checker, "-o", "json", "--schemafile", schema, *split_files], args.lines),
        }
        best: dict[tuple[str, str], float] = {}
        verdicts: dict[tuple[str, str], set[str]] = {}
        for _ in range(args.repeat):
            for key, (command, _count) in runs.items():
                elapsed, stdout = timed(command, cwd=folder)
                best[key] = min(best.get(key, elapsed), elapsed)
                verdicts[key] = ours_invalid(stdout) if key[1] == "formatlock" else theirs_invalid(stdout)
    # Same documents, same verdicts: the large JSONL's line N is check-jsonschema's file N.
    assert {Path(v).name for v in verdicts[("many files", "formatlock")]} == \
        {Path(v).name for v in verdicts[("many files", "check-jsonschema")]}, "verdicts differ on the small files"
    jsonl_lines = {int(v.rsplit(":", 1)[1]) for v in verdicts[("large JSONL", "formatlock")]}
    split_lines = {int(Path(v.rsplit(":", 1)[0]).stem) for v in verdicts[("large JSONL", "check-jsonschema")]}
    assert jsonl_lines == split_lines, "verdicts differ on the large file"
    print("| documents | formatlock docs/s | check-jsonschema docs/s | ratio | invalid (both) |\n|---|---|---|---|---|")
    for case, count in (("many files", args.files), ("large JSONL", args.lines)):
        ours, theirs = count / best[(case, "formatlock")], count / best[(case, "check-jsonschema")]
        print(f"| {case} ({count:,}) | {ours:,.0f} | {theirs:,.0f} | **{ours / theirs:.1f}x** | "
              f"{len(verdicts[(case, 'formatlock')]):,} |")
    print(f"(best of {args.repeat} interleaved whole-process runs each)")


if __name__ == "__main__":
    main()
