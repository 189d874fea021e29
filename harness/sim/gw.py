"""The reference CC-GW-1 secure gateway (shared/reference-gw.md): a working part, not a mock.

:class:`Gateway` sits between the CAN FD **backbone** and the classic **body** bus, two
python-can buses it is given, and keeps all its time on an
:class:`~harness.clock.EventLoop` (the session's virtual clock, a real-time thread, or its
own process): received frames are judged by ``loop.now()``.

* GW-001/GW-002/GW-006: classic 11-bit frames of 0x300..0x30F on the backbone are copied to
  the body bus unchanged, at once; per identifier a frame less than 5 ms after the last
  forwarded one is dropped and counted (the feature ``rate_limit``). Nothing else crosses.
* GW-003/GW-004: PT_Status (E2E Profile 5) is checked (CRC, repeated counter, 32 bytes, FD
  format); the newest valid one's VehicleSpeed (0.01 km/h, converted to 0.1 km/h rounding
  half up) and Gear go into BODY_VehInfo every 20 ms, from the first frame 1 ms after it;
  3 discards in a row set FaultPtInvalid, 50 ms without a valid one FaultPtTimeout, and 2
  valid in a row clear them.
* GW-005/GW-007: BODY_VehInfo and GW_Status (Profile 1) on the body bus, GW_StatusFD
  (Profile 5, 29-bit FD) on the backbone, all sealed by the project's E2E schemes (the
  ``autosar-e2e`` package computes the CRCs); both status messages every 100 ms with the
  same counts.
* GW-008/GW-009: UDS (:mod:`harness.sim.gw_uds`); after ECUReset silent for 300 ms, then
  as from power-up.

Faulty variants are :data:`~harness.sim.gw_config.GW_VARIANTS`, their knobs a
:class:`~harness.sim.gw_config.GwBehaviour`.
"""

from __future__ import annotations

import contextlib
from collections import deque

import can

from harness.can.bitfield import BitField
from harness.can.dbc import CanDatabase, MessageCodec
from harness.can.e2e import E2E_SCHEMES, Protection, build_protection
from harness.clock import EventLoop, PeriodicTask, Timer
from harness.sim.gw_config import (
    BEHAVIOURS,
    DIAG_FUNCTIONAL_ID,
    DIAG_REQUEST_ID,
    DIAG_RESPONSE_ID,
    DISCARDS_TO_SET_INVALID,
    LOAD_THRESHOLD,
    LOAD_WINDOW,
    PT_TIMEOUT,
    ROUTED_IDS,
    SIGNAL_HOLDOFF,
    STATUS_CYCLE,
    VALID_TO_CLEAR,
    VEHINFO_CYCLE,
    GwBehaviour,
    GwIdentity,
)
from harness.sim.gw_uds import GwUds
from harness.uds.exchange import DiagIds

__all__ = ["Gateway", "protection"]

GEAR_UNKNOWN = 7
SPEED_INVALID = 0xFFFF
PT_LENGTH = 32
BODY_DRAIN = 0.050  # seconds between two drains of the body bus's receive queue (simulated)
BODY_DRAIN_MAX = 10000  # frames taken per drain at most (simulated)
# In real time the drain comes often and takes few frames: a drain of a 50 ms backlog (the
# gateway's own copies come back to it over udp_multicast, ~100 frames at 50 % routed load)
# took ~3 ms and held BODY_VehInfo's 20 ms cycle back past its 22 ms band.
REALTIME_BODY_DRAIN = 0.004
REALTIME_BODY_DRAIN_MAX = 24  # 6,000 frames/s: more than a 500 kbit/s classic bus carries
_ROUTED = frozenset(ROUTED_IDS)


def protection(msg: MessageCodec, scheme: str, **params: object) -> Protection:
    """``msg``'s protection by the registered E2E scheme ``scheme`` (never a hand-made CRC)."""
    import harness.can.e2e_autosar  # noqa: F401  (registers the AUTOSAR profiles)

    model = E2E_SCHEMES.get(scheme).Params
    return build_protection(scheme, model(scheme=scheme, **params), msg)


def _field(msg: MessageCodec, name: str) -> BitField:
    sig = msg.signal(name)
    return BitField.little(sig.start, sig.length, msg.length)


class Gateway:
    """CC-GW-1 on two python-can buses. :meth:`start` is power-up, :meth:`stop` power-off;
    the buses belong to the caller."""

    def __init__(
        self,
        loop: EventLoop,
        backbone: can.BusABC,
        body: can.BusABC,
        backbone_db: CanDatabase,
        body_db: CanDatabase,
        *,
        variant: str | None = None,
        identity: GwIdentity | None = None,
        diag: DiagIds | None = None,
    ) -> None:
        self.loop = loop
        self.backbone = backbone
        self.body = body
        self.variant = variant
        self.b: GwBehaviour = BEHAVIOURS[variant] if variant else GwBehaviour()
        self.identity = identity or GwIdentity()
        pt = backbone_db.message("PT_Status")
        self._pt_id = pt.frame_id
        self._pt_e2e = protection(pt, "autosar_p05", data_id=0x00C0)
        self._pt_counter = BitField.bytes_le(2, 1, PT_LENGTH)
        self._pt_speed = _field(pt, "VehicleSpeed")
        self._pt_gear = _field(pt, "Gear")
        info = body_db.message("BODY_VehInfo")
        self._info = info
        self._info_e2e = protection(info, "autosar_p01", data_id=0x0210, data_id_mode="both")
        self._info_fields = {n: _field(info, n) for n in ("SpeedValid", "Gear", "VehicleSpeed")}
        status = body_db.message("GW_Status")
        self._status = status
        self._status_e2e = protection(status, "autosar_p01", data_id=0x01F0, data_id_mode="both")
        fd = backbone_db.message("GW_StatusFD")
        self._fd = fd
        self._fd_e2e = protection(fd, "autosar_p05", data_id=0x10F0, length=self.b.p05_length)
        names = (
            "ForwardedCount",
            "DroppedCount",
            "DiscardedCount",
            "FaultPtTimeout",
            "FaultPtInvalid",
        )
        self._status_fields = {n: _field(status, n) for n in names}
        self._fd_fields = {n: _field(fd, n) for n in names}
        ids = diag or DiagIds(
            DIAG_REQUEST_ID, DIAG_FUNCTIONAL_ID, DIAG_RESPONSE_ID, "normal_fixed_29"
        )
        self.uds = GwUds(
            loop,
            self._send_backbone,
            ids,
            self.identity,
            self.b,
            self.ecu_reset,
        )
        self._tasks: list[PeriodicTask] = []
        self._timeout: Timer | None = None
        self._restart: Timer | None = None
        self._drainer: PeriodicTask | None = None
        self._drain_max = BODY_DRAIN_MAX
        self._readers = False
        self.running = False
        self.silent = False
        self.forwarded = self.dropped = self.discarded = 0
        self._reset_state()

    @property
    def part(self) -> Gateway:
        return self

    # -- state -------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        if not self.b.counts_survive_reset or not hasattr(self, "_info_counter"):
            self.forwarded = self.dropped = self.discarded = 0
            self._info_counter = self._status_counter = self._fd_counter = 0
        if not self.b.faults_survive_reset or not hasattr(self, "fault_timeout"):
            self.fault_timeout = False
            self.fault_invalid = False
        self._last_counter: int | None = None
        self._discards = 0
        self._valid = 0
        self._pt: deque[tuple[float, int, int]] = deque(maxlen=4)  # (t, speed raw, gear)
        self._last_forwarded: dict[int, float] = {}
        self._arrivals: deque[float] = deque()

    # -- power -------------------------------------------------------------------------------
    def start(self) -> None:
        """Power-up: listen to both buses and start the cycles (a second call does nothing)."""
        if self.running:
            return
        self.running = True
        if not self._readers:
            # one reader: a real-time loop then blocks on the backbone and wakes at a frame
            # (with two it polls); the body bus carries nothing for the gateway (GW-002: no
            # body frame crosses), so what arrives there is only drained now and then
            self.loop.add_reader(self.backbone, self.on_backbone)
            self._readers = True
        every, self._drain_max = (
            (BODY_DRAIN, BODY_DRAIN_MAX)
            if self.loop.clock.simulated
            else (REALTIME_BODY_DRAIN, REALTIME_BODY_DRAIN_MAX)
        )
        self._drainer = self.loop.every(every, self._drain_body, first=self.loop.now())
        self._power_up()

    def stop(self) -> None:
        """Power-off: cancel every timer and stop sending; the buses stay open."""
        self.running = False
        self.silent = False
        self._cancel()
        if self._drainer is not None:
            self._drainer.cancel()
            self._drainer = None
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None

    def _power_up(self) -> None:
        now = self.loop.now()
        self.silent = False
        self._reset_state()
        self.uds.power_up()
        self._arm_timeout(now)
        b = self.b
        self._tasks = [
            self.loop.every(VEHINFO_CYCLE, self._send_info, first=now + 0.002),
            self.loop.every(STATUS_CYCLE, self._send_status, first=now + 0.004),
            self.loop.every(b.status_fd_cycle, self._send_status_fd, first=now + 0.004),
        ]

    def _cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None
        self.uds.stop()

    def _drain_body(self) -> None:
        """Take what waits on the body bus (nothing the gateway uses) off its queue."""
        for _ in range(self._drain_max):
            try:
                if self.body.recv(0.0) is None:
                    return
            except can.CanError:
                return

    def ecu_reset(self) -> None:
        """After the positive answer to ECUReset: silent on both buses, then power-up."""
        self._cancel()
        self.silent = True
        self._restart = self.loop.call_later(self.b.reset_silence, self._power_up)

    # -- receiving ---------------------------------------------------------------------------
    def on_backbone(self, msg: can.Message) -> None:
        if self.silent or not self.running:
            return
        can_id = msg.arbitration_id
        if self.b.late_under_load:  # the late-under-load variant: how busy the backbone is
            self._busy(msg)
        if self.uds.takes(msg):
            self.uds.on_frame(msg)
        elif msg.is_extended_id:
            return
        elif can_id in _ROUTED or can_id == self.b.leaked_id:
            self._route(msg)
        elif can_id == self._pt_id:
            self._on_pt(msg)

    def _route(self, msg: can.Message) -> None:
        if msg.is_fd:
            return  # FD-format frames of the routed identifiers are not routed (nor counted)
        # the frame's reception time, as CAN hardware stamps it: a late turn of this loop must
        # not bring two frames closer together (a stamp from another clock: now)
        now = self.loop.now()
        if -0.001 < now - msg.timestamp < 1.0:
            now = msg.timestamp
        can_id = msg.arbitration_id
        limit = self.b.rate_limit
        last = self._last_forwarded.get(can_id)
        if limit is not None and last is not None and now - last < limit:
            self.dropped += 1
            return
        self._last_forwarded[can_id] = now
        self.forwarded += 1
        copy = can.Message(
            arbitration_id=can_id, is_extended_id=False, dlc=msg.dlc, data=bytes(msg.data)
        )
        delay = self.b.route_delay
        if len(self._arrivals) > LOAD_THRESHOLD:
            delay += self.b.late_under_load
        if delay > 0:
            self.loop.call_later(delay, lambda: self._send(self.body, copy))
        else:
            self._send(self.body, copy)

    def _busy(self, msg: can.Message) -> None:
        """Count the backbone's frames of the last LOAD_WINDOW (any identifier)."""
        now = self.loop.now()
        arrivals = self._arrivals
        arrivals.append(now)
        while arrivals and arrivals[0] < now - LOAD_WINDOW:
            arrivals.popleft()

    def _on_pt(self, msg: can.Message) -> None:
        now = self.loop.now()
        data = bytes(msg.data)
        counter = self._pt_counter.read(data) if len(data) == PT_LENGTH else None
        repeated = counter is not None and counter == self._last_counter
        if self.b.accept_repeated_counter:
            repeated = False
        valid = msg.is_fd and len(data) == PT_LENGTH and not repeated
        valid = valid and self._pt_e2e.verify(data)
        if not valid:
            self.discarded += 1
            self._discards += 1
            self._valid = 0
            if self._discards >= DISCARDS_TO_SET_INVALID:
                self.fault_invalid = True
            return
        self._discards = 0
        self._valid += 1
        self._last_counter = counter
        speed, gear = self._pt_speed.read(data), self._pt_gear.read(data)
        assert speed is not None and gear is not None
        self._pt.append((now, speed, gear))
        if self._valid >= VALID_TO_CLEAR:
            self.fault_invalid = False
            self.fault_timeout = False
        self._arm_timeout(now)

    def _arm_timeout(self, now: float) -> None:
        if self._timeout is not None:
            self._timeout.cancel()
        self._timeout = self.loop.call_at(now + PT_TIMEOUT, self._on_timeout)

    def _on_timeout(self) -> None:
        self._timeout = None
        self._valid = 0
        if self.b.pt_timeout:
            self.fault_timeout = True

    # -- sending -----------------------------------------------------------------------------
    def _newest_pt(self, now: float) -> tuple[int, int] | None:
        for t, speed, gear in reversed(self._pt):
            if t <= now - SIGNAL_HOLDOFF + 1e-9:
                return speed, gear
        return None

    def _send_info(self) -> None:
        pt = None if self.fault_invalid or self.fault_timeout else self._newest_pt(self.loop.now())
        if pt is None:
            valid, speed, gear = 0, SPEED_INVALID, GEAR_UNKNOWN
        else:
            raw, gear = pt
            speed = (raw + 5) // 10 if self.b.speed_round_half_up else raw // 10
            valid, speed = 1, min(speed, SPEED_INVALID - 1)
        f = self._info_fields
        data = f["VehicleSpeed"].write(bytes(8), speed)
        data = f["Gear"].write(f["SpeedValid"].write(data, valid), gear)
        counter = self._info_counter
        self._info_counter = 0 if counter >= self.b.p01_counter_max else counter + 1
        self._send(self.body, self._frame(self._info, self._info_e2e.protect(data, counter)))

    def _counts(self, fields: dict[str, BitField], size: int, modulus: int = 0x100) -> bytes:
        data = bytes(size)
        for name, value in (
            ("ForwardedCount", self.forwarded),
            ("DroppedCount", self.dropped),
            ("DiscardedCount", self.discarded),
            ("FaultPtTimeout", int(self.fault_timeout)),
            ("FaultPtInvalid", int(self.fault_invalid)),
        ):
            field = fields[name]
            data = field.write(data, value % min(modulus, field.modulus))
        return data

    def _send_status(self) -> None:
        data = self._counts(self._status_fields, self._status.length, 0x100)
        counter = self._status_counter
        self._status_counter = 0 if counter >= self.b.p01_counter_max else counter + 1
        self._send(self.body, self._frame(self._status, self._status_e2e.protect(data, counter)))

    def _send_status_fd(self) -> None:
        data = self._counts(self._fd_fields, self._fd.length, self.b.fd_count_modulus)
        counter = self._fd_counter
        self._fd_counter = (counter + 1) & 0xFF
        self._send(self.backbone, self._frame(self._fd, self._fd_e2e.protect(data, counter)))

    @staticmethod
    def _frame(msg: MessageCodec, data: bytes) -> can.Message:
        return can.Message(
            arbitration_id=msg.frame_id,
            is_extended_id=msg.is_extended,
            is_fd=msg.is_fd,
            bitrate_switch=msg.is_fd,
            data=data,
        )

    def _send_backbone(self, msg: can.Message) -> None:
        self._send(self.backbone, msg)

    def _send(self, bus: can.BusABC, msg: can.Message) -> None:
        if self.silent or not self.running:
            return
        with contextlib.suppress(can.CanError):
            bus.send(msg)
