"""Run benchmark jobs in a worker process under a memory limit and a timeout.

Other engines can hang or exhaust memory on real-world schemas; a worker that times out or dies
is replaced, and the job is reported as ``timeout`` or ``crash`` instead of taking the run down.
"""

from __future__ import annotations

import multiprocessing
import resource
from multiprocessing.connection import Connection
from typing import Any

from .. import errors
from ..errors import FormatlockError, ModelError
from .engines import make_engine

_MB = 2**20


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _serve(conn: Connection, engine: str, model: str, memory_mb: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * _MB, memory_mb * _MB))

    try:
        runner = make_engine(engine, model)
    except errors.FormatlockError as exc:  # a bad model or an unreachable server: the whole run's error
        conn.send({"ready": False, "error": type(exc).__name__, "message": str(exc)})
        return
    conn.send({"ready": True})
    while True:
        try:
            method, kwargs = conn.recv()
        except EOFError:
            return
        _reset_peak_rss()
        try:
            result = getattr(runner, method)(**kwargs)
        except MemoryError:
            result = {"error": "out of memory"}
        except Exception as exc:  # noqa: BLE001 - engines raise anything; the benchmark records it

            result = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300],
                      "typed": isinstance(exc, FormatlockError)}
        result["peak_rss_mb"] = round(_peak_rss_mb(), 1)
        conn.send(result)


class Isolated:
    """A restartable worker that holds one engine on one model."""

    def __init__(self, engine: str, model: str, memory_mb: int = 8192, start_timeout: float = 300) -> None:
        self.engine, self.model, self.memory_mb, self.start_timeout = engine, model, memory_mb, start_timeout
        self._process: Any = None
        self._conn: Connection | None = None

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, self.engine, self.model, self.memory_mb), daemon=True)
        self._process.start()
        child.close()
        if not self._conn.poll(self.start_timeout):
            self.stop()
            raise ModelError(f"the {self.engine} path did not start on {self.model} within {self.start_timeout:g} s")
        try:
            started = self._conn.recv()
        except (EOFError, OSError):
            self.stop()
            raise ModelError(f"the {self.engine} path crashed while loading {self.model}") from None
        if not started["ready"]:
            self.stop()
            raise getattr(errors, started["error"], ModelError)(started["message"])

    def call(self, method: str, timeout: float, **kwargs: Any) -> dict[str, Any]:
        """Run ``method`` of the engine; on a hang or crash, restart and report it."""
        if self._process is None or not self._process.is_alive():
            self._start()
        assert self._conn is not None
        self._conn.send((method, kwargs))
        if not self._conn.poll(timeout):
            self.stop()
            return {"error": "timeout", "crash": True}
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            self.stop()
            return {"error": "worker crashed (memory limit?)", "crash": True}

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join()
            self._process = None
