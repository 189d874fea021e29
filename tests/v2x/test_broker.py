"""The embedded broker and the paho client, secrets, the bench's mqtt section.

An unreachable broker and a broker dying mid-run are in tests/test_fault_tolerance.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.clock import EventLoop, RealClock
from harness.mqtt.broker import EmbeddedBroker
from harness.mqtt.broker_process import BrokerProcess
from harness.mqtt.client import PahoTransport
from harness.mqtt.config import BrokerAddress
from harness.mqtt.transport import ClientOptions, Will
from tests.conftest import PROFILE, run_harness
from tests.v2x.test_sim_v2x import Observer


def _transport(
    loop: EventLoop, port: int, cid: str, obs: Observer, will: Will | None = None
) -> PahoTransport:
    return PahoTransport(loop, BrokerAddress("127.0.0.1", port), ClientOptions(cid, will=will), obs)


@pytest.mark.realtime
@pytest.mark.parametrize("kind", [EmbeddedBroker, BrokerProcess], ids=["thread", "process"])
def test_embedded_broker_on_loopback_stop_restart_and_will(
    kind: type[EmbeddedBroker] | type[BrokerProcess],
) -> None:
    """On a thread, or in a process of its own (what real-time runs use): the same controls."""
    loop = EventLoop(RealClock())
    with kind() as broker:
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
            assert not broker.kick("nobody")
            assert broker.kick("b")
            assert loop.run_for(3, until=lambda: any(p == b"offline" for _, _, p, _ in a.messages))
            broker.stop()
            assert loop.run_for(3, until=lambda: not a.connected)
            broker.start()
            ta.connect()
            assert loop.run_for(5, until=lambda: a.connected)
            ta.subscribe("t/#", 1)
            loop.run_for(0.3)
            tb.connect()  # the restarted broker carries messages again
            assert loop.run_for(5, until=lambda: b.connected)
            tb.publish("t/y", b"again", 1)
            assert loop.run_for(3, until=lambda: any(p == b"again" for _, _, p, _ in a.messages))
        finally:
            ta.close()
            tb.close()


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
