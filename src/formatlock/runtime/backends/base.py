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
from typing import TYPE_CHECKING

from ...errors import Attempt, Enforced
from ..models import Model
from ..prompting import Prompt

if TYPE_CHECKING:  # start-up: the CLI loads this package for --help, and the compiler loads llguidance
    from ...compile.constraints import Constraint


@dataclass
class Decoded:
    """One raw output and how it ended."""

    text: str
    tokens: int
    model_steps: int
    truncated: bool = False
    dead_end: bool = False


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
