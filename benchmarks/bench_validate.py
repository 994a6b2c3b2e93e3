"""Documents per second: `formatlock validate`'s path vs the plain `jsonschema` API on the same 100k-line JSONL.

    .venv/bin/python benchmarks/bench_validate.py [--lines 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from formatlock.documents import iter_documents
from formatlock.schemas import load_schema
from formatlock.validation import Validator


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    schema = load_schema("invoice")
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "docs.jsonl"
        with path.open("w") as out:
            for i in range(args.lines):
                doc = {"invoice_number": f"INV-{1000 + i}", "issue_date": "2024-05-01", "currency": "EUR",
                       "customer": {"name": "ACME", "email": "billing@acme.example"},
                       "items": [{"description": "work", "quantity": rng.randint(1, 120), "unit_price": 10.5}],
                       "total": 10.5}
                out.write(json.dumps(doc) + "\n")
        import jsonschema

        def ours() -> int:
            validator = Validator(schema)
            return sum(bool(d.error or validator.errors(d.value)) for d in iter_documents([str(path)]))

        def theirs() -> int:
            plain = jsonschema.Draft202012Validator(schema.document, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
            with path.open() as handle:
                return sum(not plain.is_valid(json.loads(line)) for line in handle)

        timings: dict[str, list[float]] = {"ours": [], "theirs": []}
        for _ in range(args.repeat):  # interleaved, best of each: a slow moment hits both paths alike
            for name, run in (("ours", ours), ("theirs", theirs)):
                started = time.perf_counter()
                found = run()
                timings[name].append(time.perf_counter() - started)
                if name == "ours":
                    invalid = found
                else:
                    invalid_plain = found
        ours_s, theirs_s = min(timings["ours"]), min(timings["theirs"])
    assert invalid == invalid_plain, (invalid, invalid_plain)
    print("| path | documents/s | invalid found |\n|---|---|---|")
    print(f"| formatlock validate path | {args.lines / ours_s:,.0f} | {invalid} |")
    print(f"| jsonschema is_valid loop | {args.lines / theirs_s:,.0f} | {invalid_plain} |")
    print(f"ratio formatlock/jsonschema: {theirs_s / ours_s:.2f}x (best of {args.repeat}, interleaved)")


if __name__ == "__main__":
    main()
