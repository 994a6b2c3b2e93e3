"""The seam every backend implements: a session that draws outputs, and free text.

:class:`Decoded` is what a backend returns for one output; the guarantee loop
(:mod:`formatlock.generation`) judges it. Kept apart from the registry (:mod:`formatlock.runtime.backends`)
so that the decoder and each backend import it without importing one another.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...constraints import Constraint
    from ...errors import Attempt
    from ..models import Model
    from ..prompting import Prompt


@dataclass
class Decoded:
    """One raw output and how it ended."""

    text: str
    tokens: int
    model_steps: int
    truncated: bool = False
    dead_end: bool = False


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

    @classmethod
    def compiled(cls, by: str, constraint: Constraint) -> Enforced:
        """Decoding followed the constraint's compiled regex (a mask, or its grammar): what the
        compiler left to the check rests on it."""
        from ...compile.json_regex import left_to_check

        return cls(by, tuple(left_to_check(constraint.uses)))


class Session(ABC):
    """One constraint and one prompt on one backend: draws the outputs the guarantee loop judges."""

    exact: bool = True  # outputs are in the constraint's compiled regex, so its bounds size the token budget
    enforced: Enforced  # where the constraint is enforced, and what rests on the check

    @abstractmethod
    def draw(self, *, max_tokens: int, temperature: float, seed: list[int] | None, deadline: float,
             failed: Attempt | None) -> Decoded:
        """One output. ``seed`` makes it reproducible; ``failed`` is the previous attempt for the
        same output, which a backend may show the model (a server does; a mask does not need to)."""


class Backend(ABC):
    """A place where a model runs."""

    name: str  # shown in results, logs and manifests; never carries a secret
    concurrent: bool = False  # whether several calls may be in flight at once
    constrains: bool = True  # whether outputs are constrained while they are made (else validation and retries only)
    masks_locally: bool = False  # whether formatlock's own mask does the constraining (needs the compiled regex)

    @abstractmethod
    def session(self, constraint: Constraint, prompt: Prompt) -> AbstractContextManager[Session]:
        """A session for outputs of ``constraint`` answering ``prompt``."""

    @abstractmethod
    def free(self, prompt: Prompt, *, instruction: str | None, max_tokens: int, temperature: float,
             seed: int | None, stop: Callable[[str], bool] | None = None) -> Decoded:
        """Unconstrained text for ``prompt`` (what prompting alone gives); ends early once ``stop`` holds."""

    def workers(self, wanted: int) -> int:
        """How many calls to have in flight when ``wanted`` are asked for: one unless ``concurrent``."""
        return wanted if self.concurrent else 1

    @property
    def local_model(self) -> Model | None:
        """The in-process model, if this backend has one (its tokenizer counts tokens for datasets)."""
        return None
