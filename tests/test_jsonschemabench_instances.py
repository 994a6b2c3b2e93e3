"""The labelled JSONSchemaBench instances (../shared/jsonschemabench/instances.jsonl) through the validator."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from formatlock.errors import SchemaError
from formatlock.schema.loading import load_schema
from formatlock.schema.validation import Validator

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "jsonschemabench"


def _by_schema() -> list:
    path = ROOT / "instances.jsonl"
    if not path.is_file():
        return [pytest.param(None, None, id="missing", marks=pytest.mark.skip(reason=f"{path} is absent"))]
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for line in path.read_text().splitlines():
        row = json.loads(line)
        groups[(row["split"], row["id"])].append(row)
    return [pytest.param(key, rows, id=f"{key[0]}/{key[1]}") for key, rows in sorted(groups.items())]


@pytest.mark.parametrize("key, rows", _by_schema())
def test_labels_match(key: tuple[str, str], rows: list[dict]) -> None:
    split, name = key
    try:
        schema = load_schema(ROOT / split / f"{name}.json")
    except SchemaError as error:  # a few real-world schemas are themselves invalid: refused, clearly
        assert str(error)
        pytest.skip(f"schema refused: {error}")
    validator = Validator(schema)
    wrong = [(row["valid"], row["data"]) for row in rows if validator.is_valid(row["data"]) != row["valid"]]
    assert wrong == []
