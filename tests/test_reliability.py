"""What a new user hit (issue 17): each case fails without its fix.

Bad input of any shape gives a one-line error and a documented exit code, never a traceback;
cut-off JSONL is blamed on its own line; Ctrl-C keeps finished work; defaults do not mislead.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formatlock.cli import cli
from formatlock.enforce import enforce
from formatlock.errors import FormatlockError, SchemaError
from formatlock.finetune.datasets import Example, split
from formatlock.schema.loading import load_schema
from formatlock.schema.validation import Validator

pytestmark = pytest.mark.usefixtures("home")  # conftest's fresh FORMATLOCK_HOME for every test


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


def schema_file(tmp_path: Path, document: Any, name: str = "schema.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


# -- 2. a cut-off JSONL line is reported at its own line ------------------------------------------

def test_a_cut_off_jsonl_line_is_blamed_on_its_own_line(tmp_path: Path) -> None:
    data = tmp_path / "out.jsonl"
    data.write_text('{"a": 1}\n{"a": \n{"a": 3}\n')
    schema = schema_file(tmp_path, {"type": "object"})
    code, out, _ = invoke("validate", "--schema", schema, str(data))
    assert code == 1
    assert out.splitlines()[0].startswith(f"{data}:2: /: not valid JSON")
    assert "cut off" in out.splitlines()[0]
    code, out, _ = invoke("validate", "--schema", schema, "--output", "json", str(data))
    assert [json.loads(line)["line"] for line in out.splitlines()] == [1, 2, 3]


# -- 3. user mistakes are one line and exit 2, never a traceback ----------------------------------

@pytest.mark.parametrize("document, message", [
    ({"$schema": 5}, "$schema must be a URI string"),
    (nested(400), "nests too deeply"),
    ({"$ref": "#/$defs/missing"}, "points to nothing"),
    ({"$ref": "#nowhere"}, "names no anchor"),
    ({"$dynamicRef": "https://example.com/meta#meta"}, "remote $dynamicRef"),
    ({"$ref": "./other.json"}, "names another file"),
    ({"$ref": "https://example.com/remote.json"}, "remote $ref"),
])
@pytest.mark.parametrize("command", ["validate", "check-schema", "generate"])
def test_bad_schemas_give_one_line_and_exit_2(tmp_path: Path, document: Any, message: str, command: str) -> None:
    schema = schema_file(tmp_path, document)
    args = {"validate": ["validate", "--schema", schema], "check-schema": ["check-schema", schema],
            "generate": ["generate", "--schema", schema, "a prompt"]}[command]
    code, _, err = invoke(*args, stdin="{}\n")
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_dangling_ref_in_enforce_output_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="points to nothing"):
        @enforce.output({"$ref": "#/$defs/missing"})
        def ask(prompt: str) -> str:
            return "{}"

        ask("x")


@pytest.mark.slow
def test_a_corrupt_call_log_is_one_line_for_log_and_export(home: Path, tmp_path: Path) -> None:
    home.mkdir(parents=True)
    (home / "calls.sqlite3").write_bytes(b"this is not a database" * 100)
    for args in (["log"], ["export", "--schema", "support_ticket", "--from-log", "--out", str(tmp_path / "ds")]):
        code, _, err = invoke(*args)
        assert code == 2, err
        assert "cannot read the call log" in err and len(err.strip().splitlines()) == 1


SCHEMA_KEYWORDS = ["type", "properties", "items", "prefixItems", "$ref", "$defs", "$schema", "$id", "enum", "const",
                   "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "pattern", "format", "minLength",
                   "maxLength", "minimum", "maximum", "required", "additionalProperties", "$dynamicRef",
                   "$anchor", "multipleOf", "uniqueItems", "dependentRequired", "contains", "maxItems"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=6)
    | st.sampled_from(["#", "#/$defs/a", "string", "object", "^a+$", "(", "http://x.org/s", "email", "date"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(SCHEMA_KEYWORDS) | st.text(max_size=3),
                                                               inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=int(os.environ.get("FORMATLOCK_HYPOTHESIS_EXAMPLES", 150)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(document=json_values, instance=json_values)
def test_malformed_schemas_and_documents_raise_only_formatlock_errors(document: Any, instance: Any) -> None:
    try:
        schema = load_schema(document)
        Validator(schema).errors(instance)
    except FormatlockError:
        pass


@settings(max_examples=int(os.environ.get("FORMATLOCK_HYPOTHESIS_EXAMPLES", 60)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(document=json_values)
def test_check_schema_on_anything_exits_with_a_code_not_a_traceback(tmp_path: Path, document: Any) -> None:
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(document))
    result = CliRunner().invoke(cli, ["check-schema", str(path)])
    assert result.exit_code in (0, 1, 2), repr(result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


# -- 4. Ctrl-C keeps finished work and says so with exit 130 --------------------------------------

@pytest.mark.slow
def test_ctrl_c_keeps_the_outputs_already_made_and_exits_130() -> None:
    command = [sys.executable, "-m", "formatlock.cli", "generate", "--schema", "product_review", "-n", "8",
               "--seed", "3", "The kettle boils fast but the lid broke after a week"]
    # A shell starts background jobs with SIGINT ignored, and Python keeps it ignored: restore what a
    # terminal gives, so the test means the same however the suite was started.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    first = process.stdout.readline()  # printed as soon as it is done, not after all 8
    process.send_signal(signal.SIGINT)
    rest, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    produced = [first, *rest.splitlines()]
    validator = Validator(load_schema("product_review"))
    assert len(produced) < 8 and all(validator.is_valid(json.loads(line)) for line in produced)


@pytest.mark.slow
def test_progress_is_a_line_per_step_on_stderr_off_a_terminal(tmp_path: Path) -> None:
    inputs = tmp_path / "in.txt"
    inputs.write_text("My invoice is wrong\nThe app crashes\n")
    code, _, err = invoke("probe", "--schema", "support_ticket", "--inputs", str(inputs), "-n", "1",
                          "--max-tokens", "24", "--output", "json")
    assert code in (0, 1), err
    assert [line for line in err.splitlines() if line.startswith("probing:")] == ["probing: 1/2", "probing: 2/2"]


# -- 5. defaults that misled -----------------------------------------------------------------------

def test_an_empty_input_warns_and_can_be_made_to_fail(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    schema = schema_file(tmp_path, {"type": "object"})
    code, _, err = invoke("validate", "--schema", schema, str(empty))
    assert code == 0 and "no documents" in err
    code, _, err = invoke("validate", "--schema", schema, "--require-documents", str(empty))
    assert code == 1 and "no documents" in err


def test_long_values_are_cut_in_error_messages(tmp_path: Path) -> None:
    schema = schema_file(tmp_path, {"type": "integer"})
    code, out, _ = invoke("validate", "--schema", schema, "--output", "json", stdin=json.dumps("x" * 1_000_000) + "\n")
    message = json.loads(out)["errors"][0]["message"]
    assert code == 1 and len(message) < 600 and "characters cut" in message and "is not of type" in message


def test_check_schema_lists_unknown_keywords_with_a_suggestion(tmp_path: Path) -> None:
    schema = schema_file(tmp_path, {"type": "object", "properties": {"name": {"type": "string", "maxLenght": 5},
                                                                     "maxLenght": {"type": "integer"}},
                                    "requried": ["name"], "x-vendor": True})
    code, out, _ = invoke("check-schema", schema, "--output", "json")
    assert code == 0
    assert json.loads(out)["unknown_keywords"] == [
        {"pointer": "", "keyword": "requried", "did_you_mean": "required"},
        {"pointer": "/properties/name", "keyword": "maxLenght", "did_you_mean": "maxLength"},
    ]  # a property *named* maxLenght and an x- extension are not flagged


def test_a_small_export_still_gets_a_validation_example() -> None:
    examples = [Example(f"prompt {i}", "{}") for i in range(5)]
    train, val = split(examples, seed=0, fraction=0.1)
    assert len(val) >= 1 and len(train) + len(val) == 5
    assert split(examples, seed=0, fraction=0.1) == (train, val)  # still deterministic
    assert split(examples, seed=0, fraction=0.0)[1] == []  # 0 still means none


def test_a_finished_dataset_is_never_overwritten_or_resumed_silently(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    inputs = tmp_path / "in.txt"
    inputs.write_text("I was charged twice\n")
    for extra, message in (([], "--force"), (["--resume"], "nothing to resume")):
        code, _, err = invoke("export", "--schema", "support_ticket", "--inputs", str(inputs), "--out", str(out), *extra)
        assert code == 2 and message in err
    assert (out / "manifest.json").read_text() == "{}"
