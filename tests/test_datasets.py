"""Dataset building blocks without a model: inputs, formats, checks, the split, checkpoints, atomic writes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from formatlock.errors import InputError, UsageError
from formatlock.finetune import dataset_formats, datasets
from formatlock.finetune.datasets import Example
from formatlock.finetune.inputs import read_inputs


@settings(max_examples=300, deadline=None)
@given(prompts=st.lists(st.text(min_size=1, max_size=30), max_size=40), seed=st.integers(),
       fraction=st.floats(0, 1, exclude_max=True))
def test_split_is_disjoint_complete_deduplicated_and_deterministic(prompts: list[str], seed: int,
                                                                   fraction: float) -> None:
    examples = [Example(p, f'{{"i":{i}}}') for i, p in enumerate(prompts + prompts[:3])]
    train, val = datasets.split(examples, seed, fraction)
    train_prompts, val_prompts = [e.prompt for e in train], [e.prompt for e in val]
    assert set(train_prompts).isdisjoint(val_prompts)
    assert sorted(train_prompts + val_prompts) == sorted(set(prompts))  # all, each once
    assert {e.prompt for e in datasets.split(reversed(examples), seed, fraction)[1]} == set(val_prompts)
    first = {e.prompt: e for e in reversed(examples)}  # the first example of a prompt is the one kept
    assert all(first[e.prompt] == e for e in train + val)


def test_split_size_follows_the_fraction() -> None:
    examples = [Example(f"prompt {i}", "{}") for i in range(2000)]
    train, val = datasets.split(examples, 7, 0.25)
    assert 400 < len(val) < 600 and len(train) + len(val) == 2000
    assert datasets.split(examples, 8, 0.25)[1] != val  # the seed matters


@pytest.mark.parametrize("fmt, expected", [
    ("openai", {"messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"},
                             {"role": "assistant", "content": '{"a":1}'}]}),
    ("messages", {"messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"},
                               {"role": "assistant", "content": '{"a":1}'}]}),
    ("alpaca", {"instruction": "sys", "input": "hi", "output": '{"a":1}'}),
    ("sharegpt", {"conversations": [{"from": "system", "value": "sys"}, {"from": "human", "value": "hi"},
                                    {"from": "gpt", "value": '{"a":1}'}]}),
])
def test_each_format_has_its_shape_and_reads_back(fmt: str, expected: dict) -> None:
    row = dataset_formats.render("sys", "hi", '{"a":1}', fmt)
    assert row == expected and json.loads(json.dumps(row)) == row
    assert dataset_formats.turns(row, fmt) == [("system", "sys"), ("user", "hi"), ("assistant", '{"a":1}')]


def words(text: str) -> int:
    return len(text.split())


@pytest.mark.parametrize("row, fmt, problem", [
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "{}"}]}, "openai", None),
    ({"messages": [{"role": "assistant", "content": "{}"}, {"role": "user", "content": "hi"}]}, "openai",
     "assistant last"),
    ({"messages": [{"role": "bot", "content": "hi"}, {"role": "assistant", "content": "{}"}]}, "messages",
     "unknown role"),
    ({"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "{}"}]}, "openai",
     "user turn"),
    ({"instruction": "s", "input": "  ", "output": "{}"}, "alpaca", "user content is empty"),
    ({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": None}]}, "sharegpt",
     "assistant content is empty"),
    ({"messages": [{"role": "user", "content": "word " * 100}, {"role": "assistant", "content": "{}"}]}, "openai",
     "context of 100"),
])
def test_upload_checks(row: dict, fmt: str, problem: str | None) -> None:
    found = dataset_formats.check(row, fmt, words, 100)
    assert found is None if problem is None else problem in found


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="openai, messages, alpaca, sharegpt"):
        dataset_formats.render("s", "p", "{}", "jsonl")


def test_inputs_jsonl_with_metadata_and_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"input": "first", "id": 7}\n\n  second line  \n{"input": "third"}\n')
    inputs = read_inputs(path)
    assert [i.text for i in inputs] == ["first", "second line", "third"]
    assert inputs[0].meta == {"id": 7} and inputs[1].meta == {}


def test_an_exports_val_jsonl_reads_as_its_held_out_prompts() -> None:
    val = Path(__file__).resolve().parents[1] / "finetune_data" / "support_ticket" / "val.jsonl"
    rows = [json.loads(line) for line in val.read_text().splitlines()]
    inputs = read_inputs(val)
    assert [i.text for i in inputs] == [r["messages"][1]["content"] for r in rows] and inputs[0].meta == {}


@pytest.mark.parametrize("text, message", [
    ('{"input": 3}\n', ":1: expected"),
    ('{"messages": [{"role": "assistant", "content": "{}"}]}\n', ":1: expected"), ('hello\n{"input": "x"\n', ":2: not valid JSON"), ("\n \n", "no inputs"),
])
def test_bad_inputs_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_inputs(path)
    with pytest.raises(InputError, match="not found"):
        read_inputs(tmp_path / "missing.jsonl")


def test_checkpoint_resume_drops_a_torn_line_and_refuses_other_settings(tmp_path: Path) -> None:
    settings_ = {"schema_hash": "abc", "model": "smollm2", "temperature": 0.7, "seed": 0}
    checkpoint = datasets.Checkpoint(tmp_path)
    assert checkpoint.start(settings_, resume=False) == []
    checkpoint.append(Example("a", "{}"))
    checkpoint.append(Example("b", "{}"))
    with checkpoint.path.open("a") as handle:
        handle.write('{"prompt": "c", "tar')  # what a kill in the middle of a write leaves
    with pytest.raises(UsageError, match="--resume"):
        datasets.Checkpoint(tmp_path).start(settings_, resume=False)
    with pytest.raises(UsageError, match="other seed"):
        datasets.Checkpoint(tmp_path).start({**settings_, "seed": 1}, resume=True)
    assert [e.prompt for e in datasets.Checkpoint(tmp_path).start(settings_, resume=True)] == ["a", "b"]


def test_atomic_write_replaces_whole_files_with_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "train.jsonl"
    target.write_text("old\n")
    old_mask = os.umask(0o022)
    try:
        datasets.atomic_write(target, "new\n")
    finally:
        os.umask(old_mask)
    assert target.read_text() == "new\n" and stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["train.jsonl"]  # no temporary file left


def test_write_dataset_writes_the_manifest_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = []
    real = datasets.atomic_write

    def spy(path: Path, text: str) -> None:
        written.append((path.name, (tmp_path / "manifest.json").exists()))
        real(path, text)

    monkeypatch.setattr(datasets, "atomic_write", spy)
    (tmp_path / "manifest.json").write_text("{}")  # an older dataset: it must not vouch for the new files
    datasets.write_dataset(tmp_path, {"train.jsonl": [{"a": 1}], "val.jsonl": []}, {"counts": {}})
    assert written == [("train.jsonl", False), ("val.jsonl", False), ("manifest.json", False)]
    assert (tmp_path / "train.jsonl").read_text() == '{"a": 1}\n' and (tmp_path / "val.jsonl").read_text() == ""
