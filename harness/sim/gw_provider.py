"""The reference CC-GW-1 gateway as a DUT provider (``cc-gw-1``), with its faulty variants.

:class:`GwProvider` builds a :class:`~harness.sim.gw.Gateway` on the loop and the two named
buses a host gives it: ``backbone`` (CAN FD) and ``body`` (classic), as the profile
(``profiles/cc-gw-1.yaml``) or the bench (``harness sim run cc-gw-1 --bench B``, whose
``can`` maps those two names) declares them. Its DBCs come from the installed package
(:func:`bus_dbcs`) when the host does not give them. Importing this module registers it in
:data:`harness.dut.DUTS` (:mod:`harness.sim.provider` does).

The correct part has both optional features, :data:`FEATURES` (``rate_limit`` and
``fd_diagnostics``); the faulty variants ``no-rate-limit`` and ``classic-diagnostics`` are
parts without one, right only under a statement that leaves it out.
"""

from __future__ import annotations

from pathlib import Path

import can

from harness.bench import Bench
from harness.can.dbc import CanDatabase, load_dbc
from harness.dut import DUTS, DutProvider, DutSetup
from harness.errors import InputError
from harness.sim.gw import Gateway
from harness.sim.gw_config import GW_VARIANTS, GwIdentity

__all__ = ["FEATURES", "PROVIDER", "GwProvider", "bus_dbcs", "gw_identity_from_bench"]

BUSES = ("backbone", "body")
REALTIME_FRAMES_PER_TURN = 8
FEATURES = {"rate_limit": True, "fd_diagnostics": True}
"""The optional features the simulated gateway has (its implementation conformance
statement, reference-gw.md)."""


def bus_dbcs() -> dict[str, Path]:
    """Each bus's DBC as installed with the package (``harness/data``)."""
    data = Path(__file__).resolve().parent.parent / "data"
    return {bus: data / f"cc-gw-1-{bus}.dbc" for bus in BUSES}


def gw_identity_from_bench(bench: Bench) -> GwIdentity:
    """The simulator's identity from the bench's ``dut`` section (its own defaults otherwise):
    ``vin``, ``sw_version`` and ``serial`` (16 characters; ``dut.identity.serial`` too)."""
    d = bench.dut
    given = {
        "vin": d.vin or d.identity.get("vin"),
        "sw_version": d.sw_version or d.identity.get("sw_version"),
        "serial": d.identity.get("serial") or d.serial,
    }
    return GwIdentity(**{k: v for k, v in given.items() if v is not None})


class RunningGateway:
    """A built gateway (the provider's :class:`~harness.dut.RunningDut`)."""

    def __init__(self, gateway: Gateway, owned: list[can.BusABC] | None = None) -> None:
        self.gateway = gateway
        self.owned = list(owned or [])  # the buses of its own it was given (shut down here)

    @property
    def part(self) -> Gateway:
        return self.gateway

    def start(self) -> None:
        self.gateway.start()

    def stop(self) -> None:
        self.gateway.stop()
        for bus in self.owned:
            bus.shutdown()
        self.owned.clear()


class GwProvider(DutProvider):
    """CC-GW-1 (reference-gw.md): a CAN FD backbone / classic body bus secure gateway."""

    name = "cc-gw-1"
    description = "the reference secure gateway: CAN FD backbone, classic body bus, E2E, UDS"
    requirement_set = "CC-GW-1"
    variants = GW_VARIANTS

    def build(self, setup: DutSetup) -> RunningGateway:
        if setup.variant is not None:
            self.variant(setup.variant)
        buses, dbs = self._buses(setup)
        if not setup.loop.clock.simulated:
            # its own real-time loop (a thread or a process of its own): look at the clock
            # every few frames, so a burst of routed frames does not hold its cycles back
            setup.loop.MAX_FRAMES_PER_TURN = REALTIME_FRAMES_PER_TURN
        owned = [bus for bus in buses.values() if bus not in setup.buses.values()]
        owned = [bus for bus in owned if bus is not setup.bus]
        gateway = Gateway(
            setup.loop,
            buses["backbone"],
            buses["body"],
            dbs["backbone"],
            dbs["body"],
            variant=setup.variant,
            identity=gw_identity_from_bench(setup.bench),
            diag=setup.diag,
        )
        return RunningGateway(gateway, owned)

    @staticmethod
    def _buses(setup: DutSetup) -> tuple[dict[str, can.BusABC], dict[str, CanDatabase]]:
        """The part's end of each of its buses and their DBCs. A profile of both buses names
        them backbone and body; a profile of one of them (``harness init`` on one DBC) gives
        one bus, known by its DBC's messages, and the other is a bus of its own that nobody
        else is on (the gateway's frames there go nowhere)."""
        given = {b: setup.buses[b] for b in BUSES if b in setup.buses}
        dbs = {b: setup.dbs[b] for b in BUSES if b in setup.dbs}
        if not given:
            names = {m.name for m in setup.db.messages.values()}
            if "BODY_VehInfo" in names or "GW_Status" in names:
                given, dbs = {"body": setup.bus}, {"body": setup.db}
            elif "PT_Status" in names or "GW_StatusFD" in names:
                given, dbs = {"backbone": setup.bus}, {"backbone": setup.db}
            else:
                raise InputError(
                    "cc-gw-1 is on a backbone and a body bus; this profile's bus carries "
                    "neither's messages",
                    expected="a profile naming the buses backbone and body, or one of the "
                    "CC-GW-1 DBCs (harness/data/cc-gw-1-backbone.dbc, cc-gw-1-body.dbc)",
                    got=sorted(setup.buses) or ["(one bus)"],
                )
        for bus, path in bus_dbcs().items():
            if bus not in given:
                given[bus] = can.Bus(interface="virtual", channel=f"cc-gw-1-{bus}-{id(setup)}")
            if bus not in dbs:
                dbs[bus] = load_dbc(path)
        return given, dbs

    def default_dbc(self) -> Path | None:
        return bus_dbcs()["backbone"]


PROVIDER = DUTS.register("cc-gw-1", GwProvider())
