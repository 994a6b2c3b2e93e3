"""Does fine-tuning on an export make prompt-only output valid? Before/after on held-out inputs.

    .venv/bin/pip install -e ".[train]"
    .venv/bin/python benchmarks/bench_finetune.py --schema support_ticket [--train 300] [--held-out 50] [--epochs 2]
        [--headroom 0.8] [--relabel N] [--strict] [--temperature 0.7]

Writes its inputs (generated here from templates, seeded: none of them is in the repository's
examples), exports ``--train`` of them with the local model as the teacher and the probe's own
system prompt (the schema instruction, so that training sees the prompt used in production),
trains a LoRA with ``formatlock finetune``, then probes the ``--held-out`` inputs, which the
export never saw, on the base model and on base+adapter. Prints one markdown table; every
intermediate file stays in ``--work`` (default ``.bench/finetune/<schema>``).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SUPPORT = {
    "templates": [
        "I was charged {n} times for order {order}. Please refund the extra payment.",
        "The {app} app crashes every time I {action}.",
        "Could you add {feature}? It would help me a lot.",
        "I can't log in to my account since {when}; the password reset email never arrives.",
        "My invoice for {month} shows the wrong VAT rate.",
        "Please close my account and delete my data, I am moving to another provider.",
        "The {app} app is very slow when I {action}, it takes minutes.",
        "How do I change the email address on my account? I tried since {when}.",
        "Your website shows a blank page when I {action}.",
        "I love the product, but {feature} would make it perfect.",
        "Order {order} arrived damaged, the box was crushed.",
        "I was billed after cancelling my subscription in {month}.",
    ],
    "slots": {
        "n": ["two", "three", "2", "3"], "order": [str(i) for i in range(1000, 9999, 37)],
        "app": ["iOS", "Android", "desktop", "web", "tablet"],
        "action": ["upload a photo", "open settings", "export a report", "share a file", "search for a contact",
                   "pay with a card", "switch to dark mode", "sync my calendar"],
        "feature": ["a dark mode", "two-factor login", "CSV export", "offline mode", "a family plan", "keyboard shortcuts",
                    "bulk delete"],
        "when": ["yesterday", "last week", "Monday", "this morning", "the last update"],
        "month": ["January", "February", "March", "April", "May", "June", "July", "August"],
    },
}
INVOICE = {
    "templates": [
        "Invoice {client} for {hours} hours of {work} at {rate} {currency} per hour.",
        "Bill {client} {amount} {currency} for {work}, due in {days} days.",
        "Create an invoice to {client}: {qty} x {item} at {price} {currency} each.",
        "Please invoice {client} for {work} ({hours} h, {rate} {currency}/h) and {qty} {item}s at {price} {currency}.",
    ],
    "slots": {
        "client": ["ACME GmbH", "Globex Ltd", "Initech", "Umbrella SA", "Hooli Inc", "Stark Industries", "Wayne Corp",
                   "Tyrell BV", "Cyberdyne AB", "Soylent Oy"],
        "hours": [str(h) for h in range(1, 40)], "rate": ["80", "95", "120", "150", "200"],
        "work": ["consulting", "web design", "code review", "translation", "data cleanup", "training"],
        "currency": ["EUR", "USD", "GBP", "CHF"], "amount": ["250", "1200", "980.50", "4300"],
        "days": ["14", "30", "60"], "qty": [str(q) for q in range(1, 12)],
        "item": ["licence", "laptop stand", "monitor", "support hour", "cable"], "price": ["9.99", "45", "120", "310"],
    },
}
SOURCES = {"support_ticket": SUPPORT, "invoice": INVOICE}


def make_inputs(schema: str, count: int, seed: int) -> list[str]:
    """``count`` distinct inputs from the schema's templates."""
    source, rng, seen = SOURCES[schema], random.Random(seed), set()
    while len(seen) < count:
        template = rng.choice(source["templates"])
        text = template.format(**{k: rng.choice(v) for k, v in source["slots"].items()})
        seen.add(text)
    return sorted(sorted(seen), key=lambda _: rng.random())  # sorted first: a set's order varies by process


def run(*args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).with_name("formatlock")), *args], capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"formatlock {args[0]} failed: {done.stderr.strip()[-800:]}")
    return time.perf_counter() - started, done.stdout


def probe(schema: str, inputs: Path, model: str, max_tokens: int, temperature: float) -> dict:
    elapsed, out = run("probe", "--schema", schema, "--inputs", str(inputs), "--model", model, "-n", "1",
                       "--temperature", str(temperature), "--max-tokens", str(max_tokens), "--output", "json", "-q")
    return {**json.loads(out), "seconds": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schema", choices=sorted(SOURCES), default="support_ticket")
    parser.add_argument("--train", type=int, default=300)
    parser.add_argument("--held-out", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.7, help="probe sampling temperature (0: greedy)")
    parser.add_argument("--headroom", type=float, default=0.8, help="export --headroom (1: labels up to the limits)")
    parser.add_argument("--strict", action="store_true", help="export --strict: drop the examples the gates flag")
    parser.add_argument("--relabel", type=int, default=0, help="export --relabel: sample flagged targets again")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from formatlock.runtime.prompting import schema_instruction
    from formatlock.schema.loading import load_schema

    work = args.work or ROOT / ".bench" / "finetune" / args.schema
    work.mkdir(parents=True, exist_ok=True)
    texts = make_inputs(args.schema, args.train + args.held_out, seed=0)
    train_in, held_in = work / "train_inputs.txt", work / "held_out.txt"
    train_in.write_text("\n".join(texts[: args.train]) + "\n")
    held_in.write_text("\n".join(texts[args.train:]) + "\n")
    instruction = schema_instruction(load_schema(args.schema).document)
    export_s, _ = run("export", "--schema", args.schema, "--inputs", str(train_in), "--out", str(work / "data"),
                      "--system", instruction, "--val-fraction", "0.05", "--headroom", str(args.headroom),
                      "--force", "-q", "--relabel", str(args.relabel), *(["--strict"] if args.strict else []))
    train_s, _ = run("finetune", "--data", str(work / "data"), "--out", str(work / "adapter"),
                     "--epochs", str(args.epochs), "-q")
    adapter = work / "adapter" / "adapter.gguf"
    record = json.loads((work / "adapter" / "finetune.json").read_text())
    before = probe(args.schema, held_in, "smollm2", args.max_tokens, args.temperature)
    after = probe(args.schema, held_in, f"smollm2+{adapter}", args.max_tokens, args.temperature)
    for name, report in (("probe_base.json", before), ("probe_lora.json", after)):
        (work / name).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"| {args.schema} | base | base + LoRA |\n|---|---|---|")
    for key, label in (("prompt_only_valid_rate", "prompt-only valid (held out)"),
                       ("constrained_valid_rate", "constrained valid (held out)")):
        print(f"| {label} | {before[key]:.0%} of {before['n_inputs']} | {after[key]:.0%} of {after['n_inputs']} |")
    print(f"| prompt-only failures | {before['failure_kinds']} | {after['failure_kinds']} |")
    print(f"| failing keywords | {before['failure_keywords']} | {after['failure_keywords']} |")
    print(f"| probe wall time s | {before['seconds']:.0f} | {after['seconds']:.0f} |")
    counts = json.loads((work / "data" / "manifest.json").read_text())["counts"]
    print(f"\nexport {export_s:.0f} s ({record['examples']['train']} train, {record['examples']['val']} val, "
          f"{counts['relabelled']} relabelled); "
          f"finetune {train_s:.0f} s ({record['wall_time_s']} s inside, {args.epochs} epoch(s)); "
          f"adapter {adapter.stat().st_size / 2**20:.1f} MiB; losses {record['history']}")


if __name__ == "__main__":
    main()
