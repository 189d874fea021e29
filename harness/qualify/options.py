"""The options of ``harness qualify``, apart from the command itself.

The parser is built on every ``harness`` invocation (``--help`` included), so this module
imports nothing heavy: :func:`harness.qualify.cli.cmd_qualify` is imported when it runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["MAX_DEFAULT_JOBS", "register"]

MAX_DEFAULT_JOBS = 8  # beyond this, process start-up costs more than the runs it spreads


def _cmd_qualify(args: argparse.Namespace, out: Console, err: Console) -> int:
    from harness.qualify.cli import cmd_qualify

    return cmd_qualify(args, out, err)


def _count(minimum: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, but got '{text}'") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected at least {minimum}, but got {value}")
        return value

    return parse


def register(sub: Any) -> None:
    """Add ``qualify`` to the CLI's subcommands."""
    q = sub.add_parser(
        "qualify",
        help="qualify the harness for a profile against the simulator and its faulty variants",
        description="Tool qualification (ISO 26262-8 clause 11 style): run the reference "
        "simulator --runs times simulated and --realtime-runs times in real time, then "
        "every faulty variant (simulated, once each), and write qualification.json and "
        "qualification.html: the variant-by-case matrix and five criteria: (1) every "
        "reference run passes every mandatory case, (2) the reference runs agree on every "
        "case and check verdict, (3) the simulated reference runs record identical cases, "
        "(4) every variant whose requirement the profile traces fails a case tracing it, "
        "(5) no variant fails a case or check that does not trace its requirement, errs or "
        "stops. Variants whose requirement no case traces are listed as out of scope. "
        "Real-time runs raise the scheduling priority of the harness, the simulator and "
        "the broker processes where the OS permits (the bench's realtime.priority: auto, "
        "off or 1..20; recorded in each run.json).",
        epilog="exit codes: 0 qualified (every criterion holds), 1 a criterion fails, "
        "2 bad input, 3 the qualification could not complete (Ctrl-C, SIGTERM, a reference "
        "run that could not complete, a queued run a bench refused; the report is written "
        "in these cases) or the --queue broker cannot be reached (before anything is "
        "written)",
    )
    q.add_argument("profile", type=Path, help="profile YAML file")
    q.add_argument(
        "--runs",
        type=_count(1),
        default=10,
        metavar="N",
        help="simulated reference runs (default 10)",
    )
    q.add_argument(
        "--realtime-runs",
        type=_count(0),
        default=3,
        metavar="M",
        help="real-time reference runs, one after another, each as long as the profile's "
        "bus time (default 3; 0 skips them)",
    )
    q.add_argument(
        "--dut",
        default="sim",
        metavar="sim:NAME",
        help="the simulated DUT to qualify against, whose faulty variants run (default sim: "
        "the registered part implementing the profile's requirement set, e.g. cc-gw-1 for "
        "CC-GW-1, else the reference cc-tcu-1; see 'harness sim list')",
    )
    q.add_argument(
        "--variant",
        action="append",
        metavar="NAME",
        help="run only this faulty variant (repeatable; default: every registered variant, "
        "see 'harness sim variants')",
    )
    q.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="folder for the report (default: runs/qualify-<profile>-<UTC time>)",
    )
    q.add_argument(
        "--bench",
        type=Path,
        metavar="FILE",
        help="bench YAML file for the real-time runs, which certify the simulator in a "
        "process of its own as --dut external (default: udp_multicast on a free port per run "
        "and the embedded MQTT broker in a process of its own with a relay; a virtual bus "
        "becomes udp_multicast); "
        "simulated runs always use the in-memory bus and broker",
    )
    q.add_argument(
        "--ics",
        type=Path,
        metavar="FILE",
        help="the part's conformance statement (format: cc-harness-ics/1) for every run: "
        "cases needing a feature it does not claim are NOT APPLICABLE (default: the bench's "
        "conformance key, else every case applies)",
    )
    q.add_argument(
        "--jobs",
        type=_count(1),
        default=None,
        metavar="K",
        help=f"worker processes for the simulated runs (default: one per CPU, at most "
        f"{MAX_DEFAULT_JOBS}); the results do not depend on it",
    )
    q.add_argument(
        "--queue",
        nargs="?",
        const="",
        default=None,
        metavar="BROKER",
        help="spread the runs over the bench workers of 'harness queue worker' on this "
        "Celery broker (redis://host:6379/0; without a value: $CC_HARNESS_BROKER) instead "
        "of running them here: simulated runs on any bench, real-time runs on a bench that "
        "meets --needs, each on the worker's own bench file; the verdicts are those of a "
        "local qualification with the same --seed, and evidence stays on the bench that ran "
        "the run (default: no queue, every run in this machine)",
    )
    q.add_argument(
        "--needs",
        metavar="SPEC",
        help="with --queue: what the bench of a real-time run must have, comma-separated "
        "interface=NAME, fd, buses=N (default: any bench; fd whenever the profile's bus is "
        "CAN FD)",
    )
    q.add_argument(
        "--keep-evidence",
        action="store_true",
        help="write every run's evidence folder under OUT/runs/<run>/ and keep them all "
        "(default: only the real-time runs write evidence, kept only when the run "
        "misbehaved: it did not pass every case, the reference runs' verdicts differ, or it "
        "was interrupted; simulated runs write none, since each replays exactly with "
        "'harness certify --dut sim[:VARIANT] --seed N')",
    )
    q.add_argument(
        "--seed",
        type=_count(0),
        metavar="N",
        help="run seed of fuzz steps that set no seed of their own, the same for every run "
        "so that the runs get the same stimuli (default: a fresh random one, printed and "
        "kept in the report)",
    )
    q.set_defaults(handler=_cmd_qualify)
