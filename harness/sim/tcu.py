"""The reference CC-TCU-1: a working implementation of the part, not a mock.

:class:`ReferenceTcu` talks python-can on whatever bus it is given and keeps all its time on
an :class:`~harness.clock.EventLoop`, so the same object runs on the virtual clock in the
simulated profile and in real time against ``udp_multicast`` or a lab interface. It never
reads the wall clock: timers come from the loop, and received frames are judged by
``loop.now()`` (a frame's own timestamp is only logged).

This module holds the CAN behaviour (CAN-001..CAN-008); diagnostics (UDS-001..UDS-008) are
:mod:`harness.sim.uds_server`'s, which this class hands frames on 0x7E0/0x7DF and which
calls :meth:`ReferenceTcu.ecu_reset`:

* TCU_Status on a fixed 100 ms schedule while ignition is not OFF, 1000 ms while it is OFF;
  the ignition state comes from valid VEH_Status frames and is unknown (treated as ACC) from
  power-up until the first one.
* Vehicle-data supervision: E2E checks on VEH_Dynamics (CRC, DLC, repeated counter) with the
  3-discards-set / 2-valid-clear FaultVehDataInvalid debounce, and a 200 ms FaultVehDataTimeout
  counted from power-up.
* Everything else on the bus is ignored, including the TCU's own frames echoed back.

The TCU_Status payloads for one combination of signal values are encoded once (all 16 alive
counter values, CRC included) and reused until a value changes, so a frame costs a dict
lookup and a ``bus.send``. The backend-side fields (``conn_state``, ``bsm_active``,
``fault_backend_lost``, ``cmd_count``) are plain attributes for the MQTT side to drive.

Faulty variants (:mod:`harness.sim.variants`) map to a
:class:`~harness.sim.tcu_config.CanBehaviour`: a handful of knobs read on the hot path instead
of name comparisons scattered through the logic. Identifiers, timing and the identity are in
:mod:`harness.sim.tcu_config`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import can

from harness.can.dbc import CanDatabase, SignalCodec
from harness.clock import EventLoop, PeriodicTask, Timer
from harness.sim.tcu_config import (
    CAN_BEHAVIOURS,
    DIAG_FUNCTIONAL_ID,
    DIAG_REQUEST_ID,
    DIAG_RESPONSE_ID,
    DISCARDS_TO_SET_INVALID,
    SENT_IDS,
    VALID_TO_CLEAR,
    VEH_DATA_TIMEOUT,
    WATCHDOG_SILENCE,
    CanBehaviour,
    IgnitionState,
    TcuIdentity,
    TcuStats,
    V2xHooks,
)
from harness.sim.tcu_status import StatusFrames
from harness.sim.uds_server import UdsServer
from harness.sim.variants import get_variant
from harness.uds.exchange import DiagIds

__all__ = ["IgnitionState", "ReferenceTcu", "TcuIdentity"]

log = logging.getLogger(__name__)

_DEFAULT_IDENTITY = TcuIdentity()  # frozen: safe to share


class ReferenceTcu:
    """CC-TCU-1 on a python-can bus, run by an :class:`EventLoop` (CAN behaviour).

    ``variant`` names a faulty variant from :data:`~harness.sim.variants.VARIANTS` (None: the
    correct part). :meth:`start` is power-up, :meth:`stop` is power-off; the bus belongs to
    the caller and is never shut down here.
    """

    def __init__(
        self,
        loop: EventLoop,
        bus: can.BusABC,
        db: CanDatabase,
        *,
        variant: str | None = None,
        identity: TcuIdentity = _DEFAULT_IDENTITY,
        seed: int = 0,
        diag: DiagIds | None = None,
    ) -> None:
        self.loop = loop
        # where diagnostics travel: the profile's addressing (default 0x7E0/0x7DF/0x7E8 normal)
        self.diag = (
            DiagIds(DIAG_REQUEST_ID, DIAG_FUNCTIONAL_ID, DIAG_RESPONSE_ID) if diag is None else diag
        )
        self.bus = bus
        self.db = db
        self.variant = None if variant is None else get_variant(variant)
        self.identity = identity
        self.rng = random.Random(seed)
        self._behaviour = CAN_BEHAVIOURS.get(variant, CanBehaviour()) if variant else CanBehaviour()
        self.stats = TcuStats()

        status = db.message("TCU_Status")
        self._status_frames = StatusFrames(
            status, crc_with_data_id=self._behaviour.crc_with_data_id
        )
        self._status_msg = can.Message(
            arbitration_id=status.frame_id, is_extended_id=False, data=bytes(8), check=False
        )

        dynamics = db.message("VEH_Dynamics")
        self._dyn_e2e = dynamics.e2e("AliveCounter", "CRC")
        self._dyn_id = dynamics.frame_id
        self._dyn_dlc = dynamics.length
        self._speed_sig = dynamics.signal("VehicleSpeed")
        self._accel_sig = dynamics.signal("LongAccel")
        self._brake_sig = dynamics.signal("BrakePedal")
        position = db.message("VEH_Position")
        self._lat_sig = position.signal("Latitude")
        self._lon_sig = position.signal("Longitude")
        heading = db.message("VEH_Heading")
        self._heading_sig = heading.signal("Heading")
        self._elev_sig = heading.signal("Elevation")
        self._position_dlc = position.length
        self._heading_dlc = heading.length
        ign = db.message("VEH_Status")
        self._ign_sig = ign.signal("IgnitionState")
        self._ign_dlc = ign.length

        self._handlers: dict[int, Callable[[can.Message], None]] = {
            self._dyn_id: self._on_dynamics,
            position.frame_id: self._on_position,
            heading.frame_id: self._on_heading,
            ign.frame_id: self._on_veh_status,
        }
        self._diag_rx = frozenset({self.diag.request_id, self.diag.functional_id})
        if not self.diag.extended_id:
            self._handlers.update(dict.fromkeys(self._diag_rx, self._on_diagnostic))
        extras = self._behaviour.extra_frames
        self.own_ids: frozenset[int] = SENT_IDS | {x.arbitration_id for x in extras}
        self._extra_msgs = [
            can.Message(arbitration_id=x.arbitration_id, is_extended_id=False, data=x.data)
            for x in extras
        ]

        self._running = False
        self._silent = False
        self._reader_attached = False
        self._status_task: PeriodicTask | None = None
        self._extra_tasks: list[PeriodicTask] = []
        self._timeout_timer: Timer | None = None
        self._restart_timer: Timer | None = None
        self.v2x: V2xHooks | None = None  # the MQTT side (harness.sim.v2x) attaches here
        self.uds = UdsServer(self, self._send)  # diagnostics (harness.sim.uds_server)
        self._reset_state()

    # -- state -------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        """Everything a power-up (or watchdog reset) starts from."""
        # TCU_Status fields; the backend ones are driven by the MQTT side (none yet).
        self.conn_state = 0  # 0 OFFLINE, 1 ONLINE
        self.bsm_active = 0
        self.fault_backend_lost = False
        self.cmd_count = 0  # executed remote commands modulo 256
        self.fault_veh_data_timeout = False
        self.fault_veh_data_invalid = False
        self.ignition: int | None = None  # None: unknown since power-up, treated as ACC
        self._counter = 0
        self._last_status_at: float | None = None
        # vehicle-data supervision
        self._last_dyn_counter: int | None = None  # of the last VEH_Dynamics with good CRC+DLC
        self._discard_streak = 0
        self._valid_streak = 0
        self._valid_since_timeout = 0
        self._deadline = 0.0
        # newest valid inputs, kept as payload bytes and decoded on demand (cheap per frame)
        self._dynamics_data: bytes | None = None
        self._position_data: bytes | None = None
        self._heading_data: bytes | None = None
        self.dynamics_at: float | None = None

    @property
    def running(self) -> bool:
        return self._running

    @property
    def silent(self) -> bool:
        """True while a faulty variant's watchdog reset keeps the TCU off the bus."""
        return self._silent

    @property
    def alive_counter(self) -> int:
        """The alive counter the next TCU_Status frame carries."""
        return self._counter

    @property
    def ignition_off(self) -> bool:
        return self.ignition == IgnitionState.OFF

    @property
    def frames_sent(self) -> int:
        return self.stats.frames_sent

    @staticmethod
    def _value(sig: SignalCodec, data: bytes | None) -> float | None:
        return None if data is None else sig.physical(data)

    @property
    def speed(self) -> float | None:
        """VehicleSpeed of the newest valid VEH_Dynamics, km/h (None before the first)."""
        return self._value(self._speed_sig, self._dynamics_data)

    @property
    def accel(self) -> float | None:
        """LongAccel of the newest valid VEH_Dynamics, m/s²."""
        return self._value(self._accel_sig, self._dynamics_data)

    @property
    def brake(self) -> bool | None:
        """BrakePedal of the newest valid VEH_Dynamics (True: pressed)."""
        raw = None if self._dynamics_data is None else self._brake_sig.raw(self._dynamics_data)
        return None if raw is None else bool(raw)

    @property
    def latitude(self) -> float | None:
        return self._value(self._lat_sig, self._position_data)

    @property
    def longitude(self) -> float | None:
        return self._value(self._lon_sig, self._position_data)

    @property
    def heading(self) -> float | None:
        return self._value(self._heading_sig, self._heading_data)

    @property
    def elevation(self) -> float | None:
        return self._value(self._elev_sig, self._heading_data)

    # -- power -------------------------------------------------------------------------------
    def start(self) -> None:
        """Power-up: listen to the bus and start the cycles (a second call does nothing)."""
        if self._running:
            return
        self._running = True
        if not self._reader_attached:
            self.loop.add_reader(self.bus, self._on_frame)
            self._reader_attached = True
        self._power_up()
        if self.v2x is not None:
            self.v2x.power_up()

    def stop(self) -> None:
        """Power-off: cancel every timer and stop sending; the bus stays open."""
        self._running = False
        self._silent = False
        self._cancel_timers()
        self.uds.stop()
        if self.v2x is not None:
            self.v2x.power_down()
        if self._restart_timer is not None:
            self._restart_timer.cancel()
            self._restart_timer = None

    def _power_up(self) -> None:
        now = self.loop.now()
        self._reset_state()
        self.uds.power_up()
        self._deadline = now + VEH_DATA_TIMEOUT
        self._timeout_timer = self.loop.call_at(self._deadline, self._on_timeout)
        self._status_task = self.loop.every(self._behaviour.cycle_on, self._send_status, first=now)
        self._extra_tasks = [
            self.loop.every(extra.period, self._extra_sender(msg), first=now)
            for extra, msg in zip(self._behaviour.extra_frames, self._extra_msgs, strict=True)
        ]

    def _cancel_timers(self) -> None:
        if self._status_task is not None:
            self._status_task.cancel()
            self._status_task = None
        for task in self._extra_tasks:
            task.cancel()
        self._extra_tasks = []
        if self._timeout_timer is not None:
            self._timeout_timer.cancel()
            self._timeout_timer = None

    def _trips_watchdog(self, msg: can.Message) -> bool:
        trip = self._behaviour.watchdog_on
        return trip is not None and msg.dlc == trip[1] and trip[0] in (None, msg.arbitration_id)

    def _watchdog_reset(self, msg: can.Message) -> None:
        """The silent-after-dlc faults: the unexpected frame trips a watchdog that reboots us."""
        log.info(
            "watchdog reset after a DLC %d frame on 0x%03X (t=%.6f); silent for %.1f s",
            msg.dlc,
            msg.arbitration_id,
            msg.timestamp,
            WATCHDOG_SILENCE,
        )
        self.stats.watchdog_resets += 1
        self._silent = True
        self._cancel_timers()
        self._restart_timer = self.loop.call_later(WATCHDOG_SILENCE, self._restart)

    def _restart(self) -> None:
        self._restart_timer = None
        self._silent = False
        if self._running:
            self._power_up()

    def ecu_reset(self, silence: float) -> None:
        """UDS-007: off the bus (CAN and MQTT) for ``silence`` s, then up as from power-up."""
        self._silent = True
        self._cancel_timers()
        if self.v2x is not None:
            self.v2x.power_down()
        self._restart_timer = self.loop.call_later(silence, self._restart_after_reset)

    def _restart_after_reset(self) -> None:
        self._restart()
        if self._running and self.v2x is not None:
            self.v2x.power_up()

    # -- sending -----------------------------------------------------------------------------
    def _send(self, msg: can.Message) -> None:
        try:
            self.bus.send(msg)
        except can.CanError as exc:  # a full queue or a bus hiccup: a real ECU just goes on
            self.stats.send_errors += 1
            log.warning("TCU send of 0x%03X failed: %s", msg.arbitration_id, exc)
            return
        self.stats.frames_sent += 1

    def _send_status(self) -> None:
        key = (
            self.conn_state,
            self.bsm_active,
            self.fault_veh_data_timeout,
            self.fault_veh_data_invalid,
            self.fault_backend_lost,
            self.cmd_count,
        )
        payloads = self._status_frames.get(key)
        msg = self._status_msg
        msg.data = payloads[self._counter]
        self._counter = (self._counter + self._behaviour.counter_step) & 0x0F
        self._last_status_at = self.loop.now()
        self.stats.status_sent += 1
        self.uds.observe_faults()  # DTC confirmedDTC latches on what TCU_Status shows
        self._send(msg)

    def _extra_sender(self, msg: can.Message) -> Callable[[], None]:
        def send() -> None:
            self._send(msg)

        return send

    def _set_status_cycle(self) -> None:
        """Move the TCU_Status schedule to the cycle of the current ignition state.

        Into OFF, the next frame comes one OFF cycle after the previous one; out of OFF, one
        ON cycle after the previous one or at once if that moment has passed.
        """
        task = self._status_task
        if task is None:
            return
        period = self._behaviour.cycle_off if self.ignition_off else self._behaviour.cycle_on
        if period == task.period:
            return
        now = self.loop.now()
        last = self._last_status_at
        first = now if last is None else max(now, last + period)
        task.set_period(period, restart_at=first)

    # -- receiving ---------------------------------------------------------------------------
    def _on_frame(self, msg: can.Message) -> None:
        if not self._running or self._silent:
            return
        if msg.is_remote_frame or msg.is_error_frame or msg.is_fd:
            return  # not a classic data frame: nothing this TCU receives
        if msg.is_extended_id:  # 29-bit: only diagnostics, when the profile's mode has them
            if self.diag.extended_id and msg.arbitration_id in self._diag_rx:
                self.stats.frames_received += 1
                self._on_diagnostic(msg)
            return
        self.stats.frames_received += 1
        handler = self._handlers.get(msg.arbitration_id)
        if handler is not None:
            handler(msg)
        elif msg.arbitration_id in self.own_ids:
            return  # our own frame echoed back (udp_multicast does that)
        elif self._trips_watchdog(msg):
            self._watchdog_reset(msg)
        # CAN-008: any other identifier is ignored whatever its DLC or payload

    def _on_dynamics(self, msg: can.Message) -> None:
        data = msg.data
        well_formed = msg.dlc == self._dyn_dlc and len(data) == self._dyn_dlc
        genuine = False
        if well_formed and self._dyn_e2e.crc_ok(data):
            counter = self._dyn_e2e.counter(data)
            genuine = counter != self._last_dyn_counter
            self._last_dyn_counter = counter
        accepted = genuine or not self._behaviour.check_e2e
        if accepted:
            self._dynamics_data = bytes(data)
            self.dynamics_at = self.loop.now()
            if self.v2x is not None:
                self.v2x.on_dynamics(self._dynamics_data)
            self._discard_streak = 0
            self._valid_streak += 1
            if self._valid_streak >= VALID_TO_CLEAR:
                self.fault_veh_data_invalid = False
        else:
            self.stats.dynamics_discarded += 1
            if log.isEnabledFor(logging.DEBUG):
                log.debug("discarded VEH_Dynamics %s at t=%.6f", bytes(data).hex(), msg.timestamp)
            self._valid_streak = 0
            self._discard_streak += 1
            if self._discard_streak >= DISCARDS_TO_SET_INVALID:
                self.fault_veh_data_invalid = True
        # CAN-007 counts genuinely valid frames only, even in a variant that ignores E2E
        # (that variant breaks CAN-006 alone).
        if genuine:
            self._deadline = self.loop.now() + VEH_DATA_TIMEOUT
            if self._timeout_timer is None:
                self._timeout_timer = self.loop.call_at(self._deadline, self._on_timeout)
            if self.fault_veh_data_timeout:
                self._valid_since_timeout += 1
                if self._valid_since_timeout >= VALID_TO_CLEAR:
                    self.fault_veh_data_timeout = False
        else:
            self._valid_since_timeout = 0

    def _on_timeout(self) -> None:
        # One timer per silence rather than one per frame: a valid frame only moves the
        # deadline, and the timer re-arms itself for it, firing exactly 200 ms after the
        # last valid frame.
        if self.loop.now() < self._deadline:
            self._timeout_timer = self.loop.call_at(self._deadline, self._on_timeout)
            return
        self._timeout_timer = None
        self._valid_since_timeout = 0
        if self._behaviour.timeout_flag:
            self.fault_veh_data_timeout = True

    def _own_dlc(self, msg: can.Message, dlc: int) -> bool:
        """CAN-006: VEH_Position/Heading/Status with another DLC are discarded."""
        if msg.dlc == dlc and len(msg.data) == dlc:
            return True
        self.stats.other_discarded += 1
        return False

    def _on_position(self, msg: can.Message) -> None:
        if self._own_dlc(msg, self._position_dlc):
            self._position_data = bytes(msg.data)

    def _on_heading(self, msg: can.Message) -> None:
        if self._own_dlc(msg, self._heading_dlc):
            self._heading_data = bytes(msg.data)

    def _on_veh_status(self, msg: can.Message) -> None:
        if not self._own_dlc(msg, self._ign_dlc):
            return
        state = self._ign_sig.raw(msg.data)
        previous = self.ignition
        self.ignition = state
        if previous != state:
            log.debug("ignition %s -> %s at t=%.6f", previous, state, msg.timestamp)
            self._set_status_cycle()

    def _on_diagnostic(self, msg: can.Message) -> None:
        """UDS requests (physical / functional) and the tester's flow control: the UDS server's."""
        self.uds.on_frame(msg)
