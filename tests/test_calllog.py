"""The SQLite call log: layout and migrations, the reader API, threads, processes, a killed writer."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from formatlock import calllog, settings
from formatlock.calllog import MIGRATIONS, CallLog, LoggedAttempt
from formatlock.enforce import enforce
from formatlock.errors import Enforced, Issue
from formatlock.schema.loading import load_schema

NUMBER = {"title": "Number", "type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}

# A writer process: `python -c WRITER COUNT` makes COUNT enforced calls (0: until killed) and
# prints how many have returned, i.e. how many rows it has committed, after each one.
WRITER = """
import sys
from formatlock.enforce import enforce

@enforce.output({"title": "Number", "type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})
def ask(prompt: str) -> str:
    return '{"n": %s}' % prompt

count, i = int(sys.argv[1]), 0
while count == 0 or i < count:
    i += 1
    ask(str(i))
    print(i, flush=True)
"""


pytestmark = pytest.mark.usefixtures("home")  # a fresh FORMATLOCK_HOME per test (conftest)


def attempt(call_id: str, number: int, mode: str = "wrap", valid: bool = True, **extra: object) -> LoggedAttempt:
    fields: dict[str, object] = {
        "call_id": call_id, "attempt": number, "mode": mode, "schema_id": load_schema(NUMBER).id,
        "function": "tests.f", "prompt": "p", "output": '{"n": 1}' if valid else "no", "valid": valid,
        "document": {"n": 1} if valid else None,
        "errors": [] if valid else [Issue("", "json", "not valid JSON: Expecting value")],
    }
    return LoggedAttempt(**{**fields, **extra})  # type: ignore[arg-type]


def test_default_location_follows_formatlock_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert CallLog().path == home / "calls.sqlite3"
    monkeypatch.delenv("FORMATLOCK_HOME")
    assert settings.home() == Path.home() / ".local" / "share" / "formatlock"


def test_fresh_database_is_migrated_and_in_wal_mode(home: Path) -> None:
    CallLog().add(load_schema(NUMBER), [attempt("c1", 1)])
    with sqlite3.connect(home / "calls.sqlite3") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_new_migration_step_upgrades_an_existing_database(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = CallLog()
    log.add(load_schema(NUMBER), [attempt("c1", 1)])
    monkeypatch.setattr(calllog, "MIGRATIONS", [*MIGRATIONS, ("ALTER TABLE attempts ADD COLUMN note TEXT",)])
    monkeypatch.setattr(calllog, "_keepers", {})  # as if a newer formatlock opened the file
    assert len(list(log.iter_attempts())) == 1
    with sqlite3.connect(log.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1
        assert "note" in [row[1] for row in conn.execute("PRAGMA table_info(attempts)")]


def test_round_trip_and_filters() -> None:
    log = CallLog()
    messages = [{"role": "user", "content": "hi"}]
    log.add(load_schema(NUMBER), [
        attempt("c1", 1, valid=False, latency=0.5), attempt("c1", 2),
        attempt("c2", 1, mode="prompt", model="smollm2", prompt=messages,
                enforced=Enforced("server:json_schema", (("/properties/n", "multipleOf"),))),
        attempt("c3", 1, valid=False), attempt("c3", 2, mode="fallback", model="smollm2"),
    ])
    rows = list(log.iter_attempts())
    assert [(r.call_id, r.attempt) for r in rows] == [("c1", 1), ("c1", 2), ("c2", 1), ("c3", 1), ("c3", 2)]
    first = rows[0]
    assert first.errors == [Issue("", "json", "not valid JSON: Expecting value")]
    assert (first.valid, first.document, first.latency, first.schema_title) == (False, None, 0.5, "Number")
    assert rows[1].document == {"n": 1} and rows[2].prompt == messages and rows[2].model == "smollm2"
    assert rows[2].enforced == Enforced("server:json_schema", (("/properties/n", "multipleOf"),))
    assert rows[0].enforced is None  # a wrapped call: formatlock did not decode it
    assert log.enforcement() == {load_schema(NUMBER).id: [(rows[2].enforced, 1)]}
    schema_id = load_schema(NUMBER).id
    assert [r.call_id for r in log.iter_attempts(mode="wrap", first_only=True)] == ["c1", "c3"]
    assert [r.call_id for r in log.iter_attempts(valid=True)] == ["c1", "c2", "c3"]
    assert [r.call_id for r in log.iter_attempts(mode="wrap", first_only=True, valid=True)] == []
    assert len(list(log.iter_attempts(schema_id=schema_id))) == 5
    assert list(log.iter_attempts(schema_id="0" * 16)) == []


def test_schema_is_stored_once_and_reloadable() -> None:
    log = CallLog()
    for call in ("c1", "c2"):
        log.add(load_schema(NUMBER), [attempt(call, 1)])
    [stored] = log.schemas()
    assert stored.document == NUMBER and stored.title == "Number"
    assert load_schema(stored.document).id == stored.id


def test_schema_stats() -> None:
    log = CallLog()
    log.add(load_schema(NUMBER), [
        attempt("c1", 1, valid=False), attempt("c1", 2),
        attempt("c2", 1),
        attempt("c3", 1, valid=False), attempt("c3", 2, valid=False),
        attempt("c4", 1, mode="prompt"),
    ])
    [stats] = log.schema_stats()
    assert (stats.calls, stats.valid_calls, stats.attempts, stats.valid_attempts) == (4, 3, 6, 3)
    assert (stats.wrap_first_attempts, stats.wrap_first_valid) == (3, 1)
    assert stats.prompt_only_valid_rate == pytest.approx(1 / 3)
    assert log.schema_stats(["0" * 16]) == []


def test_reading_a_missing_log_creates_nothing(home: Path) -> None:
    log = CallLog()
    assert list(log.iter_attempts()) == [] and log.schema_stats() == [] and log.schemas() == []
    assert not home.exists()


def test_a_deleted_database_is_recreated(home: Path) -> None:
    log = CallLog()
    log.add(load_schema(NUMBER), [attempt("c1", 1)])
    for suffix in ("", "-wal", "-shm"):
        Path(f"{log.path}{suffix}").unlink(missing_ok=True)
    log.add(load_schema(NUMBER), [attempt("c2", 1)])
    assert [r.call_id for r in log.iter_attempts()] == ["c2"]


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        CallLog().add(load_schema(NUMBER), [attempt("c1", 1, mode="remote")])


def test_eight_threads_times_fifty_calls_lose_nothing() -> None:
    @enforce.output(NUMBER)
    def ask(prompt: str) -> str:
        return f'{{"n": {prompt}}}'

    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(50):
                assert ask(str(k * 1000 + i)) == {"n": k * 1000 + i}
        except BaseException as exc:  # noqa: BLE001 - surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = list(CallLog().iter_attempts())
    assert len(rows) == 400 and len({r.call_id for r in rows}) == 400
    assert sorted(r.document["n"] for r in rows) == sorted(k * 1000 + i for k in range(8) for i in range(50))
    [stats] = CallLog().schema_stats()
    assert (stats.calls, stats.valid_calls, stats.wrap_first_valid) == (400, 400, 400)


def test_four_processes_write_at_once(home: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, "50"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.split()[-1] == "50"
    rows = list(CallLog().iter_attempts())
    assert len(rows) == 200 and len({r.call_id for r in rows}) == 200
    with sqlite3.connect(home / "calls.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_writer_killed_mid_writes_leaves_every_committed_row(home: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, "0"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if int(line) >= 100:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    committed = max([int(line), *(int(x) for x in proc.stdout.read().split())])  # lines still in the pipe
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(home / "calls.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = list(CallLog().iter_attempts())
    assert committed <= len(rows) <= committed + 1  # at most one commit was not yet reported
    assert [r.document["n"] for r in rows] == list(range(1, len(rows) + 1))
