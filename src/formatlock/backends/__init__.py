"""Where a model runs: one module per backend, behind one seam.

Generation, probe, export, ``@enforce`` and ``bench`` ask :func:`open_backend` for the model a
reference names and then talk only to :class:`Backend`. A reference that starts with ``http://``
or ``https://`` names an OpenAI-compatible server (:mod:`.server`); anything else a local GGUF
run by llama.cpp in this process (:mod:`.local`, the default). A new backend is one new module
and one branch in :func:`open_backend`. Whatever a backend returns is validated by the caller:
no backend is trusted to enforce a constraint on its own.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..constraints import Constraint
    from ..errors import Attempt
    from ..models import Model
    from ..prompting import Prompt

SERVER_SCHEMES = ("http://", "https://")


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

    @property
    def local_model(self) -> Model | None:
        """The in-process model, if this backend has one (its tokenizer counts tokens for datasets)."""
        return None


_servers: dict[str, Backend] = {}
_servers_lock = threading.Lock()


def is_server_ref(ref: Any) -> bool:
    """Whether ``ref`` names an OpenAI-compatible server."""
    return isinstance(ref, str) and ref.lower().startswith(SERVER_SCHEMES)


def masks_locally(ref: Any) -> bool:
    """Whether the backend ``ref`` names is masked by formatlock (so its constraint needs compiling),
    known without opening it."""
    if isinstance(ref, Backend):
        return ref.masks_locally
    if type(ref).__module__.startswith("outlines.models."):
        return type(ref).__name__ == "LlamaCpp"
    return not is_server_ref(ref)


def open_backend(ref: str | os.PathLike[str] | Model | Backend | Any | None = None) -> Backend:
    """The backend a model reference names (``None``: the default local model), opened once per process.

    Also takes a loaded :class:`~formatlock.models.Model` and Outlines' model objects
    (:mod:`.outlines_models`)."""
    if isinstance(ref, Backend):
        return ref
    from .outlines_models import adopt, is_outlines_model

    if is_outlines_model(ref):
        return adopt(ref)
    if is_server_ref(ref):
        from .server import Server

        with _servers_lock:
            if ref not in _servers:
                _servers[ref] = Server.from_ref(ref)
            return _servers[ref]
    from .local import Local

    return Local.open(ref)
