"""``harness``: certify a part from a profile, validate profiles, run the simulator.

Exit codes: 0 every mandatory case passed (or the command succeeded), 1 a case failed,
2 bad input (profile, bench, arguments), 3 the run could not complete (DUT silent, interface
failure, interrupted), 4 a certificate or its evidence failed verification. Every
:class:`~harness.errors.HarnessError` is printed as ``error: <message>`` without a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError, InputError, RunAborted

# Everything heavy (python-can, cantools, asn1tools, pydantic, rich, cryptography) is imported
# by the command that needs it, so that `harness --help` and `harness validate` start fast.
if TYPE_CHECKING:
    from rich.console import Console

    from harness.plan import Plan

__all__ = ["main"]

EXIT_PASS, EXIT_FAIL, EXIT_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(EXIT_INPUT)


class _Version(argparse.Action):
    """``--version``: looks the version up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from harness.session import harness_version

        parser.exit(message=f"harness {harness_version()}\n")


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line; with ``only`` (a subcommand defined here), that subcommand alone:
    it parses and helps exactly the same, without importing what the others need."""
    parser = _Parser(
        prog="harness",
        description="Connected-car component certification harness: certify a part over CAN "
        "from a YAML profile, against the built-in simulator or a real part.",
        epilog="exit codes: 0 passed, 1 a case failed, 2 bad input, 3 run could not complete, "
        "4 certificate or evidence failed verification",
    )
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    if only in (None, "certify"):
        _certify_parser(sub)
    if only in (None, "validate"):
        _validate_parser(sub)
    if only is None:
        _other_parsers(sub)
    return parser


def _certify_parser(sub: Any) -> None:
    from harness.certificate.issue_options import add_issue_options
    from harness.options import OUTPUT_OPTIONS, add_to_argparse
    from harness.server.options import add_centre_options

    cert = sub.add_parser(
        "certify",
        help="run a profile against a DUT and write the evidence",
        description="Run every case of PROFILE against the DUT and write the evidence folder "
        "(trace.blf, run.json). By default the DUT is the built-in reference simulator on a "
        "virtual clock (simulated mode: fast and deterministic).",
    )
    cert.add_argument("profile", type=Path, help="profile YAML file")
    cert.add_argument("--bench", type=Path, help="bench YAML file (bus interface, channel, ...)")
    cert.add_argument(
        "--dut",
        default="sim",
        help="sim:NAME[:VARIANT] (a simulated DUT and optionally one of its faulty variants, "
        "see 'harness sim list'), sim (default: the registered simulated part implementing "
        "the profile's requirement set, e.g. cc-gw-1 for CC-GW-1, else the built-in reference "
        "TCU cc-tcu-1), "
        "sim:VARIANT (= sim:cc-tcu-1:VARIANT) or external (a part on the bench's bus)",
    )
    cert.add_argument(
        "--realtime",
        action="store_true",
        help="run in real time on python-can buses (always so with --dut external); "
        "the bench's realtime.priority raises this process's priority (default auto)",
    )
    cert.add_argument(
        "--sim-process",
        action="store_true",
        help="implies --realtime: the simulated DUT runs in a process of its own, as 'harness "
        "sim run' does, and is certified as an external part (a virtual bus becomes "
        "udp_multicast on a free port; without a bench broker, the embedded one and a relay "
        "on free ports); its timers then never wait on the harness's interpreter lock",
    )
    cert.add_argument(
        "--out",
        type=Path,
        help="evidence folder to write (default: runs/<profile>-<UTC time>)",
    )
    cert.add_argument("--quiet", action="store_true", help="print only the summary")
    cert.add_argument(
        "--seed",
        type=int,
        help="the run seed of fuzz steps that set no seed of their own (default: a fresh "
        "random one; it is printed and kept in run.json, so a finding replays with it)",
    )
    cert.add_argument(
        "--case",
        action="append",
        dest="cases",
        metavar="ID",
        help="run only this case (repeatable), e.g. to replay a fuzz finding; such a run "
        "never gets a certificate",
    )
    add_to_argparse(cert, OUTPUT_OPTIONS)  # --junit, --output (shared with the pytest plugin)
    cert.add_argument(
        "--identity",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="the value of an identity item the profile declares without a DID (a part "
        "without diagnostics), repeatable; wins over the bench's dut.identity",
    )
    cert.add_argument(
        "--ics",
        type=Path,
        metavar="FILE",
        help="the part's implementation conformance statement (format: cc-harness-ics/1): "
        "which optional features of the profile it has; cases needing one it lacks are NOT "
        "APPLICABLE (wins over the bench's conformance key)",
    )
    add_issue_options(cert)
    add_centre_options(cert)


def _validate_parser(sub: Any) -> None:
    val = sub.add_parser(
        "validate",
        help="load and check profiles without running them",
        description="Load each PROFILE strictly and resolve it against its DBC. Exit 0 when "
        "all are valid, 2 on the first error (printed with file:line:col).",
    )
    val.add_argument("profiles", type=Path, nargs="+")


def _other_parsers(sub: Any) -> None:
    sch = sub.add_parser(
        "schema",
        help="print the JSON Schema of profiles (or bench files)",
        description="Print the JSON Schema of the profile format, for editors to complete "
        "and check profiles.",
    )
    sch.add_argument("--bench", action="store_true", help="the bench file schema instead")

    sim = sub.add_parser("sim", help="the simulated DUTs (built-in and from plug-ins)")
    simsub = sim.add_subparsers(dest="sim_command", required=True, parser_class=_Parser)
    tcu = simsub.add_parser(
        "tcu",
        help="run the reference CC-TCU-1 as its own process",
        description="Run the reference CC-TCU-1 on the bench's bus in real time until "
        "Ctrl-C or SIGTERM, so that 'harness certify --dut external' can test it like a "
        "supplier's part.",
    )
    tcu.add_argument("--bench", type=Path, help="bench YAML file (default: virtual CAN)")
    tcu.add_argument("--variant", help="a faulty variant (see 'harness sim variants')")
    tcu.add_argument(
        "--dbc", type=Path, default=None, help="DBC file (default: the bundled cc-tcu-1.dbc)"
    )
    simsub.add_parser("variants", help="list the faulty variants of cc-tcu-1 and what each breaks")
    simsub.add_parser(
        "list",
        help="list the simulated DUTs and their faulty variants",
        description="List every registered DUT provider (built-in and from the "
        "cc_harness.duts entry point group) with its faulty variants: the requirement each "
        "breaks and how. 'harness certify --dut sim:NAME[:VARIANT]' runs one.",
    )
    run = simsub.add_parser(
        "run",
        help="run a simulated DUT as its own process",
        description="Run the simulated DUT NAME (see 'harness sim list') on the bench's bus "
        "in real time until Ctrl-C or SIGTERM, so that 'harness certify --dut external' can "
        "test it like a supplier's part. 'harness sim tcu' is 'harness sim run cc-tcu-1'.",
    )
    run.add_argument("name", help="the DUT provider, optionally NAME:VARIANT")
    run.add_argument("--bench", type=Path, help="bench YAML file naming a shared bus")
    run.add_argument("--variant", help="a faulty variant of the DUT")
    run.add_argument("--dbc", type=Path, default=None, help="DBC file (default: the DUT's own)")
    for parser in (tcu, run):
        parser.add_argument(
            "--timer-watch",
            action="store_true",
            help="say on stderr how late this process's timers woke (a 'timer watch:' JSON "
            "line when one was late, and every 10 s), as the harness's own real-time runs "
            "record theirs; 'harness certify --sim-process' reads it into run.json",
        )
    for register in _command_modules():
        register(sub)


Handler = Callable[[argparse.Namespace, "Console", "Console"], int]


def _command_modules() -> list[Callable[[Any], None]]:
    """Further command families, each in its own module: ``register(subparsers)`` adds
    subcommands whose parsers ``set_defaults(handler=fn)`` with ``fn(args, out, err) -> int``.
    """
    from harness.certificate.cli import register as certificate_commands
    from harness.init_cli import register as init_commands
    from harness.qualify.options import register as qualify_commands
    from harness.queue.cli import register as queue_commands
    from harness.report.commands import register as report_commands
    from harness.server.cli import register as server_commands

    return [
        certificate_commands,
        report_commands,
        qualify_commands,
        server_commands,
        queue_commands,
        init_commands,
    ]


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise RunAborted("terminated by SIGTERM")


def cmd_certify(args: argparse.Namespace, out: Console, err: Console) -> int:
    # Every input is checked before the evidence folder is created (validation before side
    # effects); the Session then claims the folder atomically, so one run writes it.
    from rich.markup import escape

    from harness.bench import check_references, load_bench
    from harness.certificate.issue import Issuer
    from harness.certify_args import chosen_cases, given_identity_for, sim_process_lane
    from harness.options import output_names
    from harness.outputs import check_out_folder, check_output_file
    from harness.profile.compile import load_profile
    from harness.run_outputs import OutputSettings, make_outputs
    from harness.server.certify import after_run, centre_for_run
    from harness.session import DutChoice, Session

    plan = load_profile(args.profile)
    _dbc_warnings(plan, err)
    bench = load_bench(args.bench)
    dut = DutChoice.parse_for(args.dut, plan)
    lane = sim_process_lane(args.sim_process, plan, bench, dut)
    if lane is not None:  # certified as an external part on the lane's bench
        bench, dut = lane.bench, DutChoice("external")
    realtime = args.realtime or dut.kind == "external"
    check_references(bench, broker=realtime)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir: Path = args.out or Path("runs") / f"{plan.profile_id}-{stamp}"
    if args.seed is not None and not 0 <= args.seed < 2**63:
        raise InputError("--seed", expected="an integer from 0 to 2^63-1", got=args.seed)
    cases = chosen_cases(plan, args.cases)
    issuer = Issuer.from_args(args)  # a bad --key fails now, not after the run
    identity = given_identity_for(plan, bench, args.identity, issuer is not None)
    from harness.conformance import conformance_for

    conformance = conformance_for(
        plan.profile.features, plan.profile_id, bench.conformance, bench.source, args.ics
    )
    if args.junit is not None:
        check_output_file(args.junit, "--junit")
    check_out_folder(out_dir)
    # The outputs (console, report, JUnit, certificate, a lab's) run on every way out of the
    # session: passed, failed, interrupted, incomplete (harness.run_outputs).
    settings = OutputSettings(
        junit=args.junit,
        issuer=issuer,
        quiet=args.quiet,
        say=lambda text: out.print(text, highlight=False, soft_wrap=True),
        warn=lambda text: err.print(f"[yellow]warning:[/] {text}"),
        console=out,
        error_console=err,
    )
    outputs = make_outputs(settings, output_names(args.outputs))
    old = signal.signal(signal.SIGTERM, _on_sigterm)
    session = Session(
        plan,
        bench,
        dut,
        realtime=realtime,
        out_dir=out_dir,
        seed=args.seed,
        identity=identity,
        conformance=conformance,
        outputs=outputs,
    )
    centre = centre_for_run(args, session, plan, cases, err)  # prompts, --server, --submit
    try:
        with contextlib.ExitStack() as stack:
            if lane is not None:
                stack.enter_context(lane.hosting(session))
            stack.enter_context(session)
            err.print(
                f"certifying {plan.profile_id} {plan.version} against DUT {session.record.dut} "
                f"({session.record.mode}); evidence in {escape(str(out_dir))}"
            )
            if plan.seeded_fuzz_steps(cases):
                err.print(
                    f"fuzz run seed {session.fuzz.run_seed} (replay with --seed "
                    f"{session.fuzz.run_seed})"
                )
            session.run_all(None if len(cases) == len(plan.cases) else cases)
    except KeyboardInterrupt:
        return EXIT_INCOMPLETE
    except Exception as exc:
        session.finish(exc)  # a simulator process that never came up: INCOMPLETE, then said
        raise
    finally:
        signal.signal(signal.SIGTERM, old)
        centre.run_ended(session.record)
    after_run(centre, session, out_dir, out)
    return EXIT_PASS if session.record.passed else EXIT_FAIL


def _dbc_warnings(plan: Plan, err: Console) -> None:
    """What a lenient DBC reading let through, one warning each (the profile asked for it)."""
    from rich.markup import escape

    for relaxed in plan.dbc.relaxations:
        err.print(f"[yellow]warning:[/] {escape(relaxed)}", highlight=False, soft_wrap=True)


def cmd_validate(args: argparse.Namespace, out: Console, err: Console) -> int:
    from rich.markup import escape

    # Loading makes many lasting objects (modules, models) and next to no cycles: passes of
    # the collector over them cost a sixth of the command's time and find nothing. The same
    # holds for the full collection Python makes of them when it exits (a fifth more): at
    # exit they are frozen first (atexit runs before it; nothing is left open to finalise).
    _freeze_at_exit()
    gc.disable()
    try:
        from harness.profile.compile import load_profile

        for path in args.profiles:
            plan = load_profile(path)
            _dbc_warnings(plan, err)
            out.print(
                f"{escape(str(path))}: valid profile {plan.profile_id} {plan.version}, "
                f"{len(plan.cases)} cases, "
                f"requirements {', '.join(plan.requirement_ids)}",
                highlight=False,
            )
    finally:
        gc.enable()
    return EXIT_PASS


_FREEZE_AT_EXIT: list[bool] = []


def _freeze_at_exit() -> None:
    if not _FREEZE_AT_EXIT:
        import atexit

        atexit.register(gc.freeze)
        _FREEZE_AT_EXIT.append(True)


def cmd_schema(args: argparse.Namespace) -> int:
    if args.bench:
        from harness.bench import Bench

        schema = Bench.model_json_schema(by_alias=True)
    else:
        from harness.profile.model import Profile

        schema = Profile.model_json_schema(by_alias=True)
        schema["title"] = "cc-harness certification profile (cc-harness-profile/1)"
    sys.stdout.write(json.dumps(schema, indent=2) + "\n")
    return EXIT_PASS


def cmd_sim(args: argparse.Namespace, out: Console) -> int:
    from rich.markup import escape

    from harness.dut import DUTS
    from harness.sim.provider import PROVIDER as reference_tcu  # registers cc-tcu-1

    if args.sim_command == "variants":
        for v in reference_tcu.variants.values():
            out.print(f"{v.name:<20} {v.requirement:<8} {v.description}", highlight=False)
        return EXIT_PASS
    if args.sim_command == "list":
        for name, provider in DUTS.items():
            origin = DUTS.origin(name)
            source = "" if origin == "harness" else escape(f"  [from {origin}]")
            line = f"sim:{name}  {escape(provider.description)}{source}"
            out.print(line, highlight=False, soft_wrap=True)
            for v in provider.variants.values():
                line = f"  {v.name:<30} {v.requirement:<8} {escape(v.description)}"
                out.print(line, highlight=False, soft_wrap=True)
        return EXIT_PASS
    from harness.bench import load_bench
    from harness.can.dbc import load_dbc
    from harness.sim.host import serve

    name, variant = "cc-tcu-1", args.variant
    if args.sim_command == "run":
        name, _, inline = args.name.partition(":")
        if inline and variant and inline != variant:
            raise InputError("sim run: two variants", expected="NAME:VARIANT or --variant")
        variant = variant or inline or None
    provider = DUTS.get(name)
    if variant:
        provider.variant(variant)
    if args.bench is None:
        raise InputError(
            "the simulator as its own process needs a bench file naming a shared bus",
            expected="--bench FILE (for example interface udp_multicast)",
        )
    bench = load_bench(args.bench).with_channel_default()
    dbc = args.dbc or provider.default_dbc()
    if dbc is None:
        raise InputError(f"the simulated DUT {name} bundles no DBC", expected="--dbc FILE")
    db = load_dbc(dbc)
    say = lambda s: out.print(s, highlight=False)  # noqa: E731
    return serve(provider, bench, db, variant, announce=say, timer_watch=args.timer_watch)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `harness validate ...` builds its own subcommand only (start-up time, issue 13).
    only = "validate" if argv[:1] == ["validate"] else None
    gc.disable()  # imports make many lasting objects and no garbage: no collector passes
    try:
        args = _parser(only).parse_args(argv)
        from rich.console import Console
        from rich.markup import escape
    finally:
        gc.enable()

    # No emoji codes (a path with ':x:' prints as written); markup in user text is escaped.
    out = Console(highlight=False, emoji=False)
    err = Console(stderr=True, highlight=False, emoji=False)
    try:
        handler: Handler | None = getattr(args, "handler", None)
        if handler is not None:
            return handler(args, out, err)
        if args.command == "certify":
            return cmd_certify(args, out, err)
        if args.command == "validate":
            return cmd_validate(args, out, err)
        if args.command == "schema":
            return cmd_schema(args)
        if args.command == "sim":
            return cmd_sim(args, out)
    except HarnessError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("[bold magenta]aborted[/]")
        return EXIT_INCOMPLETE
    return EXIT_INPUT  # pragma: no cover - argparse requires a command


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
