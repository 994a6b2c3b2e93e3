"""Reading documents to validate: ``.json`` files, JSONL streams, stdin.

Documents are yielded one at a time (constant memory in the number of lines). A document that
cannot be decoded or parsed is yielded with its error so validation goes on; a file that cannot be
opened at all is an :class:`~formatlock.errors.InputError` (exit 2).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import InputError
from . import json_text

JSONL_SUFFIXES = {".jsonl", ".ndjson"}
STDIN = "-"
MAX_BYTES = 64 * 2**20  # one document or line; a larger one is reported, not read (parsing takes ~10x its size)
_CHUNK = 2**20


@dataclass(slots=True)
class Document:
    """One document: where it came from, and its parsed value or why it could not be parsed."""

    file: str
    line: int
    value: Any = None
    error: str | None = None


@dataclass(slots=True)
class Raw:
    """One document's bytes, not parsed yet: cheap to hand to another process."""

    file: str
    line: int
    data: bytes
    one_line: bool  # a JSONL line (reported at its own line), not a whole file


def iter_documents(paths: list[str]) -> Iterator[Document]:
    """Documents of every path in order; ``-`` (or no path) is JSONL on stdin."""
    return map(parse, iter_raw(paths))


def iter_raw(paths: list[str]) -> Iterator[Raw]:
    """The unparsed documents of every path in order (see :func:`iter_documents`)."""
    for path in paths or [STDIN]:
        if path == STDIN:
            yield from _lines("<stdin>", sys.stdin.buffer)
            continue
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below, after streaming
        except FileNotFoundError:
            raise InputError(f"file not found: {path}") from None
        except IsADirectoryError:
            raise InputError(f"{path} is a directory, not a file") from None
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}") from None
        with handle:
            if Path(path).suffix.lower() in JSONL_SUFFIXES:
                yield from _lines(path, handle)
            else:
                yield Raw(path, 1, _read(path, handle), one_line=False)


def read_limited(path: str | Path) -> bytes:
    """A whole file (a schema, an inputs file) of at most ``MAX_BYTES``; ``/dev/zero`` never ends, so
    past that it is an :class:`InputError`, as is a file that cannot be read (``OSError`` passes)."""
    with open(path, "rb") as handle:
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise InputError(f"{path} is over {MAX_BYTES // 2**20} MiB; formatlock reads files up to that size")
    return data


def _read(path: str, handle: IO[bytes]) -> bytes:
    try:
        return handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def _lines(name: str, handle: IO[bytes]) -> Iterator[Raw]:
    try:
        number = 0
        while data := handle.readline(MAX_BYTES + 1):
            number += 1
            if len(data) > MAX_BYTES and not data.endswith(b"\n"):
                _skip_line(handle)
            if data.strip():
                yield Raw(name, number, data, one_line=True)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror}") from None


def _skip_line(handle: IO[bytes]) -> None:
    """Read past the rest of an over-long line without keeping it (``/dev/zero`` never ends: stop at a bound)."""
    for _ in range(64):
        chunk = handle.readline(_CHUNK)
        if not chunk or chunk.endswith(b"\n"):
            return
    raise InputError(f"a line runs past {(MAX_BYTES + 64 * _CHUNK) // 2**20} MiB without ending; is this a JSON Lines file?")


def parse(document: Raw) -> Document:
    """The parsed document, or why it cannot be parsed; a JSONL line that is cut off is reported
    at its own line."""
    name, line, raw = document.file, document.line, document.data
    if document.one_line:
        raw = raw.rstrip(b"\r\n")
    if len(raw) > MAX_BYTES:
        what = "line" if document.one_line else "document"
        return Document(name, line, error=f"the {what} is over {MAX_BYTES // 2**20} MiB; formatlock reads documents up to that size")
    if not raw.strip():
        return Document(name, line, error="empty: no JSON document")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Document(name, line, error=f"not UTF-8 text (byte {exc.start}); binary file?")
    try:
        return Document(name, line, value=json_text.loads(text))
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}" if exc.lineno > 1 else f"column {exc.colno}"
        if exc.pos >= len(text.rstrip()):
            where += ", the document is cut off"
        return Document(name, line + exc.lineno - 1, error=f"not valid JSON: {exc.msg} ({where})")
    except (json_text.NotJSONError, RecursionError) as exc:
        return Document(name, line, error=f"not valid JSON: {json_text.why_not(exc)}")
