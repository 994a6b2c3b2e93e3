"""Validating a stream of documents into report lines, in input order, on every core when it pays.

Documents go in batches. A stream of one batch is validated in this process (a worker pool would
cost more than it saves); a longer one goes to forked worker processes, each with the validator
built here, while this process reads ahead and writes the results in order. At most a few batches
are in flight, so memory stays bounded whatever the input's size.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import chain, islice

from ..errors import Issue
from ..schema.documents import Raw, parse
from ..schema.validation import Validator
from .reporting import Tally, report

BATCH = 500  # documents per task: large enough to amortise the hand-over, small enough to interleave
IN_FLIGHT = 2  # batches queued per worker

_job: tuple[Validator, str, int | None] | None = None  # set before the workers fork, read in them


def validate_stream(validator: Validator, documents: Iterable[Raw], output: str, max_errors: int | None,
                    write: Callable[[str], object], workers: int | None = None) -> Tally:
    """Validate and report every document (``output`` is ``text`` or ``json``); returns the counts."""
    global _job
    tally = Tally()
    batches = _batched(documents)
    first, second = next(batches, None), next(batches, None)
    if first is None:
        return tally
    _job = (validator, output, max_errors)
    todo = chain([first], [second] if second is not None else [], batches)
    workers = _workers() if workers is None else workers
    if second is None or workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        for batch in todo:
            _add(tally, write, _check(batch))
        return tally
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        pending: deque[Future[tuple[str, int, int]]] = deque()
        for batch in todo:
            # Plain tuples cross to the worker about ten times faster than pickled dataclasses.
            pending.append(pool.submit(_check_rows, [(r.file, r.line, r.data, r.one_line) for r in batch]))
            if len(pending) >= workers * IN_FLIGHT:
                _add(tally, write, pending.popleft().result())
        while pending:
            _add(tally, write, pending.popleft().result())
    return tally


def _workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _batched(documents: Iterable[Raw]) -> Iterator[list[Raw]]:
    iterator = iter(documents)
    while batch := list(islice(iterator, BATCH)):
        yield batch


def _check(batch: list[Raw]) -> tuple[str, int, int]:
    """One batch's report text and counts (runs in a worker, or here)."""
    assert _job is not None
    validator, output, max_errors = _job
    lines: list[str] = []
    tally = Tally()
    for raw in batch:
        document = parse(raw)
        if document.error is not None:
            issues = [Issue("", "json", document.error)]
        else:
            issues = validator.errors(document.value, limit=max_errors)
        report(document, issues, output, lines.append, tally)
    return "".join(lines), tally.documents, tally.invalid


def _check_rows(rows: list[tuple[str, int, bytes, bool]]) -> tuple[str, int, int]:
    """:func:`_check` on a batch sent to a worker as tuples."""
    return _check([Raw(*row) for row in rows])


def _add(tally: Tally, write: Callable[[str], object], result: tuple[str, int, int]) -> None:
    text, documents, invalid = result
    if text:
        write(text)
    tally.documents += documents
    tally.invalid += invalid
