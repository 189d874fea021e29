"""A DUT counter's change over a case: ``count_delta``.

A part that counts events in a status signal (CC-GW-1's ForwardedCount, DroppedCount,
DiscardedCount: GW-004, GW-006, GW-007) is judged by how much the count grew while the
harness caused them: from the last frame of ``message`` before the step named ``from`` to the
last frame of the window, modulo the signal's range (a count wraps), the change must lie in
``min`` .. ``max``. ``signal_delta`` asks for an exact change; this one allows a band, for
stimuli whose exact number of events depends on timing (frames spaced near a limit).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from harness.checks.base import Check, CheckParams, Resolver, fail, hexdata, register
from harness.observe import Window
from harness.record import CheckResult, Offender, Verdict

__all__ = ["CountDeltaCheck"]


class CountDeltaParams(CheckParams):
    kind: Literal["count_delta"]
    message: str = Field(description="a DBC message the DUT sends")
    signal: str = Field(description="the count (an unsigned signal)")
    from_: str = Field(alias="from", description="the step whose moment the change counts from")
    min: int = Field(default=0, ge=0, description="least change (raw units, modulo the range)")
    max: int | None = Field(default=None, ge=0, description="largest change (None: no bound)")

    @model_validator(mode="after")
    def _ordered(self) -> CountDeltaParams:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


@register
class CountDeltaCheck(Check):
    """A DUT count grew by ``min`` .. ``max`` (modulo its range) since a named step."""

    kind = "count_delta"
    Params = CountDeltaParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, CountDeltaParams)
        self.p = params
        self.msg = resolver.message("message", params.message)
        self.sig = resolver.signal("signal", self.msg, params.signal)
        self.marker = resolver.marker("from", params.from_)
        super().__init__(params, resolver)

    def describe(self) -> str:
        top = "" if self.p.max is None else f"..{self.p.max}"
        return f"{self.msg.name}.{self.sig.name} +{self.p.min}{top} after {self.marker}"

    def evaluate(self, window: Window) -> CheckResult:
        p = self.p
        limits = {"min": p.min, "max": p.max}
        t_m = window.markers.get(self.marker)
        if t_m is None:
            return self.result(Verdict.ERROR, f"step {self.marker!r} did not run", limits=limits)
        col = window.log.rx_of(self.msg.frame_id)
        k0 = col.last_before(t_m)
        k1 = col.span(window.t0, window.t1)[1] - 1
        if k0 < 0 or k1 <= k0:
            return self.result(
                Verdict.FAIL, f"no {self.msg.name} before and after {self.marker}", limits=limits
            )
        before, after = self.sig.raw(col.data[k0]), self.sig.raw(col.data[k1])
        if before is None or after is None:
            return self.result(Verdict.FAIL, f"{self.sig.name} absent", limits=limits)
        change = (after - before) % (1 << self.sig.length)
        ok = change >= p.min and (p.max is None or change <= p.max)
        offender = None
        if not ok:
            offender = Offender(
                col.ts[k1],
                f"{self.sig.name} {before} -> {after} (+{change})",
                self.msg.frame_id,
                hexdata(col.data[k1]),
            )
        return self.result(
            fail(ok),
            f"{self.sig.name} {before} -> {after} (+{change})",
            {"before": before, "after": after, "delta": change},
            limits,
            offender,
        )
