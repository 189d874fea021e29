"""The simple checksums of production cars: byte sum, XOR, nibble sum, and a bare counter.

Many OEM messages (Hyundai/Kia among them) protect a frame with a checksum far simpler than
AUTOSAR's CRCs, often only 4 bits wide and outside a whole byte, next to a 4-bit alive
counter. Each scheme here names its checksum and counter as DBC signals, so any width, bit
position and byte order the DBC gives is taken as it is:

- ``byte_sum``: the sum of the covered bytes;
- ``xor``: the XOR of the covered bytes;
- ``nibble_sum``: the sum of every 4-bit nibble of the covered bytes (Hyundai/Kia's
  ``(16 - sum % 16) % 16`` is ``final: negate`` with a 4-bit checksum);
- ``counter_only``: an alive counter without a checksum.

The checksum is computed with its own bits taken as zero, over ``bytes`` (every byte of the
message when omitted), plus ``init``, and then reduced to the checksum's width; ``final``
leaves it (``none``), complements it (``invert``) or negates it (``negate``: two's complement
in the width). The counter runs ``counter_min..counter_max`` (the signal's whole range when
omitted) in steps of ``counter_step``, wrapping to ``counter_min``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from harness.can.bitfield import BitField
from harness.can.e2e import (
    E2E_SCHEMES,
    AliveCounter,
    Protection,
    SchemeError,
    SchemeParams,
    counter_from,
    signal_field,
)

if TYPE_CHECKING:
    from harness.can.dbc import MessageCodec

__all__ = ["ChecksumProtection", "CounterOnly", "CounterParams", "OemChecksumParams"]


class CounterParams(SchemeParams):
    counter: str | None = Field(default=None, description="alive counter signal")
    counter_min: int = Field(default=0, ge=0, description="the counter's first value")
    counter_max: int | None = Field(
        default=None, ge=1, description="its last value before it wraps (the signal's largest)"
    )
    counter_step: int = Field(default=1, ge=1, description="increment from frame to frame")


class OemChecksumParams(CounterParams):
    checksum: str = Field(description="checksum signal (any width, any bit position)")
    bytes: list[int] | None = Field(
        default=None, description="indices of the covered bytes (every byte when omitted)"
    )
    init: int = Field(default=0, ge=0, description="added (XORed for xor) before the final step")
    final: Literal["none", "invert", "negate"] = "none"


def _byte_sum(data: bytes, init: int) -> int:
    return init + sum(data)


def _xor(data: bytes, init: int) -> int:
    out = init
    for b in data:
        out ^= b
    return out


def _nibble_sum(data: bytes, init: int) -> int:
    return init + sum((b >> 4) + (b & 0x0F) for b in data)


def _overlap(a: BitField, b: BitField) -> bool:
    both = int.from_bytes(a.payload_mask(), "little") & int.from_bytes(b.payload_mask(), "little")
    return both != 0


def _alive(msg: MessageCodec, p: CounterParams) -> AliveCounter | None:
    if p.counter is None:
        return None
    return counter_from(msg, p.counter, p.counter_min, p.counter_max, p.counter_step)


class ChecksumProtection(Protection):
    """A checksum folded over the covered bytes, with an optional alive counter."""

    Params: ClassVar[type[SchemeParams]] = OemChecksumParams
    word: ClassVar[str] = "checksum"
    what: ClassVar[str]

    def fold(self, data: bytes, init: int) -> int:
        raise NotImplementedError

    def __init__(
        self,
        checksum: BitField,
        alive: AliveCounter | None,
        covered: tuple[int, ...],
        init: int,
        final: str,
    ) -> None:
        self._checksum = checksum
        self._alive = alive
        self.covered = covered
        self.init = init
        self.final = final
        self._clear = ~int.from_bytes(checksum.payload_mask(), "little")

    @classmethod
    def build(cls, params: SchemeParams, msg: MessageCodec) -> Protection:
        assert isinstance(params, OemChecksumParams)
        checksum = signal_field(msg, "checksum", params.checksum)
        alive = _alive(msg, params)
        if alive is not None and _overlap(alive.field, checksum):
            raise SchemeError(
                f"counter {params.counter} and checksum {params.checksum} share bits",
                field="counter",
                expected="a counter apart from the checksum",
                got=params.counter,
            )
        covered = tuple(range(msg.length)) if params.bytes is None else tuple(params.bytes)
        bad = [i for i in covered if not 0 <= i < msg.length]
        if bad or len(set(covered)) != len(covered) or not covered:
            raise SchemeError(
                f"the checksum of {msg.name} ({msg.length} bytes) covers bytes of the message",
                field="bytes",
                expected=f"distinct byte indices from 0 to {msg.length - 1}",
                got=bad[0] if bad else list(covered),
            )
        return cls(checksum, alive, covered, params.init, params.final)

    @property
    def alive(self) -> AliveCounter | None:
        return self._alive

    @property
    def checksum(self) -> BitField:
        return self._checksum

    def compute(self, data: bytes | bytearray) -> int:
        """The checksum of ``data`` (its own bits taken as zero)."""
        size = len(data)
        cleared = (int.from_bytes(data, "little") & self._clear).to_bytes(size, "little")
        total = self.fold(bytes(cleared[i] for i in self.covered), self.init)
        mask = self._checksum.mask
        if self.final == "invert":
            return ~total & mask
        if self.final == "negate":
            return -total & mask
        return total & mask

    def fits(self, data: bytes | bytearray) -> bool:
        return super().fits(data) and len(data) > max(self.covered)

    def seal(self, data: bytes) -> bytes:
        return self._checksum.write(data, self.compute(data))

    def verify(self, data: bytes | bytearray) -> bool:
        return self.fits(data) and self._checksum.read(data) == self.compute(data)

    def expected(self, data: bytes | bytearray) -> int | None:
        return self.compute(data) if self.fits(data) else None

    def describe(self) -> str:
        extra = "" if self.final == "none" else f", {self.final}"
        return f"{self.what} checksum ({self._checksum.width} bits{extra})"

    def short(self) -> str:
        return f"{self.what}, {self._checksum.width} bits"

    def limits(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scheme": self.name, "width": self._checksum.width}
        if self.final != "none":
            out["final"] = self.final
        if self.init:
            out["init"] = self.init
        return out

    def covers(self) -> tuple[int, ...]:
        return self.covered


class ByteSum(ChecksumProtection):
    title = "byte sum of the covered bytes, reduced to the checksum's width"
    what = "byte-sum"

    def fold(self, data: bytes, init: int) -> int:
        return _byte_sum(data, init)


class Xor(ChecksumProtection):
    title = "XOR of the covered bytes, reduced to the checksum's width"
    what = "XOR"

    def fold(self, data: bytes, init: int) -> int:
        return _xor(data, init)


class NibbleSum(ChecksumProtection):
    title = "sum of the covered bytes' nibbles (Hyundai/Kia: final: negate, 4 bits)"
    what = "nibble-sum"

    def fold(self, data: bytes, init: int) -> int:
        return _nibble_sum(data, init)


class CounterOnlyParams(CounterParams):
    counter: str = Field(description="alive counter signal")


class CounterOnly(Protection):
    """An alive counter and nothing else."""

    Params: ClassVar[type[SchemeParams]] = CounterOnlyParams
    title = "alive counter without a checksum"

    def __init__(self, alive: AliveCounter) -> None:
        self._alive = alive

    @classmethod
    def build(cls, params: SchemeParams, msg: MessageCodec) -> Protection:
        assert isinstance(params, CounterOnlyParams)
        alive = _alive(msg, params)
        if alive is None:
            raise SchemeError(
                "scheme counter_only needs its counter", field="counter", expected="a signal"
            )
        return cls(alive)

    @property
    def alive(self) -> AliveCounter:
        return self._alive

    @property
    def checksum(self) -> None:
        return None

    def seal(self, data: bytes) -> bytes:
        return data

    def describe(self) -> str:
        return f"alive counter {self._alive.describe()}"

    def limits(self) -> dict[str, Any]:
        return {"scheme": self.name}


E2E_SCHEMES.register("byte_sum", ByteSum)
E2E_SCHEMES.register("xor", Xor)
E2E_SCHEMES.register("nibble_sum", NibbleSum)
E2E_SCHEMES.register("counter_only", CounterOnly)
