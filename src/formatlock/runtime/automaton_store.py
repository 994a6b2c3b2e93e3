"""The closing automata of this process: one per (vocabulary, regex), in a small LRU, and on disk.

An automaton is built on first need (:mod:`formatlock.runtime.closing` asks only when a budget can
run short) and, once it has grown, snapshotted to the disk cache (``FORMATLOCK_CACHE``) so the
next process starts with the states this one worked out.
"""

from __future__ import annotations

from .. import cache
from ..lru import LRU
from .automaton import SNAPSHOT_FORMAT, Automaton
from .models import Model

_automata: LRU[tuple[str, str], Automaton] = LRU(32)


def closing_automaton(regex: str, model: Model) -> Automaton:
    """The closing automaton of ``regex`` over ``model``'s vocabulary (built once, restored from disk)."""
    vocabulary = model.vocabulary
    key = (vocabulary.id, regex)
    found = _automata.get(key)
    if found is not None:
        return found
    automaton = Automaton(regex, vocabulary)
    snapshot = cache.load("automata", _disk_key(regex, model))
    if snapshot is not None:
        try:
            automaton.restore(snapshot)
        except Exception:  # noqa: BLE001 - a snapshot of another shape (edited, another version): never trust it
            automaton = Automaton(regex, vocabulary)
            cache.drop("automata", _disk_key(regex, model))
    return _automata.put(key, automaton)


def built(regex: str, model: Model) -> bool:
    """Whether this process has built the closing automaton of ``regex`` on ``model``."""
    return (model.vocabulary.id, regex) in _automata


def save(regex: str, model: Model) -> None:
    """Persist what the closing automaton worked out, if it was needed at all."""
    automaton = _automata.get((model.vocabulary.id, regex))
    if automaton is not None and automaton.grown:
        cache.store("automata", _disk_key(regex, model), automaton.snapshot())


def _disk_key(regex: str, model: Model) -> str:
    return cache.key(str(SNAPSHOT_FORMAT), model.vocabulary.id, regex)
