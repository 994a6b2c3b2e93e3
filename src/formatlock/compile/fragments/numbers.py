"""Fragments for numbers within bounds: integer and decimal ranges written digit by digit, and the
bounds a schema sets (``minimum`` & co.) read exactly."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, TypeGuard

from .base import Frag, alt, is_atom, literal, optional, seq

MAX_INT_DIGITS = 15  # digits of an integer part when the schema gives no bound (exact in a double)
MAX_FRACTION_DIGITS = 6
_UNIT = 10**MAX_FRACTION_DIGITS  # numbers are handled in units of 10**-MAX_FRACTION_DIGITS
_BIG = 10**MAX_INT_DIGITS - 1


# -- numbers -------------------------------------------------------------------------------

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
    return regex if "|" not in regex or is_atom(regex) else f"(?:{regex})"


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
        return body if "|" not in body or is_atom(body) else f"(?:{body})"
    return f"{body}?" if is_atom(body) else f"(?:{body})?"


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
