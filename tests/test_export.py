"""`formatlock export` and `formatlock probe` on the real embedded model, with small inputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from formatlock.cli import cli
from formatlock.schemas import load_schema
from formatlock.validation import Validator

PROMPTS = ["I was charged twice", "App crashes on upload", "Add dark mode please", "Change my email",
           "Billing: VAT shown twice", "Close my account", "Search is empty", "2FA codes never arrive"]


def write_inputs(path: Path, prompts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"input": p, "ticket": i}) + "\n" for i, p in enumerate(prompts)))
    return path


def test_export_writes_valid_split_dataset_and_manifest(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", PROMPTS[:3] + PROMPTS[:1])
    out = tmp_path / "ds"
    result = CliRunner().invoke(cli, ["export", "--schema", "support_ticket", "--inputs", str(inputs), "--out", str(out),
                                      "--val-fraction", "0.34", "--format", "sharegpt", "--quiet"])
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    rows = [json.loads(line) for f in ("train.jsonl", "val.jsonl") for line in (out / f).read_text().splitlines()]
    assert manifest["counts"]["train"] + manifest["counts"]["val"] == len(rows) == 3  # deduplicated
    assert manifest["schema_hash"] == load_schema("support_ticket").id and manifest["format"] == "sharegpt"
    validator = Validator(load_schema("support_ticket"))
    assert all(validator.check_text(r["conversations"][-1]["value"])[1] == [] for r in rows)
    assert not (out / ".partial").exists()


def test_kill_9_mid_export_then_resume_completes_without_duplicates(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", PROMPTS)
    out = tmp_path / "ds"
    args = [sys.executable, "-m", "formatlock.cli", "export", "--schema", "support_ticket", "--inputs", str(inputs),
            "--out", str(out), "--quiet"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    checkpoint = out / ".partial" / "examples.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if checkpoint.exists() and len(checkpoint.read_text().splitlines()) >= 2:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait()
    assert not (out / "manifest.json").exists()  # no dataset, not a partial one
    done_before = len(checkpoint.read_text().splitlines())
    assert CliRunner().invoke(cli, ["export", "--schema", "support_ticket", "--inputs", str(inputs), "--out", str(out)]
                              ).exit_code == 2  # refuses to start over silently
    result = CliRunner().invoke(cli, ["export", "--schema", "support_ticket", "--inputs", str(inputs), "--out", str(out),
                                      "--resume", "--quiet"])
    assert result.exit_code == 0, result.stderr
    prompts = [json.loads(line)["messages"][1]["content"] for f in ("train.jsonl", "val.jsonl")
               for line in (out / f).read_text().splitlines()]
    assert sorted(prompts) == sorted(PROMPTS) and done_before >= 2


def test_probe_reports_rates_and_verdict(tmp_path: Path) -> None:
    inputs = tmp_path / "in.txt"
    inputs.write_text("I was charged twice\n\nThe app crashes on upload\n")
    result = CliRunner().invoke(cli, ["probe", "--schema", "support_ticket", "--inputs", str(inputs), "--output", "json",
                                      "--max-tokens", "160"])
    assert result.exit_code in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert report["n_inputs"] == 2 and report["constrained_valid_rate"] == 1.0
    assert 0 <= report["prompt_only_valid_rate"] <= 1
    assert report["verdict"] == ("prompting-reliable" if result.exit_code == 0 else "fine-tune")
    assert sum(report["failure_kinds"].values()) == round((1 - report["prompt_only_valid_rate"]) * 2)


def test_probe_and_export_usage_errors(tmp_path: Path) -> None:
    for args in (["probe", "--schema", "support_ticket"], ["export", "--schema", "support_ticket"],
                 ["probe", "--schema", "support_ticket", "--inputs", str(tmp_path / "missing.jsonl")]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
