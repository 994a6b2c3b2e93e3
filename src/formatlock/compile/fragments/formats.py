"""Fragments for the string formats formatlock masks (dates, times, e-mail, URIs, ...): each a
sound subset of what the format checker accepts."""

from __future__ import annotations

import re._parser as sre_parse
from functools import lru_cache

from .base import Frag
from .strings import quoted

# -- formats -------------------------------------------------------------------------------

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
