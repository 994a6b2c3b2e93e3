"""The ``@enforce`` decorator: schema-valid results from LLM calls, every attempt logged.

Prompt-function mode, ``@enforce``: the function body returns a prompt and the local model
answers it under constrained decoding, so the result always validates.

Wrap-call mode, ``@enforce.output(schema)``: the function calls any LLM and returns its text;
formatlock extracts the JSON (:func:`~formatlock.schema.parsing.extract_json`), validates it, calls
again with the errors as ``feedback=`` when it fails, and can fall back to the local model.
"""

from __future__ import annotations

import functools
import inspect
import time
import typing
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, overload

from . import arguments, calllog
from .calllog import LoggedAttempt, Mode
from .errors import Attempt, Enforced, EnforcementError, RefusedError, UsageError
from .runtime.prompting import Prompt, feedback_text
from .schema import json_text
from .schema.loading import Schema, load_schema
from .schema.parsing import extract_json
from .schema.validation import Validator, typed

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
FALLBACKS = (None, "local")


@dataclass(frozen=True)
class _Local:
    """Options for the local model, shared by prompt mode and the wrap-mode fallback."""

    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    retries: int | None = None

    def check(self) -> None:
        arguments.generation(max_tokens=self.max_tokens, temperature=self.temperature, retries=self.retries)


class Enforce:
    """``@enforce`` / ``@enforce(...)`` for prompt functions; ``@enforce.output(schema)`` wraps LLM calls."""

    @overload
    def __call__(self, fn: F, /) -> F: ...

    @overload
    def __call__(
        self,
        fn: None = None,
        /,
        *,
        schema: Any = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        retries: int | None = None,
        record: bool = True,
    ) -> Callable[[F], F]: ...

    def __call__(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        schema: Any = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        retries: int | None = None,
        record: bool = True,
    ) -> Any:
        """Prompt-function mode: the body returns the prompt; the call returns a schema-valid value.

        The schema is ``schema`` (anything :func:`~formatlock.load_schema` accepts), else the
        function's return annotation, which must be a Pydantic model.
        """
        if fn is not None and not callable(fn):
            raise UsageError(f"@enforce decorates a function; give its options by name (@enforce(schema=...)), not {fn!r}")
        local = _Local(model, max_tokens, temperature, retries)
        local.check()
        given = None if schema is None else load_schema(schema)

        def decorate(f: F) -> F:
            return typing.cast(F, _prompt_function(f, given, local, record))

        return decorate if fn is None else decorate(fn)

    def output(
        self,
        schema: Any,
        *,
        retries: int = 2,
        fallback: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        record: bool = True,
    ) -> Callable[[Callable[P, Any]], Callable[P, Any]]:
        """Wrap-call mode: the function returns an LLM's text; the call returns the validated value.

        Invalid output is retried up to ``retries`` times, passing the errors as ``feedback=`` when
        the function takes it; ``fallback="local"`` then answers the same prompt with the local model.
        """
        arguments.whole("retries", retries, 0)
        if fallback not in FALLBACKS:
            raise UsageError(f"fallback must be None or 'local', not {fallback!r}")
        local = _Local(model, max_tokens, temperature)
        local.check()
        loaded = load_schema(schema)

        def decorate(f: Callable[P, Any]) -> Callable[P, Any]:
            return _Wrapped(f, loaded, retries, fallback == "local", local, record).function()

        return decorate


enforce = Enforce()


# Prompt-function mode


class _ReturnSchema:
    """The schema named by a function's return annotation, resolved at decoration or, for a
    forward reference to a class defined later, at the first call."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.schema: Schema | None = None
        if "return" not in getattr(fn, "__annotations__", {}):
            raise UsageError(f"@enforce on {_name(fn)}: no schema; annotate the return type with a Pydantic "
                             "model or pass schema=")
        with suppress(NameError):
            self.schema = self._resolve()

    def get(self) -> Schema:
        if self.schema is None:
            try:
                self.schema = self._resolve()
            except NameError as exc:
                raise UsageError(f"@enforce on {_name(self.fn)}: cannot resolve the return annotation ({exc}); "
                                 "pass schema=") from None
        return self.schema

    def _resolve(self) -> Schema:
        hint = typing.get_type_hints(self.fn)["return"]
        if not (isinstance(hint, type) and hasattr(hint, "model_json_schema")):
            raise UsageError(f"@enforce on {_name(self.fn)}: the return annotation {hint!r} is not a Pydantic "
                             "model; pass schema= (a model, a JSON Schema dict or a path)")
        return load_schema(hint)


def _prompt_function(fn: Callable[..., Any], schema: Schema | None, local: _Local, record: bool) -> Callable[..., Any]:
    schema_of = (lambda: schema) if schema is not None else _ReturnSchema(fn).get
    name = _name(fn)

    def answer(prompt: Prompt) -> Any:
        call = _Call(schema_of(), name, prompt, record)
        return _generate_locally(call, prompt, local, "prompt")

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def call_async(*args: Any, **kwargs: Any) -> Any:
            return await _in_thread(answer, await fn(*args, **kwargs))

        return call_async

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return answer(fn(*args, **kwargs))

    return call


# Wrap-call mode


class _Wrapped:
    """Wrap-call mode for one function: what it takes, and the options it was decorated with."""

    def __init__(self, fn: Callable[..., Any], schema: Schema, retries: int, fallback: bool, local: _Local,
                 record: bool) -> None:
        self.fn = fn
        self.name = _name(fn)
        self.schema = schema
        self.validator = Validator(schema)
        self.retries = retries
        self.fallback = fallback
        self.local = local
        self.record = record
        self.signature = inspect.signature(fn)
        self.takes_feedback = "feedback" in self.signature.parameters

    def function(self) -> Callable[..., Any]:
        """The decorated function: sync or async like the original."""
        fn, tries = self.fn, self.retries + 1

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def call_async(*args: Any, **kwargs: Any) -> Any:
                run = _WrapRun(self, args, kwargs)
                for _ in range(tries):
                    started = time.perf_counter()
                    if run.judge(await fn(*run.bound.args, **run.bound.kwargs), time.perf_counter() - started):
                        return run.value
                return await _in_thread(run.give_up)

            return call_async

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            run = _WrapRun(self, args, kwargs)
            for _ in range(tries):
                started = time.perf_counter()
                if run.judge(fn(*run.bound.args, **run.bound.kwargs), time.perf_counter() - started):
                    return run.value
            return run.give_up()

        return call


class _WrapRun:
    """One wrapped call: the arguments of the next try, the judging of each output, the ending."""

    def __init__(self, wrapped: _Wrapped, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.wrapped = wrapped
        self.bound = wrapped.signature.bind(*args, **kwargs)
        prompt = find_prompt(self.bound)
        if wrapped.fallback and prompt is None:
            raise UsageError(f"{wrapped.name}: fallback='local' needs the prompt: pass it as the first str "
                             "argument or as prompt=")
        self.call = _Call(wrapped.schema, wrapped.name, prompt, wrapped.record)
        self.value: Any = None

    def judge(self, text: Any, seconds: float) -> bool:
        """Parse, validate and log one output; True when it is valid (then ``value`` holds the result)."""
        if not isinstance(text, str):
            raise UsageError(f"{self.wrapped.name} must return the LLM's text (str), not {type(text).__name__}")
        document, issues = self.wrapped.validator.check_text(extract_json(text))
        if not issues:
            self.value, issues = typed(self.wrapped.schema, document)
        self.call.add([Attempt(raw=text, errors=issues)], "wrap", model=None, seconds=seconds, document=document)
        if issues and self.wrapped.takes_feedback:
            self.bound.arguments["feedback"] = feedback_text(issues)
        return not issues

    def give_up(self) -> Any:
        """After the last failed try: the local fallback's answer, or EnforcementError."""
        tries = len(self.call.attempts)
        if not self.wrapped.fallback:
            raise EnforcementError(f"{self.wrapped.name}: no valid output after {tries} attempt(s); "
                                   f"last: {self.call.attempts[-1].errors[0]}", self.call.attempts)
        assert self.call.prompt is not None  # __init__ refuses a fallback without the prompt
        try:
            return _generate_locally(self.call, self.call.prompt, self.wrapped.local, "fallback")
        except EnforcementError as exc:
            raise EnforcementError(f"{self.wrapped.name}: {tries} attempt(s) invalid and the local fallback "
                                   f"failed: {exc}", self.call.attempts) from exc
        except RefusedError as exc:
            raise EnforcementError(f"{self.wrapped.name}: {tries} attempt(s) invalid and the local fallback "
                                   f"refused the schema: {exc}", self.call.attempts) from exc


def find_prompt(bound: inspect.BoundArguments) -> Prompt | None:
    """The prompt of a wrapped call: a ``prompt=`` argument (text or chat messages), else the
    first positional argument that is a str; None when there is neither."""
    named = bound.arguments.get("prompt", bound.kwargs.get("prompt"))
    if isinstance(named, str) or (isinstance(named, list) and named):
        return named
    return next((value for value in bound.args if isinstance(value, str)), None)


# Shared by both modes


class _Call:
    """One enforced call: its attempts, numbered across modes, each written to the call log."""

    def __init__(self, schema: Schema, function: str, prompt: Prompt | None, record: bool) -> None:
        self.id = uuid.uuid4().hex
        self.schema = schema
        self.function = function
        self.prompt = prompt
        self.record = record
        self.attempts: list[Attempt] = []

    def add(self, attempts: list[Attempt], mode: Mode, *, model: str | None, seconds: float,
            document: Any = None, enforced: Enforced | None = None) -> None:
        """Append attempts; the last one carries ``seconds`` and, when valid, ``document``."""
        first = len(self.attempts) + 1
        self.attempts.extend(attempts)
        if not self.record:
            return
        last = len(attempts) - 1
        calllog.record(self.schema, [
            LoggedAttempt(
                call_id=self.id, attempt=first + i, mode=mode, schema_id=self.schema.id, function=self.function,
                prompt=self.prompt, output=a.raw, valid=a.valid, errors=a.errors, model=model,
                document=document if i == last and a.valid else None, latency=seconds if i == last else None,
                enforced=enforced,
            )
            for i, a in enumerate(attempts)
        ])


def _generate_locally(call: _Call, prompt: Prompt, local: _Local, mode: Mode) -> Any:
    """Answer ``prompt`` with constrained decoding on the local model, logging its attempts."""
    from .generation import generate_results  # start-up: `import formatlock` loads this module
    from .runtime.backends import open_backend  # start-up: `import formatlock` loads this module

    started = time.perf_counter()
    try:
        result = generate_results(call.schema, prompt, model=local.model, max_tokens=local.max_tokens,
                                  temperature=local.temperature, retries=local.retries)[0]
    except EnforcementError as exc:
        if exc.attempts:
            call.add(exc.attempts, mode, model=open_backend(local.model).name, seconds=time.perf_counter() - started,
                     enforced=exc.enforced)
        raise
    call.add(result.attempts, mode, model=result.model, seconds=result.seconds, document=json_text.loads(result.text),
             enforced=result.enforced)
    return result.value


async def _in_thread(func: Callable[..., Any], *args: Any) -> Any:
    """Run blocking work (generation) in a worker thread, keeping the event loop free."""
    import asyncio  # start-up: only async callers get here, and they have it loaded

    return await asyncio.to_thread(func, *args)


def _name(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"
