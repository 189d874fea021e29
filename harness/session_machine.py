"""How a real-time session treats the machine: its processes ahead of ordinary ones
(:mod:`harness.rtpriority`) and, where the bench asks, the CPUs kept awake
(:mod:`harness.keepawake`), both for the length of the session and put back at its end; and
how late its own timers woke meanwhile (:mod:`harness.timerwatch`), kept as evidence."""

from __future__ import annotations

import contextlib
from typing import Any

from harness.bench import Bench
from harness.keepawake import kept_awake
from harness.rtpriority import HARNESS_ROUND_ROBIN, raised
from harness.timerwatch import watching_timers

__all__ = ["timing_critical"]


def timing_critical(bench: Bench, stack: contextlib.ExitStack, round_robin: bool) -> dict[str, Any]:
    """Apply the bench's ``realtime`` section until ``stack`` closes; returns what was done,
    for run.json's ``priority`` (``harness``, ``keep_awake``, and ``timers``: the timer
    watch's summary, updated in place while the run lasts). ``round_robin``: this process's
    threads too (only where the part runs in a process raised above them)."""
    rr = HARNESS_ROUND_ROBIN if round_robin else None
    harness = stack.enter_context(raised(bench.realtime.priority, round_robin=rr))
    awake = stack.enter_context(kept_awake(bench.realtime.keep_awake))  # a VM's CPUs: no halts
    timers = stack.enter_context(watching_timers())  # its thread at this process's priority
    return {"harness": harness, "keep_awake": awake, "timers": timers}
