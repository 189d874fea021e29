"""A raised scheduling priority for the timing-critical processes of a real-time run.

A real-time run judges real timing: a 100 ms BSM must arrive within 80..120 ms and the
rest-bus keeps a 20 ms cycle. On a shared machine a CPU-heavy neighbour can hold a core long
enough to push one message out of its window, and that would look like the part's fault. A
lab bench runs its timing-critical processes ahead of ordinary ones; the bench's
``realtime: {priority: auto | off | N}`` (default ``auto``) does that here for the harness,
the simulator process and the embedded broker process it starts (never in a simulated run,
whose clock is virtual):

* **autogroup nice** (Linux with ``sched_autogroup_enabled``): the kernel first shares the
  CPU between sessions ("autogroups"), and a nice value only counts inside its session, so a
  busy job in another session (a second terminal, another developer's tests) competes with the
  whole harness on equal terms. Writing ``-N`` to ``/proc/self/autogroup`` gives the
  process's session that much more weight (about 1.25^N: 9x for N = 10);
* **nice** ``-N`` for every thread of the process (inside its session);
* **round robin** (``SCHED_RR``) for every thread: the simulator at priority 10, the harness
  and the broker at 5, below it (a harness busy evaluating a check never delays the part's
  timers). Each of their threads waits for a timer, a socket or a queue; none polls without
  sleeping. Measured (a qualification's real-time run beside two ``while True: pass`` in
  another session, on a machine other developers' tests also loaded): with nice alone (-5;
  or -10 with the autogroup's) the harness's event-loop thread still waited 100 to 188 ms
  in the run queue (``/proc/PID/task/TID/schedstat``) and one BSM arrived 156 ms after the one
  before; a real-time policy takes it ahead of every ordinary process whatever its session.
  The kernel keeps 5 % of each core for ordinary processes
  (``sched_rt_runtime_us``) whatever round-robin threads do.

Each needs ``CAP_SYS_NICE`` (root); what the OS refuses is skipped silently and recorded: the
result of :func:`apply` is what ``run.json``'s ``priority`` says was applied and why not.
``auto`` is N = 10; ``off`` leaves everything as it was. :func:`raised` puts back what it
changed when the run ends.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any, Literal

__all__ = [
    "AUTO_LEVEL",
    "HARNESS_ROUND_ROBIN",
    "PRIORITY_LINE",
    "ROUND_ROBIN",
    "Applied",
    "PrioritySetting",
    "apply",
    "level_of",
    "parse_setting",
    "raised",
]

AUTO_LEVEL = 10  # 'auto': nice -10 (about 9x the CPU weight of an ordinary process or session)
MAX_LEVEL = 20  # nice -20 is the strongest there is
# SCHED_RR priorities (1..99; any is ahead of every ordinary process): the simulator's timers
# first, then the harness and the broker, so a harness busy evaluating never delays the part.
ROUND_ROBIN = 10  # the simulator
HARNESS_ROUND_ROBIN = 5  # the harness and the embedded broker
AUTOGROUP = "/proc/self/autogroup"
# How a child process says what it applied: this, then apply()'s result as JSON, one line.
PRIORITY_LINE = "scheduling priority: "

PrioritySetting = Literal["auto", "off"] | int
Applied = dict[str, Any]


def parse_setting(text: str) -> PrioritySetting:
    """``auto``, ``off`` or N (1..20), as the command line of a child process gives it;
    ValueError otherwise."""
    if text in ("auto", "off"):
        return text  # type: ignore[return-value]  # narrowed by the test above
    n = int(text)
    if not 1 <= n <= MAX_LEVEL:
        raise ValueError(f"priority {n} is not in 1..{MAX_LEVEL}")
    return n


def level_of(setting: PrioritySetting) -> int | None:
    """How far above ordinary processes (the nice value's size), None for ``off``."""
    if setting == "off":
        return None
    return AUTO_LEVEL if setting == "auto" else int(setting)


def _why(exc: OSError) -> str:
    return "not permitted (needs CAP_SYS_NICE)" if isinstance(exc, PermissionError) else str(exc)


def _read_autogroup() -> int | None:
    """This process's autogroup nice, None when the kernel has no autogroups."""
    try:
        with open(AUTOGROUP, encoding="ascii") as f:
            return int(f.read().split()[-1])  # "/autogroup-123 nice 0"
    except (OSError, ValueError, IndexError):
        return None


def _set_autogroup(nice: int) -> None:
    with open(AUTOGROUP, "w", encoding="ascii") as f:
        f.write(str(nice))


def _threads() -> list[int]:
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return [0]  # not Linux: the calling thread (the process elsewhere)


def _raise_autogroup(level: int, out: Applied) -> None:
    before = _read_autogroup()
    if before is None:
        out["autogroup"] = "not available (no /proc/self/autogroup)"
        return
    if before <= -level:
        out["autogroup"] = {"nice": before, "before": before}
        return
    try:
        _set_autogroup(-level)
    except OSError as exc:
        out["autogroup"] = _why(exc)
        return
    out["autogroup"] = {"nice": _read_autogroup(), "before": before}


def _raise_threads(level: int, out: Applied, before: dict[int, int]) -> None:
    raised, refused = 0, ""
    for tid in _threads():
        try:
            nice = os.getpriority(os.PRIO_PROCESS, tid)
            if nice > -level:
                os.setpriority(os.PRIO_PROCESS, tid, -level)
                before[tid] = nice
            raised += 1
        except ProcessLookupError:
            continue  # the thread ended meanwhile
        except OSError as exc:
            refused = _why(exc)
    out["nice"] = {"nice": -level, "threads": raised} if raised else refused or "no threads"


def _round_robin(priority: int, out: Applied, changed: list[int]) -> None:
    try:
        for tid in _threads():  # policy is per thread; new threads inherit it
            with contextlib.suppress(ProcessLookupError):
                if os.sched_getscheduler(tid) == os.SCHED_OTHER:
                    os.sched_setscheduler(tid, os.SCHED_RR, os.sched_param(priority))
                    changed.append(tid)
        out["round_robin"] = priority
    except AttributeError:
        out["round_robin"] = "not available on this OS"
    except OSError as exc:
        out["round_robin"] = _why(exc)


class _Undo:
    """What :func:`apply` changed, to put back."""

    def __init__(self) -> None:
        self.nice: dict[int, int] = {}  # thread -> its nice before
        self.round_robin: list[int] = []  # threads moved from SCHED_OTHER
        self.autogroup: int | None = None  # the session's autogroup nice before

    def __call__(self) -> None:
        for tid in self.round_robin:
            with contextlib.suppress(OSError, AttributeError):
                os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
        for tid, nice in self.nice.items():
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, tid, nice)
        if self.autogroup is not None:
            with contextlib.suppress(OSError):
                _set_autogroup(self.autogroup)


def _apply(setting: PrioritySetting, round_robin: int | None, undo: _Undo) -> Applied:
    level = level_of(setting)
    out: Applied = {"setting": setting, "pid": os.getpid()}
    if level is None:
        out["applied"] = "nothing: off in the bench"
        return out
    _raise_autogroup(level, out)
    group = out["autogroup"]
    if isinstance(group, dict) and group["nice"] != group["before"]:
        undo.autogroup = group["before"]
    _raise_threads(level, out, undo.nice)
    if round_robin is not None:
        _round_robin(round_robin, out, undo.round_robin)
    return out


def apply(setting: PrioritySetting, *, round_robin: int | None = None) -> Applied:
    """Raise this process as ``setting`` says; returns what was applied, or why not, per
    mechanism (``autogroup``, ``nice``, ``round_robin``), for ``run.json``.

    ``round_robin``: that SCHED_RR priority for every thread (new ones inherit it), for a
    process whose threads wait for timers, sockets or queues (see the module). What the OS
    refuses is left as it was, never an error."""
    return _apply(setting, round_robin, _Undo())


@contextlib.contextmanager
def raised(setting: PrioritySetting, *, round_robin: int | None = None) -> Iterator[Applied]:
    """:func:`apply` for a while; what it changed is put back at the end (the autogroup is
    the whole session's: a shell and what it started). A child process started in the
    session of a harness that raised it first finds it raised and leaves it alone."""
    undo = _Undo()
    try:
        yield _apply(setting, round_robin, undo)
    finally:
        undo()
