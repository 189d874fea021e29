"""The bus a starting profile declares (``harness init``): classic CAN, or CAN FD.

A DBC with a CAN FD message (``VFrameFormat`` ``StandardCAN_FD``/``ExtendedCAN_FD``, or more
than 8 data bytes: what a classic bus refuses, :func:`harness.can.dbc.classic_misfit`) or
with the database attribute ``BusType "CAN FD"`` gets ``bus: {fd: true, bitrate,
data_bitrate}``; any other a top-level ``bitrate:``. The bit rates come from the DBC's
database attributes ``Baudrate`` (nominal) and ``BaudrateCANFD`` (data phase, CANdb++'s
name), set (``BA_``) or else their definitions' defaults (``BA_DEF_DEF_``), where the profile
format takes them; else 500 kbit/s and 2 Mbit/s, with a comment saying to set them.

The bus case's load estimate counts each message's frame as the bus-load check does, an FD
frame without the bit rate switch (every bit at the nominal rate: the most it can take).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.can.dbc import CanDatabase, MessageCodec, classic_misfit
from harness.observe import fd_frame_bits, frame_bits

__all__ = ["DEFAULT_BITRATE", "DEFAULT_DATA_BITRATE", "ScaffoldBus", "scaffold_bus"]

DEFAULT_BITRATE = 500_000
DEFAULT_DATA_BITRATE = 2_000_000
MAX_BITRATE = 1_000_000  # the profile format's limits (harness.profile.model_bus.BusSpec)
MAX_DATA_BITRATE = 16_000_000
DATA_BITRATE_ATTRIBUTE = "BaudrateCANFD"


@dataclass(frozen=True)
class ScaffoldBus:
    """The bus of a starting profile: its kind, bit rates, and the profile's lines for it."""

    fd: bool
    bitrate: int
    data_bitrate: int  # 0 on a classic bus
    fd_messages: tuple[str, ...]  # the DBC's CAN FD messages
    lines: tuple[str, ...]  # the profile's lines that declare the bus, with their notes

    def frame_bits(self, msg: MessageCodec) -> int:
        """Bits of one frame of ``msg`` on this bus, counted at the nominal rate."""
        if self.fd and classic_misfit(msg) is not None:
            nominal, fast = fd_frame_bits(msg.length, extended=msg.is_extended, brs=False)
            return nominal + fast
        return frame_bits(msg.frame_id, msg.length, extended=msg.is_extended)


def _attribute(db: CanDatabase, name: str) -> tuple[Any, str]:
    """The value of the DBC's database attribute ``name`` (any case): set (``BA_``), else
    its definition's default (``BA_DEF_DEF_``, what CANdb++ shows), else None; and which."""
    specifics = getattr(db._db, "dbc", None)
    attributes = getattr(specifics, "attributes", None) or {}
    for key, attribute in attributes.items():
        if str(key).lower() == name.lower():
            return getattr(attribute, "value", None), "attribute"
    definitions = getattr(specifics, "attribute_definitions", None) or {}
    for key, definition in definitions.items():
        if str(key).lower() == name.lower() and getattr(definition, "kind", None) is None:
            return getattr(definition, "default_value", None), "attribute's default"
    return None, "attribute"


def _rate(value: Any, floor: int, ceiling: int) -> int | None:
    try:
        rate = int(float(value))
    except (TypeError, ValueError):
        return None
    return rate if floor <= rate <= ceiling else None


def _rate_line(key: str, found: tuple[Any, str], rate: int | None, default: int, attr: str) -> str:
    value, where = found
    if rate is not None:
        return f"{key}: {rate}  # the DBC's {attr} {where}"
    if value is None:
        return f"{key}: {default}  # the DBC names none ({attr}): set the bus's bit rate"
    return f"{key}: {default}  # the DBC's {attr} {value} is not one the profile takes: set it"


def scaffold_bus(db: CanDatabase) -> ScaffoldBus:
    """The bus of ``db``'s starting profile, with the lines that declare it."""
    fd_messages = tuple(m.name for m in db.messages.values() if classic_misfit(m) is not None)
    bus_type, _ = _attribute(db, "BusType")
    fd = bool(fd_messages) or str(bus_type or "").strip().lower() == "can fd"
    baud = _attribute(db, "Baudrate")
    bitrate = _rate(baud[0], 1, MAX_BITRATE)
    if not fd:
        line = _rate_line("bitrate", baud, bitrate, DEFAULT_BITRATE, "Baudrate")
        return ScaffoldBus(False, bitrate or DEFAULT_BITRATE, 0, (), (line, ""))
    nominal = bitrate or DEFAULT_BITRATE
    data = _attribute(db, DATA_BITRATE_ATTRIBUTE)
    data_bitrate = _rate(data[0], nominal, MAX_DATA_BITRATE)
    if fd_messages:
        shown = ", ".join(fd_messages[:4]) + (", ..." if len(fd_messages) > 4 else "")
        why = f"the DBC has {len(fd_messages)} CAN FD message(s): {shown}"
    else:
        why = "the DBC's BusType is CAN FD"
    text = (
        "bus:",
        f"  fd: true  # {why}",
        "  " + _rate_line("bitrate", baud, bitrate, DEFAULT_BITRATE, "Baudrate"),
        "  "
        + _rate_line(
            "data_bitrate", data, data_bitrate, DEFAULT_DATA_BITRATE, DATA_BITRATE_ATTRIBUTE
        ),
        "  # brs: true (the default): the FD frames the harness sends switch to data_bitrate",
        "",
    )
    return ScaffoldBus(True, nominal, data_bitrate or DEFAULT_DATA_BITRATE, fd_messages, text)
