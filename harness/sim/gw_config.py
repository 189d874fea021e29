"""The fixed facts the reference CC-GW-1 gateway is built from, and its faulty variants.

Identifiers and timing of reference-gw.md (GW-001..GW-009), the per-unit identity
(:class:`GwIdentity`: the only place its defaults live), and :class:`GwBehaviour`: what each
faulty variant of :data:`GW_VARIANTS` does differently, as a handful of values the gateway
reads instead of name comparisons scattered through its logic. Each variant breaks one
requirement and keeps everything else the profile observes correct.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.dut import Variant
from harness.errors import InputError
from harness.sim.variants import register_variant

__all__ = [
    "BEHAVIOURS",
    "DIAG_FUNCTIONAL_ID",
    "DIAG_REQUEST_ID",
    "DIAG_RESPONSE_ID",
    "DISCARDS_TO_SET_INVALID",
    "GW_VARIANTS",
    "PT_TIMEOUT",
    "RATE_LIMIT",
    "RESET_SILENCE",
    "ROUTED_IDS",
    "VALID_TO_CLEAR",
    "GwBehaviour",
    "GwIdentity",
]

ROUTED_IDS = range(0x300, 0x310)  # classic 11-bit frames routed backbone -> body (GW-001)
RATE_LIMIT = 0.005  # seconds between forwarded frames of one routed ID (GW-006)
PT_TIMEOUT = 0.050  # seconds without a valid PT_Status: FaultPtTimeout (GW-004)
DISCARDS_TO_SET_INVALID = 3  # consecutive discarded PT_Status frames: FaultPtInvalid
VALID_TO_CLEAR = 2  # consecutive valid PT_Status frames clear either fault
RESET_SILENCE = 0.300  # seconds silent on both buses after ECUReset (GW-009)
VEHINFO_CYCLE = 0.020  # BODY_VehInfo (GW-003)
STATUS_CYCLE = 0.100  # GW_Status and GW_StatusFD (GW-007)
SIGNAL_HOLDOFF = 0.001  # a PT_Status change shows from the first BODY_VehInfo 1 ms after it
# GW-008: ISO-TP normal fixed addressing, the gateway 0x10, the tester 0xF1, functional 0x33
DIAG_REQUEST_ID = 0x18DA10F1
DIAG_FUNCTIONAL_ID = 0x18DB33F1
DIAG_RESPONSE_ID = 0x18DAF110
DIAG_PADDING = 0xCC
LOAD_WINDOW = 0.100  # late-under-load: backbone frames counted over this window
LOAD_THRESHOLD = 80  # ... and more than this many of them is "under load" (~22 % bus load)


@dataclass(frozen=True)
class GwIdentity:
    """Per-unit identity (reference-gw.md, "Buses"): reported over diagnostics only."""

    vin: str = "KMHCC00GW10000001"  # 17 ASCII
    sw_version: str = "CCGW-1.0.0"
    serial: str = "CCGW000000000001"  # 16 ASCII

    def __post_init__(self) -> None:
        for label, value, length in (("vin", self.vin, 17), ("serial", self.serial, 16)):
            if len(value) != length or not value.isascii():
                raise InputError(
                    f"CC-GW-1 identity {label}", expected=f"{length} ASCII characters", got=value
                )
        if not self.sw_version or not self.sw_version.isascii():
            raise InputError(
                "CC-GW-1 identity sw_version", expected="ASCII text", got=self.sw_version
            )


@dataclass(frozen=True)
class GwBehaviour:
    """How a variant differs from the correct gateway (the defaults are the correct part)."""

    route_delay: float = 0.0  # seconds from reception to the copy, always
    late_under_load: float = 0.0  # extra delay while more than LOAD_THRESHOLD frames/window
    leaked_id: int | None = None  # one more identifier copied to the body bus (GW-002)
    speed_round_half_up: bool = True  # GW-003: False truncates
    accept_repeated_counter: bool = False  # GW-004
    pt_timeout: bool = True  # GW-004: False never sets FaultPtTimeout
    p01_counter_max: int = 14  # GW-005: 15 sends the forbidden counter value
    p05_length: int | None = None  # GW-005: GW_StatusFD CRC over this many bytes (None: 16)
    rate_limit: float | None = RATE_LIMIT  # GW-006: None forwards everything
    status_fd_cycle: float = STATUS_CYCLE  # GW-007
    fd_count_modulus: int = 0x10000  # GW-007: GW_StatusFD's counts wrap here
    functional_nrc: bool = False  # GW-008: answers functional requests with NRC 0x11/0x12/0x31
    fd_diagnostics: bool = True  # GW-008: False answers over classic ISO-TP (no such feature)
    diag_brs: bool = True  # GW-008: False sends its diagnostic FD frames without BRS
    length_before_subfunction: bool = False  # GW-008: NRC 0x13 wins over 0x12
    reset_silence: float = RESET_SILENCE  # GW-009
    counts_survive_reset: bool = False  # GW-009
    faults_survive_reset: bool = False  # GW-009


_VARIANTS: tuple[tuple[Variant, GwBehaviour], ...] = (
    (
        Variant(
            "late-under-load",
            "GW-001",
            "routes each frame 6 ms late while more than 80 backbone frames came in 100 ms",
        ),
        GwBehaviour(late_under_load=0.006),
    ),
    (
        Variant("leaked-id", "GW-002", "also copies backbone frames of 0x310 to the body bus"),
        GwBehaviour(leaked_id=0x310),
    ),
    (
        Variant(
            "speed-truncated",
            "GW-003",
            "converts VehicleSpeed to 0.1 km/h by truncating instead of rounding half up",
        ),
        GwBehaviour(speed_round_half_up=False),
    ),
    (
        Variant(
            "accepts-repeated-counter",
            "GW-004",
            "uses (and does not count) a PT_Status whose counter repeats the last valid one",
        ),
        GwBehaviour(accept_repeated_counter=True),
    ),
    (
        Variant("no-pt-timeout", "GW-004", "never sets FaultPtTimeout"),
        GwBehaviour(pt_timeout=False),
    ),
    (
        Variant(
            "p01-counter-15",
            "GW-005",
            "its Profile 1 counters run 0..15: every 16th BODY_VehInfo and GW_Status sends 15",
        ),
        GwBehaviour(p01_counter_max=15),
    ),
    (
        Variant(
            "p05-crc-short",
            "GW-005",
            "the GW_StatusFD Profile 5 CRC covers its first 8 bytes instead of all 16",
        ),
        GwBehaviour(p05_length=8),
    ),
    (
        Variant(
            "rate-limit-4ms",
            "GW-006",
            "its rate limiter drops frames less than 4 ms (not 5 ms) after the last forwarded",
        ),
        GwBehaviour(rate_limit=0.004),
    ),
    (
        Variant(
            "no-rate-limit",
            "GW-006",
            "has no rate limiter: forwards every routed frame, DroppedCount stays 0",
        ),
        GwBehaviour(rate_limit=None),
    ),
    (
        Variant("status-fd-120ms", "GW-007", "sends GW_StatusFD every 120 ms instead of 100 ms"),
        GwBehaviour(status_fd_cycle=0.120),
    ),
    (
        Variant(
            "fd-counts-mod-256",
            "GW-007",
            "GW_StatusFD's counts wrap at 256 like GW_Status's instead of at 65536",
        ),
        GwBehaviour(fd_count_modulus=0x100),
    ),
    (
        Variant(
            "functional-nrc",
            "GW-008",
            "answers functionally addressed requests with NRC 0x11, 0x12 or 0x31 too",
        ),
        GwBehaviour(functional_nrc=True),
    ),
    (
        Variant(
            "length-before-subfunction",
            "GW-008",
            "checks a request's length before its sub-function (NRC 0x13 wins over 0x12)",
        ),
        GwBehaviour(length_before_subfunction=True),
    ),
    (
        Variant(
            "short-reset-silence",
            "GW-009",
            "after ECUReset, silent for 150 ms instead of 300 ms",
        ),
        GwBehaviour(reset_silence=0.150),
    ),
    (
        Variant(
            "counts-survive-reset",
            "GW-009",
            "keeps its status counts (and E2E counters) over an ECUReset",
        ),
        GwBehaviour(counts_survive_reset=True),
    ),
    (
        Variant(
            "faults-survive-reset",
            "GW-009",
            "keeps FaultPtTimeout and FaultPtInvalid set over an ECUReset",
        ),
        GwBehaviour(faults_survive_reset=True),
    ),
    (
        Variant(
            "classic-diagnostics",
            "GW-008",
            "answers diagnostics in classic 8-byte ISO-TP frames: a part without the feature "
            "fd_diagnostics, right only when its statement says so",
        ),
        GwBehaviour(fd_diagnostics=False),
    ),
    (
        Variant(
            "diag-fd-no-brs",
            "GW-008",
            "answers diagnostics in CAN FD frames without the bit rate switch",
        ),
        GwBehaviour(diag_brs=False),
    ),
)

GW_VARIANTS: dict[str, Variant] = {}
for _variant, _ in _VARIANTS:
    register_variant(_variant, GW_VARIANTS)
BEHAVIOURS: dict[str, GwBehaviour] = {v.name: b for v, b in _VARIANTS}
del _variant
