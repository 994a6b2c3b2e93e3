"""Rendering validation results: ``FILE:LINE: /pointer: message`` text, or one JSON object per document."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

from .documents import Document
from .errors import Issue


@dataclass
class Tally:
    """Counts for the closing summary line."""

    documents: int = 0
    invalid: int = 0

    def summary(self) -> str:
        noun = "document" if self.documents == 1 else "documents"
        return f"{self.documents} {noun}, {self.invalid} invalid"


def report(document: Document, issues: list[Issue], output: str, echo: Callable[[str], None], tally: Tally) -> None:
    """Print one document's result in the chosen format and count it."""
    tally.documents += 1
    tally.invalid += bool(issues)
    if output == "json":
        echo(json.dumps({"file": document.file, "line": document.line, "valid": not issues,
                         "errors": [i.as_dict() for i in issues]}, ensure_ascii=False))
        return
    for issue in issues:
        echo(f"{document.file}:{document.line}: {issue.pointer or '/'}: {issue.message}")
