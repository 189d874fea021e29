"""The frames of two buses and the pure judging of them, for the checks of
:mod:`harness.checks.can_routing` (``routed`` and ``firewall``; the rules are stated there).

Frames are taken from a bus's :class:`~harness.observe.FrameLog` in time order
(:func:`harness_frames` the harness's, :func:`dut_frames` the DUT's); the judges are plain
functions of frame lists, so the laws of ``tests/checks/test_routing_laws.py`` hold them
against a brute-force evaluation.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right
from collections import defaultdict, deque
from collections.abc import Iterator
from typing import NamedTuple

from harness.checks.base import hexdata
from harness.observe import FLAG_EXTENDED, FLAG_FD, FrameLog
from harness.units import format_duration

__all__ = [
    "KEY_FLAGS",
    "PROBLEMS",
    "Frame",
    "dut_frames",
    "harness_frames",
    "judge_firewall",
    "judge_return",
    "judge_routed",
    "percentile99",
    "rate_limit",
    "spacing_text",
    "too_close",
]

KEY_FLAGS = FLAG_EXTENDED | FLAG_FD  # what a copy keeps besides identifier and data


class Frame(NamedTuple):
    ts: float
    can_id: int
    data: bytes
    flags: int

    def key(self) -> tuple[int, int, bytes]:
        return (self.can_id, self.flags & KEY_FLAGS, self.data)

    def show(self, bus: str) -> str:
        kind = ("29-bit " if self.flags & FLAG_EXTENDED else "") + (
            "FD " if self.flags & FLAG_FD else ""
        )
        return f"{kind}0x{self.can_id:03X} [{hexdata(self.data)}] at {self.ts:.6f} s on {bus}"


def harness_frames(log: FrameLog, ids: frozenset[int] | None, t0: float, t1: float) -> list[Frame]:
    """The harness's frames (tx) of ``ids`` (None: all) at ``t0 <= ts <= t1``, in time order
    (identifier order at equal times, send order within an identifier)."""
    runs: list[Iterator[Frame]] = []
    for can_id in sorted(log.tx if ids is None else ids & log.tx.keys()):
        col = log.tx[can_id]
        i, j = col.span(t0, t1)
        runs.append(iter([Frame(col.ts[k], can_id, col.data[k], col.flag(k)) for k in range(i, j)]))
    return list(heapq.merge(*runs, key=lambda f: f.ts))


def dut_frames(log: FrameLog, t0: float, t1: float) -> list[Frame]:
    """The DUT's frames (rx) at ``t0 <= ts <= t1``, in arrival order, with their flags."""
    every = log.rx_all.ts
    i, j = bisect_left(every, t0), bisect_right(every, t1)
    cursor: dict[int, int] = {}
    out = []
    for n in range(i, j):
        can_id = log.rx_ids[n]
        k = cursor.get(can_id)
        if k is None:
            k = bisect_left(log.rx[can_id].ts, t0)
        col = log.rx[can_id]
        out.append(Frame(col.ts[k], can_id, col.data[k], log.rx_flags[n]))
        cursor[can_id] = k + 1
    return out


def percentile99(values: list[float]) -> float | None:
    """The 99th percentile by nearest rank (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


PROBLEMS = ("missing", "altered", "late", "reordered")


def too_close(gap: float, min_spacing: float) -> bool:
    """Whether a frame ``gap`` after the last forwarded one of its identifier is dropped
    (less than ``min_spacing``; exactly ``min_spacing`` is forwarded; timestamps are on a
    1 µs grid, 1 ns absorbs the float error of their difference)."""
    return gap < min_spacing - 1e-9


def rate_limit(
    frames: list[Frame], min_spacing: float
) -> tuple[list[Frame], list[Frame], dict[Frame, float | None]]:
    """``frames`` (routed, in time order) split into the forwarded and the dropped ones, in
    time order, and each frame's time after the last forwarded frame of its identifier (None
    for the first)."""
    last: dict[int, float] = {}
    forwarded: list[Frame] = []
    dropped: list[Frame] = []
    spacing: dict[Frame, float | None] = {}
    for f in frames:
        before = last.get(f.can_id)
        gap = None if before is None else f.ts - before
        spacing[f] = gap
        if gap is not None and too_close(gap, min_spacing):
            dropped.append(f)
        else:
            forwarded.append(f)
            last[f.can_id] = f.ts
    return forwarded, dropped, spacing


def spacing_text(gap: float | None, min_spacing: float) -> str:
    if gap is None:
        return "the first frame of its identifier, forwarded"
    return (
        f"{format_duration(gap)} after the last forwarded frame of its identifier, "
        f"min_spacing {format_duration(min_spacing)}"
    )


def judge_routed(
    originals: list[Frame],
    copies: dict[int, list[Frame]],
    max_latency: float,
    dropped: list[Frame] | None = None,
) -> tuple[list[tuple[Frame, Frame | None, float | None, str | None]], list[tuple[Frame, Frame]]]:
    """Each original (in time order) with its copy, latency and problem (None: routed well),
    and each of ``dropped`` (frames a rate limit drops) that was wrongly forwarded, with its copy.

    Pass 1 gives each original the first unclaimed equal copy at or after it; then each dropped
    frame (in time order) claims the first unclaimed equal copy at most ``max_latency`` after
    it (it was wrongly forwarded); pass 2 pairs each original left without a copy with the
    first frame of its identifier neither claimed nor paired, at or after it (its altered
    copy)."""
    by_key: dict[tuple[int, int, bytes], deque[int]] = defaultdict(deque)
    for frames in copies.values():
        for k, d in enumerate(frames):
            by_key[d.key()].append(k)
    every = {key: list(queue) for key, queue in by_key.items()} if dropped else {}
    claimed: dict[int, set[int]] = defaultdict(set)
    found: list[int | None] = []
    for f in originals:
        queue = by_key.get(f.key())
        frames = copies.get(f.can_id, [])
        while queue and frames[queue[0]].ts < f.ts:
            queue.popleft()
        took = queue.popleft() if queue else None
        if took is not None:
            claimed[f.can_id].add(took)
        found.append(took)
    leaked: list[tuple[Frame, Frame]] = []
    for f in dropped or ():
        frames = copies.get(f.can_id, [])
        same = every.get(f.key(), [])  # indexes into frames, in time order
        start = bisect_left(same, f.ts, key=lambda k: frames[k].ts)
        hit = next(
            (
                k
                for k in same[start:]
                if k not in claimed[f.can_id] and frames[k].ts <= f.ts + max_latency + 1e-9
            ),
            None,
        )
        if hit is not None:
            claimed[f.can_id].add(hit)
            leaked.append((f, frames[hit]))
    free: dict[int, deque[int]] = {
        can_id: deque(k for k in range(len(frames)) if k not in claimed[can_id])
        for can_id, frames in copies.items()
    }
    out: list[tuple[Frame, Frame | None, float | None, str | None]] = []
    highest: dict[int, int] = {}
    for f, n in zip(originals, found, strict=True):
        frames = copies.get(f.can_id, [])
        if n is None:
            spare = free.get(f.can_id)
            while spare and frames[spare[0]].ts < f.ts:
                spare.popleft()
            if spare:
                out.append((f, frames[spare.popleft()], None, "altered"))
            else:
                out.append((f, None, None, "missing"))
            continue
        copy = frames[n]
        lat = copy.ts - f.ts
        what = None
        if n < highest.get(f.can_id, -1):
            what = "reordered"
        elif lat > max_latency + 1e-9:
            what = "late"
        highest[f.can_id] = max(n, highest.get(f.can_id, -1))
        out.append((f, copy, lat, what))
    return out, leaked


def judge_firewall(
    seen: list[Frame], originals: list[Frame], allowed: frozenset[int], lookback: float
) -> list[Frame]:
    """The frames of ``seen`` (in time order) that are neither allowed nor a copy: each copy
    claims the earliest unclaimed equal original in the ``lookback`` before it."""
    by_key: dict[tuple[int, int, bytes], deque[Frame]] = defaultdict(deque)
    pending = deque(originals)
    out = []
    for d in seen:
        if d.can_id in allowed:
            continue
        while pending and pending[0].ts <= d.ts:
            o = pending.popleft()
            by_key[o.key()].append(o)
        queue = by_key.get(d.key())
        while queue and queue[0].ts < d.ts - lookback - 1e-9:
            queue.popleft()
        if queue:
            queue.popleft()
        else:
            out.append(d)
    return out


def judge_return(seen: list[Frame], back: list[Frame], lookback: float) -> list[Frame]:
    """The frames of ``seen`` that repeat a frame of ``back`` in the ``lookback`` before them."""
    out = []
    times = [b.ts for b in back]
    for d in seen:
        lo = bisect_left(times, d.ts - lookback - 1e-9)
        hi = bisect_right(times, d.ts)
        if any(b.key() == d.key() for b in back[lo:hi]):
            out.append(d)
    return out
