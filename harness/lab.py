"""A lab's tests in Python: open a session, drive the bus, record cases with measurements.

:func:`open_session` opens the same :class:`~harness.session.Session` as ``harness certify``
(from a profile file, a compiled :class:`~harness.profile.compile.Plan`, or a profile
written as Python data), with the same outputs (HTML report, JUnit, and with ``key=`` a
certificate), and hands back a :class:`LabSession`::

    import harness

    with harness.open_session("profiles/cc-tcu-1.yaml", bench="bench.yaml", realtime=True,
                              out="runs/lab-1") as lab:
        lab.run_profile()                          # the profile's own cases, if wanted
        with lab.case("LAB-001", "status cycle", requirements=["CAN-001"]) as case:
            t0 = lab.bus.now()
            lab.bus.run_for(1.0)
            case.check({"kind": "cycle_time", "message": "TCU_Status",
                        "min": "90 ms", "max": "110 ms"}, since=t0)
            case.measure(harness.Measurement("cycle", "ms", lower=90, upper=110,
                                             marginal_lower=95, marginal_upper=105), 100.2)

A lab case is recorded like a profile's: its checks and measurements (each a
:class:`~harness.record.CheckResult`) in ``run.json``, the report and, when every mandatory
case passed in a complete run, the certificate. Its requirement IDs must be ones the
profile traces (``profile.requirements.ids``). An exception inside the ``with`` block ends
the case in ERROR (and goes on up); a case that judged nothing is INCONCLUSIVE.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from pydantic import ValidationError
from rich.text import Text

from harness.bench import Bench, load_bench
from harness.can.lab import LabBus
from harness.checks import CHECKS, Check, Resolver
from harness.errors import InputError, ProfileError
from harness.measure import Measurement
from harness.observe import quantize
from harness.profile.compile import Plan, load_profile
from harness.record import CaseRecord, CheckResult, RunRecord, Verdict, combine
from harness.run_outputs import OutputSettings, make_outputs
from harness.session import DutChoice, Session

__all__ = ["LabCase", "LabSession", "open_session"]


def _plan(
    profile: str | os.PathLike[str] | Plan | Mapping[str, Any], base_dir: Path, scratch: Path
) -> Plan:
    if isinstance(profile, Plan):
        return profile
    if isinstance(profile, Mapping):
        # A profile written in Python: saved as YAML (its evidence keeps the exact bytes, as
        # for a file) and compiled like one; its relative paths resolve from base_dir.
        data = dict(profile)
        if isinstance(data.get("dbc"), str):
            data["dbc"] = str((base_dir / data["dbc"]).resolve())
        mqtt = data.get("mqtt")
        if isinstance(mqtt, Mapping) and isinstance(mqtt.get("asn1"), str):
            data["mqtt"] = {**mqtt, "asn1": str((base_dir / mqtt["asn1"]).resolve())}
        path = scratch / "profile.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return load_profile(path, display="<profile from code>")
    return load_profile(profile)


@contextlib.contextmanager
def open_session(
    profile: str | os.PathLike[str] | Plan | Mapping[str, Any],
    *,
    bench: str | os.PathLike[str] | Bench | None = None,
    dut: str = "sim",
    realtime: bool = False,
    out: str | os.PathLike[str] | None = None,
    key: str | os.PathLike[str] | None = None,
    outputs: Sequence[str] | None = None,
    seed: int | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    sim_process: bool = False,
) -> Iterator[LabSession]:
    """Open a session on ``profile`` against ``dut`` (``sim``, ``sim:VARIANT``, ``external``).

    ``bench``: a bench file or :class:`~harness.bench.Bench` (default: simulated on the
    virtual clock; with ``realtime=True`` python-can buses in real time); ``sim_process``
    (implies ``realtime``): the simulated ``dut`` runs in a process of its own and is
    certified as an external part, as ``harness certify --sim-process`` does; ``out``: the
    evidence folder (none: nothing is written); ``key``: sign a certificate when the run
    passes; ``outputs``: the outputs to run (default every registered one but the console);
    ``base_dir``: where a profile given as data finds its DBC (default: the current folder).
    """
    scratch = contextlib.ExitStack()
    where = Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="cc-harness-lab-")))
    with scratch:
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        with _opened(
            _plan(profile, base, where),
            bench,
            dut,
            realtime,
            out,
            key,
            outputs,
            seed,
            sim_process,
        ) as lab:
            yield lab


@contextlib.contextmanager
def _opened(
    plan: Plan,
    bench: str | os.PathLike[str] | Bench | None,
    dut: str,
    realtime: bool,
    out: str | os.PathLike[str] | None,
    key: str | os.PathLike[str] | None,
    outputs: Sequence[str] | None,
    seed: int | None,
    sim_process: bool,
) -> Iterator[LabSession]:
    from harness.certificate.issue import Issuer
    from harness.certificate.keys import load_private_key
    from harness.qualify.simproc import SimProcessLane

    the_bench = bench if isinstance(bench, Bench) else load_bench(bench)
    choice = DutChoice.parse_for(dut, plan)
    lane: SimProcessLane | None = None
    if sim_process:  # certified as an external part on the lane's bench
        lane = SimProcessLane.for_choice(plan, the_bench, choice, "sim_process")
        the_bench, choice = lane.bench, DutChoice("external")
    issuer = Issuer(key=load_private_key(Path(key))) if key is not None else None
    notes: list[str] = []
    settings = OutputSettings(
        issuer=issuer,
        say=lambda text: notes.append(Text.from_markup(text).plain),
        warn=lambda text: notes.append("warning: " + Text.from_markup(text).plain),
    )
    chosen = make_outputs(settings, outputs, leave_out=() if outputs else ("console",))
    session = Session(
        plan,
        the_bench,
        choice,
        realtime=realtime or choice.kind == "external",
        out_dir=Path(out) if out is not None else None,
        seed=seed,
        outputs=chosen,
    )
    with contextlib.ExitStack() as stack:
        if lane is not None:
            stack.enter_context(lane.hosting(session))
        stack.enter_context(session)
        lab = LabSession(session, notes)
        yield lab
        session.finish(None)


class LabSession:
    """An open session, for a lab's own code: the bus, the clock, and cases to record."""

    def __init__(self, session: Session, notes: list[str] | None = None) -> None:
        self.session = session
        self.bus = LabBus(session.loop, session.port, session.plan.dbc)
        self.notes = notes if notes is not None else []  # what the outputs said at the end

    @property
    def plan(self) -> Plan:
        return self.session.plan

    @property
    def record(self) -> RunRecord:
        return self.session.record

    @property
    def evidence(self) -> Path | None:
        return self.session.out_dir if self.session.claimed else None

    def now(self) -> float:
        return self.session.loop.now()

    def run_case(self, case_id: str) -> CaseRecord:
        """Run one case of the profile, as ``harness certify`` would."""
        try:
            case = self.plan.case(case_id)
        except KeyError:
            raise InputError(
                f"no case {case_id} in {self.plan.profile_id}",
                expected="a case id of the profile",
                got=case_id,
                choices=[c.case_id for c in self.plan.cases],
            ) from None
        return self.session.run_case(case)

    def run_profile(self) -> list[CaseRecord]:
        """Run every case of the profile, in order."""
        total = len(self.plan.cases)
        return [self.session.run_case(c, i, total) for i, c in enumerate(self.plan.cases)]

    def case(
        self,
        case_id: str,
        title: str = "",
        *,
        requirements: Sequence[str],
        mandatory: bool = True,
    ) -> LabCase:
        """A case of the lab's own, recorded when its ``with`` block ends."""
        known = list(self.plan.profile.profile.requirements.ids)
        if not requirements:
            raise InputError(
                f"case {case_id}: no requirement", expected="one or more requirement IDs"
            )
        for req in requirements:
            if req not in known:
                raise InputError(
                    f"case {case_id}: not a requirement of the set this profile traces",
                    expected="a requirement ID listed under profile.requirements.ids",
                    got=req,
                    choices=known,
                )
        taken = {c.case_id for c in self.plan.cases} | {c.case_id for c in self.record.cases}
        if not case_id or case_id in taken:
            raise InputError(
                "lab case id", expected="an id no profile case or earlier case has", got=case_id
            )
        return LabCase(self, case_id, title or case_id, tuple(requirements), mandatory)


class LabCase:
    """One case of a lab's own: checks and measurements, recorded as a case."""

    def __init__(
        self,
        lab: LabSession,
        case_id: str,
        title: str,
        requirements: tuple[str, ...],
        mandatory: bool,
    ) -> None:
        self.lab = lab
        self.case_id = case_id
        self.title = title
        self.requirements = requirements
        self.mandatory = mandatory
        self.results: list[CheckResult] = []
        self.started = lab.now()
        self.record: CaseRecord | None = None

    def __enter__(self) -> LabCase:
        self.started = self.lab.now()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        error = None if exc is None else f"{type(exc).__name__}: {exc}"
        verdicts = [r.verdict for r in self.results] + ([Verdict.ERROR] if error else [])
        self.record = CaseRecord(
            case_id=self.case_id,
            title=self.title,
            requirements=self.requirements,
            mandatory=self.mandatory,
            verdict=combine(verdicts),
            started=quantize(self.started),
            ended=quantize(self.lab.now()),
            checks=tuple(self.results),
            error=error,
        )
        self.lab.session.add_case(self.record)

    @property
    def verdict(self) -> Verdict:
        return combine([r.verdict for r in self.results])

    def measure(self, measurement: Measurement, value: float | None) -> CheckResult:
        """Judge ``value`` against ``measurement``'s limits; recorded with the case."""
        self._check_requirements(measurement.requirements)
        result = measurement.judge(value)
        self.results.append(result)
        return result

    def check(self, spec: Mapping[str, Any], since: float | None = None) -> CheckResult:
        """Evaluate a registered check kind (written as in a profile, e.g. ``{"kind":
        "cycle_time", "message": "TCU_Status", "min": "90 ms", "max": "110 ms"}``) on the
        frames from ``since`` (default: the case's start) to now."""
        built = build_check(self.lab.plan, spec, path=f"{self.case_id}.checks[{len(self.results)}]")
        self._check_requirements(built.requirements)
        t0 = self.started if since is None else since
        (result,) = self.lab.session.runner.evaluate_since([built], t0)
        self.results.append(result)
        return result

    def _check_requirements(self, requirements: Sequence[str]) -> None:
        for req in requirements:
            if req not in self.requirements:
                raise InputError(
                    f"case {self.case_id}: a check may only trace its case's requirements",
                    expected="one of " + ", ".join(self.requirements),
                    got=req,
                )


def build_check(plan: Plan, spec: Mapping[str, Any], path: str = "check") -> Check:
    """A check of a registered kind from its profile form, resolved against ``plan``'s DBC;
    a bad spec is an InputError naming ``path`` and what was expected."""
    kind = spec.get("kind")
    if not isinstance(kind, str) or kind not in CHECKS:
        raise InputError(
            f"{path}.kind: unknown check kind",
            expected="a registered check kind",
            got=kind,
            choices=sorted(CHECKS),
        )
    cls = CHECKS[kind]
    try:
        params = cls.Params.model_validate(dict(spec))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{path}.{where}: {first['msg']}", got=first.get("input")) from None

    def error(rel: tuple[str | int, ...], message: str | None = None, **kw: Any) -> ProfileError:
        return ProfileError(message, path=".".join(str(p) for p in (path, *rel[1:])), **kw)

    resolver = Resolver(
        plan.dbc, plan.e2e, [], error, ("check",), [m.name for m in plan.dut_messages]
    )
    resolver.mqtt = plan.extra.get("mqtt")
    resolver.diagnostics = plan.profile.diagnostics
    return cls(params, resolver)
