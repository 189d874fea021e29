"""V2X checks over MQTT messages: intervals, counters, field values, latency, absence, counts.

Each names a topic by its key in the profile's ``mqtt.topics`` and reads the window's
:class:`~harness.mqtt.log.MqttLog`. A span within the window may be narrowed with
``from``/``until`` (names of earlier steps) and ``from_offset``/``until_offset``. A message
whose payload did not decode fails every check that has to read it. Field paths are dotted
(``events.hardBraking``); a value written ``$station_id`` is the DUT's identity.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from harness.checks.base import Check, CheckParams, Resolver, fail, register
from harness.mqtt.log import MqttColumn, MqttLog
from harness.observe import Window
from harness.record import CheckResult, Offender, Verdict
from harness.units import Duration, format_duration

__all__ = [
    "FieldConditions",
    "MqttAbsentCheck",
    "MqttCheck",
    "MqttCountCheck",
    "MqttCounterCheck",
    "MqttFieldCheck",
    "MqttIntervalCheck",
    "MqttLatencyCheck",
    "field_value",
]

_MISSING = object()


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def field_value(value: Any, path: str | None) -> Any:
    """The member at a dotted path of a decoded payload (``_MISSING`` when absent)."""
    if not path:
        return value
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


class FieldConditions:
    """``where:`` conditions on decoded fields: a value, or {equals, one_of, min, max}."""

    def __init__(self, where: dict[str, Any], resolver: Resolver, path: str = "where") -> None:
        self.conds: list[tuple[str, str, Any]] = []
        for key, cond in where.items():
            if isinstance(cond, dict):
                for op, arg in cond.items():
                    if op not in ("equals", "one_of", "min", "max"):
                        raise resolver.error(
                            (path, key, op),
                            expected="equals, one_of, min or max",
                            got=op,
                            choices=["equals", "one_of", "min", "max"],
                        )
                    self.conds.append((key, op, arg))
            else:
                self.conds.append((key, "equals", cond))

    @staticmethod
    def _subst(arg: Any, log: MqttLog) -> Any:
        if isinstance(arg, str) and arg.startswith("$"):
            return log.identity.get(arg[1:], arg)
        return arg

    def matches(self, value: Any, log: MqttLog) -> bool:
        for key, op, arg in self.conds:
            got = field_value(value, key if key != "." else None)
            if got is _MISSING:
                return False
            arg = self._subst(arg, log)
            if op == "equals":
                if got != arg or isinstance(got, bool) != isinstance(arg, bool):
                    return False
            elif op == "one_of":
                if got not in [self._subst(a, log) for a in arg]:
                    return False
            elif not _number(got) or (op == "min" and got < arg) or (op == "max" and got > arg):
                return False
        return True

    def describe(self) -> str:
        parts = []
        for key, op, arg in self.conds:
            sym = {"equals": "=", "one_of": " in ", "min": " >= ", "max": " <= "}[op]
            parts.append(f"{key}{sym}{arg}")
        return ", ".join(parts)


class MqttParams(CheckParams):
    topic: str = Field(description="a topic of the profile's mqtt section")
    from_: str | None = Field(default=None, alias="from", description="span starts at this step")
    from_offset: Duration = 0.0
    until: str | None = Field(default=None, description="span ends at this step")
    until_offset: Duration = 0.0


class MqttCheck(Check):
    """Base of the MQTT checks: topic resolution and the span within the window."""

    direction = "dut"

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, MqttParams)
        self.mp = params
        plan = getattr(resolver, "mqtt", None)
        if plan is None:
            raise resolver.error("topic", "MQTT checks need the profile's mqtt section")
        if params.topic not in plan.topics:
            raise resolver.error(
                "topic",
                "not a topic of the mqtt section",
                expected="a key of mqtt.topics",
                got=params.topic,
                choices=sorted(plan.topics),
            )
        self.topic = params.topic
        self.from_marker = resolver.marker("from", params.from_) if params.from_ else None
        self.until_marker = resolver.marker("until", params.until) if params.until else None
        super().__init__(params, resolver)

    def span(self, window: Window) -> tuple[float, float] | None:
        """The [t0, t1] this check judges, or None when a named step did not run."""
        t0, t1 = window.t0, window.t1
        if self.from_marker is not None:
            t = window.markers.get(self.from_marker)
            if t is None:
                return None
            t0 = t
        if self.until_marker is not None:
            t = window.markers.get(self.until_marker)
            if t is None:
                return None
            t1 = t
        return t0 + self.mp.from_offset, t1 + self.mp.until_offset

    def column(self, window: Window) -> tuple[MqttLog, MqttColumn] | None:
        log = getattr(window, "mqtt", None)
        if log is None:
            return None
        col = log.rx_of(self.topic) if self.direction == "dut" else log.tx_of(self.topic)
        return log, col

    def setup(self, window: Window) -> tuple[MqttLog, MqttColumn, float, float] | CheckResult:
        got = self.column(window)
        if got is None:
            return self.result(Verdict.ERROR, "this run has no MQTT log")
        span = self.span(window)
        if span is None:
            return self.result(Verdict.ERROR, "a named step of this check did not run")
        return got[0], got[1], span[0], span[1]

    def decode_failure(self, col: MqttColumn, i: int, j: int) -> CheckResult | None:
        for k in range(i, j):
            if col.error[k] is not None:
                return self.result(
                    Verdict.FAIL,
                    f"a {self.topic} message did not decode: {col.error[k]}",
                    {"messages": j - i},
                    offender=Offender(col.ts[k], f"undecodable: {col.payload[k].hex()[:64]}"),
                )
        return None


class MqttIntervalParams(MqttParams):
    kind: Literal["mqtt_interval"]
    min: Duration
    max: Duration
    mean: Annotated[list[Duration], Field(min_length=2, max_length=2)] | None = None
    mean_over: Duration | None = Field(
        default=None, description="judge the mean over every such sliding span, not the whole"
    )
    min_messages: int = Field(default=2, ge=2)


@register
class MqttIntervalCheck(MqttCheck):
    """Every interval between consecutive messages within [min, max]; optional mean bounds.

    A silence longer than ``max`` at either end of the span fails too.
    """

    kind = "mqtt_interval"
    Params = MqttIntervalParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, MqttIntervalParams)
        self.p = params
        super().__init__(params, resolver)

    def describe(self) -> str:
        lo, hi = format_duration(self.p.min), format_duration(self.p.max)
        return f"{self.mp.topic} interval {lo}..{hi}"

    def evaluate(self, window: Window) -> CheckResult:
        got = self.setup(window)
        if isinstance(got, CheckResult):
            return got
        _, col, t0, t1 = got
        p = self.p
        i, j = col.span(t0, t1)
        n = j - i
        limits = {"min": p.min, "max": p.max, "mean": list(p.mean) if p.mean else None}
        if n < p.min_messages:
            return self.result(
                Verdict.FAIL,
                f"{n} {self.topic} message(s) in {t1 - t0:.3f} s, expected at least "
                f"{p.min_messages}",
                {"messages": n},
                limits,
            )
        ts = col.ts
        gaps = [ts[k + 1] - ts[k] for k in range(i, j - 1)]
        meas: dict[str, Any] = {
            "messages": n,
            "min_interval": min(gaps),
            "max_interval": max(gaps),
            "mean_interval": (ts[j - 1] - ts[i]) / (n - 1),
        }
        eps = 1e-9
        for k, gap in enumerate(gaps):
            if not p.min - eps <= gap <= p.max + eps:
                return self.result(
                    Verdict.FAIL,
                    f"interval {format_duration(gap)} outside "
                    f"{format_duration(p.min)}..{format_duration(p.max)}",
                    meas,
                    limits,
                    Offender(ts[i + k + 1], f"interval {format_duration(gap)}"),
                )
        for edge, silence in (("start", ts[i] - t0), ("end", t1 - ts[j - 1])):
            if silence > p.max + eps:
                return self.result(
                    Verdict.FAIL,
                    f"no {self.topic} message for {format_duration(silence)} at the {edge}",
                    meas,
                    limits,
                )
        if p.mean is not None:
            lo, hi = p.mean
            spans = [(i, j - 1)]
            if p.mean_over is not None:
                spans = []
                first = i
                for last in range(i + 1, j):
                    while ts[last] - ts[first] > p.mean_over + eps:
                        first += 1
                    if ts[last] - ts[first] >= p.mean_over - BSM_SLACK and last > first:
                        spans.append((first, last))
                if not spans:
                    spans = [(i, j - 1)]
            for a, b in spans:
                mean = (ts[b] - ts[a]) / (b - a)
                if not lo - eps <= mean <= hi + eps:
                    meas["bad_mean"] = mean
                    return self.result(
                        Verdict.FAIL,
                        f"mean interval {format_duration(mean)} outside "
                        f"{format_duration(lo)}..{format_duration(hi)}",
                        meas,
                        limits,
                        Offender(ts[b], f"mean over {format_duration(ts[b] - ts[a])}"),
                    )
        return self.result(
            Verdict.PASS,
            f"{n} messages, intervals {format_duration(meas['min_interval'])}.."
            f"{format_duration(meas['max_interval'])}",
            meas,
            limits,
        )


BSM_SLACK = 0.2  # a sliding mean span may be this much shorter than mean_over


class MqttCounterParams(MqttParams):
    kind: Literal["mqtt_counter"]
    field: str = Field(description="the counter field, e.g. msgCnt")
    modulus: int = Field(ge=2)
    step: int = 1
    min_messages: int = Field(default=2, ge=2)


@register
class MqttCounterCheck(MqttCheck):
    """A counter field steps by ``step`` modulo ``modulus`` from each message to the next."""

    kind = "mqtt_counter"
    Params = MqttCounterParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, MqttCounterParams)
        self.p = params
        super().__init__(params, resolver)

    def describe(self) -> str:
        return f"{self.mp.topic}.{self.p.field} +{self.p.step} mod {self.p.modulus}"

    def evaluate(self, window: Window) -> CheckResult:
        got = self.setup(window)
        if isinstance(got, CheckResult):
            return got
        _, col, t0, t1 = got
        p = self.p
        i, j = col.span(t0, t1)
        if j - i < p.min_messages:
            return self.result(
                Verdict.FAIL,
                f"{j - i} message(s), expected at least {p.min_messages}",
                {"messages": j - i},
            )
        bad = self.decode_failure(col, i, j)
        if bad is not None:
            return bad
        values = [field_value(col.value[k], p.field) for k in range(i, j)]
        for k in range(1, len(values)):
            prev, cur = values[k - 1], values[k]
            if not isinstance(prev, int) or not isinstance(cur, int):
                k_bad = i + k - (0 if isinstance(prev, int) else 1)
                shown = _show(col.value[k_bad], col.retain[k_bad])
                return self.result(
                    Verdict.FAIL,
                    f"{p.field} missing or not an integer in {shown}",
                    {"messages": j - i},
                    offender=Offender(col.ts[k_bad], shown),
                )
            if cur != (prev + p.step) % p.modulus:
                return self.result(
                    Verdict.FAIL,
                    f"{p.field} went {prev} -> {cur}, expected {(prev + p.step) % p.modulus}",
                    {"messages": j - i},
                    offender=Offender(col.ts[i + k], f"{p.field} {prev} -> {cur}"),
                )
        return self.result(
            Verdict.PASS, f"{j - i} messages, {p.field} in step", {"messages": j - i}
        )


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
                    f"{_show(col.value[k], col.retain[k])}",
                    {"messages": n},
                    offender=Offender(col.ts[k], _show(col.value[k], col.retain[k])),
                )
        return self.result(
            Verdict.PASS, f"{n} message(s) with {self.conds.describe()}", {"messages": n}
        )


def _show(value: Any, retain: bool) -> str:
    text = repr(value)
    return (text if len(text) <= 160 else text[:157] + "...") + (" (retained)" if retain else "")


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
                    None if ok else Offender(col.ts[k], _show(col.value[k], col.retain[k])),
                )
        waited = t1 - t0
        verdict = Verdict.INCONCLUSIVE if waited < p.within else Verdict.FAIL
        seen = ""
        if j > i:  # what the part did send instead
            seen = f" ({j - i} other(s), the last: {_show(col.value[j - 1], col.retain[j - 1])})"
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
                    offender=Offender(col.ts[k], _show(col.value[k], col.retain[k])),
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
