"""ISO-TP on the harness's own bus port and clock, with can-isotp's transport logic.

can-isotp's threaded stacks read the bus themselves and time with ``perf_counter``; neither
works beside :class:`~harness.can.port.CanPort` (the one consumer of the bus, which records
every frame) or on the virtual clock. So this link drives can-isotp's non-threaded
:class:`isotp.TransportLayerLogic` from the harness's event loop:

* frames on the response identifier reach it through ``CanPort.rx_listeners`` (already
  recorded, with their interface timestamps), and it runs at once on each;
* it sends through ``CanPort.send``, so each request, flow-control and consecutive frame is in
  the trace like any other frame the harness sends;
* its timers (N_Bs, N_Cr, STmin) run on the loop's clock, so a simulated run is as
  deterministic as the rest; consecutive frames paced by STmin are sent from loop timers.

Frames that are no ISO-TP at all (an empty single frame) are dropped before the logic sees
them: ISO 15765-2 has a receiver ignore them, while can-isotp would abort a reception.

Over CAN FD (``DiagConfig.can_fd``) can-isotp gets ``can_fd``, ``tx_data_length`` and
``bitrate_switch`` (and ``tx_data_min_length`` 8 when the tester pads, so its short frames
are 8 bytes as on classic CAN); every frame it makes carries them to ``CanPort.send``. It
takes in the part's frames, classic or FD, whatever its own format (RX_DL from the first
frame), as ISO 15765-2 asks.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import can
import isotp
from isotp.tools import Timer as IsoTpTimer

from harness.can.port import CanPort
from harness.clock import EventLoop, Timer
from harness.uds.config import DiagConfig
from harness.uds.exchange import DiagIds, Transfer

__all__ = ["IsoTpLink", "isotp_addresses"]

log = logging.getLogger(__name__)

MAX_FD_TRANSFER = 0xFFFF  # longest answer taken in over CAN FD (32-bit first frame escape)


class _ClockTimer(IsoTpTimer):
    """can-isotp's timer on the harness clock instead of ``perf_counter``."""

    def __init__(self, timeout: float, loop: EventLoop) -> None:
        self._loop = loop
        super().__init__(timeout)

    def _ns(self) -> int:
        return int(self._loop.now() * 1e9)

    def start(self, timeout: float | None = None) -> None:
        if timeout is not None:
            self.set_timeout(timeout)
        self.start_time = self._ns()

    def elapsed(self) -> float:
        return self.elapsed_ns() / 1e9

    def elapsed_ns(self) -> int:
        return 0 if self.start_time is None else self._ns() - self.start_time


class _LoopTransport(isotp.TransportLayerLogic):
    """TransportLayerLogic whose timers read the event loop's clock."""

    def __init__(self, loop: EventLoop, **kwargs: Any) -> None:
        self._loop = loop
        super().__init__(**kwargs)
        self.timer_tx_stmin = _ClockTimer(0, loop)

    def load_params(self) -> None:
        super().load_params()
        self.timer_rx_fc = _ClockTimer(self.params.rx_flowcontrol_timeout / 1000, self._loop)
        self.timer_rx_cf = _ClockTimer(self.params.rx_consecutive_frame_timeout / 1000, self._loop)

    def _start_rx_fc_timer(self) -> None:
        self.timer_rx_fc = _ClockTimer(self.params.rx_flowcontrol_timeout / 1000, self._loop)
        self.timer_rx_fc.start()

    def _start_rx_cf_timer(self) -> None:
        self.timer_rx_cf = _ClockTimer(self.params.rx_consecutive_frame_timeout / 1000, self._loop)
        self.timer_rx_cf.start()


def _no_wait(seconds: float) -> None:
    """can-isotp calls its wait function while validating parameters: nothing must sleep."""


def _is_noise(data: bytes) -> bool:
    """A frame ISO-TP ignores: empty, an empty single frame, or an unknown frame type."""
    if not data or data[0] >> 4 > 3:
        return True
    return data[0] >> 4 == 0 and data[0] & 0x0F == 0 and (len(data) < 2 or data[1] == 0)


def isotp_addresses(ids: DiagIds) -> tuple[isotp.Address, isotp.Address]:
    """can-isotp's physical and functional :class:`isotp.Address` for the declared mode."""
    mode = ids.mode
    am = isotp.AddressingMode
    if mode == "normal_fixed_29":
        # the identifiers are 0x18DA<TA><SA> / 0x18DB<TA><SA>: take the addresses back out
        phys, func = ids.request_id & 0x1FFF0000, ids.functional_id & 0x1FFF0000
        target, source = (ids.request_id >> 8) & 0xFF, ids.request_id & 0xFF
        fixed = am.NormalFixed_29bits
        return (
            isotp.Address(
                fixed,
                target_address=target,
                source_address=source,
                physical_id=phys,
                functional_id=func,
            ),
            isotp.Address(
                fixed,
                target_address=(ids.functional_id >> 8) & 0xFF,
                source_address=source,
                physical_id=phys,
                functional_id=func,
            ),
        )
    if mode == "extended":
        ext = am.Extended_11bits
        rx, sa = ids.response_id, ids.source_address
        return (
            isotp.Address(
                ext,
                txid=ids.request_id,
                rxid=rx,
                target_address=ids.target_address,
                source_address=sa,
            ),
            isotp.Address(
                ext,
                txid=ids.functional_id,
                rxid=rx,
                target_address=ids.functional_address,
                source_address=sa,
            ),
        )
    normal = am.Normal_29bits if mode == "normal_29" else am.Normal_11bits
    return (
        isotp.Address(normal, txid=ids.request_id, rxid=ids.response_id),
        isotp.Address(normal, txid=ids.functional_id, rxid=ids.response_id),
    )


class IsoTpLink:
    """One tester-side ISO-TP channel to the DUT (physical and functional requests)."""

    def __init__(self, loop: EventLoop, port: CanPort, config: DiagConfig) -> None:
        self.loop = loop
        self.port = port
        self.config = config
        ids = config.ids
        self._physical, self._functional = isotp_addresses(ids)
        self._prefix = ids.prefix_of(ids.response_id)
        self._rx: deque[isotp.CanMessage] = deque()
        self.errors: list[str] = []
        self.received: list[Transfer] = []
        self.last_tx: float | None = None  # timestamp of the last frame sent
        self._first_rx = 0.0
        self._frames = 0
        self._pump_timer: Timer | None = None
        params: dict[str, Any] = {
            "stmin": config.stmin,
            "blocksize": config.block_size,
            "tx_padding": config.padding,
            "rx_flowcontrol_timeout": 1000,
            "rx_consecutive_frame_timeout": 1000,
            "max_frame_size": MAX_FD_TRANSFER if config.can_fd else 4095,
            "wait_func": _no_wait,
            "logger_name": "harness.uds.isotp",
            # ISO-TP over CAN FD: TX_DL, the frame format and its BRS flag (classic: 8, off)
            "can_fd": config.can_fd,
            "tx_data_length": config.tx_data_length,
            "bitrate_switch": config.can_fd and config.bitrate_switch,
        }
        if config.can_fd and config.padding is not None:
            params["tx_data_min_length"] = 8  # padded FD frames: at least 8 bytes, as classic
        self.layer = _LoopTransport(
            loop,
            rxfn=self._rxfn,
            txfn=self._txfn,
            address=self._physical,
            error_handler=self._on_error,
            params=params,
        )
        port.rx_listeners.append(self._on_frame)

    def close(self) -> None:
        if self._on_frame in self.port.rx_listeners:
            self.port.rx_listeners.remove(self._on_frame)
        if self._pump_timer is not None:
            self._pump_timer.cancel()

    # -- can-isotp's callbacks -------------------------------------------------------------------
    def _rxfn(self, timeout: float) -> isotp.CanMessage | None:
        return self._rx.popleft() if self._rx else None

    def _txfn(self, msg: isotp.CanMessage) -> None:
        self.last_tx = self.port.send(
            can.Message(
                arbitration_id=msg.arbitration_id,
                data=bytes(msg.data),
                dlc=len(msg.data),
                is_extended_id=msg.is_extended_id,
                is_fd=msg.is_fd,  # the frame can-isotp made, flags as it set them
                bitrate_switch=msg.bitrate_switch,
            )
        )

    def _on_error(self, error: Exception) -> None:
        self.errors.append(f"{type(error).__name__}: {error}")

    # -- driving ---------------------------------------------------------------------------------
    def _on_frame(self, ts: float, can_id: int, data: bytes) -> None:
        if can_id != self.config.ids.response_id:
            return
        if self._prefix is not None:  # extended addressing: the tester's address byte first
            if not data or data[0] != self._prefix:
                return
            if _is_noise(data[1:]):
                return
            kind = data[1] >> 4
        elif _is_noise(data):
            return
        else:
            kind = data[0] >> 4
        if kind in (0, 1):
            self._first_rx, self._frames = ts, 0
        if kind != 3:
            self._frames += 1
        self._rx.append(
            isotp.CanMessage(
                arbitration_id=can_id,
                data=data,
                dlc=len(data),
                extended_id=self.config.ids.extended_id,
            )
        )
        self._pump()
        while self.layer.available():
            payload = self.layer.recv()
            if payload is not None:
                self.received.append(
                    Transfer(can_id, bytes(payload), self._first_rx, ts, max(1, self._frames))
                )

    def _pump(self) -> None:
        self._pump_timer = None
        self.layer.process()
        if self.layer.is_tx_transmitting_cf():
            delay = self.layer.next_cf_delay() or 0.0
            self._pump_timer = self.loop.call_later(delay, self._pump)

    def send(self, payload: bytes, *, functional: bool = False) -> None:
        """Queue a request and send what can go at once (a single or first frame)."""
        self.layer.reset()
        self.layer.set_address(self._functional if functional else self._physical)
        target = isotp.TargetAddressType.Functional if functional else None
        self.last_tx = None
        self.layer.send(payload, target_address_type=target)
        self._pump()
        if functional:  # the answer comes from one ECU: its flow control goes physical
            self.layer.set_address(self._physical)

    @property
    def sending(self) -> bool:
        return self.layer.transmitting()

    def take_received(self) -> list[Transfer]:
        out, self.received = self.received, []
        return out
