"""Regex -> byte-level automaton, built lazily.

The regex (Python ``re`` syntax; our schema compiler emits a subset of it) is parsed with the
standard library's parser and turned into a Thompson NFA over UTF-8 *bytes*. The DFA is built on
demand (subset construction one state at a time), so compiling costs milliseconds whatever the
regex size, and only states that decoding actually visits are ever materialised. Size limits turn
pathological regexes into a typed error instead of an OOM.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from re import _constants as C  # noqa: N812 - the stdlib's own names
from re import _parser as sre
from typing import Any, TypeVar

import numpy as np

from ..errors import CompileError
from .charsets import MAX_CODE, SURROGATES, Ranges, class_items, complement, subtract

MAX_NFA_STATES = 2_000_000
MAX_DFA_STATES = 200_000
T = TypeVar("T")
UNREACHABLE = np.iinfo(np.int32).max  # distance of a state from which no text is accepted


def utf8_sequences(lo: int, hi: int) -> list[list[tuple[int, int]]]:
    """Byte-range sequences whose concatenations are exactly the UTF-8 encodings of ``lo..hi``."""
    out: list[list[tuple[int, int]]] = []
    for a, b in ((0, 0x7F), (0x80, 0x7FF), (0x800, 0xFFFF), (0x10000, MAX_CODE)):
        if lo <= b and hi >= a:
            _split(max(lo, a), min(hi, b), out)
    return out


def _split(lo: int, hi: int, out: list[list[tuple[int, int]]]) -> None:
    length = len(chr(lo).encode("utf-8", "surrogatepass"))
    for i in range(1, length):
        mask = (1 << (6 * i)) - 1
        if lo & ~mask != hi & ~mask:
            if lo & mask:
                _split(lo, lo | mask, out)
                _split((lo | mask) + 1, hi, out)
                return
            if hi & mask != mask:
                _split(lo, (hi & ~mask) - 1, out)
                _split(hi & ~mask, hi, out)
                return
    a = chr(lo).encode("utf-8", "surrogatepass")
    b = chr(hi).encode("utf-8", "surrogatepass")
    out.append(list(zip(a, b, strict=False)))


class _NFA:
    """A Thompson NFA over bytes: byte-range edges and epsilon edges."""

    def __init__(self) -> None:
        self.edges: list[list[tuple[int, int, int]]] = []
        self.eps: list[list[int]] = []

    def state(self) -> int:
        if len(self.edges) >= MAX_NFA_STATES:
            raise CompileError(f"the regex expands to more than {MAX_NFA_STATES:,} automaton states")
        self.edges.append([])
        self.eps.append([])
        return len(self.edges) - 1

    def distances_to(self, accept: int) -> np.ndarray:
        """The fewest bytes from each state to ``accept`` (0-1 BFS on reversed edges)."""
        back: list[list[tuple[int, int]]] = [[] for _ in self.edges]
        for source, edges in enumerate(self.edges):
            for _, _, target in edges:
                back[target].append((source, 1))
        for source, targets in enumerate(self.eps):
            for target in targets:
                back[target].append((source, 0))
        distance = np.full(len(self.edges), UNREACHABLE, dtype=np.int64)
        distance[accept] = 0
        queue = deque([accept])
        while queue:
            state = queue.popleft()
            here = distance[state]
            for source, cost in back[state]:
                if here + cost < distance[source]:
                    distance[source] = here + cost
                    if cost:
                        queue.append(source)
                    else:
                        queue.appendleft(source)
        return distance

    def build(self, items: list, start: int) -> int:
        """Add ``items`` (a parsed sequence) after ``start``; return the end state."""
        for op, arg in items:
            start = self._one(op, arg, start)
        return start

    def _one(self, op: object, arg: Any, start: int) -> int:
        if op is C.LITERAL:
            return self._ranges([(arg, arg)], start)
        ranges = char_ranges(op, arg)
        if ranges is not None:
            return self._ranges(ranges, start)
        if op is C.SUBPATTERN:
            _group, add_flags, del_flags, body = arg
            if add_flags & ~re.UNICODE or del_flags:
                raise CompileError("inline regex flags are not supported")
            return self.build(body, start)
        if op is C.BRANCH:
            end = self.state()
            for branch in arg[1]:
                self.eps[self.build(branch, start)].append(end)
            return end
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            lo, hi, body = arg
            return self._repeat(lo, hi, body, start)
        if op is C.AT and arg in (C.AT_BEGINNING, C.AT_BEGINNING_STRING, C.AT_END, C.AT_END_STRING):
            return start  # the whole output must match, so edge anchors mean nothing more
        raise CompileError(f"regex construct {op} is not supported for constrained decoding")

    def _repeat(self, lo: int, hi: int, body: list, start: int) -> int:
        for _ in range(lo):
            start = self.build(body, start)
        if hi is C.MAXREPEAT:
            loop = self.state()
            self.eps[start].append(loop)
            self.eps[self.build(body, loop)].append(loop)
            return loop
        end = self.state()
        for _ in range(hi - lo):
            self.eps[start].append(end)
            start = self.build(body, start)
        self.eps[start].append(end)
        return end

    def _ranges(self, ranges: Ranges, start: int) -> int:
        end = self.state()
        for lo, hi in subtract(ranges, SURROGATES):
            for sequence in utf8_sequences(lo, hi):
                current = start
                for i, (a, b) in enumerate(sequence):
                    target = end if i == len(sequence) - 1 else self.state()
                    self.edges[current].append((a, b, target))
                    current = target
        return end


def _class_ranges(items: list) -> Ranges:
    try:
        negate, ranges, _ = class_items(items, [(0, MAX_CODE)])
    except ValueError as exc:
        raise CompileError(f"regex {exc}") from None
    return complement(ranges) if negate else ranges


def read_regex(pattern: str, walk: Callable[[list], T]) -> T:
    """Parse ``pattern`` as Python's ``re`` does and hand its items to ``walk``, with one set of
    errors for every reader: CompileError (what is no regex, sets flags, cannot be masked, or
    nests too deep to walk); the user-regex entry, ``constraints.for_regex``, words it as a UsageError."""
    try:
        parsed = sre.parse(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        raise CompileError(f"invalid regex: {exc}") from None
    if parsed.state.flags & ~(re.UNICODE | re.ASCII):
        raise CompileError("regex flags are not supported")
    try:
        return walk(list(parsed))
    except RecursionError:
        raise CompileError("the regex nests too deeply") from None


def canonical(pattern: str, cap: int | None = None) -> str:
    """``pattern`` rewritten so that any regex engine reads what Python's ``re`` reads.

    User regexes are checked with ``re`` but masked by llguidance (Rust regex syntax), and the two
    dialects differ (``[[:alpha:]]`` is a POSIX class in Rust, a set of 6 characters in Python).
    Classes become explicit code point ranges, groups non-capturing, anchors at the edges dropped.
    With ``cap``, every unbounded repeat stops at ``cap`` repetitions (for a server: it has no
    budget guard, so the local string cap goes into the regex itself).
    """
    return read_regex(pattern, lambda items: _emit(items, cap))


def _char(code: int) -> str:
    if chr(code).isascii() and chr(code).isalnum():
        return chr(code)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _set(ranges: Ranges) -> str:
    ranges = subtract(ranges, SURROGATES)
    if not ranges:
        return "[^\\u0000-\\U0010ffff]"  # matches nothing
    return "[" + "".join(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}" for lo, hi in ranges) + "]"


def char_ranges(op: object, arg: Any) -> Ranges | None:
    """The code points one parsed item matches where it is one character other than a literal
    (a negated literal, ``.``, a class); None for any other item."""
    if op is C.NOT_LITERAL:
        return complement([(arg, arg)])
    if op is C.ANY:
        return complement([(10, 10)])
    if op is C.IN:
        return _class_ranges(arg)
    return None


def flat_repeat(lo: int, hi: Any, body: Any) -> tuple[int, Any, Any] | None:
    """``(B){lo,hi}`` as one repeat ``x{lo*a, hi*b}`` where B is a repeat ``x{a,b}`` with a <= 1
    (alone, or in groups that hold nothing else): the same texts, each with one reading; else None.

    A repeat of a repeat, as in the pattern ``([a-z]*)*``, reads a run of n characters in
    exponentially many ways. llama.cpp's grammar engine follows every one of them (it hung a server
    for minutes on one token), and a cap on each repeat would bound the run at cap x cap, not cap."""
    items = list(body)
    while len(items) == 1 and items[0][0] is C.SUBPATTERN and not (items[0][1][1] & ~re.UNICODE or items[0][1][2]):
        items = list(items[0][1][3])
    if len(items) != 1 or items[0][0] not in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        return None
    inner_lo, inner_hi, inner = items[0][1]
    if inner_lo > 1:
        return None
    most = C.MAXREPEAT if C.MAXREPEAT in (hi, inner_hi) else hi * inner_hi
    return flat_repeat(lo * inner_lo, most, inner) or (lo * inner_lo, most, inner)


def _emit(items: list, cap: int | None) -> str:
    out = []
    for op, arg in items:
        ranges = char_ranges(op, arg)
        if op is C.LITERAL:
            out.append(_char(arg))
        elif ranges is not None:
            out.append(_set(ranges))
        elif op is C.SUBPATTERN:
            if arg[1] & ~re.UNICODE or arg[2]:
                raise CompileError("inline regex flags are not supported")
            out.append(f"(?:{_emit(list(arg[3]), cap)})")
        elif op is C.BRANCH:
            out.append("(?:" + "|".join(_emit(list(b), cap) for b in arg[1]) + ")")
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            lo, hi, body = flat_repeat(*arg) or arg
            most = ("" if cap is None else max(lo, cap)) if hi is C.MAXREPEAT else hi
            out.append(f"(?:{_emit(list(body), cap)}){{{lo},{most}}}")
        elif op is C.AT and arg in (C.AT_BEGINNING, C.AT_BEGINNING_STRING, C.AT_END, C.AT_END_STRING):
            continue  # the whole output must match, so edge anchors mean nothing more
        else:
            raise CompileError(f"regex construct {op} is not supported for constrained decoding")
    return "".join(out)


class LazyDFA:
    """A byte-level DFA materialised on demand. State 0 is dead; rows are 256-wide int32."""

    def __init__(self, pattern: str) -> None:
        self._nfa = _NFA()
        begin = self._nfa.state()
        self._accept = read_regex(pattern, lambda items: self._nfa.build(items, begin))
        self._ids: dict[frozenset[int], int] = {frozenset(): 0}
        self._sets: list[frozenset[int]] = [frozenset()]
        self.accepting: list[bool] = [False]
        self.table = np.zeros((64, 256), dtype=np.int32)
        self._done = np.zeros(64, dtype=bool)
        self._done[0] = True
        self.initial = self._intern(self._closure([begin]))
        self._nfa_distance: np.ndarray | None = None
        self._distance: dict[int, int] = {0: UNREACHABLE}

    def snapshot(self) -> tuple[list[frozenset[int]], np.ndarray, np.ndarray, dict[int, int]]:
        """The materialised part of the DFA (and the distances worked out), for the disk cache."""
        n = len(self._sets)
        return list(self._sets), self.table[:n].copy(), self._done[:n].copy(), dict(self._distance)

    def restore(self, snapshot: tuple[list[frozenset[int]], np.ndarray, np.ndarray, dict[int, int]]) -> bool:
        """Adopt a snapshot of the same regex; False (and nothing changed) if it does not fit."""
        sets, table, done, distance = snapshot
        if len(sets) < 2 or sets[self.initial] != self._sets[self.initial] or table.shape[1] != 256:
            return False
        capacity = max(64, 1 << (len(sets) - 1).bit_length())
        self._sets = list(sets)
        self._ids = {s: i for i, s in enumerate(sets)}
        self.accepting = [self._accept in s for s in sets]
        self.table = np.zeros((capacity, 256), dtype=np.int32)
        self.table[: len(sets)] = table
        self._done = np.zeros(capacity, dtype=bool)
        self._done[: len(sets)] = done
        self._distance = dict(distance)
        return True

    def distance(self, state: int) -> int:
        """The fewest bytes that take ``state`` to acceptance (``UNREACHABLE`` if none do)."""
        found = self._distance.get(state)
        if found is None:
            if self._nfa_distance is None:
                self._nfa_distance = self._nfa.distances_to(self._accept)
            members = np.fromiter(self._sets[state], dtype=np.int64)
            found = self._distance[state] = int(self._nfa_distance[members].min())
        return found

    def distances(self, states: np.ndarray) -> np.ndarray:
        """:meth:`distance` of each of ``states``."""
        unique, where = np.unique(states, return_inverse=True)
        return np.array([self.distance(int(s)) for s in unique], dtype=np.int64)[where]

    def _closure(self, states: list[int]) -> frozenset[int]:
        seen = set(states)
        stack = list(states)
        eps = self._nfa.eps
        while stack:
            for nxt in eps[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return frozenset(s for s in seen if self._nfa.edges[s] or s == self._accept)

    def _intern(self, states: frozenset[int]) -> int:
        found = self._ids.get(states)
        if found is not None:
            return found
        if len(self._sets) >= MAX_DFA_STATES:
            raise CompileError(f"the constraint needs more than {MAX_DFA_STATES:,} automaton states")
        new = len(self._sets)
        self._ids[states] = new
        self._sets.append(states)
        self.accepting.append(self._accept in states)
        if new >= len(self._done):
            self.table = np.vstack([self.table, np.zeros_like(self.table)])
            self._done = np.concatenate([self._done, np.zeros_like(self._done)])
        return new

    def ensure(self, states: np.ndarray | list[int]) -> None:
        """Materialise the rows of ``states`` (and intern the states they lead to)."""
        for state in np.unique(states) if isinstance(states, np.ndarray) else states:
            if not self._done[state]:
                self._compute(int(state))

    def row(self, state: int) -> np.ndarray:
        if not self._done[state]:
            self._compute(state)
        return self.table[state]

    def step(self, state: int, byte: int) -> int:
        return int(self.row(state)[byte])

    def walk(self, state: int, data: bytes | bytearray) -> int:
        """The state after reading ``data`` from ``state``; 0 (dead) as soon as a byte is refused."""
        for byte in data:
            state = self.step(state, byte)
            if state == 0:
                break
        return state

    def accepts(self, text: str) -> bool:
        """Whether the whole of ``text`` (as UTF-8) is in the pattern's language."""
        return bool(self.accepting[self.walk(self.initial, text.encode("utf-8"))])

    def _compute(self, state: int) -> None:
        edges = [e for s in self._sets[state] for e in self._nfa.edges[s]]
        cuts = sorted({0, 256} | {lo for lo, _, _ in edges} | {hi + 1 for _, hi, _ in edges})
        row = np.zeros(256, dtype=np.int32)
        for lo, nxt in zip(cuts, cuts[1:], strict=False):
            targets = [t for a, b, t in edges if a <= lo and nxt - 1 <= b]
            if targets:
                row[lo:nxt] = self._intern(self._closure(targets))
        self.table[state] = row
        self._done[state] = True
