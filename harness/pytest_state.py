"""What the pytest plugin keeps for one pytest run (in ``config.stash``): the options, the
compiled profiles, and one :class:`~harness.session.Session` per profile with its outputs.

Each profile's session is opened at the first item that needs it and closed when pytest
finishes; the session runs the selected outputs (HTML report, JUnit XML, certificate, a
lab's) when it closes, on every way out, exactly as under ``harness certify``. What the
outputs said ("report: ...", "certificate: ...", "no certificate: ...") is kept for the
terminal summary.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from rich.text import Text

from harness.bench import Bench, load_bench
from harness.certificate.issue import ISSUE_OPTIONS, Issuer
from harness.errors import HarnessError, InputError, RunAborted
from harness.options import OUTPUT_OPTIONS, output_names, pytest_namespace
from harness.outputs import check_output_file
from harness.profile.compile import Plan, load_profile
from harness.record import RunRecord
from harness.run_outputs import OutputSettings, make_outputs
from harness.session import DutChoice, Session

__all__ = ["HarnessState", "ProfileRun", "display_path", "resolve_path"]


@dataclass
class ProfileRun:
    """One profile's session, opened on first use, or why it could not be."""

    plan: Plan
    evidence: Path | None = None
    session: Session | None = None
    error: BaseException | None = None
    stack: ExitStack = field(default_factory=ExitStack)
    notes: list[str] = field(default_factory=list)  # what the outputs said


def resolve_path(config: pytest.Config, path: str | os.PathLike[str]) -> Path:
    return (config.invocation_params.dir / Path(path)).resolve()


def display_path(config: pytest.Config, path: Path) -> str:
    """A path as the user would type it: relative to where pytest was started, if inside."""
    try:
        return str(path.resolve().relative_to(config.invocation_params.dir.resolve()))
    except ValueError:
        return str(path)


def _plain(markup: str) -> str:
    return Text.from_markup(markup).plain


class HarnessState:
    """Everything the plugin keeps for one pytest run."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        opt = config.getoption
        profile = opt("harness_profile")
        self.profile: Path | None = resolve_path(config, profile) if profile else None
        bench = opt("harness_bench")
        self.bench_path: Path | None = resolve_path(config, bench) if bench else None
        self.dut_text = opt("harness_dut")
        self.dut = DutChoice.parse(self.dut_text)  # a bare sim: the profile's part, per plan
        self.sim_process = bool(opt("harness_sim_process"))
        if self.sim_process and self.dut.kind != "sim":
            raise InputError("--sim-process", expected="a simulated DUT (--dut sim...)")
        self.realtime = (
            bool(opt("harness_realtime")) or self.dut.kind == "external" or self.sim_process
        )
        evidence = opt("harness_evidence")
        self.evidence_root: Path | None = resolve_path(config, evidence) if evidence else None
        out = opt("harness_out")
        self.out: Path | None = resolve_path(config, out) if out else None
        if self.out is not None and self.evidence_root is not None:
            raise InputError(
                "--out and --evidence", expected="one of them (--out: one profile's folder)"
            )
        self.seed: int | None = opt("harness_seed")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise InputError("--seed", expected="an integer from 0 to 2^63-1", got=self.seed)
        # The same output options as `harness certify`, checked before anything runs.
        issue = pytest_namespace(opt, ISSUE_OPTIONS)
        if issue.key is not None:
            issue.key = resolve_path(config, issue.key)
        self.issuer = Issuer.from_args(issue)
        outputs = pytest_namespace(opt, OUTPUT_OPTIONS)
        self.junit: Path | None = resolve_path(config, outputs.junit) if outputs.junit else None
        if self.junit is not None:
            check_output_file(self.junit, "--junit")
        self.output_names = output_names(outputs.outputs)
        make_outputs(OutputSettings(), self.output_names)  # an unknown name: a usage error
        self.named_files: set[Path] = set()
        self.plans: dict[Path, Plan | HarnessError] = {}
        self.runs: dict[Path, ProfileRun] = {}
        self._bench: Bench | HarnessError | None = None

    # -- inputs --------------------------------------------------------------------------------
    def plan(self, path: Path) -> Plan:
        """The compiled profile at ``path`` (loaded once; a load error is raised each time)."""
        key = path.resolve()
        if key not in self.plans:
            try:
                self.plans[key] = load_profile(path, display=display_path(self.config, path))
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
            run = self.runs[key] = ProfileRun(self.plan(path))
            self._open(run)
        if run.error is not None:
            raise run.error
        assert run.session is not None
        return run.session

    def _evidence_dir(self, plan: Plan) -> Path:
        if self.out is not None:
            if any(r.evidence == self.out for r in self.runs.values()):
                raise InputError(
                    f"--out {self.out} is already the evidence folder of another profile",
                    expected="one profile with --out, or --evidence DIR for several",
                )
            return self.out
        if self.evidence_root is not None:
            return self.evidence_root / plan.profile_id
        factory = getattr(self.config, "_tmp_path_factory", None)
        if isinstance(factory, pytest.TempPathFactory):
            return factory.getbasetemp() / "evidence" / plan.profile_id
        return Path(tempfile.mkdtemp(prefix="cc-harness-evidence-")) / plan.profile_id

    def _open(self, run: ProfileRun) -> None:
        plan = run.plan
        try:
            out_dir = self._evidence_dir(plan)
            run.evidence = out_dir
            if (out_dir / "run.json").exists():
                raise InputError(
                    f"{out_dir} already holds a run",
                    expected="a new or empty --evidence folder",
                )
            settings = OutputSettings(
                junit=self.junit,
                issuer=self.issuer,
                quiet=True,
                say=lambda text: run.notes.append(_plain(text)),
                warn=lambda text: run.notes.append("warning: " + _plain(text)),
            )
            # pytest prints its own progress and summary: every output but the console
            outputs = make_outputs(settings, self.output_names, leave_out=("console",))
            bench, dut = self.bench(), DutChoice.parse_for(self.dut_text, plan)
            lane = None
            if self.sim_process:  # certified as an external part on the lane's bench
                from harness.qualify.simproc import SimProcessLane

                lane = SimProcessLane.for_choice(plan, bench, dut, "--sim-process")
                bench, dut = lane.bench, DutChoice("external")
            session = Session(
                plan,
                bench,
                dut,
                realtime=self.realtime,
                out_dir=out_dir,
                seed=self.seed,
                outputs=outputs,
            )
            if lane is not None:
                run.stack.enter_context(lane.hosting(session))
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
        """Close every session (its outputs run now); an interrupted pytest run is ABORTED."""
        for run in self.runs.values():
            if run.session is not None:
                reason: BaseException | None = run.error
                if interrupted and reason is None:
                    reason = RunAborted("pytest was interrupted")
                run.session.finish(reason)
            try:
                run.stack.close()
            except Exception as exc:  # an output failed (a certificate that did not verify)
                run.notes.append(f"error: {exc}")

    def summary_lines(self) -> list[str]:
        return [line for run in self.runs.values() for line in _summary_lines(run)]


def _summary_lines(run: ProfileRun) -> list[str]:
    plan = run.plan
    head = f"{plan.profile_id} {plan.version}"
    lines: list[str] = []
    if run.session is None:
        lines.append(f"{head}: session did not open: {run.error}")
        if run.evidence is not None:
            lines.append(f"  evidence: {run.evidence}")
        lines.extend(f"  {note}" for note in run.notes)
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
    lines.extend(f"  {note}" for note in run.notes)
    for req, verdict in record.requirement_verdicts().items():
        cases = [c.case_id for c in record.cases if req in c.requirements]
        lines.append(f"  {req:<12} {verdict.text:<14} {', '.join(cases)}")
    return lines
