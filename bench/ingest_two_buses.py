"""The FD two-bus mix of ``bench/ingest_throughput.py --mix fd-two-buses``.

A deterministic (seeded) stream of ``can.Message`` objects on two buses of one clock
(``bench/data/two-buses.yaml``): on the CAN FD **backbone**, the part's FD frames of 64, 32,
16 (29-bit) and 12 bytes with BRS and the vehicle's 48-byte FD and 8-byte classic frames, and
classic frames of 0x300..0x303 routed through it; on the classic **body** bus, the part's
8-byte frames, the vehicle's, and the routed frames' copies 1 ms later. Each message at its
DBC cycle with +-0.5 ms jitter and random payloads; each frame comes with its bus's index (as
a reader of two python-can buses knows which one it read; the BLF trace sets a frame's
``channel`` as it writes it, so that attribute is not kept for this). Then, in one process
and interleaved, best of ``--repeat``:

* **baseline**: a hand-written single pass on python-can + cantools over the same two buses:
  per frame its bus's stuffed frame length (CAN FD: nominal bits plus data-phase bits at the
  bus's data rate) into a sliding bus-load window, its identifier against the bus's allowed
  set, ``db.decode_message`` with that bus's cantools database for every identifier it knows,
  the interval of each message the part sends against its limits, and the two range-checked
  signals.
* **harness**: every frame through its bus's ``CanPort._on_frame`` into that bus's
  ``FrameLog``, then every check of the profile through ``evaluate_checks`` over one window
  with both buses' streams (each check reading its own bus, as a live run does).
* **harness + trace**: the same with the BLF ``TraceWriter`` recording both buses.
"""

from __future__ import annotations

import argparse
import gc
import random
import tempfile
import time
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import can
import cantools
import cantools.database
from ingest_throughput import HarnessTiming, Stream, all_checks, verdict_text

from harness.can.port import CanPort
from harness.checks.base import Check
from harness.checks.evaluate import evaluate_checks
from harness.clock import EventLoop, VirtualClock
from harness.evidence import TraceWriter
from harness.observe import FrameLog, Window, bus_stream, fd_frame_bits
from harness.plan import Plan, PlannedBus
from harness.record import Verdict

PROFILE = Path(__file__).resolve().parent / "data" / "two-buses.yaml"
STREAM_START = 1.0
JITTER = 0.0005
ROUTED = (0x300, 0x301, 0x302, 0x303)
ROUTED_PERIOD = 0.004  # one routed frame every 4 ms, identifiers in turn
ROUTE_DELAY = 0.001


def build_stream(plan: Plan, n_frames: int, seed: int) -> tuple[Stream, list[int]]:
    """Both buses' frames in time order, exactly ``n_frames`` long, and each one's bus."""
    rng = random.Random(seed)
    buses = plan.bus_list()
    rate = sum(1 / m.cycle_time for b in buses for m in b.dbc.messages.values() if m.cycle_time)
    rate += 2 / ROUTED_PERIOD  # the routed frames on both buses
    duration = n_frames / rate
    t0 = STREAM_START
    events: list[tuple[float, int, int, bytes, bool, bool, str]] = []
    for index, bus in enumerate(buses):
        for m in bus.dbc.messages.values():
            if not m.cycle_time:
                continue
            kind = f"{bus.name} {'FD' if m.is_fd else 'classic'}"
            k = 0
            phase = rng.uniform(0, m.cycle_time)
            while (t := t0 + phase + k * m.cycle_time + rng.uniform(-JITTER, JITTER)) <= (
                t0 + duration
            ):
                events.append(
                    (t, index, m.frame_id, rng.randbytes(m.length), m.is_fd, m.is_extended, kind)
                )
                k += 1
    k = 0
    while (t := t0 + k * ROUTED_PERIOD) <= t0 + duration:
        fid, data = ROUTED[k % len(ROUTED)], rng.randbytes(rng.randrange(9))
        events.append((t, 0, fid, data, False, False, "routed"))
        events.append((t + ROUTE_DELAY, 1, fid, data, False, False, "routed copy"))
        k += 1
    events.sort(key=lambda e: (e[0], e[1]))
    del events[n_frames:]
    frames = [
        can.Message(
            timestamp=t,
            arbitration_id=fid,
            is_extended_id=ext,
            is_fd=fd,
            bitrate_switch=fd,
            data=data,
            dlc=len(data),
            is_rx=True,
            channel=index,
            check=False,
        )
        for t, index, fid, data, fd, ext, _ in events
    ]
    return Stream(frames, {}, Counter(e[-1] for e in events)), [e[1] for e in events]


# -- the plain python-can + cantools loop ---------------------------------------------------------
@dataclass(frozen=True)
class BusSpec:
    """What a hand-written checker hard-codes for one bus, from the same sources."""

    db: Any  # cantools.database.can.Database
    known: frozenset[int]
    allowed: frozenset[int]
    limits: dict[int, tuple[float, float]]  # the part's messages: interval min, max
    ranges: dict[int, tuple[str, float, float]]  # a range-checked signal per message
    ratio: float  # nominal / data bit rate
    bitrate: int
    window: float


def baseline_specs(plan: Plan) -> list[BusSpec]:
    checks = all_checks(plan)
    out = []
    for bus in plan.bus_list():
        db: Any = cantools.database.load_file(str(bus.dbc_path), database_format="dbc")
        mine = [c for c in checks if c.bus is not None and c.bus.name == bus.name]
        allowed: frozenset[int] = frozenset()
        window = 1.0
        limits: dict[int, tuple[float, float]] = {}
        ranges: dict[int, tuple[str, float, float]] = {}
        for check in mine:
            p: Any = check.params
            if check.kind == "allowed_ids":
                allowed = frozenset(p.ids)
            elif check.kind == "bus_load":
                window = p.window
            elif check.kind == "cycle_time":
                limits[db.get_message_by_name(p.message).frame_id] = (p.min, p.max)
            elif check.kind == "signal":
                ranges[db.get_message_by_name(p.message).frame_id] = (p.signal, p.min, p.max)
        out.append(
            BusSpec(
                db,
                frozenset(m.frame_id for m in db.messages),
                allowed,
                limits,
                ranges,
                bus.bitrate / (bus.data_bitrate or bus.bitrate),
                bus.bitrate,
                window,
            )
        )
    return out


def run_baseline(
    frames: Sequence[can.Message], on: Sequence[int], specs: Sequence[BusSpec]
) -> dict[str, Any]:
    """One pass over both buses' frames doing the decoding and bookkeeping the checks need."""
    decodes = [s.db.decode_message for s in specs]
    windows: list[deque[tuple[float, float]]] = [deque() for _ in specs]
    bits_in = [0.0] * len(specs)
    peaks = [0.0] * len(specs)
    unexpected: list[Counter[int]] = [Counter() for _ in specs]
    last: list[dict[int, float]] = [{} for _ in specs]
    bad_intervals = out_of_range = decoded = 0
    for b, msg in zip(on, frames, strict=True):
        if msg.is_error_frame or msg.is_remote_frame:
            continue
        spec = specs[b]
        fid, ts, data, n = msg.arbitration_id, msg.timestamp, msg.data, msg.dlc
        if msg.is_fd:
            nominal, fast = fd_frame_bits(n, extended=msg.is_extended_id, brs=msg.bitrate_switch)
            bits = nominal + fast * spec.ratio
        elif msg.is_extended_id:
            bits = 67 + 8 * n + (54 + 8 * n) // 4
        else:
            bits = 47 + 8 * n + (33 + 8 * n) // 4
        window = windows[b]
        window.append((ts, bits))
        bits_in[b] += bits
        edge = ts - spec.window
        while window[0][0] <= edge:
            bits_in[b] -= window.popleft()[1]
        if bits_in[b] > peaks[b]:
            peaks[b] = bits_in[b]
        if fid not in spec.allowed:
            unexpected[b][fid] += 1
        if fid not in spec.known:
            continue
        signals = decodes[b](fid, data)
        decoded += 1
        limit = spec.limits.get(fid)
        if limit is not None:
            before = last[b].get(fid)
            if before is not None and not limit[0] <= ts - before <= limit[1]:
                bad_intervals += 1
            last[b][fid] = ts
        checked = spec.ranges.get(fid)
        if checked is not None and not checked[1] <= signals[checked[0]] <= checked[2]:
            out_of_range += 1
    return {
        "decoded": decoded,
        "bad_intervals": bad_intervals,
        "out_of_range": out_of_range,
        "unexpected_ids": sum(len(u) for u in unexpected),
        "peak_load_percent": [
            100.0 * p / (s.window * s.bitrate) for p, s in zip(peaks, specs, strict=True)
        ],
    }


# -- the harness path ---------------------------------------------------------------------------
def run_harness(
    frames: Sequence[can.Message],
    on: Sequence[int],
    buses: Sequence[PlannedBus],
    checks: Sequence[Check],
    trace_path: Path | None,
) -> HarnessTiming:
    """Ingest through each bus's ``CanPort._on_frame``, then evaluate every check."""
    loop = EventLoop(VirtualClock())
    ends = [can.Bus(interface="virtual", channel=f"bench-{uuid.uuid4().hex}") for _ in buses]
    logs = [FrameLog() for _ in buses]
    trace = TraceWriter(trace_path) if trace_path is not None else None
    try:
        ports = [
            CanPort(loop, end, log, trace, channel=i)
            for i, (end, log) in enumerate(zip(ends, logs, strict=True))
        ]
        on_frame = [port._on_frame for port in ports]
        start = time.perf_counter()
        for b, msg in zip(on, frames, strict=True):
            on_frame[b](msg)
        if trace is not None:
            trace.close()
        ingested = time.perf_counter()
        first = buses[0]
        window = Window(
            frames[0].timestamp,
            frames[-1].timestamp,
            logs[0],
            {},
            first.bitrate,
            streams={bus_stream(b.name): log for b, log in zip(buses, logs, strict=True)},
            data_bitrate=first.data_bitrate,
        )
        results = evaluate_checks(checks, window)
        evaluated = time.perf_counter()
    finally:
        if trace is not None:
            trace.close()
        for end in ends:
            end.shutdown()
    kept = sum(log.rx_count for log in logs)
    if kept != len(frames):
        raise RuntimeError(f"the harness kept {kept} of {len(frames)} frames")
    verdicts = Counter(r.verdict.value for r in results)
    if verdicts.get(Verdict.ERROR.value):
        errors = [r.summary for r in results if r.verdict is Verdict.ERROR]
        raise RuntimeError(f"a check could not evaluate: {errors}")
    return HarnessTiming(ingested - start, evaluated - ingested, verdicts)


def run_mix(args: argparse.Namespace, plan: Plan) -> int:
    """Measure and print the mix; 1 with ``--strict`` when the harness is below the loop."""
    buses = plan.bus_list()
    checks = all_checks(plan)
    specs = baseline_specs(plan)
    stream, on = build_stream(plan, args.frames, args.seed)
    frames = stream.frames
    gc.collect()
    gc.freeze()
    n, span = len(frames), stream.t1 - stream.t0
    fd = sum(1 for f in frames if f.is_fd)
    print(
        f"stream: {n:,} frames on {len(buses)} buses over {span:,.1f} s ({n / span:,.0f} "
        f"frames/s; {fd:,} CAN FD; "
        + ", ".join(f"{kind} {count:,}" for kind, count in sorted(stream.kinds.items()))
        + ")"
    )
    per_bus = {
        b.name: Counter(c.kind for c in checks if c.bus and c.bus.name == b.name) for b in buses
    }
    print(
        f"checks: {len(checks)} from {plan.profile_id} ("
        + "; ".join(
            f"{name}: " + ", ".join(f"{k} x{v}" for k, v in kinds.items())
            for name, kinds in per_bus.items()
        )
        + ")"
    )
    base_s: list[float] = []
    plain: list[HarnessTiming] = []
    traced: list[HarnessTiming] = []
    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-two-buses-") as tmp:
        for r in range(args.repeat):
            gc.collect()
            start = time.perf_counter()
            summary = run_baseline(frames, on, specs)
            base_s.append(time.perf_counter() - start)
            gc.collect()
            plain.append(run_harness(frames, on, buses, checks, None))
            gc.collect()
            trace = Path(tmp) / f"trace-{r}.blf"
            traced.append(run_harness(frames, on, buses, checks, trace))
            trace.unlink()
    base = min(base_s)
    harness = min(plain, key=lambda h: h.total)
    with_trace = min(traced, key=lambda h: h.total)
    print(f"\nbest of {args.repeat}, interleaved, one process:")
    header = f"{'measurement':<40}  {'best s':>8}  {'frames/s':>11}  {'ingest s':>8}  {'eval s':>7}"
    print(header + "\n" + "-" * len(header))
    print(f"{'baseline python-can + cantools, 2 buses':<40}  {base:>8.3f}  {n / base:>11,.0f}")
    for name, h in (("harness ingest + evaluate", harness), ("harness + BLF trace", with_trace)):
        print(
            f"{name:<40}  {h.total:>8.3f}  {n / h.total:>11,.0f}  {h.ingest:>8.3f}  "
            f"{h.evaluate:>7.3f}"
        )
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(harness.verdicts.items()))
    print(f"harness verdicts on the synthetic stream (do not matter): {verdicts}")
    loads = ", ".join(f"{p:.1f} %" for p in summary["peak_load_percent"])
    print(
        f"baseline found: {summary['decoded']:,} frames decoded, {summary['bad_intervals']} "
        f"bad intervals, {summary['out_of_range']} out of range, {summary['unexpected_ids']} "
        f"unexpected ids, peak loads {loads}"
    )
    ratio = base / harness.total
    ok = ratio >= 1.0
    print(
        f"\nratio harness/baseline (FD two-bus mix): {ratio:.2f}x (target >= 1.0x): "
        f"{verdict_text(ok)}"
    )
    print(f"ratio harness+trace/baseline (FD two-bus mix): {base / with_trace.total:.2f}x")
    return 1 if args.strict and not ok else 0
