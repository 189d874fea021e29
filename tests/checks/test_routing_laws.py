"""The checks of two buses, ``routed`` and ``firewall`` (harness/checks/can_routing.py and
routing_frames.py), as laws.

Each check's verdict and measurements over two frame logs equal a brute-force evaluation of
the same two frame streams (plain lists, every question answered by a scan of all frames, as
the module docstring states the rules). The streams are generated: frames on the ``from`` bus
(routed identifiers and others, classic, FD and 29-bit, payloads from a small alphabet so
that equal frames occur), each copied with a random latency, dropped, altered, or copied
twice; frames leaked onto the ``to`` bus, the DUT's own frames, and frames sent back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.can.dbc import load_dbc
from harness.checks import CHECKS, Check, Resolver
from harness.errors import ProfileError
from harness.observe import FLAG_EXTENDED, FLAG_FD, FrameLog, Window
from harness.record import Verdict

DBC = Path(__file__).resolve().parents[2] / "dbc" / "cc-tcu-1.dbc"
DB = load_dbc(DBC)
RULE = {"from": "front", "to": "rear", "first": 0x300, "last": 0x302, "format": "classic"}
RULE_IDS = {0x300, 0x301, 0x302}
OWN = 0x110
MAX = 0.005
LOOKBACK = 0.01


def make(spec: dict[str, Any]) -> Check:
    def error(path: Any, **kw: Any) -> ProfileError:
        return ProfileError(path=str(path), **kw)

    cls = CHECKS.get(spec["kind"])
    return cls(cls.Params.model_validate(spec), Resolver(DB, {}, [], error, ("check",), []))


@dataclass(frozen=True)
class F:
    ts: float
    can_id: int
    data: bytes
    flags: int = 0


def same(a: F, b: F) -> bool:
    return (a.can_id, a.flags & 3, a.data) == (b.can_id, b.flags & 3, b.data)


def routes(f: F) -> bool:
    return f.can_id in RULE_IDS and not f.flags & FLAG_FD


us = st.integers(min_value=0, max_value=40_000).map(lambda n: n / 1e6)
payload = st.lists(st.integers(min_value=0, max_value=2), max_size=2).map(bytes)
flags = st.sampled_from([0, 0, 0, FLAG_FD, FLAG_EXTENDED])
latency = st.one_of(
    st.integers(min_value=0, max_value=2500), st.integers(min_value=0, max_value=16_000)
).map(lambda n: n / 1e6)
fate = st.one_of(
    st.tuples(st.just("copy"), latency),
    st.tuples(st.just("drop"), latency),
    st.tuples(st.just("alter"), latency),
    st.tuples(st.just("twice"), latency),
)
original = st.tuples(us, st.sampled_from([0x300, 0x300, 0x301, 0x303]), payload, flags, fate)
extra = st.tuples(us, st.sampled_from([OWN, 0x300, 0x301, 0x305]), payload, flags)


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[F], list[F], list[F], list[F], float, float]:
    """Harness frames on from, DUT frames on to, DUT frames on from, harness frames on to,
    and the window."""
    src: list[F] = []
    dst: list[F] = []
    for ts, can_id, data, fl, (what, lat) in draw(st.lists(original, min_size=2, max_size=30)):
        f = F(ts, can_id, data, fl)
        src.append(f)
        if what == "drop":
            continue
        out = data if what != "alter" else bytes([7]) + data
        dst.append(F(round(ts + lat, 6), can_id, out, fl))
        if what == "twice":
            dst.append(F(round(ts + lat + 0.001, 6), can_id, data, fl))
    dst += [F(*e) for e in draw(st.lists(extra, max_size=6))]
    back = [F(*e) for e in draw(st.lists(extra, max_size=4))]  # harness frames on to
    returned = [F(*e) for e in draw(st.lists(extra, max_size=3))]  # DUT frames on from
    returned += [F(round(b.ts + 0.002, 6), b.can_id, b.data, b.flags) for b in back[:1]]
    t0 = draw(st.integers(min_value=0, max_value=10_000)) / 1e6
    t1 = t0 + draw(st.integers(min_value=15_000, max_value=60_000)) / 1e6
    return src, dst, returned, back, t0, t1


def logs(src: list[F], dst: list[F], returned: list[F], back: list[F]) -> dict[str, FrameLog]:
    front, rear = FrameLog(), FrameLog()
    for f in sorted(src, key=lambda f: f.ts):
        front.add_tx(f.ts, f.can_id, f.data, f.flags)
    for f in sorted(returned, key=lambda f: f.ts):
        front.add_rx(f.ts, f.can_id, f.data, f.flags)
    for f in sorted(dst, key=lambda f: f.ts):
        rear.add_rx(f.ts, f.can_id, f.data, f.flags)
    for f in sorted(back, key=lambda f: f.ts):
        rear.add_tx(f.ts, f.can_id, f.data, f.flags)
    return {"can.front": front, "can.rear": rear}


def brute_limit(order: list[F], spacing: float) -> list[bool]:
    """Whether each frame (routed, in time order) is dropped: less than ``spacing`` after the
    last frame of its identifier, among those before it, that is not dropped."""
    drop: list[bool] = []
    for n, f in enumerate(order):
        kept = [
            g.ts for g, d in zip(order[:n], drop, strict=True) if g.can_id == f.can_id and not d
        ]
        drop.append(bool(kept) and round((f.ts - max(kept)) * 1e6) < round(spacing * 1e6))
    return drop


def brute_routed(
    src: list[F], dst: list[F], t0: float, t1: float, spacing: float | None = None
) -> dict[str, Any]:
    order = sorted(src, key=lambda f: (f.ts, f.can_id))
    history = [f for f in order if f.ts <= t1 - MAX and routes(f)]
    drop = brute_limit(history, spacing) if spacing is not None else [False] * len(history)
    origs = [f for f, d in zip(history, drop, strict=True) if t0 <= f.ts and not d]
    dropped = [f for f, d in zip(history, drop, strict=True) if t0 <= f.ts and d]
    copies = [d for d in sorted(dst, key=lambda d: d.ts) if t0 <= d.ts <= t1]
    copies = [d for d in copies if d.can_id in RULE_IDS]
    claimed: set[int] = set()
    match: list[int | None] = []
    for f in origs:
        hit = next(
            (i for i, d in enumerate(copies) if i not in claimed and d.ts >= f.ts and same(d, f)),
            None,
        )
        if hit is not None:
            claimed.add(hit)
        match.append(hit)
    leaked = []
    for f in dropped:
        hit = next(
            (
                i
                for i, d in enumerate(copies)
                if i not in claimed and f.ts <= d.ts <= f.ts + MAX + 1e-9 and same(d, f)
            ),
            None,
        )
        if hit is not None:
            claimed.add(hit)
            leaked.append(f)
    paired: set[int] = set()
    counts = {"missing": 0, "altered": 0, "late": 0, "reordered": 0}
    lats = []
    for n, (f, hit) in enumerate(zip(origs, match, strict=True)):
        if hit is None:
            alt = next(
                (
                    i
                    for i, d in enumerate(copies)
                    if i not in claimed
                    and i not in paired
                    and d.can_id == f.can_id
                    and d.ts >= f.ts
                ),
                None,
            )
            if alt is None:
                counts["missing"] += 1
            else:
                paired.add(alt)
                counts["altered"] += 1
            continue
        lat = copies[hit].ts - f.ts
        lats.append(lat)
        earlier = [match[k] for k in range(n) if origs[k].can_id == f.can_id]
        if any(e is not None and e > hit for e in earlier):
            counts["reordered"] += 1
        elif lat > MAX + 1e-9:
            counts["late"] += 1
    p99 = sorted(lats)[max(0, math.ceil(0.99 * len(lats)) - 1)] if lats else None
    return {
        "count": len(origs),
        "latency_max": max(lats) if lats else None,
        "p99": p99,
        **counts,
        "dropped": len(dropped),
        "leaked": leaked,
    }


@settings(max_examples=300, deadline=None)
@given(scenario())
def test_routed_is_the_brute_force_evaluation(s: Any) -> None:
    src, dst, returned, back, t0, t1 = s
    check = make({"kind": "routed", **RULE, "max_latency": "5 ms", "p99": "2 ms"})
    got = check.evaluate(Window(t0, t1, streams=logs(src, dst, returned, back)))
    want = brute_routed(src, dst, t0, t1)
    m = got.measurements
    assert m["count"] == want["count"]
    for what in ("missing", "altered", "late", "reordered"):
        assert m[what] == want[what], (what, m, want)
    assert m["latency_max"] == want["latency_max"]
    assert m["latency_p99"] == want["p99"]
    if not want["count"]:
        assert got.verdict is Verdict.INCONCLUSIVE
        return
    bad = any(want[w] for w in ("missing", "altered", "late", "reordered"))
    bad = bad or (want["p99"] is not None and want["p99"] > 0.002 + 1e-9)
    assert got.verdict is (Verdict.FAIL if bad else Verdict.PASS)
    assert (got.offender is not None) == any(
        want[w] for w in ("missing", "altered", "late", "reordered")
    )


def brute_firewall(
    src: list[F], dst: list[F], returned: list[F], back: list[F], t0: float, t1: float
) -> tuple[int, int, float | None]:
    look = LOOKBACK
    origs = [f for f in sorted(src, key=lambda f: (f.ts, f.can_id)) if routes(f)]
    origs = [f for f in origs if t0 - look <= f.ts <= t1]
    used: set[int] = set()
    crossed = []
    for d in [d for d in sorted(dst, key=lambda d: d.ts) if t0 <= d.ts <= t1]:
        if d.can_id == OWN:
            continue
        hit = next(
            (
                i
                for i, o in enumerate(origs)
                if i not in used and d.ts - look - 1e-9 <= o.ts <= d.ts and same(o, d)
            ),
            None,
        )
        if hit is None:
            crossed.append(d)
        else:
            used.add(hit)
    sent_back = [
        r
        for r in sorted(returned, key=lambda r: r.ts)
        if t0 <= r.ts <= t1
        and any(
            t0 - look <= b.ts and r.ts - look - 1e-9 <= b.ts <= r.ts and same(b, r) for b in back
        )
    ]
    firsts = [x[0].ts for x in (crossed, sent_back) if x]
    return len(crossed), len(sent_back), min(firsts) if firsts else None


@settings(max_examples=300, deadline=None)
@given(scenario())
def test_firewall_is_the_brute_force_evaluation(s: Any) -> None:
    src, dst, returned, back, t0, t1 = s
    check = make(
        {"kind": "firewall", **RULE, "allowed": [OWN], "no_return": True, "lookback": "10 ms"}
    )
    got = check.evaluate(Window(t0, t1, streams=logs(src, dst, returned, back)))
    crossed, sent_back, first = brute_firewall(src, dst, returned, back, t0, t1)
    assert got.measurements["crossed"] == crossed
    assert got.measurements["returned"] == sent_back
    assert got.verdict is (Verdict.FAIL if crossed or sent_back else Verdict.PASS)
    assert (got.offender.timestamp if got.offender else None) == first


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(us, st.sampled_from(sorted(RULE_IDS)), payload), min_size=1))
def test_a_gateway_that_copies_everything_at_once_passes_both(frames: Any) -> None:
    """The truth the rules must keep: clean routing (each routed frame copied once, 1 ms
    later, in order) passes both checks over a window that holds it all."""
    src = [F(ts, i, d) for ts, i, d in frames]
    dst = [F(round(f.ts + 0.001, 6), f.can_id, f.data) for f in sorted(src, key=lambda f: f.ts)]
    streams = logs(src, dst, [], [])
    window = Window(0.0, 0.1, streams=streams)
    routed = make({"kind": "routed", **RULE, "max_latency": "5 ms", "p99": "2 ms"})
    firewall = make({"kind": "firewall", **RULE, "allowed": [OWN], "no_return": True})
    assert routed.evaluate(window).verdict is Verdict.PASS
    assert firewall.evaluate(window).verdict is Verdict.PASS


# The rate limit (``min_spacing``, CC-GW-1's GW-006). Times on a 0.5 ms grid with an
# occasional 1 µs offset, so that gaps of exactly 5 ms and 1 µs either side of it occur; the
# DUT drops by a limiter of its own (right, 1 µs or 1 ms off, or none), then copies, drops,
# alters or doubles as above.
SPACING = 0.005
grid = st.tuples(st.integers(min_value=0, max_value=60), st.sampled_from([0, 0, 0, 1, -1])).map(
    lambda t: max(0, t[0] * 500 + t[1]) / 1e6
)
limited = st.tuples(grid, st.sampled_from([0x300, 0x300, 0x301, 0x303]), payload, flags, fate)


@st.composite
def limited_scenario(draw: st.DrawFn) -> tuple[list[F], list[F], float, float]:
    """Harness frames on from, DUT frames on to (through the DUT's limiter), the window."""
    dut_spacing = draw(st.sampled_from([None, 0.005, 0.005, 0.004999, 0.005001, 0.004, 0.006]))
    frames = sorted(draw(st.lists(limited, min_size=2, max_size=30)), key=lambda o: o[0])
    src = [F(ts, can_id, data, fl) for ts, can_id, data, fl, _ in frames]
    last: dict[int, float] = {}
    dst: list[F] = []
    for f, (*_, (what, lat)) in zip(src, frames, strict=True):
        if routes(f) and dut_spacing is not None:
            if f.can_id in last and round((f.ts - last[f.can_id]) * 1e6) < dut_spacing * 1e6:
                if what != "twice":  # twice: forwarded all the same (once)
                    continue
            else:
                last[f.can_id] = f.ts
        if what == "drop" or (not routes(f) and what != "twice"):  # twice: leaked
            continue
        out = f.data if what != "alter" else bytes([7]) + f.data
        dst.append(F(round(f.ts + lat, 6), f.can_id, out, f.flags))
    t0 = draw(st.integers(min_value=0, max_value=10_000)) / 1e6
    t1 = t0 + draw(st.integers(min_value=15_000, max_value=60_000)) / 1e6
    return src, dst, t0, t1


def routed_disagrees(s: tuple[list[F], list[F], float, float]) -> str | None:
    """How ``routed`` with ``min_spacing: 5 ms`` differs from the brute-force evaluation of
    the same streams (None: it does not)."""
    src, dst, t0, t1 = s
    check = make(
        {"kind": "routed", **RULE, "max_latency": "5 ms", "p99": "2 ms", "min_spacing": "5 ms"}
    )
    got = check.evaluate(Window(t0, t1, streams=logs(src, dst, [], [])))
    want = brute_routed(src, dst, t0, t1, SPACING)
    m = got.measurements
    problems = ("missing", "altered", "late", "reordered")
    pairs = [(m[w], want[w]) for w in (*problems, "count", "dropped")]
    pairs += [(m["wrongly_forwarded"], len(want["leaked"]))]
    pairs += [(m["latency_max"], want["latency_max"]), (m["latency_p99"], want["p99"])]
    if any(a != b for a, b in pairs):
        return f"measurements {m} != {want}"
    if not want["count"] and not want["dropped"]:
        return None if got.verdict is Verdict.INCONCLUSIVE else f"verdict {got.verdict}"
    bad = any(want[w] for w in problems) or bool(want["leaked"])
    verdict = Verdict.FAIL if bad or (want["p99"] or 0) > 0.002 + 1e-9 else Verdict.PASS
    if got.verdict is not verdict:
        return f"verdict {got.verdict} != {verdict}"
    if (got.offender is not None) != bad:
        return f"offender {got.offender}"
    if got.offender is not None and want["leaked"] and not any(want[w] for w in problems):
        f = want["leaked"][0]
        said = got.offender.describe()
        if got.offender.timestamp != f.ts or "wrongly forwarded" not in said:
            return f"offender {said} is not the first frame wrongly forwarded, {f}"
    return None


@settings(max_examples=400, deadline=None)
@given(st.one_of(limited_scenario(), scenario().map(lambda s: (s[0], s[1], s[4], s[5]))))
def test_routed_with_min_spacing_is_the_brute_force_evaluation(s: Any) -> None:
    assert routed_disagrees(s) is None


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(grid, st.sampled_from(sorted(RULE_IDS)), payload), min_size=1))
def test_a_gateway_that_rate_limits_by_the_contract_passes(frames: Any) -> None:
    """The truth the rule must keep: a part that forwards a frame 1 ms later when it comes at
    least 5 ms after the last one it forwarded of its identifier (exactly 5 ms forwarded), and
    drops it otherwise, passes; the frames it forwards and drops are the check's."""
    src = sorted((F(ts, i, d) for ts, i, d in frames), key=lambda f: (f.ts, f.can_id))
    last: dict[int, float] = {}
    dst = []
    for f in src:
        if f.can_id not in last or round((f.ts - last[f.can_id]) * 1e6) >= 5000:
            last[f.can_id] = f.ts
            dst.append(F(round(f.ts + 0.001, 6), f.can_id, f.data))
    check = make({"kind": "routed", **RULE, "max_latency": "5 ms", "min_spacing": "5 ms"})
    got = check.evaluate(Window(0.0, 0.1, streams=logs(src, dst, [], [])))
    assert got.verdict is Verdict.PASS, got.summary
    assert got.measurements["count"] == len(dst)
    assert got.measurements["dropped"] == len(src) - len(dst)


def test_exactly_min_spacing_is_forwarded_and_each_wrong_fate_is_named() -> None:
    """Frames at 0, 3, 5, 8, 9.999 and 10 ms: 0, 5 and 10 forwarded (5 and 10 at exactly
    5 ms), 3, 8 and 9.999 dropped. A part that drops the 5 ms one, or forwards the 3 ms one,
    fails naming that frame, its time and data."""
    times = [0.0, 0.003, 0.005, 0.008, 0.009999, 0.010]
    src = [F(t, 0x300, bytes([n])) for n, t in enumerate(times)]
    check = make({"kind": "routed", **RULE, "max_latency": "5 ms", "min_spacing": "5 ms"})

    def run(copied: list[int]) -> Any:
        dst = [F(round(src[n].ts + 0.001, 6), 0x300, src[n].data) for n in copied]
        return check.evaluate(Window(0.0, 0.05, streams=logs(src, dst, [], [])))

    good = run([0, 2, 5])
    assert good.verdict is Verdict.PASS, good.summary
    assert good.measurements["count"] == 3 and good.measurements["dropped"] == 3
    late_drop = run([0, 5])
    assert late_drop.verdict is Verdict.FAIL and late_drop.offender is not None
    said = late_drop.offender.describe()
    assert late_drop.offender.timestamp == 0.005 and "wrongly dropped: 0x300 [02]" in said, said
    assert "5.000 ms after the last forwarded frame" in said, said
    leak = run([0, 1, 2, 5])
    assert leak.verdict is Verdict.FAIL and leak.offender is not None
    said = leak.offender.describe()
    assert leak.offender.timestamp == 0.003 and "wrongly forwarded: 0x300 [01]" in said, said
    assert leak.measurements["wrongly_forwarded"] == 1


def test_the_law_catches_a_rate_limit_one_step_off(monkeypatch: Any) -> None:
    """The law is able to fail: with the spacing comparison off at the boundary (exactly
    min_spacing dropped), or off by 1 µs, hypothesis finds streams where the check and the
    brute-force evaluation disagree."""
    from hypothesis import HealthCheck, Phase, find
    from hypothesis import settings as with_settings

    from harness.checks import routing_frames

    mutants = {
        "boundary": lambda gap, spacing: gap <= spacing + 1e-9,
        "one µs short": lambda gap, spacing: gap < spacing - 1e-6 - 1e-9,
    }
    for name, mutant in mutants.items():
        monkeypatch.setattr(routing_frames, "too_close", mutant)
        found = find(
            limited_scenario(),
            lambda s: routed_disagrees(s) is not None,
            settings=with_settings(
                max_examples=2000,
                database=None,
                phases=[Phase.generate],  # the first found will do: no shrinking
                suppress_health_check=list(HealthCheck),
            ),
        )
        assert routed_disagrees(found) is not None, name
