"""Does fine-tuning on an export make prompt-only output valid? Before/after on held-out inputs.

    .venv/bin/pip install -e ".[train]"
    .venv/bin/python benchmarks/bench_finetune.py --schema support_ticket [--train 300] [--held-out 50] [--epochs 2]
        [--teacher smollm2|reference] [--headroom 0.8] [--relabel N] [--strict] [--temperature 0.7] [--written FILE]

Writes its inputs (generated here from templates, seeded: none of them is in the repository's
examples) and exports ``--train`` of them with the probe's own system prompt (the schema
instruction, so that training sees the prompt used in production). The teacher is the local
model under the mask (``smollm2``), or the templates' reference targets (``reference``: a stand-in
for a stronger remote model, taking that path: each is returned by an ``@enforce.output`` call,
validated and recorded in a call log of its own, and exported with ``--from-log``). It trains a
LoRA with ``formatlock finetune``, then probes the ``--held-out`` inputs, which the export never
saw, on the base model and on base+adapter. It probes ``--written`` inputs too: requests written
by hand, apart from the templates (other words, other names, other numbers), so the table also
says how far what was learnt carries beyond the templates' phrasing. Prints one markdown table;
every intermediate file stays in ``--work`` (default ``.bench/finetune/<schema>-<teacher>``).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
Label = Callable[[dict[str, str]], dict[str, Any] | None]  # template slots -> reference target


def _ticket(category: str, priority: str, summary: str, tags: list[str], human: bool) -> Label:
    """A reference triage for one support template: the slots fill ``summary`` and ``tags``."""
    def label(slots: dict[str, str]) -> dict[str, Any]:
        return {"category": category, "priority": priority, "summary": summary.format(**slots),
                "customer_email": None, "tags": [t.format(**slots).lower() for t in tags], "needs_human": human}
    return label


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _invoice(*lines: tuple[str, str | None, str]) -> Label:
    """A reference invoice for one template: each line is (description, quantity or None for 1, unit price) slots;
    the number and date are drawn from the input's text (stable), CHF has no schema value (no label)."""
    def label(slots: dict[str, str]) -> dict[str, Any] | None:
        if slots["currency"] not in ("EUR", "USD", "GBP"):
            return None
        rng = random.Random(slots["_text"])
        items = [{"description": slots[d], "quantity": int(slots[q]) if q else 1,
                  "unit_price": _number(slots[p])} for d, q, p in lines]
        return {"invoice_number": f"INV-{rng.randint(1000, 999999)}",
                "issue_date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "customer": {"name": slots["client"]}, "currency": slots["currency"], "items": items,
                "total": _number(f"{sum(i['quantity'] * i['unit_price'] for i in items):.2f}")}
    return label


SUPPORT = {
    "templates": [
        ("I was charged {n} times for order {order}. Please refund the extra payment.",
         _ticket("billing", "high", "Charged {n} times for order {order}, wants a refund", ["refund", "double-charge"],
                 True)),
        ("The {app} app crashes every time I {action}.",
         _ticket("bug", "high", "{app} app crashes when they {action}", ["crash", "{app}"], False)),
        ("Could you add {feature}? It would help me a lot.",
         _ticket("feature_request", "low", "Asks for {feature}", ["feature-request"], False)),
        ("I can't log in to my account since {when}; the password reset email never arrives.",
         _ticket("account", "high", "Cannot log in since {when}, no reset email", ["login", "password-reset"], True)),
        ("My invoice for {month} shows the wrong VAT rate.",
         _ticket("billing", "medium", "Wrong VAT rate on the {month} invoice", ["invoice", "vat"], False)),
        ("Please close my account and delete my data, I am moving to another provider.",
         _ticket("account", "medium", "Close the account and delete its data", ["account-closure", "data-deletion"],
                 True)),
        ("The {app} app is very slow when I {action}, it takes minutes.",
         _ticket("bug", "medium", "{app} app is slow when they {action}", ["performance", "{app}"], False)),
        ("How do I change the email address on my account? I tried since {when}.",
         _ticket("account", "low", "How to change the account email address", ["email-change"], False)),
        ("Your website shows a blank page when I {action}.",
         _ticket("bug", "high", "Blank page on the website when they {action}", ["website", "blank-page"], False)),
        ("I love the product, but {feature} would make it perfect.",
         _ticket("feature_request", "low", "Would like {feature}", ["feature-request"], False)),
        ("Order {order} arrived damaged, the box was crushed.",
         _ticket("other", "high", "Order {order} arrived damaged", ["shipping", "damaged"], True)),
        ("I was billed after cancelling my subscription in {month}.",
         _ticket("billing", "high", "Billed after cancelling in {month}", ["refund", "subscription"], True)),
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
        ("Invoice {client} for {hours} hours of {work} at {rate} {currency} per hour.",
         _invoice(("work", "hours", "rate"))),
        ("Bill {client} {amount} {currency} for {work}, due in {days} days.", _invoice(("work", None, "amount"))),
        ("Create an invoice to {client}: {qty} x {item} at {price} {currency} each.",
         _invoice(("item", "qty", "price"))),
        ("Please invoice {client} for {work} ({hours} h, {rate} {currency}/h) and {qty} {item}s at {price} {currency}.",
         _invoice(("work", "hours", "rate"), ("item", "qty", "price"))),
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
WRITTEN = {"support_ticket": ROOT / "finetune_data" / "support_ticket.inputs.jsonl",  # written apart from the templates
           "invoice": ROOT / "benchmarks" / "inputs" / "invoice.jsonl"}


def make_inputs(schema: str, count: int, seed: int) -> dict[str, dict[str, Any] | None]:
    """``count`` distinct inputs from the schema's templates, each with its reference target (None where the
    schema cannot say it, e.g. a CHF invoice)."""
    source, rng, seen = SOURCES[schema], random.Random(seed), {}
    while len(seen) < count:
        template, label = rng.choice(source["templates"])
        slots = {k: rng.choice(v) for k, v in source["slots"].items()}
        text = template.format(**slots)
        seen.setdefault(text, label({**slots, "_text": text}))
    order = sorted(sorted(seen), key=lambda _: rng.random())  # sorted first: a set's order varies by process
    return {text: seen[text] for text in order}


def reference_log(schema: str, labels: dict[str, dict[str, Any]], home: Path) -> None:
    """Record ``labels`` as valid wrapped calls in a fresh call log under ``home``: the path a stronger
    remote model's replies take into ``export --from-log`` (``@enforce.output`` validates each one)."""
    import os

    from formatlock import enforce

    (home / "calls.sqlite3").unlink(missing_ok=True)
    os.environ["FORMATLOCK_HOME"] = str(home)

    @enforce.output(schema, retries=0)
    def teacher(prompt: str) -> str:
        return json.dumps(labels[prompt])

    for prompt in labels:
        teacher(prompt)


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
    parser.add_argument("--teacher", choices=("smollm2", "reference"), default="smollm2",
                        help="who labels the training inputs: the local model under the mask, or the templates' "
                             "reference targets, recorded as valid wrapped calls and exported --from-log (a "
                             "stand-in for a stronger remote model)")
    parser.add_argument("--written", type=Path, help="inputs written apart from the templates, probed too "
                        "(default: the schema's file in finetune_data/ or benchmarks/inputs/)")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from formatlock.compile.constraints import schema_instruction
    from formatlock.schema.loading import load_schema

    work = args.work or ROOT / ".bench" / "finetune" / f"{args.schema}-{args.teacher}"
    work.mkdir(parents=True, exist_ok=True)
    texts = make_inputs(args.schema, args.train + args.held_out, seed=0)
    held = list(texts)[args.train:]
    train = list(texts)[: args.train]
    if args.teacher == "reference":  # the inputs the schema can say (no CHF invoice), topped up to --train
        labels = {t: texts[t] for t in train if texts[t] is not None}
        more = make_inputs(args.schema, 4 * args.train + args.held_out, seed=1)
        for text in (t for t, label in more.items() if label is not None and t not in held):
            if len(labels) >= args.train:
                break
            labels.setdefault(text, more[text])
        train = list(labels)
    train_in, held_in = work / "train_inputs.txt", work / "held_out.txt"
    train_in.write_text("\n".join(train) + "\n")
    held_in.write_text("\n".join(held) + "\n")
    instruction = schema_instruction(load_schema(args.schema).document)
    common = ("--schema", args.schema, "--out", str(work / "data"), "--system", instruction, "--val-fraction", "0.05",
              "--force", "-q", *(["--strict"] if args.strict else []))
    if args.teacher == "reference":
        reference_log(args.schema, labels, work / "home")
        export_s, _ = run("export", "--from-log", *common)
    else:
        export_s, _ = run("export", "--inputs", str(train_in), "--headroom", str(args.headroom),
                          "--relabel", str(args.relabel), *common)
    train_s, _ = run("finetune", "--data", str(work / "data"), "--out", str(work / "adapter"),
                     "--epochs", str(args.epochs), "-q")
    adapter = work / "adapter" / "adapter.gguf"
    record = json.loads((work / "adapter" / "finetune.json").read_text())
    written = args.written or WRITTEN[args.schema]
    print(f"| {args.schema} | base | base + LoRA |\n|---|---|---|")
    for kind, inputs in (("held out", held_in), ("written apart", written)):
        before = probe(args.schema, inputs, "smollm2", args.max_tokens, args.temperature)
        after = probe(args.schema, inputs, f"smollm2+{adapter}", args.max_tokens, args.temperature)
        for model, report in (("base", before), ("lora", after)):  # probe_base_held_out.json, ...
            path = work / f"probe_{model}_{kind.replace(' ', '_')}.json"
            path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        for key, label in (("prompt_only_valid_rate", "prompt-only valid"), ("constrained_valid_rate", "constrained valid")):
            print(f"| {label} ({kind}) | {before[key]:.0%} of {before['n_inputs']} | "
                  f"{after[key]:.0%} of {after['n_inputs']} |")
        print(f"| prompt-only failures ({kind}) | {before['failure_kinds']} | {after['failure_kinds']} |")
        print(f"| failing keywords ({kind}) | {before['failure_keywords']} | {after['failure_keywords']} |")
        print(f"| probe wall time s ({kind}) | {before['seconds']:.0f} | {after['seconds']:.0f} |")
    counts = json.loads((work / "data" / "manifest.json").read_text())["counts"]
    print(f"\nexport {export_s:.0f} s ({record['examples']['train']} train, {record['examples']['val']} val, "
          f"{counts['relabelled']} relabelled, teacher {args.teacher}); "
          f"finetune {train_s:.0f} s ({record['wall_time_s']} s inside, {args.epochs} epoch(s)); "
          f"adapter {adapter.stat().st_size / 2**20:.1f} MiB; losses {record['history']}")


if __name__ == "__main__":
    main()
