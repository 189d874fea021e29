"""How late a real-time part's timers fire, with and without the CPUs kept awake.

A thread of this process at round-robin priority (where the OS permits, as the simulator
runs in a real-time run) sleeps 0.5 ms at a time, as the simulator's event loop does
between frames, for ``--seconds`` per run, and counts the sleeps that came back more than
1 ms and 2 ms late, and the worst. Interleaved, ``--runs`` times each: as the machine is
(the baseline) and inside ``harness.keepawake.kept_awake(True)`` (one busy lowest-priority
process per CPU). It prints the hypervisor's steal time over each run too (``/proc/stat``),
and the ratio of late sleeps baseline / kept awake. On a physical machine the two are alike;
on a virtual one an idle CPU halts and wakes late (see harness/keepawake.py).

    python bench/keep_awake.py [--runs 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass

from harness.keepawake import kept_awake, on_hypervisor

SLEEP = 0.0005


@dataclass(frozen=True)
class Lateness:
    sleeps: int
    over_1ms: int
    over_2ms: int
    worst: float
    steal_ticks: int


def _steal() -> int:
    """The machine's steal time so far, in clock ticks (0 where /proc/stat has none)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
        return int(fields[8]) if len(fields) > 8 else 0
    except OSError:
        return 0


def measure(seconds: float) -> Lateness:
    steal = _steal()
    late: list[float] = []
    count = 0
    clock = time.perf_counter
    end = clock() + seconds
    while clock() < end:
        start = clock()
        time.sleep(SLEEP)
        over = clock() - start - SLEEP
        count += 1
        if over > 0.001:
            late.append(over)
    return Lateness(
        count,
        len(late),
        sum(1 for over in late if over > 0.002),
        max(late, default=0.0),
        _steal() - steal,
    )


def _round_robin() -> str:
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(10))
        return "round robin 10"
    except (OSError, AttributeError) as exc:
        return f"ordinary scheduling ({exc.__class__.__name__})"


def _row(name: str, r: Lateness) -> str:
    return (
        f"{name:<12} {r.sleeps:>7} {r.over_1ms:>8} {r.over_2ms:>8} "
        f"{r.worst * 1e3:>9.1f} {r.steal_ticks:>6}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per run (default 10)")
    args = parser.parse_args(argv)
    print(f"virtual machine: {on_hypervisor()}; this thread: {_round_robin()}")
    print(f"{'':<12} {'sleeps':>7} {'>1 ms':>8} {'>2 ms':>8} {'worst ms':>9} {'steal':>6}")
    base: list[Lateness] = []
    awake: list[Lateness] = []
    for _ in range(args.runs):
        base.append(measure(args.seconds))
        print(_row("(baseline)", base[-1]), flush=True)
        with kept_awake(True):
            awake.append(measure(args.seconds))
        print(_row("kept awake", awake[-1]), flush=True)
    b = statistics.median(r.over_2ms for r in base)
    a = statistics.median(r.over_2ms for r in awake)
    print(f"median sleeps > 2 ms late: baseline {b}, kept awake {a}")
    print(f"ratio baseline/kept awake (> 2 ms late): {b / a if a else float('inf'):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
