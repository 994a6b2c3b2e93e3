"""Dataset building blocks: formats, the split property, checks, checkpoints (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from formatlock import datasets
from formatlock.datasets import Example


@settings(max_examples=200, deadline=None)
@given(prompts=st.lists(st.text(min_size=1, max_size=30)), seed=st.integers(), fraction=st.floats(0, 0.9))
def test_split_is_disjoint_complete_deduplicated_and_deterministic(prompts: list[str], seed: int, fraction: float) -> None:
    examples = [Example(p, "{}") for p in prompts + prompts[:3]]
    train, val = datasets.split(examples, seed, fraction)
    assert {e.prompt for e in train}.isdisjoint({e.prompt for e in val})
    assert sorted(e.prompt for e in train + val) == sorted(set(prompts))
    assert {e.prompt for e in datasets.split(examples, seed, fraction)[1]} == {e.prompt for e in val}


@pytest.mark.parametrize("fmt, shape", [
    ("openai", lambda r: [m["role"] for m in r["messages"]] == ["system", "user", "assistant"]),
    ("messages", lambda r: r["messages"][-1] == {"role": "assistant", "content": '{"a":1}'}),
    ("alpaca", lambda r: set(r) == {"instruction", "input", "output"} and r["output"] == '{"a":1}'),
    ("sharegpt", lambda r: [c["from"] for c in r["conversations"]] == ["system", "human", "gpt"]),
])
def test_each_format_has_its_shape(fmt: str, shape) -> None:
    row = datasets.render(Example("hi", '{"a":1}'), fmt, "sys")
    assert shape(row)
    json.dumps(row)


def test_checks_catch_empty_content_and_context_overflow() -> None:
    def count(text: str) -> int:
        return len(text.split())

    assert datasets.check(Example("hi", "{}"), "sys", count, 100) is None
    assert "empty" in datasets.check(Example("  ", "{}"), "sys", count, 100)
    assert "context" in datasets.check(Example("word " * 200, "{}"), "sys", count, 100)


def test_checkpoint_survives_a_torn_last_line(tmp_path: Path) -> None:
    checkpoint = datasets.Checkpoint(tmp_path)
    checkpoint.append(Example("a", "{}"))
    checkpoint.append(Example("b", "{}"))
    with checkpoint.path.open("a") as handle:
        handle.write('{"prompt": "c", "tar')
    assert [e.prompt for e in checkpoint.load()] == ["a", "b"]
