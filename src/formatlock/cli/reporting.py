"""Rendering validation results: ``FILE:LINE: /pointer: message`` text, or one JSON object per document."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from ..errors import Issue
from ..schema.documents import Document

MAX_MESSAGE = 400  # characters of one message; a 10 MB value is cut in the middle, not echoed whole


@dataclass
class Tally:
    """Counts for the closing summary line."""

    documents: int = 0
    invalid: int = 0

    def summary(self) -> str:
        noun = "document" if self.documents == 1 else "documents"
        return f"{self.documents} {noun}, {self.invalid} invalid"


def shorten(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` with its middle cut where it is longer than ``limit`` characters."""
    if len(message) <= limit:
        return message
    head, tail = limit * 2 // 3, limit // 4
    return f"{message[:head]} ... [{len(message) - head - tail:,} characters cut] ... {message[-tail:]}"


@lru_cache(maxsize=64)
def _quoted(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)


def report(document: Document, issues: list[Issue], output: str, write: Callable[[str], object], tally: Tally) -> None:
    """Write one document's result (newline-terminated lines) in the chosen format and count it."""
    tally.documents += 1
    tally.invalid += bool(issues)
    if output == "json":
        if not issues:  # the common line, written without building and encoding a dict (same text)
            write(f'{{"file": {_quoted(document.file)}, "line": {document.line}, "valid": true, "errors": []}}\n')
            return
        errors = [{"pointer": i.pointer, "keyword": i.keyword, "message": shorten(i.message)} for i in issues]
        write(json.dumps({"file": document.file, "line": document.line, "valid": not issues, "errors": errors},
                         ensure_ascii=False) + "\n")
        return
    for issue in issues:
        write(f"{document.file}:{document.line}: {issue.pointer or '/'}: {shorten(issue.message)}\n")
