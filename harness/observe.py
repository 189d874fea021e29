"""The observation stream: every frame the harness saw from the DUT and every frame it sent.

Timestamps are kept on a 1 µs grid (``round(ts, 6)``), the resolution CAN interfaces stamp
with, so that a trace read back from its BLF file gives every check exactly the same input.

Frames are kept per identifier in columns (timestamps, payloads), in arrival order, for the
DUT's side (``rx``) and the harness's side (``tx``), plus one run-wide column of DUT frames
for checks over all identifiers (allowed identifiers, bus load). Checks read windows of it by
time (``bisect``); they never touch a bus. The same store is filled live, in simulated time,
or from a recorded trace. Long columns move their older frames to disk
(:meth:`FrameLog.spill_large`, :mod:`harness.spill`), so hours of bus time fit in bounded
memory.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from harness.spill import COLUMN_AT, COLUMN_CHUNK, spill_if_large

__all__ = [
    "CAN_STREAM",
    "MQTT_STREAM",
    "PROMPTS_STREAM",
    "Column",
    "FrameLog",
    "Window",
    "frame_bits",
    "quantize",
]


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
# Worst-case stuffed length of a classic data frame by DLC (0..15 for malformed DLCs too).
_STD_BITS = tuple(47 + 8 * n + (33 + 8 * n) // 4 for n in range(65))
_EXT_BITS = tuple(67 + 8 * n + (54 + 8 * n) // 4 for n in range(65))


def frame_bits(can_id: int, dlc: int) -> int:
    """Worst-case length of a classic CAN data frame with bit stuffing, in bits."""
    if can_id > 0x7FF:
        return 67 + 8 * dlc + (54 + 8 * dlc) // 4
    return 47 + 8 * dlc + (33 + 8 * dlc) // 4


def quantize(ts: float) -> float:
    """A time on the grid the log keeps (1 µs)."""
    return round(ts, 6)


class FrameLog:
    """Every frame of the run, by direction and identifier."""

    def __init__(self) -> None:
        self.rx: dict[int, Column] = {}
        self.tx: dict[int, Column] = {}
        self.rx_all = Column()  # every DUT frame; data unused, ids kept in rx_ids
        self.rx_ids: list[int] = []
        self.rx_bits: list[int] = []  # worst-case stuffed length of each frame

    def add_rx(self, ts: float, can_id: int, data: bytes) -> float:
        """Record a DUT frame; returns its timestamp on the 1 µs grid."""
        ts = round(ts, 6)
        col = self.rx.get(can_id)
        if col is None:
            col = self.rx[can_id] = Column()
        col.ts.append(ts)
        col.data.append(data)
        self.rx_all.ts.append(ts)
        self.rx_ids.append(can_id)
        self.rx_bits.append(_STD_BITS[len(data)] if can_id <= 0x7FF else _EXT_BITS[len(data)])
        return ts

    def add_tx(self, ts: float, can_id: int, data: bytes) -> float:
        """Record a frame the harness sent; returns its timestamp on the 1 µs grid."""
        ts = round(ts, 6)
        col = self.tx.get(can_id)
        if col is None:
            col = self.tx[can_id] = Column()
        col.ts.append(ts)
        col.data.append(data)
        return ts

    def spill_large(self, folder: str | None = None) -> None:
        """Move the older part of every long column to disk (harness.spill): memory stays
        bounded however long the run; what checks read back is the same."""
        for col in (*self.rx.values(), *self.tx.values()):
            spill_if_large(col, ("ts", "data"), folder, at=COLUMN_AT, chunk=COLUMN_CHUNK)
        spill_if_large(self.rx_all, ("ts",), folder)
        spill_if_large(self, ("rx_ids", "rx_bits"), folder)

    def rx_of(self, can_id: int) -> Column:
        return self.rx.get(can_id, _EMPTY)

    def tx_of(self, can_id: int) -> Column:
        return self.tx.get(can_id, _EMPTY)

    @property
    def rx_count(self) -> int:
        return len(self.rx_ids)


CAN_STREAM = "can"  # the FrameLog of every CAN frame (harness.can.steps.CanAdapter)
MQTT_STREAM = "mqtt"  # the MqttLog (harness.mqtt.side.MqttSide), when the profile has MQTT
PROMPTS_STREAM = "prompts"  # the operator's answers (harness.operator.OperatorAdapter)

S = TypeVar("S")


@dataclass(frozen=True, init=False)
class Window:
    """What a check evaluates: a time span, the case's stimulus markers, and the observation
    streams the run's adapters recorded, by name (``can``, ``mqtt``, ``prompts``, or a lab
    adapter's own). :meth:`stream` reads one, typed; ``log``, ``mqtt`` and ``prompts`` are the
    built-in ones.

    ``Window(t0, t1, log, markers, bitrate, mqtt=..., prompts=..., streams=...)``: ``log`` is
    the ``can`` stream, ``mqtt`` and ``prompts`` the others when given.
    """

    t0: float
    t1: float
    markers: Mapping[str, float]
    bitrate: int
    streams: Mapping[str, object]

    def __init__(
        self,
        t0: float,
        t1: float,
        log: FrameLog | None = None,
        markers: Mapping[str, float] | None = None,
        bitrate: int = 0,
        *,
        mqtt: Any = None,
        prompts: Any = None,
        streams: Mapping[str, object] | None = None,
    ) -> None:
        named = dict(streams or {})
        for key, value in ((CAN_STREAM, log), (MQTT_STREAM, mqtt), (PROMPTS_STREAM, prompts)):
            if value is not None:
                named[key] = value
        object.__setattr__(self, "t0", t0)
        object.__setattr__(self, "t1", t1)
        object.__setattr__(self, "markers", markers if markers is not None else {})
        object.__setattr__(self, "bitrate", bitrate)
        object.__setattr__(self, "streams", named)
        frames = named.get(CAN_STREAM)  # read by most checks: kept at hand
        object.__setattr__(self, "_log", frames if isinstance(frames, FrameLog) else _NO_FRAMES)

    def stream(self, name: str, kind: type[S]) -> S:
        """The stream ``name`` as ``kind``; KeyError when the run recorded none, TypeError
        when it is of another type (a check bug, reported as the check's ERROR)."""
        found = self.streams.get(name)
        if found is None:
            raise KeyError(f"this window has no {name!r} stream (it has {sorted(self.streams)})")
        if not isinstance(found, kind):
            raise TypeError(f"stream {name!r} is a {type(found).__name__}, not {kind.__name__}")
        return found

    @property
    def log(self) -> FrameLog:
        """The CAN frames (an empty log when the window has none)."""
        frames: FrameLog = self._log  # type: ignore[attr-defined]
        return frames

    @property
    def mqtt(self) -> Any:
        """The run's MqttLog (harness.mqtt.log), None when the profile has no MQTT."""
        return self.streams.get(MQTT_STREAM)

    @property
    def prompts(self) -> Any:
        """The operator's answers so far (harness.operator.PromptLog entries), or None."""
        return self.streams.get(PROMPTS_STREAM)

    @property
    def duration(self) -> float:
        return self.t1 - self.t0


_NO_FRAMES = FrameLog()
