"""`formatlock export`: datasets from the embedded model and from the call log, checks, kill -9 and --resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from formatlock.cli import cli
from formatlock.enforce import enforce
from formatlock.errors import EnforcementError
from formatlock.schema.loading import load_schema
from formatlock.schema.validation import Validator

FLAG = {"title": "Flag", "type": "object", "properties": {"urgent": {"type": "boolean"}}, "required": ["urgent"],
        "additionalProperties": False}
PROMPTS = ["I was charged twice", "App crashes on upload", "Add dark mode please", "Change my email",
           "Billing: VAT shown twice", "Close my account"]


pytestmark = [pytest.mark.usefixtures("home"), pytest.mark.slow]  # a fresh FORMATLOCK_HOME per test; the real model


def write_inputs(path: Path, prompts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"input": p, "ticket": i}) + "\n" for i, p in enumerate(prompts)))
    return path


def read_rows(out: Path) -> dict[str, list[dict]]:
    return {name: [json.loads(line) for line in (out / name).read_text().splitlines()]
            for name in ("train.jsonl", "val.jsonl")}


def export(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["export", *args])
    return result.exit_code, result.stdout, result.stderr


def test_export_on_the_embedded_model(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", PROMPTS[:2] + PROMPTS[:1])
    out = tmp_path / "ds"
    code, stdout, stderr = export("--schema", "support_ticket", "--inputs", str(inputs), "--out", str(out),
                                  "--val-fraction", "0.5", "--format", "alpaca")
    assert code == 0, stderr
    progress = [line for line in stderr.splitlines() if line.startswith("exporting:")]
    assert progress == ["exporting: 1/2", "exporting: 2/2"]  # off a terminal: a line per input
    assert "2 examples is a sample, not a dataset yet" in stderr
    manifest = json.loads((out / "manifest.json").read_text())
    rows = read_rows(out)
    assert stdout.strip() == f"wrote {out}: {len(rows['train.jsonl'])} train, {len(rows['val.jsonl'])} val (alpaca)"
    everything = rows["train.jsonl"] + rows["val.jsonl"]
    assert sorted(r["input"] for r in everything) == sorted(PROMPTS[:2])  # deduplicated
    schema = load_schema("support_ticket")
    assert manifest["counts"] == {"train": len(rows["train.jsonl"]), "val": len(rows["val.jsonl"]), "skipped": 0,
                                  "dropped_by_quality": 0, "relabelled": 0}
    assert manifest["quality"]["strict"] is False and isinstance(manifest["quality"]["warnings"], list)
    assert manifest["schema_hash"] == schema.id and manifest["format"] == "alpaca" and manifest["model"] == "smollm2"
    assert manifest["teacher"] == "smollm2" and manifest["headroom"] == 0.8 and manifest["relabel"] == 0
    # the teacher labelled under limits cut to 80%: maxLength 60 became 48, maxItems 4 became 3
    targets = [json.loads(r["output"]) for r in everything]
    assert all(len(t["summary"]) <= 48 and len(t.get("tags", [])) <= 3 for t in targets), targets
    assert {"schema", "seed", "created", "formatlock_version"} <= set(manifest)
    validator = Validator(schema)
    assert all(validator.check_text(r["output"])[1] == [] and r["instruction"] for r in everything)
    assert not (out / ".partial").exists() and sorted(p.name for p in out.iterdir()) == [
        "manifest.json", "train.jsonl", "val.jsonl"]


def test_relabel_samples_a_flagged_target_again_and_keeps_the_first_that_passes(tmp_path: Path) -> None:
    from formatlock.finetune.datasets import Checkpoint, teach
    from formatlock.runtime.backends import open_backend

    note = load_schema({"type": "object", "properties": {"note": {"type": "string", "maxLength": 40}},
                        "required": ["note"]})
    teacher, seen = open_backend(None), []

    def label(prompt: str, relabel: int, flags: int) -> tuple[dict, int]:
        seen.clear()
        checkpoint = Checkpoint(tmp_path / prompt[:4])
        checkpoint.start({}, resume=False)
        examples, skipped, relabelled = teach(note, [prompt], checkpoint, [], teacher=teacher, temperature=0.9,
                                              seed=0, relabel=relabel,
                                              flagged=lambda t: seen.append(t) or len(seen) <= flags)
        assert skipped == [] and [e.prompt for e in checkpoint.load()] == [prompt]  # checkpointed once
        return json.loads(examples[0].target), relabelled

    target, relabelled = label("I was charged twice", relabel=3, flags=1)
    assert len(seen) == 2 and target == seen[1] and relabelled == 1  # the second sample passed
    target, relabelled = label("App crashes on upload", relabel=2, flags=99)
    assert len(seen) == 3 and target == seen[0] and relabelled == 0  # none passed: the first is kept
    label("Close my account", relabel=0, flags=99)
    assert seen == []  # without --relabel the gates are not asked while labelling


def test_another_model_can_be_the_teacher(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", PROMPTS[:1])
    out = tmp_path / "ds"
    code, _, stderr = export("--schema", "support_ticket", "--inputs", str(inputs), "--out", str(out),
                             "--teacher", "gemma3-270m")
    assert code == 0, stderr
    assert json.loads((out / "manifest.json").read_text())["teacher"] == "gemma3-270m"


def wrapped_calls(calls: list[tuple[object, str]]) -> None:
    """Log one wrapped support_ticket call per (prompt, reply), as @enforce.output records them."""
    replies = iter(reply for _, reply in calls)

    @enforce.output("support_ticket", retries=0)
    def ask(prompt: object) -> str:
        return next(replies)

    for prompt, _ in calls:
        try:
            ask(prompt=prompt)
        except EnforcementError:
            pass


TICKET = '{"category": "billing", "priority": "high", "summary": "Charged twice", "needs_human": true}'


def test_export_from_log_into_the_default_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "App crashes"}]
    wrapped_calls([("Charged twice", TICKET), ("Not valid", "sorry"), ("Charged twice", TICKET),
                   (chat, TICKET.replace("billing", "bug")), ("Refund please", f"```json\n{TICKET}\n```")])
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = export("--schema", "support_ticket", "--from-log", "--format", "messages",
                                  "--system", "Triage.", "--val-fraction", "0")
    assert code == 0, stderr
    out = tmp_path / "finetune_data" / "support_ticket"
    rows = read_rows(out)
    assert rows["val.jsonl"] == [] and stdout.startswith("wrote finetune_data/support_ticket: 3 train, 0 val")
    assert [r["messages"][1]["content"] for r in rows["train.jsonl"]] == ["Charged twice", "App crashes",
                                                                           "Refund please"]
    assert rows["train.jsonl"][0]["messages"] == [
        {"role": "system", "content": "Triage."}, {"role": "user", "content": "Charged twice"},
        {"role": "assistant", "content": json.dumps(json.loads(TICKET), separators=(",", ":"))}]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"] == "remote" and manifest["source"] == "valid calls in the call log"


def test_given_targets_are_kept_and_the_teacher_labels_the_rest(tmp_path: Path) -> None:
    inputs = tmp_path / "in.jsonl"
    given = {"category": "bug", "priority": "high", "summary": "Crash on upload", "needs_human": False}
    inputs.write_text(json.dumps({"input": "App crashes on upload", "target": given}) + "\n"
                      + json.dumps({"input": "Change my email"}) + "\n")
    out = tmp_path / "ds"
    code, _, stderr = export("--schema", "support_ticket", "--inputs", str(inputs), "--out", str(out),
                             "--val-fraction", "0")
    assert code == 0, stderr
    answers = {r["messages"][1]["content"]: json.loads(r["messages"][2]["content"])
               for r in read_rows(out)["train.jsonl"]}
    assert answers["App crashes on upload"] == given and set(answers) == {"App crashes on upload", "Change my email"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["teacher"] == "given + smollm2"
    assert manifest["source"] == "targets given with the inputs, the rest by constrained decoding on smollm2"


def test_all_targets_given(tmp_path: Path) -> None:
    rows = [{"input": p, "target": json.loads(TICKET)} for p in PROMPTS[:3]]
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "ds"
    code, _, stderr = export("--schema", "support_ticket", "--inputs", str(inputs), "--out", str(out))
    assert code == 0, stderr
    written = read_rows(out)
    assert sorted(r["messages"][1]["content"] for part in written.values() for r in part) == sorted(PROMPTS[:3])
    assert {r["messages"][2]["content"] for part in written.values() for r in part} == {
        json.dumps(json.loads(TICKET), separators=(",", ":"))}
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["teacher"], manifest["source"]) == ("given", "targets given with the inputs")
    assert manifest["headroom"] is None  # nothing was labelled under it
    assert not (out / ".partial").exists()


def test_an_invalid_given_target_writes_nothing(tmp_path: Path) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json.dumps({"input": "Refund please", "target": {"category": "refund"}}) + "\n")
    out = tmp_path / "ds"
    code, _, stderr = export("--schema", "support_ticket", "--inputs", str(inputs), "--out", str(out))
    assert code == 2 and not out.exists()
    assert "nothing written: the target given for input 'Refund please' is not schema-valid: /: 'priority' is a required" in stderr


def test_an_example_failing_the_checks_writes_nothing(tmp_path: Path) -> None:
    wrapped_calls([("Short one", TICKET), ("word " * 5000, TICKET)])
    out = tmp_path / "ds"
    code, _, stderr = export("--schema", "support_ticket", "--from-log", "--out", str(out), "--val-fraction", "0")
    assert code == 2 and "nothing written: train.jsonl example 2 (prompt 'word word" in stderr
    assert "more than the model's context of 4096" in stderr and not out.exists()


@pytest.mark.parametrize("args, message", [
    ([], "exactly one of --inputs FILE or --from-log"),
    (["--from-log"], "the call log has no valid calls with a prompt for schema support_ticket"),
    (["--inputs", "missing.jsonl"], "inputs file not found"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    code, _, stderr = export("--schema", "support_ticket", "--out", str(tmp_path / "ds"), *args)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1


def test_kill_9_mid_export_then_resume_completes_without_duplicates(tmp_path: Path) -> None:
    schema = tmp_path / "flag.json"
    schema.write_text(json.dumps(FLAG))
    inputs = write_inputs(tmp_path / "in.jsonl", PROMPTS)
    out = tmp_path / "ds"
    args = ["export", "--schema", str(schema), "--inputs", str(inputs), "--out", str(out), "--quiet"]
    process = subprocess.Popen([sys.executable, "-m", "formatlock.cli", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    checkpoint = out / ".partial" / "examples.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if checkpoint.exists() and len(checkpoint.read_bytes().splitlines()) >= 2:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    assert process.wait() == -signal.SIGKILL, process.stderr.read().decode()
    assert not (out / "manifest.json").exists() and not (out / "train.jsonl").exists()  # no dataset at all
    before = {row["prompt"]: row["target"] for row in map(json.loads, checkpoint.read_text().splitlines())}
    assert 2 <= len(before) < len(PROMPTS)

    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "--resume" in result.stderr  # never starts over silently
    result = CliRunner().invoke(cli, [*args, "--resume"])
    assert result.exit_code == 0, result.stderr
    rows = read_rows(out)
    pairs = [(r["messages"][1]["content"], r["messages"][2]["content"]) for name in rows for r in rows[name]]
    assert sorted(prompt for prompt, _ in pairs) == sorted(PROMPTS)  # nothing lost, nothing twice
    assert all(dict(pairs)[prompt] == target for prompt, target in before.items())  # kept, not made again
    assert json.loads((out / "manifest.json").read_text())["counts"]["skipped"] == 0
    assert not (out / ".partial").exists()
