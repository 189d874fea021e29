"""``harness qualify --queue`` on a real task queue: Redis (Debian's redis-server) as the Celery
broker and the two ``harness queue worker`` benches of tests/queue/conftest.py (bench A:
virtual, classic CAN, one bus; bench B: udp_multicast, CAN FD, two buses).

A qualification over the queue gives the verdicts of the same qualification run here, with
the same seed (a qualified one, and one that is not), and its simulated runs land on both
benches; a worker killed in the middle of a queued real-time run leaves that run re-queued
(the dead attempt's evidence says RUNNING) and it is counted only from the attempt that
finished; Ctrl-C while a run waits on the queue ends with exit 3 and the report written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from harness.errors import RunAborted
from harness.profile.compile import load_profile
from harness.qualify import queued as queued_runs
from harness.qualify import traced_requirements
from harness.qualify.runs import QualifyOptions, plan_specs
from harness.queue.app import make_app
from harness.sim.variants import VARIANTS
from tests.conftest import ROOT, default_signals, harness_cmd, run_harness
from tests.queue.test_celery_redis import Bench

pytestmark = [pytest.mark.realtime, pytest.mark.queue]

SHORT = ROOT / "tests" / "report" / "ci-short.yaml"


def _variants() -> list[str]:
    """Two variants the short profile catches and one whose requirement it does not trace."""
    traced = traced_requirements(load_profile(SHORT))
    outside = next(name for name, v in VARIANTS.items() if v.requirement not in traced)
    return ["slow-cycle", "stuck-counter", outside]


def _qualify(profile: Path, out: Path, *extra: str) -> dict[str, Any]:
    args = ["qualify", str(profile), "--runs", "2", "--realtime-runs", "0", "--seed", "11"]
    for name in _variants():
        args += ["--variant", name]
    result = run_harness([*args, "--out", str(out), *extra], timeout=300)
    report: dict[str, Any] = json.loads((out / "qualification.json").read_text())
    assert result.returncode == report["exit_code"], result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return report


def _verdicts(report: dict[str, Any]) -> dict[str, Any]:
    """What a qualification concluded: everything but dates, places and timings."""
    kept = ("verdict", "qualified", "complete", "exit_code", "criteria", "variants", "matrix")
    runs = [
        {k: v for k, v in run.items() if k not in ("seconds", "run_id", "evidence", "worker")}
        for run in report["runs"]
    ]
    return {**{k: report[k] for k in kept}, "notes": report["notes"], "runs": runs}


def _weak_profile(tmp_path: Path) -> Path:
    """The short profile with its counter check turned into a CRC check: a stuck counter
    goes unnoticed, so the qualification fails (variants-caught)."""
    text = SHORT.read_text().replace("../../dbc/", f"{ROOT}/dbc/")
    weak = text.replace("kind: alive_counter", "kind: e2e_crc")
    assert weak != text
    path = tmp_path / "weak.yaml"
    path.write_text(weak)
    return path


def test_qualify_over_the_queue_gives_the_local_verdicts_and_uses_both_benches(
    tmp_path: Path, redis_url: str, benches: dict[str, Bench]
) -> None:
    workers: set[str] = set()
    for profile, expected in ((SHORT, "QUALIFIED"), (_weak_profile(tmp_path), "NOT QUALIFIED")):
        name = profile.stem
        local = _qualify(profile, tmp_path / f"{name}-local")
        queued = _qualify(profile, tmp_path / f"{name}-queued", "--queue", redis_url)
        assert local["verdict"] == expected
        assert _verdicts(queued) == _verdicts(local)
        assert all("worker" not in run for run in local["runs"])
        assert all(run["evidence"] is None for run in queued["runs"])  # simulated: replay
        workers |= {run["worker"].split("@")[0] for run in queued["runs"]}
        assert queued["options"]["queue"] == redis_url.rsplit("/", 1)[0]  # no path, no secret
        page = (tmp_path / f"{name}-queued" / "qualification.html").read_text()
        assert "<small>on bench-" in page
    weak = {v["name"]: v["verdict"] for v in local["variants"]}
    assert weak["stuck-counter"] == "missed" and weak["slow-cycle"] == "caught"
    assert workers == set(benches)  # any bench can take a simulated run: both did


def _status(folder: Path) -> str:
    status: str = json.loads((folder / "run.json").read_text())["status"]
    return status


def _start_qualify(tmp_path: Path, broker: str, *extra: str) -> subprocess.Popen[str]:
    args = ["--runs", "1", "--realtime-runs", "1", "--variant", "slow-cycle", "--seed", "3"]
    return subprocess.Popen(
        harness_cmd("qualify", str(SHORT), *args, "--out", str(tmp_path / "q"), "--queue", broker)
        + list(extra),
        cwd=ROOT,
        preexec_fn=default_signals,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, COLUMNS="200"),
    )


def test_a_worker_killed_in_a_queued_real_time_run_leaves_it_requeued_never_passed(
    tmp_path: Path, redis_url: str, benches: dict[str, Bench]
) -> None:
    """The real-time run needs CAN FD: bench B only. SIGKILL its pool process mid-run."""
    proc = _start_qualify(tmp_path, redis_url, "--needs", "fd")
    evidence = benches["bench-b"].evidence
    deadline = time.monotonic() + 120
    while not list(evidence.glob("*/*/trace.blf")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the real-time run did not start on bench B"
        time.sleep(0.1)
    (trace,) = evidence.glob("*/*/trace.blf")
    first, request_id = trace.parent, trace.parent.parent.name
    pid = make_app(redis_url).AsyncResult(request_id).info["pid"]
    time.sleep(1.0)  # a second into the run: frames in the trace, the run not done
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stdout + stderr
    assert "started again" in stderr
    report = json.loads((tmp_path / "q" / "qualification.json").read_text())
    assert report["verdict"] == "QUALIFIED"
    run = next(r for r in report["runs"] if r["mode"] == "realtime")
    assert run["status"] == "COMPLETED" and run["verdict"] == "PASS"
    assert run["worker"].startswith("bench-b@")
    folders = sorted((evidence / request_id).iterdir())
    assert len(folders) == 2 and first in folders
    assert _status(first) == "RUNNING"  # the killed attempt: never a pass, never counted
    (second,) = [f for f in folders if f != first]
    assert run["evidence"] == str(second) and _status(second) == "COMPLETED"
    assert "WorkerLostError" in benches["bench-b"].log.read_text(errors="replace")


@pytest.mark.signals
def test_ctrl_c_while_a_run_waits_on_the_queue_exits_3_with_the_report_written(
    tmp_path: Path, redis_url: str, benches: dict[str, Bench]
) -> None:
    """The real-time run needs a socketcan bench, which nobody serves: it waits on its queue
    until Ctrl-C; the simulated runs that finished stay in the report."""
    proc = _start_qualify(tmp_path, redis_url, "--needs", "interface=socketcan")
    assert proc.stderr is not None
    said = []
    for line in proc.stderr:  # both simulated runs finished: only the real-time one waits
        said.append(line)
        if line.startswith("[2/3]"):
            break
    else:
        pytest.fail("".join(said))
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stdout + stderr
    assert "Traceback" not in stderr and "INCOMPLETE" in stdout
    report = json.loads((tmp_path / "q" / "qualification.json").read_text())
    assert report["verdict"] == "INCOMPLETE" and "interrupted" in report["incomplete_reason"]
    status = {r["name"]: r["status"] for r in report["runs"]}
    assert status == {
        "reference-simulated-1": "COMPLETED",
        "reference-realtime-1": "NOT RUN",
        "variant-slow-cycle": "COMPLETED",
    }
    assert report["options"]["needs"] == {"interface": "socketcan", "fd": False, "buses": 1}
    assert "INCOMPLETE" in (tmp_path / "q" / "qualification.html").read_text()


def test_runs_no_bench_takes_are_named_with_their_queue(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No worker at all: the runs wait on the queue any bench would serve, and the waiting is
    said with that queue's name; stopping then (RunAborted, as SIGTERM raises it) leaves
    nothing carried out and says why."""
    monkeypatch.setattr(queued_runs, "QUIET", 0.5)
    said: list[str] = []

    def say(text: str) -> None:
        said.append(text)
        raise RunAborted("enough waiting")

    plan = load_profile(SHORT)
    specs = plan_specs(QualifyOptions(runs=2, realtime_runs=0, variants=("slow-cycle",)))
    app = queued_runs.connect(redis_url)
    execution = queued_runs.execute_queued(plan, specs, app, seed=1, say=say)
    assert said == [
        "3 run(s) still waiting on queue cc-harness.any.classic.1bus: is a bench that meets it up?"
    ]
    assert execution.runs == [] and execution.incomplete_reason is not None
    assert "interrupted" in execution.incomplete_reason
