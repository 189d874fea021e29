"""A DUT counter's change over a case: ``count_delta``.

A part that counts events in a status signal (CC-GW-1's ForwardedCount, DroppedCount,
DiscardedCount: GW-004, GW-006, GW-007) is judged by how much the count grew while the
harness caused them: from the last frame of ``message`` before the step named ``from`` to the
last frame of the window, modulo the signal's range (a count wraps), the change must lie in
``min`` .. ``max``. ``signal_delta`` asks for an exact change; this one allows a band, for
stimuli whose exact number of events depends on timing (frames spaced near a limit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from harness.can.dbc import MessageCodec, SignalCodec
from harness.checks.base import Check, CheckParams, Resolver, fail, hexdata, register
from harness.observe import Window
from harness.record import CheckResult, Offender, Verdict

__all__ = ["CountDeltaCheck", "SignalChange", "signal_change"]


@dataclass(frozen=True)
class SignalChange:
    """A signal's raw value at the last frame before a step and at the window's last frame,
    and the change between them modulo the signal's range."""

    before: int
    after: int
    change: int
    modulus: int
    ts: float  # the window's last frame
    data: bytes


def signal_change(
    window: Window, msg: MessageCodec, sig: SignalCodec, marker: str
) -> SignalChange | tuple[Verdict, str]:
    """How ``sig`` changed since the step ``marker`` (``signal_delta``, ``count_delta``), or
    the verdict and summary when it cannot be told."""
    t_m = window.markers.get(marker)
    if t_m is None:
        return Verdict.ERROR, f"step {marker!r} did not run"
    col = window.log.rx_of(msg.frame_id)
    k0 = col.last_before(t_m)
    k1 = col.span(window.t0, window.t1)[1] - 1
    if k0 < 0 or k1 <= k0:
        return Verdict.FAIL, f"no {msg.name} before and after {marker}"
    before, after = sig.raw(col.data[k0]), sig.raw(col.data[k1])
    if before is None or after is None:
        return Verdict.FAIL, f"{sig.name} absent"
    modulus = 1 << sig.length
    return SignalChange(
        before, after, (after - before) % modulus, modulus, col.ts[k1], bytes(col.data[k1])
    )


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
        got = signal_change(window, self.msg, self.sig, self.marker)
        if isinstance(got, tuple):
            return self.result(*got, limits=limits)
        change = got.change
        ok = change >= p.min and (p.max is None or change <= p.max)
        said = f"{self.sig.name} {got.before} -> {got.after} (+{change})"
        offender = None
        if not ok:
            offender = Offender(got.ts, said, self.msg.frame_id, hexdata(got.data))
        return self.result(
            fail(ok),
            said,
            {"before": got.before, "after": got.after, "delta": change},
            limits,
            offender,
        )
