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
from typing import Any

from ... import settings
from ..models import Model, is_server_ref
from .base import Backend, Decoded, Session

__all__ = ["Backend", "Decoded", "Session", "is_server_ref", "masks_locally", "open_backend"]

_servers: dict[str, Backend] = {}
_servers_lock = threading.Lock()


def masks_locally(ref: Any) -> bool:
    """Whether the backend ``ref`` names is masked by formatlock (so its constraint needs compiling),
    known without opening it."""
    from .outlines_models import is_outlines_model, masked_here  # start-up: only the backend in use loads

    if isinstance(ref, Backend):
        return ref.masks_locally
    if is_outlines_model(ref):
        return masked_here(ref)
    return not is_server_ref(settings.model() if ref is None else ref)


def open_backend(ref: str | os.PathLike[str] | Model | Backend | Any | None = None) -> Backend:
    """The backend a model reference names (``None``: the default local model), opened once per process.

    Also takes a loaded :class:`~formatlock.runtime.models.Model` and Outlines' model objects
    (:mod:`.outlines_models`)."""
    if isinstance(ref, Backend):
        return ref
    if ref is None:
        ref = settings.model()  # FORMATLOCK_MODEL may name a server too
    from .outlines_models import adopt, is_outlines_model  # start-up: only the backend in use loads

    if is_outlines_model(ref):
        return adopt(ref)
    if is_server_ref(ref):
        from .server import Server  # start-up: only the backend in use loads

        with _servers_lock:
            if ref not in _servers:
                _servers[ref] = Server.from_ref(ref)
            return _servers[ref]
    from .local import Local  # start-up: only the backend in use loads

    return Local.open(ref)
