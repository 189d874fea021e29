"""V2X checks on what MQTT messages say and whether they come: field values, the latency of a
response to a stimulus, absence, and counts.

The common base (topics, spans, field conditions) is :mod:`harness.checks.v2x`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from harness.checks.base import CheckParams, Resolver, fail, register
from harness.checks.v2x import FieldConditions, MqttCheck, MqttParams, show_message
from harness.observe import Window
from harness.record import CheckResult, Offender, Verdict
from harness.units import Duration, format_duration

__all__ = ["MqttAbsentCheck", "MqttCountCheck", "MqttFieldCheck", "MqttLatencyCheck"]


class MqttFieldParams(MqttParams):
    kind: Literal["mqtt_field"]
    where: dict[str, Any] = Field(
        min_length=1, description="field: value, or field: {equals, one_of, min, max}"
    )
    min_messages: int = Field(default=1, ge=0)
    retain: bool | None = Field(default=None, description="the retain flag every message has")


@register
class MqttFieldCheck(MqttCheck):
    """Every message of the topic in the span meets the field conditions."""

    kind = "mqtt_field"
    Params = MqttFieldParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, MqttFieldParams)
        self.p = params
        self.conds = FieldConditions(params.where, resolver)
        super().__init__(params, resolver)

    def describe(self) -> str:
        return f"{self.mp.topic}: {self.conds.describe()}"

    def evaluate(self, window: Window) -> CheckResult:
        got = self.setup(window)
        if isinstance(got, CheckResult):
            return got
        log, col, t0, t1 = got
        i, j = col.span(t0, t1)
        n = j - i
        if n < self.p.min_messages:
            return self.result(
                Verdict.FAIL,
                f"{n} message(s), expected at least {self.p.min_messages}",
                {"messages": n},
            )
        bad = self.decode_failure(col, i, j)
        if bad is not None:
            return bad
        for k in range(i, j):
            if not self.conds.matches(col.value[k], log) or (
                self.p.retain is not None and col.retain[k] != self.p.retain
            ):
                return self.result(
                    Verdict.FAIL,
                    f"{k - i + 1}. message does not meet {self.conds.describe()}: "
                    f"{show_message(col.value[k], col.retain[k])}",
                    {"messages": n},
                    offender=Offender(col.ts[k], show_message(col.value[k], col.retain[k])),
                )
        return self.result(
            Verdict.PASS, f"{n} message(s) with {self.conds.describe()}", {"messages": n}
        )


class MqttLatencyParams(MqttParams):
    kind: Literal["mqtt_latency"]
    where: dict[str, Any] = Field(default_factory=dict)
    retain: bool | None = None
    within: Duration
    not_before: Duration = 0.0


@register
class MqttLatencyCheck(MqttCheck):
    """Time from a named step (``from``) to the first message matching ``where``."""

    kind = "mqtt_latency"
    Params = MqttLatencyParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, MqttLatencyParams)
        self.p = params
        if params.from_ is None:
            raise resolver.error("from", expected="the name of the stimulus step", got=None)
        self.conds = FieldConditions(params.where, resolver)
        super().__init__(params, resolver)

    def describe(self) -> str:
        what = f" with {self.conds.describe()}" if self.conds.conds else ""
        return f"{self.mp.topic}{what} within {format_duration(self.p.within)} of {self.mp.from_}"

    def evaluate(self, window: Window) -> CheckResult:
        got = self.setup(window)
        if isinstance(got, CheckResult):
            return got
        log, col, t0, t1 = got
        p = self.p
        limits = {"within": p.within, "not_before": p.not_before}
        i, j = col.span(t0, t1)
        for k in range(i, j):
            if col.error[k] is not None:
                continue
            if self.conds.matches(col.value[k], log) and (
                p.retain is None or col.retain[k] == p.retain
            ):
                latency = col.ts[k] - t0
                ok = p.not_before - 1e-12 <= latency <= p.within + 1e-12
                return self.result(
                    fail(ok),
                    f"latency {format_duration(latency)}",
                    {"latency": latency},
                    limits,
                    None if ok else Offender(col.ts[k], show_message(col.value[k], col.retain[k])),
                )
        waited = t1 - t0
        verdict = Verdict.INCONCLUSIVE if waited < p.within else Verdict.FAIL
        seen = ""
        if j > i:  # what the part did send instead
            last = show_message(col.value[j - 1], col.retain[j - 1])
            seen = f" ({j - i} other(s), the last: {last})"
        return self.result(
            verdict,
            f"no matching {self.topic} message within {format_duration(waited)}{seen}",
            {"latency": None, "waited": waited, "seen": j - i},
            limits,
            Offender(t0, f"stimulus {self.mp.from_}"),
        )


class MqttAbsentParams(MqttParams):
    kind: Literal["mqtt_absent"]
    where: dict[str, Any] = Field(default_factory=dict, description="only matching messages")


@register
class MqttAbsentCheck(MqttCheck):
    """No message (matching ``where``) on the topic in the span."""

    kind = "mqtt_absent"
    Params = MqttAbsentParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, MqttAbsentParams)
        self.conds = FieldConditions(params.where, resolver)
        super().__init__(params, resolver)

    def describe(self) -> str:
        what = f" with {self.conds.describe()}" if self.conds.conds else ""
        return f"no {self.mp.topic}{what}"

    def evaluate(self, window: Window) -> CheckResult:
        got = self.setup(window)
        if isinstance(got, CheckResult):
            return got
        log, col, t0, t1 = got
        i, j = col.span(t0, t1)
        for k in range(i, j):
            if (
                not self.conds.conds
                or col.error[k] is not None
                or self.conds.matches(col.value[k], log)
            ):
                return self.result(
                    Verdict.FAIL,
                    f"a {self.topic} message {format_duration(col.ts[k] - t0)} into the span",
                    {"messages": j - i},
                    offender=Offender(col.ts[k], show_message(col.value[k], col.retain[k])),
                )
        return self.result(
            Verdict.PASS, f"no {self.topic} message in {format_duration(t1 - t0)}", {"messages": 0}
        )


class MqttCountParams(MqttParams):
    kind: Literal["mqtt_count"]
    where: dict[str, Any] = Field(default_factory=dict)
    min: int = Field(default=0, ge=0)
    max: int | None = Field(default=None, ge=0)


@register
class MqttCountCheck(MqttCheck):
    """The number of (matching) messages on the topic in the span is within [min, max]."""

    kind = "mqtt_count"
    Params = MqttCountParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, MqttCountParams)
        self.p = params
        self.conds = FieldConditions(params.where, resolver)
        super().__init__(params, resolver)

    def describe(self) -> str:
        hi = "" if self.p.max is None else f"..{self.p.max}"
        return f"{self.p.min}{hi} {self.mp.topic} message(s)"

    def evaluate(self, window: Window) -> CheckResult:
        got = self.setup(window)
        if isinstance(got, CheckResult):
            return got
        log, col, t0, t1 = got
        i, j = col.span(t0, t1)
        bad = self.decode_failure(col, i, j)
        if bad is not None:
            return bad
        n = sum(1 for k in range(i, j) if self.conds.matches(col.value[k], log))
        ok = n >= self.p.min and (self.p.max is None or n <= self.p.max)
        return self.result(
            fail(ok),
            f"{n} matching {self.topic} message(s)",
            {"count": n},
            {"min": self.p.min, "max": self.p.max},
        )
