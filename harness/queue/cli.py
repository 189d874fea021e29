"""``harness queue submit|worker|status``: runs queued onto the benches that can carry them.

Options only here; Celery and the harness's run machinery are imported when a command runs.
Exit codes: ``submit`` 0 queued (with ``--wait`` or the embedded default: 0 passed, 1 a case
failed, 3 the run could not complete, was refused or did not end in time); ``worker`` runs
until SIGTERM / Ctrl-C (Celery's warm shutdown: the run in progress ends first); ``status``
0. Every command: 2 bad input, 3 the broker unreachable (named without its credentials).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["register"]

BROKER_ENV = "CC_HARNESS_BROKER"
EXIT_PASS, EXIT_FAIL, EXIT_INCOMPLETE = 0, 1, 3


def _broker_help() -> str:
    return (
        f"Celery broker URL, e.g. redis://bench-host:6379/0 (default: ${BROKER_ENV}; "
        "without either, submit runs the request here, in process)"
    )


def register(sub: Any) -> None:
    """Add ``queue`` with ``submit``, ``worker`` and ``status`` to the CLI's subcommands."""
    q = sub.add_parser(
        "queue",
        help="queue runs onto bench machines (Celery, Redis) and run bench workers",
        description="Queue certification runs onto the bench machines whose capabilities "
        "match (interface kind, CAN FD, bus count): one Celery queue per capability set, "
        "each worker consuming the queues its bench meets. Without a broker, submit runs "
        "the request in this process.",
    )
    qsub = q.add_subparsers(dest="queue_command", required=True, parser_class=type(q))
    sb = qsub.add_parser(
        "submit",
        help="queue a run of PROFILE for a bench with the needed capabilities",
        description="Queue one run of PROFILE (pinned by its sha256: a bench with another "
        "copy refuses it). Prints the request id; 'harness queue status ID' follows it.",
    )
    sb.add_argument("profile", type=Path, help="profile YAML file (the same path on the benches)")
    sb.add_argument("--broker", default=os.environ.get(BROKER_ENV), help=_broker_help())
    sb.add_argument(
        "--dut", default="sim", help="sim (default), sim:NAME[:VARIANT], sim:VARIANT or external"
    )
    sb.add_argument(
        "--needs",
        default="",
        metavar="SPEC",
        help="what the bench must have: comma-separated interface=NAME, fd, buses=N "
        "(default: any bench)",
    )
    sb.add_argument("--realtime", action="store_true", help="run in real time")
    sb.add_argument("--case", action="append", dest="cases", metavar="ID", help="only this case")
    sb.add_argument("--seed", type=int, help="run seed of fuzz steps without their own")
    sb.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="wait up to SECONDS for the outcome and exit with it",
    )
    sb.add_argument("--bench", type=Path, help="embedded default only: this machine's bench")
    sb.add_argument(
        "--evidence",
        type=Path,
        default=Path("runs") / "queue",
        help="embedded default only: evidence root (default runs/queue)",
    )
    sb.set_defaults(handler=_cmd_submit)

    wk = qsub.add_parser(
        "worker",
        help="serve this bench: take the queued runs it can carry",
        description="Run a Celery worker for this bench: it consumes every queue whose "
        "needs the bench meets and writes each run's evidence under --evidence. Stops on "
        "SIGTERM or Ctrl-C (after the run in progress).",
    )
    wk.add_argument("--broker", default=os.environ.get(BROKER_ENV), help=_broker_help())
    wk.add_argument("--bench", type=Path, help="bench YAML file (default: python-can virtual)")
    wk.add_argument("--evidence", type=Path, required=True, metavar="DIR", help="evidence root")
    wk.add_argument("--name", help="bench name in results (default: the bench file's name)")
    wk.add_argument("--fd", action="store_true", help="the bench's interface speaks CAN FD")
    wk.add_argument("--buses", type=int, default=1, metavar="N", help="CAN buses (default 1)")
    wk.add_argument("--concurrency", type=int, default=1, metavar="K", help="runs at once")
    wk.add_argument(
        "--visibility-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="when a dead machine's run goes back to the queue (default 48 h: above the "
        "longest run)",
    )
    wk.set_defaults(handler=_cmd_worker)

    st = qsub.add_parser(
        "status",
        help="the state and outcome of queued runs",
        description="Print each request's state (PENDING: queued or unknown, STARTED: on a "
        "bench, SUCCESS: finished) and its outcome.",
    )
    st.add_argument("ids", nargs="+", metavar="ID")
    st.add_argument("--broker", default=os.environ.get(BROKER_ENV), help=_broker_help())
    st.add_argument("--json", action="store_true", help="one JSON object per line")
    st.set_defaults(handler=_cmd_status)


def _where(broker: str) -> str:
    from harness.queue.app import where

    return where(broker)


def _check_broker(app: Any, broker: str) -> None:
    from harness.queue.app import check_broker

    check_broker(app, broker)


def _exit_code(outcome: dict[str, Any]) -> int:
    if outcome.get("status") == "COMPLETED":
        return EXIT_PASS if outcome.get("passed") else EXIT_FAIL
    return EXIT_INCOMPLETE


def _say_outcome(out: Console, outcome: dict[str, Any]) -> None:
    bench = outcome.get("bench", {})
    out.print(
        f"{outcome['request_id']}: {outcome['status']}"
        f"{' PASS' if outcome.get('passed') else ''} on bench {bench.get('name')} "
        f"({bench.get('interface')}, fd {bench.get('fd')}, {bench.get('buses')} bus(es))"
        + (f"; evidence {outcome['evidence']}" if outcome.get("evidence") else "")
        + (f"; {outcome['error']}" if outcome.get("error") else ""),
        highlight=False,
        soft_wrap=True,
    )


def _cmd_submit(args: argparse.Namespace, out: Console, err: Console) -> int:
    from harness.profile.compile import load_profile
    from harness.queue.app import TASK_NAME, make_app, serve_station
    from harness.queue.execute import Station
    from harness.queue.model import Needs, RunRequest
    from harness.session import DutChoice

    needs = Needs.parse(args.needs)
    DutChoice.parse(args.dut)
    plan = load_profile(args.profile)
    known = [c.case_id for c in plan.cases]
    for case_id in args.cases or ():
        if case_id not in known:
            raise InputError(
                f"--case {case_id}: no such case in {plan.profile_id}",
                expected="a case id of the profile",
                got=case_id,
                choices=known,
            )
    request = RunRequest(
        profile=str(args.profile.resolve()),
        digest=plan.digest,
        dut=args.dut,
        needs=needs,
        realtime=args.realtime,
        cases=tuple(args.cases or ()),
        seed=args.seed,
    )
    app = make_app(args.broker)
    if args.broker is None:  # the embedded default: run it here, now
        station = Station.from_options(args.bench, args.evidence)
        if not station.caps.meets(needs):
            raise InputError(
                f"--needs {args.needs}: this bench ({station.caps.describe()}) does not meet "
                "them; give a --broker to queue the run for another bench"
            )
        serve_station(station)
        err.print(f"running {request.request_id} here (no broker)")
        outcome: dict[str, Any] = app.tasks[TASK_NAME].apply(args=[request.to_json()]).get()
        _say_outcome(out, outcome)
        return _exit_code(outcome)
    _check_broker(app, args.broker)
    app.send_task(
        TASK_NAME, args=[request.to_json()], queue=request.queue, task_id=request.request_id
    )
    out.print(f"{request.request_id} queued on {request.queue}", highlight=False)
    if args.wait is None:
        return EXIT_PASS
    result = app.AsyncResult(request.request_id)
    deadline = time.monotonic() + args.wait
    while not result.ready():
        if time.monotonic() > deadline:
            err.print(f"{request.request_id}: still {result.state} after {args.wait:g} s")
            return EXIT_INCOMPLETE
        time.sleep(0.2)
    if result.state != "SUCCESS":
        err.print(f"{request.request_id}: {result.state}: {result.result}")
        return EXIT_INCOMPLETE
    _say_outcome(out, result.result)
    return _exit_code(result.result)


def _cmd_worker(args: argparse.Namespace, out: Console, err: Console) -> int:
    from harness.queue.app import DEFAULT_VISIBILITY, make_app, serve_station
    from harness.queue.execute import Station
    from harness.queue.model import queues_served

    if args.broker is None:
        raise InputError("a worker needs a broker", expected=f"--broker URL or ${BROKER_ENV}")
    if args.concurrency < 1:
        raise InputError("--concurrency", expected="at least 1", got=args.concurrency)
    station = Station.from_options(
        args.bench, args.evidence, name=args.name, fd=args.fd, buses=args.buses
    )
    app = make_app(args.broker, visibility_timeout=args.visibility_timeout or DEFAULT_VISIBILITY)
    _check_broker(app, args.broker)
    serve_station(station)
    queues = queues_served(station.caps)
    err.print(
        f"bench {station.name} ({station.caps.describe()}) serving {len(queues)} queue(s) "
        f"on {_where(args.broker)}; evidence in {args.evidence}",
        highlight=False,
    )
    argv = [
        "worker",
        "--queues",
        ",".join(queues),
        "--hostname",
        f"{station.name}@%h",
        "--concurrency",
        str(args.concurrency),
        "--pool",
        "prefork",
        "--without-gossip",
        "--without-mingle",
        "--optimization",
        "fair",
        "--loglevel",
        "INFO",
    ]
    try:
        app.worker_main(argv=argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _cmd_status(args: argparse.Namespace, out: Console, err: Console) -> int:
    from harness.queue.app import make_app

    if args.broker is None:
        raise InputError("status needs a broker", expected=f"--broker URL or ${BROKER_ENV}")
    app = make_app(args.broker)
    _check_broker(app, args.broker)
    for request_id in args.ids:
        result = app.AsyncResult(request_id)
        state = result.state
        info = result.info if isinstance(result.info, dict) else None
        if args.json:
            sys.stdout.write(json.dumps({"id": request_id, "state": state, "info": info}) + "\n")
        elif state == "SUCCESS" and info is not None:
            _say_outcome(out, info)
        else:
            detail = f" ({', '.join(f'{k} {v}' for k, v in info.items())})" if info else ""
            out.print(f"{request_id}: {state}{detail}", highlight=False)
    return 0
