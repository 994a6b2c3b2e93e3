"""`formatlock check-schema`: per-keyword enforcement and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from formatlock.cli import cli


def check(tmp_path: Path, schema: dict | str) -> tuple[int, str, str]:
    path = tmp_path / "s.json"
    path.write_text(schema if isinstance(schema, str) else json.dumps(schema))
    result = CliRunner().invoke(cli, ["check-schema", str(path), "--output", "json"])
    return result.exit_code, result.stdout, result.stderr


def test_lists_mask_and_resample_with_pointers(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"qty": {"type": "integer", "minimum": 1, "maximum": 99},
                                               "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}},
              "required": ["qty"]}
    code, out, _ = check(tmp_path, schema)
    report = json.loads(out)
    assert code == 0 and report["supported"] is True
    uses = {(u["pointer"], u["keyword"]): u["enforcement"] for u in report["uses"]}
    assert uses[("/properties/qty", "maximum")] == "mask"
    assert uses[("/properties/tags", "uniqueItems")] == "resample"


def test_unsatisfiable_schema_is_unsupported_exit_1(tmp_path: Path) -> None:
    code, out, _ = check(tmp_path, {"type": "integer", "minimum": 5, "maximum": 1})
    report = json.loads(out)
    assert code == 1 and report["supported"] is False
    assert any(u["enforcement"] == "unsupported" for u in report["uses"])


def test_invalid_schema_exit_2(tmp_path: Path) -> None:
    code, _, err = check(tmp_path, '{"type": 12}')
    assert code == 2 and "invalid schema" in err and len(err.strip().splitlines()) == 1


def test_text_output_for_bundled_schema() -> None:
    result = CliRunner().invoke(cli, ["check-schema", "invoice"])
    assert result.exit_code == 0
    assert "mask         /properties/items: maxItems" in result.stdout
    assert result.stdout.strip().endswith("invoice: generation supported")
