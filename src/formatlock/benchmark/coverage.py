"""Coverage on real-world schemas: does each engine compile, and is its output valid?

Every output is judged by the same validator (:mod:`formatlock.schema.validation`), whatever engine made
it. Outcomes: ``valid``, ``invalid`` (returned but schema-invalid), ``compile_error``,
``refused`` (formatlock's typed refusal), ``crash`` (hang, timeout or dead worker).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SchemaError
from ..schema.loading import load_schema
from ..schema.validation import Validator
from .isolation import Isolated

PROMPT = "Write one realistic example instance of this JSON Schema."
OUTCOMES = ("valid", "invalid", "compile_error", "refused", "crash")


@dataclass
class Case:
    split: str
    name: str
    document: Any


def shared_cases(root: Path, splits: list[str] | None = None, per_split: int | None = None) -> Iterator[Case]:
    """The JSONSchemaBench sample under ``root`` (``<split>/<id>.json``), in a stable order."""
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if splits and folder.name not in splits:
            continue
        for path in sorted(folder.glob("*.json"))[:per_split]:
            yield Case(folder.name, path.stem, json.loads(path.read_text()))


def judge(case: Case, engine: Isolated, compile_timeout: float, run_timeout: float) -> dict[str, Any]:
    """One engine on one schema: compile, generate one output, validate it."""
    row: dict[str, Any] = {"split": case.split, "schema": case.name, "engine": engine.engine}
    prepared = engine.call("prepare", compile_timeout, schema=case.document)
    row.update(compile_s=prepared.get("compile_s"), peak_rss_mb=prepared.get("peak_rss_mb"))
    if "error" in prepared:
        if prepared.get("crash") or (engine.engine == "formatlock" and not prepared.get("typed")):
            outcome = "crash"  # a hang, a dead worker, or a formatlock bug (an untyped exception)
        else:
            outcome = "refused" if engine.engine == "formatlock" else "compile_error"
        row.update(outcome=outcome, error=prepared["error"])
        return row
    out = engine.call("run", run_timeout, prompt=PROMPT, max_tokens=1024, seed=0)
    row["peak_rss_mb"] = max(row["peak_rss_mb"] or 0, out.get("peak_rss_mb") or 0)
    if "error" in out:
        typed_refusal = engine.engine == "formatlock" and out.get("typed")
        row.update(outcome="refused" if typed_refusal else "crash", error=out["error"])
        return row
    if out.get("refused"):
        row.update(outcome="refused", error=out["refused"])
        return row
    _, issues = Validator(load_schema(case.document)).check_text(out["text"])
    row.update(outcome="invalid" if issues else "valid", seconds=out["seconds"], tokens=out["tokens"],
               error=str(issues[0]) if issues else None)
    return row


def servable(case: Case) -> bool:
    """Schemas that are themselves invalid (or need the network) are left out of the measurement."""
    try:
        load_schema(case.document)
    except SchemaError:
        return False
    return True


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (split, engine) and overall: outcome shares, compile p50/p95, peak memory."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["split"], row["engine"]), []).append(row)
        groups.setdefault(("ALL", row["engine"]), []).append(row)
    table = []
    for (split, engine), members in sorted(groups.items()):
        times = sorted(r["compile_s"] for r in members if r.get("compile_s") is not None)
        entry: dict[str, Any] = {"split": split, "engine": engine, "n": len(members)}
        for outcome in OUTCOMES:
            entry[outcome] = sum(r["outcome"] == outcome for r in members) / len(members)
        entry["compile_p50_s"] = statistics.median(times) if times else None
        entry["compile_p95_s"] = times[min(len(times) - 1, int(0.95 * len(times)))] if times else None
        entry["peak_rss_mb"] = max((r.get("peak_rss_mb") or 0) for r in members)
        table.append(entry)
    return table
