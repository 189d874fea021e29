"""pytest plugin: certification profiles as pytest items, and fixtures for a lab's own tests.

Installed with the package (entry point ``pytest11: cc_harness``; ``-p no:cc_harness``
turns it off). It lets CI and labs run a profile with pytest's selection, reporting and
JUnit XML, on the same :class:`~harness.session.Session` as ``harness certify``::

    pytest profiles/cc-tcu-1.yaml                         # every case, simulated DUT
    pytest profiles/cc-tcu-1.yaml -k CAN-003 --dut sim:stuck-counter
    pytest --profile profiles/cc-tcu-1.yaml --bench lab.yaml --dut external --junitxml r.xml

Options (group "cc-harness"): ``--profile FILE``, ``--bench FILE``, ``--dut
sim:NAME[:VARIANT] | sim | sim:VARIANT | external`` (default ``sim``, the reference TCU),
``--realtime`` (always so with an external DUT) and ``--evidence DIR``.

Collection rule
    A YAML file (``.yaml``/``.yml``) is collected only when it was named on its own: as a
    command-line argument (or a ``testpaths`` entry) that is the file itself, or with
    ``--profile``. Files met while walking a directory are never collected, so plain
    ``pytest`` in a repository full of bench files and deliberately broken corpus profiles
    collects none of them. A named argument must also look like a profile: a top-level
    ``format: cc-harness-profile/...`` line within its first 4 KiB. ``--profile`` names a
    profile outright and adds it to what is collected: after the other arguments when
    arguments were given, alone when none were (so ``pytest --profile p.yaml`` at the top
    of this repository runs the profile, not the unit tests too).

Items
    One item per case, named by case ID (``profiles/cc-tcu-1.yaml::TC-CAN-003``), run in
    collection order. Every requirement a case traces (its own and its checks') is a
    ``requirement`` marker (``-m "requirement(id='CAN-003')"``), a keyword (``-k CAN-003``)
    and a JUnit XML property ``requirement``; each item also carries ``mandatory`` and, once
    run, ``verdict``. Every case item carries the ``harness_case`` marker, so
    ``-m "not harness_case"`` runs only a lab's Python tests. A profile that does not load
    is a collection error showing the harness's ``file:line:col path: expected ...``.

    PASS passes; FAIL, ERROR and INCONCLUSIVE fail with each non-passing check and its
    offending frame, not a traceback; a failing non-mandatory case is an xfail; a case whose
    checks were all skipped is skipped. If the session cannot open (the DUT never answers,
    the interface or bench is wrong), every item of the profile fails with that message.

Session and evidence
    The items of one profile share one session (one DUT, one bus, one evidence folder),
    opened at the first item that needs it and closed when pytest finishes. Evidence goes to
    ``DIR/<profile id>`` for ``--evidence DIR``, else under pytest's base temporary folder
    (``<basetemp>/evidence/<profile id>``); like ``harness certify``, a folder that already
    holds a run is refused. The terminal summary prints, per profile, the evidence folder
    and one verdict line per requirement. State lives in ``config.stash``: the plugin is
    not for ``pytest-xdist`` (each worker would open a DUT session of its own).

Fixtures
    ``bench`` (session)
        The :class:`~harness.bench.Bench` from ``--bench``, or the defaults.
    ``harness_session`` (session)
        The open :class:`~harness.session.Session` of the ``--profile`` profile: the same one
        its YAML items use when both run together. Without ``--profile`` it fails with a
        usage message.
    ``clock``
        The session's clock (``.now()``; virtual in simulated mode, wall time otherwise).
    ``can_bus``
        A :class:`~harness.can.lab.LabBus` on the session's bus and loop: ``send(id_or_name,
        data)``, ``run_for(seconds)``, ``wait_for(id_or_name, timeout)`` (a ``Frame`` or
        None), ``frames(id_or_name, since=None)`` and ``decode(frame)``.
    ``dut``
        A :class:`LabDut`: the ``--dut`` choice, and the in-process
        :class:`~harness.sim.tcu.ReferenceTcu` when the simulator runs on the session's
        virtual clock (None otherwise).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.bench import Bench, load_bench
from harness.can.lab import LabBus
from harness.clock import RealClock, VirtualClock
from harness.errors import HarnessError, InputError, RunAborted
from harness.plan import Plan, PlannedCase
from harness.profile.compile import load_profile
from harness.record import CaseRecord, RunRecord, Verdict
from harness.session import DutChoice, Session
from harness.sim.tcu import ReferenceTcu

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

__all__ = ["CaseFailed", "LabDut", "ProfileCase", "ProfileFile"]

YAML_SUFFIXES = (".yaml", ".yml")
SNIFF_BYTES = 4096
_PROFILE_FORMAT = re.compile(rb"^format:[ \t]*[\"']?cc-harness-profile/", re.MULTILINE)


# -- errors shown without a traceback ---------------------------------------------------------
class CaseFailed(Exception):
    """A case's verdict was not PASS; the message lists what failed and where."""


def _plain(excinfo: pytest.ExceptionInfo[BaseException], config: pytest.Config) -> str | None:
    """The message to show instead of a traceback, for the harness's own errors."""
    if config.getoption("fulltrace", False):
        return None
    if isinstance(excinfo.value, (CaseFailed, HarnessError)):
        return str(excinfo.value)
    return None


# -- state (in config.stash) ------------------------------------------------------------------
@dataclass
class _ProfileRun:
    """One profile's session, opened on first use, or why it could not be."""

    plan: Plan
    evidence: Path | None = None
    session: Session | None = None
    error: BaseException | None = None
    stack: ExitStack = field(default_factory=ExitStack)


class _HarnessState:
    """Everything the plugin keeps for one pytest run."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        profile = config.getoption("harness_profile")
        self.profile: Path | None = _resolve(config, profile) if profile else None
        bench = config.getoption("harness_bench")
        self.bench_path: Path | None = _resolve(config, bench) if bench else None
        self.dut = DutChoice.parse(config.getoption("harness_dut"))
        self.realtime = bool(config.getoption("harness_realtime")) or self.dut.kind == "external"
        evidence = config.getoption("harness_evidence")
        self.evidence_root: Path | None = _resolve(config, evidence) if evidence else None
        self.named_files: set[Path] = set()
        self.plans: dict[Path, Plan | HarnessError] = {}
        self.runs: dict[Path, _ProfileRun] = {}
        self._bench: Bench | HarnessError | None = None

    # -- inputs --------------------------------------------------------------------------------
    def plan(self, path: Path) -> Plan:
        """The compiled profile at ``path`` (loaded once; a load error is raised each time)."""
        key = path.resolve()
        if key not in self.plans:
            try:
                self.plans[key] = load_profile(path, display=_display(self.config, path))
            except HarnessError as exc:
                self.plans[key] = exc
        found = self.plans[key]
        if isinstance(found, HarnessError):
            raise found
        return found

    def bench(self) -> Bench:
        if self._bench is None:
            try:
                self._bench = load_bench(self.bench_path)
            except HarnessError as exc:
                self._bench = exc
        if isinstance(self._bench, HarnessError):
            raise self._bench
        return self._bench

    # -- sessions ------------------------------------------------------------------------------
    def session(self, path: Path) -> Session:
        """The open session of the profile at ``path``; the same error each time it failed."""
        key = path.resolve()
        run = self.runs.get(key)
        if run is None:
            run = self.runs[key] = _ProfileRun(self.plan(path))
            self._open(run)
        if run.error is not None:
            raise run.error
        assert run.session is not None
        return run.session

    def _evidence_dir(self, plan: Plan) -> Path:
        if self.evidence_root is not None:
            return self.evidence_root / plan.profile_id
        factory = getattr(self.config, "_tmp_path_factory", None)
        if isinstance(factory, pytest.TempPathFactory):
            return factory.getbasetemp() / "evidence" / plan.profile_id
        return Path(tempfile.mkdtemp(prefix="cc-harness-evidence-")) / plan.profile_id

    def _open(self, run: _ProfileRun) -> None:
        plan = run.plan
        try:
            out_dir = run.evidence = self._evidence_dir(plan)
            if (out_dir / "run.json").exists():
                raise InputError(
                    f"{out_dir} already holds a run",
                    expected="a new or empty --evidence folder",
                )
            session = Session(plan, self.bench(), self.dut, realtime=self.realtime, out_dir=out_dir)
            run.stack.enter_context(session)
            run.session = session
        except Exception as exc:  # a bug as much as a HarnessError: every item shows it
            run.error = exc

    def broke(self, path: Path, exc: BaseException) -> None:
        """The session failed mid-run: later items of the profile fail with this error."""
        run = self.runs.get(path.resolve())
        if run is not None and run.error is None:
            run.error = exc

    def close(self, interrupted: bool) -> None:
        for run in self.runs.values():
            if run.session is not None:
                reason: BaseException | None = run.error
                if interrupted and reason is None:
                    reason = RunAborted("pytest was interrupted")
                run.session.finish(reason)
            run.stack.close()


_STATE = pytest.StashKey[_HarnessState]()


def _state(config: pytest.Config) -> _HarnessState:
    return config.stash[_STATE]


def _resolve(config: pytest.Config, path: str | os.PathLike[str]) -> Path:
    return (config.invocation_params.dir / Path(path)).resolve()


def _display(config: pytest.Config, path: Path) -> str:
    """A path as the user would type it: relative to where pytest was started, if inside."""
    try:
        return str(path.resolve().relative_to(config.invocation_params.dir.resolve()))
    except ValueError:
        return str(path)


def _is_profile_text(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return False
    return _PROFILE_FORMAT.search(head) is not None


# -- hooks ------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cc-harness", "connected-car certification harness")
    group.addoption(
        "--profile",
        dest="harness_profile",
        metavar="FILE",
        help="certification profile whose cases to run and whose session the "
        "harness_session, can_bus, clock and dut fixtures use",
    )
    group.addoption(
        "--bench",
        dest="harness_bench",
        metavar="FILE",
        help="bench YAML file: bus interface, channel, DUT identity (default: virtual CAN)",
    )
    group.addoption(
        "--dut",
        dest="harness_dut",
        default="sim",
        metavar="DUT",
        help="sim:NAME[:VARIANT] (a simulated DUT, see 'harness sim list'), sim (= "
        "sim:cc-tcu-1, default), sim:VARIANT (a faulty variant of it) or external (a part on "
        "the bench's bus)",
    )
    group.addoption(
        "--realtime",
        dest="harness_realtime",
        action="store_true",
        help="run in real time on python-can buses (always so with --dut external)",
    )
    group.addoption(
        "--evidence",
        dest="harness_evidence",
        metavar="DIR",
        help="write each profile's evidence to DIR/<profile id> "
        "(default: under pytest's base temporary folder)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requirement(id): the case traces this requirement ID (one marker per requirement)",
    )
    config.addinivalue_line(
        "markers", "harness_case: an item made from a certification profile's case"
    )
    try:
        state = _HarnessState(config)
    except InputError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_STATE] = state
    if state.profile is not None:
        named = str(config.getoption("harness_profile"))
        if config.args_source is not pytest.Config.ArgsSource.ARGS:
            config.args[:] = [named]
        elif not any(_arg_path(config, a) == state.profile for a in config.args):
            config.args.append(named)
        state.named_files.add(state.profile)
    for arg in config.args:
        path = _arg_path(config, arg)
        if path.suffix.lower() in YAML_SUFFIXES and (
            path == state.profile or _is_profile_text(path)
        ):
            state.named_files.add(path)


def _arg_path(config: pytest.Config, arg: str) -> Path:
    return _resolve(config, arg.split("::", 1)[0])


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ProfileFile | None:
    if file_path.suffix.lower() not in YAML_SUFFIXES:
        return None
    state = parent.config.stash.get(_STATE, None)
    if state is None or file_path.resolve() not in state.named_files:
        return None
    return ProfileFile.from_parent(parent, path=file_path)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is not None:
        state.close(interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)


def pytest_unconfigure(config: pytest.Config) -> None:
    # Sessions are normally closed at sessionfinish; this covers a run that never got there.
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.close(interrupted=True)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    state = config.stash.get(_STATE, None)
    if state is None or not state.runs:
        return
    tr = terminalreporter
    tr.write_sep("=", "cc-harness")
    for run in state.runs.values():
        for line in _summary_lines(run):
            tr.write_line(line)


def _summary_lines(run: _ProfileRun) -> list[str]:
    plan = run.plan
    head = f"{plan.profile_id} {plan.version}"
    lines: list[str] = []
    if run.session is None:
        lines.append(f"{head}: session did not open: {run.error}")
        if run.evidence is not None:
            lines.append(f"  evidence: {run.evidence}")
        return lines
    record: RunRecord = run.session.record
    counts: dict[str, int] = {}
    for case in record.cases:
        counts[case.verdict.text.lower()] = counts.get(case.verdict.text.lower(), 0) + 1
    tally = ", ".join(f"{n} {v}" for v, n in counts.items()) or "none run"
    lines.append(
        f"{head} ({record.mode}, DUT {record.dut}): {len(record.cases)} "
        f"case{'' if len(record.cases) == 1 else 's'}: {tally}; "
        f"run {record.status.value}"
    )
    if record.error:
        lines.append(f"  error: {record.error}")
    lines.append(f"  evidence: {run.evidence}")
    for req, verdict in record.requirement_verdicts().items():
        cases = [c.case_id for c in record.cases if req in c.requirements]
        lines.append(f"  {req:<12} {verdict.text:<14} {', '.join(cases)}")
    return lines


# -- collection -------------------------------------------------------------------------------
class ProfileFile(pytest.File):
    """A certification profile: one item per case."""

    def collect(self) -> Iterator[ProfileCase]:
        try:
            plan = _state(self.config).plan(self.path)
        except HarnessError as exc:
            raise self.CollectError(str(exc)) from None
        for case in plan.cases:
            yield ProfileCase.from_parent(self, name=case.case_id, case=case)


class ProfileCase(pytest.Item):
    """One case of a profile, run on the profile's shared session."""

    def __init__(self, *, case: PlannedCase, **kw: Any) -> None:
        super().__init__(**kw)
        self.case = case
        self.record: CaseRecord | None = None
        self.add_marker(pytest.mark.harness_case)
        for req in case.requirements:
            self.add_marker(pytest.mark.requirement(req, id=req))
            self.extra_keyword_matches.add(req)
            self.user_properties.append(("requirement", req))
        self.user_properties.append(("mandatory", "true" if case.mandatory else "false"))

    def runtest(self) -> None:
        state = _state(self.config)
        try:
            session = state.session(self.path)
            record = session.run_case(self.case)
        except HarnessError as exc:
            self.user_properties.append(("verdict", Verdict.ERROR.value))
            state.broke(self.path, exc)
            raise
        self.record = record
        self.user_properties.append(("verdict", record.verdict.value))
        if record.verdict is Verdict.PASS:
            return
        if record.verdict is Verdict.SKIPPED:
            pytest.skip(f"{record.case_id}: every check was skipped")
        if record.verdict is Verdict.NOT_APPLICABLE:  # the bench's conformance statement
            pytest.skip(f"{record.case_id}: NOT APPLICABLE: {record.not_applicable}")
        if not record.mandatory:
            pytest.xfail(f"optional case {_one_line(record)}")
        run = state.runs.get(self.path.resolve())
        raise CaseFailed(_failure_text(record, run.evidence if run else None))

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | TerminalRepr:
        text = _plain(excinfo, self.config)
        if text is not None:
            return text
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.case.case_id}: {self.case.title}"


# -- failure text -----------------------------------------------------------------------------
def _one_line(record: CaseRecord) -> str:
    bad = [
        f"{c.label or c.kind}: {c.summary}" for c in record.checks if c.verdict is not Verdict.PASS
    ]
    if record.error:
        bad.append(f"error: {record.error}")
    return f"{record.case_id} {record.verdict.value}: " + "; ".join(bad)


def _failure_text(record: CaseRecord, evidence: Path | None) -> str:
    lines = [
        _one_line(record),
        f"  case: {record.title}",
        f"  requirements: {', '.join(record.requirements)}"
        + ("" if record.mandatory else " (optional case)"),
    ]
    for check in record.checks:
        if check.verdict is Verdict.PASS:
            continue
        lines.append(f"  {check.verdict.value} {check.label or check.kind}: {check.summary}")
        if check.offender is not None:
            lines.append(f"    {check.offender.describe()}")
    if record.error:
        lines.append(f"  error: {record.error}")
    if evidence is not None:
        lines.append(f"  evidence: {evidence}")
    return "\n".join(lines)


# -- fixtures for a lab's own tests -----------------------------------------------------------
@dataclass(frozen=True)
class LabDut:
    """The DUT of the session: what ``--dut`` chose, and the in-process simulator if any."""

    choice: DutChoice
    tcu: ReferenceTcu | None = None

    @property
    def simulated(self) -> bool:
        return self.tcu is not None


@pytest.fixture(scope="session")
def bench(pytestconfig: pytest.Config) -> Bench:
    """The bench from ``--bench`` (or the defaults)."""
    try:
        return _state(pytestconfig).bench()
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def harness_session(pytestconfig: pytest.Config) -> Session:
    """The open session of the ``--profile`` profile, shared with its YAML items."""
    state = _state(pytestconfig)
    if state.profile is None:
        pytest.fail(
            "the harness_session fixture needs --profile PROFILE (the profile whose DUT "
            "session the test runs on)",
            pytrace=False,
        )
    try:
        return state.session(state.profile)
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def clock(harness_session: Session) -> VirtualClock | RealClock:
    """The session's clock: ``.now()`` in virtual or wall-clock seconds."""
    return harness_session.loop.clock


@pytest.fixture
def can_bus(harness_session: Session) -> LabBus:
    """Send, run the loop and look at the DUT's frames on the session's bus."""
    return LabBus(harness_session.loop, harness_session.port, harness_session.plan.dbc)


@pytest.fixture
def dut(harness_session: Session) -> LabDut:
    """The ``--dut`` choice and, in simulated mode, the in-process reference TCU."""
    return LabDut(harness_session.dut, harness_session.tcu)
