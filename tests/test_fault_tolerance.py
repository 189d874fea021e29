"""Fault tolerance: every way a run can go wrong ends in a clear verdict or error.

One test per fault: the DUT silent from the start; the DUT process dying mid-run; the DUT
flooding the bus; the broker unreachable at start; the broker dying mid-run; the bus
interface failing to open; a profile that references a message the bench cannot carry.
Each asserts the exit code (or exception class), an error that names the place and what
was expected (no traceback), never a pass, a run that ended within its timeouts plus a
generous margin (other jobs share the machine), the evidence so far intact (``run.json``,
``trace.blf`` read back by python-can, ``manifest.json`` matching the folder, ``harness
evaluate`` agreeing) and no certificate although a signing key was given.

Everything is real: python-can buses (``virtual``, ``udp_multicast``), the simulator and
Mosquitto as their own processes, the CLI as a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import can
import pytest

from harness.bench import Bench
from harness.certificate.keys import generate_key_pair
from harness.cli import main
from harness.clock import EventLoop, RealClock
from harness.errors import DutNotResponding
from harness.evidence import CERTIFICATE_FILE, verify_manifest
from harness.mqtt.broker import EmbeddedBroker
from harness.mqtt.side import CONNECT_TIMEOUT
from harness.profile.compile import load_profile
from harness.session import DutChoice, Session
from tests.conftest import DBC, PROFILE, ROOT, free_udp_port, harness_cmd, run_harness
from tests.v2x.mosquitto_lane import free_tcp_port, mosquitto_binary

# Real time on a shared 2-core machine: bounds are generous, never tight.
MARGIN = 30.0

# ci-short.yaml's header (DBC, DUT, E2E, rest-bus, before_each), for profiles written here.
_SHORT_HEAD = (
    (ROOT / "tests" / "report" / "ci-short.yaml")
    .read_text()
    .split("\ncases:\n")[0]
    .replace("../../dbc/cc-tcu-1.dbc", DBC.as_posix())
)


# ci-short.yaml's identity section (read over UDS: only for DUTs that answer diagnostics).
_SHORT_IDENTITY = (
    (ROOT / "tests" / "report" / "ci-short.yaml").read_text().split("\nidentity:\n")[1]
)


def short_profile(
    folder: Path,
    cases: str,
    ids: str,
    *,
    lost_after: str | None = None,
    dbc: Path = DBC,
    identity: bool = False,
    given_identity: bool = False,
) -> Path:
    """A profile with ci-short's header, ``cases`` (YAML list items) tracing ``ids``; with
    ``identity``, its identity section too (a certificate needs it), read over UDS; with
    ``given_identity``, one item without a DID instead (``--identity serial=...``)."""
    head = _SHORT_HEAD.replace("ids: [CAN-001, CAN-003]", f"ids: [{ids}]")
    head = head.replace(DBC.as_posix(), dbc.as_posix())
    if lost_after is not None:
        head = head.replace(
            "    timeout: 5 s\n", f"    timeout: 5 s\n    lost_after: {lost_after}\n"
        )
    if identity:
        head += "\nidentity:\n" + _SHORT_IDENTITY
    if given_identity:
        head += "\nidentity:\n  serial: {length: [12, 12]}\n"
    path = folder / "profile.yaml"
    path.write_text(head + "\ncases:\n" + textwrap.dedent(cases))
    return path


def udp_bench(folder: Path) -> tuple[Path, int]:
    """A bench on a udp_multicast bus of its own (a free port): DUT processes join it."""
    port = free_udp_port()
    path = folder / "bench.yaml"
    path.write_text(
        "format: cc-harness-bench/1\n"
        f"can: {{interface: udp_multicast, channel: 239.74.163.2, options: {{port: {port}}}}}\n"
    )
    return path, port


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real Ed25519 key: certify must still issue no certificate for these runs."""
    return generate_key_pair(tmp_path_factory.mktemp("keys") / "lab").private


def timed(args: list[str], timeout: float) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    result = run_harness(args, timeout=timeout)
    return result, time.monotonic() - start


def assert_clean_error(result: subprocess.CompletedProcess[str], code: int, *phrases: str) -> None:
    """Exit ``code``, ``error:`` with every phrase, and no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert "Traceback" not in output, output
    error = " ".join(result.stderr.split())  # rich wraps long lines
    assert "error:" in error, output
    for phrase in phrases:
        assert phrase in error, f"{phrase!r} not in: {error}"


def assert_evidence(out: Path, statuses: tuple[str, ...], stdout: str) -> dict[str, Any]:
    """The evidence of a run that did not pass: readable, sealed, re-evaluable, uncertified."""
    record: dict[str, Any] = json.loads((out / "run.json").read_text())
    assert record["status"] in statuses, record["status"]
    assert record["passed"] is False
    with can.BLFReader(str(out / "trace.blf")) as reader:
        record["_frames"] = list(reader)
    assert (out / "manifest.json").is_file()
    listed = {entry.path for entry in verify_manifest(out)}  # every file matches its sha256
    assert {"run.json", "trace.blf", "profile.yaml"} <= listed
    assert not (out / CERTIFICATE_FILE).exists()
    assert "no certificate" in stdout, stdout  # certify was given a key
    # every recorded verdict recomputed from the trace; exit 3: the run did not complete
    assert main(["evaluate", str(out)]) == (0 if record["status"] == "COMPLETED" else 3)
    return record


# -- the DUT silent from the start -------------------------------------------------------------


def test_dut_silent_from_the_start_is_exit_3_naming_the_message(
    tmp_path: Path, signing_key: Path
) -> None:
    bench = tmp_path / "bench.yaml"
    out = tmp_path / "evidence"
    args = ["certify", str(PROFILE), "--bench", str(bench), "--dut", "external"]
    with EmbeddedBroker() as broker:  # the lab's broker: an external DUT needs one named
        bench.write_text(
            "format: cc-harness-bench/1\n"
            f"can: {{interface: virtual, channel: nobody-home-{uuid.uuid4().hex[:8]}}}\n"
            f"mqtt: {{broker: {{host: {broker.host}, port: {broker.port}}}}}\n"
        )
        result, took = timed([*args, "--out", str(out), "--key", str(signing_key)], timeout=120)
    assert_clean_error(
        result, 3, "the DUT sent no TCU_Status (0x3A0) within 2 s", "is it powered, on this bus"
    )
    assert took < 2.0 + MARGIN
    record = assert_evidence(out, ("INCOMPLETE",), result.stdout)
    assert record["cases"] == []
    sent = {f.arbitration_id for f in record["_frames"]}
    assert {0x100, 0x120} <= sent  # the rest-bus the harness played while it waited

    # In process: the exception class, from the same wait.
    plan = load_profile(PROFILE)
    with EmbeddedBroker() as lab:
        silent = Bench.model_validate(
            {
                "can": {"interface": "virtual", "channel": "nobody-home-2"},
                "mqtt": {"broker": {"host": lab.host, "port": lab.port}},
            }
        )
        with (
            pytest.raises(DutNotResponding, match=r"sent no TCU_Status \(0x3A0\) within 2 s"),
            Session(plan, silent, DutChoice("external")),
        ):
            pass


def test_external_dut_without_a_broker_in_the_bench_is_exit_2_before_the_run(
    tmp_path: Path,
) -> None:
    """A part of its own cannot know the port of a broker the harness would start: the run
    does not start (no evidence folder), and the message says what to add to the bench."""
    bench = tmp_path / "bench.yaml"
    bench.write_text("format: cc-harness-bench/1\ncan: {interface: virtual, channel: nobody}\n")
    out = tmp_path / "evidence"
    args = ["certify", str(PROFILE), "--bench", str(bench), "--dut", "external"]
    result = run_harness([*args, "--out", str(out)], timeout=60)
    assert_clean_error(
        result, 2, "needs MQTT and the DUT is external", "names no mqtt.broker", "relay:"
    )
    assert not out.exists()
    # a profile without MQTT needs no broker: that run starts (and finds nobody on the bus)
    plan = load_profile(ROOT / "tests" / "report" / "ci-short.yaml")
    no_broker = Bench.model_validate({"can": {"interface": "virtual", "channel": "nobody-3"}})
    with pytest.raises(DutNotResponding), Session(plan, no_broker, DutChoice("external")):
        pass


# -- the DUT process dying mid-run -------------------------------------------------------------

CYCLE_CASES = "".join(
    f"""
- id: TC-CYCLE-{i:02d}
  title: TCU_Status cycle 90..110 ms, second {i}
  requirements: [CAN-001]
  steps:
    - observe: 1 s
      checks:
        - {{kind: cycle_time, message: TCU_Status, min: 90 ms, max: 110 ms}}
"""
    for i in range(1, 13)
)


@pytest.mark.realtime
def test_dut_process_dying_mid_run_ends_incomplete_soon_after(
    tmp_path: Path, signing_key: Path
) -> None:
    """kill -9 of the DUT's own process: the runner notices before the next case and ends
    the run INCOMPLETE, instead of failing every remaining case slowly."""
    profile = short_profile(tmp_path, CYCLE_CASES, "CAN-001", lost_after="2 s", identity=True)
    bench, _ = udp_bench(tmp_path)
    out = tmp_path / "evidence"
    sim = subprocess.Popen(
        harness_cmd("sim", "tcu", "--bench", str(bench)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert sim.stdout is not None
        assert "reference TCU running" in sim.stdout.readline()
        certify = subprocess.Popen(
            harness_cmd(
                "certify",
                str(profile),
                "--bench",
                str(bench),
                "--dut",
                "external",
                "--out",
                str(out),
                "--key",
                str(signing_key),
            ),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, COLUMNS="200"),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and certify.poll() is None:
            try:  # run.json is replaced atomically: it is whole whenever it exists
                if json.loads((out / "run.json").read_text())["cases"]:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        sim.kill()  # SIGKILL: no goodbye on the bus
        killed = time.monotonic()
        stdout, stderr = certify.communicate(timeout=120)
        after_kill = time.monotonic() - killed
    finally:
        sim.kill()
        sim.wait(timeout=10)
    result = subprocess.CompletedProcess(certify.args, certify.returncode, stdout, stderr)
    assert_clean_error(
        result,
        3,
        "the DUT went silent: no TCU_Status (0x3A0) since t=",
        "dut.ready.lost_after is 2 s",
        "the run is incomplete",
    )
    # the case running at the kill (1.2 s), cases until the silence passes lost_after, then
    # lost_after again to come back: about 6 s; the rest of the profile would take 10 s more.
    assert after_kill < 2 * 2.0 + 2 * 1.2 + MARGIN
    record = assert_evidence(out, ("INCOMPLETE",), stdout)
    assert 1 <= len(record["cases"]) < 12
    assert "the DUT went silent" in record["error"]
    assert any(f.arbitration_id == 0x3A0 for f in record["_frames"])  # what it sent before


# -- the DUT flooding the bus ------------------------------------------------------------------


@pytest.mark.realtime
def test_a_bus_that_always_has_a_frame_ready_cannot_starve_the_event_loop() -> None:
    """Timers (rest-bus cycles, deadlines, trace flushes) fire on time even while frames keep
    arriving faster than they are handled: the loop drains a bounded number per turn."""
    channel = f"flood-{uuid.uuid4().hex}"
    harness_bus = can.Bus(interface="virtual", channel=channel)
    flooder = can.Bus(interface="virtual", channel=channel)
    try:
        backlog = 100_000  # far more than one turn of the loop handles
        frame = can.Message(arbitration_id=0x555, data=bytes(8), is_extended_id=False)
        for _ in range(backlog):
            flooder.send(frame)
        loop = EventLoop(RealClock())
        handled: list[float] = []
        loop.add_reader(harness_bus, lambda msg: handled.append(msg.timestamp))
        fired: list[int] = []
        loop.call_later(0.01, lambda: fired.append(len(handled)))
        start = time.monotonic()
        assert loop.run_for(MARGIN, until=lambda: bool(fired))
        assert time.monotonic() - start < MARGIN / 3
        assert fired[0] < backlog  # it fired while frames were still waiting
        loop.run_for(0.05)
        assert len(handled) > fired[0]  # and the frames still come in afterwards
    finally:
        flooder.shutdown()
        harness_bus.shutdown()


FLOODER = """
import sys, can
bus = can.Bus(interface="udp_multicast", channel="239.74.163.2", port=int(sys.argv[1]))
frame = can.Message(arbitration_id=0x555, data=bytes(8), is_extended_id=False)
print("flooding", flush=True)
for _ in range(int(sys.argv[2])):
    bus.send(frame)
"""

FLOOD_CASES = """
- id: TC-CAN-005-FLOOD
  title: Only TCU identifiers, bus load under 5 % per second
  requirements: [CAN-005]
  steps:
    - observe: 3 s
      checks:
        - {kind: allowed_ids, ids: [0x3A0, 0x3B0, 0x7E8]}
        - {kind: bus_load, max_percent: 5, window: 1 s}
        - {kind: absent, message: TCU_Command}
"""


@pytest.mark.realtime
def test_dut_flooding_the_bus_fails_can_005_in_bounded_time(
    tmp_path: Path, signing_key: Path
) -> None:
    """The reference TCU plus a process sending 0x555 as fast as it can on the same bus."""
    # The identity comes from the command line: a bus flooded as fast as a process can send
    # starves the tester's and the simulator's diagnostics alike (an identity read there ends
    # the run INCOMPLETE, rightly), and this test is about CAN-005.
    profile = short_profile(tmp_path, FLOOD_CASES, "CAN-005", given_identity=True)
    bench, port = udp_bench(tmp_path)
    flooder = subprocess.Popen(
        [sys.executable, "-c", FLOODER, str(port), "50000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    out = tmp_path / "evidence"
    try:
        assert flooder.stdout is not None
        assert flooder.stdout.readline().strip() == "flooding"
        args = ["certify", str(profile), "--bench", str(bench), "--dut", "sim", "--realtime"]
        args += ["--identity", "serial=FLOOD0000001"]
        result, took = timed([*args, "--out", str(out), "--key", str(signing_key)], timeout=120)
        assert flooder.poll() is None, "the flood ended before the run did"
    finally:
        flooder.kill()
        flooder.wait(timeout=10)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert took < 0.5 + 3.0 + MARGIN  # before_each + the window, then evaluation
    record = assert_evidence(out, ("COMPLETED",), result.stdout)
    (case,) = record["cases"]
    by_kind = {check["kind"]: check for check in case["checks"]}
    # If the receiver lost frames under the flood (the kernel's count in run.json), no check
    # of the window can be judged: INCONCLUSIVE, with what the frames in hand showed.
    receive = record["receive"]
    assert receive["reader"] == "thread" and receive["frames"] > 1000, receive
    lost = sum(loss["frames"] for loss in receive["losses"])
    assert receive["lost"] == lost
    unless_lost = {True: "INCONCLUSIVE", False: "FAIL"}[lost > 0]
    assert case["verdict"] == unless_lost
    assert by_kind["allowed_ids"]["verdict"] == unless_lost
    assert "0x555" in by_kind["allowed_ids"]["summary"]
    assert by_kind["bus_load"]["verdict"] == unless_lost
    # the flood is not taken for TCU_Command
    assert by_kind["absent"]["verdict"] == ("INCONCLUSIVE" if lost else "PASS")
    assert record["requirements"]["CAN-005"] == unless_lost
    ids = [f.arbitration_id for f in record["_frames"]]
    assert ids.count(0x555) > 1000 and 0x3A0 in ids and 0x100 in ids


# -- the broker unreachable at start -----------------------------------------------------------


@pytest.mark.realtime
def test_broker_unreachable_at_start_is_exit_3_naming_it(tmp_path: Path, signing_key: Path) -> None:
    port = free_tcp_port()
    bench = tmp_path / "bench.yaml"
    bench.write_text(
        "format: cc-harness-bench/1\n"
        f"mqtt:\n  broker: {{host: 127.0.0.1, port: {port}, password: hunter2-secret}}\n"
    )
    out = tmp_path / "evidence"
    args = ["certify", str(PROFILE), "--realtime", "--bench", str(bench), "--out", str(out)]
    result, took = timed([*args, "--key", str(signing_key)], timeout=120)
    assert_clean_error(
        result, 3, f"cannot connect to the MQTT broker mqtt://127.0.0.1:{port} within"
    )
    assert took < CONNECT_TIMEOUT + MARGIN
    assert "hunter2-secret" not in result.stdout + result.stderr
    record = assert_evidence(out, ("INCOMPLETE",), result.stdout)
    assert record["cases"] == [] and "MQTT broker" in record["error"]
    for f in out.rglob("*"):
        if f.is_file():
            assert b"hunter2-secret" not in f.read_bytes(), f


# -- the broker dying mid-run ------------------------------------------------------------------

BROKER_CASES = """
- id: BSM-RATE
  title: BSM rate
  requirements: [V2X-002]
  steps:
    - observe: 5 s
      checks:
        - {kind: mqtt_interval, topic: bsm, min: 80 ms, max: 120 ms}
- id: CMD
  title: a command
  requirements: [CMD-001]
  steps:
    - command: {cmd: horn, seq: 1}
      name: c
    - observe: 1 s
      checks:
        - {kind: mqtt_latency, topic: ack, from: c, where: {result: ok}, within: 1 s}
"""


def _mosquitto(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A plain Mosquitto on a free loopback port, as a child process this test can kill."""
    binary = mosquitto_binary()
    if binary is None:
        raise RuntimeError("mosquitto is not installed (apt-get install -y mosquitto)")
    port = free_tcp_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n"
    )
    broker = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return broker, port
        except OSError:
            time.sleep(0.05)
    broker.kill()
    raise RuntimeError(f"mosquitto did not listen on {port}")


@pytest.mark.realtime
def test_broker_dying_mid_run_never_passes_and_keeps_evidence(
    tmp_path: Path, signing_key: Path
) -> None:
    """Mosquitto killed with SIGKILL while the BSMs flow: failed cases, a finished run."""
    head = PROFILE.read_text().split("\ncases:\n")[0].replace("../dbc/", f"{ROOT}/dbc/")
    profile = tmp_path / "profile.yaml"
    profile.write_text(head + "\ncases:\n" + textwrap.dedent(BROKER_CASES))
    broker, port = _mosquitto(tmp_path)
    bench = tmp_path / "bench.yaml"
    bench.write_text(
        f"format: cc-harness-bench/1\nmqtt:\n  broker: {{host: 127.0.0.1, port: {port}}}\n"
    )
    out = tmp_path / "evidence"
    try:
        certify = subprocess.Popen(
            harness_cmd(
                "certify",
                str(profile),
                "--realtime",
                "--bench",
                str(bench),
                "--out",
                str(out),
                "--key",
                str(signing_key),
            ),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, COLUMNS="200"),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and certify.poll() is None:
            try:  # mqtt.jsonl is flushed every 250 ms
                if (out / "mqtt.jsonl").read_text().count('"v2x/bsm/') >= 10:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        broker.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        stdout, stderr = certify.communicate(timeout=120)
        after_kill = time.monotonic() - killed
    finally:
        broker.kill()
        broker.wait(timeout=10)
    assert certify.returncode == 1, stdout + stderr
    assert "Traceback" not in stdout + stderr
    assert after_kill < 5.0 + 1.0 + 2.0 + MARGIN  # the rest of the cases, then closing
    record = assert_evidence(out, ("COMPLETED",), stdout)
    assert len(record["cases"]) == 2
    assert all(c["verdict"] in ("FAIL", "ERROR") for c in record["cases"])
    lines = [json.loads(x) for x in (out / "mqtt.jsonl").read_text().splitlines()]
    assert sum(1 for x in lines if x.get("topic", "").startswith("v2x/bsm/")) >= 10
    assert any("lost" in x.get("event", "") for x in lines)


# -- the bus interface failing to open ---------------------------------------------------------


@pytest.mark.parametrize(
    ("can_block", "phrases"),
    [
        (
            "{interface: socketcan, channel: vcan-nope}",
            ("cannot open CAN interface 'socketcan' channel 'vcan-nope'", "ip link show vcan-nope"),
        ),
        (
            "{interface: udp_multicast, channel: 10.0.0.300}",
            ("cannot open CAN interface 'udp_multicast' channel '10.0.0.300'", "multicast group"),
        ),
    ],
    ids=["socketcan", "udp_multicast"],
)
def test_bus_interface_failing_to_open_is_exit_3_saying_what_to_check(
    tmp_path: Path, signing_key: Path, can_block: str, phrases: tuple[str, ...]
) -> None:
    bench = tmp_path / "bench.yaml"
    bench.write_text(f"format: cc-harness-bench/1\ncan: {can_block}\n")
    profile = ROOT / "tests" / "report" / "ci-short.yaml"
    out = tmp_path / "evidence"
    args = ["certify", str(profile), "--bench", str(bench), "--dut", "external"]
    result, took = timed([*args, "--out", str(out), "--key", str(signing_key)], timeout=60)
    assert_clean_error(result, 3, *phrases, "can.interface, can.channel and can.options")
    assert took < MARGIN
    record = assert_evidence(out, ("INCOMPLETE",), result.stdout)
    assert record["cases"] == [] and record["_frames"] == []
    assert "cannot open CAN interface" in record["error"]


# -- a profile that references a message the bench cannot carry --------------------------------


def fd_dbc(folder: Path) -> Path:
    """The shipped DBC plus VEH_Camera: 64 data bytes, a CAN FD frame."""
    text = DBC.read_text(encoding="cp1252")
    extra = (
        'BO_ 1280 VEH_Camera: 64 VEHICLE\n SG_ FrameCounter : 0|8@1+ (1,0) [0|255] "" TCU\n'
        ' SG_ Tail : 504|8@1+ (1,0) [0|255] "" TCU\n\n'
    )
    at = text.index("BA_DEF_ BO_")
    cycle = 'BA_ "GenMsgCycleTime" BO_ 1280 100;\n'  # a rest-bus message needs one
    path = folder / "with-fd.dbc"
    path.write_text(text[:at] + extra + text[at:].rstrip("\n") + "\n" + cycle, encoding="cp1252")
    return path


_FD_CASES = """
- id: TC-CYCLE
  title: TCU_Status cycle
  requirements: [CAN-001]
  steps:
    - observe: 1 s
      checks:
        - {kind: cycle_time, message: TCU_Status, min: 90 ms, max: 110 ms}
"""


@pytest.mark.parametrize("where", ["restbus", "check"])
def test_profile_referencing_a_message_the_bench_cannot_carry_is_refused_before_the_run(
    tmp_path: Path, signing_key: Path, where: str
) -> None:
    profile = short_profile(tmp_path, _FD_CASES, "CAN-001", dbc=fd_dbc(tmp_path))
    text = profile.read_text()
    if where == "restbus":  # the harness would have to send it
        text = text.replace(
            "  VEH_Status:\n", "  VEH_Camera:\n    signals: {FrameCounter: 1}\n  VEH_Status:\n"
        )
        anchor, path = "signals: {FrameCounter: 1}", "restbus.VEH_Camera"
    else:  # the harness would have to receive it
        text = text.replace(
            "        - {kind: cycle_time",
            "        - {kind: absent, message: VEH_Camera}\n        - {kind: cycle_time",
        )
        anchor, path = "VEH_Camera}", "cases[0].steps[0].checks[0].message"
    profile.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if anchor in t)
    col = text.splitlines()[line - 1].index(anchor) + 1
    out = tmp_path / "evidence"
    args = ["certify", str(profile), "--out", str(out), "--key", str(signing_key)]
    result, took = timed(args, timeout=60)
    assert_clean_error(
        result,
        2,
        f"{profile}:{line}:{col} {path}:",
        "message VEH_Camera (0x500) is a CAN FD frame of 64 data bytes",
        "at most 8 data bytes per frame",
    )
    assert took < MARGIN
    assert not out.exists()  # refused before the run: no evidence folder, no certificate
    assert "no certificate" not in result.stdout
    validate = run_harness(["validate", str(profile)], timeout=60)
    assert_clean_error(validate, 2, f"{profile}:{line}:{col} {path}:")
