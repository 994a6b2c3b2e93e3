"""Whether llama.cpp may use its extra CPU buffer types (AMX tiles, repacked weights) on this host.

On a CPU that reports AMX, ggml puts quantised weights in AMX buffers. Inside some sandboxes the
kernel grants AMX but the first tile instruction faults, and the process dies with SIGSEGV. So on
such a CPU a short child process loads the embedded model and evaluates a batch with extra buffer
types first; where it crashes, models load without them (``use_extra_bufts = false``), which runs
everywhere. The verdict is cached per host (CPU flags, kernel, llama.cpp build), so the check runs
once. A CPU without AMX flags never needs the check. ``FORMATLOCK_EXTRA_BUFFERS=on|off`` forces
either way.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import cache, settings
from ..errors import ModelError

AMX_FLAGS = frozenset({"amx_tile", "amx_int8", "amx_bf16"})
PROBE_TIMEOUT = 120.0  # seconds for one check process (a model load and two evaluations)
_PROBE_TOKENS = 32  # a batch this long takes ggml's tiled matrix path (one token does not)
_CRASHED = "crashed"


@dataclass(frozen=True)
class Outcome:
    """How one check process ended: ``ok``, ``crashed`` (killed by ``signal_name``) or ``failed``."""

    status: str
    signal_name: str = ""

    @property
    def crashed(self) -> bool:
        return self.status == _CRASHED


OK = Outcome("ok")
FAILED = Outcome("failed")  # no verdict on the CPU: timed out, or an error before the first evaluation


@dataclass(frozen=True)
class Decision:
    """Whether models load with extra buffer types, and why (shown by ``formatlock models``)."""

    extra: bool
    reason: str
    cacheable: bool = True


def decide(mode: str, flags: frozenset[str], probe: Callable[[bool], Outcome]) -> Decision:
    """The decision for ``mode`` (``auto``/``on``/``off``) on a CPU with ``flags``.

    ``probe(extra)`` runs a check process with or without extra buffer types. It is called only
    in ``auto`` mode on a CPU that reports AMX. Raises :class:`ModelError` when llama.cpp crashes
    on this CPU even without extra buffer types: then no setting of formatlock's avoids it.
    """
    if mode == "on":
        return Decision(True, "forced on by FORMATLOCK_EXTRA_BUFFERS=on")
    if mode == "off":
        return Decision(False, "forced off by FORMATLOCK_EXTRA_BUFFERS=off")
    if not flags & AMX_FLAGS:
        return Decision(True, "the CPU reports no AMX: llama.cpp's defaults")
    with_extra = probe(True)
    if with_extra == OK:
        return Decision(True, "AMX tiles ran in a check process")
    if not with_extra.crashed:
        return Decision(False, "the AMX check process gave no verdict: loading without extra buffer types", cacheable=False)
    without = probe(False)
    if without.crashed:
        raise ModelError(f"llama.cpp crashes on this CPU ({without.signal_name} in a check process, with and without "
                         "extra buffer types); its build does not fit this machine: reinstall llama-cpp-python here")
    return Decision(False, f"AMX tiles crash here ({with_extra.signal_name} in a check process): "
                           "loading without extra buffer types")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where there is none, e.g. macOS), read once."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def run_probe(model: Path, extra: bool) -> Outcome:
    """Load ``model`` in a child process with or without extra buffer types and evaluate a batch."""
    return outcome_of([sys.executable, "-m", __name__, str(model), "on" if extra else "off"])


def outcome_of(command: list[str], timeout: float = PROBE_TIMEOUT) -> Outcome:
    """Run a check process: ``ok`` on exit 0, ``crashed`` when a fatal signal ended it, else ``failed``."""
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return FAILED
    if done.returncode == 0:
        return OK
    number = -done.returncode if done.returncode < 0 else done.returncode - 128  # a shell reports 128 + signal
    if done.returncode < 0 or number in _FATAL:
        return Outcome(_CRASHED, _signal_name(number))
    return FAILED


_FATAL = (signal.SIGSEGV, signal.SIGILL, signal.SIGBUS, signal.SIGFPE, signal.SIGABRT)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


_lock = threading.Lock()


@functools.cache
def _host_key() -> str:
    import llama_cpp  # start-up: `import formatlock` loads this module

    library = Path(llama_cpp.__file__).parent / "lib" / "libggml-cpu.so"
    build = f"{library.stat().st_mtime_ns}:{library.stat().st_size}" if library.exists() else ""
    return cache.key(platform.machine(), platform.release(), " ".join(sorted(cpu_flags())), llama_cpp.__version__, build)


_decided: dict[str, Decision] = {}


def decision(model: Path | None) -> Decision:
    """This host's decision: forced by the setting, else cached, else checked (once per host) by
    loading ``model`` in check processes (best a model whose weights take the AMX path, such as the
    embedded one: see :func:`formatlock.runtime.models.host_decision`)."""
    mode = settings.extra_buffers()
    flags = cpu_flags()
    if mode != "auto" or not flags & AMX_FLAGS:
        return decide(mode, flags, _no_probe)
    with _lock:
        key = _host_key()
        if key in _decided:
            return _decided[key]
        stored = cache.load("host", key)
        if isinstance(stored, Decision):
            _decided[key] = stored
            return stored
        if model is None:
            return Decision(False, "no model to check AMX with: loading without extra buffer types", cacheable=False)
        made = decide(mode, flags, lambda extra: run_probe(model, extra))
        if made.cacheable:
            _decided[key] = made
            cache.store("host", key, made)
        return made


def _no_probe(extra: bool) -> Outcome:
    raise AssertionError("no check process is needed for this mode and CPU")


_patch_lock = threading.RLock()


@contextlib.contextmanager
def applied(extra: bool) -> Iterator[None]:
    """Within the block, ``llama_cpp.Llama(...)`` loads with (``True``) or without extra buffer types.

    llama-cpp-python takes no argument for it: its model parameters start from
    ``llama_model_default_params()``, which is wrapped here while a model loads.
    """
    import llama_cpp.llama_cpp as native  # start-up: `import formatlock` loads this module

    if extra:
        yield
        return
    with _patch_lock:
        original = native.llama_model_default_params

        def without_extra():  # noqa: ANN202 - llama_cpp.llama_model_params
            params = original()
            params.use_extra_bufts = False
            return params

        native.llama_model_default_params = without_extra
        try:
            yield
        finally:
            native.llama_model_default_params = original


def _check(model: str, extra: bool) -> None:
    """The check process: load ``model`` and evaluate a batch and one token; a crash kills it."""
    import llama_cpp  # start-up: `import formatlock` loads this module

    with applied(extra):
        llm = llama_cpp.Llama(model_path=model, n_ctx=128, n_threads=1, n_threads_batch=1, verbose=False)
    llm.eval(list(range(1, 1 + _PROBE_TOKENS)))
    llm.eval([1])
    llm.close()


if __name__ == "__main__":
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # llama.cpp's loading chatter is not the parent's to read
    _check(sys.argv[1], sys.argv[2] == "on")
