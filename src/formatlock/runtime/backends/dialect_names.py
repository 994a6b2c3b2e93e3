"""The server dialects by name, apart from what each one sends (:mod:`.dialects`, which loads the
compiler), so that ``formatlock check-schema --help`` can list them at start-up."""

from __future__ import annotations

from ...errors import UsageError

DIALECTS = ("gbnf", "json_schema", "openai", "json_object", "vllm", "none")
AUTO = "auto"


def check_dialect(dialect: str, *, auto: bool = True) -> str:
    """``dialect`` once it is known (``auto`` too, where allowed)."""
    if dialect in DIALECTS or (auto and dialect == AUTO):
        return dialect
    known = ", ".join((AUTO, *DIALECTS) if auto else DIALECTS)
    raise UsageError(f"unknown server dialect {dialect!r}: use one of {known}")
