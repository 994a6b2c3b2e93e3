"""A compiled regex as a GBNF grammar: the constraint formatlock masks with, in llama.cpp's syntax.

llama.cpp's servers (``llama-server`` and llama-cpp-python's) take a ``grammar`` with each chat
request, so the exact language the local mask enforces can constrain a server too, instead of the
server's own JSON Schema converter, which skips what it does not know (formats, ``$ref`` at the root)
and has crashed on patterns it misreads. The server has no budget guard, so the local decoder's
string cap is written into the grammar: every unbounded repeat (in a compiled schema, the body of
a free JSON string) becomes ``{lo,cap}``. Each distinct repeat is its own rule, which llama.cpp
expands once however often it is used. Only constructs llama.cpp's grammar parser handles are
written: literals, character classes (as code point ranges), groups, alternation and counted
repeats; anything else is a :class:`~formatlock.errors.CompileError`.
"""

from __future__ import annotations

import re
import re._constants as C  # noqa: N812 - the stdlib's own names
from typing import Any

from ..automata.charsets import SURROGATES, Ranges, subtract
from ..automata.fsm import char_ranges, flat_repeat, read_regex
from ..errors import CompileError

_ATOM = re.compile(r'\[[^\]]*\]|"[^"]*"|r[0-9]+')  # one class, literal or rule reference (no raw ] or " inside)
MAX_RULES = 20_000  # a grammar past this many rules is refused (llama.cpp parses it on every request)


def to_gbnf(regex: str, cap: int | None = None) -> str:
    """The GBNF grammar (start rule ``root``) accepting exactly the strings ``regex`` fully matches,
    with every unbounded repeat cut at ``cap`` repetitions where ``cap`` is given."""
    writer = _Writer(cap)
    root = read_regex(regex, writer.sequence)
    lines = [f"root ::= {root}"] + [f"{name} ::= {body}" for body, name in writer.rules.items()]
    return "\n".join(lines) + "\n"


def _code(code: int, special: str) -> str:
    char = chr(code)
    if char.isascii() and (char.isalnum() or char in " _.,:;!?'=+*/<>@#$%&~`{}()|") and char not in special:
        return char
    if code <= 0xFF:
        return f"\\x{code:02X}"
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


def _class(ranges: Ranges) -> str:
    ranges = subtract(ranges, SURROGATES)
    if not ranges:
        raise CompileError("a character class that matches nothing has no GBNF form")
    special = "]-^[\\\""
    return "[" + "".join(_code(lo, special) if lo == hi else f"{_code(lo, special)}-{_code(hi, special)}"
                         for lo, hi in ranges) + "]"


def _literal(codes: list[int]) -> str:
    return '"' + "".join(_code(c, '"\\') for c in codes) + '"'


class _Writer:
    """Walks a parsed regex and writes GBNF, one named rule per distinct repeat."""

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self.rules: dict[str, str] = {}  # body -> rule name

    def sequence(self, items: list[Any]) -> str:
        parts: list[str] = []
        pending: list[int] = []
        for op, arg in items:
            if op is C.LITERAL:
                pending.append(arg)
                continue
            if pending:
                parts.append(_literal(pending))
                pending = []
            part = self.item(op, arg)
            if part:
                parts.append(part)
        if pending:
            parts.append(_literal(pending))
        return " ".join(parts) if parts else '""'

    def item(self, op: Any, arg: Any) -> str:
        ranges = char_ranges(op, arg)
        if ranges is not None:
            return _class(ranges)
        if op is C.SUBPATTERN:
            if arg[1] & ~re.UNICODE or arg[2]:
                raise CompileError("inline regex flags are not supported")
            return f"({self.sequence(list(arg[3]))})"
        if op is C.BRANCH:
            return "(" + " | ".join(self.sequence(list(branch)) for branch in arg[1]) + ")"
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            return self.repeat(*arg)
        if op is C.AT and arg in (C.AT_BEGINNING, C.AT_BEGINNING_STRING, C.AT_END, C.AT_END_STRING):
            return ""  # the whole output must match, so edge anchors mean nothing more
        raise CompileError(f"regex construct {op} has no GBNF form")

    def repeat(self, lo: int, hi: Any, body: Any) -> str:
        flat = flat_repeat(lo, hi, body)
        if flat is not None:  # one reading per text for llama.cpp's engine (see flat_repeat)
            return self.repeat(*flat)
        inner = self.sequence(list(body))
        if not _ATOM.fullmatch(inner):  # llama.cpp counts the rules inside a repeated group, times the count,
            inner = self.named(inner)  # against a limit of 2,000: a reference to a named rule counts once
        if hi is C.MAXREPEAT:
            if self.cap is None:
                text = f"{inner}*" if lo == 0 else f"{inner}{{{lo},}}"
            else:
                text = f"{inner}{{{lo},{max(lo, self.cap)}}}"
        elif (lo, hi) == (0, 1):
            return f"{inner}?"
        else:
            text = f"{inner}{{{lo}}}" if lo == hi else f"{inner}{{{lo},{hi}}}"
        return self.named(text)

    def named(self, body: str) -> str:
        """The rule whose body is ``body`` (one per distinct body)."""
        if body not in self.rules:
            if len(self.rules) >= MAX_RULES:
                raise CompileError(f"the grammar needs more than {MAX_RULES:,} rules")
            self.rules[body] = f"r{len(self.rules)}"
        return self.rules[body]
