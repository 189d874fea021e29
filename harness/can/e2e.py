"""E2E and checksum protection of CAN messages: one registry of schemes, one interface.

A profile names a scheme per protected message (``e2e: {Msg: {scheme: autosar_p01, ...}}``).
The scheme, configured for that message, is a :class:`Protection`: where the alive counter
sits and how it wraps (an :class:`AliveCounter`), where the checksum or CRC sits, and how to
seal a payload, verify one and corrupt one on purpose. The rest-bus fills counters and
checksums through it, fault steps corrupt through it, and the checks verify through it; so a
new scheme is one class, registered in :data:`E2E_SCHEMES` (or by a lab under the entry point
group ``cc_harness.e2e_schemes``), with a pydantic ``Params`` model for what the profile may
write beside ``scheme:``.

Built in: ``cc_tcu_1`` (this module: CC-TCU-1's CRC-8/SAE-J1850 over the big-endian Data ID
and the bytes before the CRC), the AUTOSAR E2E profiles 1, 2, 4, 5, 6, 7 and 11 through the
``autosar-e2e`` package (:mod:`harness.can.e2e_autosar`), and the simple OEM kinds: byte sum,
XOR, nibble sum and counter only, at any bit position (:mod:`harness.can.e2e_oem`).

CC-TCU-1's CRC is AUTOSAR's CRC-8 (poly 0x1D, init 0xFF, final XOR 0xFF), computed by the
same library. Check value: ``crc8_sae_j1850(b"123456789") == 0x4B``.
"""

from __future__ import annotations

import difflib
import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from e2e.crc import calculate_crc8
from pydantic import BaseModel, ConfigDict, Field

from harness.can.bitfield import BitField, field_of_signal
from harness.errors import InputError
from harness.registry import Registry

if TYPE_CHECKING:
    from harness.can.dbc import MessageCodec

__all__ = [
    "E2E_SCHEMES",
    "AliveCounter",
    "CcTcu1Params",
    "E2EProtection",
    "Protection",
    "SchemeError",
    "SchemeParams",
    "build_protection",
    "counter_from",
    "crc8_sae_j1850",
    "crc8_with_data_id",
    "e2e_autosar",
    "e2e_oem",
    "signal_field",
]


def crc8_sae_j1850(data: bytes | bytearray, init: int = 0xFF) -> int:
    """CRC-8/SAE-J1850 of ``data`` (final XOR 0xFF applied)."""
    return int(calculate_crc8(bytes(data), init))


def crc8_with_data_id(data_id: int, payload: bytes | bytearray) -> int:
    """The CRC over the big-endian 16-bit Data ID followed by ``payload``."""
    return int(calculate_crc8((data_id & 0xFFFF).to_bytes(2, "big") + bytes(payload)))


class SchemeError(InputError):
    """A scheme's parameters do not fit the message; ``field`` names the parameter."""

    def __init__(self, message: str | None = None, *, field: str = "scheme", **kw: Any) -> None:
        self.field = field
        super().__init__(message, **kw)


@dataclass(frozen=True)
class AliveCounter:
    """An alive counter: its field, its range ``minimum..maximum`` and its step.

    After ``maximum`` it wraps to ``minimum`` (AUTOSAR Profile 1: 0..14, then 0; 15 is never
    sent). Any width and any bit position: the field is a :class:`BitField`.
    """

    field: BitField
    minimum: int = 0
    maximum: int | None = None  # None: the field's largest value
    step: int = 1

    def __post_init__(self) -> None:
        top = self.field.mask
        if self.maximum is None:
            object.__setattr__(self, "maximum", top)
        if not 0 <= self.minimum < self.high <= top:
            raise ValueError(
                f"expected a counter range 0 <= min < max <= {top} for a "
                f"{self.field.width}-bit counter, but got {self.minimum}..{self.high}"
            )
        if not 1 <= self.step < self.span:
            raise ValueError(
                f"expected a counter step from 1 to {self.span - 1}, but got {self.step}"
            )

    @property
    def high(self) -> int:
        assert self.maximum is not None
        return self.maximum

    @property
    def span(self) -> int:
        """How many values the counter takes (15 for 0..14)."""
        return self.high - self.minimum + 1

    def read(self, data: bytes | bytearray) -> int | None:
        return self.field.read(data)

    def next(self, value: int, step: int | None = None) -> int:
        """The value after ``value`` (``step`` defaults to the counter's own)."""
        s = self.step if step is None else step
        return self.minimum + (value - self.minimum + s) % self.span

    def describe(self) -> str:
        return f"{self.minimum}..{self.high} step {self.step}"


class SchemeParams(BaseModel):
    """What every scheme accepts; each scheme's ``Params`` adds its own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    scheme: str = Field(description="the protection scheme (a name of the E2E scheme registry)")


class Protection(ABC):
    """One message's protection, configured from the profile: what everyone else uses."""

    Params: ClassVar[type[SchemeParams]]
    title: ClassVar[str] = ""  # one line for listings
    word: ClassVar[str] = "CRC"  # what reports call the check value: CRC or checksum
    name: str = ""  # the scheme's registry name, set by :func:`build_protection`

    @classmethod
    @abstractmethod
    def build(cls, params: SchemeParams, msg: MessageCodec) -> Protection:
        """The scheme configured for ``msg``; a parameter that does not fit is SchemeError."""

    @property
    @abstractmethod
    def alive(self) -> AliveCounter | None:
        """The alive counter, or None for a checksum without one."""

    @property
    @abstractmethod
    def checksum(self) -> BitField | None:
        """Where the checksum or CRC sits, or None for a counter without one."""

    @abstractmethod
    def seal(self, data: bytes) -> bytes:
        """``data`` with its checksum computed for the counter it already holds."""

    def verify(self, data: bytes | bytearray) -> bool:
        """Whether the checksum (and whatever else the scheme checks) of ``data`` is right."""
        field = self.checksum
        if field is None:
            return True
        if not self.fits(data):
            return False
        return field.read(data) == field.read(self.seal(bytes(data)))

    def fits(self, data: bytes | bytearray) -> bool:
        """Whether ``data`` is long enough for the scheme (shorter frames never verify)."""
        for f in (self.checksum, self.alive.field if self.alive else None):
            if f is not None and not f.fits(data):
                return False
        return True

    def expected(self, data: bytes | bytearray) -> int | None:
        """The checksum ``data`` should carry, or None when it cannot carry one."""
        field = self.checksum
        if field is None or not self.fits(data):
            return None
        return field.read(self.seal(bytes(data)))

    def counter_of(self, data: bytes | bytearray) -> int | None:
        return None if self.alive is None else self.alive.read(data)

    def protect(self, data: bytes | bytearray, counter: int) -> bytes:
        """``data`` with the counter set (when there is one) and the checksum sealed."""
        out = bytes(data)
        if self.alive is not None:
            out = self.alive.field.write(out, counter)
        return self.seal(out) if self.checksum is not None else out

    def corrupt(self, data: bytes | bytearray) -> bytes:
        """``data`` with a wrong checksum (a fixed pattern XORed into it)."""
        field = self.checksum
        if field is None:
            raise ValueError(f"{self.describe()} has no checksum to corrupt")
        value = field.read(data)
        assert value is not None
        pattern = int.from_bytes(b"\x5a" * ((field.width + 7) // 8), "little") & field.mask
        return field.write(data, value ^ (pattern or field.mask))

    def describe(self) -> str:
        return self.name

    def short(self) -> str:
        """A few words for a check's label, e.g. ``Data ID 0x3A0``."""
        return self.name

    def limits(self) -> dict[str, Any]:
        """The scheme's parameters as a check records them."""
        return {"scheme": self.name}

    def covers(self) -> tuple[int, ...]:
        """Indices of the payload bytes the checksum covers (besides its own bits)."""
        return ()


def _check_scheme(name: str, item: object) -> None:
    if not (isinstance(item, type) and issubclass(item, Protection)):
        raise TypeError(f"E2E scheme {name!r} must be a Protection subclass, got {item!r}")
    params = getattr(item, "Params", None)
    if not (isinstance(params, type) and issubclass(params, SchemeParams)):
        raise TypeError(f"E2E scheme {name!r} needs a Params model (a SchemeParams subclass)")


E2E_SCHEMES: Registry[type[Protection]] = Registry(
    "E2E scheme", group="cc_harness.e2e_schemes", check=_check_scheme
)
"""Protection schemes by name: the built-in ones and those of installed lab packages."""


def build_protection(name: str, params: SchemeParams, msg: MessageCodec) -> Protection:
    """Scheme ``name`` configured with ``params`` for ``msg`` (params already validated)."""
    prot = E2E_SCHEMES.get(name).build(params, msg)
    object.__setattr__(prot, "name", name)  # also on frozen dataclasses
    return prot


def signal_field(msg: MessageCodec, param: str, signal: str) -> BitField:
    """The field of ``msg``'s signal ``signal``, named by the scheme parameter ``param``."""
    if signal not in msg.signals:
        folded = {name.lower(): name for name in msg.signals}  # 'Crc' finds 'CRC'
        close = difflib.get_close_matches(signal.lower(), list(folded), n=2)
        hint = f"; did you mean {' or '.join(folded[c] for c in close)}?" if close else ""
        raise SchemeError(
            f"message {msg.name} has no such signal{hint}",
            field=param,
            expected="a signal of " + msg.name,
            got=signal,
            choices=sorted(msg.signals),
        )
    try:
        return field_of_signal(msg._cantools, signal)
    except ValueError as exc:
        raise SchemeError(str(exc), field=param, got=signal) from None


def counter_from(
    msg: MessageCodec,
    signal: str,
    minimum: int,
    maximum: int | None,
    step: int,
    param: str = "counter",
) -> AliveCounter:
    """An alive counter on ``msg``'s signal, its range checked against the signal's width."""
    field = signal_field(msg, param, signal)
    try:
        return AliveCounter(field, minimum, maximum, step)
    except ValueError as exc:
        raise SchemeError(str(exc), field=param, got=signal) from None


def _data_id16(msg: MessageCodec, data_id: int | None, param: str = "data_id") -> int:
    """The 16-bit Data ID: the parameter, or the 11-bit CAN identifier when omitted."""
    if data_id is not None:
        return data_id
    if msg.frame_id > 0xFFFF:
        raise SchemeError(
            f"message {msg.name} has a 29-bit identifier, which is no 16-bit Data ID",
            field=param,
            expected="data_id: the message's Data ID (0..0xFFFF)",
            got=f"0x{msg.frame_id:X}",
        )
    return msg.frame_id


# -- CC-TCU-1 -------------------------------------------------------------------------------


class CcTcu1Params(SchemeParams):
    counter: str = Field(description="alive counter signal (Intel, any width and position)")
    crc: str = Field(description="CRC signal (8 bits, byte-aligned, Intel)")
    data_id: int | None = Field(
        default=None, ge=0, le=0xFFFF, description="Data ID; the CAN identifier when omitted"
    )


@dataclass(frozen=True)
class E2EProtection(Protection):
    """CC-TCU-1's scheme: CRC-8/SAE-J1850 over the big-endian Data ID and the bytes before
    the CRC byte; the alive counter wraps over its whole width."""

    Params: ClassVar[type[SchemeParams]] = CcTcu1Params
    title: ClassVar[str] = "CC-TCU-1: CRC-8/SAE-J1850 over Data ID (big-endian) + bytes before it"

    data_id: int
    counter_start: int  # bit position, Intel numbering
    counter_length: int
    crc_byte: int  # index of the CRC byte; the CRC covers bytes [0, crc_byte)
    size: int = 8  # the message's length
    name: str = "cc_tcu_1"

    @classmethod
    def build(cls, params: SchemeParams, msg: MessageCodec) -> Protection:
        assert isinstance(params, CcTcu1Params)
        crc = signal_field(msg, "crc", params.crc)
        if crc.width != 8 or crc.order != "little" or crc.shift % 8:
            raise SchemeError(
                f"message {msg.name}: CRC signal {params.crc}",
                field="crc",
                expected="an 8-bit byte-aligned little-endian signal",
                got=f"{crc.describe()}",
            )
        ctr = signal_field(msg, "counter", params.counter)
        if ctr.order != "little":
            raise SchemeError(
                f"message {msg.name}: counter signal {params.counter}",
                field="counter",
                expected="an Intel (little-endian) counter for scheme cc_tcu_1",
                got=ctr.describe(),
            )
        return cls(
            _data_id16(msg, params.data_id),
            ctr.shift,
            ctr.width,
            crc.shift // 8,
            size=msg.length,
        )

    @property
    def modulus(self) -> int:
        return 1 << self.counter_length

    @functools.cached_property  # the rest-bus asks on every frame
    def alive(self) -> AliveCounter:
        size = max(self.size, (self.counter_start + self.counter_length + 7) // 8)
        return AliveCounter(BitField.little(self.counter_start, self.counter_length, size))

    @functools.cached_property
    def checksum(self) -> BitField:
        return BitField.little(8 * self.crc_byte, 8, max(self.size, self.crc_byte + 1))

    def counter(self, data: bytes | bytearray) -> int:
        return (int.from_bytes(data, "little") >> self.counter_start) & (self.modulus - 1)

    def crc(self, data: bytes | bytearray) -> int:
        return crc8_with_data_id(self.data_id, data[: self.crc_byte])

    def crc_ok(self, data: bytes | bytearray) -> bool:
        return len(data) > self.crc_byte and data[self.crc_byte] == self.crc(data)

    def verify(self, data: bytes | bytearray) -> bool:
        return self.crc_ok(data)

    def fits(self, data: bytes | bytearray) -> bool:
        return len(data) > self.crc_byte

    def expected(self, data: bytes | bytearray) -> int | None:
        return self.crc(data) if self.fits(data) else None

    def seal(self, data: bytes) -> bytes:
        out = bytearray(data)
        out[self.crc_byte] = self.crc(out)
        return bytes(out)

    def protect(self, data: bytes | bytearray, counter: int) -> bytes:
        """``data`` with the counter set and the CRC recomputed."""
        raw = int.from_bytes(data, "little")
        mask = (self.modulus - 1) << self.counter_start
        raw = (raw & ~mask) | ((counter % self.modulus) << self.counter_start)
        return self.seal(raw.to_bytes(len(data), "little"))

    def corrupt(self, data: bytes | bytearray) -> bytes:
        out = bytearray(data)
        out[self.crc_byte] ^= 0x5A
        return bytes(out)

    def describe(self) -> str:
        return f"CC-TCU-1 CRC-8 (Data ID 0x{self.data_id:03X})"

    def short(self) -> str:
        return f"Data ID 0x{self.data_id:03X}"

    def limits(self) -> dict[str, Any]:
        return {"data_id": f"0x{self.data_id:03X}"}

    def covers(self) -> tuple[int, ...]:
        return tuple(range(self.crc_byte))


E2E_SCHEMES.register("cc_tcu_1", E2EProtection)

# The other built-in schemes register themselves on import (they import this module).
from harness.can import e2e_autosar, e2e_oem  # noqa: E402
