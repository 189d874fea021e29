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
    "FD_LENGTHS",
    "FLAG_BRS",
    "FLAG_ESI",
    "FLAG_EXTENDED",
    "FLAG_FD",
    "MQTT_STREAM",
    "PROMPTS_STREAM",
    "BusView",
    "Column",
    "FrameLog",
    "Window",
    "bus_stream",
    "fd_frame_bits",
    "fd_length",
    "frame_bits",
    "frame_flags",
    "quantize",
]


@dataclass
class Column:
    """Frames of one identifier: parallel lists of timestamps and payloads."""

    ts: list[float] = field(default_factory=list)
    data: list[bytes] = field(default_factory=list)
    # each frame's FLAG_* bits, kept for the harness's frames (tx) once one is not a classic
    # 11-bit frame (None: all are); the DUT's frames keep theirs run-wide (FrameLog.rx_flags)
    flags: list[int] | None = None

    def flag(self, k: int) -> int:
        """Frame ``k``'s FLAG_* bits (0 where the column keeps none)."""
        return self.flags[k] if self.flags is not None else 0

    def span(self, t0: float, t1: float) -> tuple[int, int]:
        """Index range [i, j) of frames with t0 <= ts <= t1."""
        return bisect_left(self.ts, t0), bisect_right(self.ts, t1)

    def last_before(self, t: float) -> int:
        """Index of the last frame strictly before t, or -1."""
        return bisect_left(self.ts, t) - 1


_EMPTY = Column()

# -- frame lengths ------------------------------------------------------------------------------
# The model (ISO 11898-1), in bits, worst case:
#
# Classic data frame: SOF, identifier (11, or 11 + SRR + IDE + 18), RTR, IDE/r1, r0, DLC (4),
# data (8 per byte), CRC (15): the stuffed region of L bits (34 + 8n standard) gets
# (L - 1) // 4 stuff bits (a stuff bit after 5 equal bits, then after every 4 more when the
# data alternate worst-case runs; the extended formula keeps its historical L // 4); then CRC
# delimiter, ACK slot, ACK delimiter, EOF (7) and intermission (3): 13 bits unstuffed.
#
# CAN FD data frame: the same worst-case dynamic stuffing, (L - 1) // 4 over SOF .. the last
# data bit, where the arbitration phase is SOF, identifier (11; or 11 + SRR + IDE + 18), RRS,
# IDE (standard only: extended frames had it in the identifier part), FDF, res, BRS
# (17 bits standard, 36 extended) and the data phase is ESI, DLC (4) and the data (8 per
# byte of the FD length the payload is padded to: 0..8, 12, 16, 20, 24, 32, 48, 64); a
# stuff bit belongs to the phase of the bit it follows. Then the CRC field at the data rate,
# stuffed with fixed stuff bits: stuff count (4: 3 Gray-coded + parity) and CRC-17 (up to 16
# data bytes) or CRC-21 (more), one fixed stuff bit before the stuff count and one after
# every 4 bits of the field (6 for CRC-17, 7 for CRC-21). Then the 13 unstuffed bits, all
# counted at the nominal rate (the switch back happens inside the CRC delimiter: counting
# it whole at the slower rate keeps the bound worst case). Without BRS every bit is at the
# nominal rate.

# Worst-case stuffed length of a classic data frame by DLC (0..15 for malformed DLCs too).
_STD_BITS = tuple(47 + 8 * n + (33 + 8 * n) // 4 for n in range(65))
_EXT_BITS = tuple(67 + 8 * n + (54 + 8 * n) // 4 for n in range(65))

FD_LENGTHS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64)
"""The data lengths a CAN FD frame can have (DLC 0..15)."""

FLAG_EXTENDED = 1  # 29-bit identifier
FLAG_FD = 2  # CAN FD format (FDF)
FLAG_BRS = 4  # bit rate switch: the data phase at the data bit rate
FLAG_ESI = 8  # error state indicator: the sender is error passive
"""Frame flags as :class:`FrameLog` keeps them, taken from the frame (never from the id)."""


def fd_length(n: int) -> int:
    """The FD data length a payload of ``n`` bytes is sent in (padded up to the next)."""
    for length in FD_LENGTHS:
        if length >= n:
            return length
    raise ValueError(f"expected at most 64 data bytes for a CAN FD frame, but got {n}")


def fd_frame_bits(n: int, *, extended: bool, brs: bool) -> tuple[int, int]:
    """Worst-case length of a CAN FD data frame of ``n`` data bytes: (bits at the nominal
    rate, bits at the data rate); without BRS every bit is nominal (model above)."""
    length = fd_length(n)
    arbitration = 36 if extended else 17
    data = 5 + 8 * length
    total_dyn = arbitration + data
    stuff_arb = (arbitration - 1) // 4
    stuff_data = (total_dyn - 1) // 4 - stuff_arb
    crc_field = 4 + (17 if length <= 16 else 21)
    fixed = 1 + (crc_field - 1) // 4
    nominal = arbitration + stuff_arb + 13
    fast = data + stuff_data + crc_field + fixed
    return (nominal, fast) if brs else (nominal + fast, 0)


# fd_frame_bits of 0..64 data bytes by a frame's FLAG_EXTENDED | FLAG_BRS bits (the hot path
# of FrameLog.add_rx looks them up; other indexes are unused)
_FD_BITS = tuple(
    tuple(fd_frame_bits(n, extended=bool(k & 1), brs=bool(k & 4)) for n in range(65))
    for k in range(6)
)


def frame_bits(
    can_id: int, dlc: int, *, extended: bool | None = None, fd: bool = False, brs: bool = False
) -> int:
    """Worst-case length of a CAN data frame with bit stuffing, in bits (model above); for
    FD with BRS, the nominal and data-phase bits summed (see :func:`fd_frame_bits`).
    ``extended`` None falls back to the identifier's value (ids above 0x7FF are 29-bit): give
    the frame's flag where there is a frame."""
    ext = can_id > 0x7FF if extended is None else extended
    if fd:
        nominal, fast = fd_frame_bits(dlc, extended=ext, brs=brs)
        return nominal + fast
    if ext:
        return 67 + 8 * dlc + (54 + 8 * dlc) // 4
    return 47 + 8 * dlc + (33 + 8 * dlc) // 4


def frame_flags(*, extended: bool, fd: bool = False, brs: bool = False, esi: bool = False) -> int:
    """The :data:`FLAG_EXTENDED` .. :data:`FLAG_ESI` bits of a frame."""
    return (
        (FLAG_EXTENDED if extended else 0)
        | (FLAG_FD if fd else 0)
        | (FLAG_BRS if brs else 0)
        | (FLAG_ESI if esi else 0)
    )


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
        self.rx_bits: list[int] = []  # worst-case stuffed length of each frame (nominal rate)
        # each frame's bits at the data rate (CAN FD with BRS), or 0; None until an FD frame
        self.rx_fast_bits: list[int] | None = None
        self.rx_flags: list[int] = []  # its FLAG_* bits, as the frame had them

    def add_rx(self, ts: float, can_id: int, data: bytes, flags: int | None = None) -> float:
        """Record a DUT frame; returns its timestamp on the 1 µs grid. ``flags`` are the
        frame's :data:`FLAG_EXTENDED` .. :data:`FLAG_ESI` bits; None (callers without a
        frame) takes an id above 0x7FF as 29-bit and the frame as classic."""
        # The hot path of every run (bench/ingest_throughput.py): classic frames append to
        # the data-phase column only once there is one (the first FD frame makes it).
        ts = round(ts, 6)
        col = self.rx.get(can_id)
        if col is None:
            col = self.rx[can_id] = Column()
        col.ts.append(ts)
        col.data.append(data)
        self.rx_all.ts.append(ts)
        self.rx_ids.append(can_id)
        if flags is None:
            flags = 1 if can_id > 0x7FF else 0  # FLAG_EXTENDED
        self.rx_flags.append(flags)
        fast_bits = self.rx_fast_bits
        if flags & 2:  # FLAG_FD
            n = len(data)
            if n > 64:
                fd_frame_bits(n, extended=False, brs=False)  # the ValueError that says so
            nominal, fast = _FD_BITS[flags & 5][n]
            if fast_bits is None:
                fast_bits = self.rx_fast_bits = [0] * len(self.rx_bits)
            self.rx_bits.append(nominal)
            fast_bits.append(fast)
            return ts
        self.rx_bits.append(_EXT_BITS[len(data)] if flags & 1 else _STD_BITS[len(data)])
        if fast_bits is not None:
            fast_bits.append(0)
        return ts

    def frame_time_bits(self, i: int, j: int, ratio: float) -> list[float] | list[int]:
        """Each DUT frame's length in [i, j) in nominal bit times: nominal bits plus data-phase
        bits times ``ratio`` (nominal / data bit rate)."""
        bits = self.rx_bits[i:j]
        if self.rx_fast_bits is None:
            return bits
        fast = self.rx_fast_bits[i:j]
        return [b + f * ratio for b, f in zip(bits, fast, strict=True)]

    def add_tx(self, ts: float, can_id: int, data: bytes, flags: int | None = None) -> float:
        """Record a frame the harness sent; returns its timestamp on the 1 µs grid. ``flags``
        as :meth:`add_rx` (kept in the column's ``flags`` once one is not 0)."""
        ts = round(ts, 6)
        col = self.tx.get(can_id)
        if col is None:
            col = self.tx[can_id] = Column()
        if flags is None:
            flags = 1 if can_id > 0x7FF else 0  # FLAG_EXTENDED
        if col.flags is not None:
            col.flags.append(flags)
        elif flags:
            col.flags = [0] * len(col.ts) + [flags]
        col.ts.append(ts)
        col.data.append(data)
        return ts

    def spill_large(self, folder: str | None = None) -> None:
        """Move the older part of every long column to disk (harness.spill): memory stays
        bounded however long the run; what checks read back is the same."""
        for col in (*self.rx.values(), *self.tx.values()):
            spill_if_large(col, ("ts", "data", "flags"), folder, at=COLUMN_AT, chunk=COLUMN_CHUNK)
        spill_if_large(self.rx_all, ("ts",), folder)
        spill_if_large(self, ("rx_ids", "rx_bits", "rx_fast_bits", "rx_flags"), folder)

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


def bus_stream(bus: str) -> str:
    """The stream name of one named bus's frames (``can.NAME``); ``can`` is the first bus's."""
    return f"{CAN_STREAM}.{bus}"


@dataclass(frozen=True)
class BusView:
    """A named bus as a check sees it: which stream holds its frames, and its bit rates."""

    name: str
    bitrate: int
    data_bitrate: int = 0  # CAN FD data-phase rate (0: the nominal bitrate)


@dataclass(frozen=True, init=False)
class Window:
    """What a check evaluates: a time span, the case's stimulus markers, and the observation
    streams the run's adapters recorded, by name (``can``, ``mqtt``, ``prompts``, or a lab
    adapter's own). :meth:`stream` reads one, typed; ``log``, ``mqtt`` and ``prompts`` are the
    built-in ones.

    ``Window(t0, t1, log, markers, bitrate, mqtt=..., prompts=..., streams=...)``: ``log`` is
    the ``can`` stream, ``mqtt`` and ``prompts`` the others when given. ``data_bitrate`` is
    the CAN FD data-phase rate (0: the nominal ``bitrate``).
    """

    t0: float
    t1: float
    markers: Mapping[str, float]
    bitrate: int
    streams: Mapping[str, object]
    data_bitrate: int

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
        data_bitrate: int = 0,
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
        object.__setattr__(self, "data_bitrate", data_bitrate or bitrate)
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

    def on_bus(self, bus: BusView) -> Window:
        """This window as a check of bus ``bus`` sees it: that bus's frames (stream
        :func:`bus_stream`) as the ``can`` stream, at that bus's bit rates. KeyError when the
        run recorded no such bus."""
        frames = self.stream(bus_stream(bus.name), FrameLog)
        return Window(
            self.t0,
            self.t1,
            frames,
            self.markers,
            bus.bitrate,
            streams=self.streams,
            data_bitrate=bus.data_bitrate,
        )

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
    def fast_ratio(self) -> float:
        """Nominal over data-phase bit rate: a data-phase bit in nominal bit times."""
        return self.bitrate / self.data_bitrate if self.data_bitrate else 1.0

    @property
    def duration(self) -> float:
        return self.t1 - self.t0


_NO_FRAMES = FrameLog()
