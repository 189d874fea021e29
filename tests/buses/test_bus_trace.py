"""The trace keeps each frame's bus: frames recorded through one port per named bus into one
BLF file come back, bus by bus, exactly as the live frame logs had them (a hypothesis law);
read without channels (a one-bus run) every frame is one log, as before named buses."""

from __future__ import annotations

from pathlib import Path

import can
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.can.port import CanPort
from harness.can.simbus import SimBus
from harness.clock import EventLoop, VirtualClock
from harness.observe import FD_LENGTHS, FrameLog
from harness.trace import TraceWriter, read_trace, read_trace_channels

_frame = st.tuples(
    st.integers(0, 2),  # the bus
    st.integers(0, 0x7FF),
    st.booleans(),  # FD
    st.integers(0, 15),  # DLC code
    st.booleans(),  # received (else sent by the harness)
    st.integers(1, 5000),  # µs after the previous frame
)


def _columns(log: FrameLog) -> tuple[object, ...]:
    rx = {i: (c.ts, c.data) for i, c in log.rx.items()}
    tx = {i: (c.ts, c.data) for i, c in log.tx.items()}
    return rx, tx, log.rx_ids, log.rx_flags


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frames=st.lists(_frame, min_size=1, max_size=60))
def test_each_bus_comes_back_from_its_channel(
    tmp_path: Path, frames: list[tuple[int, ...]]
) -> None:
    clock = VirtualClock()
    loop = EventLoop(clock)
    path = tmp_path / f"t{len(list(tmp_path.iterdir()))}.blf"
    buses = [SimBus(f"trace-{path.name}-{i}", clock=clock) for i in range(3)]
    origin: float | None = None
    with TraceWriter(path) as trace:
        ports = [CanPort(loop, bus, FrameLog(), trace, channel=i) for i, bus in enumerate(buses)]
        for bus_index, can_id, fd, dlc, rx, gap in frames:
            clock.advance_to(clock.now() + gap / 1e6)
            length = FD_LENGTHS[dlc] if fd else min(dlc, 8)
            msg = can.Message(
                timestamp=clock.now(),
                arbitration_id=can_id,
                is_extended_id=False,
                is_fd=bool(fd),
                bitrate_switch=bool(fd),
                data=bytes((can_id + k) & 0xFF for k in range(length)),
            )
            port = ports[bus_index]
            if rx:
                port._on_frame(msg)  # as the loop hands a received frame over
            else:
                port.send(msg)
        origin = trace.first_timestamp
    for bus in buses:
        bus.shutdown()
    logs, count = read_trace_channels(path, origin)
    assert count == len(frames)
    for i, port in enumerate(ports):
        assert _columns(logs.get(i, FrameLog())) == _columns(port.log)
    merged, _ = read_trace(path, origin)  # one log of every frame, as a one-bus run reads it
    assert merged.rx_count == sum(p.log.rx_count for p in ports)
