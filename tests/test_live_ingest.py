"""Live ingest at bus saturation: the reader thread, the overrun counters, and the verdicts.

Everything is real: python-can ``udp_multicast`` buses on a port of their own, a burst from
another process, the kernel's drop count of the harness's socket (``/proc/net/udp``). A
receive buffer made tiny on purpose forces losses; they must be counted frame for frame,
written to ``run.json``, and keep every check whose window lost frames from passing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import can
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.can.ingest import ThreadedBus, overrun_counters, set_receive_buffer
from harness.cli import main
from harness.evidence import CERTIFICATE_FILE
from harness.record import CheckResult, FrameLoss, Verdict, judge_with_loss, lost_between
from tests.conftest import free_udp_port, run_harness
from tests.test_fault_tolerance import short_profile

GROUP = "239.74.163.2"

BURSTER = """
import sys, time, can
bus = can.Bus(interface="udp_multicast", channel="239.74.163.2", port=int(sys.argv[1]))
frame = can.Message(arbitration_id=0x555, data=bytes(8), is_extended_id=False)
burst, rounds, pause = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
print("ready", flush=True)
sys.stdin.readline()  # go
for _ in range(rounds):
    for _ in range(burst):
        bus.send(frame)
    time.sleep(pause)
print("sent", burst * rounds, flush=True)
sys.stdin.readline()  # linger until told (the harness may still be reading)
"""


def start_burster(port: int, burst: int, rounds: int, pause: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", BURSTER, str(port), str(burst), str(rounds), str(pause)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_tiny_receive_buffer_loses_frames_and_every_one_is_counted() -> None:
    """Received + lost = sent: the socket's drop counter accounts for every missing frame."""
    port = free_udp_port()
    inner = can.Bus(interface="udp_multicast", channel=GROUP, port=port)
    granted = set_receive_buffer(inner, 1)  # the kernel's minimum: a couple of datagrams
    counters = overrun_counters(inner, "udp_multicast", GROUP)
    assert [c.name for c in counters] == ["udp socket drops (/proc/net/udp)"]
    bus = ThreadedBus(inner, counters, receive_buffer=granted)
    proc = start_burster(port, burst=20_000, rounds=1, pause=0.0)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        sent = int(proc.stdout.readline().split()[1])
        received = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            msg = bus.recv(0.5)
            if msg is None:
                report = bus.report()
                if received + report.lost >= sent:
                    break
                continue
            assert msg.arbitration_id == 0x555 and msg.timestamp > 0
            received += 1
        report = bus.report()
    finally:
        proc.kill()
        proc.wait(timeout=10)
        bus.shutdown()
    assert granted is not None and granted < 10_000
    assert report.lost > 0, "a 2 KiB buffer kept up with a 20,000-frame burst?"
    assert received == report.frames
    assert received + report.lost == sent
    assert all(loss.t0 <= loss.t1 for loss in report.losses)


@pytest.mark.realtime
def test_a_run_that_lost_frames_is_inconclusive_never_pass(tmp_path: Path) -> None:
    """The reference TCU would pass this case; bursts into a tiny buffer make it unprovable."""
    profile = short_profile(
        tmp_path,
        """
        - id: TC-CAN-001-BURST
          title: TCU_Status cycle 90..110 ms while a burst overruns the receiver
          requirements: [CAN-001]
          steps:
            - observe: 2 s
              checks:
                - {kind: cycle_time, message: TCU_Status, min: 90 ms, max: 110 ms}
                - {kind: absent, message: TCU_Command}
        """,
        "CAN-001",
    )
    port = free_udp_port()
    bench = tmp_path / "bench.yaml"
    bench.write_text(
        "format: cc-harness-bench/1\n"
        f"can: {{interface: udp_multicast, channel: {GROUP}, options: {{port: {port}}}, "
        "receive_buffer: 1}\n"
    )
    out = tmp_path / "evidence"
    proc = start_burster(port, burst=3000, rounds=1000, pause=0.1)
    try:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        args = ["certify", str(profile), "--bench", str(bench), "--dut", "sim", "--realtime"]
        result = run_harness([*args, "--out", str(out)], timeout=300)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "COMPLETED" and record["passed"] is False
    receive = record["receive"]
    assert receive["lost"] > 0, receive
    assert receive["lost"] == sum(loss["frames"] for loss in receive["losses"])
    assert receive["overrun_counters"] == ["udp socket drops (/proc/net/udp)"]
    (case,) = record["cases"]
    assert case["verdict"] == "INCONCLUSIVE"
    for check in case["checks"]:
        assert check["verdict"] == "INCONCLUSIVE", check
        assert check["measurements"]["frames_lost"] > 0
        assert "lost at the receiver" in check["summary"]
    assert record["requirements"] == {"CAN-001": "INCONCLUSIVE"}
    assert not (out / CERTIFICATE_FILE).exists()
    assert main(["evaluate", str(out)]) == 0  # offline judges the losses the same way


@pytest.mark.parametrize("verdict", [Verdict.PASS, Verdict.FAIL, Verdict.ERROR])
def test_no_loss_changes_nothing(verdict: Verdict) -> None:
    result = CheckResult("cycle_time", verdict, "fine", {"n": 3})
    assert judge_with_loss(result, 0) is result


spans = st.lists(
    st.tuples(
        st.floats(0, 100, allow_nan=False), st.floats(0, 10, allow_nan=False), st.integers(1, 9)
    ),
    max_size=8,
)


@given(spans, st.floats(0, 110, allow_nan=False), st.floats(0, 20, allow_nan=False))
def test_a_window_that_overlaps_a_loss_never_passes(
    raw: list[tuple[float, float, int]], t0: float, length: float
) -> None:
    losses = [FrameLoss(a, a + d, n, "test") for a, d, n in raw]
    t1 = t0 + length
    lost = lost_between(losses, t0, t1)
    overlapping = [x for x in losses if not (x.t1 < t0 or x.t0 > t1)]
    assert lost == sum(x.frames for x in overlapping)
    passed = judge_with_loss(CheckResult("k", Verdict.PASS, "ok"), lost)
    failed = judge_with_loss(CheckResult("k", Verdict.FAIL, "bad"), lost)
    if overlapping:
        for judged, was in ((passed, "PASS"), (failed, "FAIL")):
            assert judged.verdict is Verdict.INCONCLUSIVE
            assert judged.measurements["frames_lost"] == lost
            assert f"the frames received alone: {was}" in judged.summary
    else:
        assert (passed.verdict, failed.verdict) == (Verdict.PASS, Verdict.FAIL)
