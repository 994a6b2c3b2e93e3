"""A LoRA adapter file is checked before llama.cpp reads it: llama.cpp trusts the file and crashes
(SIGSEGV) on a GGUF that is not an adapter or is cut short.

The adapter's header is read with the ``gguf`` package (llama.cpp's own reader): it must be a
GGUF of ``general.type = adapter`` and ``adapter.type = lora``, with every tensor's data inside
the file, and of the same architecture as the base model. Tensor names and shapes against the
base model are llama.cpp's to check: it refuses a mismatch with an error, which becomes a
:class:`~formatlock.errors.ModelError`.
"""

from __future__ import annotations

import struct
from pathlib import Path

from ..errors import ModelError

_STRING = 8  # GGUF's value type for a string


def check_adapter(adapter: Path, base_architecture: str | None = None) -> None:
    """Raise :class:`ModelError` unless ``adapter`` is a whole LoRA adapter GGUF (for a base model of
    ``base_architecture``, when given)."""
    from gguf import GGUFReader  # start-up: `import formatlock` loads this module

    try:
        reader = GGUFReader(adapter)
    except (ValueError, OSError, IndexError, KeyError) as exc:  # cut short or damaged: its counts overrun the file
        raise ModelError(f"{adapter} is not a whole GGUF file (truncated or damaged: {exc})") from None
    kind = _text(reader, "general.type")
    if kind != "adapter" or _text(reader, "adapter.type") != "lora":
        what = "a GGUF model" if kind in (None, "model") else f"a GGUF of type {kind!r}"
        raise ModelError(f"{adapter} is {what}, not a LoRA adapter (general.type = adapter, adapter.type = lora)")
    size = adapter.stat().st_size
    for tensor in reader.tensors:
        if tensor.data_offset + tensor.n_bytes > size:
            raise ModelError(f"{adapter} is cut short: tensor {tensor.name} ends past the end of the file")
    if not reader.tensors:
        raise ModelError(f"{adapter} is a LoRA adapter without tensors")
    architecture = _text(reader, "general.architecture")
    if base_architecture is not None and architecture != base_architecture:
        raise ModelError(f"{adapter} is a LoRA adapter for {architecture!r} models; the base model is {base_architecture!r}")


def _text(reader: object, key: str) -> str | None:
    field = reader.fields.get(key)  # type: ignore[attr-defined]
    if field is None or not field.data:
        return None
    return bytes(field.parts[field.data[0]]).decode("utf-8", errors="replace")


def architecture(model: Path) -> str | None:
    """The ``general.architecture`` of a GGUF model when it is the header's first key (as llama.cpp's
    converters write it), read without parsing the rest; ``None`` otherwise."""
    try:
        with model.open("rb") as handle:
            head = handle.read(4096)
        if head[:4] != b"GGUF":
            return None
        (length,) = struct.unpack_from("<Q", head, 24)
        key = head[32 : 32 + length]
        (kind,) = struct.unpack_from("<I", head, 32 + length)
        if key != b"general.architecture" or kind != _STRING:
            return None
        (size,) = struct.unpack_from("<Q", head, 36 + length)
        return head[44 + length : 44 + length + size].decode("utf-8")
    except (OSError, struct.error, UnicodeDecodeError):
        return None
