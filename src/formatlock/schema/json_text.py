"""The one JSON reader and writer for documents: strict JSON (RFC 8259) in, the same numbers out.

Every document that enters formatlock (``validate``'s files, model outputs, ``@enforce.output``'s
text, the call log) is read here, so one rule holds everywhere:

- ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON: the text is not a document.
- A number too large for a float (``1e400``) is still a JSON number: it is kept exactly, as a
  :class:`~decimal.Decimal`, and judged by the schema like any other number (never as ``null``).
- An integer of more digits than Python converts (4,300 by default) is refused with that reason,
  as a document error, never an untyped ``ValueError`` from deep inside.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import sys
from decimal import Decimal
from typing import Any


class NotJSONError(ValueError):
    """Text that ``json`` would parse but strict JSON does not allow, or a number too long to read."""


def _constant(name: str) -> Any:
    raise NotJSONError(f"{name} is not a JSON number")


def _float(text: str) -> float | Decimal:
    value = float(text)
    return value if math.isfinite(value) else Decimal(text)


def _int(text: str) -> int:
    limit = sys.get_int_max_str_digits()
    if limit and len(text.lstrip("-")) > limit:
        raise NotJSONError(f"an integer of {len(text.lstrip('-'))} digits; formatlock reads at most {limit}")
    return int(text)


DECODER = json.JSONDecoder(parse_constant=_constant, parse_float=_float, parse_int=_int)


def loads(text: str | bytes) -> Any:
    """The value of strict JSON ``text``. Raises :class:`json.JSONDecodeError` for text that is not
    JSON, :class:`NotJSONError` for what only Python's ``json`` accepts, ``RecursionError`` for nesting
    deeper than Python's stack."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return DECODER.decode(text)


def why_not(exc: BaseException) -> str:
    """One line for a failure of :func:`loads` (without the position, which callers word themselves)."""
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    if isinstance(exc, RecursionError):
        return "nesting too deep"
    return str(exc)


ERRORS = (json.JSONDecodeError, NotJSONError, RecursionError)  # what loads raises for a text that is no document

_MARK = f"\x00{secrets.token_hex(8)}:"  # stands for an exact number while json.dumps writes the rest
_MARKED = re.compile(re.escape(json.dumps(_MARK)[:-1]) + r"([^\"\\]+)\"")


def _exact(value: Any) -> str:
    if isinstance(value, Decimal):
        return _MARK + str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    """Compact JSON text for ``value`` (non-ASCII kept); exact numbers (:class:`~decimal.Decimal`)
    are written as the numbers they are. Raises ``ValueError`` for NaN and infinite floats."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_exact)
    return _MARKED.sub(r"\1", text) if _MARK[1:] in text else text
