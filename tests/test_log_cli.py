"""`formatlock log`: per-schema counts and the prompt-only valid rate, as text and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from formatlock.cli import cli
from formatlock.enforce import enforce
from formatlock.errors import EnforcementError
from formatlock.schema.loading import bundled_dir, load_schema

COLOUR = {"title": "Colour", "type": "object", "properties": {"name": {"enum": ["red", "blue"]}}, "required": ["name"]}
CONTACT_REPLY = '{"name": "Ada Lovelace", "email": "ada@example.com"}'


pytestmark = pytest.mark.usefixtures("home")  # a fresh FORMATLOCK_HOME per test (conftest)


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["log", *args])
    return result.exit_code, result.stdout, result.stderr


def wrapped(schema: object, *replies: str, retries: int = 1):  # noqa: ANN201 - a decorated function
    outputs = iter(replies)

    @enforce.output(schema, retries=retries)
    def ask(prompt: str) -> str:
        return next(outputs)

    return ask


@pytest.fixture
def logged() -> None:
    """Colour: 3 calls (valid at once, valid on retry, never valid). contact: 1 call, valid at once."""
    ask = wrapped(COLOUR, '{"name": "red"}', "no", '{"name": "blue"}', "no", "no")
    ask("a")
    ask("b")
    with pytest.raises(EnforcementError):
        ask("c")
    wrapped("contact", CONTACT_REPLY)("sig")


def test_empty_log() -> None:
    code, out, _ = run_cli()
    assert code == 0 and out.startswith("no calls logged (database: ")
    code, out, _ = run_cli("--output", "json")
    assert code == 0 and json.loads(out)["schemas"] == []


def test_text_table(logged: None) -> None:
    code, out, err = run_cli()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("database: ") and lines[0].endswith("calls.sqlite3")
    assert lines[1].split()[:3] == ["SCHEMA", "ID", "CALLS"]
    colour = next(line for line in lines if line.startswith("Colour"))
    assert colour.split() == ["Colour", load_schema(COLOUR).id, "3", "2", "5", "2", "1/3", "(33%)", "-"]
    contact = next(line for line in lines if line.startswith("Contact"))
    assert contact.split()[2:] == ["1", "1", "1", "1", "1/1", "(100%)", "-"]  # wrapped calls: formatlock decoded none


def test_json_output(logged: None) -> None:
    code, out, err = run_cli("--output", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["database"].endswith("calls.sqlite3")
    colour = next(s for s in report["schemas"] if s["title"] == "Colour")
    assert colour == {
        "schema_id": load_schema(COLOUR).id, "name": "Colour", "title": "Colour", "calls": 3, "valid_calls": 2,
        "attempts": 5, "valid_attempts": 2, "wrap_first_attempts": 3, "wrap_first_valid": 1,
        "prompt_only_valid_rate": pytest.approx(1 / 3), "enforced": [],
    }


@pytest.mark.parametrize("ref", ["contact", str(bundled_dir() / "contact.json"), "Contact", "ID"])
def test_schema_filter(logged: None, ref: str) -> None:
    ref = load_schema("contact").id if ref == "ID" else ref
    code, out, err = run_cli("--schema", ref, "--output", "json")
    assert code == 0, err
    assert [s["title"] for s in json.loads(out)["schemas"]] == ["Contact"]


def test_schema_filter_for_a_schema_never_logged(logged: None) -> None:
    code, out, _ = run_cli("--schema", "invoice")
    assert code == 0 and out.startswith("no calls logged for schema 'invoice'")


def test_unknown_schema_is_a_usage_error(logged: None) -> None:
    code, _, err = run_cli("--schema", "no-such-schema")
    assert code == 2
    assert err.startswith("formatlock: error: schema 'no-such-schema' is not in the call log")


def test_prompt_only_rate_is_a_dash_without_wrapped_calls(home: Path) -> None:
    from formatlock.calllog import CallLog, LoggedAttempt

    schema = load_schema(COLOUR)
    CallLog().add(schema, [LoggedAttempt(call_id="c", attempt=1, mode="prompt", schema_id=schema.id, function="f",
                                         prompt="p", output='{"name":"red"}', valid=True, document={"name": "red"},
                                         model="smollm2")])
    code, out, _ = run_cli()
    assert code == 0 and out.splitlines()[2].split()[-1] == "-"


@pytest.mark.slow
def test_each_call_records_where_its_constraint_was_enforced_and_what_rested_on_the_check() -> None:
    tags = {"title": "Tags", "type": "object", "required": ["tags"], "additionalProperties": False,
            "properties": {"tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "uniqueItems": True,
                                    "maxItems": 3}}}

    @enforce(schema=tags, retries=5)
    def label(text: str) -> str:
        return f"Tag this: {text}"

    label("apples and bananas")
    code, out, err = run_cli()
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("Tags"))
    assert row.split()[-2] == "mask"  # the local mask, once per attempt
    assert "Tags (mask): checked after decoding only: uniqueItems at /properties/tags" in out.splitlines()
    code, out, err = run_cli("--output", "json")
    [entry] = json.loads(out)["schemas"][0]["enforced"]
    assert entry["by"] == "mask" and entry["checked"] == [{"pointer": "/properties/tags", "keyword": "uniqueItems"}]
    assert entry["attempts"] >= 1
