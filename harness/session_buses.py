"""The buses of a session: one python-can bus per named bus of the profile, on one clock.

A profile declares one bus (the single-bus form, named ``can``) or several (its ``buses``
section, :mod:`harness.profile.compile_buses`). A session opens, for each of them in the
profile's order:

* **simulated**: a pair of ends of the harness's in-memory bus (:class:`SimBus`) on the
  session's virtual clock, one for the harness and one for the simulated part, each bus on a
  channel of its own;
* **real time**: the python-can interface the bench maps the bus to
  (:meth:`harness.bench.Bench.bus_configs`), with CAN FD options from the bus's declaration,
  read by a thread of its own (:class:`ThreadedBus`) and stamped by the interface.

All of them are read by the session's one :class:`~harness.clock.EventLoop`, so every frame
of every bus is on one clock. Bus ``i`` is the trace's BLF channel ``i + 1``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass, field

import can

from harness.bench import ECHOING_INTERFACES, Bench, CanConfig, fd_config, open_bus
from harness.can.ingest import (
    DEFAULT_RECEIVE_BUFFER,
    ThreadedBus,
    overrun_counters,
    set_receive_buffer,
)
from harness.can.port import CanPort
from harness.can.simbus import SimBus
from harness.clock import EventLoop, VirtualClock
from harness.observe import FrameLog
from harness.plan import Plan
from harness.record import FrameLoss, ReceiveReport
from harness.trace import TraceWriter

__all__ = ["SessionBuses", "live_configs", "open_live_buses", "open_sim_buses"]


@dataclass
class SessionBuses:
    """The ends of every named bus, by name, in the profile's order."""

    harness: dict[str, can.BusABC] = field(default_factory=dict)
    dut: dict[str, can.BusABC] = field(default_factory=dict)  # simulated: the part's ends
    ingests: dict[str, ThreadedBus] = field(default_factory=dict)  # real time: the readers
    echoes: dict[str, bool] = field(default_factory=dict)  # the interface echoes our frames

    @property
    def first(self) -> str:
        return next(iter(self.harness))

    def losses(self) -> list[FrameLoss]:
        """Every receiver's frame losses so far (a lost frame on any bus spoils a window)."""
        return [loss for ingest in self.ingests.values() for loss in ingest.losses()]

    def report(self) -> ReceiveReport | None:
        """``run.json``'s ``receive``: the one reader's report, or on several buses each
        bus's by name with the totals and every bus's losses (None: simulated)."""
        if len(self.ingests) <= 1:
            return next((i.report() for i in self.ingests.values()), None)
        return ReceiveReport.of_buses({name: i.report() for name, i in self.ingests.items()})

    def caught_up(self, t: float) -> bool:
        """Whether every bus's reader has read every frame stamped up to ``t``."""
        return all(ingest.caught_up(t) for ingest in self.ingests.values())

    def ports(
        self, loop: EventLoop, plan: Plan, first_log: FrameLog, trace: TraceWriter | None
    ) -> dict[str, CanPort]:
        """The harness's port on each bus, with its own frame log (the first bus's is
        ``first_log``), writing the trace on the bus's channel."""
        out: dict[str, CanPort] = {}
        for i, bus in enumerate(plan.bus_list()):
            out[bus.name] = CanPort(
                loop,
                self.harness[bus.name],
                first_log if i == 0 else FrameLog(),
                trace,
                echoes=self.echoes[bus.name],
                channel=i,
            )
        return out

    @staticmethod
    def runner_buses(
        ports: dict[str, CanPort], plan: Plan
    ) -> dict[str, tuple[CanPort, int]] | None:
        """Every named bus's port and bit rate for the runner (None: the one bus)."""
        if len(ports) == 1:
            return None
        return {b.name: (ports[b.name], b.bitrate) for b in plan.bus_list()}


def open_sim_buses(
    plan: Plan, run_id: str, clock: VirtualClock, stack: contextlib.ExitStack
) -> SessionBuses:
    """A simulated bus per named bus on ``clock`` (the first keeps the one-bus channel)."""
    out = SessionBuses()
    for i, bus in enumerate(plan.bus_list()):
        channel = f"sim-{run_id}" if i == 0 else f"sim-{run_id}-{bus.name}"
        mine = SimBus(channel, clock=clock)
        stack.callback(mine.shutdown)
        theirs = SimBus(channel)
        stack.callback(theirs.shutdown)
        out.harness[bus.name] = mine
        out.dut[bus.name] = theirs
        out.echoes[bus.name] = False
    return out


def live_configs(plan: Plan, bench: Bench) -> dict[str, CanConfig]:
    """The interface of each named bus: the bench's mapping (BenchError for a bus it
    misses or one the profile lacks), a unique ``virtual`` channel where none is given,
    and each bus's CAN FD options."""
    buses = plan.bus_list()
    if not bench.can_buses:  # the single form: a unique virtual channel to derive them from
        bench = bench.with_channel_default()
    configs = bench.bus_configs([b.name for b in buses])
    out: dict[str, CanConfig] = {}
    for bus in buses:
        config = _channel_default(configs[bus.name])
        out[bus.name] = fd_config(config, bus.fd, bus.data_bitrate)
    return out


def _channel_default(config: CanConfig) -> CanConfig:
    if config.channel is not None:
        return config
    if config.interface == "virtual":
        chan: str = f"cc-harness-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    elif config.interface == "udp_multicast":
        chan = "239.74.163.2"
    else:
        return config
    return config.model_copy(update={"channel": chan})


def open_live_buses(configs: dict[str, CanConfig], stack: contextlib.ExitStack) -> SessionBuses:
    """Open every configured bus with a reader thread of its own, so evaluation never leaves
    an interface's buffer to overflow; every overrun counter it has goes to ``run.json``."""
    out = SessionBuses()
    for name, config in configs.items():
        inner = open_bus(config)
        want = config.receive_buffer or DEFAULT_RECEIVE_BUFFER
        granted = set_receive_buffer(inner, want)
        counters = overrun_counters(inner, config.interface, config.channel)
        ingest = ThreadedBus(inner, counters, receive_buffer=granted)
        stack.callback(ingest.shutdown)
        out.harness[name] = ingest
        out.ingests[name] = ingest
        out.echoes[name] = config.interface in ECHOING_INTERFACES
    return out
