"""``formatlock serve``: llama-cpp-python's OpenAI-compatible server, with this host's safe llama.cpp settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from typing import Any

import click

from ..errors import UsageError

GRACE_S = 10.0  # after a stop signal, the seconds the server has to exit before it is killed
_WORKER = "FORMATLOCK_SERVE_WORKER"  # set in the child that runs the server itself


@click.command("serve", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("-m", "--model", metavar="MODEL", help="Model name or .gguf path (default: smollm2, or FORMATLOCK_MODEL).")
@click.option("--alias", metavar="NAME", help="The model's name in requests (default: the model's name).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.argument("server_args", nargs=-1, type=click.UNPROCESSED)
def command(model: str | None, alias: str | None, host: str, port: int, server_args: tuple[str, ...]) -> None:
    """Serve a model over HTTP with llama-cpp-python's OpenAI-compatible server.

    The same llama.cpp settings as formatlock's own model loading apply: extra CPU buffer
    types only where they run on this host (see FORMATLOCK_EXTRA_BUFFERS), and the thread
    count from the load when the server starts (FORMATLOCK_THREADS fixes it). Any other
    option is passed to `python -m llama_cpp.server` (e.g. --n_ctx 4096). Use the model from
    formatlock as http://HOST:PORT/v1#ALIAS. Needs the server extra:
    pip install 'formatlock[server]'. The server runs in a child process: a stop signal (Ctrl-C,
    SIGTERM) reaches it, and one still running 10 s later is killed (a request stuck in
    llama.cpp's native code does not see the signal).

    \b
    Examples:
      formatlock serve
      formatlock serve --model ./my-model.gguf --alias mine --port 8080 --n_ctx 4096
      formatlock generate --schema invoice -m 'http://127.0.0.1:8000/v1#smollm2' "Invoice ACME ..."
    """
    from ..runtime import extra_buffers  # start-up: every command module loads for --help
    from ..runtime.models import (  # start-up: every command module loads for --help
        host_decision,
        is_server_ref,
        resolve,
    )
    from ..runtime.threads import Governor  # start-up: every command module loads for --help

    if is_server_ref(model):
        raise UsageError("serve runs a local GGUF model; give its name or path, not a server URL")
    try:
        from llama_cpp.server import __main__ as server  # start-up: every command module loads for --help
    except ImportError:
        raise UsageError("formatlock serve needs llama-cpp-python's server: pip install 'formatlock[server]'") from None
    name, path = resolve(model)
    if os.environ.get(_WORKER) != "1":
        passed = [*(["--model", model] if model else []), *(["--alias", alias] if alias else []), "--host", host,
                  "--port", str(port), *server_args]
        raise SystemExit(_supervise([sys.executable, "-m", "formatlock", "serve", *passed]))
    extra = host_decision(path).extra
    argv = ["--model", str(path), "--model_alias", alias or name, "--host", host, "--port", str(port)]
    if not any(a.split("=")[0] in ("--n_threads", "--n_threads_batch") for a in server_args):
        threads = str(Governor().settle())
        argv += ["--n_threads", threads, "--n_threads_batch", threads]
    sys.argv = ["formatlock serve", *argv, *server_args]
    with extra_buffers.applied(extra):  # held while the server runs: it loads the model on start
        server.main()


def _supervise(command: list[str]) -> int:
    """Run ``command`` (this server, in a worker process) until it exits; pass on a stop signal
    and kill the worker if it has not exited ``GRACE_S`` seconds later. The worker dies with
    this process, however this process ends (Linux)."""
    child = subprocess.Popen(command, env={**os.environ, _WORKER: "1"}, preexec_fn=_die_with_parent)
    stop_at: list[float] = []

    def stop(signum: int, _frame: Any) -> None:
        if not stop_at:
            stop_at.append(time.monotonic() + GRACE_S)
            with suppress(ProcessLookupError):
                child.send_signal(signum)

    for each in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(each, stop)
    while True:
        try:
            code = child.wait(timeout=0.5)
            return 128 - code if code < 0 else code
        except subprocess.TimeoutExpired:
            if stop_at and time.monotonic() > stop_at[0]:
                child.kill()


def _die_with_parent() -> None:
    """In the worker, before it runs: SIGKILL when the supervising process dies (prctl, Linux only)."""
    with suppress(OSError, AttributeError):
        import ctypes  # start-up: every command module loads for --help

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
