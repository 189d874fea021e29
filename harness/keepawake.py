"""Keep a virtual machine's CPUs awake during a real-time run.

On a virtual machine an idle CPU halts, and its host then runs something else on it: a
timer that falls due while the virtual CPU is off waits until the host gives it back. No
priority inside the guest helps (the part's round-robin timers included). Measured on the
project's 2-core VM (``bench/keep_awake.py``): a round-robin thread sleeping 0.5 ms at a time
overslept by more than 2 ms 21 to 101 times in 10 s, up to 14.6 ms, in the host's busy
periods; with one busy process at the lowest priority on each CPU, 1 to 9 times, up to
5.9 ms (in quiet periods the two are alike). Such wake-ups are what fail a 2 ms band
(CC-GW-1's routing and BODY_VehInfo cycle) in a real-time run.

The bench's ``realtime: {keep_awake: auto | true | false}`` (default false; ``auto``: true
where the CPU says it runs under a hypervisor, false on a physical machine) starts, for the
length of a real-time run, one process per CPU the harness may run on, each pinned to its
CPU, in its own session at the weakest autogroup nice (19) and with the ``SCHED_IDLE``
policy, busy in a loop: the kernel runs it only when nothing else on that CPU wants to run
(every ordinary or round-robin thread preempts it at once), so it takes CPU time from no one
and only keeps the virtual CPU from halting. It costs host CPU while the run lasts, hence
off on physical machines; off by default, as its effect on rare long stalls is not measured
yet (README). Each one ends when the run ends, and on its own within about 10 ms when the
process that started it is gone (a ``kill -9`` of the harness leaves none behind).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any, Literal

__all__ = ["KeepAwakeSetting", "kept_awake", "on_hypervisor", "should_keep_awake"]

KeepAwakeSetting = Literal["auto"] | bool
Applied = dict[str, Any]  # what was done, for run.json
CPUINFO = "/proc/cpuinfo"

# The busy loop: its own session's autogroup at nice 19, SCHED_IDLE, pinned to one CPU; it
# looks for its parent every ~10 ms and ends when the parent is gone.
_LOOP = """
import os, sys, time
parent, cpu = int(sys.argv[1]), int(sys.argv[2])
try:
    with open("/proc/self/autogroup", "w") as f:
        f.write("19")
except OSError:
    pass
try:
    os.sched_setaffinity(0, {cpu})
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
except (OSError, AttributeError):
    pass
os.nice(19)
print("awake", flush=True)
clock = time.monotonic
while os.getppid() == parent:
    end = clock() + 0.01
    while clock() < end:
        pass
"""


def on_hypervisor(cpuinfo: str = CPUINFO) -> bool:
    """Whether the CPU flags say this machine is a virtual one (Linux's ``hypervisor``)."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return "hypervisor" in line.split(":", 1)[-1].split()
    except OSError:
        return False
    return False


def should_keep_awake(setting: KeepAwakeSetting) -> tuple[bool, str]:
    """Whether to keep the CPUs awake for ``setting``, and why (for ``run.json``)."""
    if setting is False:
        return False, "false in the bench"
    if setting is True:
        return True, "true in the bench"
    if on_hypervisor():
        return True, "auto: a virtual machine (the CPU's hypervisor flag)"
    return False, "auto: not a virtual machine"


def _cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


@contextlib.contextmanager
def kept_awake(setting: KeepAwakeSetting) -> Iterator[Applied]:
    """One busy lowest-priority process per CPU while the block runs (see the module), where
    ``setting`` says so; yields what was done, for ``run.json``: ``{"applied": why}`` and,
    when on, ``cpus`` and ``pids``."""
    keep, why = should_keep_awake(setting)
    out: Applied = {"setting": setting, "applied": why}
    if not keep:
        yield out
        return
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for cpu in _cpus():
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", _LOOP, str(os.getpid()), str(cpu)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,  # holds no pipe of the harness's caller open
                    start_new_session=True,  # an autogroup of its own, at nice 19
                )
            )
        for proc in procs:  # each has set itself down before the run goes on
            assert proc.stdout is not None
            proc.stdout.readline()
        out["cpus"] = _cpus()
        out["pids"] = [proc.pid for proc in procs]
        yield out
    finally:
        for proc in procs:
            with contextlib.suppress(OSError):
                proc.kill()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()
