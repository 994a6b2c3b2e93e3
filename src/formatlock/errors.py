"""The one exception hierarchy of formatlock, and the records its errors carry.

Every error a caller can meet derives from :class:`FormatlockError`. Each class carries the
CLI exit code it maps to, so the CLI turns any of them into a one-line message and a code
without a traceback. An :class:`EnforcementError` carries each :class:`Attempt` (its
:class:`Issue` list) and where the constraint was :class:`Enforced`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class FormatlockError(Exception):
    """Base class of every formatlock error."""

    exit_code: int = 2


class UsageError(FormatlockError):
    """The caller asked for something that makes no sense (bad option combination, bad value)."""


class SchemaError(FormatlockError):
    """A schema could not be read, parsed or meta-validated, or names a remote `$ref`."""


class ModelError(FormatlockError):
    """A model is unknown, missing, or its file cannot be loaded."""


class InputError(FormatlockError):
    """An input file (documents, prompts) cannot be read."""


class ServerError(FormatlockError):
    """A model server failed: unreachable, timed out, refused the key or the request, or answered
    something that is not a chat completion (after the bounded retries on 429 and 5xx)."""

    exit_code = 3


@dataclass(frozen=True)
class Issue:
    """One validation problem: where (JSON pointer), which keyword, and what."""

    pointer: str
    keyword: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "keyword": self.keyword, "message": self.message}

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"


@dataclass
class Attempt:
    """One try at producing a document: the raw text and what was wrong with it."""

    raw: str
    errors: list[Issue] = field(default_factory=list)
    truncated: bool = False

    @property
    def valid(self) -> bool:
        return not self.errors and not self.truncated


@dataclass(frozen=True)
class Enforced:
    """Where one call's constraint was enforced: ``by`` what, while decoding (``mask``: formatlock's
    mask; ``server:D``: a server in dialect D, ``server:gbnf`` being formatlock's own grammar; ``none``),
    and the keyword uses, (pointer, keyword), that rested on the check after decoding alone
    (``checked``; None where that is not known: it depends on the server's backend or model)."""

    by: str
    checked: tuple[tuple[str, str], ...] | None = ()

    def as_dict(self) -> dict[str, Any]:
        checked = None if self.checked is None else [{"pointer": p, "keyword": k} for p, k in self.checked]
        return {"by": self.by, "checked": checked}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Enforced:
        checked = value.get("checked")
        return cls(str(value["by"]), None if checked is None else tuple((c["pointer"], c["keyword"]) for c in checked))


class EnforcementError(FormatlockError):
    """The guarantee could not be met: no schema-valid output was produced.

    Carries every attempt, the raw text of the last one and its validation errors, so the
    caller can see why.
    """

    exit_code = 1

    def __init__(self, message: str, attempts: list[Attempt] | None = None, *, enforced: Enforced | None = None) -> None:
        super().__init__(message)
        self.attempts: list[Attempt] = list(attempts or [])
        self.enforced = enforced  # where the constraint was enforced, and which keywords rested on the check

    @property
    def last_output(self) -> str | None:
        return self.attempts[-1].raw if self.attempts else None

    @property
    def errors(self) -> list[Issue]:
        return self.attempts[-1].errors if self.attempts else []


class RefusedError(FormatlockError):
    """The constraint cannot be served, so no output was attempted for it: refused before decoding
    (or, for a compile bound hit by the lazily built closing automaton, while decoding).

    Not an :class:`EnforcementError`: ``except EnforcementError`` means "outputs were tried and
    none was valid", and a refusal is a different answer (change the schema, not the prompt).
    """

    exit_code = 1


class UnsupportedSchemaError(RefusedError):
    """The schema uses something generation cannot serve; names the keyword and JSON pointer."""

    def __init__(self, message: str, keyword: str, pointer: str) -> None:
        super().__init__(f"{pointer or '/'}: {keyword}: {message}")
        self.keyword = keyword
        self.pointer = pointer


class CompileError(RefusedError):
    """The constraint could not be compiled within the time or memory bound."""


class DecodingError(EnforcementError):
    """The constrained decoder could not run (e.g. the mask could not be applied)."""
