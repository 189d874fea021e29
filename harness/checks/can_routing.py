"""Checks of two buses: frames routed from one bus to another, and nothing else crossing.

A gateway (CC-GW-1's GW-001 and GW-002) copies frames of some identifiers from bus ``from``
to bus ``to``. Both checks read the two buses' window streams (``can.FROM``, ``can.TO``:
:func:`harness.observe.bus_stream`), so they judge a live run and its recorded trace alike.
The frames on ``from`` that the rule routes are the harness's (the vehicle it plays); the
copies on ``to`` are the DUT's. A routing rule: identifiers (``ids``, and/or ``first`` ..
``last``), and optionally a ``format`` (classic or FD) and ``extended`` (29-bit or 11-bit).
A copy is "the same frame": same identifier, same 29-bit and FD flags, same data (so the
same DLC).

``routed``: each frame the rule routes, sent on ``from`` at ``t0 <= ts <= t1 - max_latency``
(later ones cannot be judged yet), must show on ``to``. Its copy is the first unclaimed equal
frame on ``to`` at or after it. Without one, a frame of its identifier on ``to`` not claimed
by an equal original is its *altered* copy (paired in order), else it is *missing*. A copy
later than ``max_latency`` is *late*; a copy that comes before the copy of an earlier frame of
its identifier is *reordered*; ``p99`` bounds the 99th percentile (nearest rank) of the
latencies.

``min_spacing`` (a rate limit, CC-GW-1's GW-006): per routed identifier, a frame the rule
routes that arrives less than ``min_spacing`` after the last *forwarded* frame of its
identifier is dropped; one at ``min_spacing`` or more (exactly ``min_spacing`` included) is
forwarded, and so is the first. "Forwarded" is what the rule says, not what the DUT did, so
the expectation follows from the ``from`` frames alone: frames at 0, 3, 6 and 8 ms with 5 ms
forward 0 and 6 and drop 3 and 8. Spacing is measured on the timestamps the harness recorded
for its own ``from`` frames (their send times on the run's clock, to 1 µs); the part judges on
its receive times, which differ from them only by the bus delay and its jitter, so stimuli
meant to test the boundary keep clear of it by more than that jitter in real time (on the
virtual clock it is exact). The limiter's state comes from every routed ``from`` frame of the
run before the frame (the frame log keeps the whole run; a gap of ``min_spacing`` or more
forwards whatever came before, so history matters only back to the last such gap) — a part
that forgets its state (a reset) is judged as if it had not. A forwarded frame is judged as
above (missing here means *wrongly dropped*); a dropped frame whose equal copy (not claimed
by a forwarded frame) shows on ``to`` within ``max_latency`` is *wrongly forwarded*.

``firewall``: every DUT frame on ``to`` in the window is either one of the DUT's own
identifiers (``allowed``) or the copy of a frame the rule routes, seen on ``from`` at most
``lookback`` before it and not already copied (each original is copied once). With
``no_return: true`` no DUT frame on ``from`` repeats (identifier, flags, data) a frame the
harness sent on ``to`` in the ``lookback`` before it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Literal

from pydantic import ConfigDict, Field

from harness.checks.base import Check, CheckParams, Resolver, fail, hexdata, register
from harness.checks.routing_frames import (
    PROBLEMS,
    Frame,
    dut_frames,
    harness_frames,
    judge_firewall,
    judge_return,
    judge_routed,
    percentile99,
    rate_limit,
    spacing_text,
    too_close,
)
from harness.observe import FLAG_EXTENDED, FLAG_FD, FrameLog, Window, bus_stream
from harness.record import CheckResult, Offender, Verdict
from harness.units import CanId, Duration, format_duration

__all__ = [  # the frames and judges are harness.checks.routing_frames', re-exported
    "FirewallCheck",
    "Frame",
    "RoutedCheck",
    "dut_frames",
    "harness_frames",
    "judge_firewall",
    "judge_return",
    "judge_routed",
    "rate_limit",
    "too_close",
]

_BUS = r"^[A-Za-z][A-Za-z0-9_-]*$"


class RouteParams(CheckParams):
    """The two buses and the routing rule, common to both kinds."""

    model_config = ConfigDict(populate_by_name=False)

    from_: str = Field(alias="from", pattern=_BUS, description="the bus frames are routed from")
    to: str = Field(pattern=_BUS, description="the bus the routed frames are copied onto")
    ids: list[CanId] | None = Field(default=None, description="identifiers the rule routes")
    first: CanId | None = Field(default=None, description="lowest identifier of a routed range")
    last: CanId | None = Field(default=None, description="highest identifier of a routed range")
    format: Literal["classic", "fd", "any"] = Field(
        default="any", description="frame format the rule routes (others are not routed)"
    )
    extended: bool | None = Field(
        default=None, description="true: only 29-bit frames are routed; false: only 11-bit"
    )


class _Route:
    """A resolved routing rule."""

    def __init__(self, p: RouteParams, resolver: Resolver) -> None:
        if p.ids is None and p.first is None and p.last is None:
            raise resolver.error("ids", expected="ids: [...] and/or first and last", got=None)
        if (p.first is None) != (p.last is None):
            raise resolver.error(
                "last" if p.last is None else "first", expected="both first and last", got=None
            )
        ids = set(p.ids or ())
        if p.first is not None and p.last is not None:
            if p.first > p.last:
                raise resolver.error("last", expected=f"at least first (0x{p.first:X})", got=p.last)
            if p.last - p.first > 0xFFFF:
                raise resolver.error("last", expected="a range of at most 65536 identifiers")
            ids.update(range(p.first, p.last + 1))
        buses = getattr(resolver, "buses", None) or {}
        for field, name in (("from", p.from_), ("to", p.to)):
            if buses and name not in buses:
                raise resolver.error(
                    field,
                    "no bus of this name in the profile",
                    expected="a bus the profile declares",
                    got=name,
                    choices=sorted(buses),
                )
        if p.from_ == p.to:
            raise resolver.error("to", expected=f"a bus other than from ({p.from_})", got=p.to)
        self.ids = frozenset(ids)
        self.src, self.dst = p.from_, p.to
        self.fd = {"classic": False, "fd": True, "any": None}[p.format]
        self.extended = p.extended

    def routes(self, f: Frame) -> bool:
        if f.can_id not in self.ids:
            return False
        if self.fd is not None and bool(f.flags & FLAG_FD) != self.fd:
            return False
        return self.extended is None or bool(f.flags & FLAG_EXTENDED) == self.extended

    def describe(self) -> str:
        ids = sorted(self.ids)
        if len(ids) > 3 and ids[-1] - ids[0] + 1 == len(ids):
            which = f"0x{ids[0]:03X}..0x{ids[-1]:03X}"
        else:
            which = ", ".join(f"0x{i:03X}" for i in ids)
        return f"{which} {self.src} -> {self.dst}"


class RoutedParams(RouteParams):
    kind: Literal["routed"]
    max_latency: Duration = Field(description="longest time from a frame to its copy")
    p99: Duration | None = Field(
        default=None, description="bound on the 99th percentile of the latencies"
    )
    min_spacing: Duration | None = Field(
        default=None,
        description="rate limit per routed identifier: a frame less than this after the last"
        " forwarded frame of its identifier is dropped (exactly this is forwarded)",
    )


@register
class RoutedCheck(Check):
    """Each frame the rule routes shows on the other bus unchanged, in order, in time."""

    kind = "routed"
    Params = RoutedParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, RoutedParams)
        self.p = params
        self.route = _Route(params, resolver)
        if params.p99 is not None and params.p99 > params.max_latency:
            raise resolver.error(
                "p99", expected=f"at most max_latency ({params.max_latency} s)", got=params.p99
            )
        if params.min_spacing is not None and params.min_spacing <= 0:
            raise resolver.error(
                "min_spacing", expected="a duration above 0", got=params.min_spacing
            )
        super().__init__(params, resolver)

    def describe(self) -> str:
        limit = (
            f", rate-limited to one per {format_duration(self.p.min_spacing)} per identifier"
            if self.p.min_spacing is not None
            else ""
        )
        within = format_duration(self.p.max_latency)
        return f"routed {self.route.describe()} within {within}{limit}"

    def evaluate(self, window: Window) -> CheckResult:
        p, route = self.p, self.route
        src = window.stream(bus_stream(route.src), FrameLog)
        dst = window.stream(bus_stream(route.dst), FrameLog)
        limits: dict[str, float] = {"max_latency": p.max_latency}
        if p.p99 is not None:
            limits["p99"] = p.p99
        end = window.t1 - p.max_latency
        originals = [f for f in harness_frames(src, route.ids, window.t0, end) if route.routes(f)]
        dropped: list[Frame] = []
        spacing: dict[Frame, float | None] = {}
        if p.min_spacing is not None:
            limits["min_spacing"] = p.min_spacing
            history = [f for f in harness_frames(src, route.ids, -math.inf, end) if route.routes(f)]
            forwarded, dropped, spacing = rate_limit(history, p.min_spacing)
            originals = [f for f in forwarded if f.ts >= window.t0]
            dropped = [f for f in dropped if f.ts >= window.t0]
        copies: dict[int, list[Frame]] = defaultdict(list)
        for d in dut_frames(dst, window.t0, window.t1):
            if d.can_id in route.ids:
                copies[d.can_id].append(d)
        outcome, leaked = judge_routed(originals, copies, p.max_latency, dropped)
        latencies = [lat for _, _, lat, _ in outcome if lat is not None]
        p99 = percentile99(latencies)
        counts = {w: sum(1 for o in outcome if o[3] == w) for w in PROBLEMS}
        m = {
            "count": len(originals),
            "latency_max": max(latencies) if latencies else None,
            "latency_p99": p99,
            **counts,
        }
        if p.min_spacing is not None:
            m["dropped"] = len(dropped)
            m["wrongly_forwarded"] = len(leaked)
        if not originals and not dropped:
            return self.result(
                Verdict.INCONCLUSIVE,
                f"no frame the rule routes on {route.src} in the window",
                m,
                limits,
            )
        bad = next((o for o in outcome if o[3] is not None), None)
        p99_bad = p.p99 is not None and p99 is not None and p99 > p.p99 + 1e-9
        ok = bad is None and not p99_bad and not leaked
        offender = None
        if bad is not None:
            f, copy, lat, what = bad
            where = "no copy" if copy is None else f"copy {copy.show(route.dst)}"
            if what == "late" and lat is not None:
                where += f", {format_duration(lat)} later (max {format_duration(p.max_latency)})"
            elif what == "reordered":
                where += ", before the copy of an earlier frame of its identifier"
            if what == "missing" and p.min_spacing is not None:
                what = "wrongly dropped"
                where += f" ({spacing_text(spacing.get(f), p.min_spacing)})"
            offender = Offender(
                f.ts, f"{what}: {f.show(route.src)}: {where}", f.can_id, hexdata(f.data)
            )
        if leaked and (offender is None or leaked[0][0].ts < offender.timestamp):
            f, copy = leaked[0]
            assert p.min_spacing is not None
            offender = Offender(
                f.ts,
                f"wrongly forwarded: {f.show(route.src)}: copy {copy.show(route.dst)} "
                f"({spacing_text(spacing.get(f), p.min_spacing)})",
                f.can_id,
                hexdata(f.data),
            )
        problems = ", ".join(f"{n} {w}" for w, n in counts.items() if n)
        if p.min_spacing is not None:
            problems = ", ".join(
                x
                for x in (
                    problems,
                    f"{len(dropped)} dropped by the rate limit",
                    f"{len(leaked)} wrongly forwarded" if leaked else "",
                )
                if x
            )
        summary = (
            f"{len(originals)} frame(s) routed {route.src} -> {route.dst}"
            + (f": {problems}" if problems else "")
            + (f", latency max {format_duration(max(latencies))}" if latencies else "")
            + (f", p99 {format_duration(p99)}" if p99 is not None else "")
            + (f" (bound {format_duration(p.p99)})" if p99_bad and p.p99 is not None else "")
        )
        return self.result(fail(ok), summary, m, limits, offender)


class FirewallParams(RouteParams):
    kind: Literal["firewall"]
    allowed: list[CanId] = Field(
        default_factory=list, description="the DUT's own identifiers on the to bus"
    )
    lookback: Duration = Field(
        default=0.1, description="how long before its copy a routed frame's original may be"
    )
    no_return: bool = Field(
        default=False, description="no frame of the to bus is ever sent back on the from bus"
    )


@register
class FirewallCheck(Check):
    """Nothing crosses but the DUT's own frames and routed copies (and, optionally, nothing
    crosses back)."""

    kind = "firewall"
    Params = FirewallParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, FirewallParams)
        self.p = params
        self.route = _Route(params, resolver)
        self.allowed = frozenset(params.allowed)
        super().__init__(params, resolver)

    def describe(self) -> str:
        back = ", nothing back" if self.p.no_return else ""
        return f"firewall {self.route.src} -> {self.route.dst}: only {self.route.describe()}{back}"

    def evaluate(self, window: Window) -> CheckResult:
        p, route = self.p, self.route
        src = window.stream(bus_stream(route.src), FrameLog)
        dst = window.stream(bus_stream(route.dst), FrameLog)
        seen = dut_frames(dst, window.t0, window.t1)
        originals = [
            f
            for f in harness_frames(src, route.ids, window.t0 - p.lookback, window.t1)
            if route.routes(f)
        ]
        crossed = judge_firewall(seen, originals, self.allowed, p.lookback)
        returned: list[Frame] = []
        if p.no_return:
            back = harness_frames(dst, None, window.t0 - p.lookback, window.t1)
            returned = judge_return(dut_frames(src, window.t0, window.t1), back, p.lookback)
        m = {
            "frames": len(seen),
            "own": sum(1 for d in seen if d.can_id in self.allowed),
            "crossed": len(crossed),
            "returned": len(returned),
        }
        m["routed"] = m["frames"] - m["own"] - m["crossed"]
        limits = {"allowed": [f"0x{i:03X}" for i in sorted(self.allowed)], "lookback": p.lookback}
        first: tuple[Frame, str] | None = None
        if crossed:
            first = (
                crossed[0],
                f"crossed: {crossed[0].show(route.dst)} is neither an own "
                f"identifier nor the copy of a frame routed from {route.src}",
            )
        if returned and (first is None or returned[0].ts < first[0].ts):
            first = (
                returned[0],
                f"crossed back: {returned[0].show(route.src)} repeats a frame of {route.dst}",
            )
        offender = None
        if first is not None:
            f, detail = first
            offender = Offender(f.ts, detail, f.can_id, hexdata(f.data))
        summary = (
            f"{m['frames']} DUT frame(s) on {route.dst}: {m['own']} own, {m['routed']} routed, "
            f"{m['crossed']} crossed"
            + (f"; {m['returned']} sent back on {route.src}" if p.no_return else "")
        )
        return self.result(fail(first is None), summary, m, limits, offender)
