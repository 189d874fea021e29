"""The embedded broker and the paho client, an unreachable broker, a broker dying mid-run."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from harness.bench import Bench
from harness.clock import EventLoop, RealClock
from harness.mqtt.broker import EmbeddedBroker, free_tcp_port
from harness.mqtt.client import PahoTransport
from harness.mqtt.config import BrokerAddress
from harness.mqtt.transport import ClientOptions, Will
from harness.profile.compile import load_profile
from harness.record import RunStatus, Verdict
from harness.session import DutChoice, Session
from tests.conftest import PROFILE, ROOT, run_harness
from tests.v2x.test_sim_v2x import Observer


def _transport(
    loop: EventLoop, port: int, cid: str, obs: Observer, will: Will | None = None
) -> PahoTransport:
    return PahoTransport(loop, BrokerAddress("127.0.0.1", port), ClientOptions(cid, will=will), obs)


def test_embedded_broker_on_loopback_stop_restart_and_will() -> None:
    loop = EventLoop(RealClock())
    with EmbeddedBroker() as broker:
        assert broker.host == "127.0.0.1" and broker.port != 1883
        a, b = Observer(), Observer()
        ta = _transport(loop, broker.port, "a", a)
        tb = _transport(loop, broker.port, "b", b, Will("t/status", b"offline"))
        try:
            ta.connect()
            tb.connect()
            assert loop.run_for(3, until=lambda: a.connected and b.connected)
            ta.subscribe("t/#", 1)
            loop.run_for(0.3)
            start = loop.now()
            tb.publish("t/x", b"hello", 1)
            assert loop.run_for(3, until=lambda: bool(a.messages))
            ts, topic, payload, retain = a.messages[0]
            assert (topic, payload, retain) == ("t/x", b"hello", False)
            assert start <= ts <= loop.now()  # stamped on arrival, on the run's clock
            assert broker.kick("b")
            assert loop.run_for(3, until=lambda: any(p == b"offline" for _, _, p, _ in a.messages))
            broker.stop()
            assert loop.run_for(3, until=lambda: not a.connected)
            broker.start()
            ta.connect()
            assert loop.run_for(5, until=lambda: a.connected)
        finally:
            ta.close()
            tb.close()


def test_unreachable_broker_is_exit_3_naming_it(tmp_path: Path) -> None:
    port = free_tcp_port()
    bench = tmp_path / "bench.yaml"
    bench.write_text(
        "format: cc-harness-bench/1\n"
        f"mqtt:\n  broker: {{host: 127.0.0.1, port: {port}, password: hunter2-secret}}\n"
    )
    out = tmp_path / "evidence"
    result = run_harness(
        ["certify", str(PROFILE), "--realtime", "--bench", str(bench), "--out", str(out)],
        timeout=120,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"broker mqtt://127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2-secret" not in result.stderr + result.stdout
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "INCOMPLETE" and record["passed"] is False


SHORT = (
    (PROFILE.read_text().split("\ncases:\n")[0]).replace("../dbc/", f"{ROOT}/dbc/")
    + """
cases:
  - id: BSM-RATE
    title: BSM rate
    requirements: [V2X-002]
    steps:
      - observe: 6 s
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
)


def test_broker_dying_mid_run_never_passes_and_keeps_evidence(tmp_path: Path) -> None:
    (tmp_path / "short.yaml").write_text(SHORT)
    plan = load_profile(tmp_path / "short.yaml")
    with EmbeddedBroker() as broker:
        bench = Bench.model_validate(
            {"mqtt": {"broker": {"host": "127.0.0.1", "port": broker.port}}}
        )
        out = tmp_path / "evidence"
        killer = threading.Timer(3.0, broker.stop)
        with Session(plan, bench, DutChoice("sim"), realtime=True, out_dir=out) as session:
            killer.start()
            record = session.run_all()
        killer.join()
    assert record.status is RunStatus.COMPLETED
    assert [c.verdict for c in record.cases] != [Verdict.PASS, Verdict.PASS]
    assert all(c.verdict is not Verdict.PASS for c in record.cases)
    lines = [json.loads(x) for x in (out / "mqtt.jsonl").read_text().splitlines()]
    bsms = [x for x in lines if x.get("topic", "").startswith("v2x/bsm/")]
    assert len(bsms) >= 15  # about 2.5 s of BSMs before the broker died
    assert any("lost" in x.get("event", "") for x in lines)
    assert (out / "manifest.json").is_file()


def test_secrets_stay_out_of_the_evidence(tmp_path: Path) -> None:
    psk = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7"
    bench = tmp_path / "bench.yaml"
    bench.write_text(
        "format: cc-harness-bench/1\n"
        "mqtt:\n  broker: {host: 127.0.0.1, port: 1, username: u, password: pa55-w0rd-s3cret}\n"
        f"  psk: '{psk}'\n"
    )
    out = tmp_path / "evidence"
    result = run_harness(["certify", str(PROFILE), "--bench", str(bench), "--out", str(out)])
    assert result.returncode == 0, result.stdout + result.stderr  # simulated: own broker
    for f in out.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            for secret in (b"pa55-w0rd-s3cret", psk.encode(), psk.upper().encode()):
                assert secret not in data, f"{secret!r} found in {f}"
    assert "pa55-w0rd-s3cret" not in result.stdout + result.stderr


@pytest.mark.parametrize("protocol", ["3.1.1"])
def test_bench_mqtt_section_is_strict(tmp_path: Path, protocol: str) -> None:
    from harness.bench import load_bench
    from harness.errors import BenchError

    bench = tmp_path / "bench.yaml"
    bench.write_text(
        "format: cc-harness-bench/1\nmqtt:\n"
        f"  broker: {{host: h, protocol: '{protocol}', pwd: x}}\n"
    )
    with pytest.raises(BenchError) as exc:
        load_bench(bench)
    assert "pwd" in str(exc.value)
