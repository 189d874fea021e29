"""The report's plots: what each check judged, drawn from the frames themselves.

Each function takes the compiled check, its recorded result (window, limits) and the
:class:`~harness.observe.FrameLog` (live, or rebuilt from the trace) and returns inline SVG.
Times are seconds since the case started; the tolerance is a shaded band, frames outside it
are red. Plots only show; verdicts and measurements come from the record.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import islice, pairwise

from harness.checks import Check
from harness.checks.can_e2e import AliveCounterCheck, E2ECrcCheck
from harness.checks.can_signal import FlagCheck, LatencyCheck, SignalCheck
from harness.checks.can_timing import AllowedIdsCheck, BusLoadCheck, CycleTimeCheck
from harness.observe import FrameLog
from harness.record import CaseRecord, CheckResult, Verdict
from harness.report.svg import Chart, nice_ticks

__all__ = ["LatencyRow", "check_plots", "latency_chart", "latency_rows"]

_MAX_TIPS = 200  # hover titles on at most this many offending points


def _pad(lo: float, hi: float, frac: float = 0.08) -> tuple[float, float]:
    span = (hi - lo) or max(abs(hi), 1.0)
    return lo - span * frac, hi + span * frac


def _cycle(check: CycleTimeCheck, result: CheckResult, log: FrameLog, t0: float) -> list[str]:
    assert result.window is not None
    w0, w1 = result.window
    col = log.rx_of(check.msg.frame_id)
    i, j = col.span(w0, w1)
    if check.p.include_entering and i > 0:
        i -= 1
    ts = col.ts[i:j]
    lo, hi = check.p.min * 1e3, check.p.max * 1e3
    xs = [t - t0 for t in ts[1:]]
    ys = [(b - a) * 1e3 for a, b in pairwise(ts)]
    name = check.msg.name
    y_lo, y_hi = _pad(min([lo, *ys]), max([hi, *ys]), 0.15)
    chart = Chart(
        (w0 - t0, w1 - t0),
        (max(0.0, y_lo), y_hi),
        title=f"{name} interval between frames, against {lo:g}..{hi:g} ms",
        x_label="time since case start (s)",
        y_label="interval (ms)",
    )
    chart.band(lo, hi)
    chart.key("band", "tolerance")
    good = [(x, y) for x, y in zip(xs, ys, strict=True) if lo - 1e-9 <= y <= hi + 1e-9]
    bad = [(x, y) for x, y in zip(xs, ys, strict=True) if not lo - 1e-9 <= y <= hi + 1e-9]
    chart.points([x for x, _ in good], [y for _, y in good], "ok")
    if bad:
        chart.key("bad", f"{len(bad)} outside")
        tips = [f"t={x:.6f} s: interval {y:.3f} ms" for x, y in bad]
        chart.points(
            [x for x, _ in bad], [y for _, y in bad], "bad", tips if len(bad) <= _MAX_TIPS else None
        )
    if len(ts) < 2:
        chart.text((w0 + w1) / 2 - t0, (y_lo + y_hi) / 2, "fewer than two frames", anchor="middle")
    return [chart.render(), _histogram(ys, lo, hi, name)] if ys else [chart.render()]


def _histogram(values: Sequence[float], lo: float, hi: float, name: str) -> str:
    d_lo, d_hi = _pad(min([lo, *values]), max([hi, *values]), 0.2)
    d_lo = max(0.0, d_lo)
    ticks = nice_ticks(d_lo, d_hi, 40)
    width = ticks[1] - ticks[0] if len(ticks) > 1 else max(d_hi - d_lo, 1.0) / 40
    start = ticks[0] - width if ticks else d_lo
    counts: Counter[int] = Counter(int((v - start) // width) for v in values)
    top = max(counts.values()) if counts else 1
    chart = Chart(
        (d_lo, d_hi),
        (0.0, top * 1.12),
        title=f"{name}: histogram of {len(values)} intervals",
        x_label="interval (ms)",
        y_label="intervals",
        width=390,
        height=240,
    )
    chart.vspan(lo, hi)
    for k, n in sorted(counts.items()):
        a = start + k * width
        mid = a + width / 2
        css = "ok" if lo - 1e-9 <= mid <= hi + 1e-9 else "bad"
        chart.bar(
            a + width * 0.08, a + width * 0.92, 0.0, n, css, f"{a:.3f}..{a + width:.3f} ms: {n}"
        )
    chart.key("band", "tolerance")
    return chart.render()


def _bus_load(
    check: BusLoadCheck, result: CheckResult, log: FrameLog, t0: float, bitrate: int
) -> str:
    assert result.window is not None
    w0, w1 = result.window
    width = min(check.p.window, w1 - w0) or check.p.window
    ts = log.rx_all.ts
    i, j = log.rx_all.span(w0, w1)
    # CAN FD data-phase bits drawn at the nominal rate (an upper bound; the check uses the
    # profile's data bit rate)
    bits = log.frame_time_bits(i, j, 1.0)
    samples = 300
    xs: list[float] = []
    ys: list[float] = []
    for k in range(samples + 1):  # 301 windows read from the log: bounded, however long
        t = w0 + width + (w1 - w0 - width) * k / samples
        a = bisect_right(ts, t - width, i, j)
        b = bisect_right(ts, t, i, j)
        xs.append(t - t0)
        ys.append(100.0 * sum(bits[a - i : b - i]) / (width * bitrate))
    limit = check.p.max_percent
    peak = result.measurements.get("peak_percent")
    top = max([limit * 1.25, *ys, *([peak * 1.1] if isinstance(peak, (int, float)) else [])])
    chart = Chart(
        (w0 - t0, w1 - t0),
        (0.0, top),
        title=f"DUT bus load per {width:g} s window, against {limit:g} %",
        x_label="time since case start (s)",
        y_label="load (%)",
    )
    chart.band(0.0, limit)
    chart.hline(limit, "limit", f"limit {limit:g} %")
    chart.polyline(xs, ys, "line")
    chart.key("band", "allowed")
    if result.offender is not None and isinstance(peak, (int, float)):
        css = "bad" if result.verdict is Verdict.FAIL else "ok"
        chart.points([result.offender.timestamp - t0], [peak], css, [f"peak {peak:.2f} %"])
    return chart.render()


class LatencyRow:
    """One latency against its allowed range, for the bar charts."""

    def __init__(self, label: str, value: float | None, lo: float, hi: float, link: str = ""):
        self.label = label
        self.value = value
        self.lo = lo
        self.hi = hi
        self.link = link

    @property
    def ok(self) -> bool:
        return self.value is not None and self.lo <= self.value <= self.hi + 1e-12


def latency_chart(rows: Sequence[LatencyRow], title: str, width: int = 390) -> str:
    """Horizontal bars (ms): each latency against its own allowed range."""
    top = max([*(r.hi for r in rows), *(r.value or 0.0 for r in rows)]) * 1e3 * 1.15 or 1.0
    height = 70 + 26 * len(rows)
    chart = Chart(
        (0.0, top),
        (0.0, float(len(rows))),
        title=title,
        x_label="latency (ms)",
        y_label="",
        width=width,
        height=height,
        left=150 if width < 500 else 190,
    )  # room for row names
    for k, row in enumerate(rows):
        y = len(rows) - k - 1
        chart.bar(row.lo * 1e3, row.hi * 1e3, y + 0.1, y + 0.9, "band", "allowed")
        if row.value is None:
            chart.text(0.01 * top, y + 0.35, "no frame: never happened", "bad-text")
            continue
        css = "ok" if row.ok else "bad"
        value = row.value * 1e3
        chart.bar(0.0, value, y + 0.3, y + 0.7, css, f"{row.label}: {value:.3f} ms")
        chart.text(value + top * 0.01, y + 0.35, f"{value:.3f} ms")
    chart.key("band", "allowed")
    ticks = [(len(rows) - k - 0.5, r.label[: chart.LEFT // 7]) for k, r in enumerate(rows)]
    return chart.render(y_ticks=ticks)


def latency_rows(case: CaseRecord, result: CheckResult) -> list[LatencyRow]:
    """The latencies a latency or flag check measured, with the limits it applied."""
    m, lim = result.measurements, result.limits
    rows: list[LatencyRow] = []

    def num(value: object) -> float | None:
        return float(value) if isinstance(value, (int, float)) else None

    link = f"#case-{case.case_id}"
    if result.kind == "latency" and ("latency" in m or "waited" not in m):
        hi = num(lim.get("within")) or 0.0
        rows.append(
            LatencyRow(
                f"{case.case_id} latency",
                num(m.get("latency")),
                num(lim.get("not_before")) or 0.0,
                hi,
                link,
            )
        )
    if result.kind == "flag":
        for what in ("set", "clear"):
            limit = num(lim.get(f"{what}_within"))
            if f"{what}_latency" in m and limit is not None:
                rows.append(
                    LatencyRow(
                        f"{case.case_id} {what}", num(m.get(f"{what}_latency")), 0.0, limit, link
                    )
                )
    return rows


def _flag(check: FlagCheck, result: CheckResult, case: CaseRecord, log: FrameLog) -> list[str]:
    assert result.window is not None
    w0, w1 = result.window
    t0 = case.started
    col = log.rx_of(check.msg.frame_id)
    i, j = col.span(w0, w1)
    raw, is_set = check.sig.raw, check.raw_set
    xs = [t - t0 for t in col.ts[i:j]]
    ys = [1.0 if raw(d) == is_set else 0.0 for d in col.data[i:j]]
    chart = Chart(
        (w0 - t0, w1 - t0),
        (-0.25, 1.25),
        title=f"{check.msg.name}.{check.sig.name} over the case, with its deadlines",
        x_label="time since case start (s)",
        y_label=check.sig.name,
        height=200,
    )
    deadlines = [(check.set_marker, check.p.set_within)]
    if check.clear_marker and check.p.clear_within is not None:
        deadlines.append((check.clear_marker, check.p.clear_within))
    for name, within in deadlines:
        t = case.markers.get(name)
        if t is not None:
            chart.vspan(t - t0, t - t0 + within)
            chart.vline(t - t0, "marker", name)
    chart.steps(xs, ys, "line")
    chart.key("band", "deadline")
    out = [chart.render(y_ticks=[(0.0, "clear"), (1.0, "set")])]
    rows = latency_rows(case, result)
    if rows:
        out.append(latency_chart(rows, "latencies against their limits"))
    return out


def _alive(check: AliveCounterCheck, result: CheckResult, log: FrameLog, t0: float) -> str:
    assert result.window is not None
    w0, w1 = result.window
    col = log.rx_of(check.msg.frame_id)
    i, j = col.span(w0, w1)
    ctr, step = check.counter, check.step
    read = [(ctr.read(d), t - t0) for d, t in zip(col.data[i:j], col.ts[i:j], strict=True)]
    values = [v for v, _ in read if v is not None]
    xs = [x for v, x in read if v is not None]
    bad = {k for k in range(1, len(values)) if values[k] != ctr.next(values[k - 1])}
    chart = Chart(
        (w0 - t0, w1 - t0),
        (ctr.minimum - 0.5, ctr.high + 0.5),
        title=f"{check.msg.name} alive counter (each frame; red: not previous + {step})",
        x_label="time since case start (s)",
        y_label="counter",
        height=200,
    )
    chart.polyline(xs, [float(v) for v in values], "thin")
    chart.points(
        [x for k, x in enumerate(xs) if k not in bad],
        [float(v) for k, v in enumerate(values) if k not in bad],
        "ok",
    )
    if bad:
        chart.key("bad", f"{len(bad)} bad steps")
        chart.points([xs[k] for k in sorted(bad)], [float(values[k]) for k in sorted(bad)], "bad")
    return chart.render()


def _crc(check: E2ECrcCheck, result: CheckResult, log: FrameLog, t0: float) -> str:
    assert result.window is not None
    w0, w1 = result.window
    col = log.rx_of(check.msg.frame_id)
    i, j = col.span(w0, w1)
    ok = check.prot.verify
    xs = [t - t0 for t in col.ts[i:j]]
    flags = [ok(d) for d in col.data[i:j]]
    chart = Chart(
        (w0 - t0, w1 - t0),
        (-0.5, 1.5),
        title=f"{check.msg.name} {check.prot.word} of each frame",
        x_label="time since case start (s)",
        y_label="",
        height=150,
    )
    chart.points([x for x, f in zip(xs, flags, strict=True) if f], [1.0] * sum(flags), "ok")
    chart.points(
        [x for x, f in zip(xs, flags, strict=True) if not f],
        [0.0] * (len(flags) - sum(flags)),
        "bad",
    )
    return chart.render(y_ticks=[(0.0, "wrong"), (1.0, "right")])


def _signal(check: SignalCheck, result: CheckResult, log: FrameLog, t0: float) -> str:
    assert result.window is not None
    w0, w1 = result.window
    cond = check.cond
    sig = cond.sig
    col = log.rx_of(check.msg.frame_id)
    i, j = col.span(w0, w1)
    pts = [
        (t - t0, raw * sig.scale + sig.offset, cond.matches(d))
        for t, d in zip(col.ts[i:j], col.data[i:j], strict=True)
        if (raw := sig.raw(d)) is not None
    ]
    ys = [y for _, y, _ in pts]
    bounds = [b for b in (cond.lo, cond.hi) if b is not None]
    lo, hi = _pad(min([*ys, *bounds], default=0.0), max([*ys, *bounds], default=1.0), 0.15)
    chart = Chart(
        (w0 - t0, w1 - t0),
        (lo, hi),
        title=f"{check.msg.name}.{cond.describe()}",
        x_label="time since case start (s)",
        y_label=f"{sig.name} {sig.unit}".strip(),
        height=200,
    )
    if bounds:
        chart.band(cond.lo if cond.lo is not None else lo, cond.hi if cond.hi is not None else hi)
        chart.key("band", "allowed")
    chart.points([x for x, _, m in pts if m], [y for _, y, m in pts if m], "ok")
    chart.points([x for x, _, m in pts if not m], [y for _, y, m in pts if not m], "bad")
    return chart.render()


def _allowed(check: AllowedIdsCheck, result: CheckResult, log: FrameLog) -> str:
    assert result.window is not None
    i, j = log.rx_all.span(*result.window)
    counts = Counter(islice(log.rx_ids, i, j))
    ids = sorted(counts)
    top = max(counts.values(), default=1) * 1.15
    chart = Chart(
        (0.0, float(top)),
        (0.0, float(len(ids)) or 1.0),
        title="DUT frames per identifier (red: not allowed)",
        x_label="frames in the window",
        y_label="",
        height=70 + 24 * max(len(ids), 1),
    )
    for k, can_id in enumerate(ids):
        y = len(ids) - k - 1
        css = "ok" if can_id in check.allowed else "bad"
        chart.bar(0.0, counts[can_id], y + 0.2, y + 0.8, css, f"0x{can_id:03X}: {counts[can_id]}")
    return chart.render(y_ticks=[(len(ids) - k - 0.5, f"0x{c:03X}") for k, c in enumerate(ids)])


def check_plots(
    check: Check | None,
    result: CheckResult,
    case: CaseRecord,
    log: FrameLog | None,
    bitrate: int,
    logs: Mapping[str, FrameLog] | None = None,
) -> list[str]:
    """The SVG plots for one recorded check result (none when the data is not at hand).

    A check of one named bus (a profile of several) is drawn from that bus's frames in
    ``logs`` at its bit rate; without them, not drawn (never from another bus's frames)."""
    bus = getattr(check, "bus", None)
    if bus is not None:
        log = (logs or {}).get(bus.name)
        bitrate = bus.bitrate
    if result.kind in ("latency",) and result.measurements:
        rows = latency_rows(case, result)
        plots = [latency_chart(rows, "latency against its limits")] if rows else []
    else:
        plots = []
    if check is None or log is None or result.window is None:
        return plots
    t0 = case.started
    if isinstance(check, CycleTimeCheck):
        return _cycle(check, result, log, t0)
    if isinstance(check, BusLoadCheck):
        return [_bus_load(check, result, log, t0, bitrate)]
    if isinstance(check, FlagCheck):
        return _flag(check, result, case, log)
    if isinstance(check, AliveCounterCheck):
        return [_alive(check, result, log, t0)]
    if isinstance(check, E2ECrcCheck):
        return [_crc(check, result, log, t0)]
    if isinstance(check, SignalCheck):
        return [_signal(check, result, log, t0)]
    if isinstance(check, AllowedIdsCheck):
        return [_allowed(check, result, log)]
    if isinstance(check, LatencyCheck):
        return plots
    return plots
