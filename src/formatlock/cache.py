"""The on-disk cache: pickled work (automaton states) keyed by content hashes, written atomically.

Location: ``$FORMATLOCK_CACHE``, else ``$XDG_CACHE_HOME/formatlock``, else ``~/.cache/formatlock``.
A missing, unreadable or corrupt entry is a cache miss; the cache never breaks generation.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from typing import Any

from . import settings


def key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def load(kind: str, name: str) -> Any:
    path = settings.cache_dir() / kind / f"{name}.pkl"
    try:
        return pickle.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - corrupt or from another version: rebuild, never trust it
        path.unlink(missing_ok=True)
        return None


def store(kind: str, name: str, value: Any) -> None:
    folder = settings.cache_dir() / kind
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".tmp") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(handle.name, folder / f"{name}.pkl")
    except OSError:
        pass  # a read-only or full disk only costs speed
