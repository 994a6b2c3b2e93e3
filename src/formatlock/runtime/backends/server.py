"""The OpenAI-compatible server backend: llama.cpp's server, llama-cpp-python's, vLLM, Ollama, OpenAI.

A reference ``http://HOST:PORT/v1#MODEL`` (``?dialect=D`` to fix the dialect, else probed) names
one model on one server. Outputs are constrained by the server in its own dialect
(:mod:`.dialects`) where it has one, validated here by the caller like every output, and retried
with the validation errors shown to the model. The ``openai`` client does the HTTP: bounded
retries with backoff on 429, 5xx and dropped connections, and separate connect and read timeouts.

The API key comes from ``FORMATLOCK_API_KEY``, or ``OPENAI_API_KEY`` for api.openai.com only (so
an OpenAI key is never sent to another host). It is never part of the name, a message or a log.
"""

from __future__ import annotations

import json
import random
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit, urlunsplit

import openai

from ... import settings
from ...automata.distance import completion
from ...compile.constraints import Constraint
from ...errors import Attempt, ModelError, ServerError, UsageError
from ...schema.parsing import extract_json
from ..prompting import Prompt, as_messages, feedback_text
from . import dialects
from .base import Backend, Decoded, Session
from .dialect_names import AUTO, check_dialect

DEFAULT_RETRIES = 3  # transport retries per request (429, 5xx, dropped connection), with backoff
_PROBE_VALUE = "formatlock-probe-7q"
_PROBE_SCHEMA = {"type": "object", "properties": {"probe": {"type": "string", "enum": [_PROBE_VALUE]}},
                 "required": ["probe"], "additionalProperties": False}
_PROBE_ORDER = {  # the server's `owned_by` in /models -> the dialects to try first
    "vllm": ("vllm", "json_schema"), "llamacpp": ("gbnf", "json_schema", "json_object"), "me": ("gbnf", "json_object"),
    "openai": ("openai",), "system": ("openai",), "library": ("json_schema",), "ollama": ("json_schema",),
}
_FALLBACK_ORDER = ("gbnf", "json_schema", "json_object", "vllm")


class ServerWarning(UserWarning):
    """A server ignores every constraint formatlock knows how to ask for: outputs rest on retries."""


def parse_ref(ref: str) -> tuple[str, str | None, str]:
    """``URL[?dialect=D][#MODEL]`` into (API root URL, model name or None, dialect)."""
    parts = urlsplit(ref)
    if parts.username or parts.password:
        raise UsageError("do not put credentials in a model URL: set FORMATLOCK_API_KEY instead")
    if not parts.hostname:
        raise UsageError(f"{ref!r} is not a server URL: use http://HOST:PORT/v1#MODEL")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"dialect"})
    if unknown:
        raise UsageError(f"unknown option {unknown[0]!r} in the model URL: only ?dialect= is read")
    dialect = check_dialect(query.get("dialect", [AUTO])[-1])
    base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
    return base, parts.fragment or None, dialect


class Server(Backend):
    """One model on one OpenAI-compatible server; thread-safe, so calls may run ``concurrent``-ly."""

    concurrent = True

    def __init__(self, url: str, model: str | None = None, *, dialect: str = AUTO,
                 api_key: str | None = None, timeout: float | None = None, connect_timeout: float | None = None,
                 retries: int | None = None) -> None:
        self.url = url.rstrip("/")
        self.dialect = check_dialect(dialect)
        self._model = model
        self._owner: str | None = None
        self._ready = False
        self._json_dialect: str | None = None  # see json_dialect
        self._lock = threading.Lock()
        self.read_timeout = timeout or settings.server_timeout()
        connect = connect_timeout or settings.server_connect_timeout()
        self.retries = DEFAULT_RETRIES if retries is None else retries
        self._client = openai.OpenAI(base_url=self.url, api_key=api_key or settings.api_key(urlsplit(self.url).hostname) or "none",
                                     timeout=openai.Timeout(self.read_timeout, connect=connect),
                                     max_retries=self.retries)

    @classmethod
    def from_ref(cls, ref: str) -> Server:
        url, model, dialect = parse_ref(ref)
        return cls(url, model, dialect=dialect)

    def __repr__(self) -> str:
        return f"Server({self.url!r}, {self._model!r}, dialect={self.dialect!r})"

    @property
    def name(self) -> str:  # type: ignore[override]
        self.open()
        return f"{self.url}#{self._model}"

    @property
    def constrains(self) -> bool:  # type: ignore[override]
        self.open()
        return self.dialect != "none"

    def open(self) -> None:
        """Check the model exists and find (or check) the dialect, once; a wrong name fails here."""
        with self._lock:
            if self._ready:
                return
            self._check_model()
            self.dialect = self._settle_dialect()
            self._ready = True

    @property
    def _model_id(self) -> str:
        """The model requests name; _check_model (the first step of open) settles it."""
        assert self._model is not None, "open() names the model first"
        return self._model

    def _check_model(self) -> None:
        try:
            served = list(self._call(lambda: self._client.models.list(), "list models").data)
        except ServerError as exc:
            if isinstance(exc.__cause__, openai.NotFoundError):  # no /models here: the first request will tell
                self._model = self._model or "default"
                self._owner = None
                return
            raise
        ids = [m.id for m in served]
        if self._model is None:
            if not ids:
                raise ModelError(f"{self.url} serves no model")
            self._model = ids[0]
        elif ids and self._model not in ids:
            listed = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
            raise ModelError(f"{self.url} has no model {self._model!r}; it serves: {listed}")
        owner = next((m for m in served if m.id == self._model), None)
        self._owner = getattr(owner, "owned_by", None)

    def _settle_dialect(self) -> str:
        """The dialect to use: the configured one if the server honours it, else the first probed
        one it honours; ``none`` (with a ServerWarning) when it honours none."""
        if self.dialect == "none":
            return "none"
        tried = [self.dialect] if self.dialect != AUTO else list(dict.fromkeys(
            (*_PROBE_ORDER.get(str(self._owner), ()), *_FALLBACK_ORDER)))
        for dialect in tried:
            if self._honours(dialect):
                return dialect
        warnings.warn(f"{self.url}#{self._model} ignored the server-side constraint ({', '.join(tried)}): "
                      "outputs rest on validation and retries", ServerWarning, stacklevel=4)
        return "none"

    def json_dialect(self) -> str:
        """The dialect for a schema whose exact constraint (grammar or regex) this server refused:
        its own JSON Schema form (vLLM's ``json``; llama.cpp's ``json_schema`` or ``json_object``,
        whichever it honours), or ``none``. Probed once."""
        with self._lock:
            if self._json_dialect is None:
                tried = ("vllm",) if self.dialect == "vllm" else ("json_schema", "json_object")
                self._json_dialect = next((d for d in tried if self._honours(d)), "none")
            return self._json_dialect

    def _honours(self, dialect: str) -> bool:
        """Whether one short request in ``dialect`` comes back exactly as constrained."""
        try:
            request = dialects.schema_request(dialect, _PROBE_SCHEMA)
            reply = self._client.with_options(max_retries=0).chat.completions.create(
                model=self._model_id, messages=[{"role": "user", "content": "Say hello."}], max_tokens=48,
                temperature=0, seed=0, **request)
            return json.loads(reply.choices[0].message.content or "") == {"probe": _PROBE_VALUE}
        except (openai.APIStatusError, ValueError, TypeError, AttributeError, IndexError, UsageError):
            return False  # refused (4xx/5xx), or an answer that is not what was asked for
        except openai.APIError as exc:
            raise self._failure(exc, "probe the constraint dialect") from exc

    @contextmanager
    def session(self, constraint: Constraint, prompt: Prompt) -> Iterator[Session]:
        self.open()
        request = dialects.request(self.dialect, constraint)
        yield _ServerSession(self, constraint, as_messages(prompt, constraint.instruction), request)

    def free(self, prompt: Prompt, *, instruction: str | None, max_tokens: int, temperature: float,
             seed: int | None, stop: Callable[[str], bool] | None = None) -> Decoded:
        self.open()
        return self.chat(as_messages(prompt, instruction), max_tokens=max_tokens, temperature=temperature,
                         seed=seed, request={})

    def chat(self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float, seed: int | None,
             request: dict[str, Any], timeout: float | None = None) -> Decoded:
        """One chat completion: its text, and whether it hit ``max_tokens``."""
        options: dict[str, Any] = {} if seed is None else {"seed": seed}
        if timeout is not None:
            options["timeout"] = timeout
        reply = self._call(lambda: self._client.chat.completions.create(
            model=self._model_id, messages=cast(Any, messages), max_tokens=max_tokens, temperature=temperature,
            **options, **request), "complete")
        try:
            choice = reply.choices[0]
            text = choice.message.content or ""
        except (AttributeError, IndexError, TypeError):
            raise ServerError(f"{self.url}: the reply is not a chat completion (no choices[0].message)") from None
        usage = getattr(reply, "usage", None)
        tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        return Decoded(text, tokens, 0, truncated=choice.finish_reason == "length")

    def _call(self, request: Callable[[], Any], what: str) -> Any:
        try:
            return request()
        except openai.APIError as exc:
            raise self._failure(exc, what) from exc
        except ValueError as exc:  # a 2xx body that is not JSON
            raise ServerError(f"{self.url}: cannot {what}: the reply is not JSON ({exc})") from exc

    def _failure(self, exc: Exception, what: str) -> ServerError:
        """One line that says what went wrong, without the key or the server's whole body."""
        where = f"{self.url}: cannot {what}"
        if isinstance(exc, openai.APITimeoutError):
            return ServerError(f"{where}: no answer within {self.read_timeout:g} s (FORMATLOCK_SERVER_TIMEOUT)")
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return ServerError(f"{where}: connection failed ({_first_line(cause)})")
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return ServerError(f"{where}: the server refused the API key (HTTP {exc.status_code}); "
                               "set FORMATLOCK_API_KEY")
        if isinstance(exc, openai.APIStatusError):
            retried = f" after {self.retries} retries" if exc.status_code in (408, 409, 429) or exc.status_code >= 500 else ""
            return ServerError(f"{where}: HTTP {exc.status_code}{retried}: {_first_line(_status_message(exc))}")
        if isinstance(exc, openai.APIResponseValidationError):
            return ServerError(f"{where}: the reply is not a chat completion ({_first_line(exc)})")
        return ServerError(f"{where}: {_first_line(exc)}")


class _ServerSession(Session):
    """One constraint's request fields and prompt; a failed attempt goes back with its errors.

    Where the request carries formatlock's compiled grammar (``exact``), a reply cut off at the
    token budget is closed by the shortest way the grammar allows, as the local budget guard would."""

    def __init__(self, server: Server, constraint: Constraint, messages: list[dict[str, str]],
                 request: dict[str, Any]) -> None:
        self.server, self.constraint, self.messages = server, constraint, messages
        self._use(server.dialect, request)

    def _use(self, dialect: str, request: dict[str, Any]) -> None:
        self.request = request
        self.restore = dialects.reply_mapper(dialect, self.constraint) if request else None
        self.exact = dialects.sends_regex(dialect, request) and self.constraint.regex is not None
        self.enforced = dialects.enforced(dialect, self.constraint, request, self.exact)

    def _fall_back(self, refusal: ServerError) -> None:
        """The server refused formatlock's grammar or regex: say so once, then ask in its JSON dialect."""
        document = self.constraint.schema.document if self.constraint.schema is not None else None
        dialect = self.server.json_dialect() if document is not None else "none"
        warnings.warn(f"{refusal}; this constraint now goes in the {dialect} dialect, and outputs rest more on "
                      "validation and retries", ServerWarning, stacklevel=2)
        self._use(dialect, dialects.schema_request(dialect, document) if document is not None else {})

    def draw(self, *, max_tokens: int, temperature: float, seed: list[int] | None, deadline: float,
             failed: Attempt | None) -> Decoded:
        messages = self.messages
        if failed is not None and failed.errors:
            messages = [*messages, {"role": "assistant", "content": failed.raw},
                        {"role": "user", "content": feedback_text(failed.errors, self.constraint.kind)}]
        timeout = max(1.0, min(self.server.read_timeout, deadline - time.monotonic()))
        try:
            decoded = self.server.chat(messages, max_tokens=max_tokens, temperature=temperature,
                                       seed=_one_seed(seed), request=self.request, timeout=timeout)
        except ServerError as exc:
            if not (self.exact and _refused(exc)):
                raise
            self._fall_back(exc)
            return self.draw(max_tokens=max_tokens, temperature=temperature, seed=seed, deadline=deadline,
                             failed=failed)
        regex = self.constraint.regex
        if self.exact and regex is not None:
            if decoded.truncated:
                decoded.text += completion(regex, decoded.text) or ""
        else:
            decoded.text = extract_json(decoded.text) if self.constraint.kind == "schema" else decoded.text.strip()
            if self.restore is not None:
                decoded.text = self.restore(decoded.text)
        return decoded


def _refused(exc: ServerError) -> bool:
    """Whether the server refused the request itself (HTTP 400 or 422), as it does a grammar it cannot use."""
    return isinstance(exc.__cause__, openai.BadRequestError | openai.UnprocessableEntityError)


def _one_seed(seed: list[int] | None) -> int:
    """A server takes one integer seed: (seed, output, attempt) folded into 31 bits; a fresh random
    one without a seed (a server's default seed is fixed, so each retry would repeat the last)."""
    if seed is None:
        return random.getrandbits(31)
    value = 0
    for part in seed:
        value = (value * 1_000_003 + part) % 2**31
    return value


def _status_message(exc: Any) -> str:
    """The server's own error message (``{"error": {"message": ...}}`` or ``{"message": ...}``)."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if isinstance(message, str) and message:
            return message
    return str(exc.message).removeprefix(f"Error code: {exc.status_code} - ")


def _first_line(value: object) -> str:
    text = str(value).strip().splitlines()
    line = text[0] if text else type(value).__name__
    return line if len(line) <= 200 else line[:197] + "..."
