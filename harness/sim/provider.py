"""The reference CC-TCU-1 as a DUT provider (``cc-tcu-1``), with its faulty variants.

:class:`TcuProvider` builds a :class:`~harness.sim.tcu.ReferenceTcu` on the loop and bus a
host gives it (the session's virtual clock, a real-time thread, its own process; see
:mod:`harness.dut`) and, when the profile has MQTT, its V2X backend
(:mod:`harness.sim.v2x`) on the simulated broker or a real one. Importing this module
registers it in :data:`harness.dut.DUTS`.
"""

from __future__ import annotations

from pathlib import Path

from harness.bench import Bench
from harness.dut import DUTS, DutProvider, DutSetup
from harness.sim.tcu import ReferenceTcu, TcuIdentity
from harness.sim.v2x import V2xBackend, attach_real_broker
from harness.sim.variants import VARIANTS

__all__ = ["PROVIDER", "RunningTcu", "TcuProvider", "identity_from_bench"]


def identity_from_bench(bench: Bench) -> TcuIdentity:
    d = bench.dut
    given = {
        "station_id": d.station_id,
        "vin": d.vin,
        "serial": d.serial,
        "sw_version": d.sw_version,
    }
    return TcuIdentity(**{k: v for k, v in given.items() if v is not None})  # type: ignore[arg-type]


class RunningTcu:
    """One built reference TCU and its V2X backend (None without MQTT)."""

    def __init__(self, tcu: ReferenceTcu, v2x: V2xBackend | None) -> None:
        self.tcu = tcu
        self.v2x = v2x

    @property
    def part(self) -> ReferenceTcu:
        return self.tcu

    def start(self) -> None:
        self.tcu.start()

    def stop(self) -> None:
        self.tcu.stop()
        if self.v2x is not None:
            self.v2x.close()


class TcuProvider(DutProvider):
    """CC-TCU-1 (reference-tcu.md): CAN, V2X over MQTT, remote commands and UDS."""

    name = "cc-tcu-1"
    description = "the reference telematics control unit: CAN, V2X over MQTT, commands, UDS"
    requirement_set = "CC-TCU-1"
    variants = VARIANTS

    def build(self, setup: DutSetup) -> RunningTcu:
        if setup.variant is not None:
            self.variant(setup.variant)
        tcu = ReferenceTcu(
            setup.loop,
            setup.bus,
            setup.db,
            variant=setup.variant,
            identity=identity_from_bench(setup.bench),
            diag=setup.diag,
        )
        v2x: V2xBackend | None = None
        if setup.mqtt_transport is not None:
            v2x = V2xBackend(tcu, setup.mqtt_transport, setup.psk, asn1=setup.asn1)
        elif setup.mqtt_address is not None:
            v2x = attach_real_broker(tcu, setup.mqtt_address, setup.psk)
        return RunningTcu(tcu, v2x)

    def default_dbc(self) -> Path | None:
        here = Path(__file__).resolve().parent.parent
        for candidate in (here / "data" / "cc-tcu-1.dbc", here.parent / "dbc" / "cc-tcu-1.dbc"):
            if candidate.exists():
                return candidate
        return None


PROVIDER = DUTS.register("cc-tcu-1", TcuProvider())

# the second built-in part, CC-GW-1, registers with the first
from harness.sim import gw_provider as _gw_provider  # noqa: E402,F401
