"""``lamp-ecu``: a small simulated lamp controller, registered as a DUT provider.

The part receives ``LAMP_Command`` (0x200) and sends ``LAMP_Status`` (0x210) every 50 ms:
``LampState`` is the last ``LampRequest`` it received, ``Heartbeat`` counts up by one per
frame (see ``lamp.dbc``). It runs on whatever :class:`~harness.clock.EventLoop` and python-can
bus its host gives it: the harness's virtual clock, or real time.

Faulty variants, each breaking one requirement of the example profile:

* ``slow-follow`` (LAMP-001): follows a new request only after 300 ms (the plug-in's own
  ``mirrors`` check catches it);
* ``slow-status`` (LAMP-002): sends LAMP_Status every 80 ms (the built-in ``cycle_time``
  check catches it).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import can

from harness.can.dbc import CanDatabase
from harness.clock import EventLoop, PeriodicTask
from harness.dut import DutProvider, DutSetup, Variant

__all__ = ["PROVIDER", "LampEcu", "LampProvider"]

STATUS_CYCLE = 0.050  # seconds
SLOW_STATUS_CYCLE = 0.080  # seconds, variant slow-status
SLOW_FOLLOW = 0.300  # seconds, variant slow-follow

VARIANTS = {
    v.name: v
    for v in (
        Variant("slow-follow", "LAMP-001", "follows a new lamp request only after 300 ms"),
        Variant("slow-status", "LAMP-002", "sends LAMP_Status every 80 ms instead of 50 ms"),
    )
}


class LampEcu:
    """The simulated lamp controller (see the module docstring)."""

    def __init__(
        self, loop: EventLoop, bus: can.BusABC, db: CanDatabase, variant: str | None = None
    ) -> None:
        self.loop = loop
        self.bus = bus
        self.variant = variant
        self._status = db.message("LAMP_Status")
        command = db.message("LAMP_Command")
        self._command_id = command.frame_id
        self._command_dlc = command.length
        self._request = command.signal("LampRequest")
        self.state = 0
        self.heartbeat = 0
        self._task: PeriodicTask | None = None
        self._reading = False

    @property
    def part(self) -> LampEcu:
        return self

    def start(self) -> None:
        if not self._reading:
            self.loop.add_reader(self.bus, self._on_frame)
            self._reading = True
        self.state = 0
        self.heartbeat = 0
        cycle = SLOW_STATUS_CYCLE if self.variant == "slow-status" else STATUS_CYCLE
        self._task = self.loop.every(cycle, self._send_status, first=self.loop.now())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _send_status(self) -> None:
        data = self._status.encode({"LampState": self.state, "Heartbeat": self.heartbeat})
        self.heartbeat = (self.heartbeat + 1) & 0xFF
        msg = can.Message(arbitration_id=self._status.frame_id, data=data, is_extended_id=False)
        with contextlib.suppress(can.CanError):  # a full queue: a real ECU just goes on
            self.bus.send(msg)

    def _on_frame(self, msg: can.Message) -> None:
        if self._task is None or msg.arbitration_id != self._command_id:
            return
        if msg.is_extended_id or len(msg.data) != self._command_dlc:
            return
        request = self._request.raw(bytes(msg.data))
        if request is None or request == self.state:
            return
        if self.variant == "slow-follow":
            self.loop.call_later(SLOW_FOLLOW, lambda: self._follow(request))
        else:
            self._follow(request)

    def _follow(self, request: int) -> None:
        self.state = request


class LampProvider(DutProvider):
    """The example lamp controller as a DUT provider."""

    name = "lamp-ecu"
    description = "example plug-in: a lamp controller that mirrors LAMP_Command in LAMP_Status"
    requirement_set = "LAMP-EXAMPLE"
    variants = VARIANTS

    def build(self, setup: DutSetup) -> LampEcu:
        if setup.variant is not None:
            self.variant(setup.variant)
        return LampEcu(setup.loop, setup.bus, setup.db, setup.variant)

    def default_dbc(self) -> Path:
        return Path(__file__).resolve().parent / "lamp.dbc"


PROVIDER = LampProvider()
