"""E2E checks: the alive counter sequence and the checksum or CRC of the DUT's messages.

Both verify through the message's protection scheme (:mod:`harness.can.e2e`), so they work
for CC-TCU-1's CRC, the AUTOSAR profiles and the OEM checksums alike. The alive-counter check
also stands alone: ``signal:`` names any counter signal (any width, any bit position, either
byte order) of a message without declared protection, with its range and step.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.can.bitfield import field_of_signal
from harness.can.e2e import AliveCounter, Protection
from harness.checks.base import Check, CheckParams, Resolver, fail, hexdata, register
from harness.observe import Window
from harness.record import CheckResult, Offender, Verdict

__all__ = ["AliveCounterCheck", "E2ECrcCheck"]


class AliveCounterParams(CheckParams):
    kind: Literal["alive_counter"]
    message: str = Field(description="DBC message the DUT sends")
    signal: str | None = Field(
        default=None,
        description="the counter signal; the counter of the message's E2E scheme when omitted",
    )
    step: int | None = Field(
        default=None, ge=1, description="increment between consecutive frames (the scheme's, or 1)"
    )
    min: int | None = Field(
        default=None, ge=0, description="the counter's first value (the scheme's, or 0)"
    )
    max: int | None = Field(
        default=None,
        ge=1,
        description="its last value before it wraps to min (the scheme's, or the largest the "
        "signal holds)",
    )
    min_frames: int = Field(default=2, ge=2)


@register
class AliveCounterCheck(Check):
    """Each frame's counter is the previous one plus ``step``, wrapping from max to min."""

    kind = "alive_counter"
    Params = AliveCounterParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, AliveCounterParams)
        self.p = params
        self.msg = resolver.message("message", params.message)
        prot = resolver.e2e_map.get(self.msg.name)
        base: AliveCounter | None = prot.alive if prot is not None else None
        if params.signal is not None:
            resolver.signal("signal", self.msg, params.signal)
            try:
                field = field_of_signal(self.msg._cantools, params.signal)
            except ValueError as exc:
                raise resolver.error("signal", str(exc)) from None
            if base is None or base.field != field:
                base = AliveCounter(field)
        elif base is None:
            if prot is None:
                resolver.e2e("message", self.msg)  # raises: names the e2e section
            raise resolver.error(
                "message",
                f"{self.msg.name}'s protection ({prot.describe() if prot else ''}) has no "
                "alive counter",
                expected="a message whose scheme has a counter, or signal: the counter signal",
                got=self.msg.name,
            )
        try:
            self.counter = AliveCounter(
                base.field,
                base.minimum if params.min is None else params.min,
                base.high if params.max is None else params.max,
                base.step if params.step is None else params.step,
            )
        except ValueError as exc:
            raise resolver.error("max" if params.max is not None else "step", str(exc)) from None
        super().__init__(params, resolver)

    @property
    def step(self) -> int:
        return self.counter.step

    def describe(self) -> str:
        c = self.counter
        wrap = f"mod {c.span}" if c.minimum == 0 else f"in {c.minimum}..{c.high}"
        return f"{self.msg.name} alive counter +{c.step} {wrap}"

    def evaluate(self, window: Window) -> CheckResult:
        col = window.log.rx_of(self.msg.frame_id)
        i, j = col.span(window.t0, window.t1)
        data = col.data
        n = j - i
        c = self.counter
        limits: dict[str, object] = {"step": c.step, "modulus": c.span}
        if c.minimum != 0:
            limits["range"] = f"{c.minimum}..{c.high}"
        if n < self.p.min_frames:
            return self.result(
                Verdict.FAIL,
                f"{n} frame(s), expected at least {self.p.min_frames}",
                {"frames": n},
                limits,
            )
        field = c.field
        shift, mask, order = field.shift, field.mask, field.order
        # BitField.read inlined: this loop runs over every frame of the message
        need = field.size if order == "big" else (shift + field.width + 7) // 8
        if order == "big":
            values = [
                (int.from_bytes(d, "big") >> shift) & mask if len(d) == need else None
                for d in data[i:j]
            ]
        else:
            values = [
                (int.from_bytes(d, "little") >> shift) & mask if len(d) >= need else None
                for d in data[i:j]
            ]
        lo, span, step = c.minimum, c.span, c.step
        bad = 0
        first = -1
        prev = values[0]
        if prev is None:
            bad, first = 1, 0
        for k in range(1, n):
            cur = values[k]
            if cur is None or (prev is not None and cur != lo + (prev - lo + step) % span):
                bad += 1
                if first < 0:
                    first = k
            prev = cur
        problem = ""
        if first >= 0:
            cur, before = values[first], values[first - 1] if first else None
            if cur is None:
                problem = f"no counter in a frame of {len(data[i + first])} byte(s)"
            else:
                assert before is not None
                problem = f"counter {cur} after {before}, expected {c.next(before)}"
            first += i
        offender = None
        if first >= 0:
            offender = Offender(col.ts[first], problem, self.msg.frame_id, hexdata(data[first]))
        return self.result(
            fail(bad == 0),
            f"{bad} bad step(s) in {n} frames",
            {"frames": n, "violations": bad},
            limits,
            offender,
        )


class E2ECrcParams(CheckParams):
    kind: Literal["e2e_crc"]
    message: str = Field(description="protected DBC message the DUT sends (its CRC or checksum)")
    min_frames: int = Field(default=1, ge=1)


def _hex(value: int | None, width: int) -> str:
    return "none" if value is None else f"0x{value:0{(width + 3) // 4}X}"


@register
class E2ECrcCheck(Check):
    """Every frame's CRC or checksum is what the message's scheme computes for it."""

    kind = "e2e_crc"
    Params = E2ECrcParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, E2ECrcParams)
        self.p = params
        self.msg = resolver.message("message", params.message)
        self.prot: Protection = resolver.e2e("message", self.msg)
        if self.prot.checksum is None:
            raise resolver.error(
                "message",
                f"{self.msg.name}'s protection ({self.prot.describe()}) has no checksum",
                expected="a message whose scheme has a CRC or checksum",
                got=self.msg.name,
            )
        super().__init__(params, resolver)

    def describe(self) -> str:
        return f"{self.msg.name} {self.prot.word} ({self.prot.short()})"

    def evaluate(self, window: Window) -> CheckResult:
        col = window.log.rx_of(self.msg.frame_id)
        i, j = col.span(window.t0, window.t1)
        n = j - i
        if n < self.p.min_frames:
            return self.result(
                Verdict.FAIL, f"{n} frame(s), expected at least {self.p.min_frames}", {"frames": n}
            )
        prot = self.prot
        verify = prot.verify
        data = col.data
        bad = [k for k in range(i, j) if not verify(data[k])]
        offender = None
        word = prot.word
        if bad:
            k = bad[0]
            payload = data[k]
            field = prot.checksum
            assert field is not None
            got = field.read(payload) if prot.fits(payload) else None
            want = prot.expected(payload)
            detail = f"{word} {_hex(got, field.width)}, expected {_hex(want, field.width)}"
            if got is not None and got == want:  # e.g. a Profile 1 counter of 15
                detail = (
                    f"{word} {_hex(got, field.width)} right, but {prot.describe()} refuses "
                    "the frame (its counter or header)"
                )
            offender = Offender(
                col.ts[k],
                detail,
                self.msg.frame_id,
                hexdata(payload),
            )
        return self.result(
            fail(not bad),
            f"{len(bad)} bad {word}(s) in {n} frames",
            {"frames": n, "violations": len(bad)},
            prot.limits(),
            offender,
        )
