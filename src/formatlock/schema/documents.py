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

JSONL_SUFFIXES = {".jsonl", ".ndjson"}
STDIN = "-"


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


def _read(path: str, handle: IO[bytes]) -> bytes:
    try:
        return handle.read()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def _lines(name: str, handle: IO[bytes]) -> Iterator[Raw]:
    try:
        for number, data in enumerate(handle, 1):
            if data.strip():
                yield Raw(name, number, data, one_line=True)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror}") from None


def parse(document: Raw) -> Document:
    """The parsed document, or why it cannot be parsed; a JSONL line that is cut off is reported
    at its own line."""
    name, line, raw = document.file, document.line, document.data
    if document.one_line:
        raw = raw.rstrip(b"\r\n")
    if not raw.strip():
        return Document(name, line, error="empty: no JSON document")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Document(name, line, error=f"not UTF-8 text (byte {exc.start}); binary file?")
    try:
        return Document(name, line, value=json.loads(text))
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}" if exc.lineno > 1 else f"column {exc.colno}"
        if exc.pos >= len(text.rstrip()):
            where += ", the document is cut off"
        return Document(name, line + exc.lineno - 1, error=f"not valid JSON: {exc.msg} ({where})")
    except RecursionError:
        return Document(name, line, error="not valid JSON: nesting too deep")
