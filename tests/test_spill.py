"""Bounded memory: a spilled list is the list it replaced, and checks judge it the same.

Laws, as hypothesis properties: a :class:`~harness.spill.SpillList` answers every question the
observation logs and the checks ask of a list exactly as the list would; and every check of
the reference profile, evaluated over a frame log whose columns were spilled to disk (tiny
chunks, so every path is taken), gives the result it gives over the same stream in memory.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from itertools import islice

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checks.evaluate import evaluate_checks
from harness.observe import FrameLog, Window
from harness.offline import planned_checks
from harness.plan import Plan
from harness.profile.compile import load_profile
from harness.record import CheckResult
from harness.report.svg import _envelope
from harness.spill import SpillList, SpillView, spill_if_large
from tests.conftest import PROFILE

items = st.lists(st.integers(-1000, 1000), max_size=300)


@given(items, st.integers(1, 7), st.integers(-320, 320), st.integers(-320, 320))
def test_a_spill_list_reads_like_the_list(values: list[int], chunk: int, a: int, b: int) -> None:
    spilled = SpillList(values, chunk=chunk)
    assert len(spilled) == len(values)
    assert list(spilled) == values
    for k in (a, b):
        if -len(values) <= k < len(values):
            assert spilled[k] == values[k]
        else:
            with pytest.raises(IndexError):
                spilled[k]
    view = spilled[a:b]
    assert isinstance(view, SpillView)
    assert list(view) == values[a:b]
    assert len(view) == len(values[a:b])
    assert [view[k] for k in range(len(view))] == values[a:b]
    assert list(view[1:]) == values[a:b][1:]
    assert list(islice(spilled, abs(a) % 50, abs(b) % 60)) == values[abs(a) % 50 : abs(b) % 60]
    assert sum(spilled[a:b]) == sum(values[a:b])
    assert spilled == values and spilled == SpillList(values, chunk=2) and view == values[a:b]
    spilled.append(7)
    assert spilled[-1] == 7 and len(spilled) == len(values) + 1
    assert spilled != values


@given(st.lists(st.floats(0, 100, allow_nan=False), max_size=200), st.floats(-1, 101))
def test_bisect_finds_the_same_place(values: list[float], t: float) -> None:
    values.sort()
    spilled = SpillList(values, chunk=3)
    assert bisect_left(spilled, t) == bisect_left(values, t)
    assert bisect_right(spilled, t) == bisect_right(values, t)
    lo, hi = len(values) // 4, len(values) // 2
    assert bisect_right(spilled, t, lo, hi) == bisect_right(values, t, lo, hi)


_PLANS: list[Plan] = []


def reference_plan() -> Plan:
    if not _PLANS:
        _PLANS.append(load_profile(PROFILE))
    return _PLANS[0]


IDS = (0x3A0, 0x3B0, 0x100, 0x555, 0x7E8)  # TCU_Status, TCU_Command, rest-bus, foreign, UDS


@st.composite
def streams(draw: st.DrawFn) -> list[tuple[float, int, bytes, bool]]:
    n = draw(st.integers(0, 120))
    t = 0.0
    out = []
    for _ in range(n):
        t += draw(st.sampled_from([0.0, 0.001, 0.05, 0.1, 0.1, 0.1, 0.12, 0.3]))
        can_id = draw(st.sampled_from(IDS))
        data = draw(st.binary(min_size=0, max_size=8))
        out.append((t, can_id, data, draw(st.booleans())))
    return out


def fill(stream: list[tuple[float, int, bytes, bool]], spill: bool) -> FrameLog:
    log = FrameLog()
    for k, (t, can_id, data, rx) in enumerate(stream):
        (log.add_rx if rx else log.add_tx)(t, can_id, data)
        if spill and k % 17 == 16:  # spill now and then, as a session does
            for col in (*log.rx.values(), *log.tx.values()):
                spill_if_large(col, ("ts", "data"), at=3, chunk=2)
            spill_if_large(log.rx_all, ("ts",), at=5, chunk=3)
            spill_if_large(log, ("rx_ids", "rx_bits"), at=5, chunk=3)
    return log


def any_spilled(log: FrameLog) -> bool:
    return any(isinstance(col.ts, SpillList) for col in (*log.rx.values(), *log.tx.values()))


def judged(plan: Plan, log: FrameLog, t0: float, t1: float) -> list[str]:
    results: list[CheckResult] = []
    for case in plan.cases:
        checks = planned_checks(plan, case)
        window = Window(t0, t1, log, {}, plan.bitrate)
        results.extend(evaluate_checks(checks, window))
    return [json.dumps(r.to_json(), sort_keys=True) for r in results]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.floats(0, 5), st.floats(0, 15))
def test_every_check_judges_a_spilled_log_as_the_log_in_memory(
    stream: list[tuple[float, int, bytes, bool]], t0: float, length: float
) -> None:
    plan = reference_plan()
    in_memory = fill(stream, spill=False)
    spilled = fill(stream, spill=True)
    if len(stream) >= 34:  # the spilled side really is on disk (two spills, 5 identifiers)
        assert any_spilled(spilled)
    assert judged(plan, spilled, t0, t0 + length) == judged(plan, in_memory, t0, t0 + length)


@given(st.lists(st.tuples(st.floats(0, 620), st.floats(0, 240)), min_size=1, max_size=3000))
def test_a_thinned_line_keeps_every_column_extremes(points: list[tuple[float, float]]) -> None:
    points.sort()
    thin = _envelope(points)
    assert len(thin) <= 4 * (621 + 1)
    assert thin[0] == points[0] and thin[-1] == points[-1]
    for col in {round(x) for x, _ in points}:
        ys = [y for x, y in points if round(x) == col]
        kept = [y for x, y in thin if round(x) == col]
        assert min(kept) == min(ys) and max(kept) == max(ys)
