"""Regex building blocks for compact JSON text: strings, numbers in a range, formats and patterns.

Every fragment describes *encoded JSON text* (what the model writes) in the regex subset that
both Python ``re`` and outlines-core accept: literals, ``(?:...)`` groups, alternation, character
classes and ``? * + {m,n}``. A fragment also carries the most bytes it can match (``None`` when
unbounded) and its *size*: its length with bounded repeats unrolled, which is what an automaton
built from it costs. Fragments are sound: everything they match is valid for the keywords they
claim to enforce; they may match less than the schema allows.
"""

from __future__ import annotations

import math
import re._constants as C  # noqa: N812 - the stdlib's own names
import re._parser as sre_parse
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache
from typing import Any, TypeGuard

from ..automata.charsets import MAX_CODE, SURROGATES, Ranges, class_items, complement, normalise, subtract
from ..automata.fsm import read_regex
from ..errors import CompileError
from ..schema.json_text import dumps as compact_json  # the form every fragment describes

MAX_INT_DIGITS = 15  # digits of an integer part when the schema gives no bound (exact in a double)
MAX_FRACTION_DIGITS = 6
_UNIT = 10**MAX_FRACTION_DIGITS  # numbers are handled in units of 10**-MAX_FRACTION_DIGITS
_BIG = 10**MAX_INT_DIGITS - 1
_META = set("\\.^$|?*+()[]{}")


@dataclass(frozen=True)
class Frag:
    """A regex, the most bytes it can match (None: unbounded) and its unrolled size."""

    re: str
    max: int | None
    size: int = -1  # -1: the length of ``re``
    atom: bool = False  # known to be one unit that a quantifier can follow (a group, a class)
    depth: int = -1  # how deeply groups nest in ``re`` (-1: count them)

    def __post_init__(self) -> None:
        if self.size < 0:
            object.__setattr__(self, "size", len(self.re))
        if self.depth < 0:
            object.__setattr__(self, "depth", nesting_depth(self.re))


EMPTY = Frag("", 0, 0, False, 0)


def literal(text: str) -> Frag:
    """A fragment matching exactly ``text``."""
    return Frag("".join("\\" + c if c in _META else c for c in text), len(text.encode("utf-8")))


def json_literal(value: Any) -> Frag:
    """A fragment matching the compact JSON encoding of ``value``."""
    return literal(compact_json(value))


def seq(*parts: Frag) -> Frag:
    """Concatenation."""
    total: int | None = 0
    for p in parts:
        total = None if total is None or p.max is None else total + p.max
    return Frag("".join(p.re for p in parts), total, sum(p.size for p in parts), False, max((p.depth for p in parts), default=0))


def alt(*parts: Frag) -> Frag:
    """Alternation (duplicates removed, order kept)."""
    unique = list(dict.fromkeys(parts))
    if len(unique) == 1:
        return unique[0]
    maxes = [p.max for p in unique]
    regex = "(?:" + "|".join(p.re for p in unique) + ")"
    size = sum(p.size for p in unique) + len(unique) + 3
    return Frag(regex, None if None in maxes else max(maxes), size, True, 1 + max(p.depth for p in unique))  # type: ignore[type-var]


def repeat(part: Frag, lo: int, hi: int | None) -> Frag:
    """``part`` repeated lo..hi times (hi None: unbounded)."""
    if lo == hi == 1:
        return part
    if hi == 0:
        return EMPTY
    wrapped = not (part.atom or (len(part.re) <= 64 and _is_atom(part.re)))
    body = f"(?:{part.re})" if wrapped else part.re
    depth = part.depth + wrapped
    if hi is None:
        suffix = "*" if lo == 0 else "+" if lo == 1 else f"{{{lo},}}"
        return Frag(body + suffix, None if part.max else 0, part.size * max(lo, 1) + 5, False, depth)
    suffix = "?" if (lo, hi) == (0, 1) else f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"
    return Frag(body + suffix, None if part.max is None else part.max * hi, part.size * hi + 5, False, depth)


def optional(part: Frag) -> Frag:
    return repeat(part, 0, 1)


def _is_atom(regex: str) -> bool:
    if len(regex) == 1 or (len(regex) == 2 and regex[0] == "\\"):
        return True
    if regex.startswith("[") and _class_end(regex) == len(regex) - 1:
        return True
    return regex.startswith("(?:") and _closing_paren(regex) == len(regex) - 1


def _class_end(regex: str) -> int:
    """Index of the ``]`` closing the class that starts ``regex``."""
    i = 2 if regex.startswith("[^") else 1
    while i < len(regex):
        if regex[i] == "\\":
            i += 2
            continue
        if regex[i] == "]":
            return i
        i += 1
    return -1


def _paren_depths(regex: str) -> Iterator[tuple[int, int]]:
    """``(index, depth after it)`` for each group parenthesis of ``regex`` (escapes and classes skipped)."""
    depth = i = 0
    while i < len(regex):
        c = regex[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = i + _class_end(regex[i:]) + 1
            continue
        if c in "()":
            depth += 1 if c == "(" else -1
            yield i, depth
        i += 1


def _closing_paren(regex: str) -> int:
    return next((i for i, depth in _paren_depths(regex) if depth == 0), -1)


def nesting_depth(regex: str) -> int:
    """The deepest group nesting in ``regex`` (regex parsers limit it, e.g. 250 in Rust's)."""
    return max((depth for _, depth in _paren_depths(regex)), default=0)


# --- JSON strings --------------------------------------------------------------------------

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


# --- JSON containers -------------------------------------------------------------------------

_COMMA = literal(",")


def object_members(members: list[tuple[bool, Frag]], start_size: int) -> Frag:
    """The text between an object's braces: ``(required, "name":value)`` members in this order.

    Optional members may be left out and commas stay right, in size linear in the members:
    before the first required member each optional one is ``(?:m,)?``, after it ``(?:,m)?``.
    When every member is optional the object may start at any of its first members, as many
    as ``start_size`` allows (each start repeats the rest); later ones only follow those.
    """
    steps = [seq(_COMMA, m) if required else optional(seq(_COMMA, m)) for required, m in members]
    first = next((i for i, (required, _) in enumerate(members) if required), None)
    if first is not None:
        head = [optional(seq(m, _COMMA)) for _, m in members[:first]]
        return seq(*head, members[first][1], *steps[first + 1:])
    suffix = [0] * (len(members) + 1)
    for i in range(len(members) - 1, -1, -1):
        suffix[i] = suffix[i + 1] + steps[i].size
    starts: list[Frag] = []
    spent = 0
    for i, (_, member) in enumerate(members):
        cost = member.size + suffix[i + 1]
        if starts and spent + cost > start_size:
            break
        starts.append(seq(member, *steps[i + 1:]))
        spent += cost
    return optional(alt(*starts)) if starts else EMPTY


def array_items(head: list[Frag], lo: int, item: Frag | None, tail_lo: int, tail_hi: int | None) -> Frag:
    """The text between an array's brackets: the prefix items (those past ``lo`` optional), then
    ``tail_lo..tail_hi`` more of ``item`` (None: no more items)."""
    if item is None or tail_hi == 0:
        tail = EMPTY
    else:
        tail = repeat(seq(_COMMA, item), tail_lo, tail_hi)
    if not head:
        if tail is EMPTY:
            return EMPTY
        body = seq(item, repeat(seq(_COMMA, item), max(0, tail_lo - 1), None if tail_hi is None else tail_hi - 1))  # type: ignore[arg-type]
        return body if tail_lo > 0 else optional(body)
    rest = tail
    for i in range(len(head) - 1, 0, -1):  # after element i-1: element i (optional past lo), then the rest
        step = seq(_COMMA, head[i], rest)
        rest = step if i < lo else optional(step)
    first = seq(head[0], rest)
    return first if lo > 0 else optional(first)


def any_value(depth: int, string: Frag, items: int | None) -> Frag:
    """Any JSON value nested at most ``depth`` containers deep, with strings like ``string`` and
    at most ``items`` elements or members per container (None: any number)."""
    scalar = alt(string, decimal_range(None, None), Frag("(?:true|false|null)", 5))  # type: ignore[arg-type]
    if depth <= 0:
        return scalar
    inner = any_value(depth - 1, string, items)
    pair = seq(string, literal(":"), inner)
    array = seq(literal("["), array_items([], 0, inner, 0, items), literal("]"))
    obj = seq(literal("{"), array_items([], 0, pair, 0, items), literal("}"))
    return alt(scalar, array, obj)


# --- character classes -----------------------------------------------------------------------

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


# --- numbers -------------------------------------------------------------------------------

def _digit_class(lo: str, hi: str) -> str:
    return lo if lo == hi else f"[{lo}-{hi}]"


def _any_digits(n: int) -> str:
    return "" if n == 0 else "[0-9]" if n == 1 else f"[0-9]{{{n}}}"


def _same_length_range(a: str, b: str) -> str:
    """Regex for decimal strings of equal length n with a <= x <= b (digit-wise, leading zeros kept)."""
    n = len(a)
    if a == b:
        return a
    if a[0] == b[0]:
        return a[0] + _same_length_range(a[1:], b[1:])
    if a[1:] == "0" * (n - 1) and b[1:] == "9" * (n - 1):
        return _digit_class(a[0], b[0]) + _any_digits(n - 1)
    parts = [a[0] + _group(_same_length_range(a[1:], "9" * (n - 1)))]
    if int(b[0]) - int(a[0]) > 1:
        parts.append(_digit_class(str(int(a[0]) + 1), str(int(b[0]) - 1)) + _any_digits(n - 1))
    parts.append(b[0] + _group(_same_length_range("0" * (n - 1), b[1:])))
    return "(?:" + "|".join(parts) + ")"


def _group(regex: str) -> str:
    return regex if "|" not in regex or _is_atom(regex) else f"(?:{regex})"


@lru_cache(maxsize=4096)
def natural_range(lo: int, hi: int) -> Frag:
    """Canonical decimal integers (no leading zeros) in [lo, hi], 0 <= lo <= hi."""
    if lo == 0:
        return literal("0") if hi == 0 else alt(literal("0"), natural_range(1, hi))
    parts = []
    length, last = len(str(lo)), len(str(hi))
    while length <= last:
        low = lo if length == len(str(lo)) else 10 ** (length - 1)
        high = hi if length == last else 10**length - 1
        if low == 10 ** (length - 1) and high == 10**length - 1:  # every number of this length
            end = length
            while end < last and (end + 1 < last or hi == 10**last - 1):
                end += 1
            tail = "" if end == 1 else f"[0-9]{{{length - 1},{end - 1}}}" if end > length else _any_digits(length - 1)
            parts.append(Frag("[1-9]" + tail, end))
            length = end + 1
        else:
            parts.append(Frag(_same_length_range(str(low), str(high)), length))
            length += 1
    return alt(*parts)


def _clip(lo: int | None, hi: int | None, big: int) -> tuple[int, int]:
    """Missing bounds become +-big; a given bound is pulled in to +-big when that keeps the range."""
    lo = -big if lo is None else lo if lo < -big and (hi is None or hi < -big) else max(lo, -big)
    hi = big if hi is None else hi if hi > big and lo > big else min(hi, big)
    return lo, hi


@lru_cache(maxsize=4096)
def integer_range(lo: int | None, hi: int | None) -> Frag | None:
    """JSON integers in [lo, hi] (missing bounds: MAX_INT_DIGITS digits); None if empty."""
    if lo is not None and hi is not None and lo > hi:
        return None
    lo, hi = _clip(lo, hi, _BIG)
    parts = []
    if lo < 0:
        parts.append(seq(literal("-"), natural_range(max(1, -hi), -lo)))
    if hi >= 0:
        parts.append(natural_range(max(lo, 0), hi))
    return alt(*parts)


_ANY_FRACTION = Frag(f"(?:\\.[0-9]{{1,{MAX_FRACTION_DIGITS}}})?", MAX_FRACTION_DIGITS + 1, 20)


def _fraction(lo: int, hi: int) -> Frag:
    """An optional fraction ``.d{1,6}`` whose value, in units, lies in [lo, hi] (0 <= lo <= hi < unit)."""
    if lo == 0 and hi == _UNIT - 1:
        return _ANY_FRACTION
    n = MAX_FRACTION_DIGITS
    fraction = seq(literal("."), Frag(_padded_digits(str(lo).zfill(n), str(hi).zfill(n)), n))
    return optional(fraction) if lo == 0 else fraction


def _padded_digits(a: str, b: str) -> str:
    """Regex for 1..n digits whose zero-padded n-digit value lies in [a, b] (equal-length strings)."""
    n = len(a)
    if a[0] == b[0]:
        return a[0] + _padded_tail(a[1:], b[1:])
    low_free, high_free = set(a[1:]) <= {"0"}, set(b[1:]) <= {"9"}  # any tail keeps that edge in range
    first, last = int(a[0]) + (not low_free), int(b[0]) - (not high_free)
    parts = [] if low_free else [a[0] + _padded_tail(a[1:], "9" * (n - 1))]
    if first <= last:
        parts.append(_digit_class(str(first), str(last)) + (f"[0-9]{{0,{n - 1}}}" if n > 1 else ""))
    if not high_free:
        parts.append(b[0] + _padded_tail("0" * (n - 1), b[1:]))
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


def _padded_tail(a: str, b: str) -> str:
    """Like :func:`_padded_digits` for 0..n digits: no digits at all is the value zero."""
    if not a:
        return ""
    zero_ok = set(a) == {"0"}
    if zero_ok and set(b) == {"9"}:
        return f"[0-9]{{0,{len(a)}}}"
    body = _padded_digits(a, b)
    if not zero_ok:
        return body if "|" not in body or _is_atom(body) else f"(?:{body})"
    return f"{body}?" if _is_atom(body) else f"(?:{body})?"


def _magnitudes(lo: int, hi: int) -> Frag:
    """Decimal texts without sign whose value, in units, lies in [lo, hi] (0 <= lo <= hi)."""
    int_lo, frac_lo = divmod(lo, _UNIT)
    int_hi, frac_hi = divmod(hi, _UNIT)
    if int_lo == int_hi:
        return seq(natural_range(int_lo, int_lo), _fraction(frac_lo, frac_hi))
    parts = [seq(natural_range(int_lo, int_lo), _fraction(frac_lo, _UNIT - 1))]
    if int_lo + 1 <= int_hi - 1:
        parts.append(seq(natural_range(int_lo + 1, int_hi - 1), _ANY_FRACTION))
    parts.append(seq(natural_range(int_hi, int_hi), _fraction(0, frac_hi)))
    return alt(*parts)


@lru_cache(maxsize=4096)
def decimal_range(lo: int | None, hi: int | None) -> Frag | None:
    """JSON numbers (no exponent, at most MAX_FRACTION_DIGITS decimals) in [lo, hi] units; None if empty."""
    if lo is not None and hi is not None and lo > hi:
        return None
    lo, hi = _clip(lo, hi, (_BIG + 1) * _UNIT - 1)
    parts = []
    if hi >= 0:
        parts.append(_magnitudes(max(lo, 0), hi))
    if lo < 0 and -lo >= max(1, -hi):  # no "-0": negative magnitudes start at one unit
        parts.append(seq(literal("-"), _magnitudes(max(1, -hi), -lo)))
    return alt(*parts)


@dataclass(frozen=True)
class Bound:
    """A numeric bound: the exact value of the (float or int) the validator compares with."""

    value: Fraction
    strict: bool


def number_bounds(schema: dict[str, Any]) -> tuple[Bound | None, Bound | None]:
    """The tightest lower and upper bound from minimum/maximum/exclusive* (draft-4 booleans too)."""
    lower: Bound | None = None
    upper: Bound | None = None
    for key, is_low in (("minimum", True), ("exclusiveMinimum", True), ("maximum", False), ("exclusiveMaximum", False)):
        value = schema.get(key)
        strict = key.startswith("exclusive")
        if isinstance(value, bool):  # draft 4: exclusiveMinimum: true qualifies minimum
            value, strict = (schema.get("minimum" if is_low else "maximum"), True) if value else (None, False)
        if not _is_finite(value):
            continue
        bound = Bound(Fraction(value), strict)
        if is_low and (lower is None or (bound.value, bound.strict) > (lower.value, lower.strict)):
            lower = bound
        if not is_low and (upper is None or (bound.value, not bound.strict) < (upper.value, not upper.strict)):
            upper = bound
    return lower, upper


def _is_finite(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def integer_limits(lower: Bound | None, upper: Bound | None) -> tuple[int | None, int | None]:
    """The integer range that satisfies the bounds (Python compares int and float exactly)."""
    lo = None if lower is None else math.floor(lower.value) + 1 if lower.strict else math.ceil(lower.value)
    hi = None if upper is None else math.ceil(upper.value) - 1 if upper.strict else math.floor(upper.value)
    return lo, hi


def unit_limits(lower: Bound | None, upper: Bound | None) -> tuple[int | None, int | None]:
    """The range, in units, of decimal texts whose *parsed* value (float, or int) passes the bounds.

    Each bound is first moved to the nearest double that passes it, then to the outermost unit
    whose text parses to at least (at most) that double; texts further in parse further in too,
    since rounding a decimal to a double is monotonic.
    Raises OverflowError for bounds beyond the range of doubles.
    """
    lo = hi = None
    if lower is not None:
        edge = _passing_double(lower, low=True)
        lo = math.floor(edge * _UNIT)
        if Fraction(float(Fraction(lo, _UNIT))) < edge:
            lo += 1
    if upper is not None:
        edge = _passing_double(upper, low=False)
        hi = math.ceil(edge * _UNIT)
        if Fraction(float(Fraction(hi, _UNIT))) > edge:
            hi -= 1
    return lo, hi


def _passing_double(bound: Bound, low: bool) -> Fraction:
    """The double nearest to the bound (on its allowed side) that the comparison accepts."""
    value = float(bound.value)
    while True:
        exact = Fraction(value)
        passes = exact > bound.value if low else exact < bound.value
        if passes or (exact == bound.value and not bound.strict):
            return exact
        value = math.nextafter(value, math.inf if low else -math.inf)


# --- formats -------------------------------------------------------------------------------

_DATE = (
    r"[12][0-9]{3}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
)
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,3})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,14}[a-z0-9])?"
_TLD = r"[a-z]{2,8}"
_HOST = f"(?:{_LABEL}\\.){{1,3}}{_TLD}"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PATH = r"(?:/[a-zA-Z0-9._~-]{1,24}){0,4}"
_EMAIL = r"[a-z0-9](?:[a-z0-9._+-]{0,30}[a-z0-9])?@" + _HOST
_URI = f"https?://{_HOST}{_PATH}"
_URI_REF = f"(?:https?://{_HOST})?{_PATH}"

# Compact, sound patterns per format: each matches only strings the format checker accepts.
FORMATS: dict[str, str] = {
    "date": _DATE,
    "time": _TIME,
    "date-time": f"{_DATE}T{_TIME}",
    "email": _EMAIL,
    "idn-email": _EMAIL,
    "hostname": _HOST,
    "idn-hostname": _HOST,
    "ipv4": f"{_OCTET}(?:\\.{_OCTET}){{3}}",
    "ipv6": r"[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){7}",
    "uuid": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "uri": _URI,
    "iri": _URI,
    "uri-reference": _URI_REF,
    "iri-reference": _URI_REF,
    "json-pointer": r"(?:/[a-zA-Z0-9_]{1,24}){0,4}",
    "relative-json-pointer": r"(?:0|[1-9][0-9]?)(?:/[a-zA-Z0-9_]{1,24}){0,4}",
    "duration": r"P(?:[1-9][0-9]{0,2}[YMWD]|T[1-9][0-9]{0,2}[HMS])",
}


@lru_cache(maxsize=64)
def format_string(name: str) -> tuple[Frag, tuple[int, int]] | None:
    """A JSON string in the given format and its (min, max) length in characters; None if unknown."""
    pattern = FORMATS.get(name)
    if pattern is None:
        return None
    low, high = sre_parse.parse(pattern).getwidth()  # the patterns are ASCII: characters are bytes
    return quoted(Frag(pattern, high)), (low, high)


# --- JSON Schema patterns ------------------------------------------------------------------

class PatternUnsupportedError(ValueError):
    """The pattern uses something that cannot be expressed in the mask (lookaround, backrefs...)."""


@dataclass(frozen=True)
class PatternLimits:
    """How a pattern is bounded in the mask: every bound narrows the language, never widens it."""

    free_chars: int | None  # an unanchored pattern gets at most this many characters around it (None: unbounded)
    free_repeats: int | None  # `*`/`+` become at most lo + this many repeats (None: unbounded)
    max_repeat: int  # explicit {m,n} upper bounds are cut to this; m beyond it is unsupported


@lru_cache(maxsize=1024)
def pattern_string(pattern: str, limits: PatternLimits, lengths: tuple[int, int | None] = (0, None)) -> tuple[Frag, bool]:
    """A JSON string whose decoded content matches ``pattern`` (Python ``re.search`` semantics,
    which is what the validator runs), and whether all its strings have a length within ``lengths``.

    When the pattern is anchored at both ends, its unbounded repeats are cut so that the
    strings fit ``lengths[1]`` where that is possible.
    """
    items = list(_parse(pattern))
    lo, hi = lengths
    anchored = _is_anchored(items)
    if anchored and hi is not None and _width(_bounded(items, limits))[1] > hi \
            and _width(_bounded(items, replace(limits, free_repeats=0)))[1] <= hi:
        limits = replace(limits, free_repeats=_largest_fitting(items, limits, hi))
    bounded = _bounded(items, limits)
    free = repeat(STRING_CHAR, 0, limits.free_chars)
    if anchored:
        low, high = _width(bounded)
        fits = low >= lo and (hi is None or high <= hi)
    else:
        fitted = _fitted_free(bounded, limits.free_chars, lo, hi)
        fits = fitted is not None
        free = fitted or free
    return quoted(_Emitter(free).anchored(bounded)), fits


def _fitted_free(items: list, free_chars: int | None, lo: int, hi: int | None) -> Frag | None:
    """Free text around an unanchored (bounded) pattern sized so that every string has ``lo..hi`` characters.

    With the pattern's matches ``low..high`` long, free text of ``lo - low .. hi - high``
    characters keeps any match within the lengths. None where no such size exists, or where an
    anchored branch could go without the free text the lower length relies on.
    """
    low, high = _width(items)
    least = max(0, lo - low)
    most = None if hi is None else hi - high
    if free_chars is not None:
        most = least + free_chars if most is None else min(most, least + free_chars)
    if (most is not None and most < least) or (least and _has_anchor(items)):
        return None
    return repeat(STRING_CHAR, least, most)


def _has_anchor(items: list) -> bool:
    """Whether an anchor (``^``, ``$``, ``\\b``, ...) occurs anywhere in a parsed pattern."""
    for op, arg in items:
        if op is C.AT:
            return True
        if op is C.BRANCH and any(_has_anchor(list(b)) for b in arg[1]):
            return True
        if op is C.SUBPATTERN and _has_anchor(list(arg[3])):
            return True
        if op in _REPEATS and _has_anchor(list(arg[2])):
            return True
    return False


def _largest_fitting(items: list, limits: PatternLimits, most: int) -> int:
    """The largest allowance for unbounded repeats whose strings are at most ``most`` long."""
    bottom, top = 0, most if limits.free_repeats is None else limits.free_repeats
    while bottom < top:
        middle = (bottom + top + 1) // 2
        if _width(_bounded(items, replace(limits, free_repeats=middle)))[1] <= most:
            bottom = middle
        else:
            top = middle - 1
    return bottom


def _parse(pattern: str) -> list:
    """The parsed items of a schema ``pattern``, read by the one regex reader (``fsm.read_regex``)."""
    try:
        return read_regex(pattern, lambda items: items)
    except CompileError as exc:
        raise PatternUnsupportedError(f"{exc} in the mask") from None


_STARTS = (C.AT_BEGINNING, C.AT_BEGINNING_STRING)
_ENDS = (C.AT_END, C.AT_END_STRING)
_REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT)


def whole_match(pattern: str) -> bool:
    """Whether ``pattern`` is anchored at both ends (``^...$``), so it describes the whole string."""
    try:
        return _is_anchored(list(_parse(pattern)))
    except PatternUnsupportedError:
        return False


def _is_anchored(items: list) -> bool:
    return (len(items) >= 2 and items[0][0] is C.AT and items[0][1] in _STARTS
            and items[-1][0] is C.AT and items[-1][1] in _ENDS)


def _width(items: list) -> tuple[int, int]:
    """(min, max) characters matched by a parsed sequence (anchors match none)."""
    try:
        return _sub(items).getwidth()
    except IndexError:  # a backreference: its width is the group's, which a bare SubPattern does not know
        raise PatternUnsupportedError("backreferences are not supported in the mask") from None


def _sub(items: list) -> Any:
    return sre_parse.SubPattern(sre_parse.State(), items)


def _bounded(items: list, limits: PatternLimits) -> list:
    """The parsed pattern with every repeat bounded as ``limits`` say (a narrower language)."""
    out = []
    for op, arg in items:
        if op is C.BRANCH:
            arg = (arg[0], [_sub(_bounded(list(b), limits)) for b in arg[1]])
        elif op is C.SUBPATTERN:
            arg = (*arg[:3], _sub(_bounded(list(arg[3]), limits)))
        elif op in _REPEATS:
            lo, hi, body = arg
            if lo > limits.max_repeat:
                raise PatternUnsupportedError(f"a repeat of at least {lo} is longer than the mask allows ({limits.max_repeat})")
            if hi is C.MAXREPEAT:
                hi = hi if limits.free_repeats is None else lo + limits.free_repeats
            else:
                hi = min(hi, max(lo, limits.max_repeat))
            arg = (lo, hi, _sub(_bounded(list(body), limits)))
        out.append((op, arg))
    return out


# Python's \d, \w, \s are Unicode-aware; the mask uses their ASCII part (a subset, so sound).
_ASCII: Ranges = [(0x20, 0x7E)]  # where complements of Unicode categories are taken (sound)


class _Emitter:
    """Translate a parsed (and bounded) pattern into a fragment over JSON string text."""

    def __init__(self, free: Frag) -> None:
        self.free = free

    def anchored(self, items: list, left: bool = True, right: bool = True) -> Frag:
        """A sequence, with free text after it unless anchored by ``$``, or else before it unless
        anchored by ``^``. Never on both sides: ``free P free`` makes automata track every place
        P might have matched (exponentially many states); ``P free`` still contains a match."""
        if items and items[0][0] is C.AT and items[0][1] in _STARTS:
            items, left = items[1:], False
        if items and items[-1][0] is C.AT and items[-1][1] in _ENDS:
            items, right = items[:-1], False
        if len(items) == 1 and items[0][0] is C.BRANCH:
            return alt(*(self.anchored(list(b), left, right) for b in items[0][1][1]))
        if _has_anchor(items):  # `$` inside, as in ^([^,]+(,|$)){3,}$: matches that use it end the string
            through, ending = self.ending(items)
            parts = [] if through is None else [seq(through, self.free) if right else through]
            parts += [] if ending is None else [ending]
            if not parts:
                raise PatternUnsupportedError("no string matches the pattern")
            body = alt(*parts)
            return seq(self.free, body) if left and not right else body
        body = self.emit(items)
        if right:
            return seq(body, self.free)
        return seq(self.free, body) if left else body

    def ending(self, items: list) -> tuple[Frag | None, Frag | None]:
        """A sequence with end anchors inside, as two fragments: the matches that use no ``$``,
        and those that use one (nothing may follow them). None stands for no match at all."""
        through: Frag | None = EMPTY
        ending: Frag | None = None
        for op, arg in items:
            item_through, item_ending = self.ending_one(op, arg)
            after_end = ending if ending is not None and _width([(op, arg)])[0] == 0 else None  # must match empty
            via_item = None if through is None or item_ending is None else seq(through, item_ending)
            ending = _alt_of(after_end, via_item)
            through = None if through is None or item_through is None else seq(through, item_through)
        return through, ending

    def ending_one(self, op: Any, arg: Any) -> tuple[Frag | None, Frag | None]:
        if op is C.AT:
            if arg in _ENDS:
                return None, EMPTY
            raise PatternUnsupportedError(f"the anchor {str(arg).lower()} is only supported at the start")
        if not _has_anchor([(op, arg)]):
            return self.one(op, arg), None
        if op is C.BRANCH:
            pairs = [self.ending(list(b)) for b in arg[1]]
            return _alt_of(*(t for t, _ in pairs)), _alt_of(*(e for _, e in pairs))
        if op is C.SUBPATTERN:
            through, ending = self.ending(_group_items(arg))
            return (None if through is None else _wrap(through)), (None if ending is None else _wrap(ending))
        if op in _REPEATS:
            lo, hi, body = arg
            high = None if hi is C.MAXREPEAT else hi
            through, ending = self.ending(list(body))
            whole = (EMPTY if lo == 0 else None) if through is None else repeat(_wrap(through), lo, high)
            if ending is None or high == 0:
                return whole, None
            # the iteration that meets `$` is the last non-empty one; any after it match empty
            first = 0 if _width(list(body))[0] == 0 else max(0, lo - 1)
            last = None if high is None else high - 1
            if through is None:
                return whole, ending if first == 0 else None
            return whole, seq(repeat(_wrap(through), first, last), ending)
        raise PatternUnsupportedError(f"{str(op).lower()} is not supported in the mask")

    def emit(self, items: list) -> Frag:
        return seq(*(self.one(op, arg) for op, arg in items)) if items else EMPTY

    def one(self, op: Any, arg: Any) -> Frag:
        if op is C.LITERAL:
            return class_of([(arg, arg)])
        if op is C.NOT_LITERAL:
            return class_of(complement([(arg, arg)]))
        if op is C.ANY:
            return class_of(complement([(0x0A, 0x0A)]))
        if op is C.IN:
            return class_of(_class_ranges(arg))
        if op is C.BRANCH:
            return alt(*(self.emit(list(b)) for b in arg[1]))
        if op is C.SUBPATTERN:
            return _wrap(self.emit(_group_items(arg)))
        if op in _REPEATS:
            lo, hi, body = arg
            return repeat(_wrap(self.emit(list(body))), lo, None if hi is C.MAXREPEAT else hi)
        raise PatternUnsupportedError(f"{str(op).lower()} is not supported in the mask")


def _group_items(arg: Any) -> list:
    """The parsed items inside a group, which must carry no inline flags."""
    if arg[1] or arg[2]:
        raise PatternUnsupportedError("inline flags are not supported in the mask")
    return list(arg[3])


def _alt_of(*frags: Frag | None) -> Frag | None:
    """The alternation of the fragments given (None where none is)."""
    present = [f for f in frags if f is not None]
    return alt(*present) if present else None


def _class_ranges(items: list) -> Ranges:
    """Code points of a class, within what is sound: with a category, complements are taken in ASCII."""
    try:
        negate, ranges, has_category = class_items(items, _ASCII)
    except ValueError as exc:
        raise PatternUnsupportedError(f"{exc} in the mask") from None
    if not negate:
        return ranges
    # [^\d] excludes every Unicode digit: only its ASCII complement is known to be safe.
    return subtract(_ASCII if has_category else [(0, MAX_CODE)], ranges)


def _wrap(frag: Frag) -> Frag:
    return frag if frag.atom or _is_atom(frag.re) else Frag(f"(?:{frag.re})", frag.max, frag.size + 4, True, frag.depth + 1)
