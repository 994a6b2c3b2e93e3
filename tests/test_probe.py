"""`formatlock probe`: rates, failure kinds and verdicts; fake decoding for the logic, the real model once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from formatlock import generation
from formatlock.cli import cli
from formatlock.cli.probe_cmd import _show_comparison
from formatlock.compile.constraints import schema_instruction
from formatlock.enforce import enforce
from formatlock.errors import Attempt, EnforcementError, Issue
from formatlock.finetune import probe as probe_module
from formatlock.finetune.inputs import Input
from formatlock.finetune.probe import FINE_TUNE, RELIABLE, failure_kind, probe
from formatlock.runtime.decoding import Decoded
from formatlock.schema.loading import load_schema

from conftest import TinyAdapter

PERSON = {"title": "Person", "type": "object", "additionalProperties": False, "required": ["name"],
          "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}}
REPLIES = [  # (prompt-only text, cut off by the budget?) and the failure kind each should count as
    ('```json\n{"name": "Ada"}\n```', False, None),
    ('Sure! Here it is: {"name": "Bo", "age": 3} Hope that helps.', False, None),
    ('{"name": "Cy"}', False, None),
    ('{"age": 4}', False, "missing field"),
    ('{"name": 5}', False, "wrong type"),
    ('{"name": "Di", "age": -1}', False, "constraint"),
    ('{"name": "Ed", "age": 1', True, "truncated"),
    ("I cannot help with that.", False, "unparsable"),
]


pytestmark = pytest.mark.usefixtures("home")  # a fresh FORMATLOCK_HOME per test (conftest)


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """Prompt-only replies from REPLIES in turn; the third constrained sample is refused."""
    calls: dict[str, list] = {"free": [], "constrained": []}

    def generate_text(prompt: str, **kwargs: object) -> Decoded:
        text, truncated, _ = REPLIES[len(calls["free"]) % len(REPLIES)]
        calls["free"].append((prompt, kwargs))
        return Decoded(text, tokens=10, model_steps=10, truncated=truncated)

    def run(constraint: object, prompt: str, **kwargs: object) -> list:
        calls["constrained"].append((prompt, kwargs))
        if len(calls["constrained"]) == 3:
            raise EnforcementError("no valid output", [Attempt("{", [Issue("", "maxTokens", "cut off")], True)])
        return []

    monkeypatch.setattr(probe_module, "generate_text", generate_text)  # the names as the probe calls them
    monkeypatch.setattr(probe_module, "run", run)
    return calls


@pytest.mark.parametrize("keywords, kind", [
    (["json"], "unparsable"), (["maxTokens"], "truncated"), (["minimum", "required"], "missing field"),
    (["enum", "type"], "wrong type"), (["pattern"], "constraint"), (["unsupported"], "unsupported schema"),
])
def test_failure_kind_from_keywords(keywords: list[str], kind: str) -> None:
    assert failure_kind([Issue("/a", k, "m") for k in keywords]) == kind


@pytest.mark.slow
def test_probe_counts_rates_kinds_and_refusals(fake_model: dict[str, list]) -> None:
    inputs = [Input(f"person {i}", {"id": i}) for i in range(4)]
    report = probe(load_schema(PERSON), inputs, n=2, threshold=0.3, temperature=0.7, seed=10, max_tokens=64)
    data = report.as_dict()
    assert data["n_inputs"] == 4 and data["prompt_only_samples"] == data["constrained_samples"] == 8
    assert data["prompt_only_valid_rate"] == 3 / 8 and data["constrained_valid_rate"] == 7 / 8
    expected = [kind for _, _, kind in REPLIES if kind]
    assert sorted(data["failure_kinds"]) == sorted(expected) and sum(data["failure_kinds"].values()) == 5
    assert data["constrained_failure_kinds"] == {"truncated": 1}
    # where each failure was: the keyword and its pointer, once per failed sample; none for unparsable/truncated
    assert data["failure_keywords"] == {"/ required": 1, "/name type": 1, "/age minimum": 1}
    assert data["verdict"] == RELIABLE and report.verdict == RELIABLE  # 0.375 >= 0.3
    assert data["inputs"][1] == {"input": "person 1", "prompt_only_valid": 1, "constrained_valid": 1, "meta": {"id": 1}}
    seeds = [kwargs["seed"] for _, kwargs in fake_model["free"]]
    assert seeds == list(range(10, 18)) and [k["seed"] for _, k in fake_model["constrained"]] == seeds
    assert all(k["instruction"] == schema_instruction(PERSON) and k["max_tokens"] == 64 for _, k in fake_model["free"])
    json.dumps(data)


@pytest.mark.slow
def test_an_unsupported_schema_fails_every_constrained_sample_without_crashing(fake_model: dict[str, list]) -> None:
    report = probe(load_schema({"type": "integer", "minimum": 5, "maximum": 1}), [Input("x")], n=2)
    assert report.constrained.rate == 0 and dict(report.constrained.kinds) == {"unsupported schema": 2}
    assert report.verdict == FINE_TUNE and not fake_model["constrained"]


@pytest.mark.slow
def test_cli_json_text_and_exit_codes(tmp_path: Path, fake_model: dict[str, list]) -> None:
    schema = tmp_path / "person.json"
    schema.write_text(json.dumps(PERSON))
    inputs = tmp_path / "in.txt"
    inputs.write_text("one\ntwo\nthree\nfour\n")
    args = ["probe", "--schema", str(schema), "--inputs", str(inputs), "-n", "2"]
    result = CliRunner().invoke(cli, [*args, "--output", "json"])
    assert result.exit_code == 1, result.stderr  # 3/8 < 0.95
    data = json.loads(result.stdout)
    assert {"schema", "n_inputs", "prompt_only_valid_rate", "constrained_valid_rate", "failure_kinds",
            "verdict"} <= set(data) and data["verdict"] == FINE_TUNE and data["schema"] == "person"
    result = CliRunner().invoke(cli, [*args, "--threshold", "0.3"])
    assert result.exit_code == 0, result.stderr
    assert "prompt-only valid: 38% of 8" in result.stdout and "verdict: prompting-reliable" in result.stdout
    assert "failing keywords: " in result.stdout and "/age minimum 1" in result.stdout


def wrapped_calls(schema: dict, replies: list[str]) -> None:
    """Log one wrapped call per reply (retries off), as @enforce.output records them."""
    outputs = iter(replies)

    @enforce.output(schema, retries=0)
    def ask(prompt: str) -> str:
        return next(outputs)

    for i in range(len(replies)):
        try:
            ask(f"prompt {i}")
        except EnforcementError:
            pass


def test_from_log_judges_first_attempts_of_wrapped_calls(tmp_path: Path) -> None:
    wrapped_calls(PERSON, ['{"name": "a"}', '```json\n{"name": "b"}\n```', '{"age": 1}', "nope"])
    wrapped_calls({**PERSON, "title": "Other"}, ["nope"])  # another schema: not counted
    schema = tmp_path / "person.json"
    schema.write_text(json.dumps(PERSON))
    result = CliRunner().invoke(cli, ["probe", "--schema", str(schema), "--from-log", "--output", "json"])
    assert result.exit_code == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["n_inputs"] == 4 and data["prompt_only_valid_rate"] == 0.5 and data["constrained_valid_rate"] is None
    assert data["failure_kinds"] == {"missing field": 1, "unparsable": 1}
    result = CliRunner().invoke(cli, ["probe", "--schema", str(schema), "--from-log", "--threshold", "0.5"])
    assert result.exit_code == 0 and "constrained valid: n/a" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--schema", "support_ticket"], "exactly one of --inputs FILE or --from-log"),
    (["--schema", "support_ticket", "--inputs", "in.txt", "--from-log"], "exactly one"),
    (["--schema", "support_ticket", "--inputs", "missing.jsonl"], "inputs file not found"),
    (["--schema", "support_ticket", "--from-log"], "no wrapped calls for schema support_ticket"),
])
def test_usage_errors_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["probe", *args])
    assert result.exit_code == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_probe_on_the_embedded_model(tmp_path: Path) -> None:
    """Two inputs, one sample each: the constrained side is always valid, the counts add up."""
    schema = tmp_path / "flag.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"urgent": {"type": "boolean"}},
                                  "required": ["urgent"], "additionalProperties": False}))
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"input": "Is a server outage urgent?", "id": 1}\n{"input": "Is a typo urgent?"}\n')
    result = CliRunner().invoke(cli, ["probe", "--schema", str(schema), "--inputs", str(inputs),
                                      "--output", "json", "--max-tokens", "32"])
    assert result.exit_code in (0, 1), result.stderr
    data = json.loads(result.stdout)
    assert data["n_inputs"] == 2 and data["constrained_valid_rate"] == 1.0
    invalid = round((1 - data["prompt_only_valid_rate"]) * 2)
    assert sum(data["failure_kinds"].values()) == invalid and data["inputs"][0]["meta"] == {"id": 1}
    assert data["verdict"] == (RELIABLE if result.exit_code == 0 else FINE_TUNE)


@pytest.mark.parametrize("text, settled", [
    ("Sure! Let me think about it", False),  # no value yet: it may still come
    ('Sure! {"name": "Ada"', False),  # still open
    ('{"name": "Ada", "age": tr', False),  # a literal being written
    ('{"name": "Ada", "age": 1e-', False),  # a number being written
    ('{"name": "A\\u00', False),  # an escape being written
    ('Here: {"name": "Ada"}', True),  # complete: what follows cannot change the first value
    ('```json\n[1, 2]', True),
    ('{"name": "Ada",, "age": 3} and then a lot more prose', True),  # broken well before the end
])
def test_reply_settled(text: str, settled: bool) -> None:
    from formatlock.schema.parsing import extract_json, reply_settled

    assert reply_settled(text) is settled
    judged = extract_json(text)
    if settled and judged != text.strip():  # complete: sampling on adds text after it, the judged part stays
        assert extract_json(text + " More words.") == judged


@pytest.mark.slow
def test_prompt_only_sampling_stops_once_the_reply_is_settled() -> None:
    from formatlock.schema.parsing import reply_settled

    prompt = "Reply with a JSON object with a key name."
    seen: list[str] = []

    def settled(text: str) -> bool:
        return reply_settled(text) or len(text) >= 12

    def watched(text: str) -> bool:
        seen.append(text)
        return settled(text)

    decoded = generation.generate_text(prompt, max_tokens=200, stop=watched)
    assert not decoded.truncated and decoded.tokens == len(seen) < 200
    assert decoded.text == seen[-1] and settled(decoded.text)
    assert not any(settled(text) for text in seen[:-1])  # it stopped at the first settled text


@pytest.mark.slow
def test_compare_probes_base_and_adapter_on_the_same_inputs(tmp_path: Path, tiny_adapter: TinyAdapter,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    adapter = tiny_adapter.out / "adapter.gguf"
    inputs = tmp_path / "held_out.txt"
    inputs.write_text("The app crashes when I upload a photo\nI was charged twice this month\n")
    args = ["probe", "--schema", "support_ticket", "--inputs", str(inputs), "--max-tokens", "48", "--quiet"]
    result = CliRunner().invoke(cli, [*args, "--compare", str(adapter), "--output", "json"])
    assert result.exit_code in (0, 1), result.stderr
    data = json.loads(result.stdout)
    base, tuned = data["base"], data["adapter"]
    assert base["model"] == "smollm2" and tuned["model"] == "smollm2+adapter.gguf"
    assert [i["input"] for i in base["inputs"]] == [i["input"] for i in tuned["inputs"]]  # the same held-out inputs
    assert base["constrained_valid_rate"] == tuned["constrained_valid_rate"] == 1.0
    assert data["prompt_only_gain"] == pytest.approx(tuned["prompt_only_valid_rate"] - base["prompt_only_valid_rate"])
    assert result.exit_code == (0 if tuned["verdict"] == RELIABLE else 1)
    _show_comparison(base, tuned, "text")
    table = capsys.readouterr().out
    assert "with adapter" in table and "prompt-only valid" in table
    assert any(line.startswith("verdict") and base["verdict"] in line and tuned["verdict"] in line for line in table.splitlines())


@pytest.mark.parametrize("extra, message", [
    (["--lora", "x.gguf"], "without --lora or --from-log"),
    (["--from-log"], "exactly one"),
])
def test_compare_refuses_conflicting_options(tmp_path: Path, extra: list[str], message: str) -> None:
    adapter = tmp_path / "a.gguf"
    adapter.write_bytes(b"GGUF")
    inputs = tmp_path / "in.txt"
    inputs.write_text("x\n")
    result = CliRunner().invoke(cli, ["probe", "--schema", "support_ticket", "--inputs", str(inputs),
                                      "--compare", str(adapter), *extra])
    assert result.exit_code == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
