"""Hosting a simulated DUT in real time: in a thread beside the harness, or as a process.

The simulator is the DUT, not a mock: whichever way it is hosted it only talks over a
python-can bus. :class:`SimThread` runs a provider's part (:mod:`harness.dut`) in real time
beside the harness in one process; :func:`serve` runs it in its own process (``harness sim
run cc-tcu-1 --bench bench.yaml``, or ``harness sim tcu``) until SIGINT or SIGTERM, so it
stands where a supplier's part would. On the virtual clock the session builds the part on
its own loop instead.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import can

from harness.bench import Bench, CanConfig, open_bus
from harness.can.dbc import CanDatabase
from harness.clock import EventLoop, RealClock, freeze_collector, short_switch_interval
from harness.dut import DutProvider, DutSetup, RunningDut
from harness.mqtt.config import BrokerAddress
from harness.rtpriority import PRIORITY_LINE, ROUND_ROBIN, raised
from harness.sim.provider import identity_from_bench
from harness.timerwatch import TIMERS_LINE, watching_timers
from harness.uds.exchange import DiagIds

__all__ = ["SimThread", "identity_from_bench", "serve"]

TIMERS_EVERY = 10.0  # seconds: the timer watch's summary is said at least this often


def _setup(
    loop: EventLoop,
    bus: can.BusABC,
    bench: Bench,
    db: CanDatabase,
    variant: str | None,
    mqtt: BrokerAddress | None,
    diag: DiagIds | None = None,
) -> DutSetup:
    psk = bench.mqtt.resolve_psk() if mqtt is not None else b""
    return DutSetup(loop, bus, db, bench, variant, mqtt_address=mqtt, psk=psk, diag=diag)


class SimThread:
    """A provider's part in real time on its own bus and loop, in a background thread."""

    def __init__(
        self,
        provider: DutProvider,
        bench: Bench,
        db: CanDatabase,
        variant: str | None,
        *,
        mqtt: BrokerAddress | None = None,
        diag: DiagIds | None = None,
        buses: Mapping[str, CanConfig] | None = None,
        dbs: Mapping[str, CanDatabase] | None = None,
    ) -> None:
        """``buses``: a part on several named buses, each opened from its config (the
        harness's, :func:`harness.session_buses.live_configs`), with each bus's DBC in
        ``dbs``; without, the one bus of ``bench.can``."""
        self.provider = provider
        self.bus_configs = dict(buses or {})
        self.dbs = dict(dbs or {})
        self.buses: dict[str, can.BusABC] = {}
        self.diag = diag  # the profile's diagnostic addressing (None: the part's default)
        self.bench = bench
        self.mqtt = mqtt  # the broker the part's V2X side connects to (None: no V2X)
        self.db = db
        self.variant = variant
        self.loop = EventLoop(RealClock())
        self.bus: can.BusABC | None = None
        self.dut: RunningDut | None = None
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    @property
    def part(self) -> object:
        return None if self.dut is None else self.dut.part

    def __enter__(self) -> SimThread:
        # The harness and the simulator share one interpreter here: switch threads every
        # 0.5 ms (default 5 ms) so the simulator's 100 ms cycle is not held up by the GIL.
        short_switch_interval()
        try:
            for name, config in (self.bus_configs or {"": self.bench.can}).items():
                self.buses[name] = open_bus(config)
            self.bus = next(iter(self.buses.values()))
            setup = _setup(
                self.loop, self.bus, self.bench, self.db, self.variant, self.mqtt, self.diag
            )
            if self.bus_configs:
                setup = dataclasses.replace(setup, buses=dict(self.buses), dbs=self.dbs)
            self.dut = self.provider.build(setup)
        except BaseException:
            for bus in self.buses.values():
                bus.shutdown()
            raise
        self._thread = threading.Thread(
            target=self._run, name=f"sim-{self.provider.name}", daemon=True
        )
        self._thread.start()
        return self

    def _run(self) -> None:
        assert self.dut is not None
        try:
            self.dut.start()
            self.loop.run_until(float("inf"))
        except BaseException as exc:  # reported by the harness as a dead DUT, not swallowed
            self.error = exc

    def __exit__(self, *exc: object) -> None:
        self.loop.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.dut is not None:
            self.dut.stop()
        for bus in self.buses.values():
            bus.shutdown()


def serve(
    provider: DutProvider,
    bench: Bench,
    db: CanDatabase,
    variant: str | None,
    announce: Callable[[str], None] = print,
    *,
    timer_watch: bool = False,
) -> int:
    """Run a provider's part in this process until SIGINT/SIGTERM; returns an exit code.

    ``timer_watch``: watch this process's timers (:mod:`harness.timerwatch`) and say the
    summary on stderr when a wake-up was late, and every :data:`TIMERS_EVERY` seconds.

    A bench whose ``can`` maps bus names (a part on several buses) opens each of them: the
    part gets its end of every one (``DutSetup.buses``; CAN FD options as the bench gives
    them), ``bus`` being the first.

    The bench's ``realtime.priority`` (:mod:`harness.rtpriority`) raises this process first,
    its timers round robin (it stands in for a part with hardware timers; it sleeps between
    them, a few per cent of one core); the line it announces says what the OS permitted.
    """
    with raised(bench.realtime.priority, round_robin=ROUND_ROBIN) as applied:
        # on stderr: stdout's first line stays the one saying the part runs
        print(PRIORITY_LINE + json.dumps(applied), file=sys.stderr, flush=True)
        if not timer_watch:
            return _serve(provider, bench, db, variant, announce)
        with watching_timers(on_publish=_TimersSaid()):  # at the part's priority
            return _serve(provider, bench, db, variant, announce)


class _TimersSaid:
    """Prints the timer watch's summary (harness.timerwatch) on stderr when a wake-up was
    late since the last time, and every :data:`TIMERS_EVERY` seconds anyway."""

    def __init__(self) -> None:
        self.late = -1  # late wake-ups when last said (a stall is one of them too)
        self.at = 0.0

    def __call__(self, summary: dict[str, Any]) -> None:
        late, now = summary["late_over_2ms"], time.monotonic()
        if late != self.late or now - self.at >= TIMERS_EVERY:
            self.late, self.at = late, now
            print(TIMERS_LINE + json.dumps(summary), file=sys.stderr, flush=True)


def _serve(
    provider: DutProvider,
    bench: Bench,
    db: CanDatabase,
    variant: str | None,
    announce: Callable[[str], None],
) -> int:
    loop = EventLoop(RealClock())
    buses: dict[str, can.BusABC] = {}
    try:
        for name, config in (bench.can_buses or {"": bench.can}).items():
            buses[name] = open_bus(config)
    except BaseException:
        for opened in buses.values():
            opened.shutdown()
        raise
    bus = next(iter(buses.values()))

    def stop(signum: int, frame: FrameType | None) -> None:
        loop.stop()

    # An inherited SIG_IGN for SIGINT (a background job of a script) stays: POSIX leaves
    # SIGINT to the foreground job there. SIGTERM always stops the simulator.
    old_int = signal.getsignal(signal.SIGINT)
    if old_int is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, stop)
    old_term = signal.signal(signal.SIGTERM, stop)
    address: BrokerAddress | None = None
    where = "no MQTT broker in the bench: V2X off"
    if bench.mqtt.broker is not None:  # the broker comes from the bench, like the bus
        base = Path(bench.source).parent if bench.source else None
        address = BrokerAddress.from_config(bench.mqtt.broker, base)
        relay = bench.mqtt.relay
        if relay is not None:  # as a supplier's part would be configured: via the relay
            address = dataclasses.replace(address, host=relay.host, port=relay.port)
        where = f"V2X on the {address.label}"
    dut: RunningDut | None = None
    thaw: Callable[[], None] | None = None
    try:
        setup = _setup(loop, bus, bench, db, variant, address)
        if bench.can_buses:
            setup = dataclasses.replace(setup, buses=dict(buses))
        dut = provider.build(setup)
        thaw = freeze_collector()  # no full-collection pause of ~100 ms in its timing
        dut.start()
        what = "reference TCU" if provider.name == "cc-tcu-1" else f"simulated {provider.name}"
        on = ", ".join(
            f"{name + ': ' if name else ''}{c.interface} {c.channel}"
            for name, c in (bench.can_buses or {"": bench.can}).items()
        )
        announce(
            f"{what}{' variant ' + variant if variant else ''} running on "
            f"{on}; {where} (Ctrl-C stops it)"
        )
        loop.run_until(float("inf"))
    finally:
        if dut is not None:
            dut.stop()
        if thaw is not None:
            thaw()
        for opened in buses.values():
            opened.shutdown()
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    return 0
