"""pytest plugin: certification profiles as pytest items, and fixtures for a lab's own tests.

Installed with the package (entry point ``pytest11: cc_harness``; ``-p no:cc_harness``
turns it off). It lets CI and labs run a profile with pytest's selection, reporting and
JUnit XML, on the same :class:`~harness.session.Session` as ``harness certify``::

    pytest profiles/cc-tcu-1.yaml                         # every case, simulated DUT
    pytest profiles/cc-tcu-1.yaml -k CAN-003 --dut sim:stuck-counter
    pytest --profile profiles/cc-tcu-1.yaml --bench lab.yaml --dut external --junitxml r.xml

Options (group "cc-harness"): ``--profile FILE``, ``--bench FILE``, ``--dut
sim:NAME[:VARIANT] | sim | sim:VARIANT | external`` (default ``sim``, the reference TCU),
``--realtime`` (always so with an external DUT), ``--sim-process`` (the simulated DUT in
a process of its own, as ``harness certify --sim-process``), ``--evidence DIR`` or ``--out
DIR`` (one profile's folder, as ``harness certify --out``), and the outputs' options of
``harness certify``, defined once for both (:mod:`harness.options`): ``--junit FILE``, ``--output
NAMES``, ``--key PRIVATE_KEY``, ``--issuer-level``, ``--validity DAYS``, and ``--seed N``.

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
    ``DIR`` for ``--out DIR`` (one profile), ``DIR/<profile id>`` for ``--evidence DIR``,
    else under pytest's base temporary folder
    (``<basetemp>/evidence/<profile id>``); like ``harness certify``, a folder that already
    holds a run is refused. The terminal summary prints, per profile, the evidence folder,
    what the outputs wrote (or why no certificate) and one verdict line per requirement.
    State lives in ``config.stash``: the plugin is not for ``pytest-xdist`` (each worker
    would open a DUT session of its own).

Outputs
    When a profile's session closes (pytest finished, failed, or was interrupted), it runs
    the same outputs as ``harness certify`` (:mod:`harness.run_outputs`) but the console:
    ``<evidence>/report/report.html`` and ``report/junit.xml`` (and a copy at ``--junit``),
    and with ``--key`` a certificate for a complete run of every case with every mandatory
    case passed (never for a failed, interrupted or ``-k``-selected run); the summary says
    where each went, or why no certificate.

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

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.certificate.issue_options import ISSUE_GROUP, ISSUE_OPTIONS
from harness.errors import HarnessError, InputError
from harness.options import OUTPUT_OPTIONS, add_to_pytest
from harness.profile.compile import PlannedCase
from harness.pytest_fixtures import (
    STATE,
    LabDut,
    bench,
    can_bus,
    clock,
    dut,
    harness_session,
    state,
)
from harness.pytest_state import HarnessState, resolve_path
from harness.record import CaseRecord, Verdict

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

__all__ = ["CaseFailed", "LabDut", "ProfileCase", "ProfileFile"]
# the fixtures live in harness.pytest_fixtures; named here, pytest finds them in the plugin
FIXTURES = (bench, can_bus, clock, dut, harness_session)

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
        help="sim:NAME[:VARIANT] (a simulated DUT, see 'harness sim list'), sim (default: "
        "the registered part implementing the profile's requirement set, else cc-tcu-1), "
        "sim:VARIANT (a faulty variant of it) or external (a part on "
        "the bench's bus)",
    )
    group.addoption(
        "--realtime",
        dest="harness_realtime",
        action="store_true",
        help="run in real time on python-can buses (always so with --dut external)",
    )
    group.addoption(
        "--sim-process",
        dest="harness_sim_process",
        action="store_true",
        help="implies --realtime: the simulated DUT runs in a process of its own and is "
        "certified as an external part (as 'harness certify --sim-process')",
    )
    group.addoption(
        "--evidence",
        dest="harness_evidence",
        metavar="DIR",
        help="write each profile's evidence to DIR/<profile id> "
        "(default: under pytest's base temporary folder)",
    )
    group.addoption(
        "--out",
        dest="harness_out",
        metavar="DIR",
        help="the evidence folder of the one profile run (as 'harness certify --out')",
    )
    group.addoption(
        "--seed",
        dest="harness_seed",
        type=int,
        metavar="N",
        help="the run seed of fuzz steps that set no seed of their own (default: random)",
    )
    add_to_pytest(group, OUTPUT_OPTIONS)
    add_to_pytest(parser.getgroup("cc-harness certificate", ISSUE_GROUP), ISSUE_OPTIONS)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requirement(id): the case traces this requirement ID (one marker per requirement)",
    )
    config.addinivalue_line(
        "markers", "harness_case: an item made from a certification profile's case"
    )
    try:
        st = HarnessState(config)
    except InputError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[STATE] = st
    if st.profile is not None:
        named = str(config.getoption("harness_profile"))
        if config.args_source is not pytest.Config.ArgsSource.ARGS:
            config.args[:] = [named]
        elif not any(_arg_path(config, a) == st.profile for a in config.args):
            config.args.append(named)
        st.named_files.add(st.profile)
    for arg in config.args:
        path = _arg_path(config, arg)
        if path.suffix.lower() in YAML_SUFFIXES and (path == st.profile or _is_profile_text(path)):
            st.named_files.add(path)


def _arg_path(config: pytest.Config, arg: str) -> Path:
    return resolve_path(config, arg.split("::", 1)[0])


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ProfileFile | None:
    if file_path.suffix.lower() not in YAML_SUFFIXES:
        return None
    st = parent.config.stash.get(STATE, None)
    if st is None or file_path.resolve() not in st.named_files:
        return None
    return ProfileFile.from_parent(parent, path=file_path)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    st = session.config.stash.get(STATE, None)
    if st is not None:  # each profile's session closes: its outputs run now
        st.close(interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)


def pytest_unconfigure(config: pytest.Config) -> None:
    # Sessions are normally closed at sessionfinish; this covers a run that never got there.
    st: HarnessState | None = config.stash.get(STATE, None)
    if st is not None:
        st.close(interrupted=True)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    st = config.stash.get(STATE, None)
    if st is None or not st.runs:
        return
    terminalreporter.write_sep("=", "cc-harness")
    for line in st.summary_lines():
        terminalreporter.write_line(line)


# -- collection -------------------------------------------------------------------------------
class ProfileFile(pytest.File):
    """A certification profile: one item per case."""

    def collect(self) -> Iterator[ProfileCase]:
        try:
            plan = state(self.config).plan(self.path)
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
        st = state(self.config)
        try:
            session = st.session(self.path)
            record = session.run_case(self.case)
        except HarnessError as exc:
            self.user_properties.append(("verdict", Verdict.ERROR.value))
            st.broke(self.path, exc)
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
        run = st.runs.get(self.path.resolve())
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
