"""The simulator's own ISO-TP (ISO 15765-2), server side: small, on the TCU's event loop.

The tester side uses can-isotp; the reference TCU deliberately does not, so the two sides of a
simulated run are independent implementations that have to agree on the wire. This one does
what CC-TCU-1 needs on classic CAN, in the addressing mode the profile declares (11-bit
normal by default; 29-bit normal or normal fixed, where only the identifiers and their 29-bit
flag change; extended, where the first byte of every frame is an address: the part's own
``target_address`` (or ``functional_address``) on requests, which it checks, and the tester's
``source_address`` on everything it sends, so each frame carries one byte less of ISO-TP):

* requests on the physical identifier as single frames or first + consecutive frames (it
  answers a first frame with flow control: continue to send, block size 0, STmin 0);
  requests on the functional identifier as single frames only;
* responses as a single frame, or a first frame followed, after the tester's flow control, by
  consecutive frames paced by the tester's block size and STmin;
* every frame it sends padded to 8 bytes.

Timeouts (N_Bs for the tester's flow control, N_Cr between consecutive frames) are 1 s on
the loop's clock; a broken transfer is dropped silently, as ISO-TP has it.
"""

from __future__ import annotations

from collections.abc import Callable

import can

from harness.clock import EventLoop, Timer

__all__ = ["ServerIsoTp"]

N_BS = 1.0  # seconds to wait for the tester's flow control
N_CR = 1.0  # seconds to wait for the tester's next consecutive frame
PAD = 0x55


def _stmin_seconds(raw: int) -> float:
    if raw <= 0x7F:
        return raw / 1000
    if 0xF1 <= raw <= 0xF9:
        return (raw - 0xF0) / 10000
    return 0.127  # reserved values: the longest STmin, as ISO 15765-2 asks


class ServerIsoTp:
    """ISO-TP endpoint of the DUT: reassembles requests, segments responses."""

    def __init__(
        self,
        loop: EventLoop,
        send: Callable[[can.Message], None],
        on_request: Callable[[bytes, bool], None],
        *,
        physical_id: int,
        functional_id: int,
        response_id: int,
        extended_id: bool = False,
        target_address: int | None = None,
        functional_address: int | None = None,
        source_address: int | None = None,
    ) -> None:
        self.loop = loop
        self._send_frame = send
        self._on_request = on_request
        self.physical_id = physical_id
        self.functional_id = functional_id
        self.response_id = response_id
        self.extended_id = extended_id  # 29-bit identifiers: the declared mode's, not a guess
        self._rx_physical = target_address  # extended addressing: the address bytes
        self._rx_functional = target_address if functional_address is None else functional_address
        self._tx_prefix = b"" if source_address is None else bytes([source_address])
        self._room = 8 - len(self._tx_prefix)  # ISO-TP bytes per frame
        # reception of a multi-frame request
        self._rx_buf = bytearray()
        self._rx_len = 0
        self._rx_seq = 0
        self._rx_timer: Timer | None = None
        # transmission of a multi-frame response
        self._tx_data = b""
        self._tx_pos = 0
        self._tx_seq = 0
        self._tx_block = 0
        self._tx_bs = 0
        self._tx_stmin = 0.0
        self._tx_timer: Timer | None = None
        self._waiting_fc = False

    def reset(self) -> None:
        """Drop every transfer in progress (power-up, reset)."""
        self._abort_rx()
        self._abort_tx()

    # -- receiving ---------------------------------------------------------------------------
    def on_frame(self, msg: can.Message) -> None:
        if bool(msg.is_extended_id) != self.extended_id:
            return  # the other identifier format: not this addressing's frame
        data = bytes(msg.data[: msg.dlc])
        functional = msg.arbitration_id == self.functional_id
        if self._tx_prefix:  # extended addressing: our address first, then ISO-TP
            expected = self._rx_functional if functional else self._rx_physical
            if not data or data[0] != expected:
                return
            data = data[1:]
        if not data:
            return
        kind = data[0] >> 4
        if functional:
            if kind == 0:
                self._single(data, functional=True)
            return  # functional addressing carries single frames only
        if kind == 0:
            self._single(data, functional=False)
        elif kind == 1:
            self._first(data)
        elif kind == 2:
            self._consecutive(data)
        elif kind == 3:
            self._flow_control(data)

    def _single(self, data: bytes, *, functional: bool) -> None:
        n = data[0] & 0x0F
        if n == 0 or n > len(data) - 1:
            return  # empty or truncated: not a request (CAN FD escape lengths do not apply)
        if not functional:
            self._abort_rx()  # a new single frame interrupts a reception (ISO 15765-2)
        self._on_request(data[1 : 1 + n], functional)

    def _first(self, data: bytes) -> None:
        if len(data) < self._room:
            return
        length = ((data[0] & 0x0F) << 8) | data[1]
        if length < self._room:
            return  # would have fit a single frame: invalid
        self._abort_rx()
        self._rx_buf = bytearray(data[2 : self._room])
        self._rx_len = length
        self._rx_seq = 1
        self._send(bytes([0x30, 0x00, 0x00]))  # continue to send, BS 0, STmin 0
        self._rx_timer = self.loop.call_later(N_CR, self._abort_rx)

    def _consecutive(self, data: bytes) -> None:
        if not self._rx_len:
            return
        if data[0] & 0x0F != self._rx_seq:
            self._abort_rx()
            return
        self._rx_buf.extend(data[1:])
        self._rx_seq = (self._rx_seq + 1) & 0x0F
        if self._rx_timer is not None:
            self._rx_timer.cancel()
        if len(self._rx_buf) >= self._rx_len:
            payload = bytes(self._rx_buf[: self._rx_len])
            self._abort_rx()
            self._on_request(payload, False)
        else:
            self._rx_timer = self.loop.call_later(N_CR, self._abort_rx)

    def _abort_rx(self) -> None:
        self._rx_len = 0
        self._rx_buf = bytearray()
        if self._rx_timer is not None:
            self._rx_timer.cancel()
            self._rx_timer = None

    # -- sending -----------------------------------------------------------------------------
    def _send(self, body: bytes) -> None:
        data = self._tx_prefix + body
        data += bytes([PAD]) * (8 - len(data))
        self._send_frame(
            can.Message(arbitration_id=self.response_id, data=data, is_extended_id=self.extended_id)
        )

    def send(self, payload: bytes) -> None:
        """Send a response: a single frame, or a first frame and then on flow control."""
        self._abort_tx()
        room = self._room
        if len(payload) <= room - 1:
            self._send(bytes([len(payload)]) + payload)
            return
        self._tx_data = payload
        self._tx_pos = room - 2
        self._tx_seq = 1
        self._waiting_fc = True
        head = bytes([0x10 | (len(payload) >> 8) & 0x0F, len(payload) & 0xFF])
        self._send(head + payload[: room - 2])
        self._tx_timer = self.loop.call_later(N_BS, self._abort_tx)

    def _flow_control(self, data: bytes) -> None:
        if not self._waiting_fc or len(data) < 3:
            return
        status = data[0] & 0x0F
        if self._tx_timer is not None:
            self._tx_timer.cancel()
            self._tx_timer = None
        if status == 1:  # wait: the tester sends another flow control later
            self._tx_timer = self.loop.call_later(N_BS, self._abort_tx)
            return
        if status != 0:  # overflow or invalid
            self._abort_tx()
            return
        self._waiting_fc = False
        self._tx_bs = data[1]
        self._tx_block = 0
        self._tx_stmin = _stmin_seconds(data[2])
        self._next_consecutive()

    def _next_consecutive(self) -> None:
        self._tx_timer = None
        while self._tx_pos < len(self._tx_data):
            chunk = self._tx_data[self._tx_pos : self._tx_pos + self._room - 1]
            self._send(bytes([0x20 | self._tx_seq]) + chunk)
            self._tx_pos += len(chunk)
            self._tx_seq = (self._tx_seq + 1) & 0x0F
            self._tx_block += 1
            if self._tx_pos >= len(self._tx_data):
                break
            if self._tx_bs and self._tx_block >= self._tx_bs:
                self._tx_block = 0
                self._waiting_fc = True
                self._tx_timer = self.loop.call_later(N_BS, self._abort_tx)
                return
            if self._tx_stmin > 0:
                self._tx_timer = self.loop.call_later(self._tx_stmin, self._next_consecutive)
                return
        self._abort_tx()

    def _abort_tx(self) -> None:
        self._tx_data = b""
        self._tx_pos = 0
        self._waiting_fc = False
        if self._tx_timer is not None:
            self._tx_timer.cancel()
            self._tx_timer = None
