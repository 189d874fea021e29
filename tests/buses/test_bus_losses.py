"""Frames lost at the receiver on a run of several buses: ``run.json``'s ``receive`` names
every bus, and a window that lost frames on any bus is judged by no check (INCONCLUSIVE).

Real time, all real: the relay (``relay_part.py``) as its own process on two
``udp_multicast`` buses, a burst of frames from another process onto the rear bus only, whose
receive buffer the bench makes tiny, so that the kernel drops frames there (its count in
``/proc/net/udp``) and nowhere else. ``harness evaluate`` judges the losses the same way from
the record.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.offline import evaluate_evidence, load_evidence
from harness.record import FrameLoss, ReceiveReport, RunRecord, lost_between
from harness.runjson import record_from_json
from tests.buses.conftest import copy_profile
from tests.conftest import default_signals, run_harness
from tests.ports import free_udp_port
from tests.report.conftest import assert_agrees
from tests.test_live_ingest import start_burster

HERE = Path(__file__).resolve().parent
PART = HERE / "relay_part.py"
GROUP = "239.74.163.2"


def _report(frames: int, losses: tuple[FrameLoss, ...]) -> ReceiveReport:
    lost = sum(loss.frames for loss in losses)
    return ReceiveReport("thread", frames, lost, ("udp socket drops",), 2304, losses)


def test_the_report_of_several_buses_names_each_and_reads_back() -> None:
    """Totals, every bus's losses in time order naming their bus, each bus's own report; the
    run.json reader gives back what was written (and a one-bus record keeps its form)."""
    front = _report(100, (FrameLoss(2.0, 2.5, 3, "udp socket drops"),))
    rear = _report(50, (FrameLoss(1.0, 1.5, 7, "udp socket drops"),))
    both = ReceiveReport.of_buses({"front": front, "rear": rear})
    assert (both.frames, both.lost) == (150, 10)
    assert [(loss.bus, loss.frames) for loss in both.losses] == [("rear", 7), ("front", 3)]
    assert both.counters == ("front: udp socket drops", "rear: udp socket drops")
    assert both.buses["rear"].losses[0].bus == "rear" and both.buses["front"].lost == 3
    assert lost_between(both.losses, 1.2, 1.3) == 7  # a window losing frames on rear only
    for report in (both, front):
        record = RunRecord("r", "p", "1", "", "", "0", "realtime", "external", {}, "now")
        record.receive = report
        again = record_from_json(json.loads(json.dumps(record.to_json())))
        assert again.receive is not None
        assert again.receive.to_json() == report.to_json()
    assert "buses" not in front.to_json() and "bus" not in front.to_json()["losses"][0]


@pytest.fixture()
def profile(tmp_path: Path) -> Path:
    return copy_profile(tmp_path, HERE / "relay.yaml")


@pytest.mark.realtime
def test_frames_lost_on_one_bus_are_recorded_for_it_and_spoil_its_windows(
    profile: Path, tmp_path: Path
) -> None:
    front, rear = free_udp_port(), free_udp_port()
    bench = tmp_path / "bench.yaml"
    bench.write_text(
        "format: cc-harness-bench/1\nname: two buses, the rear one's buffer tiny\ncan:\n"
        f"  front: {{interface: udp_multicast, channel: {GROUP}, options: {{port: {front}, "
        "fd: true}}\n"
        f"  rear: {{interface: udp_multicast, channel: {GROUP}, options: {{port: {rear}}}, "
        "receive_buffer: 1}\n"
    )
    argv = [sys.executable, str(PART), "--front-port", str(front), "--rear-port", str(rear)]
    part = subprocess.Popen(
        argv,
        preexec_fn=default_signals,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=HERE.parents[1],
    )
    out = tmp_path / "rt"
    burster = start_burster(rear, burst=2000, rounds=1000, pause=0.3)
    try:
        assert part.stdout is not None and burster.stdin is not None
        assert "relay running" in part.stdout.readline()
        burster.stdin.write("\n")
        burster.stdin.flush()
        args = ["certify", str(profile), "--dut", "external", "--bench", str(bench)]
        result = run_harness([*args, "--out", str(out), "--quiet"], timeout=180)
    finally:
        burster.kill()
        burster.wait(timeout=10)
        part.send_signal(signal.SIGTERM)
        part.communicate(timeout=10)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    record = json.loads((out / "run.json").read_text())
    receive = record["receive"]
    assert sorted(receive["buses"]) == ["front", "rear"], receive
    per_bus = receive["buses"]
    assert per_bus["rear"]["lost"] > 0, per_bus["rear"]
    assert per_bus["rear"]["receive_buffer"] < per_bus["front"]["receive_buffer"]
    assert receive["lost"] == per_bus["front"]["lost"] + per_bus["rear"]["lost"]
    assert receive["frames"] == per_bus["front"]["frames"] + per_bus["rear"]["frames"]
    assert {loss["bus"] for loss in receive["losses"]} <= {"front", "rear"}
    for name, report in per_bus.items():
        assert report["lost"] == sum(loss["frames"] for loss in report["losses"])
        assert all(loss["bus"] == name for loss in report["losses"])
    losses = [FrameLoss(x["t0"], x["t1"], x["frames"], x["source"]) for x in receive["losses"]]
    spoiled = 0
    for case in record["cases"]:
        for check in case["checks"]:
            lost = lost_between(losses, *check["window"])
            if lost:  # a loss on either bus: no check of the window is judged
                spoiled += 1
                assert check["verdict"] == "INCONCLUSIVE", (case["id"], check)
                # as many as were known when it was judged (a later poll may add to a span)
                assert 0 < check["measurements"]["frames_lost"] <= lost
                assert "lost at the receiver" in check["summary"]
            else:
                assert check["verdict"] != "INCONCLUSIVE", (case["id"], check)
    assert spoiled > 0
    assert (out / "run.json").exists() and not (out / "certificate.dsse.json").exists()
    assert_agrees(evaluate_evidence(load_evidence(out)))
    assert main(["evaluate", str(out)]) == 0
