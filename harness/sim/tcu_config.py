"""The fixed facts the reference CC-TCU-1 is built from, and the knobs of its faulty variants.

Identifiers and timing of reference-tcu.md (CAN-001..CAN-008), the per-unit identity, and
:class:`CanBehaviour`: what each faulty variant of :mod:`harness.sim.variants` does
differently on CAN, as a handful of values :class:`~harness.sim.tcu.ReferenceTcu` reads on its
hot path instead of name comparisons scattered through the logic. A variant not listed in
:data:`CAN_BEHAVIOURS` (one of another interface) is correct on CAN. Also what the TCU calls
on its MQTT side (:class:`V2xHooks`) and the counters it keeps (:class:`TcuStats`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from harness.errors import InputError
from harness.sim.variants import VARIANTS

__all__ = [
    "CAN_BEHAVIOURS",
    "DIAG_FUNCTIONAL_ID",
    "DIAG_REQUEST_ID",
    "DIAG_RESPONSE_ID",
    "DISCARDS_TO_SET_INVALID",
    "FUZZ_TRIGGER_DLC",
    "FUZZ_TRIGGER_ID",
    "RECEIVED_IDS",
    "SENT_IDS",
    "STATUS_CYCLE_OFF",
    "STATUS_CYCLE_ON",
    "VALID_TO_CLEAR",
    "VEH_DATA_TIMEOUT",
    "WATCHDOG_SILENCE",
    "CanBehaviour",
    "ExtraFrame",
    "IgnitionState",
    "TcuIdentity",
    "TcuStats",
    "V2xHooks",
]

DIAG_REQUEST_ID = 0x7E0
DIAG_FUNCTIONAL_ID = 0x7DF
DIAG_RESPONSE_ID = 0x7E8

STATUS_CYCLE_ON = 0.100  # seconds, ignition not OFF (CAN-001)
STATUS_CYCLE_OFF = 1.000  # seconds, ignition OFF (CAN-002)
VEH_DATA_TIMEOUT = 0.200  # seconds without a valid VEH_Dynamics (CAN-007)
DISCARDS_TO_SET_INVALID = 3  # consecutive discarded VEH_Dynamics (CAN-006)
VALID_TO_CLEAR = 2  # consecutive valid VEH_Dynamics clear either flag
WATCHDOG_SILENCE = 3.0  # seconds, the silent-after-dlc variants' "reboot"
# silent-after-id-dlc: one (identifier, DLC) pair among the ~17,000 that CAN-008 allows
FUZZ_TRIGGER_ID = 0x2C7
FUZZ_TRIGGER_DLC = 4


class IgnitionState:
    """Raw values of VEH_Status.IgnitionState."""

    OFF = 0
    ACC = 1
    ON = 2
    START = 3


@dataclass(frozen=True)
class TcuIdentity:
    """Per-unit identity (reference-tcu.md, "Buses and identities")."""

    station_id: int = 0x0C0FFEE1
    vin: str = "KMHCC00TCU1000001"  # 17 ASCII
    serial: str = "CCTCU0000001"  # 12 ASCII
    sw_version: str = "CCTCU-1.0.0"

    def __post_init__(self) -> None:
        if not 0 <= self.station_id <= 0xFFFFFFFF:
            raise InputError(
                "TCU identity station_id", expected="a 4-byte value", got=self.station_id
            )
        for label, value, length in (("vin", self.vin, 17), ("serial", self.serial, 12)):
            if len(value) != length or not value.isascii():
                raise InputError(
                    f"TCU identity {label}", expected=f"{length} ASCII characters", got=value
                )
        if not self.sw_version or not self.sw_version.isascii():
            raise InputError("TCU identity sw_version", expected="ASCII text", got=self.sw_version)

    @property
    def station_id_hex(self) -> str:
        """The station_id as shown in topics and client ids: 8 upper-case hex digits."""
        return f"{self.station_id:08X}"


@dataclass(frozen=True)
class ExtraFrame:
    """A frame a faulty variant sends on its own schedule, besides the TCU's own."""

    arbitration_id: int
    period: float
    data: bytes


@dataclass(frozen=True)
class CanBehaviour:
    """The knobs a faulty variant turns; the defaults are the correct part."""

    cycle_on: float = STATUS_CYCLE_ON
    cycle_off: float = STATUS_CYCLE_OFF
    counter_step: int = 1
    crc_with_data_id: bool = True
    check_e2e: bool = True  # False: every VEH_Dynamics counts as valid for CAN-006
    timeout_flag: bool = True
    # (identifier or None for any foreign one, DLC): a frame like that trips a watchdog
    watchdog_on: tuple[int | None, int] | None = None
    extra_frames: tuple[ExtraFrame, ...] = ()


CAN_BEHAVIOURS: dict[str, CanBehaviour] = {
    "slow-cycle": CanBehaviour(cycle_on=0.125),
    "fast-off-cycle": CanBehaviour(cycle_off=STATUS_CYCLE_ON),
    "stuck-counter": CanBehaviour(counter_step=0),
    "bad-crc": CanBehaviour(crc_with_data_id=False),
    "babbling-id": CanBehaviour(
        extra_frames=(ExtraFrame(0x3A1, 0.100, bytes.fromhex("DB 00 00 00 00 00 00 00")),)
    ),
    # An ISO-TP single frame of length 0: every tester ignores it, but 2000 of them per
    # second take 2000 * 135 bit = 54 % of 500 kbit/s.
    "flood": CanBehaviour(extra_frames=(ExtraFrame(DIAG_RESPONSE_ID, 0.0005, bytes(8)),)),
    "ignores-e2e": CanBehaviour(check_e2e=False),
    "no-timeout-flag": CanBehaviour(timeout_flag=False),
    "silent-after-dlc": CanBehaviour(watchdog_on=(None, 5)),
    "silent-after-id-dlc": CanBehaviour(watchdog_on=(FUZZ_TRIGGER_ID, FUZZ_TRIGGER_DLC)),
}
_unknown = set(CAN_BEHAVIOURS) - set(VARIANTS)
if _unknown:  # a typo here would silently make a variant behave correctly
    raise RuntimeError(f"behaviours for unregistered variants: {sorted(_unknown)}")

SENT_IDS: frozenset[int] = frozenset({0x3A0, 0x3B0, DIAG_RESPONSE_ID})
RECEIVED_IDS: frozenset[int] = frozenset(
    {0x100, 0x110, 0x111, 0x120, DIAG_REQUEST_ID, DIAG_FUNCTIONAL_ID}
)


class V2xHooks(Protocol):
    """What the TCU calls on its MQTT side (:class:`harness.sim.v2x.V2xBackend`)."""

    def power_up(self) -> None: ...
    def power_down(self) -> None: ...
    def on_dynamics(self, data: bytes) -> None: ...


@dataclass
class TcuStats:
    """Counters for tests and logs; none of them drives behaviour."""

    frames_sent: int = 0
    status_sent: int = 0
    send_errors: int = 0
    frames_received: int = 0
    dynamics_discarded: int = 0
    other_discarded: int = 0
    watchdog_resets: int = 0
