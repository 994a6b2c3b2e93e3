"""Quality gates on export targets: crafted datasets, each gate firing on its own field only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from formatlock.cli import cli
from formatlock.enforce import enforce
from formatlock.finetune.quality import check
from formatlock.schema.loading import load_schema

SCHEMA = load_schema({
    "title": "Review", "type": "object",
    "properties": {
        "summary": {"type": "string", "description": "One sentence on what the customer thinks of it"},
        "notes": {"type": "string"},
        "title": {"type": "string", "maxLength": 24},
        "slug": {"type": "string", "pattern": "^[a-z-]+$"},
        "sentiment": {"enum": ["positive", "negative", "mixed"]},
        "kind": {"const": "review"},
        "score": {"type": "integer"},
        "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}},
    },
    "$defs": {"tag": {"type": "string"}},
})


def targets(count: int, **fields: object) -> list[dict]:
    """``count`` varied, healthy targets, with ``fields`` set in every one."""
    return [{"summary": f"Customer {i} liked the battery", "notes": f"note {i}", "sentiment": "positive" if i % 2 else
             "negative", "kind": "review", "score": i, "tags": [f"t{i}"], **fields} for i in range(count)]


def gates(rows: list[dict], instruction: str = "") -> set[tuple[str, str]]:
    return {(w.gate, w.field) for w in check(SCHEMA, rows, instruction).warnings}


def test_healthy_targets_raise_nothing() -> None:
    assert gates(targets(20)) == set()  # `kind` is the same everywhere, but the schema fixes it


def test_a_field_that_never_changes_is_a_collapsed_teacher() -> None:
    assert gates(targets(10, score=3)) == {("constant", "/score")}
    assert gates(targets(3, score=3)) == set()  # too few targets to judge a distribution


def test_an_enum_with_one_value_in_nearly_every_target_is_skewed() -> None:
    rows = targets(10, sentiment="mixed")
    rows[0]["sentiment"] = "positive"
    assert gates(rows) == {("enum-skew", "/sentiment")}


def test_free_text_that_copies_the_schema_or_the_instruction_is_flagged_per_example() -> None:
    rows = targets(8)
    rows[2]["summary"] = "One sentence on what the customer thinks of it."
    rows[5]["notes"] = "Notes"  # the field's own name
    rows[6]["tags"] = ["reply with only a json document"]  # through $ref, from the instruction
    rows[7]["tags"] = ["sentiment", "score"]  # other properties' names: the teacher filled in the schema's keys
    rows[1]["slug"] = "kind"  # a patterned string is not free text, but a property's name is still a copy
    rows[3]["slug"] = "battery-life"
    report = check(SCHEMA, rows, "Reply with only a JSON document that matches the Review schema.")
    assert {(w.gate, w.field, w.count) for w in report.warnings} == {
        ("copies-schema", "/summary", 1), ("copies-schema", "/notes", 1), ("copies-schema", "/tags/*", 3),
        ("copies-schema", "/slug", 1)}
    assert report.flagged == {1, 2, 5, 6, 7}


def test_empty_free_text_is_flagged() -> None:
    rows = targets(6)
    rows[1]["notes"] = "  "
    report = check(SCHEMA, rows)
    assert [(w.gate, w.field, w.count, w.of) for w in report.warnings] == [("empty", "/notes", 1, 6)]
    assert report.flagged == {1}


def test_text_cut_at_its_limit_or_in_a_loop_is_flagged() -> None:
    rows = targets(6)
    rows[0]["title"] = "The battery lasts a long"  # 24 characters: the mask ended it
    rows[1]["title"] = "The battery lasts long"
    rows[2]["notes"] = "x" * 200  # no maxLength: the decoder closes every string at 200 characters
    rows[3]["summary"] = "The box was crushed. The box was crushed. The box"
    rows[4]["notes"] = "Good value, good battery, good screen"  # words come back, no phrase does
    report = check(SCHEMA, rows)
    assert {(w.gate, w.field, w.count) for w in report.warnings} == {
        ("at-bound", "/title", 1), ("at-bound", "/notes", 1), ("repeats", "/summary", 1)}
    assert report.flagged == {0, 2, 3}
    assert any(str(w).startswith("/title: 1 of 2 targets are cut at their length limit") for w in report.warnings)


@pytest.mark.slow
def test_strict_export_drops_the_flagged_examples_and_the_manifest_says_so(tmp_path: Path, home: Path) -> None:
    rows = targets(6)
    for i in (1, 4):
        rows[i]["summary"] = "One sentence on what the customer thinks of it"
    replies = iter(json.dumps(r) for r in rows)

    @enforce.output(SCHEMA, retries=0)
    def ask(prompt: str) -> str:
        return next(replies)

    for i in range(6):
        ask(prompt=f"Review number {i}")
    schema_path = tmp_path / "review.json"
    schema_path.write_text(json.dumps(SCHEMA.document))
    for strict, kept in ((False, 6), (True, 4)):
        out = tmp_path / f"ds-{strict}"
        args = ["export", "--schema", str(schema_path), "--from-log", "--out", str(out), "--val-fraction", "0"]
        result = CliRunner().invoke(cli, args + (["--strict"] if strict else []))
        assert result.exit_code == 0, result.stderr
        assert "quality: /summary: 2 of 6 targets repeat the schema's" in result.stderr
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["counts"]["train"] == kept and manifest["counts"]["dropped_by_quality"] == 6 - kept
        assert manifest["quality"]["flagged_examples"] == 2 and manifest["quality"]["strict"] is strict
        assert manifest["quality"]["warnings"][0]["gate"] == "copies-schema"
