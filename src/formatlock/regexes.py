"""Regex building blocks for JSON text: strings, numbers in a range, formats and patterns.

Every fragment describes *encoded JSON text* (what the model writes), in the regex dialect of
outlines-core. Each fragment also carries the most bytes it can match (``None`` when unbounded),
so the token budget can be chosen from the schema. Fragments are sound: everything they match
is valid for the keywords they claim to enforce; they may match less than the schema allows.
"""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

try:  # Python >= 3.11
    import re._constants as sre_constants
    import re._parser as sre_parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

MAX_INT_DIGITS = 15
MAX_FRACTION_DIGITS = 6
_META = set("\\.^$|?*+()[]{}")


class Frag(NamedTuple):
    """A regex fragment and the most bytes it can match (None: unbounded)."""

    re: str
    max: int | None


def literal(text: str) -> Frag:
    """A fragment matching exactly ``text``."""
    return Frag("".join("\\" + c if c in _META else c for c in text), len(text.encode("utf-8")))


def compact_json(value: Any) -> str:
    """The compact JSON text formatlock writes: the form every fragment describes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def json_literal(value: Any) -> Frag:
    """A fragment matching the compact JSON encoding of ``value``."""
    return literal(compact_json(value))


def seq(*parts: Frag) -> Frag:
    """Concatenation."""
    total: int | None = 0
    for p in parts:
        total = None if total is None or p.max is None else total + p.max
    return Frag("".join(p.re for p in parts), total)


def alt(*parts: Frag) -> Frag:
    """Alternation (duplicates removed, order kept)."""
    unique = list(dict.fromkeys(parts))
    if len(unique) == 1:
        return unique[0]
    maxes = [p.max for p in unique]
    return Frag("(?:" + "|".join(p.re for p in unique) + ")", None if None in maxes else max(maxes))  # type: ignore[type-var]


def repeat(part: Frag, lo: int, hi: int | None) -> Frag:
    """``part`` repeated lo..hi times (hi None: unbounded)."""
    body = part.re if _is_atom(part.re) else f"(?:{part.re})"
    if hi is None:
        suffix = "*" if lo == 0 else "+" if lo == 1 else f"{{{lo},}}"
        return Frag(body + suffix, None if part.max != 0 else 0)
    if lo == hi == 1:
        return part
    suffix = "?" if (lo, hi) == (0, 1) else f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"
    return Frag(body + suffix, None if part.max is None else part.max * hi)


def _is_atom(regex: str) -> bool:
    if len(regex) == 1 or (len(regex) == 2 and regex[0] == "\\"):
        return True
    if regex.startswith("[") and regex.endswith("]") and regex.count("]") == 1 + regex.count("\\]"):
        return True
    return regex.startswith("(?:") and _closing_paren(regex) == len(regex) - 1


def _closing_paren(regex: str) -> int:
    depth, escaped, in_class = 0, False, False
    for i, c in enumerate(regex):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


# --- JSON strings --------------------------------------------------------------------------

# One character of a JSON string, as written: any char but quote, backslash and controls, or a
# short escape. \\uXXXX escapes are left out on purpose (they let a model spell lone surrogates).
STRING_CHAR = Frag(r'(?:[^"\\\x00-\x1f]|\\["\\/bfnrt])', 4)
_SAFE_CHAR = r'[^"\\\x00-\x1f]'
_SHORT_ESCAPES = {'"': '\\\\"', "\\": "\\\\\\\\", "\b": "\\\\b", "\f": "\\\\f", "\n": "\\\\n", "\r": "\\\\r", "\t": "\\\\t"}


def quoted(content: Frag) -> Frag:
    """A JSON string whose (encoded) content is ``content``."""
    return seq(literal('"'), content, literal('"'))


FREE_STRING_CHARS = 200  # strings without maxLength get at most minLength + this many characters
FREE_PATTERN_REPEATS = 64  # `*` and `+` in a pattern become at most this many repeats (past the minimum)


def string_of_length(lo: int, hi: int | None) -> Frag:
    """A JSON string of lo..hi characters (characters counted after decoding, as JSON Schema does).

    Without ``hi`` the mask still bounds the length (a narrower, still valid language), so a
    model that loops inside a string is made to close it instead of running to the budget.
    """
    return quoted(repeat(STRING_CHAR, lo, lo + FREE_STRING_CHARS if hi is None else hi))


ANY_STRING = string_of_length(0, None)


# --- numbers -------------------------------------------------------------------------------

def _digit_class(lo: str, hi: str) -> str:
    return lo if lo == hi else f"[{lo}-{hi}]"


def _same_length_range(a: str, b: str) -> str:
    """Regex for decimal strings of equal length n with a <= x <= b (digit-wise, leading zeros kept)."""
    n = len(a)
    if n == 0:
        return ""
    if a == b:
        return a
    if a[0] == b[0]:
        return a[0] + _same_length_range(a[1:], b[1:])
    if a[1:] == "0" * (n - 1) and b[1:] == "9" * (n - 1):
        return _digit_class(a[0], b[0]) + (f"[0-9]{{{n - 1}}}" if n > 2 else "[0-9]" if n == 2 else "")
    parts = [a[0] + _group(_same_length_range(a[1:], "9" * (n - 1)))]
    if int(b[0]) - int(a[0]) > 1:
        middle = _digit_class(str(int(a[0]) + 1), str(int(b[0]) - 1))
        parts.append(middle + (f"[0-9]{{{n - 1}}}" if n > 2 else "[0-9]"))
    parts.append(b[0] + _group(_same_length_range("0" * (n - 1), b[1:])))
    return "(?:" + "|".join(parts) + ")"


def _group(regex: str) -> str:
    return regex if "|" not in regex or _is_atom(regex) else f"(?:{regex})"


def natural_range(lo: int, hi: int) -> Frag:
    """Canonical decimal integers (no leading zeros) in [lo, hi], 0 <= lo <= hi."""
    parts = []
    for length in range(len(str(lo)), len(str(hi)) + 1):
        low = lo if length == len(str(lo)) else 10 ** (length - 1)
        high = hi if length == len(str(hi)) else 10**length - 1
        parts.append(Frag(_same_length_range(str(low), str(high)), length))
    return alt(*parts)


def integer_range(lo: int | None, hi: int | None) -> Frag | None:
    """JSON integers in [lo, hi] (None: unbounded up to MAX_INT_DIGITS); None if empty."""
    big = 10**MAX_INT_DIGITS - 1
    lo = -big if lo is None else lo
    hi = big if hi is None else hi
    if lo > hi:
        return None
    parts = []
    if lo < 0:
        parts.append(seq(literal("-"), natural_range(max(1, -hi), -lo)))
    if hi >= 0:
        parts.append(natural_range(max(lo, 0), hi))
    return alt(*parts)


_FRACTION = Frag(f"\\.[0-9]{{1,{MAX_FRACTION_DIGITS}}}", MAX_FRACTION_DIGITS + 1)
_ZERO_FRACTION = Frag(f"\\.0{{1,{MAX_FRACTION_DIGITS}}}", MAX_FRACTION_DIGITS + 1)


def number_range(lo: int | None, hi: int | None) -> Frag | None:
    """JSON numbers (no exponent) x with lo <= x <= hi for integer bounds; None if empty."""
    big = 10**MAX_INT_DIGITS - 1
    lo = -big if lo is None else lo
    hi = big if hi is None else hi
    if lo > hi:
        return None
    parts = []
    if hi >= 0:  # non-negative part: [max(lo,0), hi]
        start = max(lo, 0)
        if start <= hi - 1:
            parts.append(seq(natural_range(start, hi - 1), repeat(_FRACTION, 0, 1)))
        parts.append(seq(natural_range(hi, hi), repeat(_ZERO_FRACTION, 0, 1)))
    if lo < 0:  # negative part: magnitudes in [max(0, -hi), -lo]
        low_mag, high_mag = max(0, -hi), -lo
        neg = []
        if low_mag <= high_mag - 1:
            neg.append(seq(natural_range(low_mag, high_mag - 1), repeat(_FRACTION, 0, 1)))
        neg.append(seq(natural_range(high_mag, high_mag), repeat(_ZERO_FRACTION, 0, 1)))
        parts.append(seq(literal("-"), alt(*neg)))
    return alt(*parts)


def integer_bounds(schema: dict[str, Any]) -> tuple[int | None, int | None, bool]:
    """Integer-valued bounds implied by minimum/maximum/exclusive*; and whether they are exact."""
    lo, hi, exact = None, None, True
    for key, is_low in (("minimum", True), ("maximum", False), ("exclusiveMinimum", True), ("exclusiveMaximum", False)):
        value = schema.get(key)
        if isinstance(value, bool):  # draft-04 boolean exclusive flags
            if value:
                bound = schema.get("minimum" if is_low else "maximum")
                if isinstance(bound, (int, float)):
                    if float(bound).is_integer():
                        lo, hi = (int(bound) + 1, hi) if is_low else (lo, int(bound) - 1)
                    else:
                        exact = False
            continue
        if not isinstance(value, (int, float)) or math.isinf(value) or math.isnan(value):
            continue
        exclusive = key.startswith("exclusive")
        if float(value).is_integer():
            bound = int(value) + (1 if exclusive and is_low else -1 if exclusive else 0)
        else:
            bound = math.ceil(value) if is_low else math.floor(value)
        if is_low:
            lo = bound if lo is None else max(lo, bound)
        else:
            hi = bound if hi is None else min(hi, bound)
    return lo, hi, exact


# --- formats -------------------------------------------------------------------------------

_DATE = (
    r"[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
)
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,3})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,14}[a-z0-9])?"
_HOST = f"{_LABEL}(?:\\.{_LABEL}){{0,3}}"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"

# Compact, sound patterns per format: each matches only strings the format checker accepts.
FORMATS: dict[str, str] = {
    "date": _DATE,
    "time": _TIME,
    "date-time": f"{_DATE}T{_TIME}",
    "email": r"[a-z0-9](?:[a-z0-9._+-]{0,30}[a-z0-9])?@" + f"{_LABEL}\\.[a-z]{{2,8}}",
    "idn-email": r"[a-z0-9](?:[a-z0-9._+-]{0,30}[a-z0-9])?@" + f"{_LABEL}\\.[a-z]{{2,8}}",
    "hostname": _HOST,
    "idn-hostname": _HOST,
    "ipv4": f"{_OCTET}(?:\\.{_OCTET}){{3}}",
    "ipv6": r"[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){7}",
    "uuid": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "uri": f"https?://{_HOST}(?:/[a-zA-Z0-9._~-]{{1,24}}){{0,4}}",
    "iri": f"https?://{_HOST}(?:/[a-zA-Z0-9._~-]{{1,24}}){{0,4}}",
    "uri-reference": f"(?:https?://{_HOST})?(?:/[a-zA-Z0-9._~-]{{1,24}}){{0,4}}",
    "iri-reference": f"(?:https?://{_HOST})?(?:/[a-zA-Z0-9._~-]{{1,24}}){{0,4}}",
    "json-pointer": r"(?:/[a-zA-Z0-9_]{1,24}){0,4}",
    "relative-json-pointer": r"(?:0|[1-9][0-9]?)(?:/[a-zA-Z0-9_]{1,24}){0,4}",
    "duration": r"P(?:[1-9][0-9]{0,2}[YMWD]|T[1-9][0-9]{0,2}[HMS])",
}


def format_string(name: str) -> Frag | None:
    """A JSON string in the given format, or None when the format has no pattern here."""
    pattern = FORMATS.get(name)
    return None if pattern is None else quoted(Frag(pattern, 254))


# --- JSON Schema patterns (ECMA-262) -------------------------------------------------------

class PatternUnsupported(ValueError):
    """The pattern uses something that cannot be expressed in the mask (lookaround, backrefs...)."""


def pattern_string(pattern: str) -> Frag:
    """A JSON string whose decoded content matches ``pattern`` (unanchored search semantics)."""
    try:
        tree = sre_parse.parse(pattern)
    except Exception as exc:  # re raises several error types for dialect differences
        raise PatternUnsupported(f"cannot parse pattern: {exc}") from None
    if tree.state.flags & ~(sre_constants.SRE_FLAG_UNICODE | sre_constants.SRE_FLAG_ASCII):
        raise PatternUnsupported("inline flags are not supported in the mask")
    return quoted(_anchored(list(tree)))


def _anchored(items: list, left: bool = True, right: bool = True) -> Frag:
    """Emit a sequence; where it is not anchored by ^ / $, free text may come before / after."""
    c = sre_constants
    if items and items[0] == (c.AT, c.AT_BEGINNING):
        items, left = items[1:], False
    if items and items[-1][0] is c.AT and items[-1][1] in (c.AT_END, c.AT_END_STRING):
        items, right = items[:-1], False
    free = repeat(STRING_CHAR, 0, FREE_STRING_CHARS)
    if not items:
        return free if left or right else Frag("", 0)
    if left and items[0][0] is c.BRANCH:
        head = alt(*(_anchored(list(b), True, right and len(items) == 1) for b in items[0][1][1]))
        return head if len(items) == 1 else seq(head, _anchored(items[1:], False, right))
    if right and items[-1][0] is c.BRANCH:
        tail = alt(*(_anchored(list(b), False, True) for b in items[-1][1][1]))
        return seq(_anchored(items[:-1], left, False), tail)
    return seq(*([free] if left else []), _emit(items), *([free] if right else []))


def _emit(items: list) -> Frag:
    return seq(*(_emit_one(op, arg) for op, arg in items)) if items else Frag("", 0)


def _emit_one(op: Any, arg: Any) -> Frag:
    c = sre_constants
    if op is c.LITERAL:
        return _char(chr(arg))
    if op is c.NOT_LITERAL:
        return Frag(f"[^{_class_escape(chr(arg))}\"\\\\\\x00-\\x1f]", 4)
    if op is c.ANY:
        return Frag(_SAFE_CHAR, 4)
    if op is c.IN:
        return _char_set(arg)
    if op is c.BRANCH:
        return alt(*(_emit(list(b)) for b in arg[1]))
    if op is c.SUBPATTERN:
        if arg[1] or arg[2]:  # inline flags such as (?i)
            raise PatternUnsupported("inline flags are not supported in the mask")
        return _wrap(_emit(list(arg[3])))
    if op in (c.MAX_REPEAT, c.MIN_REPEAT) or getattr(c, "POSSESSIVE_REPEAT", None) is op:
        lo, hi, sub = arg
        return repeat(_wrap(_emit(list(sub))), lo, lo + FREE_PATTERN_REPEATS if hi is c.MAXREPEAT else hi)
    raise PatternUnsupported(f"{str(op).lower()} is not supported in the mask")


def _wrap(frag: Frag) -> Frag:
    return frag if _is_atom(frag.re) else Frag(f"(?:{frag.re})", frag.max)


def _char(ch: str) -> Frag:
    if ch in _SHORT_ESCAPES:
        return Frag(_SHORT_ESCAPES[ch], 2)
    if ord(ch) < 0x20:
        raise PatternUnsupported("control characters are not supported in the mask")
    return literal(ch)


def _class_escape(ch: str) -> str:
    return "\\" + ch if ch in "\\]^-[" else ch


_CATEGORIES = {"CATEGORY_DIGIT": "0-9", "CATEGORY_WORD": "A-Za-z0-9_", "CATEGORY_SPACE": " "}
_NOT_CATEGORIES = {"CATEGORY_NOT_DIGIT": "0-9", "CATEGORY_NOT_WORD": "A-Za-z0-9_", "CATEGORY_NOT_SPACE": " "}


def _char_set(items: list) -> Frag:
    """A character class; quote, backslash and controls become their JSON escapes."""
    c = sre_constants
    negate = bool(items) and items[0][0] is c.NEGATE
    body, escapes = [], []
    for op, arg in items[1:] if negate else items:
        if op is c.LITERAL:
            ch = chr(arg)
            if ch in _SHORT_ESCAPES or ord(ch) < 0x20:
                escapes.append(ch)
            else:
                body.append(_class_escape(ch))
        elif op is c.RANGE:
            lo, hi = arg
            for a, b in _split_range(lo, hi):
                body.append(_class_escape(chr(a)) + ("" if a == b else "-" + _class_escape(chr(b))))
            escapes.extend(ch for ch in _SHORT_ESCAPES if lo <= ord(ch) <= hi)
        elif op is c.CATEGORY and str(arg) in _CATEGORIES:
            body.append(_CATEGORIES[str(arg)])
            if str(arg) == "CATEGORY_SPACE":
                escapes.extend("\t\n\r\f")
        elif op is c.CATEGORY and str(arg) in _NOT_CATEGORIES and not negate and len(items) == 1:
            return Frag(f"[^{_NOT_CATEGORIES[str(arg)]}\"\\\\\\x00-\\x1f]", 4)
        else:
            raise PatternUnsupported(f"character class item {op} is not supported in the mask")
    if negate:
        excluded = "".join(body) + '"\\\\\\x00-\\x1f'
        return Frag(f"[^{excluded}]", 4)
    parts = [Frag(f"[{''.join(body)}]", 4)] if body else []
    parts += [Frag(_SHORT_ESCAPES[ch], 2) for ch in dict.fromkeys(escapes) if ch in _SHORT_ESCAPES]
    if not parts:
        raise PatternUnsupported("empty character class")
    return alt(*parts)


def _split_range(lo: int, hi: int) -> list[tuple[int, int]]:
    """Sub-ranges of [lo, hi] without controls, quote and backslash (those are escaped)."""
    out, start = [], max(lo, 0x20)
    for cut in (0x22, 0x5C):
        if start <= cut <= hi:
            if start <= cut - 1:
                out.append((start, cut - 1))
            start = cut + 1
    if start <= hi:
        out.append((start, hi))
    return out
