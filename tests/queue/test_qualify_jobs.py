"""``harness qualify --queue``, the parts that need no broker: the job's JSON form, a bench
carrying out a qualification job (in this process, through the queue's embedded default),
what it refuses, and the command line's bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.bench import Bench
from harness.cli import main
from harness.conformance import Conformance
from harness.profile.compile import load_profile
from harness.qualify.model import RunSpec
from harness.qualify.queued import QUALIFY_JOB, QueuedRun, realtime_needs
from harness.qualify.runs import run_one
from harness.queue.app import JOBS, TASK_NAME, make_app, serve_station
from harness.queue.execute import Station
from harness.queue.model import MAX_BUSES, Needs, RunRequest
from harness.runjson import record_from_json
from tests.conftest import ROOT
from tests.ports import free_tcp_port

SHORT = ROOT / "tests" / "report" / "ci-short.yaml"
NAME = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
SPECS = st.builds(
    RunSpec,
    NAME,
    st.sampled_from(["reference", "variant"]),
    st.booleans(),
    st.one_of(st.none(), NAME),
    NAME,
)
STATEMENTS = st.one_of(
    st.none(), st.builds(Conformance, NAME, st.dictionaries(NAME, st.booleans(), max_size=3))
)
NEEDS = st.builds(
    Needs, st.sampled_from(["any", "virtual", "socketcan"]), st.booleans(), st.integers(1, 8)
)


@given(
    SPECS,
    st.one_of(st.none(), st.integers(0, 2**63 - 1)),
    STATEMENTS,
    st.booleans(),
    NEEDS,
)
def test_a_queued_run_survives_its_json_form(
    spec: RunSpec, seed: int | None, statement: Conformance | None, keep: bool, needs: Needs
) -> None:
    job = QueuedRun(spec, "/p.yaml", "ab" * 32, seed, statement, keep, needs)
    data = job.to_json()
    assert data["kind"] == QUALIFY_JOB
    assert QueuedRun.from_json(data) == job
    with pytest.raises(KeyError):  # a worker that knows only certify runs fails on it
        RunRequest.from_json(data)


def test_the_queue_knows_the_qualify_job_kind_from_its_entry_point() -> None:
    assert JOBS.names()[:1] == ["certify"]
    assert "qualify" in JOBS.names()
    assert "entry point qualify = harness.qualify.queued:run_queued" in JOBS.origin("qualify")


def _station(tmp_path: Path, **caps: object) -> Station:
    return Station.from_options(None, tmp_path / "evidence", name="here", **caps)  # type: ignore[arg-type]


def test_a_bench_runs_a_qualification_job_as_the_local_path_does(tmp_path: Path) -> None:
    """The embedded default (Celery eager, no broker): the job's record is the record of the
    same run carried out by run_one here, case for case, once through its JSON form."""
    plan = load_profile(SHORT)
    spec = RunSpec("variant-slow-cycle", "variant", variant="slow-cycle")
    job = QueuedRun(spec, str(SHORT.resolve()), plan.digest, seed=9)
    serve_station(_station(tmp_path))
    app = make_app(None)
    outcome = app.tasks[TASK_NAME].apply(args=[job.to_json()]).get()
    assert outcome["status"] == "COMPLETED" and outcome["passed"] is False  # a faulty part
    assert outcome["bench"]["name"] == "here" and outcome["evidence"] is None
    queued = record_from_json(outcome["record"])
    local = run_one(plan, Bench(), spec, None, seed=9).record
    assert [c.to_json() for c in queued.cases] == [
        c.to_json() for c in record_from_json(local.to_json()).cases
    ]
    assert {c.case_id: c.verdict.value for c in queued.cases} == {
        "TC-CAN-001-SHORT": "FAIL",
        "TC-CAN-003-SHORT": "PASS",
    }
    assert queued.seed == 9 and queued.dut == "sim:slow-cycle"


def test_a_bench_refuses_what_it_cannot_or_may_not_run(tmp_path: Path) -> None:
    plan = load_profile(SHORT)
    spec = RunSpec("reference-realtime-1", "reference", realtime=True)
    serve_station(_station(tmp_path))  # virtual, classic CAN, one bus
    app = make_app(None)
    task = app.tasks[TASK_NAME]
    fd = QueuedRun(spec, str(SHORT.resolve()), plan.digest, needs=Needs(fd=True))
    outcome = task.apply(args=[fd.to_json()]).get()
    assert outcome["status"] == "REFUSED" and "does not meet" in outcome["error"]
    changed = QueuedRun(spec, str(SHORT.resolve()), "00" * 32)
    outcome = task.apply(args=[changed.to_json()]).get()
    assert outcome["status"] == "REFUSED" and "sha256" in outcome["error"]
    unknown = task.apply(args=[{**changed.to_json(), "kind": "no-such-kind"}]).get()
    assert unknown["status"] == "REFUSED" and "unknown queued job kind" in unknown["error"]
    assert not (tmp_path / "evidence").exists()  # nothing ran


def test_real_time_runs_need_fd_when_the_profile_bus_is_fd() -> None:
    plan = load_profile(SHORT)
    assert realtime_needs(plan, None) == Needs()
    assert realtime_needs(plan, f"interface=socketcan,buses={MAX_BUSES}") == Needs(
        "socketcan", False, MAX_BUSES
    )
    assert realtime_needs(dataclasses.replace(plan, fd=True), None) == Needs(fd=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--needs", "fd"], "--queue BROKER too"),
        (["--queue"], "--queue without a broker URL"),
        (["--queue", "redis://127.0.0.1:1/0", "--bench", "x.yaml"], "--bench with --queue"),
        (["--queue", "redis://127.0.0.1:1/0", "--jobs", "2"], "--jobs with --queue"),
        (["--queue", "redis://127.0.0.1:1/0", "--needs", "fd,wheels"], "--needs"),
    ],
)
def test_bad_queue_options_are_exit_2_and_write_nothing(
    args: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CC_HARNESS_BROKER", raising=False)
    code = main(["qualify", str(SHORT), "--out", str(tmp_path / "q"), *args])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "q").exists()


def test_an_unreachable_broker_is_exit_3_named_without_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broker = f"redis://:hunter2-secret@127.0.0.1:{free_tcp_port()}/0"  # nobody listens there
    code = main(["qualify", str(SHORT), "--out", str(tmp_path / "q"), "--queue", broker])
    said = capsys.readouterr()
    assert code == 3
    assert "cannot reach the queue broker redis://127.0.0.1:" in said.err
    assert "hunter2" not in said.err + said.out
    assert not (tmp_path / "q").exists()
