"""Every ``FORMATLOCK_*`` environment variable, in one place, read when it is needed and validated.

A bad value is a :class:`~formatlock.errors.UsageError` naming the variable, at the moment it is
used, never a failure at import. Values are read at each use (not cached at import), so a
process or a test that changes the environment is seen.

==================================  ==============================================  ==================
variable                            meaning                                         default
==================================  ==============================================  ==================
``FORMATLOCK_MODEL``                the default model reference                     ``smollm2``
``FORMATLOCK_HOME``                 data directory (the call log)                   ``~/.local/share/formatlock``
``FORMATLOCK_CACHE``                cache directory (closing-automaton snapshots)   ``$XDG_CACHE_HOME/formatlock``
``FORMATLOCK_THREADS``              llama.cpp threads                               ``auto``: cores others leave free
``FORMATLOCK_EXTRA_BUFFERS``        llama.cpp extra CPU buffer types (``auto``,     ``auto``
                                    ``on``, ``off``; AMX, repacked weights)
``FORMATLOCK_TIMEOUT``              seconds per output, all attempts                300
``FORMATLOCK_SERVER_TIMEOUT``       seconds a server may take to answer a request   120
``FORMATLOCK_SERVER_CONNECT_TIMEOUT`` seconds to connect to a server               5
``FORMATLOCK_API_KEY``              the key sent to a model server                  none
==================================  ==============================================  ==================
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UsageError

DEFAULT_MODEL = "smollm2"
MAX_THREADS = 512  # ggml's GGML_MAX_N_THREADS: more crashes llama.cpp


def model() -> str:
    """The model used when none is named."""
    return os.environ.get("FORMATLOCK_MODEL") or DEFAULT_MODEL


def home() -> Path:
    """formatlock's data directory."""
    configured = os.environ.get("FORMATLOCK_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".local" / "share" / "formatlock"


def cache_dir() -> Path:
    """Where caches go."""
    configured = os.environ.get("FORMATLOCK_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "formatlock"


def cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity call (macOS)
        return max(1, os.cpu_count() or 1)


def threads() -> int | None:
    """llama.cpp threads fixed by ``FORMATLOCK_THREADS``; ``None`` (unset or ``auto``) lets the
    runtime follow the load (see :mod:`formatlock.runtime.threads`)."""
    text = os.environ.get("FORMATLOCK_THREADS", "").strip()
    if not text or text.lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"FORMATLOCK_THREADS must be a whole number or auto, not {text!r}") from None
    if not 1 <= value <= MAX_THREADS:
        raise UsageError(f"FORMATLOCK_THREADS must be from 1 to {MAX_THREADS} (llama.cpp's limit), not {text!r}")
    return value


EXTRA_BUFFER_MODES = ("auto", "on", "off")


def extra_buffers() -> str:
    """``FORMATLOCK_EXTRA_BUFFERS``: ``auto`` (check AMX once per host), ``on`` or ``off``."""
    text = (os.environ.get("FORMATLOCK_EXTRA_BUFFERS") or "auto").strip().lower()
    if text not in EXTRA_BUFFER_MODES:
        raise UsageError(f"FORMATLOCK_EXTRA_BUFFERS must be one of {', '.join(EXTRA_BUFFER_MODES)}, "
                         f"not {os.environ['FORMATLOCK_EXTRA_BUFFERS']!r}")
    return text


def timeout() -> float:
    """Seconds per output, all its attempts included."""
    return seconds("FORMATLOCK_TIMEOUT", 300.0)


def server_timeout() -> float:
    return seconds("FORMATLOCK_SERVER_TIMEOUT", 120.0)


def server_connect_timeout() -> float:
    return seconds("FORMATLOCK_SERVER_CONNECT_TIMEOUT", 5.0)


def api_key(host: str | None) -> str | None:
    """The key for a server at ``host``: ``FORMATLOCK_API_KEY``, or ``OPENAI_API_KEY`` for
    api.openai.com only (so an OpenAI key is never sent to another host)."""
    key = os.environ.get("FORMATLOCK_API_KEY")
    if key:
        return key
    return os.environ.get("OPENAI_API_KEY") if host == "api.openai.com" else None


def seconds(name: str, default: float) -> float:
    """A positive number of seconds from ``name``, else ``default``."""
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{name} must be a number of seconds, not {text!r}") from None
    if not value > 0:
        raise UsageError(f"{name} must be above 0, not {text!r}")
    return value
