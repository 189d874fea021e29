"""V2X checks over MQTT messages: the common base, and the stream's timing (intervals, counters).

Field values, latency, absence and counts are :mod:`harness.checks.v2x_content`.

Each names a topic by its key in the profile's ``mqtt.topics`` and reads the window's
:class:`~harness.mqtt.log.MqttLog`. A span within the window may be narrowed with
``from``/``until`` (names of earlier steps) and ``from_offset``/``until_offset``. A message
whose payload did not decode fails every check that has to read it. Field paths are dotted
(``events.hardBraking``); a value written ``$station_id`` is the DUT's identity.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from harness.checks.base import Check, CheckParams, Resolver, register
from harness.mqtt.log import MqttColumn, MqttLog
from harness.observe import Window
from harness.record import CheckResult, Offender, Verdict
from harness.units import Duration, format_duration

__all__ = [
    "FieldConditions",
    "MqttCheck",
    "MqttCounterCheck",
    "MqttIntervalCheck",
    "MqttParams",
    "field_value",
    "show_message",
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


def show_message(value: Any, retain: bool) -> str:
    """A message's value as a failure shows it (cut to 160 characters)."""
    text = repr(value)
    return (text if len(text) <= 160 else text[:157] + "...") + (" (retained)" if retain else "")


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
                shown = show_message(col.value[k_bad], col.retain[k_bad])
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
