"""How many times faster than real time a simulated certification run is.

Runs the whole profile (default ``profiles/cc-tcu-1.yaml``) against the built-in reference
TCU on the virtual clock, the way ``harness certify --dut sim`` does, several times in one
process. Each round runs it twice, interleaved: once with evidence writing off (no
``out_dir``) and once with it on (``trace.blf`` and ``run.json`` in a temporary folder), so
the cost of the durable BLF trace shows. For every run it prints wall time
(``time.perf_counter`` around the whole session: open, all cases, close), bus time (the
virtual clock at the end), the factor bus/wall, and the frames processed (received + sent).

Target: the median factor is at least 300x (issue 13). Exit status is 0 unless ``--strict``
is given and a median is below target.

    python bench/realtime_factor.py [--runs 5] [--profile profiles/cc-tcu-1.yaml] [--strict]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.bench import Bench
from harness.plan import Plan
from harness.profile.compile import load_profile
from harness.record import Verdict
from harness.session import DutChoice, Session

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PROFILE = ROOT / "profiles" / "cc-tcu-1.yaml"
TARGET_FACTOR = 300.0


@dataclass(frozen=True)
class RunResult:
    evidence: bool
    wall: float
    bus: float
    frames: int
    cases: int
    passed: int

    @property
    def factor(self) -> float:
        return self.bus / self.wall

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.wall


def run_once(plan: Plan, dut: DutChoice, out_dir: Path | None) -> RunResult:
    """One full simulated run; wall time covers opening, every case, and closing."""
    start = time.perf_counter()
    with Session(plan, Bench(), dut, out_dir=out_dir) as session:
        record = session.run_all()
        bus_time = session.bus_time
        log = session.log
    wall = time.perf_counter() - start
    frames = log.rx_count + sum(len(col.ts) for col in log.tx.values())
    passed = sum(1 for case in record.cases if case.verdict is Verdict.PASS)
    return RunResult(out_dir is not None, wall, bus_time, frames, len(record.cases), passed)


def verdict_text(value: float, target: float) -> str:
    return "PASS" if value >= target else "BELOW TARGET"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="measured rounds (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first")
    parser.add_argument("--profile", type=Path, default=DEFAULT_PROFILE)
    parser.add_argument("--dut", default="sim", help="sim or sim:VARIANT (default sim)")
    parser.add_argument(
        "--target", type=float, default=TARGET_FACTOR, help="x real time (default 300)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when below target")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    load_start = time.perf_counter()
    plan = load_profile(args.profile)
    load_wall = time.perf_counter() - load_start
    dut = DutChoice.parse(args.dut)
    if dut.kind != "sim":
        parser.error("--dut must be sim or sim:VARIANT (the simulated mode)")
    print(
        f"profile {plan.profile_id} {plan.version}: {len(plan.cases)} cases, "
        f"dut {dut}, loaded and compiled in {load_wall * 1000:.1f} ms (not counted)"
    )

    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="bench-realtime-") as tmp:
        for round_no in range(args.warmup + args.runs):
            off = run_once(plan, dut, None)
            on = run_once(plan, dut, Path(tmp) / f"run-{round_no}")
            if round_no >= args.warmup:
                results.extend((off, on))

    header = (
        f"{'run':>3}  {'evidence':<8}  {'wall s':>8}  {'bus s':>8}  {'x real time':>11}"
        f"  {'frames':>8}  {'frames/s':>10}  {'cases passed':>12}"
    )
    print()
    print(header)
    print("-" * len(header))
    for k, r in enumerate(results):
        print(
            f"{k // 2 + 1:>3}  {'on' if r.evidence else 'off':<8}  {r.wall:>8.3f}  "
            f"{r.bus:>8.1f}  {r.factor:>10.0f}x  {r.frames:>8,}  {r.frames_per_s:>10,.0f}  "
            f"{f'{r.passed}/{r.cases}':>12}"
        )

    below = False
    medians: dict[bool, float] = {}
    print()
    for evidence in (False, True):
        chosen = [r for r in results if r.evidence is evidence]
        median = statistics.median(r.factor for r in chosen)
        medians[evidence] = median
        below = below or median < args.target
        label = "evidence on " if evidence else "evidence off"
        print(
            f"median {label}: {median:,.0f}x faster than real time "
            f"(target >= {args.target:g}x): {verdict_text(median, args.target)}"
        )
    wall_off = statistics.median(r.wall for r in results if not r.evidence)
    wall_on = statistics.median(r.wall for r in results if r.evidence)
    print(
        f"ratio evidence off/on: {medians[False] / medians[True]:.2f}x "
        f"(BLF trace + run.json cost {1000 * (wall_on - wall_off):+.1f} ms per run, "
        f"{100 * (wall_on / wall_off - 1):+.0f} %)"
    )
    return 1 if args.strict and below else 0


if __name__ == "__main__":
    sys.exit(main())
