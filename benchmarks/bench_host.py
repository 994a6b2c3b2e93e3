"""llama.cpp on this host: threads and extra CPU buffer types, on a quiet and on a busy machine.

For each model, machine state (quiet, or one other process busy on one core), extra buffer types
(on/off) and thread count (1..cores, and formatlock's ``auto``), one child process loads the model
and measures prompt prefill and decoding in tokens/s. Configurations are interleaved over rounds
(best round reported), and a crash of a child (AMX tiles in a sandbox) is reported as such. Then
``formatlock generate`` end to end, quiet and busy, at the old default (threads = cores), at one
thread and at ``auto``. Run it on an otherwise idle machine: the busy state is made here.

    python benchmarks/bench_host.py                 # both models, 2 rounds (about 6 minutes on 2 cores)
    python benchmarks/bench_host.py --models smollm2 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

PROMPT = "Write a JSON invoice for ACME GmbH: 3 hours of consulting at 120 EUR per hour, due in 30 days. " * 3
DECODE_TOKENS = 48
HOG = "while True: pass"


def measure(model: str, extra: bool, threads: str) -> dict[str, float]:
    """In this (child) process: load ``model`` and time a prefill and ``DECODE_TOKENS`` decode steps."""
    import llama_cpp

    from formatlock.runtime import extra_buffers
    from formatlock.runtime.models import resolve
    from formatlock.runtime.threads import Governor

    path = resolve(model)[1]
    governor = Governor()
    count = governor.settle(0.5) if threads == "auto" else int(threads)
    with extra_buffers.applied(extra):
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=1024, n_threads=count, n_threads_batch=count, verbose=False)
    tokens = llm.tokenize(PROMPT.encode())
    best_prefill = best_decode = 0.0
    for _ in range(2):
        llm.reset()
        started = time.perf_counter()
        llm.eval(tokens)
        prefilled = time.perf_counter()
        for _ in range(DECODE_TOKENS):
            llm.eval([int(llm.scores[llm.n_tokens - 1].argmax())])
        done = time.perf_counter()
        best_prefill = max(best_prefill, len(tokens) / (prefilled - started))
        best_decode = max(best_decode, DECODE_TOKENS / (done - prefilled))
    return {"threads": count, "prefill": best_prefill, "decode": best_decode}


@contextmanager
def machine(state: str) -> Iterator[None]:
    """Quiet, or one other process keeping one core busy."""
    hog = subprocess.Popen([sys.executable, "-c", HOG]) if state == "busy" else None
    time.sleep(0.5 if hog else 0)
    try:
        yield
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()


def child(model: str, extra: bool, threads: str) -> dict[str, float] | str:
    done = subprocess.run([sys.executable, __file__, "--one", model, "on" if extra else "off", threads],
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode < 0:
        return f"crashed ({-done.returncode})"
    if done.returncode:
        return f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def end_to_end(state: str, threads: str) -> float:
    env = {**os.environ, "FORMATLOCK_THREADS": threads}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "formatlock", "generate", "--schema", "support_ticket", "-n", "4", "--seed", "1",
                    "My printer catches fire whenever I print invoices."], env=env, capture_output=True, check=True,
                   timeout=900)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["smollm2", "gemma3-270m"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--one", nargs=3, metavar=("MODEL", "EXTRA", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], args.one[1] == "on", args.one[2])))
        return
    from formatlock.runtime.threads import read_sample
    from formatlock.settings import cores

    counts = [str(n) for n in range(1, cores() + 1)] + ["auto"]
    best: dict[tuple[str, str, bool, str], dict[str, float] | str] = {}
    for _ in range(args.rounds):
        for state in ("quiet", "busy"):
            with machine(state):
                for model in args.models:
                    for extra in (True, False):
                        for threads in counts:
                            key = (model, state, extra, threads)
                            got, old = child(model, extra, threads), best.get(key)
                            if old is None or (isinstance(got, dict) and (isinstance(old, str) or got["decode"] > old["decode"])):
                                best[key] = got
    print(f"cores {cores()}, /proc/stat {'yes' if read_sample() else 'no'}; prefill / decode tokens/s, best of {args.rounds}")
    print(f"{'model':<12} {'machine':<6} {'extra':<5} {'threads':<8} {'prefill':>8} {'decode':>8}")
    for (model, state, extra, threads), got in best.items():
        shown = f"{'auto=' + str(got['threads']) if threads == 'auto' else threads}" if isinstance(got, dict) else threads
        numbers = f"{got['prefill']:>8.0f} {got['decode']:>8.1f}" if isinstance(got, dict) else got
        print(f"{model:<12} {state:<6} {'on' if extra else 'off':<5} {shown:<8} {numbers}")
    print("\nformatlock generate --schema support_ticket -n 4 (seconds, whole command)")
    for state in ("quiet", "busy"):
        with machine(state):
            row = {threads: end_to_end(state, threads) for threads in (str(cores()), "1", "auto")}
        print(f"{state:<6} " + "  ".join(f"threads={t}: {s:.1f}" for t, s in row.items()))


if __name__ == "__main__":
    main()
