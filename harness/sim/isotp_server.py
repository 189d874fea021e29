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
* every frame it sends padded to 8 bytes with ``padding`` (0x55 by default).

Over CAN FD (``can_fd=True``, ISO 15765-2:2016) it sends FD frames, with the bit rate switch
when ``bitrate_switch`` is set, of up to ``tx_data_length`` (TX_DL: 8, 12, 16, 20, 24, 32, 48
or 64) bytes: single frames of more than 7 bytes in the escape form (``00`` + length), first
frames with the 32-bit length escape above 4095 bytes, consecutive frames filling TX_DL, and
every frame padded to 8 bytes or, when longer, to the next CAN FD data length. It answers in
its own format whatever the tester's, and receives classic and FD frames alike: RX_DL is the
first frame's length, and what ISO 15765-2 has a receiver ignore is ignored (a single frame
in the escape form on 8 bytes or fewer, a short one on more, an SF_DL the frame does not hold
or that a shorter frame would have held, a first frame shorter than 8 bytes or one a single
frame would have held, a consecutive frame shorter than RX_DL before the last, a classic
frame of more than 8 bytes).

Timeouts (N_Bs for the tester's flow control, N_Cr between consecutive frames) are 1 s on
the loop's clock; a broken transfer is dropped silently, as ISO-TP has it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import can

from harness.clock import EventLoop, Timer
from harness.observe import FD_LENGTHS, fd_length
from harness.uds.exchange import DiagIds

__all__ = ["TX_DATA_LENGTHS", "ServerIsoTp"]

N_BS = 1.0  # seconds to wait for the tester's flow control
N_CR = 1.0  # seconds to wait for the tester's next consecutive frame
PAD = 0x55
TX_DATA_LENGTHS = (8, 12, 16, 20, 24, 32, 48, 64)
"""The TX_DL values ISO 15765-2 allows (8: classic-sized frames, also over CAN FD)."""
MAX_REQUEST_FD = 0xFFFF  # longest request taken in (32-bit first frame escape; above: overflow)


def _min_escape_sf_dl(can_dl: int, prefix: int) -> int:
    """The smallest SF_DL an escape single frame of ``can_dl`` bytes may carry: anything
    shorter would have fitted the next smaller frame (ISO 15765-2:2016, SF_DL error handling)."""
    below = FD_LENGTHS[FD_LENGTHS.index(can_dl) - 1]
    return 8 - prefix if below <= 8 else below - 2 - prefix + 1


def _stmin_seconds(raw: int) -> float:
    if raw <= 0x7F:
        return raw / 1000
    if 0xF1 <= raw <= 0xF9:
        return (raw - 0xF0) / 10000
    return 0.127  # reserved values: the longest STmin, as ISO 15765-2 asks


class ServerIsoTp:
    """ISO-TP endpoint of the DUT: reassembles requests, segments responses."""

    @classmethod
    def serving(
        cls,
        loop: EventLoop,
        send: Callable[[can.Message], None],
        on_request: Callable[[bytes, bool], None],
        ids: DiagIds,
        **frames: Any,
    ) -> ServerIsoTp:
        """The endpoint of a part addressed as ``ids`` says (identifiers, 29-bit flag, address
        bytes); ``frames`` are the frame options (``can_fd``, ``tx_data_length``,
        ``bitrate_switch``, ``padding``)."""
        return cls(
            loop,
            send,
            on_request,
            physical_id=ids.request_id,
            functional_id=ids.functional_id,
            response_id=ids.response_id,
            extended_id=ids.extended_id,
            target_address=ids.target_address,
            functional_address=ids.functional_address,
            source_address=ids.source_address,
            **frames,
        )

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
        can_fd: bool = False,
        tx_data_length: int = 8,
        bitrate_switch: bool = False,
        padding: int = PAD,
    ) -> None:
        if tx_data_length not in TX_DATA_LENGTHS or (tx_data_length > 8 and not can_fd):
            raise ValueError(
                f"tx_data_length {tx_data_length}: expected one of {TX_DATA_LENGTHS} "
                "(above 8 only with can_fd)"
            )
        if not 0 <= padding <= 0xFF:
            raise ValueError(f"padding {padding}: expected a byte 0..0xFF")
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
        self.can_fd = can_fd  # the format it answers in, whatever the tester's
        self.tx_data_length = tx_data_length
        self.bitrate_switch = can_fd and bitrate_switch
        self.padding = padding
        self._room = tx_data_length - len(self._tx_prefix)  # ISO-TP bytes per frame sent
        # reception of a multi-frame request
        self._rx_buf = bytearray()
        self._rx_len = 0
        self._rx_seq = 0
        self._rx_dl = 8  # RX_DL: the length of the first frame of the reception
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
        can_dl = len(data)  # the frame's data length, address byte included
        if can_dl > 8 and (not msg.is_fd or can_dl not in FD_LENGTHS):
            return  # no classic frame is longer than 8 bytes; no FD frame has this length
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
                self._single(data, can_dl, functional=True)
            return  # functional addressing carries single frames only
        if kind == 0:
            self._single(data, can_dl, functional=False)
        elif kind == 1:
            self._first(data, can_dl)
        elif kind == 2:
            self._consecutive(data, can_dl)
        elif kind == 3:
            self._flow_control(data)

    def _single(self, data: bytes, can_dl: int, *, functional: bool) -> None:
        n = data[0] & 0x0F
        if can_dl <= 8:
            if n == 0 or n > len(data) - 1:
                return  # empty, truncated, or the FD escape on a classic-sized frame: ignored
            body = data[1 : 1 + n]
        else:  # longer frames carry SF_DL in the escape form only, and need their length
            if n != 0 or len(data) < 2:
                return
            n = data[1]
            if n < _min_escape_sf_dl(can_dl, can_dl - len(data)) or n > len(data) - 2:
                return
            body = data[2 : 2 + n]
        if not functional:
            self._abort_rx()  # a new single frame interrupts a reception (ISO 15765-2)
        self._on_request(body, functional)

    def _first(self, data: bytes, can_dl: int) -> None:
        if can_dl < 8 or len(data) < 2:
            return  # a first frame fills at least 8 bytes
        room = len(data)  # ISO-TP bytes per frame of this reception (RX_DL less the address)
        length = ((data[0] & 0x0F) << 8) | data[1]
        head = 2
        if length == 0:  # the 32-bit escape (more than 4095 bytes)
            if not self.can_fd or len(data) < 6:
                return  # a classic part takes 12-bit lengths only, as it always did
            length = int.from_bytes(data[2:6], "big")
            head = 6
            if length <= 0xFFF:
                return  # the escape for a length that 12 bits hold: invalid
            if length > MAX_REQUEST_FD:
                self._send(bytes([0x32, 0x00, 0x00]))  # overflow: the tester aborts
                return
        elif length < (room if can_dl <= 8 else room - 1):
            return  # would have fit a single frame of this length: invalid
        self._abort_rx()
        self._rx_buf = bytearray(data[head:room])
        self._rx_len = length
        self._rx_dl = can_dl
        self._rx_seq = 1
        self._send(bytes([0x30, 0x00, 0x00]))  # continue to send, BS 0, STmin 0
        self._rx_timer = self.loop.call_later(N_CR, self._abort_rx)

    def _consecutive(self, data: bytes, can_dl: int) -> None:
        if not self._rx_len:
            return
        if data[0] & 0x0F != self._rx_seq:
            self._abort_rx()
            return
        rest = self._rx_len - len(self._rx_buf)
        if can_dl > self._rx_dl or (can_dl < self._rx_dl and len(data) - 1 < rest):
            return  # longer than RX_DL, or short before the last: ignored (ISO 15765-2)
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
        size = 8 if len(data) <= 8 else fd_length(len(data))  # padded to a valid length
        data += bytes([self.padding]) * (size - len(data))
        if not self.can_fd:
            self._send_frame(
                can.Message(
                    arbitration_id=self.response_id, data=data, is_extended_id=self.extended_id
                )
            )
            return
        self._send_frame(
            can.Message(
                arbitration_id=self.response_id,
                data=data,
                is_extended_id=self.extended_id,
                is_fd=True,
                bitrate_switch=self.bitrate_switch,
            )
        )

    def send(self, payload: bytes) -> None:
        """Send a response: a single frame, or a first frame and then on flow control."""
        self._abort_tx()
        room = self._room
        n = len(payload)
        if n <= min(room, 8 - len(self._tx_prefix)) - 1:
            self._send(bytes([n]) + payload)
            return
        if self.tx_data_length > 8 and n <= room - 2:  # CAN FD single frame: the escape form
            self._send(bytes([0x00, n]) + payload)
            return
        if n <= 0xFFF:
            head = bytes([0x10 | (n >> 8) & 0x0F, n & 0xFF])
        else:  # the 32-bit first frame escape
            head = bytes([0x10, 0x00]) + n.to_bytes(4, "big")
        self._tx_data = payload
        self._tx_pos = room - len(head)
        self._tx_seq = 1
        self._waiting_fc = True
        self._send(head + payload[: self._tx_pos])
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
