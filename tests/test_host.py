"""Host fitness: extra CPU buffer types only where they run (AMX in sandboxes), threads that follow the load.

The decisions are tested on simulated CPUs, check processes and loads, so no AMX machine is needed;
the real path (the embedded model generating with the decision applied) runs in every model test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from formatlock.errors import ModelError, UsageError
from formatlock.runtime import extra_buffers
from formatlock.runtime.extra_buffers import FAILED, OK, Outcome, decide, outcome_of
from formatlock.runtime.threads import Governor, Sample, others_busy, read_sample, threads_for

AMX = frozenset({"fpu", "avx2", "amx_tile", "amx_int8", "amx_bf16"})
PLAIN = frozenset({"fpu", "avx2", "avx512f"})
SEGV = Outcome("crashed", "SIGSEGV")


class Probes:
    """A simulated check process: the outcome with and without extra buffer types, and the calls made."""

    def __init__(self, with_extra: Outcome, without: Outcome = OK) -> None:
        self.outcomes = {True: with_extra, False: without}
        self.calls: list[bool] = []

    def __call__(self, extra: bool) -> Outcome:
        self.calls.append(extra)
        return self.outcomes[extra]


def test_a_cpu_without_amx_keeps_llama_cpp_defaults_without_a_check() -> None:
    probes = Probes(SEGV)
    made = decide("auto", PLAIN, probes)
    assert made.extra and probes.calls == []


def test_amx_that_runs_keeps_extra_buffers() -> None:
    probes = Probes(OK)
    made = decide("auto", AMX, probes)
    assert made.extra and probes.calls == [True]


def test_amx_that_crashes_loads_without_extra_buffers() -> None:
    probes = Probes(SEGV, OK)
    made = decide("auto", AMX, probes)
    assert not made.extra and made.cacheable and probes.calls == [True, False]
    assert "SIGSEGV" in made.reason


def test_a_crash_without_extra_buffers_too_is_one_error_naming_the_signal() -> None:
    with pytest.raises(ModelError, match="SIGILL.*reinstall llama-cpp-python"):
        decide("auto", AMX, Probes(Outcome("crashed", "SIGILL"), Outcome("crashed", "SIGILL")))


def test_a_check_without_verdict_is_safe_and_not_remembered() -> None:
    made = decide("auto", AMX, Probes(FAILED))
    assert not made.extra and not made.cacheable


@pytest.mark.parametrize("mode, extra", [("on", True), ("off", False)])
def test_the_setting_forces_either_way_without_a_check(mode: str, extra: bool) -> None:
    probes = Probes(SEGV)
    assert decide(mode, AMX, probes).extra is extra and probes.calls == []


def test_check_processes_are_judged_by_how_they_end() -> None:
    python = sys.executable
    assert outcome_of([python, "-c", "pass"]) == OK
    assert outcome_of([python, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]) == SEGV
    assert outcome_of(["sh", "-c", f"{python} -c 'import os, signal; os.kill(os.getpid(), signal.SIGILL)'"]) \
        == Outcome("crashed", "SIGILL")  # a shell in between reports 128 + signal
    assert outcome_of([python, "-c", "raise SystemExit(3)"]) == FAILED
    assert outcome_of([python, "-c", "import time; time.sleep(30)"], timeout=0.5) == FAILED


def test_the_decision_is_checked_once_per_host_and_cached(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FORMATLOCK_CACHE", str(tmp_path))
    monkeypatch.delenv("FORMATLOCK_EXTRA_BUFFERS", raising=False)
    monkeypatch.setattr(extra_buffers, "cpu_flags", lambda: AMX)
    monkeypatch.setattr(extra_buffers, "_decided", {})
    probes = Probes(SEGV, OK)
    monkeypatch.setattr(extra_buffers, "run_probe", lambda model, extra: probes(extra))
    model = tmp_path / "model.gguf"
    assert not extra_buffers.decision(model).extra
    monkeypatch.setattr(extra_buffers, "_decided", {})  # a new process: only the disk cache is left
    assert not extra_buffers.decision(model).extra
    assert probes.calls == [True, False]
    assert list((tmp_path / "host").iterdir())


@pytest.mark.slow
def test_the_real_check_process_runs_the_embedded_model() -> None:
    from formatlock.runtime.models import resolve

    outcome = extra_buffers.run_probe(resolve(None)[1], extra=False)
    assert outcome == OK  # without extra buffer types llama.cpp runs on every host


def test_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    from formatlock import settings

    monkeypatch.setenv("FORMATLOCK_EXTRA_BUFFERS", "maybe")
    with pytest.raises(UsageError, match="FORMATLOCK_EXTRA_BUFFERS must be one of auto, on, off"):
        settings.extra_buffers()
    monkeypatch.setenv("FORMATLOCK_EXTRA_BUFFERS", "OFF")
    assert settings.extra_buffers() == "off"
    monkeypatch.setenv("FORMATLOCK_THREADS", "auto")
    assert settings.threads() is None
    monkeypatch.setenv("FORMATLOCK_THREADS", "two")
    with pytest.raises(UsageError, match="whole number or auto"):
        settings.threads()


# Threads


@pytest.mark.parametrize("cores, others, threads", [
    (2, 0.0, 2), (2, 0.5, 2), (2, 0.59, 2), (2, 0.65, 1), (2, 1.0, 1), (2, 3.0, 1),
    (8, 0.0, 8), (8, 1.7, 6), (8, 2.2, 6), (1, 0.9, 1),
])
def test_threads_leave_cores_others_keep_busy(cores: int, others: float, threads: int) -> None:
    assert threads_for(cores, others) == threads


def test_others_are_the_busy_time_less_this_process() -> None:
    before, after = Sample(busy=10.0, own=2.0, wall=100.0), Sample(busy=12.5, own=3.5, wall=101.0)
    assert others_busy(before, after) == pytest.approx(1.0)
    assert others_busy(after, after) == 0.0


class Clock:
    """Simulated /proc/stat readings: others use ``load`` cores while this process uses ``own``."""

    def __init__(self) -> None:
        self.now, self.busy, self.own, self.load = 0.0, 0.0, 0.0, 0.0
        self.running: int | None = None

    def pass_time(self, seconds: float, own: float = 1.0) -> None:
        self.now += seconds
        self.busy += seconds * (self.load + own)
        self.own += seconds * own

    def read(self) -> Sample:
        return Sample(self.busy, self.own, self.now, self.running)


def test_the_governor_follows_the_load_between_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORMATLOCK_THREADS", raising=False)
    clock = Clock()
    governor = Governor(cores=2, read=clock.read)
    clock.pass_time(1.0)
    assert governor.choose() == 2  # quiet
    clock.load = 0.7
    clock.pass_time(1.0)
    assert governor.choose() == 1  # another process took most of a core
    clock.pass_time(0.05)
    assert governor.choose() == 1  # too short a window to tell: unchanged
    clock.load = 0.0
    clock.pass_time(1.0)
    assert governor.choose() == 2  # it stopped
    monkeypatch.setenv("FORMATLOCK_THREADS", "3")
    assert governor.choose() == 3  # fixed by the user


def test_a_load_that_stopped_before_the_choice_keeps_every_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker taking turns with this one: busy since the last output, idle now."""
    monkeypatch.delenv("FORMATLOCK_THREADS", raising=False)
    clock = Clock()
    governor = Governor(cores=2, read=clock.read)
    clock.load = 1.0
    clock.pass_time(1.0)
    clock.running = 1  # this process alone is runnable now
    assert governor.choose() == 2
    clock.pass_time(1.0)
    clock.running = 2  # the other one still runs
    assert governor.choose() == 1


def test_without_proc_stat_every_core_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORMATLOCK_THREADS", raising=False)
    assert Governor(cores=4, read=lambda: None).choose() == 4


@pytest.mark.skipif(read_sample() is None or (os.cpu_count() or 1) < 2, reason="needs /proc/stat and 2 cores")
def test_a_real_busy_process_is_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORMATLOCK_THREADS", raising=False)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        governor = Governor(cores=2)
        time.sleep(0.6)
        assert governor.choose() == 1
    finally:
        hog.send_signal(signal.SIGKILL)
        hog.wait()


@pytest.fixture
def governed(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Clock]]:
    """A fresh SmolLM2 whose governor reads a simulated clock, on which another process keeps a core busy."""
    from formatlock.runtime.models import Model, resolve

    monkeypatch.delenv("FORMATLOCK_THREADS", raising=False)
    model = Model("smollm2", resolve(None)[1], n_ctx=512)
    clock = Clock()
    model.governor = Governor(cores=2, read=clock.read)
    clock.load = 1.0
    clock.pass_time(1.0)
    try:
        yield model, clock
    finally:
        model.llm.close()


@pytest.mark.slow
def test_a_loaded_model_sets_llama_cpp_threads_from_its_governor(governed: tuple[Any, Clock]) -> None:
    model, clock = governed
    with model.lock:
        assert model.fit_threads() == 1
    assert model.llm.n_threads == 1
    clock.load = 0.0
    clock.pass_time(1.0)
    with model.lock:
        assert model.fit_threads() == 2
    assert model.llm.n_threads == 2


@pytest.mark.slow
def test_a_load_that_ends_during_an_output_costs_a_thread_only_for_its_first_steps(
        governed: tuple[Any, Clock], monkeypatch: pytest.MonkeyPatch) -> None:
    """The thread count is chosen again while an output decodes, not kept for all of it."""
    import numpy as np

    from formatlock.runtime.decoding import Decoder

    model, clock = governed  # another process is busy as the output begins
    seen: list[int] = []
    choose = model.governor.choose

    def tracking() -> int:
        if seen:
            clock.load = 0.0  # and stops once it has begun
        clock.pass_time(0.5)
        seen.append(choose())
        return seen[-1]

    monkeypatch.setattr(model.governor, "choose", tracking)
    monkeypatch.setattr("formatlock.runtime.decoding.RECHECK", 0.0)  # choose again at every step
    with model.lock:
        prompt = model.tokenize("Count from one to fifty:", add_bos=True, special=False)
        Decoder(model).run(prompt, None, max_tokens=8, temperature=0, rng=np.random.default_rng(0))
    assert seen[0] == 1 and seen[-1] == 2  # one thread at the start, both cores again once it was quiet
    assert model.llm.n_threads == 2
