"""The observation stream: every frame the harness saw from the DUT and every frame it sent.

Frames are kept per identifier in columns (timestamps, payloads), in arrival order, for the
DUT's side (``rx``) and the harness's side (``tx``), plus one run-wide column of DUT frames
for checks over all identifiers (allowed identifiers, bus load). Checks read windows of it by
time (``bisect``); they never touch a bus. The same store is filled live, in simulated time,
or from a recorded trace.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Column", "FrameLog", "Window"]


@dataclass
class Column:
    """Frames of one identifier: parallel lists of timestamps and payloads."""

    ts: list[float] = field(default_factory=list)
    data: list[bytes] = field(default_factory=list)

    def span(self, t0: float, t1: float) -> tuple[int, int]:
        """Index range [i, j) of frames with t0 <= ts <= t1."""
        return bisect_left(self.ts, t0), bisect_right(self.ts, t1)

    def last_before(self, t: float) -> int:
        """Index of the last frame strictly before t, or -1."""
        return bisect_left(self.ts, t) - 1


_EMPTY = Column()


class FrameLog:
    """Every frame of the run, by direction and identifier."""

    def __init__(self) -> None:
        self.rx: dict[int, Column] = {}
        self.tx: dict[int, Column] = {}
        self.rx_all = Column()  # every DUT frame; data unused, ids kept in rx_ids
        self.rx_ids: list[int] = []
        self.rx_dlc: list[int] = []

    def add_rx(self, ts: float, can_id: int, data: bytes) -> None:
        col = self.rx.get(can_id)
        if col is None:
            col = self.rx[can_id] = Column()
        col.ts.append(ts)
        col.data.append(data)
        self.rx_all.ts.append(ts)
        self.rx_ids.append(can_id)
        self.rx_dlc.append(len(data))

    def add_tx(self, ts: float, can_id: int, data: bytes) -> None:
        col = self.tx.get(can_id)
        if col is None:
            col = self.tx[can_id] = Column()
        col.ts.append(ts)
        col.data.append(data)

    def rx_of(self, can_id: int) -> Column:
        return self.rx.get(can_id, _EMPTY)

    def tx_of(self, can_id: int) -> Column:
        return self.tx.get(can_id, _EMPTY)

    @property
    def rx_count(self) -> int:
        return len(self.rx_ids)


@dataclass(frozen=True)
class Window:
    """What a check evaluates: a time span of the log, and the case's stimulus markers."""

    t0: float
    t1: float
    log: FrameLog
    markers: Mapping[str, float]
    bitrate: int

    @property
    def duration(self) -> float:
        return self.t1 - self.t0
