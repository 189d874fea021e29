"""A field of any width at any bit position of a CAN payload, in either byte order.

Counters and checksums in real cars are not always whole bytes: a 4-bit alive counter in the
high nibble of byte 1, a 4-bit checksum in bits 60..63, a 16-bit big-endian counter. A
:class:`BitField` reads and writes such a field with one shift and mask over the payload seen
as one integer, little-endian for Intel signals and big-endian for Motorola ones, which is
exactly how a DBC lays a contiguous signal out.

:func:`field_of_signal` derives the field from a DBC signal by letting cantools encode it, so
the bit numbering conventions of the DBC format are cantools', never re-derived here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["BitField", "field_of_signal"]

ByteOrder = Literal["little", "big"]


@dataclass(frozen=True)
class BitField:
    """``width`` bits at ``shift`` of the payload read as one ``order``-endian integer.

    ``size`` is the payload length the field was laid out for: a big-endian field's shift is
    counted from the end of that payload, so a frame of another length is read as too short
    (None) rather than at a shifted place.
    """

    shift: int
    width: int
    order: ByteOrder
    size: int

    def __post_init__(self) -> None:
        if self.width < 1 or self.shift < 0 or self.shift + self.width > 8 * self.size:
            raise ValueError(
                f"a field of {self.width} bit(s) at {self.shift} does not fit {self.size} byte(s)"
            )

    @classmethod
    def little(cls, start: int, width: int, size: int) -> BitField:
        """An Intel field: its least significant bit is bit ``start`` (byte * 8 + bit)."""
        return cls(start, width, "little", size)

    @classmethod
    def bytes_be(cls, first_byte: int, nbytes: int, size: int) -> BitField:
        """Whole bytes ``first_byte..first_byte+nbytes-1``, most significant first."""
        return cls(8 * (size - first_byte - nbytes), 8 * nbytes, "big", size)

    @classmethod
    def bytes_le(cls, first_byte: int, nbytes: int, size: int) -> BitField:
        """Whole bytes ``first_byte..first_byte+nbytes-1``, least significant first."""
        return cls(8 * first_byte, 8 * nbytes, "little", size)

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1

    @property
    def modulus(self) -> int:
        return 1 << self.width

    def fits(self, data: bytes | bytearray) -> bool:
        if self.order == "big":
            return len(data) == self.size
        return 8 * len(data) >= self.shift + self.width

    def read(self, data: bytes | bytearray) -> int | None:
        """The field's unsigned value, or None when ``data`` cannot hold it."""
        if not self.fits(data):
            return None
        return (int.from_bytes(data, self.order) >> self.shift) & self.mask

    def write(self, data: bytes | bytearray, value: int) -> bytes:
        """``data`` with the field set to ``value`` modulo its range; other bits unchanged."""
        if not self.fits(data):
            raise ValueError(f"{len(data)} byte(s) cannot hold {self}")
        raw = int.from_bytes(data, self.order)
        raw = (raw & ~(self.mask << self.shift)) | ((value & self.mask) << self.shift)
        return raw.to_bytes(len(data), self.order)

    def payload_mask(self) -> bytes:
        """A payload of ``size`` bytes with exactly the field's bits set."""
        return self.write(bytes(self.size), self.mask)

    def bytes_touched(self) -> tuple[int, ...]:
        """Indices of the payload bytes holding at least one bit of the field."""
        return tuple(i for i, b in enumerate(self.payload_mask()) if b)

    def describe(self) -> str:
        lsb = self.shift if self.order == "little" else 8 * self.size - 1 - self.shift
        kind = "Intel" if self.order == "little" else "Motorola"
        return f"{self.width} bit(s), {kind}, least significant bit in byte {lsb // 8}"


def field_of_signal(cantools_message: Any, signal_name: str) -> BitField:
    """The field of a DBC signal, found by encoding one-hot raw values with cantools.

    Raises ValueError when the signal's bits are not one contiguous run in either byte order
    (which a DBC cannot express for a single signal, but a mistaken one-hot can show).
    """
    sig = cantools_message.get_signal_by_name(signal_name)
    size = int(cantools_message.length)
    zeros = {s.name: 0 for s in cantools_message.signals}

    def encoded(value: int) -> int:
        data = cantools_message.encode(
            {**zeros, signal_name: value}, scaling=False, strict=False, padding=False
        )
        return int.from_bytes(bytes(data).ljust(size, b"\x00"), "little")

    # Read as unsigned: one-hot values for each bit (the top bit of a signed signal is -2^(n-1))
    positions = []
    for k in range(sig.length):
        value = -(1 << k) if sig.is_signed and k == sig.length - 1 else 1 << k
        found = encoded(value)
        if found == 0 or found & (found - 1):
            raise ValueError(f"signal {signal_name}: bit {k} does not map to one payload bit")
        positions.append(found.bit_length() - 1)
    if sig.byte_order == "little_endian":
        if positions != list(range(positions[0], positions[0] + sig.length)):
            raise ValueError(f"signal {signal_name} is not contiguous")
        return BitField(positions[0], sig.length, "little", size)
    # A Motorola signal is contiguous in the payload read big-endian
    be = [8 * (size - 1 - p // 8) + p % 8 for p in positions]
    if be != list(range(be[0], be[0] + sig.length)):
        raise ValueError(f"signal {signal_name} is not contiguous")
    return BitField(be[0], sig.length, "big", size)
