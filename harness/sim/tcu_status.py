"""The reference TCU's TCU_Status payloads, built once per set of signal values.

A TCU_Status frame is fixed by six signal values and its alive counter, so the simulator
builds the 16 protected payloads (one per counter value) of a set of values when it first
sends them and reuses them after: the hot path of the 100 ms status cycle is a lookup.
"""

from __future__ import annotations

from harness.can.dbc import MessageCodec
from harness.can.e2e import crc8_sae_j1850

__all__ = ["StatusFrames", "StatusKey"]

StatusKey = tuple[int, int, bool, bool, bool, int]
"""ConnState, BsmActive, FaultVehDataTimeout, FaultVehDataInvalid, FaultBackendLost, CmdCount."""

MAX_KEYS = 64  # CmdCount alone has 256 values: the cache stays bounded


class StatusFrames:
    """TCU_Status payloads per :data:`StatusKey`, protected as the variant does it."""

    def __init__(self, codec: MessageCodec, *, crc_with_data_id: bool = True) -> None:
        self.codec = codec
        self.e2e = codec.e2e("AliveCounter", "CRC")
        self.crc_with_data_id = crc_with_data_id  # False: the bad-crc variant's CRC
        self._cache: dict[StatusKey, tuple[bytearray, ...]] = {}

    def get(self, key: StatusKey) -> tuple[bytearray, ...]:
        """The payloads of ``key``, one per alive counter value."""
        payloads = self._cache.get(key)
        if payloads is None:
            payloads = self._build(key)
        return payloads

    def _build(self, key: StatusKey) -> tuple[bytearray, ...]:
        conn, bsm, timeout, invalid, backend, cmd = key
        base = self.codec.encode(
            {
                "ConnState": conn,
                "BsmActive": bsm,
                "FaultVehDataTimeout": int(timeout),
                "FaultVehDataInvalid": int(invalid),
                "FaultBackendLost": int(backend),
                "CmdCount": cmd & 0xFF,
                "AliveCounter": 0,
                "CRC": 0,
            }
        )
        e2e = self.e2e
        frames = []
        for counter in range(e2e.modulus):
            data = bytearray(e2e.protect(base, counter))
            if not self.crc_with_data_id:
                data[e2e.crc_byte] = crc8_sae_j1850(data[: e2e.crc_byte])
            frames.append(data)
        if len(self._cache) >= MAX_KEYS:
            self._cache.clear()
        payloads = tuple(frames)
        self._cache[key] = payloads
        return payloads
