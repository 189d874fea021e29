"""How long a full garbage collection stops a real-time run, with and without the freeze.

A full (generation 2) pass of CPython's cyclic collector stops every thread of the process
while it scans every tracked container object. A real-time run holds the profile, its DBC,
its ASN.1 module, the simulator and the run's own observations: a pass over all that took
about 100 ms in a real-time certify of the reference profile (measured with gc.callbacks),
long enough to push a 100 ms BSM out of its 80..120 ms window. Real-time runs therefore call
``harness.clock.freeze_collector`` once their set-up is done.

This script builds that state in process (the reference profile run to its end on the
virtual clock, the session still open), then times full passes, interleaved: as they were
(every object scanned, the baseline) and after ``gc.freeze()`` (only what is created after
it is scanned; here a fresh batch of run-sized garbage each time, as a run would make).
It prints the median pause of each and their ratio.

    python bench/gc_pause.py [--passes 7] [--profile profiles/cc-tcu-1.yaml]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from pathlib import Path

from harness.bench import Bench
from harness.clock import freeze_collector
from harness.profile.compile import load_profile
from harness.session import DutChoice, Session

ROOT = Path(__file__).resolve().parents[1]


def churn() -> list[object]:
    """About what ten seconds of a run leaves for the collector: small linked records."""
    out: list[object] = []
    for n in range(20_000):
        record: dict[str, object] = {"t": n * 0.001, "data": [n & 0xFF] * 8}
        record["self"] = record  # a cycle, as callbacks and frames make
        out.append(record)
    return out


def full_pass() -> float:
    start = time.perf_counter()
    gc.collect()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=7, help="full passes of each kind")
    parser.add_argument("--profile", type=Path, default=ROOT / "profiles" / "cc-tcu-1.yaml")
    args = parser.parse_args(argv)

    plan = load_profile(args.profile)
    plain: list[float] = []
    frozen: list[float] = []
    with Session(plan, Bench(), DutChoice.parse("sim")) as session:
        session.run_all()
        tracked = len(gc.get_objects())
        for _ in range(args.passes):  # interleaved: machine load hits both alike
            garbage = churn()
            plain.append(full_pass())
            del garbage
            thaw = freeze_collector()
            garbage = churn()
            frozen.append(full_pass())
            del garbage
            thaw()
    before = statistics.median(plain)
    after = statistics.median(frozen)
    print(f"objects tracked after the run: {tracked}")
    print(f"full pass, every object scanned (baseline): {before * 1000:8.1f} ms median")
    print(f"full pass after freeze_collector():         {after * 1000:8.1f} ms median")
    print(f"ratio baseline/frozen pause: {before / after:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
