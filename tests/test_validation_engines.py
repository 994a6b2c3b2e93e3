"""The verdict engine (jsonschema-rs) against the message engine (python-jsonschema).

jsonschema-rs decides validity; python-jsonschema words the errors of documents that fail. These
tests show the two agree on every document of the official suite and of the labelled
JSONSchemaBench instances, and pin down what happens where they cannot agree.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from formatlock.errors import SchemaError
from formatlock.schema.formats import stricter
from formatlock.schema.loading import load_schema, validator_class
from formatlock.schema.references import local_registry
from formatlock.schema.validation import Validator, _issue, _limited

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SUITE = SHARED / "json-schema-test-suite"
BENCH = SHARED / "jsonschemabench"
DRAFTS = {"draft2020-12": "https://json-schema.org/draft/2020-12/schema", "draft7": "http://json-schema.org/draft-07/schema#"}


def _reference(schema: Any) -> Any:
    """python-jsonschema alone, with the same format checks: what decided before jsonschema-rs."""
    cls = validator_class(schema.document)
    return cls(schema.document, registry=local_registry(schema.document), format_checker=stricter(cls.FORMAT_CHECKER))


def _suite_cases() -> Iterator[tuple[str, Any, list[Any]]]:
    for draft, uri in DRAFTS.items():
        for path in sorted((SUITE / draft).rglob("*.json")):
            if "optional" in path.parts and path.parent.name != "format":
                continue
            for i, group in enumerate(json.loads(path.read_text())):
                schema = group["schema"]
                if "localhost:1234" in json.dumps(schema):
                    continue
                if isinstance(schema, dict) and "$schema" not in schema:
                    schema = {"$schema": uri, **schema}
                elif isinstance(schema, bool):
                    schema = {"$schema": uri, "allOf": [schema]}
                yield f"{draft}/{path.relative_to(SUITE / draft)}#{i}", schema, [t["data"] for t in group["tests"]]


def _bench_cases() -> Iterator[tuple[str, Any, list[Any]]]:
    manifest = {row["id"]: row for row in map(json.loads, (BENCH / "manifest.jsonl").read_text().splitlines())}
    documents: dict[str, list[Any]] = defaultdict(list)
    for row in map(json.loads, (BENCH / "instances.jsonl").read_text().splitlines()):
        documents[row["id"]].append(row["data"])
    for name, data in sorted(documents.items()):
        yield f"jsonschemabench/{name}", json.loads((BENCH / manifest[name]["path"]).read_text()), data


def _verdicts(reference: Any, data: list[Any]) -> list[bool] | None:
    """python-jsonschema's verdicts, or None where it cannot read a pattern (ECMA-262 syntax such as \\p{L})."""
    try:
        return [reference.is_valid(value) for value in data]
    except re.error:
        return None


@pytest.mark.parametrize("source", ["suite", "jsonschemabench"])
def test_engines_agree_on_every_shared_document(source: str) -> None:
    folder = SUITE if source == "suite" else BENCH
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    disagreements, fallbacks, documents = [], [], 0
    for name, document, data in (_suite_cases() if source == "suite" else _bench_cases()):
        try:
            schema = load_schema(document)
        except SchemaError:
            continue  # refused before validation: no verdict to compare
        validator, reference = Validator(schema), _reference(schema)
        if validator.engine != "jsonschema-rs":
            fallbacks.append(name)
        expected = _verdicts(reference, data)
        if expected is None:
            continue  # an ECMA-262 pattern python-jsonschema cannot read: no reference verdict
        for i, value in enumerate(data):
            documents += 1
            if validator.is_valid(value) != expected[i]:
                disagreements.append(f"{name} test {i}")
    assert documents > 1000
    assert disagreements == []
    assert fallbacks == []


@pytest.mark.parametrize("source", ["suite", "jsonschemabench"])
def test_located_messages_equal_python_jsonschemas_own(source: str) -> None:
    """Errors worded only where jsonschema-rs found them are the issues python-jsonschema's whole
    walk gives: same pointers, keywords, messages and order, on every failing shared document."""
    folder = SUITE if source == "suite" else BENCH
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    differences, located, failing = [], 0, 0
    for name, document, data in (_suite_cases() if source == "suite" else _bench_cases()):
        try:
            schema = load_schema(document)
        except SchemaError:
            continue
        validator, reference = Validator(schema), _reference(schema)
        expected = _verdicts(reference, data)
        if expected is None:
            continue
        for i, value in enumerate(data):
            if not expected[i] and not validator.is_valid(value):
                failing += 1
                fast = validator._located(value, None)
                located += fast is not None
                if fast is not None and fast != _limited(reference.iter_errors(value), _issue, None):
                    differences.append(f"{name} test {i}")
    assert differences == []
    assert located > failing // 2, f"only {located} of {failing} failing documents were worded where found"


def test_python_only_pattern_syntax_falls_back_to_python_jsonschema() -> None:
    validator = Validator(load_schema({"type": "string", "pattern": "^(?P<x>a)(?P=x)$"}))
    assert validator.engine == "jsonschema"
    assert validator.is_valid("aa") and not validator.is_valid("ab")
    assert [i.keyword for i in validator.errors("ab")] == ["pattern"]


def test_draft3_is_decided_by_python_jsonschema() -> None:
    validator = Validator(load_schema({"$schema": "http://json-schema.org/draft-03/schema#", "type": "integer"}))
    assert validator.engine == "jsonschema"
    assert not validator.is_valid("x")


def test_a_disagreement_reports_the_deciding_engines_words() -> None:
    # ECMA-262 `$` does not match before a trailing newline; Python's re.search does. jsonschema-rs
    # decides (invalid), and since python-jsonschema finds nothing wrong, its own message is shown.
    validator = Validator(load_schema({"type": "string", "pattern": "^a$"}))
    assert validator.engine == "jsonschema-rs"
    assert not validator.is_valid("a\n")
    issues = validator.errors("a\n")
    assert [i.keyword for i in issues] == ["pattern"]
    assert "does not match" in issues[0].message


def test_formats_keep_the_stricter_python_checks() -> None:
    validator = Validator(load_schema({"type": "string", "format": "email"}))
    assert validator.engine == "jsonschema-rs"
    assert validator.is_valid("a@example.com")
    assert not validator.is_valid("a@@b")  # jsonschema's default checker accepts any '@'
    annotation = Validator(load_schema({"type": "string", "format": "no-such-format"}))
    assert annotation.is_valid("anything")
    off = Validator(load_schema({"type": "string", "format": "email"}), formats=False)
    assert off.is_valid("a@@b")


def test_numbers_beyond_64_bits_are_judged_exactly() -> None:
    validator = Validator(load_schema({"type": "integer", "maximum": 10**30}))
    assert validator.is_valid(10**30)
    assert not validator.is_valid(10**30 + 1)
    assert validator.errors(10**30 + 1)[0].keyword == "maximum"
