"""What compiling a schema gives: the regex, the most bytes a match has, and how each keyword is
enforced (``mask``, ``resample``: left to the check after decoding, or ``unsupported``), under
which :class:`Limits`. docs/keywords.md explains the limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .unique_arrays import Path

Enforcement = Literal["mask", "resample", "unsupported"]
MASK: Enforcement = "mask"
RESAMPLE: Enforcement = "resample"
UNSUPPORTED: Enforcement = "unsupported"


@dataclass(frozen=True)
class Limits:
    """Bounds on the regex; each one narrows the language (never widens it) or refuses the schema.

    *Sizes* are regex characters with bounded repeats unrolled, about the number of automaton
    states a regex costs (see :attr:`formatlock.compile.fragments.base.Frag.size`).
    """

    max_size: int = 150_000  # the whole regex; past it the limits below are relaxed, then refused
    max_ref_depth: int = 3  # how often one recursive $ref target may be entered on one path
    max_nesting: int = 100  # regex group nesting (parsers limit it: Rust's regex to 250)
    max_string_length: int = 64  # minLength and pattern repeats masked up to this many characters
    # The string cap: the decoder closes every string by this many characters (runtime.string_cap),
    # so the regex leaves a string with no maxLength, or a larger one, unbounded; a maxLength up
    # to it is counted in the regex. None: no cap, and a maxLength over max_string_length is resampled.
    free_string_chars: int | None = 200
    free_pattern_repeats: int | None = None  # `*`/`+` in patterns: at most lo + this repeats (None: the cap)
    free_array_items: int | None = 16  # arrays get at most minItems + this many items
    free_any_chars: int | None = None  # strings in free values ({} / true), free keys, text around
                                       # an unanchored pattern: at most this many characters (None: the cap)
    max_repeat_size: int = 20_000  # unrolled size of one array's items before maxItems is resampled
    max_listed_multiples: int = 256  # integer multipleOf masked by listing up to this many values
    optional_start_size: int = 4_000  # size spent on letting objects start at later optional members
    generic_depth: int = 1  # container depth of values a schema leaves free ({} / true)
    optional_depth: int | None = None  # containers nested deeper hold only what is required


DEFAULT_LIMITS = Limits()
# For engines that build the full token index up front (outlines-core's Index): its cost grows
# with states x vocabulary, so bounded repeats (one state per character) are kept very short.
EAGER_INDEX_LIMITS = Limits(max_size=20_000, max_string_length=8, free_string_chars=None,
                            free_pattern_repeats=None, free_array_items=None, free_any_chars=None,
                            max_repeat_size=2_000, max_listed_multiples=64, optional_start_size=1_000)


@dataclass(frozen=True)
class KeywordUse:
    """How one keyword at one place in the schema is enforced."""

    pointer: str
    keyword: str
    enforcement: Enforcement
    note: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "keyword": self.keyword, "enforcement": self.enforcement, "note": self.note}


@dataclass
class CompiledSchema:
    """The regex for a schema, the most bytes a match can have, and per-keyword enforcement."""

    regex: str | None
    max_bytes: int | None
    uses: list[KeywordUse] = field(default_factory=list)
    size: int = 0  # the regex's unrolled size (about its automaton states)
    string_cap: int | None = None  # the decoder must close every string by this many characters
    unique_arrays: tuple[Path, ...] = ()  # instance paths of arrays whose items the decoder keeps unique

    @property
    def unsupported(self) -> list[KeywordUse]:
        return [u for u in self.uses if u.enforcement == UNSUPPORTED]

    @property
    def fully_masked(self) -> bool:
        """Every match is valid: no keyword is left to the check after decoding."""
        return self.regex is not None and all(u.enforcement == MASK for u in self.uses)


def left_to_check(uses: list[KeywordUse]) -> list[tuple[str, str]]:
    """(pointer, keyword) of every use the mask does not enforce: it rests on the check after decoding."""
    return [(use.pointer, use.keyword) for use in uses if use.enforcement != MASK]
