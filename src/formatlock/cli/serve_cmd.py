"""``formatlock serve``: llama-cpp-python's OpenAI-compatible server, with this host's safe llama.cpp settings."""

from __future__ import annotations

import sys

import click

from ..errors import UsageError


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
    pip install 'formatlock[server]'.

    \b
    Examples:
      formatlock serve
      formatlock serve --model ./my-model.gguf --alias mine --port 8080 --n_ctx 4096
      formatlock generate --schema invoice -m 'http://127.0.0.1:8000/v1#smollm2' "Invoice ACME ..."
    """
    from ..runtime import extra_buffers
    from ..runtime.models import host_decision, is_server_ref, resolve
    from ..runtime.threads import Governor

    if is_server_ref(model):
        raise UsageError("serve runs a local GGUF model; give its name or path, not a server URL")
    try:
        from llama_cpp.server import __main__ as server
    except ImportError:
        raise UsageError("formatlock serve needs llama-cpp-python's server: pip install 'formatlock[server]'") from None
    name, path = resolve(model)
    extra = host_decision(path).extra
    argv = ["--model", str(path), "--model_alias", alias or name, "--host", host, "--port", str(port)]
    if not any(a.split("=")[0] in ("--n_threads", "--n_threads_batch") for a in server_args):
        threads = str(Governor().settle())
        argv += ["--n_threads", threads, "--n_threads_batch", threads]
    sys.argv = ["formatlock serve", *argv, *server_args]
    with extra_buffers.applied(extra):  # held while the server runs: it loads the model on start
        server.main()
