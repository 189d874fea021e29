"""A udp_multicast bus gets a receive buffer that rides out a stall of a busy machine."""

from __future__ import annotations

import socket
from pathlib import Path

from harness.bench import UDP_RECEIVE_BUFFER, CanConfig, open_bus
from tests.conftest import free_udp_port


def test_udp_multicast_bus_receive_buffer_is_widened() -> None:
    config = CanConfig(
        interface="udp_multicast", channel="239.74.163.2", options={"port": free_udp_port()}
    )
    bus = open_bus(config)
    try:
        sock = bus._multicast._socket  # type: ignore[attr-defined]
        got = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    finally:
        bus.shutdown()
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    # Linux doubles the requested size (bookkeeping) and caps it at rmem_max
    assert got >= 2 * min(UDP_RECEIVE_BUFFER, rmem_max)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as plain:
        assert got > plain.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) or rmem_max <= (
            plain.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
        )
