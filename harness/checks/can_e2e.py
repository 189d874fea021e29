"""E2E checks: alive counter sequence and CRC of the DUT's protected messages."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.checks.base import Check, CheckParams, Resolver, fail, hexdata, register
from harness.observe import Window
from harness.record import CheckResult, Offender, Verdict

__all__ = ["AliveCounterCheck", "E2ECrcCheck"]


class AliveCounterParams(CheckParams):
    kind: Literal["alive_counter"]
    message: str = Field(description="E2E-protected DBC message the DUT sends")
    step: int = Field(default=1, ge=1, description="increment between consecutive frames")
    min_frames: int = Field(default=2, ge=2)


@register
class AliveCounterCheck(Check):
    """Each frame's counter is the previous one plus ``step``, modulo the counter range."""

    kind = "alive_counter"
    Params = AliveCounterParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, AliveCounterParams)
        self.p = params
        self.msg = resolver.message("message", params.message)
        self.prot = resolver.e2e("message", self.msg)
        super().__init__(params, resolver)

    def describe(self) -> str:
        return f"{self.msg.name} alive counter +{self.p.step} mod {self.prot.modulus}"

    def evaluate(self, window: Window) -> CheckResult:
        col = window.log.rx_of(self.msg.frame_id)
        i, j = col.span(window.t0, window.t1)
        data = col.data
        n = j - i
        limits = {"step": self.p.step, "modulus": self.prot.modulus}
        if n < self.p.min_frames:
            return self.result(
                Verdict.FAIL,
                f"{n} frame(s), expected at least {self.p.min_frames}",
                {"frames": n},
                limits,
            )
        shift = self.prot.counter_start
        mask = self.prot.modulus - 1
        step = self.p.step
        bad = 0
        first = -1
        prev = (int.from_bytes(data[i], "little") >> shift) & mask
        for k in range(i + 1, j):
            cur = (int.from_bytes(data[k], "little") >> shift) & mask
            if cur != (prev + step) & mask:
                bad += 1
                if first < 0:
                    first = k
                    pair = (prev, cur)
            prev = cur
        offender = None
        if first >= 0:
            offender = Offender(
                col.ts[first],
                f"counter {pair[1]} after {pair[0]}, expected {(pair[0] + step) & mask}",
                self.msg.frame_id,
                hexdata(data[first]),
            )
        return self.result(
            fail(bad == 0),
            f"{bad} bad step(s) in {n} frames",
            {"frames": n, "violations": bad},
            limits,
            offender,
        )


class E2ECrcParams(CheckParams):
    kind: Literal["e2e_crc"]
    message: str = Field(description="E2E-protected DBC message the DUT sends")
    min_frames: int = Field(default=1, ge=1)


@register
class E2ECrcCheck(Check):
    """Every frame's CRC byte matches the CRC over its Data ID and payload."""

    kind = "e2e_crc"
    Params = E2ECrcParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, E2ECrcParams)
        self.p = params
        self.msg = resolver.message("message", params.message)
        self.prot = resolver.e2e("message", self.msg)
        super().__init__(params, resolver)

    def describe(self) -> str:
        return f"{self.msg.name} CRC (Data ID 0x{self.prot.data_id:03X})"

    def evaluate(self, window: Window) -> CheckResult:
        col = window.log.rx_of(self.msg.frame_id)
        i, j = col.span(window.t0, window.t1)
        n = j - i
        if n < self.p.min_frames:
            return self.result(
                Verdict.FAIL, f"{n} frame(s), expected at least {self.p.min_frames}", {"frames": n}
            )
        crc_ok = self.prot.crc_ok
        data = col.data
        bad = [k for k in range(i, j) if not crc_ok(data[k])]
        offender = None
        if bad:
            k = bad[0]
            payload = data[k]
            got = payload[self.prot.crc_byte] if len(payload) > self.prot.crc_byte else None
            offender = Offender(
                col.ts[k],
                f"CRC {got if got is None else f'0x{got:02X}'}, "
                f"expected 0x{self.prot.crc(payload):02X}",
                self.msg.frame_id,
                hexdata(payload),
            )
        return self.result(
            fail(not bad),
            f"{len(bad)} bad CRC(s) in {n} frames",
            {"frames": n, "violations": len(bad)},
            {"data_id": f"0x{self.prot.data_id:03X}"},
            offender,
        )
