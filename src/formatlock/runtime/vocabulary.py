"""The model's token vocabulary as exact bytes, for building masks.

Each token's text is taken byte-for-byte from llama.cpp (``llama_token_to_piece``), so tokens that
hold part of a UTF-8 character (byte-level BPE, byte-fallback pieces) keep their exact bytes;
decoding them to ``str`` would be lossy. Control tokens have no text and are never allowed; the
end-of-generation token is the only way out of a final state.
"""

from __future__ import annotations

import ctypes
import hashlib
from typing import Any

import llama_cpp
import numpy as np


class TokenVocabulary:
    """Token id -> bytes, plus the views the decoder needs (a padded byte matrix, single-byte tokens)."""

    def __init__(self, pieces: list[bytes], eos_id: int) -> None:
        self.pieces = pieces
        self.eos_id = eos_id
        self.byte_token = {p[0]: i for i, p in enumerate(pieces) if len(p) == 1 and i != eos_id}
        self.lengths = np.array([len(p) for p in pieces], dtype=np.int32)
        self.walk_ids = np.array([i for i, p in enumerate(pieces) if p and i != eos_id], dtype=np.int64)
        self.matrix = np.zeros((len(pieces), int(self.lengths.max(initial=1))), dtype=np.uint8)
        for i, piece in enumerate(pieces):
            self.matrix[i, : len(piece)] = np.frombuffer(piece, dtype=np.uint8)
        digest = hashlib.sha256(str(eos_id).encode())
        for piece in pieces:
            digest.update(len(piece).to_bytes(2, "little"))
            digest.update(piece)
        self.id = digest.hexdigest()[:16]

    @classmethod
    def from_llama(cls, llm: Any, n_vocab: int, eos_id: int) -> TokenVocabulary:
        """The vocabulary of a loaded ``llama_cpp.Llama``."""
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        size = 256
        buffer = ctypes.create_string_buffer(size)
        pieces: list[bytes] = []
        for token in range(n_vocab):
            n = llama_cpp.llama_token_to_piece(vocab, token, buffer, size, 0, False)
            pieces.append(buffer.raw[:n] if n > 0 else b"")
        return cls(pieces, eos_id)

    def decode(self, tokens: list[int]) -> bytes:
        return b"".join(self.pieces[t] for t in tokens)
