"""The will and broker-outage cases on a broker the harness cannot control (mqtt.relay).

Debian's Mosquitto with TLS and a password, and no ``control`` commands in the bench: the
harness can neither stop it nor drop one of its clients. With ``mqtt.relay`` the part
connects to the harness's relay, which the harness cuts (the broker then publishes the
part's will) and refuses (a broker outage, to the part).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.mqtt.relay import TcpRelay
from tests.conftest import PROFILE, ROOT, free_udp_port, harness_cmd, run_harness
from tests.v2x.mosquitto_lane import Lane, free_tcp_port, make_lane

OUTAGE_CASES = ["TC-V2X-001-WILL", "TC-V2X-008-RESTART"]


@pytest.fixture(scope="module")
def lane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lane]:
    lane = make_lane(tmp_path_factory.mktemp("mosquitto"))  # says so when Mosquitto is missing
    try:
        yield lane
    finally:
        lane.stop()


def _bench(tmp_path: Path, lane: Lane, relay_port: int | None) -> Path:
    bench = tmp_path / "bench.yaml"
    bench.write_text(lane.bench_yaml("", control=False, relay_port=relay_port))
    return bench


def _certify(
    tmp_path: Path, lane: Lane, bench: Path, cases: list[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, dict[str, str], dict[str, object], str]:
    for key, value in lane.env().items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "evidence"
    chosen = [arg for case_id in cases for arg in ("--case", case_id)]
    result = run_harness(
        ["certify", str(PROFILE), "--realtime", "--bench", str(bench), *chosen, "--out", str(out)],
        timeout=300,
    )
    record = json.loads((out / "run.json").read_text())
    verdicts = {c["id"]: c["verdict"] for c in record["cases"]}
    return result.returncode, verdicts, record, result.stdout + result.stderr


@pytest.mark.realtime
def test_will_and_restart_cases_pass_through_the_relay_on_mosquitto_without_control(
    tmp_path: Path, lane: Lane, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = _bench(tmp_path, lane, free_tcp_port())
    code, verdicts, record, output = _certify(tmp_path, lane, bench, OUTAGE_CASES, monkeypatch)
    assert verdicts == dict.fromkeys(OUTAGE_CASES, "PASS"), output[-3000:]
    assert code == 0, output[-3000:]
    assert record["bench"]["mqtt"]["relay"].startswith("127.0.0.1:")  # type: ignore[index]
    assert lane.running()  # the lab's broker was never stopped
    statuses = [
        bytes.fromhex(json.loads(line)["payload"])
        for line in (tmp_path / "evidence" / "mqtt.jsonl").read_text().splitlines()
        if '"v2x/status/' in line
    ]
    # the broker itself published the will when the relay cut the part's connection
    assert b"offline" in statuses and b"online" in statuses


@pytest.mark.realtime
def test_without_relay_or_control_the_will_case_says_what_to_add(
    tmp_path: Path, lane: Lane, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = _bench(tmp_path, lane, None)
    code, verdicts, record, _ = _certify(tmp_path, lane, bench, ["TC-V2X-001-WILL"], monkeypatch)
    assert code == 0  # the case is optional (mandatory: false): its ERROR is reported, not fatal
    assert verdicts == {"TC-V2X-001-WILL": "ERROR"}
    case = record["cases"][0]  # type: ignore[index]
    assert "the bench gives no mqtt.relay" in json.dumps(case)


def test_the_relay_cuts_and_refuses_connections_and_relays_bytes(lane: Lane) -> None:
    """Byte for byte to the broker; cut closes both sides; down refuses, up listens again."""
    port = free_tcp_port()
    with TcpRelay(("127.0.0.1", port), ("127.0.0.1", lane.port)) as relay:
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        # the broker speaks TLS: a ClientHello's first bytes are relayed, a TLS alert comes back
        client.sendall(bytes.fromhex("16 03 01 00 05 01 00 00 01 00"))
        assert client.recv(1) != b""  # something came back from the broker through the relay
        assert relay.accepted == 1
        relay.cut()
        client.settimeout(5)
        rest = b"x"
        while rest:
            try:
                rest = client.recv(4096)
            except ConnectionResetError:
                rest = b""
        client.close()
        relay.down()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2)
        relay.up()
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


@pytest.mark.realtime
def test_a_part_started_before_the_harness_is_waited_for_at_the_relay(
    tmp_path: Path, lane: Lane, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supplier's order of things: the part (its own process) starts first, finds no
    relay yet and retries; the run waits for its connection before the first case."""
    can = (
        "can: {interface: udp_multicast, channel: 239.74.163.2, "
        f"options: {{port: {free_udp_port()}}}}}\n"
    )
    bench = tmp_path / "bench.yaml"
    bench.write_text(lane.bench_yaml(can, control=False, relay_port=free_tcp_port()))
    for key, value in lane.env().items():
        monkeypatch.setenv(key, value)
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
        out = tmp_path / "evidence"
        cases = ["TC-V2X-001-ONLINE", "TC-CMD-001"]
        chosen = [arg for c in cases for arg in ("--case", c)]
        result = run_harness(
            ["certify", str(PROFILE), "--bench", str(bench), "--dut", "external", *chosen,
             "--out", str(out)],
            timeout=300,
        )  # fmt: skip
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=10)
    record = json.loads((out / "run.json").read_text())
    verdicts = {c["id"]: c["verdict"] for c in record["cases"]}
    assert verdicts == dict.fromkeys(cases, "PASS"), result.stdout[-3000:]
    events = [
        json.loads(line)["event"]
        for line in (out / "mqtt.jsonl").read_text().splitlines()
        if '"event"' in line
    ]
    assert any(e.startswith("DUT connected through the relay") for e in events)
