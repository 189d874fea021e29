"""The bench's ``realtime.keep_awake``: one busy lowest-priority process per CPU while a
real-time run lasts, on a virtual machine (``auto``) or where the bench says ``true``.

They must take CPU time from no one (SCHED_IDLE, nice 19, an autogroup of their own at 19),
sit one on each CPU, end with the run, and end by themselves when the harness is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.bench import Bench, RealtimeBenchConfig
from harness.keepawake import kept_awake, on_hypervisor, should_keep_awake
from harness.profile.compile import load_profile
from harness.session import DutChoice, Session
from tests.conftest import PROFILE, ROOT, run_harness

SHORT = ROOT / "tests" / "report" / "ci-short.yaml"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _gone_within(pids: list[int], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not any(_alive(pid) for pid in pids):
            return True
        time.sleep(0.02)
    return False


def test_true_puts_one_idle_process_on_each_cpu_for_the_block_only() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    with kept_awake(True) as said:
        pids = said["pids"]
        assert said["applied"] == "true in the bench" and said["cpus"] == cpus
        assert len(pids) == len(cpus)
        assert [sorted(os.sched_getaffinity(pid)) for pid in pids] == [[cpu] for cpu in cpus]
        for pid in pids:
            assert os.sched_getscheduler(pid) == os.SCHED_IDLE  # runs only when nothing else
            assert os.getpriority(os.PRIO_PROCESS, pid) == 19
            assert os.getsid(pid) == pid  # a session (an autogroup) of its own
            group = Path(f"/proc/{pid}/autogroup").read_text(encoding="ascii")
            assert not group.strip() or group.split()[-1] == "19"
    assert _gone_within(pids, 5)


def test_false_starts_nothing_and_says_so() -> None:
    with kept_awake(False) as said:
        assert said == {"setting": False, "applied": "false in the bench"}


def test_auto_follows_the_cpus_hypervisor_flag(tmp_path: Path) -> None:
    virtual, physical = tmp_path / "virtual", tmp_path / "physical"
    virtual.write_text("processor\t: 0\nflags\t\t: fpu vme sse2 hypervisor lahf_lm\n")
    physical.write_text("processor\t: 0\nflags\t\t: fpu vme sse2 lahf_lm\n")
    assert on_hypervisor(str(virtual)) and not on_hypervisor(str(physical))
    assert not on_hypervisor(str(tmp_path / "absent"))
    keep, why = should_keep_awake("auto")
    assert keep is on_hypervisor() and why.startswith("auto: ")


def test_a_killed_harness_leaves_none_behind(tmp_path: Path) -> None:
    code = (
        "import json, time\nfrom harness.keepawake import kept_awake\n"
        "with kept_awake(True) as said:\n"
        "    print(json.dumps(said['pids']), flush=True)\n    time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert child.stdout is not None
    pids = json.loads(child.stdout.readline())
    assert pids and all(_alive(pid) for pid in pids)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    child.stdout.close()
    assert _gone_within(pids, 5)  # each sees its parent gone within ~10 ms


@pytest.mark.realtime
def test_a_real_time_run_says_in_run_json_whether_it_kept_the_cpus_awake(tmp_path: Path) -> None:
    bench = Bench(realtime=RealtimeBenchConfig(keep_awake=True))
    plan, out = load_profile(SHORT), tmp_path / "run"
    with Session(plan, bench, DutChoice("sim"), realtime=True, out_dir=out) as session:
        record = session.run_all()
        pids = session.record.priority["keep_awake"]["pids"] if session.record.priority else []
        assert pids and all(_alive(pid) for pid in pids)  # for the length of the run
    assert record.passed, record.error
    said = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert said["priority"]["keep_awake"]["applied"] == "true in the bench"
    assert said["priority"]["keep_awake"]["pids"] == pids
    assert _gone_within(pids, 5)


@pytest.mark.parametrize("value", ["sometimes", "on", "1", "[true]"])
def test_a_bad_keep_awake_is_exit_2_naming_the_place(tmp_path: Path, value: str) -> None:
    bench = tmp_path / "bench.yaml"
    bench.write_text(
        f"format: cc-harness-bench/1\nname: b\nrealtime:\n  keep_awake: {value}\n",
        encoding="utf-8",
    )
    result = run_harness(["certify", str(PROFILE), "--bench", str(bench), "--realtime"])
    assert result.returncode == 2, result.stderr
    said = " ".join(result.stderr.split())
    assert "realtime.keep_awake" in said and f"{bench}:4" in said, said
    assert "Traceback" not in result.stderr and not (tmp_path / "runs").exists()
