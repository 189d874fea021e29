"""E2E protection as CC-TCU-1 defines it: a 4-bit alive counter and a CRC-8/SAE-J1850.

The CRC (poly 0x1D, init 0xFF, final XOR 0xFF) runs over the 16-bit Data ID, big-endian,
followed by the payload bytes before the CRC byte. Check value: ``crc8_sae_j1850(b"123456789")
== 0x4B``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["E2EProtection", "crc8_sae_j1850", "crc8_with_data_id"]


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1D) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def crc8_sae_j1850(data: bytes | bytearray, init: int = 0xFF) -> int:
    """CRC-8/SAE-J1850 of ``data`` (final XOR 0xFF applied)."""
    crc = init
    table = _TABLE
    for byte in data:
        crc = table[crc ^ byte]
    return crc ^ 0xFF


def crc8_with_data_id(data_id: int, payload: bytes | bytearray) -> int:
    """The CRC over the big-endian 16-bit Data ID followed by ``payload``."""
    table = _TABLE
    crc = table[0xFF ^ ((data_id >> 8) & 0xFF)]
    crc = table[crc ^ (data_id & 0xFF)]
    for byte in payload:
        crc = table[crc ^ byte]
    return crc ^ 0xFF


@dataclass(frozen=True)
class E2EProtection:
    """Where a message keeps its counter and CRC (byte-aligned CRC, counter in a nibble)."""

    data_id: int
    counter_start: int  # bit position, Intel numbering
    counter_length: int
    crc_byte: int  # index of the CRC byte; the CRC covers bytes [0, crc_byte)

    @property
    def modulus(self) -> int:
        return 1 << self.counter_length

    def counter(self, data: bytes | bytearray) -> int:
        return (int.from_bytes(data, "little") >> self.counter_start) & (self.modulus - 1)

    def crc(self, data: bytes | bytearray) -> int:
        return crc8_with_data_id(self.data_id, data[: self.crc_byte])

    def crc_ok(self, data: bytes | bytearray) -> bool:
        return len(data) > self.crc_byte and data[self.crc_byte] == self.crc(data)

    def protect(self, data: bytes | bytearray, counter: int) -> bytes:
        """``data`` with the counter set and the CRC recomputed."""
        raw = int.from_bytes(data, "little")
        mask = (self.modulus - 1) << self.counter_start
        raw = (raw & ~mask) | ((counter % self.modulus) << self.counter_start)
        out = bytearray(raw.to_bytes(len(data), "little"))
        out[self.crc_byte] = self.crc(out)
        return bytes(out)
