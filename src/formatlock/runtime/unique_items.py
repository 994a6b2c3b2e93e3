"""``uniqueItems`` held while decoding: an item of a unique array may not end equal to an earlier one.

The regex cannot say it, so without this an output that repeats an item is thrown away after the
check and drawn again (a small model repeats tags often). :class:`UniqueItems` follows the output's
JSON byte by byte: containers, keys, indices and the scalar being written. Inside an array the
schema makes unique (:mod:`formatlock.compile.unique_arrays`), the mask loses every token that
would end the current item as a value the array already holds: a string's closing quote, a number's
or literal's following ``,`` or ``]``. A token that only leads toward such a value is kept unless
every way on from it in the constraint's byte DFA ends in one (an ``enum`` item whose other values
are used up). Items that are objects or arrays, and a value spelled otherwise than before (``\\/``
for ``/``, ``1.0`` for ``1``), are left to the check after decoding; so is a mask this would empty.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

import numpy as np

from ..automata.fsm import UNREACHABLE, LazyDFA
from ..compile.unique_arrays import Path, matches
from ..errors import CompileError

_VALUE, _KEY, _COLON, _AFTER, _STRING, _NUMBER, _LITERAL = range(7)
_QUOTE, _BACKSLASH = 0x22, 0x5C
_NUMBER_BYTES = frozenset(b"0123456789+-.eE")
_ENDS = (b",", b"]")  # what follows an item of a compact JSON array
_SEARCH = 256  # DFA states a lookahead visits before it gives up (and keeps the token)


class UniqueTables:
    """Per vocabulary: token ids by their exact bytes, and by the bytes they start with."""

    def __init__(self, pieces: list[bytes]) -> None:
        order = sorted(range(len(pieces)), key=pieces.__getitem__)
        self.pieces = pieces
        self._ids = np.array(order, dtype=np.int64)
        self._keys = [pieces[i] for i in order]
        self._starting: dict[bytes, np.ndarray] = {}
        self._exact: dict[bytes, np.ndarray] = {}

    def starting_with(self, prefix: bytes) -> np.ndarray:
        """Ids of the tokens whose bytes begin with ``prefix``."""
        found = self._starting.get(prefix)
        if found is None:
            lo = bisect.bisect_left(self._keys, prefix)
            hi = lo
            while hi < len(self._keys) and self._keys[hi].startswith(prefix):
                hi += 1
            found = self._starting[prefix] = self._ids[lo:hi]
        return found

    def exactly(self, piece: bytes) -> np.ndarray:
        """Ids of the tokens whose bytes are ``piece``."""
        found = self._exact.get(piece)
        if found is None:
            ids = self.starting_with(piece)
            found = self._exact[piece] = ids[[self.pieces[int(i)] == piece for i in ids]] if len(ids) else ids
        return found


@dataclass
class _Frame:
    array: bool
    path: tuple[str | int, ...]
    unique: bool
    index: int = 0
    key: str = ""
    items: dict[Any, bytes] = field(default_factory=dict)  # value -> its text as written (unique arrays)


class UniqueItems:
    """One output's place in its JSON, and the tokens that would repeat an item of a unique array."""

    def __init__(self, tables: UniqueTables, paths: tuple[Path, ...], dfa: Callable[[], LazyDFA]) -> None:
        self._tables = tables
        self._paths = paths
        self._make_dfa = dfa
        self._dfa: LazyDFA | None = None
        self._dfa_state = 0
        self._dfa_failed = False
        self._item_start = (-1, 0)  # (offset in the output, DFA state) where the current item began
        self._emitted = bytearray()
        self._frames: list[_Frame] = []
        self._mode = _VALUE
        self._raw = bytearray()
        self._escape = False
        self._in_key = False

    # -- following the output ---------------------------------------------------------------
    def follow(self, token: int) -> None:
        piece = self._tables.pieces[token]
        self._emitted += piece
        if self._dfa is not None and not self._dfa_failed:
            try:
                self._dfa_state = self._dfa.walk(self._dfa_state, piece)
            except CompileError:
                self._dfa_failed = True
        for byte in piece:
            self._feed(byte)

    def _feed(self, byte: int) -> None:
        mode = self._mode
        if mode == _STRING:
            self._raw.append(byte)
            if self._escape:
                self._escape = False
            elif byte == _BACKSLASH:
                self._escape = True
            elif byte == _QUOTE:
                self._end_string()
            return
        if mode == _NUMBER and byte in _NUMBER_BYTES or mode == _LITERAL and 0x61 <= byte <= 0x7A:
            self._raw.append(byte)
            return
        if mode in (_NUMBER, _LITERAL):
            self._item_done()
            mode = self._mode = _AFTER
        if byte in b" \t\r\n":
            return
        if mode in (_VALUE, _KEY):
            if byte == _QUOTE:
                self._mode, self._in_key, self._raw, self._escape = _STRING, mode == _KEY, bytearray(b'"'), False
            elif byte in b"{[":
                path = self._value_path()
                array = byte == 0x5B
                self._frames.append(_Frame(array, path, array and any(matches(p, path) for p in self._paths)))
                self._mode = _VALUE if array else _KEY
            elif byte in b"]}":
                self._close()
            else:
                self._mode, self._raw = (_NUMBER if byte in _NUMBER_BYTES else _LITERAL), bytearray([byte])
        elif mode == _COLON:
            if byte == 0x3A:
                self._mode = _VALUE
        elif mode == _AFTER:
            if byte == 0x2C and self._frames:
                top = self._frames[-1]
                top.index += top.array
                self._mode = _VALUE if top.array else _KEY
            elif byte in b"]}":
                self._close()

    def _value_path(self) -> tuple[str | int, ...]:
        if not self._frames:
            return ()
        top = self._frames[-1]
        return (*top.path, top.index if top.array else top.key)

    def _close(self) -> None:
        if self._frames:
            self._frames.pop()
        self._mode = _AFTER

    def _end_string(self) -> None:
        if self._in_key:
            value = _value(self._raw)
            if self._frames:
                self._frames[-1].key = value[1] if value is not None else ""
            self._mode = _COLON
        else:
            self._item_done()
            self._mode = _AFTER

    def _item_done(self) -> None:
        top = self._frames[-1] if self._frames else None
        if top is not None and top.unique:
            value = _value(self._raw)
            if value is not None:
                top.items.setdefault(value, bytes(self._raw))

    # -- narrowing the mask -----------------------------------------------------------------
    def narrow(self, bits: np.ndarray) -> np.ndarray:
        """``bits`` less the tokens that would repeat an item here (unchanged if that leaves none)."""
        top = self._frames[-1] if self._frames else None
        if top is None or not top.unique or not top.items:
            return bits
        if self._mode == _VALUE:
            written = b""
        elif self._mode in (_NUMBER, _LITERAL) or self._mode == _STRING and not self._in_key and not self._escape:
            written = bytes(self._raw)
        else:
            return bits
        banned: list[np.ndarray] = []
        leads: dict[bytes, bool] = {}  # text so far -> whether it can still end as a new value (items share prefixes)
        for text in top.items.values():
            if not text.startswith(written):
                continue
            rest = text[len(written):]
            ends = [rest] if text[0] == _QUOTE else [rest + end for end in _ENDS]
            banned += [self._tables.starting_with(end) for end in ends if end]
            for size in range(1, len(rest) + (text[0] != _QUOTE)):  # tokens that only lead toward the value
                ids = self._tables.exactly(rest[:size])
                if not len(ids) or not _allowed(bits, ids).any():
                    continue
                so_far = written + rest[:size]
                if so_far not in leads:
                    leads[so_far] = self._other_ending(so_far, top)
                if not leads[so_far]:
                    banned.append(ids)
        if not banned:
            return bits
        narrowed = bits.copy()
        ids = np.concatenate(banned)
        np.bitwise_and.at(narrowed, ids >> 5, ~(np.uint32(1) << (ids & 31).astype(np.uint32)))
        return narrowed if narrowed.any() else bits

    def _other_ending(self, written: bytes, top: _Frame) -> bool:
        """Whether, after ``written`` (this item's text so far), the constraint lets the item end
        as a value the array does not hold yet (True where the search gives up)."""
        if self._dfa_failed:
            return True
        try:
            return self._search(written, top)
        except CompileError:  # a DFA past its size bound: tokens that only lead toward a value stay
            self._dfa_failed = True
            return True

    def _search(self, written: bytes, top: _Frame) -> bool:
        dfa, before = self._before_item()
        state = dfa.walk(before, written)
        if state == 0:
            return True  # not a way the constraint goes: the mask refuses it anyway
        string = written[:1] == b'"'
        stack = [(state, written, False)]
        for _ in range(_SEARCH):
            if not stack:
                return False
            state, text, escape = stack.pop()
            row = dfa.row(state)
            later = []
            for byte in np.flatnonzero(row).tolist():
                nxt = int(row[byte])
                if (byte == _QUOTE and not escape) if string else bytes([byte]) in _ENDS:
                    done = text + bytes([byte]) if string else text
                    if dfa.distance(nxt) < UNREACHABLE and _value(done) not in top.items:
                        return True
                elif string or byte in _NUMBER_BYTES or 0x61 <= byte <= 0x7A:
                    later.append((nxt, text + bytes([byte]), string and not escape and byte == _BACKSLASH))
            stack += reversed(later)
        return True

    def _before_item(self) -> tuple[LazyDFA, int]:
        """The constraint's byte DFA (built on first need) and its state where the current item began."""
        if self._dfa is None:
            self._dfa = self._make_dfa()
            self._dfa_state = self._dfa.walk(self._dfa.initial, self._emitted)
        written = len(self._raw) if self._mode in (_STRING, _NUMBER, _LITERAL) else 0
        if not written:
            return self._dfa, self._dfa_state
        start = len(self._emitted) - written
        if self._item_start[0] != start:
            self._item_start = (start, self._dfa.walk(self._dfa.initial, self._emitted[:start]))
        return self._dfa, self._item_start[1]


def _allowed(bits: np.ndarray, ids: np.ndarray) -> np.ndarray:
    return (bits[ids >> 5] >> (ids & 31).astype(np.uint32)) & 1


def _value(raw: bytes | bytearray) -> tuple[str, Any] | None:
    """A JSON scalar's value as uniqueness compares it (``1`` equals ``1.0``; ``true`` is not ``1``)."""
    try:
        if raw[:1] == b'"':
            return "s", json.loads(raw)
        if raw[:1] in (b"t", b"f", b"n"):
            return "l", bytes(raw)
        return "n", Fraction(Decimal(raw.decode("ascii")))
    except (ValueError, InvalidOperation, UnicodeDecodeError):
        return None
