"""`formatlock validate`: output formats, exit codes, streaming, and bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from formatlock.cli import cli

SCHEMA = {"type": "object", "properties": {"id": {"type": "integer"}, "email": {"type": "string", "format": "email"}},
          "required": ["id"]}


def run_cli(*args: str, stdin: str | bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["validate", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def schema(tmp_path: Path) -> str:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(SCHEMA))
    return str(path)


def test_text_output_lists_file_line_pointer_message(tmp_path: Path, schema: str) -> None:
    data = tmp_path / "out.jsonl"
    data.write_text('{"id": 1}\n\n{"id": "x"}\nnot json\n{"id": 2, "email": "nope"}\n')
    code, out, _ = run_cli("--schema", schema, str(data))
    assert code == 1
    assert out.splitlines() == [
        f"{data}:3: /id: 'x' is not of type 'integer'",
        f"{data}:4: /: not valid JSON: Expecting value (column 1)",
        f"{data}:5: /email: 'nope' is not a 'email'",
        "4 documents, 3 invalid",
    ]


def test_json_output_one_object_per_document_in_order(tmp_path: Path, schema: str) -> None:
    one = tmp_path / "one.json"
    one.write_text('{\n  "id": 7\n}\n')
    code, out, _ = run_cli("--schema", schema, "--output", "json", str(one), "-", stdin='{"id": 1}\n{"x": 1}\n')
    assert code == 1
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["file"], r["line"], r["valid"]) for r in rows] == [(str(one), 1, True), ("<stdin>", 1, True),
                                                                   ("<stdin>", 2, False)]
    assert rows[2]["errors"] == [{"pointer": "", "keyword": "required", "message": "'id' is a required property"}]


def test_all_valid_exits_0_and_no_formats_turns_formats_off(schema: str) -> None:
    assert run_cli("--schema", schema, stdin='{"id": 1}\n')[0] == 0
    assert run_cli("--schema", schema, stdin='{"id": 1, "email": "nope"}\n')[0] == 1
    assert run_cli("--schema", schema, "--no-formats", stdin='{"id": 1, "email": "nope"}\n')[0] == 0


def test_max_errors_limits_errors_per_document(schema: str) -> None:
    code, out, _ = run_cli("--schema", schema, "--max-errors", "1", "--output", "json",
                           stdin='{"id": "a", "email": 5}\n')
    assert code == 1 and len(json.loads(out)["errors"]) == 1


def test_bundled_schema_by_name() -> None:
    doc = {"product": "kettle", "rating": 4, "sentiment": "positive", "would_recommend": True}
    assert run_cli("--schema", "product_review", stdin=json.dumps(doc) + "\n")[0] == 0


@pytest.mark.parametrize("content, message", [
    (b"", "empty: no JSON document"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not UTF-8 text"),
    (b'{"id": "\xff"}', "not UTF-8 text"),
])
def test_unparsable_files_are_invalid_documents(tmp_path: Path, schema: str, content: bytes, message: str) -> None:
    path = tmp_path / "doc.json"
    path.write_bytes(content)
    code, out, err = run_cli("--schema", schema, str(path))
    assert code == 1 and message in out and err == ""


def test_invalid_utf8_line_is_reported_and_validation_goes_on(tmp_path: Path, schema: str) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_bytes(b'{"id": 1}\n{"id": "\xff"}\n{"id": 3}\n')
    code, out, _ = run_cli("--schema", schema, "--output", "json", str(path))
    assert code == 1
    assert [json.loads(line)["valid"] for line in out.splitlines()] == [True, False, True]


@pytest.mark.parametrize("setup, message", [
    (lambda d: str(d / "missing.jsonl"), "file not found"),
    (lambda d: str(d), "is a directory"),
])
def test_unreadable_input_exits_2_one_line(tmp_path: Path, schema: str, setup: Callable[[Path], str], message: str) -> None:
    code, _, err = run_cli("--schema", schema, setup(tmp_path))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("schema_text, message", [
    ("{not json", "is not JSON"),
    ('{"type": "whatever"}', "invalid schema at /type"),
    ('{"$ref": "https://example.com/remote.json"}', "remote $ref"),
    ('{"$schema": "https://example.com/unknown-draft", "type": "object"}', "unknown $schema"),
])
def test_bad_schemas_exit_2_one_line(tmp_path: Path, schema_text: str, message: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(schema_text)
    code, _, err = run_cli("--schema", str(path), stdin="{}\n")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak RSS from Linux /proc")
def test_large_jsonl_streams_in_bounded_memory(tmp_path: Path, schema: str) -> None:
    path = tmp_path / "big.jsonl"
    line = json.dumps({"id": 1, "pad": "x" * 500}) + "\n"
    with path.open("w") as handle:
        for _ in range(50 * 2**20 // len(line)):
            handle.write(line)
    huge = tmp_path / "huge.jsonl"
    huge.write_text(json.dumps({"id": 2, "pad": "y" * 10 * 2**20}) + "\n")
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (v)forked parent, which here
    # is pytest with models loaded; VmHWM is the peak of this process's own address space.
    code = ("import re, sys; from formatlock.cli import main; sys.argv = ['formatlock', 'validate', "
            f"'--schema', {schema!r}, {str(path)!r}, {str(huge)!r}];\n"
            "try:\n    main()\nexcept SystemExit as e:\n"
            "    peak = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1)\n"
            "    print(e.code, int(peak) // 1024, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    status, peak_mb = done.stderr.split()[-2:]
    assert status == "0", done.stderr
    assert done.stdout.strip().endswith("documents, 0 invalid")
    assert int(peak_mb) < 250  # a 50 MB file, a 10 MB line: memory does not grow with the file


def test_validate_does_not_import_model_libraries(schema: str) -> None:
    code = ("import sys; from formatlock.cli import main; sys.argv = ['formatlock', 'validate', '--schema', "
            f"{schema!r}, '-']\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('llama_cpp', 'outlines', 'outlines_core', 'numpy') if m in sys.modules]\n"
            "print('heavy:', heavy, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], input='{"id": 1}\n', capture_output=True, text=True, timeout=120)
    assert "heavy: []" in done.stderr, done.stderr


def test_a_large_input_gives_the_same_report_on_worker_processes(tmp_path: Path, schema: str) -> None:
    from formatlock.cli.bulk import BATCH, validate_stream
    from formatlock.schema.documents import iter_raw
    from formatlock.schema.loading import load_schema
    from formatlock.schema.validation import Validator

    path = tmp_path / "many.jsonl"
    rows = [{"id": i} if i % 7 else {"id": str(i)} for i in range(BATCH * 3 + 17)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"id": \n')
    validator = Validator(load_schema(schema))
    reports = {}
    for workers in (1, 2):
        out: list[str] = []
        tally = validate_stream(validator, iter_raw([str(path)]), "json", None, out.append, workers=workers)
        reports[workers] = ("".join(out), tally.documents, tally.invalid)
    assert reports[1] == reports[2]
    text, documents, invalid = reports[2]
    assert documents == len(rows) + 1 and invalid == len([r for r in rows if isinstance(r["id"], str)]) + 1
    lines = [json.loads(line)["line"] for line in text.splitlines()]
    assert lines == list(range(1, len(rows) + 2))  # input order, cut-off last line at its own number


@pytest.mark.parametrize("name", ["a.jsonl", 'dir/ü "quoted"\\name.jsonl', "<stdin>"])
def test_a_valid_json_line_is_what_json_dumps_writes(name: str) -> None:
    from formatlock.cli.reporting import Tally, report
    from formatlock.schema.documents import Document

    written: list[str] = []
    report(Document(name, 7, value={}), [], "json", written.append, Tally())
    expected = json.dumps({"file": name, "line": 7, "valid": True, "errors": []}, ensure_ascii=False) + "\n"
    assert written == [expected]
