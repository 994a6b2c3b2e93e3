"""How many threads llama.cpp computes with: every core on a quiet machine, fewer on a busy one.

llama.cpp's threads meet at a barrier after every operation of every step, so one thread that
loses its core to another process stalls all of them: on 2 cores with one busy process, 2 threads
decoded 3-5x slower than 1, while on the quiet machine 2 threads are 1.7x faster than 1 (the
table is in docs/host.md). So before each output, and every 0.2 s while one is decoded, the thread
count is chosen again from what other processes used of the CPUs since the last choice
(``/proc/stat`` less this process's own CPU time, so the measurement costs nothing): a core they
keep more than 0.6 busy is left to them, unless no other process is runnable at that moment (the
kernel's ``procs_running``): the load has stopped. Both the check of the moment and the choice
during an output matter where the load comes and goes (a worker taking turns with this one, busy just before
an output and waiting during it): a thread lost for the whole output cost up to a third of the speed.
While a thread is given up, the load is looked at again after 50 ms rather than 0.2 s.
``FORMATLOCK_THREADS=N`` fixes the count instead.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from .. import settings

TAKEN = 0.6  # a core others use more than this much of is theirs (crossover measured between 0.5 and 0.75)
MIN_WINDOW = 0.2  # seconds: shorter windows are too coarse for /proc/stat's 10 ms ticks
RECHECK = 0.05  # seconds: a thread given up is asked back this soon (a core kept busy shows as 5 ticks)


@dataclass(frozen=True)
class Sample:
    """CPU time in seconds: busy on all cores (every process), this process's own, and the wall clock."""

    busy: float
    own: float
    wall: float
    running: int | None = None  # processes runnable at this moment, this one included (None: unknown)


def others_busy(before: Sample, after: Sample) -> float:
    """Cores that other processes (and the hypervisor, as steal time) kept busy between two samples."""
    wall = after.wall - before.wall
    if wall <= 0:
        return 0.0
    return max(0.0, (after.busy - before.busy) - (after.own - before.own)) / wall


def threads_for(cores: int, others: float) -> int:
    """Threads for ``cores`` when other processes use ``others`` cores: every core they leave free, at least one."""
    return max(1, cores - math.floor(others + 1 - TAKEN))


def read_sample() -> Sample | None:
    """Now, from ``/proc/stat`` (Linux); ``None`` where there is no such file."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    fields = lines[0].split() if lines else []
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(f) for f in fields[1:9]]  # user nice system idle iowait irq softirq steal
    busy = sum(ticks) - ticks[3] - ticks[4]
    running = next((int(line.split()[1]) for line in lines if line.startswith("procs_running ")), None)
    own = os.times()
    return Sample(busy / os.sysconf("SC_CLK_TCK"), own.user + own.system, time.monotonic(), running)


class Governor:
    """Chooses one model's thread count before each output, from the load since the last choice."""

    def __init__(self, cores: int | None = None, read: Callable[[], Sample | None] = read_sample) -> None:
        self.cores = cores or settings.cores()
        self._read = read
        self._last = read()
        self.threads = self.cores

    def choose(self) -> int:
        """The thread count for now (unchanged where too little time has passed to tell: at least
        :data:`MIN_WINDOW`, or :data:`RECHECK` while a thread is given up)."""
        fixed = settings.threads()
        if fixed is not None:
            self.threads = fixed
            return fixed
        now = self._read()
        if now is None or self._last is None:
            self.threads = self.cores
            return self.threads
        if now.wall - self._last.wall >= (MIN_WINDOW if self.threads == self.cores else RECHECK):
            threads = threads_for(self.cores, others_busy(self._last, now))
            if threads < self.cores and now.running is not None:  # busy since the last choice: still now?
                threads = max(threads, threads_for(self.cores, now.running - 1))
            self.threads = threads
            self._last = now
        return self.threads

    def settle(self, seconds: float = MIN_WINDOW) -> int:
        """Watch the load for ``seconds`` and choose (for a count fixed once, e.g. a server's)."""
        time.sleep(max(0.0, seconds - (time.monotonic() - self._last.wall)) if self._last else 0.0)
        return self.choose()
