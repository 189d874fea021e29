"""The reference CC-GW-1 gateway as a DUT provider (``cc-gw-1``), with its faulty variants.

:class:`GwProvider` builds a :class:`~harness.sim.gw.Gateway` on the loop and the two named
buses a host gives it: ``backbone`` (CAN FD) and ``body`` (classic), as the profile
(``profiles/cc-gw-1.yaml``) or the bench (``harness sim run cc-gw-1 --bench B``, whose
``can`` maps those two names) declares them. Its DBCs come from the installed package
(:func:`bus_dbcs`) when the host does not give them. Importing this module registers it in
:data:`harness.dut.DUTS` (:mod:`harness.sim.provider` does).

The part's conformance statement: :data:`FEATURES` (it has ``rate_limit``; ``fd_diagnostics``
is not declared: its diagnostics run over classic ISO-TP frames for now).
"""

from __future__ import annotations

from pathlib import Path

from harness.bench import Bench
from harness.can.dbc import CanDatabase, load_dbc
from harness.dut import DUTS, DutProvider, DutSetup
from harness.errors import InputError
from harness.sim.gw import Gateway
from harness.sim.gw_config import GW_VARIANTS, GwIdentity

__all__ = ["FEATURES", "PROVIDER", "GwProvider", "bus_dbcs", "gw_identity_from_bench"]

BUSES = ("backbone", "body")
FEATURES = {"rate_limit": True, "fd_diagnostics": False}
"""The optional features the simulated gateway has (its implementation conformance
statement, reference-gw.md): ``fd_diagnostics`` waits for ISO-TP over CAN FD."""


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

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    @property
    def part(self) -> Gateway:
        return self.gateway

    def start(self) -> None:
        self.gateway.start()

    def stop(self) -> None:
        self.gateway.stop()


class GwProvider(DutProvider):
    """CC-GW-1 (reference-gw.md): a CAN FD backbone / classic body bus secure gateway."""

    name = "cc-gw-1"
    description = "the reference secure gateway: CAN FD backbone, classic body bus, E2E, UDS"
    requirement_set = "CC-GW-1"
    variants = GW_VARIANTS

    def build(self, setup: DutSetup) -> RunningGateway:
        if setup.variant is not None:
            self.variant(setup.variant)
        missing = [b for b in BUSES if b not in setup.buses]
        if missing:
            raise InputError(
                f"cc-gw-1 needs its two buses, {' and '.join(BUSES)}; missing "
                + ", ".join(missing),
                expected="a profile (or a bench's can section) naming the buses backbone and body",
                got=sorted(setup.buses) or ["(one unnamed bus)"],
            )
        dbs: dict[str, CanDatabase] = {}
        for bus, path in bus_dbcs().items():
            given = setup.dbs.get(bus)
            dbs[bus] = given if given is not None else load_dbc(path)
        gateway = Gateway(
            setup.loop,
            setup.buses["backbone"],
            setup.buses["body"],
            dbs["backbone"],
            dbs["body"],
            variant=setup.variant,
            identity=gw_identity_from_bench(setup.bench),
            diag=setup.diag,
            fd_diagnostics=FEATURES["fd_diagnostics"],
        )
        return RunningGateway(gateway)

    def default_dbc(self) -> Path | None:
        return bus_dbcs()["backbone"]


PROVIDER = DUTS.register("cc-gw-1", GwProvider())
