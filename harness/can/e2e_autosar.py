"""AUTOSAR E2E profiles 1, 2, 4, 5, 6, 7 and 11, computed by the ``autosar-e2e`` package.

The harness never computes these CRCs itself: sealing calls the library's ``protect`` with
``increment_counter=False`` (the counter is the one the harness wrote), and verifying calls its
``check``, which also refuses what the profile forbids (a Profile 1 counter of 15, a wrong
Data ID nibble, a Profile 4/6/7 header whose length or Data ID field is wrong).

What a profile may set beside ``scheme:``, as the AUTOSAR configuration names it:

- ``data_id``: the Data ID (16 bits; 32 bits for Profiles 4 and 7); the CAN identifier
  when omitted (an error for a 29-bit identifier). Profile 2 takes ``data_id_list`` instead:
  the 16 Data IDs indexed by the counter.
- ``data_id_mode`` (Profiles 1 and 11): ``both`` (variant 1A), ``alt``, ``low``, ``nibble``
  (variant 1C, Data ID's high nibble sent in byte ``offset + 1``).
- ``offset``: the byte where the E2E header starts (not for Profile 2).
- ``length``: how many bytes from the start of the payload the CRC covers; the message's
  length when omitted.

Header layouts (offset ``o``): P01/P11 CRC-8 in byte o, counter (0..14) in the low nibble of
byte o+1; P02 CRC-8 in byte 0, counter (0..15) in the low nibble of byte 1; P04 length,
counter (16 bits), Data ID, CRC-32 big-endian from byte o; P05 CRC-16 little-endian in bytes
o..o+1, counter (8 bits) in byte o+2; P06 CRC-16 and length big-endian, counter in byte o+4;
P07 CRC-64, length, counter (32 bits), Data ID big-endian from byte o.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from e2e import p01, p02, p04, p05, p06, p07, p11
from pydantic import Field

from harness.can.bitfield import BitField
from harness.can.e2e import (
    E2E_SCHEMES,
    AliveCounter,
    Protection,
    SchemeError,
    SchemeParams,
    _data_id16,
)

if TYPE_CHECKING:
    from harness.can.dbc import MessageCodec

__all__ = ["AUTOSAR_PROFILES", "AutosarProtection"]

_LENGTH = Field(
    default=None, ge=1, description="bytes from the payload's start the CRC covers (all)"
)
_OFFSET = Field(default=0, ge=0, description="byte where the E2E header starts")


class P01Params(SchemeParams):
    data_id: int | None = Field(default=None, ge=0, le=0xFFFF, description="the CAN ID if omitted")
    data_id_mode: Literal["both", "alt", "low", "nibble"] = "both"
    offset: int = _OFFSET
    length: int | None = _LENGTH


class P11Params(SchemeParams):
    data_id: int | None = Field(default=None, ge=0, le=0xFFFF, description="the CAN ID if omitted")
    data_id_mode: Literal["both", "nibble"] = "both"
    offset: int = _OFFSET
    length: int | None = _LENGTH


class P02Params(SchemeParams):
    data_id_list: list[int] = Field(
        min_length=16, max_length=16, description="16 Data IDs (0..255), indexed by the counter"
    )
    length: int | None = _LENGTH


class P16Params(SchemeParams):
    """Profiles 5 and 6: a 16-bit Data ID."""

    data_id: int | None = Field(default=None, ge=0, le=0xFFFF, description="the CAN ID if omitted")
    offset: int = _OFFSET
    length: int | None = _LENGTH


class P32Params(SchemeParams):
    """Profiles 4 and 7: a 32-bit Data ID."""

    data_id: int | None = Field(
        default=None, ge=0, le=0xFFFFFFFF, description="the CAN ID if omitted"
    )
    offset: int = _OFFSET
    length: int | None = _LENGTH


Layout = Callable[[int, int], tuple[BitField, AliveCounter]]  # (offset, size) -> crc, counter


@dataclass(frozen=True)
class _Profile:
    """What differs between the AUTOSAR profiles."""

    number: int
    params: type[SchemeParams]
    header: int  # bytes of the E2E header
    min_length: int  # the library's least ``length``
    layout: Layout
    protect: Callable[..., None]
    check: Callable[..., bool]
    modes: dict[str, int]


def _p01_layout(o: int, size: int) -> tuple[BitField, AliveCounter]:
    return BitField.bytes_le(o, 1, size), AliveCounter(BitField.little(8 * o + 8, 4, size), 0, 14)


AUTOSAR_PROFILES: dict[str, _Profile] = {
    "autosar_p01": _Profile(
        1,
        P01Params,
        2,
        2,
        _p01_layout,
        p01.e2e_p01_protect,
        p01.e2e_p01_check,
        {
            "both": p01.E2E_P01_DATAID_BOTH,
            "alt": p01.E2E_P01_DATAID_ALT,
            "low": p01.E2E_P01_DATAID_LOW,
            "nibble": p01.E2E_P01_DATAID_NIBBLE,
        },
    ),
    "autosar_p02": _Profile(
        2,
        P02Params,
        2,
        2,
        lambda o, size: (
            BitField.bytes_le(0, 1, size),
            AliveCounter(BitField.little(8, 4, size), 0, 15),
        ),
        p02.e2e_p02_protect,
        p02.e2e_p02_check,
        {},
    ),
    "autosar_p04": _Profile(
        4,
        P32Params,
        12,
        12,
        lambda o, size: (
            BitField.bytes_be(o + 8, 4, size),
            AliveCounter(BitField.bytes_be(o + 2, 2, size)),
        ),
        p04.e2e_p04_protect,
        p04.e2e_p04_check,
        {},
    ),
    "autosar_p05": _Profile(
        5,
        P16Params,
        3,
        3,
        lambda o, size: (
            BitField.bytes_le(o, 2, size),
            AliveCounter(BitField.bytes_le(o + 2, 1, size)),
        ),
        p05.e2e_p05_protect,
        p05.e2e_p05_check,
        {},
    ),
    "autosar_p06": _Profile(
        6,
        P16Params,
        5,
        5,
        lambda o, size: (
            BitField.bytes_be(o, 2, size),
            AliveCounter(BitField.bytes_le(o + 4, 1, size)),
        ),
        p06.e2e_p06_protect,
        p06.e2e_p06_check,
        {},
    ),
    "autosar_p07": _Profile(
        7,
        P32Params,
        20,
        20,
        lambda o, size: (
            BitField.bytes_be(o, 8, size),
            AliveCounter(BitField.bytes_be(o + 12, 4, size)),
        ),
        p07.e2e_p07_protect,
        p07.e2e_p07_check,
        {},
    ),
    "autosar_p11": _Profile(
        11,
        P11Params,
        2,
        2,
        _p01_layout,
        p11.e2e_p11_protect,
        p11.e2e_p11_check,
        {"both": p11.E2E_P11_DATAID_BOTH, "nibble": p11.E2E_P11_DATAID_NIBBLE},
    ),
}


class AutosarProtection(Protection):
    """One AUTOSAR E2E profile configured for one message (subclassed once per profile)."""

    profile: ClassVar[_Profile]

    def __init__(self, data_id: Any, mode: str | None, offset: int, length: int, size: int) -> None:
        self.data_id = data_id
        self.mode = mode
        self.offset = offset
        self.length = length
        self.size = size
        self._crc, self._alive = self.profile.layout(offset, size)
        self._kw: dict[str, Any] = {"length": length}
        if self.profile.number != 2:
            self._kw["offset"] = offset
        if mode is not None:
            self._kw["data_id_mode"] = self.profile.modes[mode]

    @classmethod
    def build(cls, params: SchemeParams, msg: MessageCodec) -> Protection:
        prof = cls.profile
        offset = int(getattr(params, "offset", 0))
        size = msg.length
        if prof.header > size:
            raise SchemeError(
                f"the Profile {prof.number} header ({prof.header} bytes) does not fit message "
                f"{msg.name} ({size} bytes)",
                field="scheme",
                expected=f"a message of at least {prof.header} bytes for this profile",
                got=msg.name,
            )
        if offset + prof.header > size:
            raise SchemeError(
                f"the Profile {prof.number} header ({prof.header} bytes) from byte {offset} "
                f"does not fit message {msg.name} ({size} bytes)",
                field="offset" if offset else "scheme",
                expected=f"an offset of at most {size - prof.header}",
                got=offset,
            )
        length = getattr(params, "length", None)
        length = size if length is None else int(length)
        least = max(prof.min_length, offset + prof.header)
        if not least <= length <= size:
            raise SchemeError(
                f"the CRC of message {msg.name} ({size} bytes) cannot cover {length} bytes",
                field="length",
                expected=f"a length from {least} to {size}",
                got=length,
            )
        mode = getattr(params, "data_id_mode", None)
        if isinstance(params, P02Params):
            bad = [v for v in params.data_id_list if not 0 <= v <= 0xFF]
            if bad:
                raise SchemeError(
                    "a Profile 2 Data ID is one byte",
                    field="data_id_list",
                    expected="16 values from 0 to 255",
                    got=bad[0],
                )
            data_id: Any = bytes(params.data_id_list)
        elif isinstance(params, P32Params):
            data_id = msg.frame_id if params.data_id is None else params.data_id
        else:
            data_id = _data_id16(msg, getattr(params, "data_id", None))
        return cls(data_id, mode, offset, length, size)

    @property
    def alive(self) -> AliveCounter:
        return self._alive

    @property
    def checksum(self) -> BitField:
        return self._crc

    def fits(self, data: bytes | bytearray) -> bool:
        return len(data) == self.size

    def seal(self, data: bytes) -> bytes:
        buf = bytearray(data)
        self.profile.protect(buf, self.data_id, increment_counter=False, **self._kw)
        return bytes(buf)

    def verify(self, data: bytes | bytearray) -> bool:
        if len(data) != self.size:
            return False
        return bool(self.profile.check(bytearray(data), self.data_id, **self._kw))

    def _id_text(self) -> str:
        if isinstance(self.data_id, bytes):
            return "Data ID list " + self.data_id.hex(" ").upper()
        return f"Data ID 0x{self.data_id:04X}"

    def describe(self) -> str:
        mode = f", {self.mode}" if self.mode else ""
        return f"AUTOSAR E2E Profile {self.profile.number} ({self._id_text()}{mode})"

    def short(self) -> str:
        return f"P{self.profile.number:02d}, {self._id_text()}"

    def limits(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scheme": self.name}
        if isinstance(self.data_id, bytes):
            out["data_id_list"] = self.data_id.hex(" ").upper()
        else:
            out["data_id"] = f"0x{self.data_id:04X}"
        if self.mode:
            out["data_id_mode"] = self.mode
        if self.offset:
            out["offset"] = self.offset
        if self.length != self.size:
            out["length"] = self.length
        return out

    def covers(self) -> tuple[int, ...]:
        crc = set(self._crc.bytes_touched())
        return tuple(i for i in range(self.length) if i not in crc)


def _register() -> None:
    for name, prof in AUTOSAR_PROFILES.items():
        cls = type(
            f"AutosarP{prof.number:02d}",
            (AutosarProtection,),
            {
                "profile": prof,
                "Params": prof.params,
                "title": f"AUTOSAR E2E Profile {prof.number} (autosar-e2e)",
                "__module__": __name__,
            },
        )
        E2E_SCHEMES.register(name, cls)


_register()
