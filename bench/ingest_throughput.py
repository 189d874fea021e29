"""Frames per second the harness ingests and evaluates, against a plain python-can + cantools loop.

A deterministic (seeded) frame stream is built in memory as ``can.Message`` objects: the
DUT's TCU_Status (100 ms cycle with +-2 ms jitter, alive counter +1, correct E2E CRC, fault
flags set and cleared around the profile's stimulus markers), the vehicle's rest-bus frames
at their DBC cycles (VEH_Dynamics E2E-protected), an occasional TCU_Command, and random
foreign-identifier noise (DLC 0..8) at ``--noise-load`` percent of the bitrate, so that
timestamps advance the way they do on a real bus. Then, in one process and interleaved,
each measurement is repeated ``--repeat`` times and the best is kept:

* **baseline**: a hand-written single-pass checker on python-can + cantools. Per frame: the
  stuffed frame length into a 1 s sliding bus-load window, the identifier against the
  allowed set, and for every identifier the DBC knows, ``db.decode_message(id, data)``;
  for TCU_Status also the interval against the cycle limits, the alive-counter step, the
  CRC (``harness.can.e2e.crc8_with_data_id``) and the fault-flag values.
* **harness**: every frame through ``CanPort._on_frame`` (the handler the event loop calls
  for each received frame) into a ``FrameLog``, then every CAN check of the compiled
  profile (all cases and observe steps) evaluated over one ``Window`` spanning the stream,
  with every marker a check names set to a time inside it. Verdicts do not matter (some
  checks fail on this stream); the work does.
* **harness + trace**: the same with the BLF ``TraceWriter`` recording every frame.

Targets: harness >= 100,000 frames/s on one core, and harness/baseline >= 1.0. The exit
status is 0 unless ``--strict`` is given and a target is missed. ``--cprofile`` prints the
hotspots of one harness pass.

    python bench/ingest_throughput.py [--frames 1000000] [--repeat 3] [--seed 1] [--strict]

``--mix fd-two-buses`` measures a CAN FD bus and a classic bus instead (the harness against
the plain loop over the same two buses: :mod:`ingest_two_buses`), target ratio >= 1.0.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import random
import sys
import tempfile
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import can
import cantools
import cantools.database

from harness.can.e2e import E2EProtection, Protection, crc8_with_data_id
from harness.can.port import CanPort
from harness.checks.base import Check
from harness.checks.can_signal import FlagCheck
from harness.checks.can_timing import frame_bits
from harness.clock import EventLoop, VirtualClock
from harness.evidence import TraceWriter
from harness.observe import FrameLog, Window
from harness.plan import Plan
from harness.profile.compile import load_profile
from harness.record import Verdict

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PROFILE = ROOT / "profiles" / "cc-tcu-1.yaml"
TARGET_FRAMES_PER_S = 100_000.0
TARGET_RATIO = 1.0
STREAM_START = 1.0  # bus time of the first frame (0.0 would read as "no timestamp")
TCU_JITTER = 0.002
VEHICLE_JITTER = 0.0005
COMMAND_PERIOD = 5.0
MEAN_NOISE_BITS = sum(frame_bits(0x100, dlc) for dlc in range(9)) / 9


# -- the stream ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlagWindow:
    """When the synthetic TCU sets and clears one fault flag (to follow the flag checks)."""

    signal: str
    set_at: float
    clear_at: float


@dataclass
class Stream:
    frames: list[can.Message]
    markers: dict[str, float]
    kinds: Counter[str]

    @property
    def t0(self) -> float:
        return float(self.frames[0].timestamp)

    @property
    def t1(self) -> float:
        return float(self.frames[-1].timestamp)


def all_checks(plan: Plan) -> list[Check]:
    """Every CAN check object of the plan: each case's own and each of its observe steps'.

    The checks of MQTT messages and UDS exchanges (fuzzing included) judge other traffic
    than this frame stream.
    """
    checks: list[Check] = [c for s in plan.before_each for c in s.checks]
    for case in plan.cases:
        checks.extend(c for s in case.steps for c in s.checks)
        checks.extend(case.checks)
    other = ("mqtt_", "v2x_", "uds_", "diag_", "command_")
    return [c for c in checks if not c.kind.startswith(other)]


def marker_times(plan: Plan, t0: float, duration: float) -> dict[str, float]:
    """Every step name of the plan, placed inside [t0, t0 + duration] in its case's order."""
    markers: dict[str, float] = {}
    for case in plan.cases:
        named = [s.name for s in (*plan.before_each, *case.steps) if s.name]
        for k, name in enumerate(named):
            markers.setdefault(name, t0 + duration * (0.25 + 0.5 * k / max(1, len(named) - 1)))
    return markers


def flag_windows(checks: Sequence[Check], markers: dict[str, float]) -> dict[str, FlagWindow]:
    """Set each checked flag well within its limits, so the flag checks do their full work."""
    windows: dict[str, FlagWindow] = {}
    for check in checks:
        if not isinstance(check, FlagCheck) or check.sig.name in windows:
            continue
        p = check.p
        set_at = markers[check.set_marker] + (p.set_not_before + p.set_within) / 2
        clear_at = float("inf")
        if check.clear_marker is not None and p.clear_within is not None:
            clear_at = markers[check.clear_marker] + p.clear_within / 2
        windows[check.sig.name] = FlagWindow(check.sig.name, set_at, clear_at)
    return windows


def build_stream(
    plan: Plan,
    db: Any,
    n_frames: int,
    noise_load: float,
    seed: int,
) -> Stream:
    """The frame stream, sorted by timestamp, exactly ``n_frames`` long."""
    rng = random.Random(seed)
    dut_msg = plan.ready_message
    dut_e2e = plan.e2e[dut_msg.name]
    dut_cycle = dut_msg.cycle_time or 0.1
    periodic_rate = 1 / dut_cycle + sum(1 / r.cycle for r in plan.restbus) + 1 / COMMAND_PERIOD
    noise_rate = noise_load / 100.0 * plan.bitrate / MEAN_NOISE_BITS
    duration = n_frames / (periodic_rate + noise_rate)
    t0 = STREAM_START
    markers = marker_times(plan, t0, duration)
    flags = flag_windows(all_checks(plan), markers)
    events: list[tuple[float, int, bytes, str]] = []

    # The DUT: TCU_Status with counter, CRC and flags; TCU_Command now and then.
    command = next((m for m in plan.dut_messages if m is not dut_msg), None)
    cmd_count = 0
    next_command = t0 + COMMAND_PERIOD / 2
    k = 0
    while True:
        t = t0 + TCU_JITTER + k * dut_cycle + rng.uniform(-TCU_JITTER, TCU_JITTER)
        if t > t0 + duration:
            break
        if command is not None and t >= next_command:
            cmd_count += 1
            fields = {s.name: cmd_count % (1 << s.length) for s in command.signals.values()}
            data = db.encode_message(command.frame_id, fields, scaling=False)
            events.append((t - 0.001, command.frame_id, data, command.name))
            next_command += COMMAND_PERIOD
        values = {name: 0 for name in dut_msg.signals}
        if "ConnState" in values:
            values["ConnState"] = 1
        if "CmdCount" in values:
            values["CmdCount"] = cmd_count % 256
        for w in flags.values():
            values[w.signal] = int(w.set_at <= t < w.clear_at)
        payload = db.encode_message(dut_msg.frame_id, values, scaling=False)
        events.append((t, dut_msg.frame_id, dut_e2e.protect(payload, k), dut_msg.name))
        k += 1

    # The vehicle's rest-bus frames at their cycles, E2E where the profile says so.
    for entry in plan.restbus:
        template = db.encode_message(entry.message.frame_id, entry.raw_values, scaling=False)
        e2e: Protection | None = entry.e2e
        phase = rng.uniform(0, entry.cycle)
        k = 0
        while True:
            t = t0 + phase + k * entry.cycle + rng.uniform(0, VEHICLE_JITTER)
            if t > t0 + duration:
                break
            data = e2e.protect(template, k) if e2e is not None else template
            events.append((t, entry.message.frame_id, data, "vehicle"))
            k += 1

    # Foreign identifiers: random ids outside the DBC, DLC 0..8, random payloads.
    known = {m.frame_id for m in plan.dbc.messages.values()} | {0x7E8}
    foreign = [i for i in range(0x800) if i not in known]
    n_noise = max(0, n_frames - len(events))
    for t in sorted(rng.uniform(t0, t0 + duration) for _ in range(n_noise)):
        dlc = rng.randrange(9)
        events.append((t, rng.choice(foreign), rng.randbytes(dlc), "noise"))

    events.sort(key=lambda e: e[0])
    del events[n_frames:]
    frames = [
        can.Message(
            timestamp=t,
            arbitration_id=fid,
            is_extended_id=False,
            data=data,
            dlc=len(data),
            is_rx=True,
            channel=0,
            check=False,
        )
        for t, fid, data, _ in events
    ]
    return Stream(frames, markers, Counter(kind for *_, kind in events))


# -- the plain python-can + cantools loop ---------------------------------------------------------
@dataclass(frozen=True)
class BaselineSpec:
    db: Any  # cantools.database.can.Database
    known_ids: frozenset[int]
    allowed_ids: frozenset[int]
    status_id: int
    data_id: int
    crc_byte: int
    counter_signal: str
    counter_modulus: int
    cycle_min: float
    cycle_max: float
    flag_signals: tuple[str, ...]
    bitrate: int
    load_window: float


def baseline_spec(plan: Plan) -> BaselineSpec:
    """What a hand-written checker for this profile would hard-code, from the same sources."""
    db: Any = cantools.database.load_file(
        str(plan.dbc_path), database_format="dbc", encoding="cp1252"
    )
    status = plan.ready_message
    prot = plan.e2e[status.name]
    assert isinstance(prot, E2EProtection), "the baseline hard-codes CC-TCU-1's CRC"
    checks = all_checks(plan)
    allowed: frozenset[int] = frozenset()
    load_window = 1.0
    for check in checks:
        if check.kind == "allowed_ids":
            allowed = frozenset(check.allowed)  # type: ignore[attr-defined]
        if check.kind == "bus_load":
            load_window = check.p.window  # type: ignore[attr-defined]
    counter = next(s.name for s in status.signals.values() if s.start == prot.counter_start)
    flags = tuple(sorted({c.sig.name for c in checks if isinstance(c, FlagCheck)}))
    return BaselineSpec(
        db=db,
        known_ids=frozenset(m.frame_id for m in db.messages),
        allowed_ids=allowed,
        status_id=status.frame_id,
        data_id=prot.data_id,
        crc_byte=prot.crc_byte,
        counter_signal=counter,
        counter_modulus=prot.modulus,
        cycle_min=0.09,
        cycle_max=0.11,
        flag_signals=flags,
        bitrate=plan.bitrate,
        load_window=load_window,
    )


def run_baseline(frames: Sequence[can.Message], spec: BaselineSpec) -> dict[str, Any]:
    """One pass over the frames doing the decoding and bookkeeping the profile's checks need."""
    decode = spec.db.decode_message
    known, allowed, status_id = spec.known_ids, spec.allowed_ids, spec.status_id
    data_id, crc_byte = spec.data_id, spec.crc_byte
    counter_signal, counter_mask = spec.counter_signal, spec.counter_modulus - 1
    cycle_min, cycle_max = spec.cycle_min, spec.cycle_max
    flag_signals = spec.flag_signals
    width = spec.load_window
    in_window: deque[tuple[float, int]] = deque()
    window_bits = peak_bits = 0
    unexpected: dict[int, int] = {}
    prev_ts: float | None = None
    prev_counter: int | None = None
    shortest, longest = float("inf"), 0.0
    bad_intervals = bad_counters = bad_crcs = status_frames = 0
    flag_state = dict.fromkeys(flag_signals, 0)
    flag_changes: list[tuple[float, str, int]] = []
    for msg in frames:
        if msg.is_error_frame or msg.is_remote_frame:
            continue
        fid = msg.arbitration_id
        ts = msg.timestamp
        data = msg.data
        dlc = msg.dlc
        if msg.is_extended_id:
            bits = 67 + 8 * dlc + (54 + 8 * dlc) // 4
        else:
            bits = 47 + 8 * dlc + (33 + 8 * dlc) // 4
        in_window.append((ts, bits))
        window_bits += bits
        edge = ts - width
        while in_window[0][0] <= edge:
            window_bits -= in_window.popleft()[1]
        if window_bits > peak_bits:
            peak_bits = window_bits
        if fid not in allowed:
            unexpected[fid] = unexpected.get(fid, 0) + 1
        if fid not in known:
            continue
        signals = decode(fid, data)
        if fid != status_id:
            continue
        status_frames += 1
        if prev_ts is not None:
            interval = ts - prev_ts
            if interval < shortest:
                shortest = interval
            if interval > longest:
                longest = interval
            if not cycle_min <= interval <= cycle_max:
                bad_intervals += 1
        prev_ts = ts
        counter = int(signals[counter_signal])
        if prev_counter is not None and counter != (prev_counter + 1) & counter_mask:
            bad_counters += 1
        prev_counter = counter
        if len(data) <= crc_byte or crc8_with_data_id(data_id, data[:crc_byte]) != data[crc_byte]:
            bad_crcs += 1
        for name in flag_signals:
            raw = signals[name]  # a NamedSignalValue for a signal with a value table
            value = int(getattr(raw, "value", raw))
            if value != flag_state[name]:
                flag_state[name] = value
                flag_changes.append((ts, name, value))
    return {
        "status_frames": status_frames,
        "interval_range": (shortest, longest),
        "bad_intervals": bad_intervals,
        "bad_counters": bad_counters,
        "bad_crcs": bad_crcs,
        "unexpected_ids": len(unexpected),
        "peak_load_percent": 100.0 * peak_bits / (width * spec.bitrate),
        "flag_changes": flag_changes,
    }


# -- the harness path ---------------------------------------------------------------------------
@dataclass(frozen=True)
class HarnessTiming:
    ingest: float
    evaluate: float
    verdicts: Counter[str]

    @property
    def total(self) -> float:
        return self.ingest + self.evaluate


def run_harness(
    frames: Sequence[can.Message],
    plan: Plan,
    checks: Sequence[Check],
    markers: dict[str, float],
    trace_path: Path | None,
) -> HarnessTiming:
    """Ingest through ``CanPort._on_frame``, then evaluate every check over one window."""
    loop = EventLoop(VirtualClock())
    bus = can.Bus(interface="virtual", channel=f"bench-{uuid.uuid4().hex}")
    log = FrameLog()
    trace = TraceWriter(trace_path) if trace_path is not None else None
    try:
        port = CanPort(loop, bus, log, trace)
        on_frame = port._on_frame
        start = time.perf_counter()
        for msg in frames:
            on_frame(msg)
        if trace is not None:
            trace.close()  # the last container is part of the recording cost
        ingested = time.perf_counter()
        window = Window(frames[0].timestamp, frames[-1].timestamp, log, markers, plan.bitrate)
        results = [check.evaluate(window) for check in checks]
        evaluated = time.perf_counter()
    finally:
        if trace is not None:
            trace.close()
        bus.shutdown()
    if log.rx_count != len(frames):
        raise RuntimeError(f"the harness kept {log.rx_count} of {len(frames)} frames")
    verdicts = Counter(r.verdict.value for r in results)
    if verdicts.get(Verdict.ERROR.value):
        errors = [r.summary for r in results if r.verdict is Verdict.ERROR]
        raise RuntimeError(f"a check could not evaluate: {errors}")
    return HarnessTiming(ingested - start, evaluated - ingested, verdicts)


# -- reporting ----------------------------------------------------------------------------------
def verdict_text(ok: bool) -> str:
    return "PASS" if ok else "BELOW TARGET"


def print_cprofile(fn: Callable[[], object], top: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    print(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=1_000_000, help="stream length")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--noise-load",
        type=float,
        default=0.0,
        help="foreign-identifier load, percent of the bitrate (default 0: the traffic of a "
        "certification run, the DUT's frames and the rest-bus; 50 floods the bus with frames "
        "the plain loop skips without decoding, as in TC-CAN-008)",
    )
    parser.add_argument("--profile", type=Path, default=DEFAULT_PROFILE)
    parser.add_argument(
        "--mix",
        choices=["tcu", "fd-two-buses"],
        default="tcu",
        help="tcu: CC-TCU-1's classic bus (default); fd-two-buses: a CAN FD bus (FD frames up "
        "to 64 bytes) and a classic bus, both decoded in one process (bench/ingest_two_buses.py,"
        " its profile bench/data/two-buses.yaml unless --profile is given)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--cprofile",
        type=int,
        default=0,
        metavar="N",
        help="also print the top N cProfile entries of one harness pass",
    )
    args = parser.parse_args(argv)
    if args.frames < 100 or args.repeat < 1:
        parser.error("--frames must be at least 100 and --repeat at least 1")

    if args.mix == "fd-two-buses":
        from ingest_two_buses import PROFILE, run_mix

        profile = PROFILE if args.profile == DEFAULT_PROFILE else args.profile
        return run_mix(args, load_profile(profile))
    plan = load_profile(args.profile)
    spec = baseline_spec(plan)
    checks = all_checks(plan)
    gen_start = time.perf_counter()
    stream = build_stream(plan, spec.db, args.frames, args.noise_load, args.seed)
    frames = stream.frames
    # The stream stands for frames that arrive and are gone: keep the collector off them.
    gc.collect()
    gc.freeze()
    n = len(frames)
    span = stream.t1 - stream.t0
    print(
        f"stream: {n:,} frames over {span:,.1f} s of bus time ({n / span:,.0f} frames/s; "
        + ", ".join(f"{kind} {count:,}" for kind, count in sorted(stream.kinds.items()))
        + f"), built in {time.perf_counter() - gen_start:.1f} s (not counted)"
    )
    print(
        f"checks: {len(checks)} from {plan.profile_id} "
        f"({', '.join(f'{k} x{v}' for k, v in Counter(c.kind for c in checks).items())})"
    )
    print(f"markers: {', '.join(f'{k}={v - stream.t0:.1f}s' for k, v in stream.markers.items())}")

    baseline_s: list[float] = []
    harness_runs: list[HarnessTiming] = []
    traced_runs: list[HarnessTiming] = []
    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        for r in range(args.repeat):
            gc.collect()
            start = time.perf_counter()
            summary = run_baseline(frames, spec)
            baseline_s.append(time.perf_counter() - start)
            gc.collect()
            harness_runs.append(run_harness(frames, plan, checks, stream.markers, None))
            gc.collect()
            trace = Path(tmp) / f"trace-{r}.blf"
            traced_runs.append(run_harness(frames, plan, checks, stream.markers, trace))
            trace.unlink()

    base = min(baseline_s)
    harness = min(harness_runs, key=lambda h: h.total)
    traced = min(traced_runs, key=lambda h: h.total)
    rows = [
        ("baseline python-can + cantools", base, None, None),
        ("harness ingest + evaluate", harness.total, harness.ingest, harness.evaluate),
        ("harness + BLF trace", traced.total, traced.ingest, traced.evaluate),
    ]
    header = (
        f"{'measurement':<32}  {'best s':>8}  {'frames/s':>11}  {'ingest s':>8}  "
        f"{'eval s':>7}  {'ns/frame':>8}"
    )
    print()
    print(f"best of {args.repeat}, interleaved, one process:")
    print(header)
    print("-" * len(header))
    for name, total, ingest, evaluate in rows:
        split = (
            f"{ingest:>8.3f}  {evaluate:>7.3f}"
            if ingest is not None and evaluate is not None
            else f"{'':>8}  {'':>7}"
        )
        print(f"{name:<32}  {total:>8.3f}  {n / total:>11,.0f}  {split}  {1e9 * total / n:>8,.0f}")
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(harness.verdicts.items()))
    print(f"harness verdicts on the synthetic stream (do not matter): {verdicts}")
    print(
        f"baseline found: {summary['status_frames']:,} TCU_Status frames, "
        f"{summary['bad_intervals']} bad intervals, {summary['bad_counters']} bad counters, "
        f"{summary['bad_crcs']} bad CRCs, {summary['unexpected_ids']} unexpected ids, "
        f"peak load {summary['peak_load_percent']:.1f} %, "
        f"{len(summary['flag_changes'])} flag changes"
    )

    harness_fps = n / harness.total
    ratio = base / harness.total
    ratio_traced = base / traced.total
    fps_ok = harness_fps >= TARGET_FRAMES_PER_S
    ratio_ok = ratio >= TARGET_RATIO
    print()
    print(
        f"harness frames/s: {harness_fps:,.0f} (target >= {TARGET_FRAMES_PER_S:,.0f}): "
        f"{verdict_text(fps_ok)}"
    )
    print(
        f"ratio harness/baseline: {ratio:.2f}x (target >= {TARGET_RATIO:.1f}x): "
        f"{verdict_text(ratio_ok)}"
    )
    print(
        f"ratio harness+trace/baseline: {ratio_traced:.2f}x "
        f"(trace costs {100 * (traced.total / harness.total - 1):+.0f} % over the harness)"
    )

    if args.cprofile:
        print(f"\ncProfile of one harness pass (ingest + evaluate), top {args.cprofile}:")
        print_cprofile(
            lambda: run_harness(frames, plan, checks, stream.markers, None), args.cprofile
        )
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            print(f"cProfile of one harness pass with the BLF trace, top {args.cprofile}:")
            print_cprofile(
                lambda: run_harness(frames, plan, checks, stream.markers, Path(tmp) / "t.blf"),
                args.cprofile,
            )
    return 1 if args.strict and not (fps_ok and ratio_ok) else 0


if __name__ == "__main__":
    sys.exit(main())
