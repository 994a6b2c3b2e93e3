"""Outlines' model objects as formatlock backends, so Outlines code gets the guarantee by changing one call.

``outlines.from_llamacpp(llm)`` becomes the local backend on that same ``Llama`` (masked by
formatlock, not by Outlines); ``outlines.from_openai(client, name)`` and
``outlines.from_vllm(client, name)`` become the server backend on the client's URL and key.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ...errors import UsageError
from .base import Backend


def is_outlines_model(obj: Any) -> bool:
    """Whether ``obj`` is one of Outlines' model objects (known without importing Outlines)."""
    return type(obj).__module__.startswith("outlines.models.")


def masked_here(model: Any) -> bool:
    """Whether formatlock masks this Outlines model itself (a local ``Llama``), known without adopting it."""
    return type(model).__name__ == "LlamaCpp"


def adopt(model: Any) -> Backend:
    """The backend that serves what an Outlines model object points at."""
    kind = type(model).__name__
    if masked_here(model):
        from ..models import Model  # start-up: only the backend in use loads
        from .local import Local  # start-up: only the backend in use loads

        return Local(Model.adopt(model.model))
    if kind in ("OpenAI", "VLLM"):
        from .server import Server  # start-up: only the backend in use loads

        client = model.client
        url = str(client.base_url)
        dialect = "vllm" if kind == "VLLM" else "openai" if urlsplit(url).hostname == "api.openai.com" else "auto"
        return Server(url, model.model_name, dialect=dialect, api_key=client.api_key)
    raise UsageError(f"formatlock serves Outlines' LlamaCpp, OpenAI and VLLM models, not {kind}: "
                     "pass a model reference (a .gguf path or http://HOST:PORT/v1#NAME) instead")
