"""A small part on two buses, for the named-bus tests: it receives on one and sends on the other.

The relay listens on the **front** bus (CAN FD) for the vehicle's ``FRONT_Cmd`` (0x100, a
16-byte FD frame) and sends, every 20 ms on the classic **rear** bus, ``REAR_Echo`` (0x110)
with the newest command's Level and Mode; every 50 ms it sends its heartbeat ``RELAY_Alive``
on the front bus, on the same identifier 0x110, so a harness that mixed the buses up would
see both messages on one identifier. Frames are packed by hand (``data/front.dbc``,
``data/rear.dbc``): python-can only, as a supplier writes a part.

It runs on a harness :class:`~harness.clock.EventLoop`: in the test process on the session's
virtual clock (the ``relay`` DUT provider the tests register, :class:`RelayProvider`), or as
its own process in real time on two ``udp_multicast`` buses::

    python relay_part.py --front-port P1 --rear-port P2 [--fault NAME]

Faulty builds (``--fault``, or the provider's variants): ``slow-alive`` (RELAY_Alive every
75 ms: the front bus's requirement RL-001), ``front-extra-id`` (a second identifier, 0x111,
beside each RELAY_Alive on the front bus: RL-001's ``allowed_ids`` of that bus),
``leak-to-rear`` (FRONT_Cmd copied onto the rear bus: RL-002), ``no-follow`` (REAR_Echo keeps
the first Level: RL-003).

Like a gateway, it also routes every classic 11-bit frame of 0x300..0x30F from the front bus
onto the rear bus unchanged, at once (``relay_routing.yaml``, the provider
``relay-routing``); its faulty builds there: ``route-late`` (each copy 6 ms late: RL-004)
and ``leak-fd`` (FD frames of those identifiers cross too, cut to 8 bytes: RL-005). It routes
the classic 11-bit frames of 0x320..0x32F too, rate-limited as CC-GW-1's GW-006 (per
identifier, a frame less than 5 ms after the last one it forwarded is dropped, exactly 5 ms
forwarded); its faulty builds there: ``limit-4ms`` (the limit 1 ms short: RL-006) and
``limit-6ms`` (the limit 1 ms long: RL-006).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import can

from harness.clock import EventLoop, PeriodicTask, RealClock
from harness.dut import DutProvider, DutSetup, Variant

DATA = Path(__file__).resolve().parent / "data"
CMD_ID = 0x100
ALIVE_ID = 0x110  # on the front bus
ECHO_ID = 0x110  # on the rear bus: the same identifier, another bus
EXTRA_ID = 0x111  # sent on the front bus by the faulty build front-extra-id only
ROUTED = range(0x300, 0x310)  # classic 11-bit frames routed front -> rear
LIMITED = range(0x320, 0x330)  # the same, rate-limited to one per 5 ms per identifier

VARIANTS = {
    v.name: v
    for v in (
        Variant("slow-alive", "RL-001", "RELAY_Alive every 75 ms on the front bus"),
        Variant("front-extra-id", "RL-001", "sends 0x111 beside RELAY_Alive on the front bus"),
        Variant("leak-to-rear", "RL-002", "copies FRONT_Cmd onto the rear bus"),
        Variant("no-follow", "RL-003", "REAR_Echo keeps the first Level it saw"),
    )
}
ROUTING_VARIANTS = {
    v.name: v
    for v in (
        Variant("route-late", "RL-004", "routes each frame 6 ms late"),
        Variant("leak-fd", "RL-005", "routes FD frames of the routed identifiers too"),
        Variant("limit-4ms", "RL-006", "rate limit 4 ms instead of 5 ms"),
        Variant("limit-6ms", "RL-006", "rate limit 6 ms instead of 5 ms"),
    )
}


class Relay:
    """The part: FRONT_Cmd in on ``front``, REAR_Echo out on ``rear``, RELAY_Alive on front."""

    def __init__(
        self, loop: EventLoop, front: can.BusABC, rear: can.BusABC, fault: str | None
    ) -> None:
        self.loop = loop
        self.front = front
        self.rear = rear
        self.fault = fault
        self.level: int | None = None
        self.mode = 0
        self.counter = 0
        self.commands = 0  # FRONT_Cmd frames taken
        self.tasks: list[PeriodicTask] = []
        self.forwarded: dict[int, float] = {}  # rate limit: last forwarded time per identifier
        self._reading = False

    @property
    def part(self) -> Relay:
        return self

    def start(self) -> None:
        if not self._reading:
            self.loop.add_reader(self.front, self.on_front)
            self.loop.add_reader(self.rear, lambda msg: None)  # drain what the rear bus carries
            self._reading = True
        now = self.loop.now()
        alive = 0.075 if self.fault == "slow-alive" else 0.050
        self.tasks = [
            self.loop.every(alive, self.send_alive, first=now),
            self.loop.every(0.020, self.send_echo, first=now + 0.005),
        ]

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.tasks = []

    def on_front(self, msg: can.Message) -> None:
        if msg.arbitration_id in ROUTED and not msg.is_extended_id:
            self.route(msg)
            return
        if msg.arbitration_id in LIMITED and not msg.is_extended_id and not msg.is_fd:
            self.limit(msg)
            return
        if msg.arbitration_id != CMD_ID or msg.is_extended_id or not msg.is_fd:
            return
        data = bytes(msg.data)
        if len(data) < 2:
            return
        self.commands += 1
        if self.fault != "no-follow" or self.level is None:
            self.level = data[0]
            self.mode = data[1] & 0x03
        if self.fault == "leak-to-rear":
            self._send(self.rear, CMD_ID, data[:8])

    def route(self, msg: can.Message) -> None:
        if msg.is_fd and self.fault != "leak-fd":
            return  # FD frames are not routed
        data = bytes(msg.data[: min(msg.dlc, 8)])
        copy = can.Message(arbitration_id=msg.arbitration_id, is_extended_id=False, data=data)
        if self.fault == "route-late":
            self.loop.call_later(0.006, lambda: self._forward(copy))
        else:
            self._forward(copy)

    def limit(self, msg: can.Message) -> None:
        """Route unless less than 5 ms after the last frame of its identifier forwarded (in
        microseconds of the loop's clock, the part's receive time; exactly 5 ms forwarded)."""
        now = round(self.loop.now() * 1e6)
        last = self.forwarded.get(msg.arbitration_id)
        spacing = {"limit-4ms": 4000, "limit-6ms": 6000}.get(self.fault or "", 5000)
        if last is not None and now - last < spacing:
            return
        self.forwarded[msg.arbitration_id] = now
        data = bytes(msg.data[: min(msg.dlc, 8)])
        self._forward(
            can.Message(arbitration_id=msg.arbitration_id, is_extended_id=False, data=data)
        )

    def _forward(self, msg: can.Message) -> None:
        with contextlib.suppress(can.CanError):
            self.rear.send(msg)

    def send_alive(self) -> None:
        self._send(self.front, ALIVE_ID, bytes([self.counter, 0, 0, 0, 0, 0, 0, 0]))
        if self.fault == "front-extra-id":
            self._send(self.front, EXTRA_ID, bytes([self.counter]))
        self.counter = (self.counter + 1) & 0xFF

    def send_echo(self) -> None:
        level = self.level if self.level is not None else 0
        self._send(self.rear, ECHO_ID, bytes([level, self.mode, 0, 0, 0, 0, 0, 0]))

    @staticmethod
    def _send(bus: can.BusABC, can_id: int, data: bytes) -> None:
        with contextlib.suppress(can.CanError):
            bus.send(can.Message(arbitration_id=can_id, is_extended_id=False, data=data))


class RelayProvider(DutProvider):
    """The relay as a simulated DUT on the session's buses ``front`` and ``rear``."""

    name = "relay"
    description = "test part: receives on the front bus, sends on the rear bus"
    requirement_set = "RELAY"
    variants: Mapping[str, Variant] = VARIANTS

    def build(self, setup: DutSetup) -> Relay:
        if setup.variant is not None:
            self.variant(setup.variant)
        return Relay(setup.loop, setup.buses["front"], setup.buses["rear"], setup.variant)


class RoutingRelayProvider(RelayProvider):
    """The relay under ``relay_routing.yaml``: its faulty builds are the routing ones."""

    name = "relay-routing"
    description = "test part: routes 0x300..0x30F from the front bus to the rear bus"
    variants: Mapping[str, Variant] = ROUTING_VARIANTS


def _udp(port: int) -> can.BusABC:
    return can.Bus(interface="udp_multicast", channel="239.74.163.2", port=port, fd=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--front-port", type=int, required=True)
    parser.add_argument("--rear-port", type=int, required=True)
    parser.add_argument("--fault", choices=sorted({**VARIANTS, **ROUTING_VARIANTS}))
    args = parser.parse_args(argv)
    # every process hears its own udp_multicast frames back: the relay ignores all but
    # FRONT_Cmd, which it never sends
    front, rear = _udp(args.front_port), _udp(args.rear_port)
    loop = EventLoop(RealClock())
    relay = Relay(loop, front, rear, args.fault)

    def _stop(signum: int, frame: Any) -> None:
        loop.stop()

    signal.signal(signal.SIGTERM, _stop)
    relay.start()
    print("relay running", flush=True)
    try:
        loop.run_for(3600.0)
    finally:
        relay.stop()
        front.shutdown()
        rear.shutdown()
    print(f'{{"commands": {relay.commands}}}', flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
