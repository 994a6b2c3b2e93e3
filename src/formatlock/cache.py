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
    """A file name for the entry made from ``parts``."""
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def load(kind: str, name: str) -> Any:
    """The value stored under ``kind``/``name``, or None (missing, unreadable, corrupt: a miss)."""
    path = settings.cache_dir() / kind / f"{name}.pkl"
    try:
        return pickle.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - corrupt, from another version, or not a file: rebuild, never trust it
        drop(kind, name)
        return None


def drop(kind: str, name: str) -> None:
    """Forget an entry that turned out unusable (its caller could not use what it held)."""
    try:
        (settings.cache_dir() / kind / f"{name}.pkl").unlink(missing_ok=True)
    except OSError:  # a directory in its place, or a cache path that is not a directory: leave it
        pass


def store(kind: str, name: str, value: Any) -> None:
    folder = settings.cache_dir() / kind
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".tmp") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(handle.name, folder / f"{name}.pkl")
    except OSError:
        pass  # a read-only or full disk only costs speed
