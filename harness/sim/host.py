"""Hosting the reference TCU: on the harness's virtual clock, in a thread, or as a process.

The simulator is the DUT, not a mock: whichever way it is hosted it only talks over a
python-can bus. :class:`SimThread` runs it in real time beside the harness in one process;
:func:`serve` runs it in its own process (``harness sim tcu --bench bench.yaml``) until
SIGINT or SIGTERM, so it stands where a supplier's part would.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import can

from harness.bench import Bench, open_bus
from harness.can.dbc import CanDatabase
from harness.clock import EventLoop, RealClock
from harness.mqtt.config import BrokerAddress
from harness.sim.tcu import ReferenceTcu, TcuIdentity
from harness.sim.v2x import V2xBackend, attach_real_broker

__all__ = ["SimThread", "identity_from_bench", "serve"]


def identity_from_bench(bench: Bench) -> TcuIdentity:
    """The simulator's identity: its own, but for what the bench's ``dut`` section sets."""
    d = bench.dut
    given = {
        "station_id": d.station_id,
        "vin": d.vin,
        "serial": d.serial,
        "sw_version": d.sw_version,
    }
    return TcuIdentity(**{k: v for k, v in given.items() if v is not None})  # type: ignore[arg-type]


class SimThread:
    """The reference TCU in real time on its own bus and loop, in a background thread."""

    def __init__(
        self,
        bench: Bench,
        db: CanDatabase,
        variant: str | None,
        *,
        mqtt: BrokerAddress | None = None,
    ) -> None:
        self.bench = bench
        self.mqtt = mqtt  # the broker the TCU's V2X side connects to (None: no V2X)
        self.v2x: V2xBackend | None = None
        self.db = db
        self.variant = variant
        self.loop = EventLoop(RealClock())
        self.bus: can.BusABC | None = None
        self.tcu: ReferenceTcu | None = None
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def __enter__(self) -> SimThread:
        # The harness and the simulator share one interpreter here: switch threads every
        # 0.5 ms (default 5 ms) so the simulator's 100 ms cycle is not held up by the GIL.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
        self.bus = open_bus(self.bench.can)
        self.tcu = ReferenceTcu(
            self.loop,
            self.bus,
            self.db,
            variant=self.variant,
            identity=identity_from_bench(self.bench),
        )
        if self.mqtt is not None:
            self.v2x = attach_real_broker(self.tcu, self.mqtt, self.bench.mqtt.resolve_psk())
        self._thread = threading.Thread(target=self._run, name="reference-tcu", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        assert self.tcu is not None
        try:
            self.tcu.start()
            self.loop.run_until(float("inf"))
        except BaseException as exc:  # reported by the harness as a dead DUT, not swallowed
            self.error = exc

    def __exit__(self, *exc: object) -> None:
        self.loop.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.tcu is not None:
            self.tcu.stop()
        if self.v2x is not None:
            self.v2x.close()
        if self.bus is not None:
            self.bus.shutdown()


def _timer_priority() -> None:
    """Stand in for a part with hardware timers: ahead of ordinary processes when allowed.

    A real-time round-robin priority (Linux, as root) wakes the simulator within a
    millisecond however many ordinary processes compete for the CPU; it sleeps almost all the
    time (a few per cent of one core), so it takes little from them. Without that permission
    a nice value of -5, without that nothing."""
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(10))
        return
    with contextlib.suppress(OSError):
        os.nice(-5)


def serve(
    bench: Bench,
    db: CanDatabase,
    variant: str | None,
    announce: Callable[[str], None] = print,
) -> int:
    """Run the reference TCU in this process until SIGINT/SIGTERM; returns an exit code."""
    _timer_priority()
    loop = EventLoop(RealClock())
    bus = open_bus(bench.can)

    def stop(signum: int, frame: FrameType | None) -> None:
        loop.stop()

    # An inherited SIG_IGN for SIGINT (a background job of a script) stays: POSIX leaves
    # SIGINT to the foreground job there. SIGTERM always stops the simulator.
    old_int = signal.getsignal(signal.SIGINT)
    if old_int is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, stop)
    old_term = signal.signal(signal.SIGTERM, stop)
    tcu = ReferenceTcu(loop, bus, db, variant=variant, identity=identity_from_bench(bench))
    v2x: V2xBackend | None = None
    where = "no MQTT broker in the bench: V2X off"
    if bench.mqtt.broker is not None:  # the broker comes from the bench, like the bus
        base = Path(bench.source).parent if bench.source else None
        address = BrokerAddress.from_config(bench.mqtt.broker, base)
        relay = bench.mqtt.relay
        if relay is not None:  # as a supplier's part would be configured: via the relay
            address = dataclasses.replace(address, host=relay.host, port=relay.port)
        v2x = attach_real_broker(tcu, address, bench.mqtt.resolve_psk())
        where = f"V2X on the {address.label}"
    try:
        tcu.start()
        announce(
            f"reference TCU{' variant ' + variant if variant else ''} running on "
            f"{bench.can.interface} {bench.can.channel}; {where} (Ctrl-C stops it)"
        )
        loop.run_until(float("inf"))
    finally:
        tcu.stop()
        if v2x is not None:
            v2x.close()
        bus.shutdown()
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    return 0
