"""`formatlock bench`: every path timed on the same prompts, prefill kept apart from decoding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from formatlock.cli import cli

pytestmark = pytest.mark.slow  # runs benchmark workers on the real model


def test_bench_reports_whole_call_and_decoding_speed_per_path() -> None:
    result = CliRunner().invoke(cli, ["bench", "--schema", "product_review", "-n", "1", "--path", "formatlock",
                                      "--path", "unconstrained", "--output", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["path"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert set(rows) == {"formatlock", "unconstrained"}
    ours = rows["formatlock"]
    assert ours["valid_rate"] == 1.0
    # decoding alone is faster than the whole call, which also pays the prompt's prefill
    assert 0 < ours["tokens_per_s"] < ours["decode_tokens_per_s"]
    # the untimed first call also prefilled the schema instruction, which later calls reuse
    assert ours["first_call_s"] > ours["s_per_valid"] > 0
    assert ours["model_steps_per_output_token"] < 1  # forced tokens cost no model step


def test_bench_plot_is_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "bench.png"
    result = CliRunner().invoke(cli, ["bench", "--schema", "support_ticket", "-n", "1", "--path", "formatlock",
                                      "--plot", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_path_that_cannot_compile_reports_an_error_and_the_others_are_still_timed() -> None:
    result = CliRunner().invoke(cli, ["bench", "--schema", "org_chart", "-n", "2", "--path", "formatlock",
                                      "--path", "llama-grammar", "--output", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["path"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert "$defs" in rows["llama-grammar"]["error"]  # llama.cpp's converter cannot read $defs references
    assert rows["formatlock"]["valid_rate"] == 1.0 and rows["formatlock"]["tokens_per_s"] > 0
