"""A tester (can-isotp logic on a recording CanPort, as in a certification run) and the
simulator's :class:`ServerIsoTp` on one ``harness_sim`` channel and one virtual clock, and an
independent reading of what the server put on the wire (shared by the ISO-TP over CAN FD
tests)."""

from __future__ import annotations

import itertools
from typing import Any

import can

from harness.can.port import CanPort
from harness.clock import EventLoop, VirtualClock
from harness.observe import FD_LENGTHS, FrameLog
from harness.sim.isotp_server import ServerIsoTp
from harness.uds.config import DiagConfig
from harness.uds.exchange import DiagIds, Transfer, normal_fixed_ids, transfers
from harness.uds.link import IsoTpLink

FIXED = DiagIds(*normal_fixed_ids(0x10, 0xF1), "normal_fixed_29")  # CC-GW-1's addressing
NORMAL = DiagIds()
_channels = itertools.count()


class Wire:
    """Both ends of one diagnostic channel; ``sent`` is every frame the server sent."""

    def __init__(self, tester: DiagConfig, **server: Any) -> None:
        channel = f"isotp-fd-{next(_channels)}"
        self.clock = VirtualClock()
        self.loop = EventLoop(self.clock)
        self.bus = can.Bus(interface="harness_sim", channel=channel, clock=self.clock)
        self.dut_bus = can.Bus(interface="harness_sim", channel=channel)
        self.log = FrameLog()
        self.port = CanPort(self.loop, self.bus, self.log)
        self.ids = ids = tester.ids
        self.link = IsoTpLink(self.loop, self.port, tester)
        self.requests: list[bytes] = []
        self.sent: list[can.Message] = []
        self.server = ServerIsoTp(
            self.loop,
            self._server_send,
            lambda data, functional: self.requests.append(data),
            physical_id=ids.request_id,
            functional_id=ids.functional_id,
            response_id=ids.response_id,
            extended_id=ids.extended_id,
            target_address=ids.target_address,
            functional_address=ids.functional_address,
            source_address=ids.source_address,
            **server,
        )
        self.loop.add_reader(self.dut_bus, self.server.on_frame)

    def _server_send(self, msg: can.Message) -> None:
        self.sent.append(msg)
        self.dut_bus.send(msg)

    def close(self) -> None:
        self.link.close()
        self.bus.shutdown()
        self.dut_bus.shutdown()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, payload: bytes) -> list[bytes]:
        """The tester sends ``payload``; what the server took in."""
        self.requests.clear()
        self.link.send(payload)
        self.loop.run_for(10.0, until=lambda: bool(self.requests))
        return list(self.requests)

    def respond(self, payload: bytes) -> list[Transfer]:
        """The server sends ``payload``; what the tester took in."""
        self.sent.clear()
        self.link.take_received()
        self.server.send(payload)
        self.loop.run_for(10.0, until=lambda: bool(self.link.received))
        return self.link.take_received()

    def logged_answers(self) -> list[bytes]:
        """The part's messages as the checks reassemble them from the frame log."""
        col = self.ids.answered(self.log)
        return [t.payload for t in transfers(col, 0.0, 1e9, self.ids.response_id)]

    def tester_frames(self) -> list[tuple[bytes, int]]:
        """(data, FLAG_* bits) of every frame the tester sent on the physical identifier."""
        col = self.log.tx_of(self.ids.request_id)
        return [(col.data[k], col.flag(k)) for k in range(len(col.ts))]


def _padded(frame: bytes, used: int, pad: int) -> None:
    """``frame`` is ``used`` bytes of ISO-TP, padded with ``pad`` to 8 bytes or, when longer,
    to the next CAN FD length, and no further."""
    want = 8 if used <= 8 else next(n for n in FD_LENGTHS if n >= used)
    assert len(frame) == want, (len(frame), used)
    assert frame[used:] == bytes([pad]) * (want - used), frame.hex(" ")


def read_server_frames(
    frames: list[can.Message], *, tx_dl: int, pad: int, fd: bool, brs: bool, extended: bool
) -> bytes:
    """The payload the server's data frames carry, checking on the way each frame's format,
    that single frames use the escape form exactly when they must, first and consecutive
    frames fill TX_DL, and every shorter frame is padded to a valid length with ``pad``."""
    data = [bytes(f.data) for f in frames if f.data[0] >> 4 != 3]
    for f in frames:
        assert bool(f.is_fd) == fd and bool(f.bitrate_switch) == (fd and brs)
        assert bool(f.is_extended_id) == extended
        assert len(f.data) in FD_LENGTHS and len(f.data) >= 8
        assert fd or len(f.data) == 8
    first = data[0]
    if first[0] >> 4 == 0:  # single frame
        assert len(data) == 1
        n = first[0] & 0x0F
        if n:
            _padded(first, 1 + n, pad)
            assert n <= 7
            return first[1 : 1 + n]
        n = first[1]
        assert n > 7 and tx_dl > 8
        _padded(first, 2 + n, pad)
        return first[2 : 2 + n]
    assert first[0] >> 4 == 1 and len(first) == tx_dl
    length = ((first[0] & 0x0F) << 8) | first[1]
    head = 2
    if length == 0:
        length, head = int.from_bytes(first[2:6], "big"), 6
        assert length > 0xFFF
    assert length > tx_dl - (2 if tx_dl > 8 else 1)  # a single frame could not hold it
    out = bytearray(first[head:])
    for k, frame in enumerate(data[1:], start=1):
        assert frame[0] == 0x20 | (k & 0x0F)
        rest = length - len(out)
        if rest > tx_dl - 1:
            assert len(frame) == tx_dl
            out += frame[1:]
        else:
            assert k == len(data) - 1, "frames after the last needed"
            _padded(frame, 1 + rest, pad)
            out += frame[1 : 1 + rest]
    assert len(out) == length
    return bytes(out)
