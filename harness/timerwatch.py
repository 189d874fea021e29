"""How late the harness's own timers woke during a real-time run: the bench's health, kept
beside the verdicts.

A real-time verdict rests on the times the harness reads. When the machine under the harness
stalls (a virtual CPU the host took away, a process that held the interpreter lock, a busy
machine), a timer wakes late and a receive is stamped late, and an interval or a latency can
look wrong for the bench's sake, not the part's. Nothing inside the run can undo that; what
the harness can do is say when it happened, so a technician reading a timing FAIL sees
whether the bench itself stalled at that moment.

:func:`watching_timers` runs, for the length of a real-time run, one thread that waits
:data:`PERIOD` at a time and measures how much later than asked it woke: late because its
CPU or the interpreter lock was not given back in time, as any of the harness's threads
would be. Its summary (a dict, updated in place about every second and at the end, so that
``run.json`` written mid-run has it too) goes to ``run.json``'s ``priority.timers``:

* ``wakeups``, ``late_over_2ms``, ``late_over_10ms``: how many waits, and how many woke more
  than 2 ms and 10 ms late;
* ``worst_ms`` and ``stalls``: the :data:`KEEP` latest wake-ups more than :data:`STALL` late,
  each with its wall-clock time (``at``, seconds since the epoch, as the trace's timestamps)
  and how late (``late_ms``);
* ``steal_ms``: the time the hypervisor gave this machine's CPUs to others meanwhile
  (``/proc/stat``'s steal column, all CPUs together; null where the OS has no such count).

A simulator in a process of its own (``harness sim run``) watches its timers the same way and
prints its summary as a :data:`TIMERS_LINE` on stderr when it changed (at most about once a
second); the harness that started it (:class:`harness.qualify.simproc.SimProcessLane`) keeps
the latest in ``priority.simulator.timers``.

It judges nothing and changes no verdict. One wake-up every 2 ms costs about 1 % of a core.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = [
    "KEEP",
    "PERIOD",
    "STALL",
    "SUMMARY_KEYS",
    "TIMERS_LINE",
    "TimerWatch",
    "describe",
    "described",
    "watching_timers",
]

PERIOD = 0.002  # seconds the watching thread waits at a time
LATE = 0.002  # a wake-up later than this counts as late
STALL = 0.010  # a wake-up later than this is kept with its time
KEEP = 500  # stalls kept (the latest): a few per second on a busy VM, minutes of them
PUBLISH_EVERY = 1.0  # seconds between two updates of the summary
PROC_STAT = "/proc/stat"
SUMMARY_KEYS = (
    "period_ms",
    "wakeups",
    "late_over_2ms",
    "late_over_10ms",
    "worst_ms",
    "stalls",
    "steal_ms",
)  # always all of them (steal_ms None where not known)
TIMERS_LINE = "timer watch: "  # how a simulator process reports its summary (JSON follows)


def steal_ticks(path: str = PROC_STAT) -> int | None:
    """The hypervisor's steal time of all CPUs so far, in clock ticks (None: not known)."""
    try:
        with open(path, encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    try:
        return int(fields[8])
    except ValueError:
        return None


class TimerWatch:
    """Counts late wake-ups of a thread that waits :data:`PERIOD` at a time.

    :meth:`record` takes one wait (when it began and ended, monotonic seconds) and is the
    whole of the bookkeeping; :meth:`start` runs the waits on a daemon thread until
    :meth:`stop`.
    """

    def __init__(
        self,
        period: float = PERIOD,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        steal: Callable[[], int | None] = steal_ticks,
        on_publish: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.period = period
        self._on_publish = on_publish  # called with the summary each time it is updated
        self._clock = clock
        self._wall = wall
        self._steal = steal
        self._steal_at_start = steal()
        self.wakeups = 0
        self.late = 0
        self.late_10ms = 0
        self.worst = 0.0
        self.stalls: deque[dict[str, float]] = deque(maxlen=KEEP)  # the latest
        self.summary: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.publish()

    def record(self, began: float, ended: float) -> None:
        late = max(0.0, ended - began - self.period)
        self.wakeups += 1
        if late > LATE:
            self.late += 1
        self.worst = max(self.worst, late)
        if late > STALL:
            self.late_10ms += 1
            at = self._wall() - (self._clock() - ended)  # when it woke, on the wall clock
            self.stalls.append({"at": round(at, 6), "late_ms": round(late * 1e3, 3)})

    def publish(self) -> None:
        """Update :attr:`summary` in place (same keys; each value replaced whole, so that a
        reader serialising it meanwhile never sees it change size)."""
        values: dict[str, Any] = {
            "period_ms": round(self.period * 1e3, 3),
            "wakeups": self.wakeups,
            "late_over_2ms": self.late,
            "late_over_10ms": self.late_10ms,
            "worst_ms": round(self.worst * 1e3, 3),
            "stalls": list(self.stalls),
        }
        now, steal_ms = self._steal(), None
        if now is not None and self._steal_at_start is not None:
            tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
            steal_ms = round((now - self._steal_at_start) * 1e3 / tick, 1)
        values["steal_ms"] = steal_ms
        self.summary.update(values)
        if self._on_publish is not None:
            self._on_publish(self.summary)

    def _run(self) -> None:
        clock, stop, period = self._clock, self._stop, self.period
        published = clock()
        while True:
            began = clock()
            if stop.wait(period):
                break
            ended = clock()
            self.record(began, ended)
            if ended - published >= PUBLISH_EVERY:
                self.publish()
                published = ended
        self.publish()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="timer-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None


@contextlib.contextmanager
def watching_timers(
    period: float = PERIOD, on_publish: Callable[[dict[str, Any]], None] | None = None
) -> Iterator[dict[str, Any]]:
    """Watch this process's timers until the block ends; yields the summary (updated in
    place about every second, final once the block has ended; ``on_publish`` is called with
    it each time)."""
    watch = TimerWatch(period, on_publish=on_publish)
    watch.start()
    try:
        yield watch.summary
    finally:
        watch.stop()


def described(priority: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Whose timers were watched in a run (``run.json``'s ``priority``: the harness's
    ``timers``, and a simulator process's as it last reported them), each with its line."""
    priority = priority or {}
    found = [("the harness's timers", describe(priority.get("timers")))]
    simulator = priority.get("simulator")
    if isinstance(simulator, Mapping):
        found.append(("the simulator's timers", describe(simulator.get("timers"))))
    return [(who, line) for who, line in found if line is not None]


def describe(timers: Any) -> str | None:
    """One line on a timer watch's summary for the console and the report; None where there
    is none (a simulated run, an older record, a simulator that has not reported yet)."""
    if not isinstance(timers, Mapping) or not isinstance(timers.get("wakeups"), int):
        return None
    if timers["wakeups"] == 0:  # watched for less than one wait: nothing to say
        return None
    line = (
        f"{timers['wakeups']} wake-ups every {timers.get('period_ms', '?')} ms: "
        f"{timers.get('late_over_2ms', 0)} more than 2 ms late, "
        f"{timers.get('late_over_10ms', 0)} more than 10 ms"
    )
    stalls = timers.get("stalls") or []
    if stalls:
        worst = max(stalls, key=lambda s: float(s.get("late_ms", 0.0)))
        at = dt.datetime.fromtimestamp(float(worst.get("at", 0.0)), dt.timezone.utc)
        line += f" (worst {worst.get('late_ms')} ms, at {at.strftime('%H:%M:%S.%f')[:-3]} UTC)"
    if timers.get("steal_ms") is not None:
        line += f"; hypervisor steal {timers['steal_ms']} ms"
    return line
