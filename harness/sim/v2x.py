"""The reference TCU's backend side: V2X over MQTT (V2X-001..008) and remote commands
(CMD-001..005).

:class:`V2xBackend` attaches to a :class:`~harness.sim.tcu.ReferenceTcu` and to an MQTT
transport (the simulated broker's on the virtual clock, or paho against a real broker), and
keeps all of its time on the TCU's event loop:

* connection: client id ``tcu-<station_id>``, clean session, keep-alive 10 s, will
  ``offline`` (retained, QoS 1) on ``v2x/status/<id>``; on every connect ``online``
  (retained, QoS 1) and a QoS 1 subscription to ``v2x/cmd/<id>``; after a loss or a refused
  attempt, retries 1 s later, each delay double the one before, capped at 30 s;
  FaultBackendLost after 10 s without a connection;
* BasicSafetyMessage every 100 ms while ignition is ON and the broker is reachable, from the
  newest valid CAN inputs (SAE J2735 units, clamped or "unavailable" as the page says);
* HazardEvent on hard braking (LongAccel <= -4.00 m/s²), at most one per second;
* commands verified in the page's order, acked, executed as a TCU_Command frame.

Faulty variants turn the knobs of :class:`_V2xBehaviour`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import can

from harness.clock import PeriodicTask, Timer, utc_offset
from harness.mqtt.codec import Asn1Module, load_asn1
from harness.mqtt.commands import COMMAND_IDS, MAX_PAYLOAD, verify_command
from harness.mqtt.transport import ClientOptions, Transport, TransportHandler, Will
from harness.sim.variants import VARIANTS

if TYPE_CHECKING:
    from collections.abc import Callable

    from harness.mqtt.config import BrokerAddress
    from harness.sim.tcu import ReferenceTcu

__all__ = ["V2xBackend", "attach_real_broker", "default_asn1_path"]

log = logging.getLogger(__name__)

BSM_PERIOD = 0.100
FIRST_RETRY = 1.0
MAX_RETRY = 30.0
BACKEND_LOST_AFTER = 10.0
HARD_BRAKING_RAW = -400  # LongAccel raw units of 0.01 m/s²
EVENT_HOLD = 1.0  # hardBraking flag and minimum gap between HazardEvents
NONCE_MEMORY = 600.0  # seconds
PARSER_CRASH = 3.0  # seconds without command handling (variant crash-on-non-hex-nonce)

UNAVAILABLE = {
    "lat": 900000001,
    "long": 1800000001,
    "elev": -4096,
    "speed": 8191,
    "heading": 28800,
    "accelLong": 2001,
}


def default_asn1_path() -> str:
    from pathlib import Path

    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "data" / "ccv2x.asn", here.parent / "dbc" / "ccv2x.asn"):
        if candidate.exists():
            return str(candidate)
    raise FileNotFoundError("ccv2x.asn (the V2X ASN.1 module) is not bundled")


@dataclass(frozen=True)
class _V2xBehaviour:
    """The knobs a faulty variant turns; the defaults are the correct part."""

    bsm_period: float = BSM_PERIOD
    msg_cnt_step: int = 1
    speed_kmh: bool = False
    event_delay: float = 0.0
    check_mac: bool = True
    check_stale: bool = True
    check_replay: bool = True
    reconnect: bool = True
    online_on_reconnect: bool = True
    timeout_unavailable: bool = True
    bsm_in_off: bool = False
    command_frame: bool = True
    oversize_ok: bool = False
    crash_on_non_hex_nonce: bool = False


_BEHAVIOURS: dict[str, _V2xBehaviour] = {
    "bsm-5hz": _V2xBehaviour(bsm_period=0.200),
    "bsm-counter-skip": _V2xBehaviour(msg_cnt_step=2),
    "bsm-speed-kmh": _V2xBehaviour(speed_kmh=True),
    "late-hard-braking": _V2xBehaviour(event_delay=0.300),
    "bad-mac-accepted": _V2xBehaviour(check_mac=False),
    "stale-accepted": _V2xBehaviour(check_stale=False),
    "replay-accepted": _V2xBehaviour(check_replay=False),
    "no-reconnect": _V2xBehaviour(reconnect=False),
    "no-online-on-reconnect": _V2xBehaviour(online_on_reconnect=False),
    "stale-speed-on-timeout": _V2xBehaviour(timeout_unavailable=False),
    "bsm-in-off": _V2xBehaviour(bsm_in_off=True),
    "ack-without-frame": _V2xBehaviour(command_frame=False),
    "oversize-accepted": _V2xBehaviour(oversize_ok=True),
    "crash-on-non-hex-nonce": _V2xBehaviour(crash_on_non_hex_nonce=True),
}
_unknown = set(_BEHAVIOURS) - set(VARIANTS)
if _unknown:  # a typo here would silently make a variant behave correctly
    raise RuntimeError(f"V2X behaviours for unregistered variants: {sorted(_unknown)}")


def _non_hex_nonce(payload: bytes) -> bool:
    """A 32-character nonce that is not all hex digits (what the faulty parser trips on)."""
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError):
        return False
    nonce = body.get("nonce") if isinstance(body, dict) else None
    return (
        isinstance(nonce, str)
        and len(nonce) == 32
        and not all(c in "0123456789abcdefABCDEF" for c in nonce)
    )


def _clamp(value: int, lo: int, hi: int) -> int:
    return lo if value < lo else hi if value > hi else value


def _in_range(value: int | None, lo: int, hi: int, unavailable: int) -> int:
    return unavailable if value is None or not lo <= value <= hi else value


class V2xBackend(TransportHandler):
    """The MQTT side of one reference TCU (see the module docstring)."""

    def __init__(
        self,
        tcu: ReferenceTcu,
        make_transport: Callable[[ClientOptions, TransportHandler], Transport],
        psk: bytes,
        *,
        asn1: Asn1Module | None = None,
    ) -> None:
        self.tcu = tcu
        self.loop = tcu.loop
        self.psk = psk
        self.asn1 = asn1 or load_asn1(default_asn1_path())
        self.asn1.ready()  # compiled before the part's first message, not at it
        name = tcu.variant.name if tcu.variant is not None else None
        self.b = _BEHAVIOURS.get(name, _V2xBehaviour()) if name else _V2xBehaviour()
        sid = tcu.identity.station_id_hex
        self.station_bytes = tcu.identity.station_id.to_bytes(4, "big")
        self.status_topic = f"v2x/status/{sid}"
        self.bsm_topic = f"v2x/bsm/{sid}"
        self.event_topic = f"v2x/event/{sid}"
        self.cmd_topic = f"v2x/cmd/{sid}"
        self.ack_topic = f"v2x/cmd/{sid}/ack"
        options = ClientOptions(
            f"tcu-{sid}",
            clean_session=True,
            keepalive=10,
            will=Will(self.status_topic, b"offline", qos=1, retain=True),
        )
        self.transport = make_transport(options, self)
        cmd_msg = tcu.db.message("TCU_Command")
        self._cmd_codec = cmd_msg
        self._cmd_id = cmd_msg.frame_id
        self._utc_offset = utc_offset(self.loop)
        self.nonces: dict[str, float] = {}  # survives resets: the TCU's persistent memory
        self._parser_down_until = float("-inf")  # variant crash-on-non-hex-nonce
        self._bsm_task: PeriodicTask | None = None
        self._timers: list[Timer] = []
        self._powered = False
        self.published = 0
        self._reset()
        tcu.v2x = self

    def _reset(self) -> None:
        self.msg_cnt = 0
        self.connected = False
        self.ever_connected = False
        self.retry_delay: float | None = None
        self.lost_at: float | None = None
        self.last_hard_brake_at: float | None = None
        self.last_event_at: float | None = None

    def utc(self) -> float:
        return self.loop.now() + self._utc_offset

    # -- power (hooks called by the TCU) -----------------------------------------------------
    def power_up(self) -> None:
        self._cancel()
        self._reset()
        self._powered = True
        self.lost_at = self.loop.now()
        self._bsm_task = self.loop.every(self.b.bsm_period, self._bsm_tick, first=self.loop.now())
        self._later(BACKEND_LOST_AFTER, self._check_backend_lost)
        self.transport.connect()

    def power_down(self) -> None:
        """Power-off: timers stop; the connection is closed with a DISCONNECT."""
        self._powered = False
        self._cancel()
        self.connected = False
        if self.transport.connected:
            self.transport.disconnect()

    def close(self) -> None:
        self._powered = False
        self._cancel()
        self.transport.close()

    def _cancel(self) -> None:
        if self._bsm_task is not None:
            self._bsm_task.cancel()
            self._bsm_task = None
        for t in self._timers:
            t.cancel()
        self._timers = []

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        self._timers = [t for t in self._timers if not t.cancelled and t.when >= self.loop.now()]
        self._timers.append(self.loop.call_later(delay, fn))

    # -- connection --------------------------------------------------------------------------
    def on_connect(self, ok: bool, reason: str) -> None:
        if not self._powered:
            return
        if not ok:
            log.debug("TCU connect failed: %s", reason)
            self._schedule_retry()
            return
        first = not self.ever_connected
        self.connected = True
        self.ever_connected = True
        self.retry_delay = None
        self.lost_at = None
        tcu = self.tcu
        tcu.conn_state = 1
        tcu.fault_backend_lost = False
        if first or self.b.online_on_reconnect:
            self.transport.publish(self.status_topic, b"online", qos=1, retain=True)
        self.transport.subscribe(self.cmd_topic, 1)

    def on_lost(self, reason: str) -> None:
        if not self._powered:
            return
        log.debug("TCU lost its broker: %s", reason)
        self.connected = False
        self.tcu.conn_state = 0
        self.tcu.bsm_active = 0
        self.lost_at = self.loop.now()
        self._later(BACKEND_LOST_AFTER, self._check_backend_lost)
        if self.b.reconnect:
            self._schedule_retry()

    def _schedule_retry(self) -> None:
        delay = FIRST_RETRY if self.retry_delay is None else min(self.retry_delay * 2, MAX_RETRY)
        self.retry_delay = delay
        self._later(delay, self._retry)

    def _retry(self) -> None:
        if self._powered and not self.connected:
            self.transport.connect()

    def _check_backend_lost(self) -> None:
        lost = self.lost_at
        if self._powered and not self.connected and lost is not None:
            if self.loop.now() - lost >= BACKEND_LOST_AFTER - 1e-9:
                self.tcu.fault_backend_lost = True
            else:
                self._later(lost + BACKEND_LOST_AFTER - self.loop.now(), self._check_backend_lost)

    # -- BSM -----------------------------------------------------------------------------------
    def _bsm_tick(self) -> None:
        tcu = self.tcu
        on = tcu.ignition == 2 or (self.b.bsm_in_off and tcu.ignition == 0)
        if not (on and self.connected):
            tcu.bsm_active = 0
            return
        payload = self.asn1.encode("BasicSafetyMessage", self.bsm_value())
        if self.transport.publish(self.bsm_topic, payload, qos=0):
            tcu.bsm_active = 1
            self.published += 1
            self.msg_cnt = (self.msg_cnt + self.b.msg_cnt_step) % 128
        else:
            tcu.bsm_active = 0

    def _sec_mark(self) -> int:
        return int(self.utc() * 1000) % 60000

    def _position(self) -> tuple[int, int]:
        tcu = self.tcu
        data = tcu._position_data
        lat = tcu._lat_sig.raw(data) if data is not None else None
        lon = tcu._lon_sig.raw(data) if data is not None else None
        return (
            _in_range(lat, -900000000, 900000000, UNAVAILABLE["lat"]),
            _in_range(lon, -1799999999, 1800000000, UNAVAILABLE["long"]),
        )

    @staticmethod
    def _accel(raw: int | None) -> int:
        return UNAVAILABLE["accelLong"] if raw is None else _clamp(raw, -2000, 2000)

    def bsm_value(self) -> dict[str, object]:
        tcu = self.tcu
        dyn = tcu._dynamics_data
        speed_raw = tcu._speed_sig.raw(dyn) if dyn is not None else None
        accel_raw = tcu._accel_sig.raw(dyn) if dyn is not None else None
        brake = bool(tcu._brake_sig.raw(dyn)) if dyn is not None else False
        speed = UNAVAILABLE["speed"]
        if speed_raw is not None:
            units = speed_raw / 100 if self.b.speed_kmh else speed_raw / 100 / 3.6 / 0.02
            speed = _in_range(round(units), 0, 8190, UNAVAILABLE["speed"])
        accel = self._accel(accel_raw)
        if tcu.fault_veh_data_timeout and self.b.timeout_unavailable:
            speed, accel, brake = UNAVAILABLE["speed"], UNAVAILABLE["accelLong"], False
        head = tcu._heading_data
        heading_raw = tcu._heading_sig.raw(head) if head is not None else None
        elev_raw = tcu._elev_sig.raw(head) if head is not None else None
        lat, lon = self._position()
        now = self.loop.now()
        hard = self.last_hard_brake_at is not None and now - self.last_hard_brake_at <= EVENT_HOLD
        fault = tcu.fault_veh_data_timeout or tcu.fault_veh_data_invalid
        events = (0x80 if hard else 0) | (0x40 if fault else 0)
        return {
            "msgCnt": self.msg_cnt,
            "id": self.station_bytes,
            "secMark": self._sec_mark(),
            "lat": lat,
            "long": lon,
            "elev": UNAVAILABLE["elev"] if elev_raw is None else _clamp(elev_raw, -4095, 61439),
            "speed": speed,
            "heading": _in_range(heading_raw, 0, 28799, UNAVAILABLE["heading"]),
            "accelLong": accel,
            "brakeApplied": brake,
            "events": (bytes([events]), 2),
        }

    # -- hazard events (hook: a valid VEH_Dynamics) -----------------------------------------
    def on_dynamics(self, data: bytes) -> None:
        raw = self.tcu._accel_sig.raw(data)
        if raw is None or raw > HARD_BRAKING_RAW:
            return
        now = self.loop.now()
        self.last_hard_brake_at = now
        if self.last_event_at is not None and now - self.last_event_at < EVENT_HOLD:
            return
        self.last_event_at = now
        accel = self._accel(raw)
        if self.b.event_delay:
            self._later(self.b.event_delay, lambda: self._publish_event(accel))
        else:
            self._publish_event(accel)

    def _publish_event(self, accel: int) -> None:
        if not self.connected:
            return
        lat, lon = self._position()
        value = {
            "id": self.station_bytes,
            "eventType": "hardBraking",
            "secMark": self._sec_mark(),
            "lat": lat,
            "long": lon,
            "accelLong": accel,
        }
        payload = self.asn1.encode("HazardEvent", value)
        self.transport.publish(self.event_topic, payload, qos=1)

    # -- commands ------------------------------------------------------------------------------
    def on_message(self, ts: float, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if topic != self.cmd_topic or not self._powered:
            return
        now = self.loop.now()
        if now < self._parser_down_until:
            return
        if self.b.crash_on_non_hex_nonce and _non_hex_nonce(payload):
            self._parser_down_until = now + PARSER_CRASH
            return
        horizon = now - NONCE_MEMORY
        if self.nonces and min(self.nonces.values()) < horizon:
            self.nonces = {n: t for n, t in self.nonces.items() if t >= horizon}
        try:
            result = verify_command(
                payload,
                self.psk,
                round(self.utc() * 1000),
                self.nonces.__contains__,
                check_mac=self.b.check_mac,
                check_stale=self.b.check_stale,
                check_replay=self.b.check_replay,
                max_payload=None if self.b.oversize_ok else MAX_PAYLOAD,
            )
        except Exception:  # CMD-005: never crash on a payload
            log.exception("command rejected by an internal error")
            return
        if result.ok:
            assert result.cmd is not None and result.nonce_key is not None
            self.nonces[result.nonce_key] = now
            if self.b.command_frame:
                data = self._cmd_codec.encode(
                    {"CommandId": COMMAND_IDS[result.cmd], "Sequence": result.seq & 0xFF}
                )
                self.tcu._send(
                    can.Message(arbitration_id=self._cmd_id, data=data, is_extended_id=False)
                )
            self.tcu.cmd_count = (self.tcu.cmd_count + 1) & 0xFF
        self.transport.publish(self.ack_topic, result.ack(), qos=1)


def attach_real_broker(tcu: ReferenceTcu, address: BrokerAddress, psk: bytes) -> V2xBackend:
    """The TCU's backend on a real broker (paho-mqtt), run by the TCU's own event loop."""
    from harness.mqtt.client import PahoTransport

    def transport(options: ClientOptions, handler: TransportHandler) -> Transport:
        return PahoTransport(tcu.loop, address, options, handler)

    return V2xBackend(tcu, transport, psk)
