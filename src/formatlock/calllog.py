"""The call log: every enforced call and every attempt, recorded in SQLite.

One row per attempt in ``attempts`` (call id, attempt number, mode, prompt, raw output, the
validated document, errors, model, latency, time) and one row per schema in ``schemas`` (its
content-hash id, name, title and the document itself, so readers can reload it).

The database lives in ``$FORMATLOCK_HOME/calls.sqlite3`` (default ``~/.local/share/formatlock``).
It runs in WAL mode; each write opens its own connection and commits one short ``BEGIN
IMMEDIATE`` transaction, so threads and processes can write at once and a killed writer leaves
every committed row readable. The layout is versioned with ``PRAGMA user_version`` and upgraded
by the numbered steps in :data:`MIGRATIONS`.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from . import settings
from .errors import Enforced, FormatlockError, InputError, Issue, UsageError
from .schema import json_text
from .schema.loading import Schema, load_schema

Mode = Literal["prompt", "wrap", "fallback"]  # how an attempt was made: a prompt function, a wrapped call, its fallback
MODES: tuple[str, ...] = get_args(Mode)
BUSY_TIMEOUT_MS = 30_000

# Step k (1-based) upgrades a database from user_version k-1 to k. Append; never edit a step.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE schemas (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            title TEXT NOT NULL,
            document TEXT NOT NULL,
            created REAL NOT NULL
        )""",
        """CREATE TABLE attempts (
            id INTEGER PRIMARY KEY,
            call_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            mode TEXT NOT NULL CHECK (mode IN ('prompt', 'wrap', 'fallback')),
            schema_id TEXT NOT NULL REFERENCES schemas (id),
            function TEXT NOT NULL,
            prompt TEXT,
            output TEXT NOT NULL,
            document TEXT,
            valid INTEGER NOT NULL,
            errors TEXT NOT NULL,
            model TEXT,
            latency REAL,
            created REAL NOT NULL,
            UNIQUE (call_id, attempt)
        )""",
        "CREATE INDEX attempts_by_schema ON attempts (schema_id, mode, attempt)",
    ),
    # Where each attempt's constraint was enforced ({"by": ..., "checked": [...]}); NULL for a
    # wrapped call (formatlock did not decode it) and for attempts logged before this step.
    ("ALTER TABLE attempts ADD COLUMN enforced TEXT",),
]

_log = logging.getLogger("formatlock.calllog")
_keepers: dict[tuple[int, Path], sqlite3.Connection] = {}  # (pid, database) -> idle connection; see _connect
_stored_schemas: set[tuple[Path, str]] = set()  # (database, schema id) known to be stored
_state_lock = threading.Lock()
_warned = False


@dataclass(frozen=True)
class LoggedAttempt:
    """One attempt of one call, as written to and read from the log."""

    call_id: str
    attempt: int  # 1-based, numbered across the whole call (wrap attempts, then fallback ones)
    mode: Mode
    schema_id: str
    function: str
    prompt: str | list[dict[str, str]] | None  # None when a wrapped function had no prompt argument
    output: str  # the raw text
    valid: bool
    errors: list[Issue] = field(default_factory=list)
    document: Any = None  # the validated JSON value (valid attempts only)
    model: str | None = None  # None for wrapped remote calls
    latency: float | None = None  # seconds; None where the attempt was not timed on its own
    timestamp: float = field(default_factory=time.time)
    schema_title: str = ""  # filled in when read back
    enforced: Enforced | None = None  # where formatlock enforced the constraint; None for a wrapped call


@dataclass(frozen=True)
class SchemaStats:
    """Per-schema counts, and the prompt-only valid rate (first attempts of wrapped calls)."""

    schema_id: str
    name: str
    title: str
    calls: int
    valid_calls: int
    attempts: int
    valid_attempts: int
    wrap_first_attempts: int
    wrap_first_valid: int

    @property
    def prompt_only_valid_rate(self) -> float | None:
        """How often the wrapped LLM was right first time; None without wrapped calls."""
        return self.wrap_first_valid / self.wrap_first_attempts if self.wrap_first_attempts else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema_id": self.schema_id, "name": self.name, "title": self.title, "calls": self.calls,
            "valid_calls": self.valid_calls, "attempts": self.attempts, "valid_attempts": self.valid_attempts,
            "wrap_first_attempts": self.wrap_first_attempts, "wrap_first_valid": self.wrap_first_valid,
            "prompt_only_valid_rate": self.prompt_only_valid_rate,
        }


@dataclass(frozen=True)
class LoggedSchema:
    """A schema as stored in the log; ``load_schema(entry.document)`` reloads it."""

    id: str
    name: str
    title: str
    document: dict[str, Any] | bool


class CallLog:
    """The SQLite call log at ``path`` (default: ``calls.sqlite3`` in ``FORMATLOCK_HOME``, see :mod:`formatlock.settings`)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is not None and not isinstance(path, str | os.PathLike):
            raise UsageError(f"a call log path must be a path, not {path!r}")
        self.path = Path(path) if path is not None else settings.home() / "calls.sqlite3"

    def add(self, schema: Schema, attempts: Iterable[LoggedAttempt]) -> None:
        """Write attempts (and the schema, once per id) in one short transaction."""
        rows = [_row(a) for a in attempts]
        key = (self.path, schema.id)
        with self._transaction() as conn:
            if key not in _stored_schemas:
                conn.execute(
                    "INSERT OR IGNORE INTO schemas (id, name, title, document, created) VALUES (?, ?, ?, ?, ?)",
                    (schema.id, schema.name, schema.title, _dumps(schema.document), time.time()),
                )
            conn.executemany(
                "INSERT INTO attempts (call_id, attempt, mode, schema_id, function, prompt, output, document, "
                "valid, errors, model, latency, created, enforced) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        with _state_lock:
            _stored_schemas.add(key)

    def iter_attempts(
        self,
        *,
        schema_id: str | None = None,
        mode: Mode | None = None,
        first_only: bool = False,
        valid: bool | None = None,
    ) -> Iterator[LoggedAttempt]:
        """Logged attempts in the order written, filtered by schema id, mode, first attempts, validity."""
        where, params = ["1"], []
        for column, value in (("a.schema_id", schema_id), ("a.mode", mode), ("a.valid", valid)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(int(value) if isinstance(value, bool) else value)
        if first_only:
            where.append("a.attempt = 1")
        if not self.path.exists():
            return
        with self._readable(), closing(self._reader()) as conn:
            cursor = conn.execute(
                "SELECT a.call_id, a.attempt, a.mode, a.schema_id, a.function, a.prompt, a.output, a.valid, "
                "a.errors, a.document, a.model, a.latency, a.created, s.title, a.enforced FROM attempts a "
                f"JOIN schemas s ON s.id = a.schema_id WHERE {' AND '.join(where)} ORDER BY a.id",
                params,
            )
            for row in cursor:
                yield _attempt(row)

    def schema_stats(self, schema_ids: Iterable[str] | None = None) -> list[SchemaStats]:
        """Counts per schema (all schemas, or those in ``schema_ids``), ordered by title."""
        if not self.path.exists():
            return []
        wanted = None if schema_ids is None else list(schema_ids)
        where = "" if wanted is None else f"WHERE s.id IN ({', '.join('?' * len(wanted))})"
        with self._readable(), closing(self._reader()) as conn:
            rows = conn.execute(
                "SELECT s.id, s.name, s.title, COUNT(DISTINCT a.call_id), "
                "COUNT(DISTINCT CASE WHEN a.valid THEN a.call_id END), COUNT(*), TOTAL(a.valid), "
                "TOTAL(a.mode = 'wrap' AND a.attempt = 1), TOTAL(a.mode = 'wrap' AND a.attempt = 1 AND a.valid) "
                f"FROM attempts a JOIN schemas s ON s.id = a.schema_id {where} "
                "GROUP BY s.id ORDER BY s.title, s.id",
                wanted or [],
            ).fetchall()
        return [SchemaStats(r[0], r[1], r[2], *(int(x) for x in r[3:])) for r in rows]

    def enforcement(self, schema_ids: Iterable[str] | None = None) -> dict[str, list[tuple[Enforced, int]]]:
        """Per schema id: each way its calls' constraint was enforced, and how many attempts it took."""
        if not self.path.exists():
            return {}
        wanted = None if schema_ids is None else list(schema_ids)
        where = "" if wanted is None else f"AND schema_id IN ({', '.join('?' * len(wanted))})"
        with self._readable(), closing(self._reader()) as conn:
            rows = conn.execute(
                f"SELECT schema_id, enforced, COUNT(*) FROM attempts WHERE enforced IS NOT NULL {where} "
                "GROUP BY schema_id, enforced ORDER BY schema_id, COUNT(*) DESC", wanted or []).fetchall()
        found: dict[str, list[tuple[Enforced, int]]] = {}
        for schema_id, enforced, count in rows:
            found.setdefault(schema_id, []).append((Enforced.from_dict(json.loads(enforced)), int(count)))
        return found

    def schemas(self) -> list[LoggedSchema]:
        """Every schema that has been logged, with its document."""
        if not self.path.exists():
            return []
        with self._readable(), closing(self._reader()) as conn:
            rows = conn.execute("SELECT id, name, title, document FROM schemas ORDER BY title, id").fetchall()
        return [LoggedSchema(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def schema_ids(self, ref: str) -> list[str]:
        """Ids of the schemas ``ref`` names: a logged id, title or name, or anything
        :func:`~formatlock.load_schema` accepts (path, bundled name, module:Class)."""
        ids = {s.id for s in self.schemas() if ref in (s.id, s.title, s.name)}
        with suppress(FormatlockError):
            ids.add(load_schema(ref).id)
        return sorted(ids)

    def _connect(self) -> sqlite3.Connection:
        """A new connection in autocommit mode (transactions are explicit); migrates on first use.

        The first use in a process also opens a *keeper*, an idle connection held until exit: while
        one connection stays open, closing the others does not checkpoint and delete the WAL each time.
        """
        key = (os.getpid(), self.path)  # after a fork, the child migrates and keeps its own
        if not self.path.exists():  # new, or deleted since this process last saw it
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with _state_lock:
                stale = _keepers.pop(key, None)
                _stored_schemas.difference_update({k for k in _stored_schemas if k[0] == self.path})
            if stale is not None:
                stale.close()
        conn = _open(self.path)
        if key not in _keepers:
            _migrate(conn)
            keeper = _open(self.path)
            keeper.execute("PRAGMA user_version").fetchone()  # opens the WAL
            with _state_lock:
                extra = keeper if key in _keepers else None
                _keepers.setdefault(key, keeper)
            if extra is not None:  # another thread got there first
                extra.close()
        return conn

    def _reader(self) -> sqlite3.Connection:
        """A connection to read with: the usual one, or a read-only one where the log cannot be
        written (a read-only folder, file or disk), so a healthy log can always be read."""
        conn = None
        try:
            conn = self._connect()
            conn.execute("SELECT 1 FROM schemas LIMIT 1").fetchall()  # reading a WAL log writes its index
            return conn
        except (sqlite3.OperationalError, OSError):
            if conn is not None:
                conn.close()
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
            conn.execute("SELECT 1 FROM schemas LIMIT 1").fetchall()
            return conn

    @contextmanager
    def _readable(self) -> Iterator[None]:
        """Reading a file that is not a call log (corrupt, truncated, another format) is an InputError."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise InputError(f"cannot read the call log {self.path}: {exc}; move the file aside to start a new log") from None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous = NORMAL")  # in WAL mode a commit still survives a crashed process
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    """Switch to WAL and apply the pending migration steps, each in its own transaction."""
    conn.execute("PRAGMA journal_mode = WAL")
    for version, statements in enumerate(MIGRATIONS, start=1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] < version:  # re-read under the lock
                for statement in statements:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def record(schema: Schema, attempts: Iterable[LoggedAttempt]) -> None:
    """Add attempts to the default log; a failure warns once per process and never raises."""
    global _warned
    try:
        CallLog().add(schema, attempts)
    except Exception as exc:  # noqa: BLE001 - the user's call must survive any logging failure
        _log.debug("call log write failed", exc_info=True)
        with _state_lock:
            first, _warned = not _warned, True
        if first:
            warnings.warn(f"formatlock: cannot write the call log ({exc}); calls are not being recorded",
                          RuntimeWarning, stacklevel=2)


def _dumps(value: Any) -> str:
    return json_text.dumps(value)


def _row(a: LoggedAttempt) -> tuple[Any, ...]:
    if a.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {a.mode!r}")
    return (
        a.call_id, a.attempt, a.mode, a.schema_id, a.function, None if a.prompt is None else _dumps(a.prompt),
        a.output, _dumps(a.document) if a.valid else None, int(a.valid),
        _dumps([i.as_dict() for i in a.errors]), a.model, a.latency, a.timestamp,
        None if a.enforced is None else _dumps(a.enforced.as_dict()),
    )


def _attempt(row: tuple[Any, ...]) -> LoggedAttempt:
    (call_id, attempt, mode, schema_id, function, prompt, output, valid, errors, document, model, latency,
     created, title, enforced) = row
    return LoggedAttempt(
        call_id=call_id, attempt=attempt, mode=mode, schema_id=schema_id, function=function,
        prompt=None if prompt is None else json.loads(prompt), output=output, valid=bool(valid),
        errors=[Issue(**e) for e in json.loads(errors)], document=None if document is None else json_text.loads(document),
        model=model, latency=latency, timestamp=created, schema_title=title,
        enforced=None if enforced is None else Enforced.from_dict(json.loads(enforced)),
    )
