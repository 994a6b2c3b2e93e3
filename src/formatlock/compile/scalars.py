"""The compiler's rules for scalars: strings (lengths, ``format``, ``pattern``) and numbers (bounds,
``multipleOf``)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from ..schema.loading import count_keyword
from .compiled import MASK
from .fragments.base import Frag, PatternUnsupportedError, alt, literal
from .fragments.formats import format_string
from .fragments.numbers import decimal_range, integer_limits, integer_range, number_bounds, unit_limits
from .fragments.patterns import pattern_string, whole_match
from .fragments.strings import string_of_length
from .keywords import NUMBER_BOUNDS
from .walk import Walk


class Scalars(Walk):
    """Strings and numbers, on the shared walk."""

    def string(self, schema: dict[str, Any], ptr: str) -> Frag | None:
        lo, hi = count_keyword(schema.get("minLength"), 0), count_keyword(schema.get("maxLength"), None)
        if hi is not None and hi < lo:
            self.fail(ptr, "maxLength", "maxLength is below minLength")
            return None
        special = self.formatted(schema, ptr, lo, hi)
        if special is not None:
            frag, fits = special
            for key in ("minLength", "maxLength"):
                if key in schema:
                    self.masked_if(fits, ptr, key, "format/pattern is masked instead")
            return frag
        cap = self.limits.max_string_length
        if lo > cap:
            self.checked(ptr, "minLength", f"over {cap} characters")
            top = None
            lo = 0
        elif self.limits.free_string_chars is not None and (hi is None or hi > self.limits.free_string_chars):
            return self.bounded_string(schema, ptr, lo)
        elif self.limits.free_string_chars is not None:
            top = hi  # within the string cap: counted in the regex, masked exactly
        else:
            top = hi if hi is not None and hi <= cap else None
        if "minLength" in schema and lo <= cap:
            self.record(ptr, "minLength", MASK)
        if "maxLength" in schema:
            self.masked_if(top is not None, ptr, "maxLength", f"over {cap} characters")
        return string_of_length(lo, top)

    def bounded_string(self, schema: dict[str, Any], ptr: str, lo: int) -> Frag:
        """A string of at least ``lo`` characters, left to the string cap (under any maxLength)."""
        if "minLength" in schema:
            self.record(ptr, "minLength", MASK)
        if "maxLength" in schema:
            self.record(ptr, "maxLength", MASK, f"closed by the decoder at {self.limits.free_string_chars} characters")
        return self.free_string(lo)

    def formatted(self, schema: dict[str, Any], ptr: str, lo: int, hi: int | None) -> tuple[Frag, bool] | None:
        """The string fragment a format or pattern gives, and whether it keeps to the lengths."""
        fmt = schema.get("format")
        known = format_string(fmt) if isinstance(fmt, str) else None
        by_format = None
        if known is not None:
            frag, (low, high) = known
            by_format = frag, low >= lo and (hi is None or high <= hi)
        by_pattern = None
        # Both must hold; the mask takes one. A pattern anchored at both ends spells out the whole
        # string (usually narrower than the format), else the format is the safer mask.
        if "pattern" in schema and (by_format is None or whole_match(schema["pattern"])):
            try:
                by_pattern = pattern_string(schema["pattern"], self.pattern_limits, (lo, hi))
            except PatternUnsupportedError as exc:
                self.checked(ptr, "pattern", str(exc))
            else:
                self.used_free = self.used_free or self.limits.free_pattern_repeats is not None
                self.record(ptr, "pattern", MASK)
        elif "pattern" in schema:
            self.checked(ptr, "pattern", "the format is masked instead")
        if by_format is not None:
            self.masked_if(by_pattern is None, ptr, "format", "the pattern is masked instead")
        elif isinstance(fmt, str) and fmt not in self.checked_formats:
            self.record(ptr, "format", MASK, "not asserted by the validator: an annotation")
        elif isinstance(fmt, str):
            self.checked(ptr, "format", f"no mask for format {fmt!r}")
        return by_pattern or by_format

    def number(self, schema: dict[str, Any], ptr: str, integer: bool) -> Frag | None:
        lower, upper = number_bounds(schema)
        keys = [k for k in NUMBER_BOUNDS if k in schema]
        step = schema.get("multipleOf")
        if _is_whole(step):
            integer = True  # multiples of a whole step are whole numbers: narrower, still valid
        if integer:
            lo, hi = integer_limits(lower, upper)
            frag = self.multiples(lo, hi, step, ptr) if step is not None else integer_range(lo, hi)
        else:
            if step is not None:
                self.checked(ptr, "multipleOf")
            try:
                frag = decimal_range(*unit_limits(lower, upper))
            except OverflowError:
                frag = None
        for key in keys:
            self.record(ptr, key, MASK)
        if frag is None:
            self.fail(ptr, keys[0] if keys else "multipleOf", "no number within the bounds can be written")
        return frag

    def multiples(self, lo: int | None, hi: int | None, step: Any, ptr: str) -> Frag | None:
        """Integers in [lo, hi] that are multiples of ``step``: listed when few, else checked later."""
        if not _is_whole(step):
            every = _divides_one(step)  # a step like 0.5 divides every integer exactly
            self.masked_if(every, ptr, "multipleOf")
            return integer_range(lo, hi)
        whole = int(step)
        if whole == 1:
            self.record(ptr, "multipleOf", MASK)
            return integer_range(lo, hi)
        if lo is None or hi is None or (hi - lo) // whole + 1 > self.limits.max_listed_multiples:
            self.checked(ptr, "multipleOf", "too many multiples to list")
            return integer_range(lo, hi)
        self.record(ptr, "multipleOf", MASK)
        first = -(-lo // whole) * whole
        values = range(first, hi + 1, whole)
        return alt(*(literal(str(v)) for v in values)) if values else None


def _is_whole(step: Any) -> bool:
    return isinstance(step, (int, float)) and not isinstance(step, bool) and float(step).is_integer() and step > 0


def _divides_one(step: Any) -> bool:
    """Whether ``step`` is 1/2**k, so that every integer (below 2**50) is an exact multiple."""
    if not isinstance(step, float) or step <= 0:
        return False
    inverse = 1 / Fraction(step)
    return inverse.denominator == 1 and inverse.numerator & (inverse.numerator - 1) == 0
