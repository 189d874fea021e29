"""CC-GW-1 in real time, as a part of its own: ``harness sim run cc-gw-1`` in its own process
on two ``udp_multicast`` buses (the backbone CAN FD, the body bus classic, a free port each),
certified over them with ``--dut external``: its identity comes over UDS (29-bit normal fixed
ISO-TP over CAN FD on the backbone), and every case passes but the four whose bands are 2 ms
wide (:data:`TWO_MS_BANDS`). Qualify's real-time lane gives the simulator process both buses
the same way.

Those four (routing p99 within 2 ms, BODY_VehInfo every 18..22 ms) pass in most real-time runs
on a 2-core VM, not in every one: a few intervals come 3 to 8 ms late while the simulator's
single thread at round-robin priority sleeps past its timer (measured 2026-12-07: 5 of 9
whole-profile runs passed on an idle machine). A test that fails in some runs for the
machine's sake would fail CI, so they run here only simulated (tests/gw/test_gw_sim.py); the
issue's closing note records the real-time figures."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from harness.bench import Bench
from harness.profile.compile import load_profile
from harness.qualify.simproc import SimProcessLane
from tests.conftest import default_signals, harness_cmd, run_harness
from tests.ports import free_udp_port

ROOT = Path(__file__).resolve().parents[2]
TWO_MS_BANDS = {"TC-GW-001", "TC-GW-001-LOAD", "TC-GW-003", "TC-GW-007-LOAD"}
PROFILE = ROOT / "profiles" / "cc-gw-1.yaml"
GROUP = "{interface: udp_multicast, channel: 239.74.163.2, options: {port: %d%s}}"


def _cases() -> list[str]:
    return [case.case_id for case in load_profile(PROFILE).cases]


def _bench(tmp_path: Path) -> Path:
    backbone, body = free_udp_port(), free_udp_port()
    path = tmp_path / "bench.yaml"
    path.write_text(
        "format: cc-harness-bench/1\nname: gateway on two buses\ncan:\n"
        f"  backbone: {GROUP % (backbone, ', fd: true')}\n  body: {GROUP % (body, '')}\n"
        "dut:\n  serial: GW-RT-0000000042\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.realtime
def test_the_gateway_in_its_own_process_on_two_udp_multicast_buses(tmp_path: Path) -> None:
    bench = _bench(tmp_path)
    argv = [*harness_cmd("sim", "run", "cc-gw-1", "--bench", str(bench))]
    part = subprocess.Popen(
        argv,
        preexec_fn=default_signals,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    out = tmp_path / "rt"
    try:
        assert part.stdout is not None
        first = part.stdout.readline()
        assert "cc-gw-1 running on backbone: udp_multicast" in first, first
        result = run_harness(
            [
                *("certify", str(PROFILE), "--dut", "external", "--bench", str(bench)),
                *("--out", str(out), "--quiet"),
                *(arg for case in _cases() if case not in TWO_MS_BANDS for arg in ("--case", case)),
            ],
            timeout=300,
        )
    finally:
        part.send_signal(signal.SIGTERM)
        _, err = part.communicate(timeout=10)
    assert part.returncode == 0, err
    record = json.loads((out / "run.json").read_text())
    said = [
        (c["id"], k["kind"], k["summary"])
        for c in record["cases"]
        for k in c["checks"]
        if k["verdict"] != "PASS"
    ]
    assert result.returncode == 0, (said, result.stdout[-2000:], result.stderr[-2000:])
    assert {c["verdict"] for c in record["cases"]} == {"PASS"}
    assert {c["id"] for c in record["cases"]} == set(_cases()) - TWO_MS_BANDS
    assert "GW-RT-0000000042" in json.dumps(record["identity"])  # read over UDS (F18C)


def test_qualify_gives_the_simulator_process_both_buses() -> None:
    lane = SimProcessLane(load_profile(PROFILE), Bench(), dut="cc-gw-1")
    sim, _ = lane._sim_bench()
    assert list(sim["can"]) == ["backbone", "body"]
    backbone, body = sim["can"]["backbone"], sim["can"]["body"]
    assert backbone["interface"] == body["interface"] == "udp_multicast"
    assert backbone["options"].get("fd") is True and "fd" not in body["options"]
