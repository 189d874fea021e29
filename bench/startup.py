"""Fixed costs of the command line: ``harness --help`` and ``harness validate`` start-up.

Times each command as a fresh process (what a user waits for), interleaved with the
baseline ``python -c 'import can, cantools'`` (the two libraries any CAN tool loads), and
prints the median wall time of each and its ratio to the baseline. Targets: ``--help``
under 0.3 s, ``validate profiles/cc-tcu-1.yaml`` under 0.5 s. Exit status is 0 unless
``--strict`` is given and a target is missed.

The commands run with Python's bytecode cache on (``PYTHONDONTWRITEBYTECODE`` removed from
their environment), as after an ordinary ``pip install``, which compiles it: the warm-up run
writes what is missing. Without the cache every start compiles every module from source,
which costs more than the imports themselves.

    python bench/startup.py [--runs 7] [--strict]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "cc-tcu-1.yaml"

BASELINE = ("baseline: import can, cantools", [sys.executable, "-c", "import can, cantools"])
COMMANDS = [
    ("harness --help", [sys.executable, "-m", "harness.cli", "--help"], 0.3),
    ("harness validate", [sys.executable, "-m", "harness.cli", "validate", str(PROFILE)], 0.5),
]


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (median)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    names = [BASELINE[0], *(name for name, _, _ in COMMANDS)]
    times: dict[str, list[float]] = {name: [] for name in names}
    for cmd in (BASELINE[1], *(c for _, c, _ in COMMANDS)):  # warm the file cache
        wall(cmd)
    for _ in range(args.runs):  # interleaved: machine load hits every command alike
        times[BASELINE[0]].append(wall(BASELINE[1]))
        for name, cmd, _ in COMMANDS:
            times[name].append(wall(cmd))
    base = statistics.median(times[BASELINE[0]])
    print(f"{BASELINE[0]:<32} median {base:.3f} s")
    missed = False
    for name, _, target in COMMANDS:
        median = statistics.median(times[name])
        ok = median < target
        missed |= not ok
        print(
            f"{name:<32} median {median:.3f} s (target < {target} s: {'met' if ok else 'MISSED'})"
            f"  ratio {name.split()[1]}/baseline {median / base:.2f}x"
        )
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
