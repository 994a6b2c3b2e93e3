"""The guarantee over a server: valid, a typed error, or (never) invalid, per dialect.

    .venv/bin/pip install -e ".[test]"      # llama-cpp-python[server]
    .venv/bin/python benchmarks/bench_server.py [--url http://127.0.0.1:8080/v1#smollm2] [--prompts 4]

Without ``--url`` it starts ``formatlock serve`` (llama-cpp-python's server) on the embedded model on a free loopback
port and stops it at the end. For each bundled schema and each of ``auto`` (the server-side
constraint of the dialect the server honours: ``gbnf`` on llama.cpp servers), ``json_object`` (the
server's own JSON Schema converter), ``none`` (prompt-only) and ``local`` (the same model in this
process, for the seconds-per-valid ratio), it asks the same prompts
through ``formatlock.generate_results`` (3 retries with the errors fed back). Each outcome is then
checked again here with the validator: ``valid``, ``typed`` (EnforcementError), or ``invalid``
(a returned output that fails the check: the guarantee broken). It also reports seconds per valid
output and attempts per valid output.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.request

from formatlock.errors import EnforcementError
from formatlock.generation import generate_results
from formatlock.runtime.backends.server import Server
from formatlock.schema.loading import bundled_names, load_schema
from formatlock.schema.validation import Validator

PROMPTS = ("Write one realistic example for a small business.", "Fill this in for a customer called Dana Smith.",
           "Give a typical example from an online shop.", "Make up an example about a software team.")


def start_server() -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "formatlock", "serve", "--model", "smollm2", "--port", str(port), "--n_ctx", "2048"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):
                return process, f"{url}#smollm2"
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("formatlock serve did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server's model, http://HOST:PORT/v1#NAME (default: start one)")
    parser.add_argument("--prompts", type=int, default=4, help="prompts per schema (at most 4)")
    parser.add_argument("--paths", nargs="+", default=["auto", "json_object", "none", "local"],
                        choices=["auto", "json_object", "none", "local"], help="what to measure (default: all)")
    args = parser.parse_args()
    process, ref = (None, args.url) if args.url else start_server()
    url, _, name = ref.partition("#")
    try:
        totals = {}
        for dialect in args.paths:
            server = None if dialect == "local" else Server(url, name or None, dialect=dialect)
            if server is not None:
                server.open()
            path = "local" if server is None else server.dialect
            counts = {"valid": 0, "typed": 0, "invalid": 0, "seconds": 0.0, "attempts": 0}
            for schema_name in bundled_names():
                validator = Validator(load_schema(schema_name))
                row = {"valid": 0, "typed": 0, "invalid": 0}
                for prompt in PROMPTS[: args.prompts]:
                    started = time.perf_counter()
                    try:
                        [result] = generate_results(schema_name, prompt, model=server)
                    except EnforcementError as exc:
                        row["typed"] += 1
                        counts["attempts"] += len(exc.attempts)
                    else:
                        row["valid" if not validator.check_text(result.text)[1] else "invalid"] += 1
                        counts["attempts"] += len(result.attempts)
                    counts["seconds"] += time.perf_counter() - started
                for key in row:
                    counts[key] += row[key]
                print(json.dumps({"dialect": path, "schema": schema_name, **row}), flush=True)
            totals[path] = counts
        for dialect, c in totals.items():
            spv = f"{c['seconds'] / c['valid']:.1f}" if c["valid"] else "-"
            apv = f"{c['attempts'] / c['valid']:.1f}" if c["valid"] else "-"
            print(f"{dialect:<12} valid {c['valid']}  typed error {c['typed']}  invalid returned {c['invalid']}  "
                  f"s/valid {spv}  attempts/valid {apv}")
    finally:
        if process is not None:
            process.terminate()
            process.wait()


if __name__ == "__main__":
    main()
