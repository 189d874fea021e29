"""The harness's side of the CAN bus: send, receive, record.

:class:`CanPort` is the one consumer of the harness's python-can bus. Every frame the harness
sends and every frame it receives goes into the :class:`~harness.observe.FrameLog` the checks
read and into the BLF trace. Some interfaces (``udp_multicast``) hand a process its own frames
back: those echoes are recognised and dropped, so they are neither recorded twice nor taken
for the DUT's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import can

from harness.clock import EventLoop
from harness.errors import InterfaceError
from harness.observe import FLAG_BRS, FLAG_ESI, FLAG_FD, FrameLog
from harness.trace import TraceWriter

__all__ = ["CanPort"]

RxListener = Callable[[float, int, bytes], None]


class CanPort:
    def __init__(
        self,
        loop: EventLoop,
        bus: can.BusABC,
        log: FrameLog,
        trace: TraceWriter | None = None,
        *,
        echoes: bool = False,
        channel: int = 0,
    ) -> None:
        self.loop = loop
        # the named bus's index in the plan: the trace's BLF channel is channel + 1
        self.channel = channel
        self.bus = bus
        self.log = log
        self.trace = trace
        self._echoes: deque[tuple[int, bytes]] | None = deque(maxlen=4096) if echoes else None
        self.rx_listeners: list[RxListener] = []
        self.send_errors = 0
        loop.add_reader(bus, self._on_frame)

    def send(self, msg: can.Message) -> float:
        """Send a frame; record it as the harness's; return its (1 µs grid) timestamp."""
        now = self.loop.now()
        raw = msg.data
        data = bytes(raw) if len(raw) == msg.dlc else bytes(raw[: msg.dlc])
        try:
            self.bus.send(msg)
        except can.CanError as exc:
            self.send_errors += 1
            raise InterfaceError(f"sending on {self.bus.channel_info} failed: {exc}") from exc
        if self._echoes is not None:
            self._echoes.append((msg.arbitration_id, data))
        # frame_flags() inline, as in _on_frame: this runs for every frame the harness sends
        flags = 1 if msg.is_extended_id else 0
        if msg.is_fd:
            flags |= FLAG_FD | (FLAG_BRS if msg.bitrate_switch else 0)
            flags |= FLAG_ESI if msg.error_state_indicator else 0
        ts = self.log.add_tx(now, msg.arbitration_id, data, flags)
        if self.trace is not None:
            if msg.is_fd:
                self.trace.write(
                    can.Message(
                        timestamp=ts,
                        arbitration_id=msg.arbitration_id,
                        is_extended_id=msg.is_extended_id,
                        is_fd=True,
                        bitrate_switch=msg.bitrate_switch,
                        error_state_indicator=msg.error_state_indicator,
                        data=data,
                        dlc=len(data),
                        is_rx=False,
                        channel=self.channel if self.channel else None,
                        check=False,
                    )
                )
            else:
                self.trace.frame(
                    ts, msg.arbitration_id, data, False, msg.is_extended_id, self.channel
                )
        return ts

    def _on_frame(self, msg: can.Message) -> None:
        # The hot path of every run: keep it lean (see bench/ingest_throughput.py).
        if msg.is_error_frame or msg.is_remote_frame:
            return
        raw = msg.data
        data = bytes(raw) if len(raw) == msg.dlc else bytes(raw[: msg.dlc])
        can_id = msg.arbitration_id
        echoes = self._echoes
        if echoes:
            key = (can_id, data)
            # Echoes come back in send order; look a few entries deep for interleaving.
            for k in range(min(8, len(echoes))):
                if echoes[k] == key:
                    for _ in range(k + 1):
                        echoes.popleft()
                    return
        # the frame's own flags (harness.observe FLAG_*), never guessed from the identifier
        flags = 1 if msg.is_extended_id else 0
        if msg.is_fd:
            flags |= FLAG_FD | (FLAG_BRS if msg.bitrate_switch else 0)
            flags |= FLAG_ESI if msg.error_state_indicator else 0
        ts = self.log.add_rx(msg.timestamp or self.loop.now(), can_id, data, flags)
        trace = self.trace
        if trace is not None:
            if msg.is_fd:
                msg.timestamp = ts
                # BLF takes a channel name's trailing digits (may overflow): the bus's index
                msg.channel = self.channel if self.channel else None
                trace.write(msg)
            else:
                trace.frame(ts, can_id, data, True, msg.is_extended_id, self.channel)
        if self.rx_listeners:
            for listener in self.rx_listeners:
                listener(ts, can_id, data)
