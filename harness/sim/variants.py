"""The deliberately broken variants of the reference TCU (provider ``cc-tcu-1``).

A certification harness is only trustworthy if it can fail a part. Each variant here breaks
exactly one requirement of CC-TCU-1 and keeps every other behaviour observable on the same
interface correct, so that a run against it must fail the checks of that requirement and
pass all others. This module is the registry (name, requirement, one-line description);
what each variant does differently lives with the simulator that implements it.

The registry is an explicit, insertion-ordered dict; registering a name twice is an error at
import time, not a silent override.
"""

from __future__ import annotations

from harness.dut import Variant, check_variant
from harness.errors import InputError

__all__ = ["VARIANTS", "Variant", "get_variant", "register_variant"]


VARIANTS: dict[str, Variant] = {}


def register_variant(variant: Variant, registry: dict[str, Variant] | None = None) -> Variant:
    """Add ``variant`` to ``registry`` (default :data:`VARIANTS`); duplicates are refused."""
    target = VARIANTS if registry is None else registry
    check_variant(variant)
    if variant.name in target:
        raise ValueError(f"variant {variant.name!r} is registered twice")
    target[variant.name] = variant
    return variant


for _variant in (
    Variant(
        "slow-cycle",
        "CAN-001",
        "TCU_Status every 125 ms instead of 100 ms while ignition is not OFF",
    ),
    Variant(
        "fast-off-cycle",
        "CAN-002",
        "keeps the 100 ms TCU_Status cycle while ignition is OFF",
    ),
    Variant(
        "stuck-counter",
        "CAN-003",
        "TCU_Status alive counter never increments (the CRC over it is still correct)",
    ),
    Variant(
        "bad-crc",
        "CAN-004",
        "TCU_Status CRC computed without the Data ID, so it is wrong on every frame",
    ),
    Variant(
        "babbling-id",
        "CAN-005",
        "also sends a debug frame on 0x3A1 (DLC 8) every 100 ms",
    ),
    Variant(
        "flood",
        "CAN-005",
        "floods 0x7E8 with empty ISO-TP single frames at 2 kHz (about 54 % bus load)",
    ),
    Variant(
        "ignores-e2e",
        "CAN-006",
        "accepts VEH_Dynamics with a wrong CRC, DLC or repeated counter; "
        "never sets FaultVehDataInvalid",
    ),
    Variant(
        "no-timeout-flag",
        "CAN-007",
        "never sets FaultVehDataTimeout",
    ),
    Variant(
        "silent-after-dlc",
        "CAN-008",
        "after a DLC 5 frame on an identifier it does not receive, is silent for 3 s, "
        "then restarts",
    ),
    Variant(
        "silent-after-id-dlc",
        "CAN-008",
        "after one frame on 0x2C7 with DLC 4 (an identifier it does not receive), is silent "
        "for 3 s, then restarts; only a fuzz sweep reliably finds it",
    ),
    # V2X over MQTT and remote commands (behaviour in harness.sim.v2x)
    Variant(
        "no-online-on-reconnect",
        "V2X-001",
        "publishes 'online' on its first connect only, not after a reconnect",
    ),
    Variant("bsm-5hz", "V2X-002", "publishes BasicSafetyMessages every 200 ms instead of 100 ms"),
    Variant("bsm-counter-skip", "V2X-003", "BSM msgCnt steps by 2 instead of 1"),
    Variant("bsm-speed-kmh", "V2X-004", "BSM speed sent in km/h instead of 0.02 m/s units"),
    Variant(
        "stale-speed-on-timeout",
        "V2X-005",
        "keeps sending the last speed and acceleration while FaultVehDataTimeout is set",
    ),
    Variant("late-hard-braking", "V2X-006", "publishes the hard-braking HazardEvent after 300 ms"),
    Variant("bsm-in-off", "V2X-007", "keeps publishing BSMs while ignition is OFF"),
    Variant("no-reconnect", "V2X-008", "never reconnects after it lost the broker"),
    Variant(
        "ack-without-frame",
        "CMD-001",
        "acks valid commands 'ok' and counts them but sends no TCU_Command frame",
    ),
    Variant("bad-mac-accepted", "CMD-002", "accepts a command with a wrong mac"),
    Variant("stale-accepted", "CMD-003", "accepts a command whose ts is more than 30 s off"),
    Variant("replay-accepted", "CMD-004", "accepts a command whose nonce was already used"),
    Variant("oversize-accepted", "CMD-005", "accepts a valid command padded past 1024 bytes"),
    Variant(
        "crash-on-non-hex-nonce",
        "CMD-005",
        "its command parser crashes on a nonce of 32 characters that are not all hex digits: "
        "no ack, and no command answered for 3 s; only fuzzing sends such a nonce",
    ),
    # Diagnostics (behaviour in harness.sim.uds_server)
    Variant(
        "no-s3-fallback",
        "UDS-001",
        "stays in the extended session (unlocked) however long the tester is silent",
    ),
    Variant(
        "s3-fallback-keeps-unlocked",
        "UDS-001",
        "falls back to the default session after S3 but leaves security unlocked, and the next "
        "switch to the extended session does not relock it either",
    ),
    Variant(
        "tester-present-not-suppressed",
        "UDS-002",
        "answers TesterPresent 3E 80 (suppress bit set) with 7E 00",
    ),
    Variant(
        "wrong-nrc-unknown-did",
        "UDS-003",
        "answers ReadDataByIdentifier of an unknown DID with NRC 0x12 instead of 0x31",
    ),
    Variant(
        "security-never-locks",
        "UDS-004",
        "answers every wrong key with NRC 0x35: never 0x36, no 10 s lockout",
    ),
    Variant(
        "write-without-security",
        "UDS-005",
        "accepts WriteDataByIdentifier of station_id while security is locked",
    ),
    Variant(
        "dtc-not-confirmed",
        "UDS-006",
        "clears a DTC's confirmedDTC bit as soon as its fault clears",
    ),
    Variant(
        "short-reset-silence",
        "UDS-007",
        "after ECUReset, silent on CAN for 200 ms instead of 400..600 ms",
    ),
    Variant(
        "unsupported-service-nrc-7f",
        "UDS-008",
        "answers an unsupported service with NRC 0x7F instead of 0x11",
    ),
    Variant(
        "dtc-read-ignores-extra-bytes",
        "UDS-008",
        "answers ReadDTCInformation 19 02 with bytes after the status mask (19 02 FF 00) "
        "positively instead of NRC 0x13; only fuzzing sends such a request",
    ),
):
    register_variant(_variant)
del _variant


def get_variant(name: str) -> Variant:
    """The registered variant ``name``; an unknown name is the user's mistake."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise InputError(
            "unknown simulator variant",
            expected="the name of a faulty variant",
            got=name,
            choices=sorted(VARIANTS),
        ) from None
