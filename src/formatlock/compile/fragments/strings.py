"""Fragments for JSON strings: characters (escapes included), strings of bounded length, and
character classes written as JSON string content."""

from __future__ import annotations

from ...automata.charsets import SURROGATES, Ranges, complement, normalise, subtract
from .base import Frag, PatternUnsupportedError, alt, literal, repeat, seq

# One character of a JSON string, as written: any char but quote, backslash and controls, or a
# short escape. \\uXXXX escapes are left out on purpose (they let a model spell lone surrogates).
STRING_CHAR = Frag(r'(?:[^"\\\x00-\x1f]|\\["\\/bfnrt])', 4, atom=True)
_SHORT_ESCAPES = {'"': '\\\\"', "\\": "\\\\\\\\", "\b": "\\\\b", "\f": "\\\\f", "\n": "\\\\n", "\r": "\\\\r", "\t": "\\\\t"}
_QUOTE = literal('"')


def quoted(content: Frag) -> Frag:
    """A JSON string whose (encoded) content is ``content``."""
    return seq(_QUOTE, content, _QUOTE)


def string_of_length(lo: int, hi: int | None) -> Frag:
    """A JSON string of lo..hi characters (counted after decoding, as JSON Schema does)."""
    return quoted(repeat(STRING_CHAR, lo, hi))


# Code points a JSON string cannot hold raw: controls, quote, backslash; surrogates have no UTF-8.
_NOT_RAW: Ranges = [(0, 0x1F), (0x22, 0x22), (0x5C, 0x5C), (0xD800, 0xDFFF)]


def class_of(ranges: Ranges) -> Frag:
    """One decoded character from ``ranges``, as JSON string text (escapes where needed).

    Controls without a short escape are dropped (a narrower, still valid class).
    Raises PatternUnsupportedError when nothing is left.
    """
    ranges = normalise(ranges)
    raw = subtract(ranges, _NOT_RAW)
    parts = []
    if len(raw) == 1 and raw[0][0] == raw[0][1]:
        parts.append(literal(chr(raw[0][0])))
    elif raw:
        excluded = subtract(complement(raw), SURROGATES)
        listed, negate = (excluded, "^") if len(excluded) < len(raw) else (raw, "")
        body = "".join(_class_escape(a) + ("" if a == b else "-" + _class_escape(b)) for a, b in listed)
        width = max(len(chr(b).encode("utf-8")) for _, b in raw)
        parts.append(Frag(f"[{negate}{body}]", width, 4 * width, True, 0))
    parts += [Frag(esc, 2) for ch, esc in _SHORT_ESCAPES.items() if any(a <= ord(ch) <= b for a, b in ranges)]
    if not parts:
        raise PatternUnsupportedError("the character class has no character a JSON string can hold")
    return alt(*parts)


def _class_escape(code: int) -> str:
    ch = chr(code)
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    return "\\" + ch if ch in "\\]^-[&~|" else ch
