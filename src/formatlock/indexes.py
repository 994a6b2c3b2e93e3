"""Build token indexes (regex x vocabulary automata) within bounds, and cache them.

An outlines_core ``Index`` can take a lot of memory and time for some regexes. It is built in a
separate worker process under a memory limit and a timeout, so a blow-up becomes a typed
:class:`~formatlock.errors.CompileError` instead of an OOM or a hang. Built indexes are cached in
memory and on disk, keyed by regex and vocabulary.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import threading
from collections import OrderedDict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .errors import CompileError
from .vocabulary import TokenVocabulary

COMPILE_TIMEOUT_S = float(os.environ.get("FORMATLOCK_COMPILE_TIMEOUT", "60"))
COMPILE_MEMORY_BYTES = int(float(os.environ.get("FORMATLOCK_COMPILE_MEMORY_GB", "6")) * 2**30)
_MEMORY_CACHE_SIZE = 32


def cache_dir() -> Path:
    """Where built indexes are kept between processes (``FORMATLOCK_CACHE`` overrides)."""
    base = os.environ.get("FORMATLOCK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "formatlock"
    )
    return Path(base) / "indexes"


def _serve(conn: Connection, memory_bytes: int) -> None:
    """Worker process loop: receive a vocabulary once, then build one index per request."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    from outlines_core import Index, Vocabulary

    eos_id, token_map = conn.recv()
    vocabulary = Vocabulary(eos_id, token_map)
    while True:
        try:
            regex = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", pickle.dumps(Index(regex, vocabulary))))
        except MemoryError:
            conn.send(("error", f"out of memory (limit {memory_bytes // 2**30} GiB)"))
        except Exception as exc:  # outlines_core raises plain ValueError/RuntimeError for bad regexes
            conn.send(("error", str(exc).splitlines()[0] if str(exc) else type(exc).__name__))


class _Worker:
    """One bounded builder process for one vocabulary; restarted after a timeout or crash.

    A plain subprocess (not multiprocessing's spawn), so the caller's ``__main__`` is never
    re-imported in the worker.
    """

    def __init__(self, vocabulary: TokenVocabulary) -> None:
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen(
            [sys.executable, "-c", "import sys; from formatlock.indexes import _main; _main(int(sys.argv[1]))",
             str(theirs.fileno()), str(COMPILE_MEMORY_BYTES)],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        self._conn.send((vocabulary.eos_id, vocabulary.token_map()))

    def build(self, regex: str, timeout: float) -> bytes:
        self._conn.send(regex)
        if not self._conn.poll(timeout):
            self.stop()
            raise CompileError(f"building the token index took longer than {timeout:g} s")
        try:
            status, payload = self._conn.recv()
        except (EOFError, OSError):
            self.stop()
            raise CompileError("the index builder died (memory limit exceeded?)") from None
        if status != "ok":
            raise CompileError(f"cannot build the token index: {payload}")
        return payload

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def stop(self) -> None:
        self._process.kill()
        self._process.wait()
        self._conn.close()


def _main(fd: int) -> None:
    """Entry point of the worker subprocess."""
    _serve(Connection(fd), int(sys.argv[2]))


class IndexCache:
    """Indexes by (vocabulary, regex): memory first, then disk, then a bounded build."""

    def __init__(self) -> None:
        self._memory: OrderedDict[str, Any] = OrderedDict()
        self._workers: dict[str, _Worker] = {}
        self._lock = threading.Lock()

    def get(self, regex: str, vocabulary: TokenVocabulary, timeout: float | None = None) -> Any:
        """The outlines_core Index for ``regex`` over ``vocabulary``; raises CompileError on failure."""
        key = hashlib.sha256(f"{vocabulary.id}\0{regex}".encode()).hexdigest()
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
            index = self._load(key)
            if index is None:
                payload = self._worker(vocabulary).build(regex, timeout or COMPILE_TIMEOUT_S)
                index = pickle.loads(payload)
                self._store(key, payload)
            self._memory[key] = index
            if len(self._memory) > _MEMORY_CACHE_SIZE:
                self._memory.popitem(last=False)
            return index

    def _worker(self, vocabulary: TokenVocabulary) -> _Worker:
        worker = self._workers.get(vocabulary.id)
        if worker is None or not worker.alive:
            worker = self._workers[vocabulary.id] = _Worker(vocabulary)
        return worker

    @staticmethod
    def _load(key: str) -> Any:
        path = cache_dir() / f"{key}.index"
        try:
            return pickle.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except Exception:  # a corrupt or stale cache file is rebuilt, never trusted
            path.unlink(missing_ok=True)
            return None

    @staticmethod
    def _store(key: str, payload: bytes) -> None:
        folder = cache_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".tmp") as handle:
                handle.write(payload)
            os.replace(handle.name, folder / f"{key}.index")
        except OSError:
            pass  # the cache is an optimisation; a read-only home must not break generation


INDEXES = IndexCache()
