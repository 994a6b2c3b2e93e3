"""The server backend: a real llama-cpp-python server on the embedded model, and a stub for faults.

Every output that comes back is validated here again: the guarantee over a server is "valid or a
typed error", whatever the server does with the constraint.
"""

from __future__ import annotations

import json
import re
import threading
import time
import warnings
from pathlib import Path
from typing import Literal

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from formatlock.calllog import CallLog
from formatlock.cli import cli
from formatlock.compile import constraints
from formatlock.enforce import enforce
from formatlock.errors import EnforcementError, ModelError, ServerError, UnsupportedSchemaError, UsageError
from formatlock.finetune.inputs import Input
from formatlock.finetune.probe import probe
from formatlock.generation import generate, generate_results, generate_text
from formatlock.runtime.backends import dialects, open_backend
from formatlock.runtime.backends.server import Server, ServerWarning, parse_ref
from formatlock.schema.loading import bundled_names, load_schema
from formatlock.schema.validation import Validator

from conftest import completion, free_port

pytestmark = pytest.mark.slow  # starts a model server

FLAG = {"title": "Flag", "type": "object", "properties": {"urgent": {"type": "boolean"}}, "required": ["urgent"],
        "additionalProperties": False}
VALID_FLAG = '{"urgent": true}'
PROMPTS = {"invoice": "Invoice ACME Corp for 3 hours of consulting at 120 EUR per hour.",
           "support_ticket": "My app crashes every time I upload a photo.",
           "calendar_event": "Lunch with Sam next Friday at noon at Luigi's.",
           "contact": "Jane Roe, jane@example.com, +1 555 0100, Acme Corp.",
           "org_chart": "Ann leads engineering; Bob and Cy report to her.",
           "product_review": "Great kettle, boils fast, lid feels cheap. 4 stars."}


class Flag(BaseModel):
    urgent: bool


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def with_dialect(ref: str, dialect: str) -> str:
    url, _, model = ref.partition("#")
    return f"{url}?dialect={dialect}#{model}"


# Through a real llama-cpp-python server


def test_the_real_server_is_probed_to_the_grammar(llama_server) -> None:  # noqa: ANN001
    server = Server.from_ref(llama_server.ref)
    assert server.name == llama_server.ref
    assert server.dialect == "gbnf"  # formatlock's compiled constraint, not the server's JSON Schema converter
    assert server.constrains


@pytest.mark.parametrize("dialect", ["auto", "none"])
def test_bundled_schemas_are_valid_or_a_typed_error(llama_server, dialect: str) -> None:  # noqa: ANN001
    assert sorted(PROMPTS) == sorted(bundled_names())
    ref = with_dialect(llama_server.ref, dialect)
    valid = 0
    for name, prompt in PROMPTS.items():
        try:
            [result] = generate_results(name, prompt, model=ref, retries=1)
            if dialect == "auto" and name in ("calendar_event", "org_chart"):  # the JSON dialect lost these
                assert len(result.attempts) == 1, result.attempts
        except EnforcementError as exc:
            assert exc.attempts and all(a.errors for a in exc.attempts)  # typed, with every attempt and why
            continue
        assert Validator(load_schema(name)).check_text(result.text)[1] == []
        assert result.model == llama_server.ref
        valid += 1
    if dialect == "auto":
        assert valid == len(PROMPTS)  # the compiled grammar: every schema, formats and a root $ref included


def test_free_text_and_a_choice_through_the_server(llama_server) -> None:  # noqa: ANN001
    decoded = generate_text("Say hello.", model=llama_server.ref, max_tokens=8)
    assert decoded.text and decoded.tokens <= 8
    answers = generate(Literal["yes", "no"], "Is the sky blue? Answer yes or no.", model=llama_server.ref)
    assert answers[0] in ("yes", "no")


def test_a_pattern_that_crashed_the_servers_own_converter_is_valid_and_the_server_lives(llama_server) -> None:  # noqa: ANN001
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}-\\d{4}$"},
                                               "qty": {"type": "integer", "minimum": 1, "maximum": 99}},
              "required": ["code", "qty"]}
    [result] = generate_results(schema, "An order line.", model=llama_server.ref, retries=0)
    assert Validator(load_schema(schema)).check_text(result.text)[1] == []
    assert re.fullmatch("[A-Z]{3}-[0-9]{4}", result.value["code"]) and 1 <= result.value["qty"] <= 99
    assert generate(Literal["up", "down"], "Up or down?", model=llama_server.ref)[0] in ("up", "down")  # still serving


def test_a_reply_cut_off_at_the_budget_is_closed_the_shortest_way(llama_server) -> None:  # noqa: ANN001
    schema = {"type": "object", "properties": {"story": {"type": "string"}, "stars": {"type": "integer", "minimum": 1}},
              "required": ["story", "stars"], "additionalProperties": False}
    [result] = generate_results(schema, "Tell a long story about a dragon.", model=llama_server.ref, max_tokens=6,
                                retries=0)
    assert Validator(load_schema(schema)).check_text(result.text)[1] == []
    assert result.text.endswith('","stars":1}') and result.tokens == 6  # the model's 6 tokens, then the closing


def test_a_server_constraint_is_compiled_where_it_can_be_and_checked_only_where_not() -> None:
    compiled = constraints.for_schema(FLAG, masked=False)
    assert compiled.regex is not None and compiled.uses  # the grammar the server is sent, and the budget
    refused = {"type": "string", "minLength": 3, "maxLength": 2}  # the compiler refuses it before decoding
    with pytest.raises(UnsupportedSchemaError):
        constraints.for_schema(refused)
    checked = constraints.for_schema(refused, masked=False)  # a server is still asked, and every reply checked
    assert checked.regex is None and checked.check('"abc"')[1]


def test_probe_against_the_server_measures_prompt_only(llama_server) -> None:  # noqa: ANN001
    inputs = [Input("The server room is flooding!"), Input("Please change my newsletter settings.")]
    report = probe(load_schema(FLAG), inputs, n=1, model=llama_server.ref, max_tokens=64, concurrency=2)
    data = report.as_dict()
    assert data["model"] == llama_server.ref and data["server_constraint"] is True
    assert report.prompt_only.samples == 2 and report.constrained.samples == 2
    assert report.constrained.rate == 1.0  # a one-boolean object cannot escape json_object's grammar


def test_export_with_a_server_teacher(llama_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("FORMATLOCK_API_KEY", "sk-never-written-anywhere")
    inputs = tmp_path / "in.txt"
    inputs.write_text("The server room is flooding!\nPlease change my newsletter settings.\nInvoice is late.\n")
    schema = tmp_path / "flag.json"
    schema.write_text(json.dumps(FLAG))
    out = tmp_path / "ds"
    code, stdout, stderr = run_cli("export", "--schema", str(schema), "--inputs", str(inputs), "--out", str(out),
                                   "--teacher", llama_server.ref, "--concurrency", "2", "-q")
    assert code == 0, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["teacher"] == llama_server.ref
    assert manifest["source"] == f"constrained decoding on {llama_server.ref}"
    rows = [json.loads(line) for name in ("train.jsonl", "val.jsonl") for line in (out / name).read_text().splitlines()]
    assert len(rows) == 3
    validator = Validator(load_schema(FLAG))
    assert all(validator.check_text(row["messages"][-1]["content"])[1] == [] for row in rows)
    for path in out.rglob("*"):
        if path.is_file():
            assert "sk-never-written-anywhere" not in path.read_text()


def test_enforce_on_a_server_model_logs_each_attempt_once(llama_server, home: Path) -> None:  # noqa: ANN001
    @enforce(model=llama_server.ref)
    def triage(message: str) -> Flag:
        return f"Is this message urgent? {message}"

    result = triage("The server room is flooding!")
    assert isinstance(result, Flag)
    rows = list(CallLog().iter_attempts())
    assert len({r.call_id for r in rows}) == 1 and [r.attempt for r in rows] == list(range(1, len(rows) + 1))
    assert rows[-1].valid and rows[-1].model == llama_server.ref
    assert {r.enforced.by for r in rows if r.enforced} == {"server:gbnf"} and rows[-1].enforced.checked == ()


def test_generate_inputs_with_concurrency_4(llama_server, tmp_path: Path) -> None:  # noqa: ANN001
    generate_four_at_once(llama_server.ref, tmp_path)


def generate_four_at_once(ref: str, tmp_path: Path) -> None:
    """``generate --inputs`` with 4 requests in flight: every output valid, in input order."""
    prompts = ["Flooding in the server room", "Newsletter settings", "Printer out of paper", "Data breach!"]
    inputs = tmp_path / "in.txt"
    inputs.write_text("\n".join(prompts) + "\n")
    schema = tmp_path / "flag.json"
    schema.write_text(json.dumps(FLAG))
    code, stdout, stderr = run_cli("generate", "--schema", str(schema), "--inputs", str(inputs), "-m", ref,
                                   "--concurrency", "4")
    assert code == 0, stderr
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert [line["input"] for line in lines] == prompts  # input order, whatever finished first
    assert all(len(line["outputs"]) == 1 and isinstance(line["outputs"][0]["urgent"], bool) for line in lines)


def test_a_wrong_model_name_is_one_line(llama_server) -> None:  # noqa: ANN001
    code, stdout, stderr = run_cli("generate", "--schema", "support_ticket", "-m", f"{llama_server.url}#nosuch", "x")
    assert code == 2 and stdout == ""
    assert stderr == f"formatlock: error: {llama_server.url} has no model 'nosuch'; it serves: smollm2\n"


def test_a_wrong_port_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    code, stdout, stderr = run_cli("generate", "--schema", "support_ticket", "-m", url, "x")
    assert code == 3 and stdout == ""
    assert stderr.startswith(f"formatlock: error: {url}: cannot list models: connection failed")
    assert len(stderr.splitlines()) == 1


def test_a_server_killed_mid_request(own_llama_server) -> None:  # noqa: ANN001
    server = Server(own_llama_server.url, "smollm2", dialect="none", retries=1)
    failure: list[BaseException] = []

    def ask() -> None:
        try:
            generate_text("Write a very long story about a lighthouse.", model=server, max_tokens=1500)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failure.append(exc)

    worker = threading.Thread(target=ask)
    worker.start()
    time.sleep(1.5)
    own_llama_server.process.kill()
    worker.join(60)
    assert not worker.is_alive()
    assert len(failure) == 1 and isinstance(failure[0], ServerError), failure
    assert "connection failed" in str(failure[0]) and "\n" not in str(failure[0])


def test_a_server_too_slow_times_out(own_llama_server) -> None:  # noqa: ANN001
    server = Server(own_llama_server.url, "smollm2", dialect="none", timeout=0.5, retries=0)
    started = time.monotonic()
    with pytest.raises(ServerError, match=r"no answer within 0.5 s"):
        generate_text("Write a very long story about a lighthouse.", model=server, max_tokens=1500)
    assert time.monotonic() - started < 10


# Faults and protocol details against a stub


def test_429_is_retried_with_backoff_then_succeeds(stub_server) -> None:  # noqa: ANN001
    stub = stub_server(lambda body: (429, '{"error": {"message": "slow down"}}') if len(stub.requests) <= 2
                       else (200, completion(VALID_FLAG)))
    [result] = generate_results(FLAG, "x", model=Server(stub.url, "stub", dialect="none", retries=3))
    assert result.value == {"urgent": True}
    assert len(stub.requests) == 3


def test_429_forever_is_bounded(stub_server) -> None:  # noqa: ANN001
    stub = stub_server(lambda body: (429, '{"error": {"message": "slow down"}}'))
    with pytest.raises(ServerError, match=r"HTTP 429 after 2 retries: slow down"):
        generate_results(FLAG, "x", model=Server(stub.url, "stub", dialect="none", retries=2))
    assert len(stub.requests) == 3


@pytest.mark.parametrize("body", ["<html>oops</html>", '{"unexpected": true}'])
def test_a_body_that_is_not_a_completion(stub_server, body: str) -> None:  # noqa: ANN001
    stub = stub_server(lambda request: (200, body))
    with pytest.raises(ServerError, match="not JSON|not a chat completion") as caught:
        generate_results(FLAG, "x", model=Server(stub.url, "stub", dialect="none", retries=0))
    assert "\n" not in str(caught.value)


def test_a_truncated_reply_is_a_failed_attempt(stub_server) -> None:  # noqa: ANN001
    stub = stub_server(lambda body: (200, completion('{"urgent": tr', finish_reason="length")))
    with pytest.raises(EnforcementError) as caught:
        generate_results(FLAG, "x", model=Server(stub.url, "stub", dialect="none"), retries=1)
    assert [a.errors[0].keyword for a in caught.value.attempts] == ["maxTokens", "maxTokens"]
    assert all(a.truncated for a in caught.value.attempts)


def test_the_key_is_sent_and_never_shown(stub_server, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("FORMATLOCK_API_KEY", "sk-test-secret")
    stub = stub_server(lambda body: (401, '{"error": {"message": "bad key"}}'))
    server = Server(stub.url, "stub", dialect="none")
    with pytest.raises(ServerError, match="refused the API key") as caught:
        generate_results(FLAG, "x", model=server)
    assert stub.authorization == ["Bearer sk-test-secret"]
    assert "sk-test-secret" not in str(caught.value) + repr(server) + server.name


def test_an_openai_key_goes_to_openai_only(stub_server, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("FORMATLOCK_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")
    stub = stub_server(lambda body: (200, completion(VALID_FLAG)))
    generate_results(FLAG, "x", model=Server(stub.url, "stub", dialect="none"))
    assert stub.authorization == ["Bearer none"]


def test_a_failed_reply_goes_back_with_its_errors(stub_server) -> None:  # noqa: ANN001
    stub = stub_server(lambda body: (200, completion('{"urgent": "yes"}' if len(stub.requests) == 1 else VALID_FLAG)))
    [result] = generate_results(FLAG, "Is this urgent?", model=Server(stub.url, "stub", dialect="none"))
    assert [a.valid for a in result.attempts] == [False, True]
    first, second = stub.requests
    assert second["messages"][:-2] == first["messages"]
    assert second["messages"][-2] == {"role": "assistant", "content": '{"urgent": "yes"}'}
    assert "/urgent: 'yes' is not of type 'boolean'" in second["messages"][-1]["content"]
    assert first["seed"] != second["seed"]  # a retry is a new draw, not the server's fixed default seed


def _honouring(dialect: str):  # noqa: ANN202
    """A stub reply that obeys ``dialect`` (answers the probe exactly) and ignores every other one."""
    def reply(body: dict) -> tuple[int, str]:
        asked = {"json_schema": body.get("response_format", {}).get("type") == "json_schema",
                 "json_object": body.get("response_format", {}).get("type") == "json_object",
                 "vllm": "structured_outputs" in body, "gbnf": "grammar" in body}
        if asked.get(dialect):
            return 200, completion(json.dumps({"probe": "formatlock-probe-7q"}))
        return 200, completion("Hello there!")
    return reply


@pytest.mark.parametrize("dialect", ["gbnf", "json_schema", "json_object", "vllm"])
def test_auto_finds_the_dialect_the_server_honours(stub_server, dialect: str) -> None:  # noqa: ANN001
    stub = stub_server(_honouring(dialect))
    server = Server(stub.url, "stub")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        server.open()
    assert server.dialect == dialect


def test_a_server_that_ignores_constraints_is_not_trusted(stub_server) -> None:  # noqa: ANN001
    stub = stub_server(_honouring("nothing"))
    for dialect in ("auto", "json_schema"):
        server = Server(stub.url, "stub", dialect=dialect)
        with pytest.warns(ServerWarning, match="ignored the server-side constraint"):
            server.open()
        assert server.dialect == "none" and not server.constrains
    requests = len(stub.requests)
    with pytest.raises(EnforcementError):  # nothing is sent as a constraint any more; the reply still fails
        generate_results(FLAG, "x", model=server, retries=0)
    assert "response_format" not in stub.requests[requests]


def test_vllm_requests_carry_structured_outputs(stub_server) -> None:  # noqa: ANN001
    def reply(body: dict) -> tuple[int, str]:
        asked = body["structured_outputs"]
        if asked.get("json", {}).get("properties", {}).get("probe"):
            return 200, completion(json.dumps({"probe": "formatlock-probe-7q"}))
        return 200, completion('{"urgent":true}' if "urgent" in asked.get("regex", "") else "123")

    stub = stub_server(reply)
    server = Server(stub.url, "stub", dialect="vllm")
    [result] = generate_results(FLAG, "x", model=server)
    sent = stub.requests[-1]["structured_outputs"]["regex"]  # formatlock's compiled constraint, not the schema
    assert re.fullmatch(sent, '{"urgent":true}') and not re.fullmatch(sent, '{"urgent":1}')
    assert result.enforced is not None and result.enforced.by == "server:vllm"
    generate_results(constraints.for_regex("[0-9]{3}"), "x", model=server)
    assert stub.requests[-1]["structured_outputs"] == {"regex": "(?:[0-9]){3,3}"}
    stub_choice = stub_server(lambda body: reply(body) if "json" in body["structured_outputs"] else (200, completion("no")))
    assert generate(Literal["yes", "no"], "x", model=Server(stub_choice.url, "stub", dialect="vllm")) == ["no"]
    assert stub_choice.requests[-1]["structured_outputs"] == {"choice": ["yes", "no"]}


def test_a_grammar_the_server_refuses_is_reported_then_the_json_dialect_is_used(stub_server) -> None:  # noqa: ANN001
    def reply(body: dict) -> tuple[int, str]:  # takes the probe's grammar, not the one for FLAG
        if "probe" in json.dumps(body):
            return 200, completion(json.dumps({"probe": "formatlock-probe-7q"}))
        if "grammar" in body:
            return 400, json.dumps({"error": {"message": "Failed to parse grammar"}})
        return 200, completion(VALID_FLAG)

    stub = stub_server(reply)
    with pytest.warns(ServerWarning, match="HTTP 400: Failed to parse grammar; .* json_schema dialect"):
        [result] = generate_results(FLAG, "x", model=Server(stub.url, "stub", dialect="gbnf"), retries=0)
    assert result.value == {"urgent": True} and len(result.attempts) == 1
    assert result.enforced is not None and result.enforced.by == "server:json_schema"
    assert stub.requests[-1]["response_format"]["json_schema"]["schema"] == FLAG


def test_concurrency_sends_requests_at_once(stub_server, tmp_path: Path) -> None:  # noqa: ANN001
    barrier = threading.Barrier(4, timeout=20)

    def reply(body: dict) -> tuple[int, str]:
        try:
            barrier.wait()  # only four requests in flight together get past this
        except threading.BrokenBarrierError:
            return 400, '{"error": {"message": "requests came one by one"}}'
        return 200, completion(VALID_FLAG)

    stub = stub_server(reply)
    inputs = tmp_path / "in.txt"
    inputs.write_text("a\nb\nc\nd\n")
    schema = tmp_path / "flag.json"
    schema.write_text(json.dumps(FLAG))
    code, stdout, stderr = run_cli("generate", "--schema", str(schema), "--inputs", str(inputs),
                                   "-m", f"{stub.url}?dialect=none#stub", "--concurrency", "4")
    assert code == 0, stderr
    assert [json.loads(line)["outputs"] for line in stdout.splitlines()] == [[{"urgent": True}]] * 4


def test_a_server_failure_midway_keeps_what_export_made(stub_server, tmp_path: Path) -> None:  # noqa: ANN001
    failing = threading.Event()
    failing.set()
    stub = stub_server(lambda body: (200, completion(VALID_FLAG)) if len(stub.requests) <= 2 or not failing.is_set()
                       else (503, '{"error": {"message": "overloaded"}}'))
    inputs = tmp_path / "in.txt"
    inputs.write_text("a\nb\nc\nd\n")
    schema = tmp_path / "flag.json"
    schema.write_text(json.dumps(FLAG))
    out = tmp_path / "ds"
    args = ["export", "--schema", str(schema), "--inputs", str(inputs), "--out", str(out), "-q",
            "--teacher", f"{stub.url}?dialect=none#stub"]
    code, _, stderr = run_cli(*args)
    assert code == 3 and "HTTP 503" in stderr and "rerun with --resume" in stderr
    assert not (out / "manifest.json").exists()
    assert len((out / ".partial" / "examples.jsonl").read_text().splitlines()) == 2
    assert len(stub.requests) == 2 + 1 + 3  # two made, the third asked once and retried 3 times
    failing.clear()  # the server recovers
    stub.requests.clear()
    code, stdout, stderr = run_cli(*args, "--resume")
    assert code == 0, stderr
    assert len(stub.requests) == 2  # only the two missing targets were asked for
    assert "4 examples" in stderr or stdout.startswith(f"wrote {out}: ")


# Requests, references and reports without a server


def test_dialect_request_shapes() -> None:
    flag = constraints.for_schema(FLAG, masked=False)
    assert dialects.request("json_object", flag) == {"response_format": {"type": "json_object", "schema": FLAG}}
    assert dialects.request("json_schema", flag) == {
        "response_format": {"type": "json_schema", "json_schema": {"name": "Flag", "schema": FLAG}}}
    strict = dialects.request("openai", flag)["response_format"]
    assert strict["type"] == "json_schema" and strict["json_schema"]["strict"] is True
    exact = dialects.request("vllm", flag)["extra_body"]["structured_outputs"]["regex"]
    assert re.fullmatch(exact, '{"urgent":false}') and not re.fullmatch(exact, '{"urgent": false}')
    unbounded = dialects.request("vllm", constraints.for_schema({"type": "string"}, masked=False))
    capped = unbounded["extra_body"]["structured_outputs"]["regex"]  # vLLM has no budget guard: the cap is written in
    assert re.fullmatch(capped, '"' + "a" * 200 + '"') and not re.fullmatch(capped, '"' + "a" * 201 + '"')
    uncompiled = constraints.for_schema({"type": "string", "minLength": 3, "maxLength": 2}, masked=False)
    assert dialects.request("vllm", uncompiled) == {"extra_body": {"structured_outputs": {"json": {
        "type": "string", "minLength": 3, "maxLength": 2}}}}  # what the compiler cannot carry goes as JSON Schema
    assert dialects.request("none", flag) == {}
    assert set(dialects.request("gbnf", flag)) == {"extra_body"}
    assert dialects.request("gbnf", flag)["extra_body"]["grammar"].startswith('root ::= "{\\x22urgent\\x22:" ')
    digits = constraints.for_regex("[0-9]{3}")
    assert dialects.request("json_object", digits) == {}  # a JSON-only dialect cannot say it: retries alone
    assert dialects.request("vllm", digits) == {"extra_body": {"structured_outputs": {"regex": "(?:[0-9]){3,3}"}}}


def test_references() -> None:
    assert parse_ref("http://h:8080/v1/#m") == ("http://h:8080/v1", "m", "auto")
    assert parse_ref("https://h/v1?dialect=vllm") == ("https://h/v1", None, "vllm")
    with pytest.raises(UsageError, match="credentials"):
        parse_ref("http://user:pw@h/v1#m")
    with pytest.raises(UsageError, match="unknown server dialect 'grammar'"):
        parse_ref("http://h/v1?dialect=grammar")
    with pytest.raises(UsageError, match="only \\?dialect= is read"):
        parse_ref("http://h/v1?model=m")
    code, _, stderr = run_cli("generate", "--schema", "invoice", "-m", "http://h/v1#m", "--lora", __file__, "x")
    assert code == 2 and "--lora applies to local models" in stderr


def test_check_schema_lists_what_the_server_leaves_to_retries() -> None:
    code, stdout, _ = run_cli("check-schema", "invoice", "--server-dialect", "json_object")
    assert code == 0
    assert "server       /properties/customer/properties/email: format  (not enforced by json_object" in stdout
    assert "server       /properties/total: minimum" in stdout
    code, stdout, _ = run_cli("check-schema", "invoice", "--server-dialect", "vllm", "--output", "json")
    assert json.loads(stdout)["server_unenforced"] == []  # vLLM is sent formatlock's compiled regex
    refused = {"type": "string", "minLength": 3, "maxLength": 2}  # sent as JSON Schema: up to vLLM's backend
    assert dialects.unenforced("vllm", refused) is None
    ignored = dialects.unenforced("json_schema", {"type": "object", "properties": {
        "n": {"type": "integer", "minimum": 0}, "x": {"type": "number", "minimum": 0}}})
    assert ignored == [("/properties/x", "minimum")]  # llama.cpp bounds integers only


def test_outlines_objects(stub_server) -> None:  # noqa: ANN001
    import openai
    import outlines

    stub = stub_server(lambda body: (200, completion(VALID_FLAG)), models=("served",))
    model = outlines.from_openai(openai.OpenAI(base_url=stub.url, api_key="k"), "served")
    backend = open_backend(model)
    assert isinstance(backend, Server) and backend.url == stub.url and backend.dialect == "auto"
    with pytest.warns(ServerWarning):  # the stub honours no constraint: validation and retries alone
        assert generate(outlines.types.JsonSchema(FLAG), "x", model=model) == [{"urgent": True}]
    with pytest.raises(ModelError, match="no model 'other'"):
        generate(FLAG, "x", model=outlines.from_openai(openai.OpenAI(base_url=stub.url, api_key="k"), "other"))


def test_outlines_llamacpp_model_is_masked_locally() -> None:
    import outlines

    from formatlock import load_llama

    llm = load_llama(None, n_ctx=1024, verbose=False)
    model = outlines.from_llamacpp(llm)
    assert generate(outlines.types.Regex("[0-9]{3}"), "Three digits:", model=model)[0].isdigit()
    assert generate(Literal["yes", "no"], "Is the sky blue?", model=model)[0] in ("yes", "no")
    assert open_backend(model).local_model.llm is llm


def test_bench_on_a_server_reports_the_local_columns(llama_server) -> None:  # noqa: ANN001
    code, stdout, stderr = run_cli("bench", "-m", llama_server.ref, "--schema", "support_ticket", "-n", "1",
                                   "--path", "server", "--path", "server-prompt-only", "--path", "formatlock",
                                   "--output", "json")
    assert code == 0, stderr
    rows = {row["path"]: row for row in map(json.loads, stdout.splitlines())}
    assert set(rows) == {"server", "server-prompt-only", "formatlock"}
    columns = set(rows["formatlock"])
    assert all(set(row) == columns for row in rows.values())  # the same columns as the local paths
    assert rows["formatlock"]["valid_rate"] == 1.0
    code, _, stderr = run_cli("bench", "--path", "server", "--schema", "invoice")
    assert code == 2 and "the server paths need a server --model" in stderr


def test_models_path_names_the_file_to_serve() -> None:
    from formatlock.runtime.models import resolve

    code, stdout, _ = run_cli("models", "--path", "smollm2")
    assert code == 0 and stdout.strip() == str(resolve("smollm2")[1])
