"""The DBC, loaded with cantools, plus fast per-signal decoders for the hot path.

cantools decodes a whole message per call; checks usually need one signal of one message
across thousands of frames. :class:`SignalCodec` compiles a little-endian signal into a
shift-and-mask over ``int.from_bytes`` (big-endian signals fall back to cantools), which is
what lets the harness evaluate frames faster than a plain cantools loop decodes them.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cantools
import cantools.database

from harness.can.e2e import E2EProtection
from harness.errors import DbcError

__all__ = [
    "CLASSIC_MAX_DATA",
    "CanDatabase",
    "MessageCodec",
    "SignalCodec",
    "classic_misfit",
    "load_dbc",
]

# Every bus the harness drives is classic CAN: the port, the rest-bus, the BLF trace and the
# bus-load arithmetic all assume it. A DBC may still hold CAN FD messages a profile never uses.
CLASSIC_MAX_DATA = 8


@dataclass(frozen=True)
class SignalCodec:
    """One signal: decode raw/physical values from payload bytes quickly."""

    name: str
    start: int
    length: int
    signed: bool
    scale: float
    offset: float
    little_endian: bool
    choices: Mapping[str, int]  # value-table name -> raw value
    unit: str
    minimum: float | None
    maximum: float | None
    _cantools: Any = field(repr=False, compare=False, default=None)
    _message: Any = field(repr=False, compare=False, default=None)

    @property
    def mask(self) -> int:
        return (1 << self.length) - 1

    @property
    def needed_bytes(self) -> int:
        return (self.start + self.length + 7) // 8 if self.little_endian else 0

    def raw(self, data: bytes | bytearray) -> int | None:
        """Raw integer value, or None when the payload is too short to hold the signal."""
        if self.little_endian:
            if len(data) < self.needed_bytes:
                return None
            value = (int.from_bytes(data, "little") >> self.start) & self.mask
            if self.signed and value >> (self.length - 1):
                value -= 1 << self.length
            return value
        try:
            decoded = self._message.decode(bytes(data), decode_choices=False, scaling=False)
        except Exception:
            return None
        return int(decoded[self.name])

    def physical(self, data: bytes | bytearray) -> float | None:
        raw = self.raw(data)
        return None if raw is None else raw * self.scale + self.offset

    def to_raw(self, value: float | int | str) -> int:
        """Physical value or value-table name to the raw integer."""
        if isinstance(value, str):
            return self.choices[value]
        return round((value - self.offset) / self.scale)

    def choice_name(self, raw: int) -> str | None:
        for name, number in self.choices.items():
            if number == raw:
                return name
        return None


@dataclass(frozen=True)
class MessageCodec:
    """One message of the DBC: identity, layout, cycle time, signals and E2E layout."""

    name: str
    frame_id: int
    is_extended: bool
    length: int
    cycle_time: float | None  # seconds, from GenMsgCycleTime
    senders: tuple[str, ...]
    signals: Mapping[str, SignalCodec]
    _cantools: Any = field(repr=False, compare=False, default=None)

    def signal(self, name: str) -> SignalCodec:
        return self.signals[name]

    def encode(self, values: Mapping[str, float | int | str]) -> bytes:
        """Encode physical values (value-table names allowed) with cantools, strictly."""
        data: bytes = self._cantools.encode(dict(values), scaling=True, strict=True)
        return data

    def decode(self, data: bytes | bytearray) -> dict[str, float | int | str]:
        decoded: dict[str, float | int | str] = self._cantools.decode(
            bytes(data), decode_choices=True, scaling=True
        )
        return decoded

    def e2e(self, counter: str, crc: str, data_id: int | None = None) -> E2EProtection:
        """E2E layout from the named counter and CRC signals (CRC must be byte-aligned)."""
        ctr = self.signals[counter]
        crc_sig = self.signals[crc]
        if crc_sig.length != 8 or crc_sig.start % 8 or not crc_sig.little_endian:
            raise DbcError(
                f"message {self.name}: CRC signal {crc}",
                expected="an 8-bit byte-aligned little-endian signal",
                got=f"start {crc_sig.start}, length {crc_sig.length}",
            )
        return E2EProtection(
            data_id=self.frame_id if data_id is None else data_id,
            counter_start=ctr.start,
            counter_length=ctr.length,
            crc_byte=crc_sig.start // 8,
        )


class CanDatabase:
    """A loaded DBC with lookup by name and identifier and helpful errors."""

    def __init__(self, db: Any, source: str, digest_source: bytes = b"") -> None:
        self.source = source
        self.text = digest_source
        self._db = db
        self.messages: dict[str, MessageCodec] = {}
        self.by_id: dict[int, MessageCodec] = {}
        bitrate = None
        try:
            bitrate = int(db.dbc.attributes["Baudrate"].value)
        except Exception:
            bitrate = None
        self.bitrate: int | None = bitrate
        for msg in db.messages:
            signals: dict[str, SignalCodec] = {}
            for sig in msg.signals:
                choices = {str(v): int(k) for k, v in (sig.choices or {}).items()}
                signals[sig.name] = SignalCodec(
                    name=sig.name,
                    start=sig.start,
                    length=sig.length,
                    signed=sig.is_signed,
                    scale=float(sig.scale),
                    offset=float(sig.offset),
                    little_endian=sig.byte_order == "little_endian",
                    choices=choices,
                    unit=sig.unit or "",
                    minimum=sig.minimum,
                    maximum=sig.maximum,
                    _cantools=sig,
                    _message=msg,
                )
            codec = MessageCodec(
                name=msg.name,
                frame_id=msg.frame_id,
                is_extended=msg.is_extended_frame,
                length=msg.length,
                cycle_time=None if not msg.cycle_time else msg.cycle_time / 1000.0,
                senders=tuple(msg.senders or ()),
                signals=signals,
                _cantools=msg,
            )
            self.messages[msg.name] = codec
            self.by_id[msg.frame_id] = codec

    def message(self, name: str) -> MessageCodec:
        try:
            return self.messages[name]
        except KeyError:
            raise DbcError(
                f"no message {name!r} in {self.source}",
                choices=sorted(self.messages),
            ) from None

    def suggest_message(self, name: str) -> list[str]:
        return difflib.get_close_matches(name, self.messages, n=3)

    def nodes(self) -> list[str]:
        return [node.name for node in self._db.nodes]


def classic_misfit(msg: MessageCodec) -> str | None:
    """Why a classic CAN bus cannot carry ``msg`` (a CAN FD message), or None when it can."""
    fd = bool(getattr(msg._cantools, "is_fd", False))
    if msg.length <= CLASSIC_MAX_DATA and not fd:
        return None
    return (
        f"message {msg.name} (0x{msg.frame_id:03X}) is a CAN FD frame of {msg.length} data "
        "bytes, which the bench cannot carry: the harness drives classic CAN buses only "
        f"(at most {CLASSIC_MAX_DATA} data bytes per frame, no FD format); expected a classic "
        f"CAN message, but got {msg.name} with {msg.length} bytes"
        + (" (VFrameFormat CAN FD)" if fd else "")
    )


def load_dbc(path: str | os.PathLike[str], display: str | None = None) -> CanDatabase:
    """Load a DBC strictly (overlapping signals, bad ranges are errors)."""
    shown = display or str(path)
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DbcError(
            f"cannot read DBC file: {exc.strerror or exc}",
            source=shown,
            expected="a readable .dbc file",
        ) from None
    try:
        db: Any = cantools.database.load_string(
            raw.decode("cp1252"), database_format="dbc", strict=True
        )
    except Exception as exc:  # cantools raises several unrelated types for a bad file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DbcError(f"not a valid DBC: {first}", source=shown) from None
    if not db.messages:
        raise DbcError("the DBC defines no messages", source=shown, expected="BO_ entries")
    return CanDatabase(db, shown, raw)
