"""Tool qualification: ``harness qualify`` and the rules of :mod:`harness.qualify`.

The criteria are checked against the real simulator and its faulty variants; the expected
outcomes come from the variant registry and the profile's tracing, never from a list here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.bench import Bench
from harness.cli import main
from harness.plan import Plan
from harness.profile.compile import load_profile
from harness.qualify import (
    QualificationRun,
    RunSpec,
    VariantVerdict,
    assess,
    assess_variant,
    traced_requirements,
)
from harness.qualify.runs import QualifyObserver, QualifyOptions, execute, plan_specs
from harness.qualify.simproc import SimProcessLane
from harness.record import CaseRecord, CheckResult, RunRecord, RunStatus, Verdict
from harness.session import DutChoice, Session
from harness.sim.variants import VARIANTS, Variant
from tests.conftest import PROFILE, ROOT, default_signals, harness_cmd, run_harness

SHORT = ROOT / "tests" / "report" / "ci-short.yaml"
SUBSET = ("slow-cycle", "stuck-counter", "bsm-5hz")


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_profile(PROFILE)


@pytest.fixture(scope="module")
def subset(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> list[QualificationRun]:
    """Two simulated reference runs and three variants, carried out once for the module."""
    specs = plan_specs(QualifyOptions(runs=2, realtime_runs=0, variants=SUBSET))
    execution = execute(plan, specs, Bench(), tmp_path_factory.mktemp("subset"), seed=7)
    assert execution.incomplete_reason is None
    return execution.runs


def _specs(runs: list[QualificationRun]) -> list[RunSpec]:
    return [r.spec for r in runs]


# -- the rule for one variant, on records built from the profile ---------------------------------
def _record(plan: Plan, verdicts: dict[str, Verdict], status: RunStatus) -> RunRecord:
    cases = [
        CaseRecord(
            case_id=c.case_id,
            title=c.title,
            requirements=c.requirements,
            mandatory=c.mandatory,
            verdict=verdicts.get(c.case_id, Verdict.PASS),
            started=0.0,
            ended=1.0,
            checks=(CheckResult("signal", verdicts.get(c.case_id, Verdict.PASS), "s"),),
        )
        for c in plan.cases
    ]
    return RunRecord(
        run_id="r",
        profile_id=plan.profile_id,
        profile_version=plan.version,
        profile_digest=plan.digest,
        dbc_digest=plan.dbc_digest,
        harness_version="0",
        mode="simulated",
        dut="sim",
        bench={},
        started_wall="2026-01-01T00:00:00+00:00",
        status=status,
        cases=cases,
    )


def test_assess_variant_tells_caught_missed_spurious_error_and_incomplete(plan: Plan) -> None:
    variant = VARIANTS["stuck-counter"]
    tracing = [c.case_id for c in plan.cases if variant.requirement in c.requirements]
    other = next(c.case_id for c in plan.cases if variant.requirement not in c.requirements)
    done = RunStatus.COMPLETED
    assert tracing

    caught = assess_variant(variant, _record(plan, {tracing[0]: Verdict.FAIL}, done), plan)
    assert caught.verdict is VariantVerdict.CAUGHT
    assert caught.detecting_cases == (tracing[0],)
    assert caught.tracing_cases == tuple(tracing)

    missed = assess_variant(variant, _record(plan, {}, done), plan)
    assert missed.verdict is VariantVerdict.MISSED and not missed.detecting_cases

    both = {tracing[0]: Verdict.FAIL, other: Verdict.FAIL}
    spurious = assess_variant(variant, _record(plan, both, done), plan)
    assert spurious.verdict is VariantVerdict.SPURIOUS
    assert spurious.detecting_cases == (tracing[0],)  # caught, but not cleanly
    assert other in spurious.explanation

    error = assess_variant(variant, _record(plan, {tracing[0]: Verdict.ERROR}, done), plan)
    assert error.verdict is VariantVerdict.ERROR

    stopped = _record(plan, {tracing[0]: Verdict.FAIL}, RunStatus.INCOMPLETE)
    assert assess_variant(variant, stopped, plan).verdict is VariantVerdict.INCOMPLETE
    assert assess_variant(variant, None, plan).verdict is VariantVerdict.NOT_RUN


def test_a_failing_check_of_another_requirement_is_spurious_even_in_a_tracing_case(
    plan: Plan,
) -> None:
    variant = VARIANTS["stuck-counter"]
    case = next(c for c in plan.cases if variant.requirement in c.requirements)
    record = _record(plan, {case.case_id: Verdict.FAIL}, RunStatus.COMPLETED)
    foreign = CheckResult("cycle_time", Verdict.FAIL, "late", requirements=("ZZZ-999",))
    record.cases[plan.cases.index(case)] = dataclasses.replace(
        record.cases[plan.cases.index(case)], checks=(foreign,)
    )
    outcome = assess_variant(variant, record, plan)
    assert outcome.verdict is VariantVerdict.SPURIOUS
    assert "ZZZ-999" in outcome.explanation


def test_a_variant_of_an_untraced_requirement_is_out_of_scope(plan: Plan) -> None:
    untraced = Variant("made-up", "ZZZ-001", "breaks a requirement no case traces")
    assert "ZZZ-001" not in traced_requirements(plan)
    outcome = assess_variant(untraced, _record(plan, {}, RunStatus.COMPLETED), plan)
    assert outcome.verdict is VariantVerdict.OUT_OF_SCOPE and not outcome.in_scope


# -- the criteria, with the real simulator ---------------------------------------------------------
def test_a_variant_subset_qualifies(plan: Plan, subset: list[QualificationRun]) -> None:
    chosen = {name: VARIANTS[name] for name in SUBSET}
    q = assess(plan, _specs(subset), subset, chosen, all_variants=VARIANTS)
    assert q.verdict == "QUALIFIED" and q.exit_code == 0
    assert all(c.passed for c in q.criteria), [c.to_json() for c in q.criteria if not c.passed]
    assert [o.variant.name for o in q.outcomes] == list(SUBSET)
    assert {o.verdict for o in q.outcomes} == {VariantVerdict.CAUGHT}
    assert any("restricted to 3" in note for note in q.notes)
    matrix = q.matrix_json()
    case_ids = [c.case_id for c in plan.cases]
    assert [c["id"] for c in matrix["cases"]] == case_ids
    for row, outcome in zip(matrix["rows"], q.outcomes, strict=True):
        assert list(row["cells"]) == case_ids
        traced = [cid for cid, cell in row["cells"].items() if cell["traces_requirement"]]
        assert traced == list(outcome.tracing_cases)
        failed = [cid for cid, cell in row["cells"].items() if cell["verdict"] != "PASS"]
        assert failed == list(outcome.detecting_cases)
    assert all(t == {"PASS": 2} for t in matrix["reference"].values())


def test_a_flaky_reference_run_fails_qualification(
    plan: Plan, subset: list[QualificationRun]
) -> None:
    """One reference run whose case flips to FAIL: not passed, flaky, not deterministic."""
    second = next(r for r in subset if r.spec.name == "reference-simulated-2")
    case = second.record.cases[3]
    flipped = dataclasses.replace(case, verdict=Verdict.FAIL)
    record = dataclasses.replace(
        second.record, cases=[flipped if c is case else c for c in second.record.cases]
    )
    runs = [dataclasses.replace(r, record=record) if r is second else r for r in subset]
    q = assess(plan, _specs(runs), runs, {n: VARIANTS[n] for n in SUBSET})
    failed = {c.key: c for c in q.criteria if not c.passed}
    assert set(failed) == {"reference-passes", "no-flaky-verdicts", "simulated-deterministic"}
    assert q.verdict == "NOT QUALIFIED" and q.exit_code == 1
    for criterion in failed.values():
        assert any(case.case_id in d for d in criterion.details), criterion
    assert any("reference-simulated-2" in d for d in failed["no-flaky-verdicts"].details)


def _without_timing(report: dict[str, Any]) -> dict[str, Any]:
    for run in report["runs"]:
        run.pop("seconds", None)
        run.pop("run_id", None)
    return report


def test_results_do_not_depend_on_the_number_of_jobs(tmp_path: Path) -> None:
    short = load_profile(SHORT)
    specs = plan_specs(QualifyOptions(runs=2, realtime_runs=0, variants=tuple(VARIANTS)))
    reports = []
    for jobs in (1, 2):
        execution = execute(short, specs, Bench(), tmp_path / f"j{jobs}", jobs=jobs, seed=3)
        q = assess(short, specs, execution.runs, VARIANTS, seed=3)
        reports.append(_without_timing(q.to_json({})))
    assert reports[0] == reports[1]
    assert reports[0]["verdict"] == "QUALIFIED"


# -- the command -----------------------------------------------------------------------------------
def test_cli_qualifies_the_reference_profile_simulated(tmp_path: Path, plan: Plan) -> None:
    out = tmp_path / "q"
    result = run_harness(
        ["qualify", str(PROFILE), "--realtime-runs", "0", "--runs", "3", "--out", str(out)]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "QUALIFIED" in result.stdout
    report = json.loads((out / "qualification.json").read_text())
    assert report["verdict"] == "QUALIFIED" and report["complete"] is True
    assert report["profile"]["sha256"] == plan.digest
    assert report["harness_version"] and report["machine"]["python"]
    assert all(c["passed"] for c in report["criteria"])
    assert len(report["criteria"]) == 5
    matrix = report["matrix"]
    assert [row["variant"] for row in matrix["rows"]] == list(VARIANTS)
    case_ids = [c.case_id for c in plan.cases]
    traced = traced_requirements(plan)
    for row in matrix["rows"]:
        assert list(row["cells"]) == case_ids
        assert all(cell["verdict"] in ("PASS", "FAIL") for cell in row["cells"].values())
        expected = "caught" if row["requirement"] in traced else "out of scope"
        assert row["verdict"] == expected, row["variant"]
    kinds = [(r["kind"], r["mode"]) for r in report["runs"]]
    assert kinds.count(("reference", "simulated")) == 3
    assert kinds.count(("variant", "simulated")) == len(VARIANTS)
    assert not (out / "runs").exists()  # nothing misbehaved: no evidence kept
    page = (out / "qualification.html").read_text()
    assert "Variant-by-case matrix" in page and "<script" not in page
    assert all(f"id='variant-{name}'" in page for name in VARIANTS)


def test_cli_names_a_missed_variant_and_exits_1(tmp_path: Path) -> None:
    """A profile whose counter checks became CRC checks cannot catch a stuck counter."""
    text = PROFILE.read_text().replace("../dbc/", f"{ROOT}/dbc/")
    weak = text.replace(
        "kind: alive_counter, message: TCU_Status", "kind: e2e_crc, message: TCU_Status"
    )
    assert weak != text
    profile = tmp_path / "weak.yaml"
    profile.write_text(weak)
    out = tmp_path / "q"
    args = ["qualify", str(profile), "--runs", "1", "--realtime-runs", "0", "--out", str(out)]
    result = run_harness([*args, "--variant", "stuck-counter", "--variant", "slow-cycle"])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "NOT QUALIFIED" in result.stdout and "stuck-counter" in result.stdout
    report = json.loads((out / "qualification.json").read_text())
    verdicts = {v["name"]: v["verdict"] for v in report["variants"]}
    assert verdicts == {"stuck-counter": "missed", "slow-cycle": "caught"}
    failed = [c["id"] for c in report["criteria"] if not c["passed"]]
    assert failed == ["variants-caught"]
    assert (out / "runs" / "variant-stuck-counter").is_dir() is False  # simulated: replay it
    run = next(r for r in report["runs"] if r["variant"] == "stuck-counter")
    assert "--dut sim:stuck-counter --seed" in run["replay"]


@pytest.mark.realtime
def test_cli_real_time_run_of_a_short_profile(tmp_path: Path) -> None:
    out = tmp_path / "q"
    result = run_harness(
        ["qualify", str(SHORT), "--realtime-runs", "1", "--runs", "2", "--out", str(out)]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "qualification.json").read_text())
    realtime = [r for r in report["runs"] if r["mode"] == "realtime"]
    assert len(realtime) == 1 and realtime[0]["status"] == "COMPLETED"
    assert realtime[0]["verdict"] == "PASS" and realtime[0]["evidence"] is None
    traced = traced_requirements(load_profile(SHORT))
    assert report["out_of_scope"] == [n for n, v in VARIANTS.items() if v.requirement not in traced]
    caught = [v["name"] for v in report["variants"] if v["verdict"] == "caught"]
    assert caught == [n for n, v in VARIANTS.items() if v.requirement in traced]
    assert all(c["passed"] for c in report["criteria"])


def _children() -> list[str]:
    """The command lines of this process's child processes (from /proc)."""
    out = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == me:
                out.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ValueError, IndexError):
            continue
    return out


class _Watch(QualifyObserver):
    """Which processes and threads exist while a real-time run's cases finish."""

    def __init__(self) -> None:
        self.children: list[str] = []
        self.threads: set[str] = set()

    def case_finished(self, spec: RunSpec, record: CaseRecord) -> None:
        self.children += _children()
        self.threads |= {t.name for t in threading.enumerate()}


@pytest.mark.realtime
def test_real_time_runs_certify_the_simulator_in_a_process_of_its_own(tmp_path: Path) -> None:
    """As a supplier's part: its own process (own interpreter lock) on a udp_multicast bus
    of its own, certified as an external part; the process is gone after the run."""
    short = load_profile(SHORT)
    specs = [RunSpec("reference-realtime-1", "reference", realtime=True)]
    before = set(_children())  # what earlier tests in this worker may have left running
    watch = _Watch()
    execution = execute(short, specs, Bench(), tmp_path / "q", observer=watch)
    watch.children = [c for c in watch.children if c not in before]
    (run,) = execution.runs
    assert run.record.status is RunStatus.COMPLETED and run.record.passed
    assert run.record.dut == "sim (own process)" and run.record.mode == "realtime"
    can = run.record.bench["can"]
    assert can["interface"] == "udp_multicast" and can["options"]["port"] > 0
    sims = [c for c in watch.children if "harness.cli sim tcu --bench" in c]
    brokers = [c for c in watch.children if "harness.mqtt.broker_process" in c]
    assert sims  # the simulator, a child process of the harness's
    assert all(c in sims + brokers for c in watch.children if "harness" in c)  # no other
    assert "reference-tcu" not in watch.threads  # no simulator thread in this process
    assert not [c for c in _children() if "sim tcu" in c]  # stopped with its run


@pytest.mark.realtime
def test_the_simulator_process_meets_the_harness_on_an_embedded_broker_through_a_relay(
    plan: Plan,
) -> None:
    """The full profile's V2X side: the embedded broker on a free port, the simulator told
    the relay's address in its bench file and the key through its environment; the will and
    outage cases cut and refuse its connection at the relay."""
    cases = ["TC-CMD-001", "TC-V2X-001-WILL", "TC-V2X-008-RESTART"]
    with SimProcessLane(plan, Bench()) as lane:
        assert lane.bench.mqtt.relay is not None and lane.embedded is not None
        # the broker in a process of its own too: no BSM waits for the harness's GIL there
        assert any(
            f"harness.mqtt.broker_process --port {lane.embedded.port}" in c for c in _children()
        )
        with Session(plan, lane.bench, DutChoice("external"), realtime=True) as session:
            record = session.run_all([plan.case(c) for c in cases])
        assert lane.alive()
    verdicts = {c.case_id: c.verdict for c in record.cases}
    assert verdicts == dict.fromkeys(cases, Verdict.PASS), [
        ch.summary for c in record.cases for ch in c.checks if ch.verdict is not Verdict.PASS
    ]
    relay = lane.bench.mqtt.relay
    said = " ".join(" ".join(lane.output).split())  # the console may wrap the line
    assert f"V2X on the broker mqtt://127.0.0.1:{relay.port}" in said  # the relay's address
    assert lane.psk.hex() not in "\n".join(lane.output)


@pytest.mark.realtime
def test_sigterm_writes_an_incomplete_report_and_exits_3(tmp_path: Path) -> None:
    out = tmp_path / "q"
    args = ["--runs", "1", "--realtime-runs", "1", "--variant", "slow-cycle", "--out", str(out)]
    proc = subprocess.Popen(
        harness_cmd("qualify", str(SHORT), *args),
        cwd=ROOT,
        preexec_fn=default_signals,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, COLUMNS="120"),
    )
    evidence = out / "runs" / "reference-realtime-1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (evidence / "trace.blf").exists():
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stdout + stderr
    assert "Traceback" not in stderr and "INCOMPLETE" in stdout
    report = json.loads((out / "qualification.json").read_text())
    assert report["verdict"] == "INCOMPLETE" and report["qualified"] is False
    run = next(r for r in report["runs"] if r["name"] == "reference-realtime-1")
    assert run["status"] == "ABORTED" and run["evidence"] and evidence.is_dir()
    assert "INCOMPLETE" in (out / "qualification.html").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runs", "0"], "expected at least 1"),
        (["--variant", "no-such-variant"], "unknown simulator variant"),
        (["--jobs", "x"], "expected a whole number"),
    ],
)
def test_bad_options_are_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["qualify", str(PROFILE), "--out", str(tmp_path / "q"), *args])
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "q").exists()


@pytest.mark.realtime
@pytest.mark.signals
def test_ctrl_c_during_the_simulated_runs_stops_the_workers_and_exits_3(tmp_path: Path) -> None:
    """Ctrl-C at a terminal signals the whole process group, worker processes included."""
    out = tmp_path / "q"
    args = ["--runs", "2", "--realtime-runs", "0", "--jobs", "2", "--out", str(out)]
    proc = subprocess.Popen(
        harness_cmd("qualify", str(PROFILE), *args),
        cwd=ROOT,
        preexec_fn=default_signals,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, COLUMNS="120"),
        start_new_session=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # the first finished run: the pool is up and busy
        if line.startswith("["):
            break
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stdout + stderr
    assert "Traceback" not in stderr
    report = json.loads((out / "qualification.json").read_text())
    assert report["verdict"] == "INCOMPLETE"
    assert "interrupted" in report["incomplete_reason"]
    statuses = [r["status"] for r in report["runs"]]
    assert "COMPLETED" in statuses and "NOT RUN" in statuses
