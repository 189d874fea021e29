"""Rest-bus simulation: the harness plays the vehicle's messages from the DBC.

Each rest-bus message is sent at its cycle time with the values the profile set, its alive
counter and checksum or CRC filled in through the message's protection scheme
(:mod:`harness.can.e2e`) when it has one. Steps change values, stop and start messages, and
inject faults into the next transmissions (a checksum the scheme corrupts, a repeated
counter, a different DLC). Listeners hear of every transmission, which is how a step waits for "the
next N frames" and how it learns the exact moment a stimulus went out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import can

from harness.clock import EventLoop, PeriodicTask
from harness.observe import FD_LENGTHS, fd_length
from harness.plan import RestbusPlan

__all__ = ["RestBus", "RestbusEntry"]

Sender = Callable[[can.Message], float]  # sends, returns the timestamp it recorded
SentListener = Callable[["RestbusEntry", float, bytes], None]


@dataclass
class _Fault:
    kind: str
    dlc: int | None


class RestbusEntry:
    """One message of the rest-bus: current values, counter, pending faults."""

    def __init__(self, plan: RestbusPlan, loop: EventLoop, send: Sender, offset: float) -> None:
        self.plan = plan
        self.msg = plan.message
        self.loop = loop
        self._send = send
        self.offset = offset
        self.values = dict(plan.raw_values)
        self._payload: bytes | None = None
        alive = plan.e2e.alive if plan.e2e is not None else None
        self.counter = alive.minimum if alive is not None else 0
        self._last_counter: int | None = None
        self.faults: deque[_Fault] = deque()
        self.task: PeriodicTask | None = None
        self.sent = 0
        self.last_sent: float | None = None
        self.listeners: list[SentListener] = []
        self._message = can.Message(
            arbitration_id=self.msg.frame_id,
            is_extended_id=self.msg.is_extended,
            is_fd=plan.fd,
            bitrate_switch=plan.brs,
            check=False,
        )

    @property
    def running(self) -> bool:
        return self.task is not None and self.task.active

    def start(self, first: float | None = None) -> None:
        if self.task is None:
            self.task = PeriodicTask(self.loop, self.plan.cycle, self.transmit)
        self.task.start(self.loop.now() + self.offset if first is None else first)

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def set_raw(self, signal: str, raw: int) -> None:
        self.values[signal] = raw
        self._payload = None

    def inject(self, kind: str, count: int, dlc: int | None = None) -> None:
        """Apply fault ``kind`` (crc, repeat_counter, dlc) to the next ``count`` frames."""
        for _ in range(count):
            self.faults.append(_Fault(kind, dlc))

    def reset(self) -> None:
        self.values = dict(self.plan.raw_values)
        self._payload = None
        self.faults.clear()

    def payload(self) -> bytes:
        if self._payload is None:
            data: bytes = self.msg._cantools.encode(self.values, scaling=False, strict=False)
            self._payload = bytes(data)
        return self._payload

    def transmit(self) -> None:
        data = self.payload()
        fault = self.faults.popleft() if self.faults else None
        e2e = self.plan.e2e
        if e2e is not None:
            alive = e2e.alive
            counter = self.counter
            if alive is not None:
                if (
                    fault is not None
                    and fault.kind == "repeat_counter"
                    and self._last_counter is not None
                ):
                    counter = self._last_counter
                else:
                    self.counter = alive.next(self.counter)
                self._last_counter = counter
            data = e2e.protect(data, counter)
            if fault is not None and fault.kind == "crc":
                data = e2e.corrupt(data)
        if fault is not None and fault.kind == "dlc" and fault.dlc is not None:
            data = data[: fault.dlc].ljust(fault.dlc, b"\x00")
        elif self.plan.fd and len(data) not in FD_LENGTHS:
            data = data.ljust(fd_length(len(data)), b"\x00")  # FD lengths jump: pad up
        msg = self._message
        msg.data = bytearray(data)
        msg.dlc = len(data)
        ts = self._send(msg)
        self.sent += 1
        self.last_sent = ts
        for listener in list(self.listeners):
            listener(self, ts, data)


class RestBus:
    """All rest-bus messages of a profile, each sent on its bus's port."""

    def __init__(
        self, loop: EventLoop, send: Sender | Mapping[str, Sender], plans: Iterable[RestbusPlan]
    ) -> None:
        """``send`` sends on the one bus, or is a sender per named bus (each entry's
        ``plan.bus``)."""
        self.loop = loop
        # A small fixed stagger keeps messages with equal cycles from sharing one instant,
        # the way a real vehicle's ECUs are never phase-locked; it is the same every run.
        self.entries = {
            plan.message.name: RestbusEntry(plan, loop, _sender(send, plan), offset=0.001 * (i + 1))
            for i, plan in enumerate(plans)
        }

    def start(self) -> None:
        for entry in self.entries.values():
            if entry.plan.enabled:
                entry.start()

    def stop(self) -> None:
        for entry in self.entries.values():
            entry.stop()

    def reset(self) -> None:
        """Back to the profile's values; every enabled message running, no pending fault."""
        for entry in self.entries.values():
            entry.reset()
            if entry.plan.enabled and not entry.running:
                entry.start()
            elif not entry.plan.enabled and entry.running:
                entry.stop()

    def __getitem__(self, name: str) -> RestbusEntry:
        return self.entries[name]


def _sender(send: Sender | Mapping[str, Sender], plan: RestbusPlan) -> Sender:
    """The sender of ``plan``'s bus (a plan naming a bus there is no port for: KeyError)."""
    if not isinstance(send, Mapping):
        return send
    if plan.bus not in send:
        raise KeyError(f"rest-bus message {plan.message.name}: no port for bus {plan.bus!r}")
    return send[plan.bus]
