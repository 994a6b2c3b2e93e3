"""`formatlock finetune`: a real, tiny LoRA run on the embedded model, loaded back by llama.cpp."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from formatlock.cli import cli
from formatlock.runtime.models import load_model

from conftest import TinyAdapter

pytestmark = pytest.mark.slow  # trains LoRA adapters

EXAMPLE = Path(__file__).resolve().parents[1] / "finetune_data" / "support_ticket"


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A copy of the bundled export, so that nothing is written into the repository."""
    return Path(shutil.copytree(EXAMPLE, tmp_path / "data"))


def last_logits(model_ref: str, text: str) -> np.ndarray:
    import llama_cpp

    model = load_model(model_ref)
    with model.lock:
        model.llm.reset()
        model.llm.eval(model.tokenize(text, add_bos=False, special=False))
        logits = llama_cpp.llama_get_logits_ith(model.llm.ctx, -1)
        return np.ctypeslib.as_array(logits, shape=(model.n_vocab,)).copy()


def test_a_tiny_run_writes_an_adapter_llama_cpp_loads_and_it_changes_the_model(tiny_adapter: TinyAdapter) -> None:
    out = tiny_adapter.out
    assert "training: 4/4 steps" in tiny_adapter.stderr
    assert "warning" not in tiny_adapter.stderr and "de-quantizing" not in tiny_adapter.stderr, tiny_adapter.stderr
    record = json.loads((out / "finetune.json").read_text())
    assert record["examples"] == {"train": 4, "val": 4} and record["base_model"] == "smollm2"
    assert len(record["base_model_sha256"]) == 64 and len(record["dataset_manifest_sha256"]) == 64
    assert record["hyperparameters"]["rank"] == 4 and record["adapter_bytes"] == (out / "adapter.gguf").stat().st_size
    [epoch] = record["history"]
    assert epoch["train_loss"] > 0 and epoch["val_loss"] > 0
    prompt = "The app crashes every time I upload a photo"
    base = last_logits("smollm2", prompt)
    adapted = last_logits(f"smollm2+{out / 'adapter.gguf'}", prompt)
    assert np.isfinite(adapted).all() and np.abs(adapted - base).max() > 0.1


def test_a_killed_run_never_leaves_a_finished_adapter(dataset: Path, tmp_path: Path) -> None:
    pytest.importorskip("peft", reason="needs the train extra: pip install 'formatlock[train]'")
    out = tmp_path / "adapter"
    out.mkdir()
    (out / "adapter.gguf").write_bytes(b"an older adapter")
    (out / "finetune.json").write_text("{}")
    command = [sys.executable, "-m", "formatlock.cli", "finetune", "--data", str(dataset), "--out", str(out),
               "--max-examples", "2", "--epochs", "200", "--rank", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if line.startswith("training:") or not line:
            break
    assert process.poll() is None, process.stderr.read()
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    # Neither the older adapter nor a half-written one is left to be taken as finished.
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".tmp")) == []


def test_without_the_train_extra_the_error_names_it(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "peft", None)  # as if it were not installed
    result = CliRunner().invoke(cli, ["finetune", "--data", str(dataset)])
    assert result.exit_code == 2
    assert "formatlock[train]" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("setup, message", [
    (lambda d: (d / "manifest.json").unlink(), "no finished dataset"),
    (lambda d: (d / "manifest.json").write_text(json.dumps({"format": "alpaca"})), "'alpaca' format"),
    (lambda d: (d / "train.jsonl").write_text('{"instruction": "x"}\n'), "train.jsonl:1: not a chat example"),
])
def test_datasets_it_cannot_train_on_are_one_line_errors(dataset: Path, setup: Callable[[Path], object], message: str) -> None:
    pytest.importorskip("peft", reason="needs the train extra: pip install 'formatlock[train]'")
    setup(dataset)
    result = CliRunner().invoke(cli, ["finetune", "--data", str(dataset), "--out", str(dataset / "adapter")])
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")  # peft, as in train
def test_the_context_run_without_gradients_gives_the_loss_of_the_whole_conversation(dataset: Path) -> None:
    """Training splits the system prompt off (no gradients through it); the loss must not change."""
    pytest.importorskip("peft", reason="needs the train extra: pip install 'formatlock[train]'")
    import peft
    import torch
    import transformers

    from formatlock.finetune import train
    from formatlock.finetune.lora_gguf import TARGET_MODULES
    from formatlock.runtime.models import resolve

    _, path = resolve(None)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    network = transformers.AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    network = peft.get_peft_model(network, peft.LoraConfig(r=2, target_modules=TARGET_MODULES, task_type="CAUSAL_LM"))
    for name, weight in network.named_parameters():  # a LoRA that already changes the model, as after some steps
        if "lora_B" in name:
            torch.nn.init.normal_(weight, std=0.02, generator=torch.Generator().manual_seed(0))
    messages = json.loads((dataset / "train.jsonl").read_text().splitlines()[0])["messages"]
    example = train._encode(tokenizer, messages, torch)
    assert example.context is not None  # the system prompt
    whole = torch.cat([example.context, example.ids], dim=1)
    labels = torch.cat([torch.full_like(example.context, -100), example.labels], dim=1)
    assert 0 < int((example.labels != -100).sum()) < example.ids.shape[1]  # the answer, not the user message
    expected = network(input_ids=whole, labels=labels).loss
    contexts = train._Contexts(4)  # one run of the context, shared by the next steps on it
    first, again = (train._loss(network, example, torch, contexts) for _ in range(2))
    assert abs(first.item() - expected.item()) < 1e-4 and abs(again.item() - expected.item()) < 1e-4
    again.backward()  # the shared keys and values still let the answer's loss train the LoRA
    trained = [w.grad for name, w in network.named_parameters() if "lora_A" in name]
    assert all(g is not None for g in trained) and any(float(g.abs().sum()) > 0 for g in trained)
