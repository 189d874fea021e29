"""Peak memory of simulated endurance runs: does RSS stay flat as bus time grows?

For each traffic mix and each soak length (default 10 min, 1 h and 8 h of bus time), one
simulated run of a soak profile against the built-in reference TCU, with evidence on, in a
process of its own, then ``harness report`` and ``harness evaluate`` of its evidence folder,
each in a process of its own too. It prints for each: peak RSS (``ru_maxrss``), wall time,
frames, and the size of ``report.html``.

Mixes:

* ``reference``: the reference part's own traffic (TCU_Status every 100 ms, the rest-bus
  the harness plays, diagnostics and V2X off) plus MQTT BSMs every 100 ms through the
  embedded broker; about 90 frames/s;
* ``busy``: the same plus foreign identifiers from a noise step (DLC 0..8, random payloads)
  for a total near 4,000 frames/s, a busy 500 kbit/s bus.

The soak case observes the whole length in one window and judges TCU_Status's cycle time,
alive counter and CRC, the bus load and TCU_Command's absence (the reference mix also the
BSM interval and counter). Targets: RSS of the longest soak within 1.5x of the shortest's,
for the run and for ``evaluate``; ``report.html`` under 5 MB. Exit status 0 unless
``--strict`` and a target is missed. ``--minutes`` makes it short for a smoke test.

    python bench/soak_memory.py [--minutes 10,60,480] [--mix reference,busy] [--strict]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "cc-tcu-1.yaml"
RSS_RATIO = 1.5
REPORT_MAX = 5 * 1024 * 1024

CHECKS = """\
          - {kind: cycle_time, message: TCU_Status, min: 90 ms, max: 110 ms}
          - {kind: alive_counter, message: TCU_Status}
          - {kind: e2e_crc, message: TCU_Status}
          - {kind: bus_load, max_percent: 95, window: 1 s}
          - {kind: absent, message: TCU_Command}
"""
MQTT_CHECKS = """\
          - {kind: mqtt_interval, topic: bsm, min: 80 ms, max: 120 ms}
          - {kind: mqtt_counter, topic: bsm, field: msgCnt, modulus: 128}
"""
NOISE = """\
      - noise:
          id_ranges: [[0x000, 0x0FF], [0x3B1, 0x7DE]]
          dlc: [0, 1, 2, 3, 4, 5, 6, 7, 8]
          payload: random
          load_percent: {load}
          for: {seconds} s
          seed: 8
"""


def soak_profile(folder: Path, mix: str, seconds: float) -> Path:
    """The reference profile's header and one soak case of ``seconds``."""
    head = PROFILE.read_text().split("\ncases:\n")[0]
    # beside a link to dbc/, so the profile's relative DBC and ASN.1 paths resolve
    (folder / "profiles").mkdir(exist_ok=True)
    if not (folder / "dbc").exists():
        (folder / "dbc").symlink_to(ROOT / "dbc")
    checks = CHECKS + (MQTT_CHECKS if mix == "reference" else "")
    noise = NOISE.format(load=83, seconds=seconds) if mix == "busy" else ""
    case = (
        "  - id: SOAK\n"
        f"    title: {mix} soak of {seconds:g} s\n"
        "    requirements: [CAN-001]\n"
        "    steps:\n"
        f"{noise}"
        f"      - observe: {seconds:g} s\n"
        "        checks:\n"
        f"{checks}"
    )
    path = folder / "profiles" / f"soak-{mix}-{seconds:g}.yaml"
    path.write_text(head + "\ncases:\n" + case)
    return path


def child_run(profile: Path, out: Path) -> None:
    """In the child: one simulated run with evidence; prints JSON (rss, wall, frames)."""
    from harness.bench import Bench
    from harness.profile.compile import load_profile
    from harness.session import DutChoice, Session

    plan = load_profile(profile)
    start = time.perf_counter()
    with Session(plan, Bench(), DutChoice.parse("sim"), out_dir=out) as session:
        record = session.run_all()
        log = session.log
        frames = log.rx_count + sum(len(col.ts) for col in log.tx.values())
        bus = session.bus_time
    wall = time.perf_counter() - start
    verdicts = {c.kind: c.verdict.value for case in record.cases for c in case.checks}
    print(
        json.dumps(
            {
                "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "wall": wall,
                "frames": frames,
                "bus": bus,
                "verdicts": verdicts,
            }
        )
    )


@dataclass(frozen=True)
class Step:
    rss: int
    wall: float
    extra: dict[str, object]


def measured(cmd: list[str]) -> Step:
    """Run ``cmd``; its peak RSS (a fresh process: RUSAGE_CHILDREN of a waiting helper)."""
    helper = (
        "import json, resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - start\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"
        "print(json.dumps({'rc': p.returncode, 'rss': rss, 'wall': wall,\n"
        "                  'out': p.stdout[-4000:], 'err': p.stderr[-4000:]}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", helper, *cmd], capture_output=True, text=True, check=True
    )
    info = json.loads(proc.stdout)
    extra: dict[str, object] = {"rc": info["rc"], "out": info["out"], "err": info["err"]}
    lines = [ln for ln in info["out"].splitlines() if ln.startswith("{")]
    if lines:
        extra.update(json.loads(lines[-1]))
    return Step(int(info["rss"]), float(info["wall"]), extra)


def mib(n: float) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--minutes", default="10,60,480", help="soak lengths in minutes of bus time"
    )
    parser.add_argument("--mix", default="reference,busy", help="reference, busy or both")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--child-run", nargs=2, metavar=("PROFILE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_run:
        child_run(Path(args.child_run[0]), Path(args.child_run[1]))
        return 0
    try:
        lengths = [float(m) for m in args.minutes.split(",") if m.strip()]
    except ValueError:
        parser.error("--minutes must be numbers separated by commas")
    mixes = [m.strip() for m in args.mix.split(",") if m.strip()]
    if not lengths or min(lengths) <= 0 or not set(mixes) <= {"reference", "busy"} or not mixes:
        parser.error("--minutes must be positive; --mix reference, busy or both")

    header = (
        f"{'mix':<9}  {'bus time':>9}  {'frames':>12}  {'run RSS':>11}  {'run wall':>9}  "
        f"{'report':>10}  {'evaluate RSS':>12}  {'eval wall':>9}  verdicts"
    )
    print(header)
    print("-" * len(header))
    missed = False
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        for mix in mixes:
            rows: list[tuple[float, Step, int, Step]] = []
            for minutes in lengths:
                seconds = minutes * 60
                profile = soak_profile(Path(tmp), mix, seconds)
                out = Path(tmp) / f"run-{mix}-{minutes:g}"
                me = [sys.executable, str(Path(__file__).resolve())]
                run = measured([*me, "--child-run", str(profile), str(out)])
                if run.extra.get("rc") != 0:
                    print(run.extra.get("out"), run.extra.get("err"), file=sys.stderr)
                    raise SystemExit(f"the {mix} soak of {minutes:g} min failed")
                harness = [sys.executable, "-m", "harness.cli"]
                html = out / "report" / "report.html"
                measured([*harness, "report", str(out), "--out", str(html)])
                size = html.stat().st_size if html.is_file() else -1
                ev = measured([*harness, "evaluate", str(out), "--quiet"])
                rows.append((minutes, run, size, ev))
                verdicts = ",".join(f"{k}={v}" for k, v in dict(run.extra["verdicts"]).items())  # type: ignore[call-overload]
                agree = "evaluate agrees" if ev.extra.get("rc") == 0 else "EVALUATE DIFFERS"
                print(
                    f"{mix:<9}  {minutes:>6g} min  {int(run.extra['frames']):>12,}  "  # type: ignore[call-overload]
                    f"{mib(run.rss):>11}  {run.wall:>8.1f}s  {mib(size):>10}  "
                    f"{mib(ev.rss):>12}  {ev.wall:>8.1f}s  {agree}; {verdicts}",
                    flush=True,
                )
            first, last = rows[0], rows[-1]
            run_ratio = last[1].rss / first[1].rss
            ev_ratio = last[3].rss / first[3].rss
            biggest = max(r[2] for r in rows)
            ok = run_ratio <= RSS_RATIO and ev_ratio <= RSS_RATIO and biggest < REPORT_MAX
            ok = ok and all(r[3].extra.get("rc") == 0 for r in rows)
            missed = missed or not ok
            print(
                f"{mix}: RSS {last[0]:g} min / {first[0]:g} min = {run_ratio:.2f}x run, "
                f"{ev_ratio:.2f}x evaluate (target <= {RSS_RATIO}x); largest report "
                f"{mib(biggest)} (target < 5 MiB): {'PASS' if ok else 'BELOW TARGET'}",
                flush=True,
            )
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
