"""A small CAN handle for a lab's own test code, on an open session's bus and clock.

:class:`LabBus` is what the pytest plugin's ``can_bus`` fixture hands to tests written in
Python beside the YAML cases. It wraps the session's :class:`~harness.can.port.CanPort` and
:class:`~harness.clock.EventLoop`, so every frame a lab test sends or sees goes into the same
observation log and evidence trace as the profile's cases, and time only moves when the test
runs the loop (:meth:`LabBus.run_for`, :meth:`LabBus.wait_for`): virtual time in simulated
mode, real time otherwise. Messages may be named by identifier or by their DBC name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import can

from harness.can.dbc import CanDatabase
from harness.can.port import CanPort
from harness.clock import EventLoop

__all__ = ["Frame", "LabBus"]


@dataclass(frozen=True)
class Frame:
    """A frame the DUT sent, as the harness recorded it."""

    timestamp: float
    can_id: int
    data: bytes


class LabBus:
    """Send frames, run the loop, and look at what the DUT sent."""

    def __init__(self, loop: EventLoop, port: CanPort, db: CanDatabase | None = None) -> None:
        self.loop = loop
        self.port = port
        self.db = db

    def now(self) -> float:
        """The session clock's time (virtual seconds in simulated mode)."""
        return self.loop.now()

    def frame_id(self, message: int | str) -> int:
        """An identifier as given, or the identifier of the DBC message so named."""
        if isinstance(message, int):
            return message
        if self.db is None:
            raise ValueError(f"no DBC to look up the message {message!r} in")
        return self.db.message(message).frame_id

    def send(
        self,
        message: int | str,
        data: bytes | bytearray | Sequence[int] = b"",
        *,
        extended: bool | None = None,
    ) -> float:
        """Send one frame now; returns its timestamp on the session clock.

        In simulated mode the DUT sees the frame the next time the loop runs.
        """
        can_id = self.frame_id(message)
        payload = bytes(data)
        msg = can.Message(
            arbitration_id=can_id,
            data=payload,
            dlc=len(payload),
            is_extended_id=can_id > 0x7FF if extended is None else extended,
        )
        return self.port.send(msg)

    def run_for(self, seconds: float) -> None:
        """Let ``seconds`` of bus time pass: the rest-bus and the DUT keep running."""
        self.loop.run_for(seconds)

    def wait_for(self, message: int | str, timeout: float) -> Frame | None:
        """The first frame on ``message`` to arrive from now on, or None after ``timeout``."""
        can_id = self.frame_id(message)
        log = self.port.log
        seen = len(log.rx_of(can_id).ts)
        if not self.loop.run_for(timeout, until=lambda: len(log.rx_of(can_id).ts) > seen):
            return None
        col = log.rx_of(can_id)
        return Frame(col.ts[seen], can_id, col.data[seen])

    def frames(self, message: int | str, since: float | None = None) -> list[Frame]:
        """Every frame the DUT sent on ``message`` (at or after ``since``, when given)."""
        can_id = self.frame_id(message)
        col = self.port.log.rx_of(can_id)
        start = 0 if since is None else col.span(since, float("inf"))[0]
        return [Frame(t, can_id, d) for t, d in zip(col.ts[start:], col.data[start:], strict=True)]

    def decode(self, frame: Frame) -> dict[str, float | int | str]:
        """A frame's signals by the DBC (physical values, value-table names)."""
        if self.db is None or frame.can_id not in self.db.by_id:
            raise ValueError(f"no DBC message for identifier 0x{frame.can_id:03X}")
        return self.db.by_id[frame.can_id].decode(frame.data)
