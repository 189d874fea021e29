"""Silence on CAN after a moment: the gap before the DUT's next frame, within bounds.

ECUReset (UDS-007) is the use: "from that answer on the TCU is silent on CAN for 400..600
ms, then restarts". The check looks at the DUT's first frame after the named step's moment
(on any identifier, or on the given ones) and judges the gap: shorter than ``min`` means it
did not go quiet, longer than ``max`` (or no frame at all until the window ends, when the
window reaches past ``max``) means it did not come back in time.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Literal

from pydantic import Field

from harness.checks.base import Check, CheckParams, Resolver, fail, hexdata, register
from harness.observe import Window
from harness.record import CheckResult, Offender, Verdict
from harness.units import CanId, Duration, format_duration

__all__ = ["SilenceCheck"]


class SilenceParams(CheckParams):
    kind: Literal["silence"]
    after: str = Field(description="the step whose moment starts the silence")
    min: Duration = Field(description="shortest allowed gap before the DUT's next frame")
    max: Duration = Field(description="longest allowed gap before the DUT's next frame")
    ids: list[CanId] | None = Field(
        default=None, description="only these identifiers end the silence (default: any)"
    )


@register
class SilenceCheck(Check):
    """The DUT's first frame after a marker comes ``min``..``max`` after it."""

    kind = "silence"
    Params = SilenceParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, SilenceParams)
        self.p = params
        self.after = resolver.marker("after", params.after)
        if params.min > params.max:
            raise resolver.error("min", expected=f"at most max ({params.max} s)", got=params.min)
        super().__init__(params, resolver)

    def describe(self) -> str:
        which = "on " + ", ".join(f"0x{i:03X}" for i in self.p.ids) if self.p.ids else "on CAN"
        return (
            f"silent {which} {format_duration(self.p.min)}..{format_duration(self.p.max)} "
            f"after {self.after}"
        )

    def _next_frame(self, window: Window, start: float) -> tuple[float, int, bytes] | None:
        log = window.log
        best: tuple[float, int, bytes] | None = None
        ids = self.p.ids if self.p.ids else list(log.rx)
        for can_id in ids:
            col = log.rx_of(can_id)
            k = bisect_right(col.ts, start)
            if k < len(col.ts) and col.ts[k] <= window.t1 and (best is None or col.ts[k] < best[0]):
                best = (col.ts[k], can_id, col.data[k])
        return best

    def evaluate(self, window: Window) -> CheckResult:
        p = self.p
        start = window.markers[self.after]
        limits = {"min": p.min, "max": p.max}
        nxt = self._next_frame(window, start)
        if nxt is None:
            quiet = window.t1 - start
            if quiet + 1e-9 < p.max:
                return self.result(
                    Verdict.INCONCLUSIVE,
                    f"no frame in the {format_duration(quiet)} after {self.after}, but the "
                    f"window ends before {format_duration(p.max)}",
                    {"gap": None, "observed": quiet},
                    limits,
                )
            return self.result(
                Verdict.FAIL,
                f"silent for all {format_duration(quiet)} after {self.after}: did not come back "
                f"within {format_duration(p.max)}",
                {"gap": None, "observed": quiet},
                limits,
            )
        ts, can_id, data = nxt
        gap = ts - start
        ok = p.min - 1e-9 <= gap <= p.max + 1e-9
        offender = (
            None
            if ok
            else Offender(
                ts, f"first frame {format_duration(gap)} after {self.after}", can_id, hexdata(data)
            )
        )
        return self.result(
            fail(ok),
            f"next frame (0x{can_id:03X}) {format_duration(gap)} after {self.after}",
            {"gap": gap, "next_id": f"0x{can_id:03X}"},
            limits,
            offender,
        )
