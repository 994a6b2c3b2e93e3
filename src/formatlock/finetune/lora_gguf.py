"""A PEFT LoRA adapter of a llama-architecture model, written as a GGUF adapter llama.cpp loads.

llama.cpp stores each adapted weight as ``blk.N.<tensor>.weight.lora_a`` / ``.lora_b`` under the
base model's tensor names, with ``general.type = adapter`` and the LoRA alpha in the metadata.
Its GGUF files keep the rows of the query and key projections in another order than Hugging Face
models (interleaved rotary halves), so the ``B`` matrix of those two is permuted the same way.
Written with the ``gguf`` package; needs the ``train`` extra.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from ..errors import UsageError

TENSORS = {  # Hugging Face module path -> llama.cpp tensor name, for the llama architecture
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
TARGET_MODULES = sorted({name.split(".")[1] for name in TENSORS})
_KEY = re.compile(r".*\.layers\.(\d+)\.(\w+\.\w+)\.lora_([AB])(?:\.\w+)?\.weight$")


def write_adapter(path: Path, state: dict[str, Any], *, alpha: float, n_head: int, n_head_kv: int) -> None:
    """Write the LoRA tensors of ``state`` (a PEFT state dict) to the GGUF adapter ``path``."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(alpha))
    written = 0
    for key, tensor in state.items():
        match = _KEY.match(key)
        if match is None:
            continue
        layer, module, side = match.groups()
        if module not in TENSORS:
            raise UsageError(f"cannot convert a LoRA on {module}: only {', '.join(TENSORS)} map to llama.cpp")
        value = tensor.detach().float().cpu()
        if side == "B" and module in ("self_attn.q_proj", "self_attn.k_proj"):
            value = _permute(value, n_head if module == "self_attn.q_proj" else n_head_kv)
        writer.add_tensor(f"blk.{layer}.{TENSORS[module]}.weight.lora_{side.lower()}",
                          np.ascontiguousarray(value.numpy(), dtype=np.float32))
        written += 1
    if not written:
        raise UsageError("the adapter holds no LoRA tensor to convert")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _permute(rows: Any, heads: int) -> Any:
    """Hugging Face row order of a q/k projection -> llama.cpp's (rotary halves interleaved)."""
    return rows.reshape(heads, 2, rows.shape[0] // heads // 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)
