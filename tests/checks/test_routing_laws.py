"""The checks of two buses, ``routed`` and ``firewall`` (harness/checks/can_routing.py), as laws.

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


def brute_routed(src: list[F], dst: list[F], t0: float, t1: float) -> dict[str, Any]:
    order = sorted(src, key=lambda f: (f.ts, f.can_id))
    origs = [f for f in order if t0 <= f.ts <= t1 - MAX and routes(f)]
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
    return {"count": len(origs), "latency_max": max(lats) if lats else None, "p99": p99, **counts}


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
