"""How a real-time session treats the machine: its processes ahead of ordinary ones
(:mod:`harness.rtpriority`) and, where the bench asks, the CPUs kept awake
(:mod:`harness.keepawake`), both for the length of the session and put back at its end."""

from __future__ import annotations

import contextlib
from typing import Any

from harness.bench import Bench
from harness.keepawake import kept_awake
from harness.rtpriority import HARNESS_ROUND_ROBIN, raised

__all__ = ["timing_critical"]


def timing_critical(bench: Bench, stack: contextlib.ExitStack, round_robin: bool) -> dict[str, Any]:
    """Apply the bench's ``realtime`` section until ``stack`` closes; returns what was done,
    for run.json's ``priority`` (``harness``, ``keep_awake``). ``round_robin``: this
    process's threads too (only where the part runs in a process raised above them)."""
    rr = HARNESS_ROUND_ROBIN if round_robin else None
    harness = stack.enter_context(raised(bench.realtime.priority, round_robin=rr))
    awake = stack.enter_context(kept_awake(bench.realtime.keep_awake))  # a VM's CPUs: no halts
    return {"harness": harness, "keep_awake": awake}
