"""Checks of the Python API's arguments, worded like the CLI's, so a bad value is a UsageError
naming the argument instead of a TypeError from deep inside."""

from __future__ import annotations

import numbers
from typing import Any

from .errors import UsageError


def whole(name: str, value: Any, minimum: int) -> None:
    """``value`` is None or a whole number (not a bool) of at least ``minimum``."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UsageError(f"{name} must be a whole number, not {value!r}")
    if value < minimum:
        raise UsageError(f"{name} must be at least {minimum}, not {value!r}")


def number(name: str, value: Any, minimum: float) -> None:
    """``value`` is None or a real number (not a bool) of at least ``minimum``."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value:
        raise UsageError(f"{name} must be a number, not {value!r}")
    if value < minimum:
        raise UsageError(f"{name} must be >= {minimum:g}, not {value!r}")


def generation(*, n: Any = 1, max_tokens: Any = None, temperature: Any = None, retries: Any = None,
               seed: Any = None) -> None:
    """The options every generating call shares."""
    whole("n", n, 1)
    whole("max_tokens", max_tokens, 1)
    number("temperature", temperature, 0)
    whole("retries", retries, 0)
    whole("seed", seed, 0)
