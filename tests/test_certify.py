"""End to end: certify the reference TCU, catch every faulty variant, stay deterministic."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import can
import pytest

from harness.bench import Bench
from harness.plan import Plan
from harness.profile.compile import load_profile
from harness.qualify import VariantVerdict, assess_variant
from harness.record import RunRecord, Verdict
from harness.session import DutChoice, Session
from harness.sim.variants import VARIANTS
from tests.conftest import PROFILE, ROOT, default_signals, free_udp_port, harness_cmd, run_harness
from tests.ports import free_tcp_port
from tests.v2x.mosquitto_lane import make_lane


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_profile(PROFILE)


def simulated_run(plan: Plan, dut: str = "sim", out: Path | None = None) -> RunRecord:
    with Session(plan, Bench(), DutChoice.parse(dut), out_dir=out) as session:
        return session.run_all()


def verdicts(record: RunRecord | dict[str, Any]) -> dict[str, str]:
    if isinstance(record, RunRecord):
        return {c.case_id: c.verdict.value for c in record.cases}
    return {c["id"]: c["verdict"] for c in record["cases"]}


def test_profile_traces_every_can_requirement(plan: Plan) -> None:
    traced = {req for case in plan.cases for req in case.requirements}
    assert {f"CAN-00{i}" for i in range(1, 9)} <= traced


def test_reference_tcu_passes_from_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    result = run_harness(["certify", str(PROFILE), "--out", str(out)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "COMPLETED" and record["passed"] is True
    assert set(record["requirements"].values()) == {"PASS"}
    assert len(record["cases"]) == len(load_profile(PROFILE).cases)
    # The trace holds every frame both ways and python-can reads it back.
    frames = list(can.BLFReader(str(out / "trace.blf")))
    ids = {f.arbitration_id for f in frames}
    assert {0x100, 0x110, 0x111, 0x120, 0x3A0} <= ids
    assert len(frames) > 5000


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_faulty_variant_fails_exactly_the_cases_tracing_its_requirement(
    plan: Plan, variant: str
) -> None:
    requirement = VARIANTS[variant].requirement
    record = simulated_run(plan, f"sim:{variant}")
    # the rule `harness qualify` applies (harness.qualify.assess_variant)
    outcome = assess_variant(VARIANTS[variant], record, plan)
    assert outcome.verdict is VariantVerdict.CAUGHT, f"{variant}: {outcome.explanation}"
    assert record.requirement_verdicts()[requirement] is Verdict.FAIL
    assert not record.passed


def test_variant_failure_explains_itself(plan: Plan) -> None:
    record = simulated_run(plan, "sim:slow-cycle")
    case = next(c for c in record.cases if c.case_id == "TC-CAN-001-ON")
    check = case.checks[0]
    assert check.verdict is Verdict.FAIL
    assert check.measurements["max_interval"] == pytest.approx(0.125)
    assert check.offender is not None and check.offender.can_id == 0x3A0
    assert "125.000 ms" in check.summary


def test_ten_simulated_runs_are_identical(plan: Plan) -> None:
    def essence(record: RunRecord) -> list[dict[str, Any]]:
        return [c.to_json() for c in record.cases]

    first = essence(simulated_run(plan))
    for _ in range(9):
        assert essence(simulated_run(plan)) == first


@pytest.mark.realtime
@pytest.mark.signals
def test_sigint_aborts_with_evidence_intact(tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    proc = subprocess.Popen(
        harness_cmd("certify", str(PROFILE), "--realtime", "--out", str(out)),
        cwd=ROOT,
        preexec_fn=default_signals,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (out / "trace.blf").exists():
        time.sleep(0.1)
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 3, stdout + stderr
    assert "Traceback" not in stderr
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "ABORTED" and record["passed"] is False
    frames = list(can.BLFReader(str(out / "trace.blf")))
    assert any(f.arbitration_id == 0x3A0 for f in frames)


@pytest.mark.realtime
def test_kill_9_leaves_a_readable_trace(tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    proc = subprocess.Popen(
        harness_cmd("certify", str(PROFILE), "--realtime", "--out", str(out)),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (out / "trace.blf").exists():
        time.sleep(0.1)
    time.sleep(3.0)
    proc.kill()
    proc.wait(timeout=10)
    frames = list(can.BLFReader(str(out / "trace.blf")))
    # about 2.5 s of traffic (~90 frames/s each way) minus at most one 250 ms flush interval
    assert len(frames) > 150
    assert json.loads((out / "run.json").read_text())["status"] == "RUNNING"


@pytest.mark.realtime
def test_realtime_against_the_simulator_in_its_own_process(
    tmp_path: Path, plan: Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supplier's setup: the DUT is another process on udp_multicast, and both meet on
    Mosquitto over TLS (client certificate) with a password, the DUT through the harness's
    relay (mqtt.relay); same verdicts, the will case included."""
    lane = make_lane(tmp_path / "mosquitto")  # fails, saying so, when Mosquitto is missing
    for key, value in lane.env().items():  # secrets come from the environment
        monkeypatch.setenv(key, value)
    bench = tmp_path / "bench.yaml"
    bench.write_text(
        lane.bench_yaml(
            "can:\n  interface: udp_multicast\n  channel: 239.74.163.2\n"
            f"  options: {{port: {free_udp_port()}}}\n",
            relay_port=free_tcp_port(),
        )
    )
    sim = subprocess.Popen(
        harness_cmd("sim", "tcu", "--bench", str(bench)),
        cwd=ROOT,
        preexec_fn=default_signals,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        assert "reference TCU running" in sim.stdout.readline()
        out = tmp_path / "evidence"
        result = run_harness(
            [
                "certify",
                str(PROFILE),
                "--bench",
                str(bench),
                "--dut",
                "external",
                "--out",
                str(out),
            ],
            timeout=400,
        )
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=10)
        lane.stop()
    assert sim.returncode == 0
    record = json.loads((out / "run.json").read_text())
    assert result.returncode == 0, result.stdout + result.stderr
    assert record["mode"] == "realtime"
    # the relay lets the harness cut the DUT's connection on Mosquitto: the will case runs too
    assert verdicts(record) == verdicts(simulated_run(plan))
    assert record["bench"]["mqtt"]["broker"]["tls"] is True
    for f in out.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert lane.password.encode() not in data, f
            assert lane.psk_hex.encode() not in data, f
