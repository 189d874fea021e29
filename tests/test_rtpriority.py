"""The bench's ``realtime.priority``: a real-time run's processes ahead of ordinary ones.

Applied where the OS permits (root here and in CI: then it must take effect), recorded in
run.json either way; ``off`` leaves every process as it was; simulated runs never touch it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.bench import Bench, RealtimeBenchConfig
from harness.plan import Plan
from harness.profile.compile import load_profile
from harness.qualify.model import RunSpec
from harness.qualify.runs import run_one
from harness.qualify.simproc import SimProcessLane
from harness.rtpriority import AUTO_LEVEL, HARNESS_ROUND_ROBIN, ROUND_ROBIN, apply, parse_setting
from harness.runjson import read_run
from harness.session import DutChoice, Session
from tests.conftest import PROFILE, ROOT, run_harness

SHORT = ROOT / "tests" / "report" / "ci-short.yaml"


def _permitted() -> bool:
    """Whether this process may raise priorities (CAP_SYS_NICE; as root here and in CI)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0) - 1)
    except PermissionError:
        return False
    os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0) + 1)
    return True


def _autogroup(pid: int | str = "self") -> int | None:
    """The process's autogroup nice; None where it is in no autogroup (the file is empty
    when a cgroup's CPU controller groups it instead, as on the CI machine)."""
    try:
        text = Path(f"/proc/{pid}/autogroup").read_text(encoding="ascii")
    except OSError:
        return None
    return int(text.split()[-1]) if text.strip() else None


def _threads(pid: int) -> list[int]:
    return [int(t) for t in os.listdir(f"/proc/{pid}/task")]


def _nices(pid: int) -> set[int]:
    return {os.getpriority(os.PRIO_PROCESS, t) for t in _threads(pid)}


def _policies(pid: int) -> set[tuple[int, int]]:
    return {(os.sched_getscheduler(t), os.sched_getparam(t).sched_priority) for t in _threads(pid)}


def _bench(priority: str | int) -> Bench:
    return Bench(realtime=RealtimeBenchConfig(priority=priority))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_profile(PROFILE)


@pytest.mark.realtime
def test_auto_raises_the_simulator_and_broker_processes_each_by_itself(plan: Plan) -> None:
    """The children take the bench's priority themselves: this test process is not raised,
    so what they show is not inherited from it."""
    own_nice, own_group = os.getpriority(os.PRIO_PROCESS, 0), _autogroup()
    with SimProcessLane(plan, Bench()) as lane:
        assert lane.embedded is not None and lane.pid is not None
        sim, broker = lane.pid, lane.embedded.pid
        assert broker is not None
        said = lane.priority
        assert set(said) == {"simulator", "broker"}
        assert said["simulator"]["pid"] == sim and said["broker"]["pid"] == broker
        if _permitted():
            assert _nices(sim) == _nices(broker) == {-AUTO_LEVEL}
            assert _policies(sim) == {(os.SCHED_RR, ROUND_ROBIN)}  # its timers
            assert _policies(broker) == {(os.SCHED_RR, HARNESS_ROUND_ROBIN)}  # below the part
            assert said["simulator"]["round_robin"] == ROUND_ROBIN
            assert said["broker"]["nice"]["nice"] == -AUTO_LEVEL
            if own_group is None:  # no autogroups here: said so, nothing written
                assert _autogroup(sim) is None and _autogroup(broker) is None
                assert "not available" in said["broker"]["autogroup"]
            else:
                assert _autogroup(sim) == _autogroup(broker) == -AUTO_LEVEL
                assert said["broker"]["autogroup"]["nice"] == -AUTO_LEVEL
            assert said["broker"]["round_robin"] == HARNESS_ROUND_ROBIN
        else:  # silently left as it was, and said why
            assert "not permitted" in json.dumps(said["simulator"])
        assert os.getpriority(os.PRIO_PROCESS, 0) == own_nice
    assert _autogroup() == own_group  # the session's group is put back when they end


@pytest.mark.realtime
def test_off_leaves_the_children_as_they_were(plan: Plan) -> None:
    own_nice = os.getpriority(os.PRIO_PROCESS, 0)
    with SimProcessLane(plan, _bench("off")) as lane:
        assert lane.embedded is not None and lane.pid is not None
        for pid in (lane.pid, lane.embedded.pid):
            assert pid is not None
            assert _nices(pid) == {own_nice}
            assert _policies(pid) == {(os.SCHED_OTHER, 0)}
        for child in ("simulator", "broker"):
            assert lane.priority[child]["applied"] == "nothing: off in the bench"
            assert "autogroup" not in lane.priority[child]


@pytest.mark.realtime
def test_a_real_time_run_records_what_each_process_applied_in_run_json(tmp_path: Path) -> None:
    own_nice = os.getpriority(os.PRIO_PROCESS, 0)
    short = load_profile(SHORT)
    spec = RunSpec("realtime-1", "reference", realtime=True)
    run = run_one(short, Bench(), spec, tmp_path / "run")
    assert run.record.passed, run.record.error
    data = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    priority = data["priority"]
    assert priority["setting"] == "auto"
    assert set(priority) == {"setting", "harness", "simulator", "keep_awake", "timers"}  # no MQTT
    assert priority["harness"]["pid"] == os.getpid()
    assert priority["simulator"]["pid"] != os.getpid()
    if _permitted():
        assert priority["harness"]["nice"]["nice"] == -AUTO_LEVEL
        assert priority["simulator"]["round_robin"] == ROUND_ROBIN
        assert priority["harness"]["round_robin"] == HARNESS_ROUND_ROBIN  # below the part's
    # put back when the run ended
    assert _policies(os.getpid()) == {(os.SCHED_OTHER, 0)}
    assert _nices(os.getpid()) == {own_nice}
    assert read_run(tmp_path / "run")[1].priority == priority  # read back as written


def test_a_simulated_run_touches_no_priority(plan: Plan) -> None:
    nice, group = os.getpriority(os.PRIO_PROCESS, 0), _autogroup()
    short = load_profile(SHORT)
    with Session(short, Bench(), DutChoice("sim")) as session:
        record = session.run_all()
    assert record.passed
    assert record.priority is None and record.to_json()["priority"] is None
    assert (os.getpriority(os.PRIO_PROCESS, 0), _autogroup()) == (nice, group)


def test_off_applies_nothing_and_says_so() -> None:
    nice = os.getpriority(os.PRIO_PROCESS, 0)
    assert apply("off") == {
        "setting": "off",
        "pid": os.getpid(),
        "applied": "nothing: off in the bench",
    }
    assert os.getpriority(os.PRIO_PROCESS, 0) == nice


def test_a_child_reads_the_setting_from_its_command_line() -> None:
    assert [parse_setting(t) for t in ("auto", "off", "1", "20")] == ["auto", "off", 1, 20]
    for bad in ("0", "21", "high", ""):
        with pytest.raises(ValueError):
            parse_setting(bad)


@pytest.mark.parametrize("value", ["high", "0", "21", "true", "-5", "2.5", "[auto]"])
def test_a_bad_priority_is_exit_2_naming_the_place(tmp_path: Path, value: str) -> None:
    bench = tmp_path / "bench.yaml"
    bench.write_text(
        f"format: cc-harness-bench/1\nname: b\nrealtime:\n  priority: {value}\n", encoding="utf-8"
    )
    result = run_harness(["certify", str(PROFILE), "--bench", str(bench), "--realtime"])
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    said = " ".join(result.stderr.split())
    assert "realtime.priority" in said and f"{bench}:4" in said, said
    assert not (tmp_path / "runs").exists()
