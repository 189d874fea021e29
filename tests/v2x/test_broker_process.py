"""The embedded broker in a process of its own (real-time qualification runs use it)."""

from __future__ import annotations

import os
import socket

import pytest

from harness.clock import EventLoop, RealClock
from harness.errors import InterfaceError
from harness.mqtt.broker_process import BrokerProcess
from harness.mqtt.client import PahoTransport
from harness.mqtt.config import BrokerAddress
from harness.mqtt.transport import ClientOptions
from tests.v2x.test_sim_v2x import Observer


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.realtime
def test_a_broker_process_carries_messages_and_ends_with_its_context() -> None:
    loop = EventLoop(RealClock())
    with BrokerProcess() as broker:
        pid = broker.pid
        assert pid is not None and pid != os.getpid()
        address = BrokerAddress(broker.host, broker.port)
        a, b = Observer(), Observer()
        ta = PahoTransport(loop, address, ClientOptions("a"), a)
        tb = PahoTransport(loop, address, ClientOptions("b"), b)
        try:
            ta.connect()
            tb.connect()
            assert loop.run_for(5, until=lambda: a.connected and b.connected)
            ta.subscribe("t/#", 1)
            loop.run_for(0.3)
            tb.publish("t/x", b"hello", 1)
            assert loop.run_for(3, until=lambda: bool(a.messages))
            assert a.messages[0][1:3] == ("t/x", b"hello")
        finally:
            ta.close()
            tb.close()
    assert broker.pid is None
    for _ in range(50):  # reaped by __exit__; the pid is gone
        if not _alive(pid):
            break
        loop.run_for(0.1)
    assert not _alive(pid)


@pytest.mark.realtime
def test_a_taken_port_is_an_interface_error_naming_the_address_and_what_it_said() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InterfaceError) as caught:
            BrokerProcess(port).__enter__()
    text = str(caught.value)
    assert f"127.0.0.1:{port} did not start" in text
    assert f"port {port} on 127.0.0.1 is in use" in text
