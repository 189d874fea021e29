"""The reference TCU's UDS server (reference-tcu.md, UDS-001..UDS-008), on its own ISO-TP.

Services: DiagnosticSessionControl (0x10: default 0x01, extended 0x03), ECUReset (0x11 0x01),
ClearDiagnosticInformation (0x14 FF FF FF), ReadDTCInformation (0x19 0x02), ReadDataByIdentifier
(0x22: F190 VIN, F189 sw_version, F18C serial, F1A0 station_id), SecurityAccess (0x27 0x01/0x02,
extended session only), WriteDataByIdentifier (0x2E F1A0, extended session, unlocked) and
TesterPresent (0x3E 0x00).

Negative responses follow the page's order: 0x11 unsupported service, 0x12 unsupported
sub-function, 0x7F not in this session, 0x13 too short for the service, then each service's
own checks. Functionally addressed requests never get 0x11, 0x12, 0x31, 0x7E or 0x7F (no
answer instead). Any request restarts S3; 5 s without one in the extended session falls back
to default, which, like every accepted 0x10, relocks security. Three wrong keys in a row
lock seed requests out for 10 s. DTC status: bit 0 (testFailed) while the fault is active,
bit 3 (confirmedDTC) latched until 0x14, kept across an ECUReset. ECUReset answers, then the
TCU is silent for 500 ms and restarts as from power-up; a written station_id takes effect then.

State that survives an ECUReset (the part's non-volatile memory): confirmed DTCs and the
written station_id. Everything else starts again at :meth:`UdsServer.power_up`.

Faulty variants turn the knobs of :class:`_UdsBehaviour` (see :data:`_UDS_BEHAVIOURS`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import can

from harness.clock import Timer
from harness.sim.isotp_server import ServerIsoTp
from harness.sim.variants import VARIANTS
from harness.uds.seedkey import cc_tcu_1_key

if TYPE_CHECKING:
    from harness.sim.tcu import ReferenceTcu

__all__ = ["DTC_BACKEND_LOST", "DTC_VEH_DATA_INVALID", "DTC_VEH_DATA_TIMEOUT", "UdsServer"]

log = logging.getLogger(__name__)

DEFAULT_SESSION = 0x01
EXTENDED_SESSION = 0x03
S3 = 5.0  # seconds without a request before the fall-back to the default session
LOCKOUT = 10.0  # seconds of NRC 0x37 after the third wrong key
MAX_ATTEMPTS = 3
RESET_SILENCE = 0.5  # seconds silent on CAN after the ECUReset answer (400..600 ms)
RESPONSE_DELAY = 0.002  # the server's processing time
P2_BYTES = bytes([0x00, 0x32, 0x01, 0xF4])  # P2 50 ms, P2* 5000 ms (10 ms units)
STATUS_AVAILABILITY = 0x09  # testFailed | confirmedDTC

DTC_BACKEND_LOST = 0xC10000
DTC_VEH_DATA_INVALID = 0xC12100
DTC_VEH_DATA_TIMEOUT = 0xC12200

SUPPORTED = frozenset({0x10, 0x11, 0x14, 0x19, 0x22, 0x27, 0x2E, 0x3E})
SUBFUNCTIONS = {0x10: {0x01, 0x03}, 0x11: {0x01}, 0x19: {0x02}, 0x27: {0x01, 0x02}, 0x3E: {0x00}}
SUPPRESSIBLE = frozenset({0x10, 0x11, 0x27, 0x3E})  # sub-function bit 7 suppresses the answer
EXTENDED_ONLY = frozenset({0x27, 0x2E})
MIN_LENGTH = {0x10: 2, 0x11: 2, 0x14: 4, 0x19: 3, 0x22: 3, 0x27: 2, 0x2E: 3, 0x3E: 2}
NOT_FOR_FUNCTIONAL = frozenset({0x11, 0x12, 0x31, 0x7E, 0x7F})

DID_VIN, DID_SW_VERSION, DID_SERIAL, DID_STATION_ID = 0xF190, 0xF189, 0xF18C, 0xF1A0


@dataclass(frozen=True)
class _UdsBehaviour:
    """What a faulty variant changes in the UDS server; the defaults are the correct part."""

    unknown_did_nrc: int = 0x31
    unsupported_service_nrc: int = 0x11
    write_needs_unlock: bool = True
    s3_fallback: bool = True
    s3_relocks: bool = True  # False: the S3 fall-back and the next 10 03 leave security unlocked
    lockout: bool = True
    suppress_tester_present: bool = True
    confirmed_latch: bool = True
    reset_silence: float = RESET_SILENCE
    dtc_read_exact_length: bool = True  # False: bytes after the status mask are ignored


_UDS_BEHAVIOURS: dict[str, _UdsBehaviour] = {
    "no-s3-fallback": _UdsBehaviour(s3_fallback=False),
    "s3-fallback-keeps-unlocked": _UdsBehaviour(s3_relocks=False),
    "tester-present-not-suppressed": _UdsBehaviour(suppress_tester_present=False),
    "wrong-nrc-unknown-did": _UdsBehaviour(unknown_did_nrc=0x12),
    "security-never-locks": _UdsBehaviour(lockout=False),
    "write-without-security": _UdsBehaviour(write_needs_unlock=False),
    "dtc-not-confirmed": _UdsBehaviour(confirmed_latch=False),
    "short-reset-silence": _UdsBehaviour(reset_silence=0.2),
    "unsupported-service-nrc-7f": _UdsBehaviour(unsupported_service_nrc=0x7F),
    "dtc-read-ignores-extra-bytes": _UdsBehaviour(dtc_read_exact_length=False),
}
_unknown = set(_UDS_BEHAVIOURS) - set(VARIANTS)
if _unknown:  # a typo here would silently make a variant behave correctly
    raise RuntimeError(f"UDS behaviours for unregistered variants: {sorted(_unknown)}")


def _nrc(sid: int, code: int) -> bytes:
    return bytes([0x7F, sid, code])


class UdsServer:
    """UDS-001..UDS-008 for one :class:`~harness.sim.tcu.ReferenceTcu`."""

    def __init__(self, tcu: ReferenceTcu, send: Callable[[can.Message], None]) -> None:
        self.tcu = tcu
        self.loop = tcu.loop
        name = tcu.variant.name if tcu.variant is not None else None
        self.behaviour = _UDS_BEHAVIOURS.get(name, _UdsBehaviour()) if name else _UdsBehaviour()
        ids = tcu.diag  # the addressing the bench/profile asks for (default 11-bit normal)
        self.isotp = ServerIsoTp.serving(self.loop, send, self._on_request, ids)
        # non-volatile: survives an ECUReset
        self.station_id = tcu.identity.station_id
        self.confirmed: dict[int, bool] = dict.fromkeys(
            (DTC_BACKEND_LOST, DTC_VEH_DATA_INVALID, DTC_VEH_DATA_TIMEOUT), False
        )
        self._timers: list[Timer] = []
        self._s3: Timer | None = None
        self._lockout: Timer | None = None
        self.requests = 0
        self.power_up()

    # -- power -------------------------------------------------------------------------------
    def power_up(self) -> None:
        """Volatile state as from power-up: default session, locked, no attempts counted."""
        self.stop()
        self.session = DEFAULT_SESSION
        self.unlocked = False
        self.seed: bytes | None = None
        self.attempts = 0
        self.locked_out = False
        self._unlock_kept = False  # the s3-fallback-keeps-unlocked variant's stale unlock

    def stop(self) -> None:
        for timer in (*self._timers, self._s3, self._lockout):
            if timer is not None:
                timer.cancel()
        self._timers.clear()
        self._s3 = self._lockout = None
        self.isotp.reset()

    def on_frame(self, msg: can.Message) -> None:
        self.isotp.on_frame(msg)

    # -- DTCs --------------------------------------------------------------------------------
    def _faults(self) -> dict[int, bool]:
        t = self.tcu
        return {
            DTC_BACKEND_LOST: t.fault_backend_lost,
            DTC_VEH_DATA_INVALID: t.fault_veh_data_invalid,
            DTC_VEH_DATA_TIMEOUT: t.fault_veh_data_timeout,
        }

    def observe_faults(self) -> None:
        """Latch confirmedDTC for every active fault (called with each TCU_Status, each request)."""
        if not self.behaviour.confirmed_latch:
            return
        for dtc, active in self._faults().items():
            if active:
                self.confirmed[dtc] = True

    def dtc_status(self) -> dict[int, int]:
        out = {}
        for dtc, active in self._faults().items():
            status = 0x01 if active else 0x00
            if active or self.confirmed[dtc]:
                status |= 0x08
            out[dtc] = status
        return out

    # -- requests ----------------------------------------------------------------------------
    def _on_request(self, payload: bytes, functional: bool) -> None:
        if not payload:
            return
        self.requests += 1
        self.observe_faults()
        if self.session != DEFAULT_SESSION:
            self._arm_s3()
        after: Callable[[], None] | None = None
        response: bytes | None
        if payload[0] == 0x11 and len(payload) == 2 and payload[1] & 0x7F == 0x01:
            after = self._reset  # silent from the answer on (UDS-007)
        response = self._handle(payload)
        if response is not None and response[0] == 0x7F:
            after = None
            if functional and response[2] in NOT_FOR_FUNCTIONAL:
                return
        if response is None and after is None:
            return
        now = self.loop.now()
        self._timers = [t for t in self._timers if t.when > now and not t.cancelled]
        self._timers.append(
            self.loop.call_later(RESPONSE_DELAY, lambda: self._answer(response, after))
        )

    def _answer(self, response: bytes | None, after: Callable[[], None] | None) -> None:
        if response is not None:
            self.isotp.send(response)
        if after is not None:
            after()

    def _handle(self, payload: bytes) -> bytes | None:
        """The response to a request (None: no response), NRCs in the page's order."""
        sid = payload[0]
        if sid not in SUPPORTED:
            return _nrc(sid, self.behaviour.unsupported_service_nrc)
        suppress = False
        if sid in SUBFUNCTIONS and len(payload) >= 2:
            sub = payload[1] & 0x7F if sid in SUPPRESSIBLE else payload[1]
            suppress = sid in SUPPRESSIBLE and bool(payload[1] & 0x80)
            if sub not in SUBFUNCTIONS[sid]:
                return _nrc(sid, 0x12)
        if sid in EXTENDED_ONLY and self.session == DEFAULT_SESSION:
            return _nrc(sid, 0x7F)
        if len(payload) < MIN_LENGTH[sid]:
            return _nrc(sid, 0x13)
        handler = {
            0x10: self._session_control,
            0x11: self._ecu_reset,
            0x14: self._clear_dtcs,
            0x19: self._read_dtcs,
            0x22: self._read_did,
            0x27: self._security_access,
            0x2E: self._write_did,
            0x3E: self._tester_present,
        }[sid]
        response = handler(payload)
        if suppress and response[0] != 0x7F:
            if sid == 0x3E and not self.behaviour.suppress_tester_present:
                return response
            return None
        return response

    # -- services ----------------------------------------------------------------------------
    def _session_control(self, req: bytes) -> bytes:
        if len(req) != 2:
            return _nrc(0x10, 0x13)
        session = req[1] & 0x7F
        self.session = session
        if not (self._unlock_kept and session != DEFAULT_SESSION):
            self._relock()
        self._unlock_kept = False
        if session == DEFAULT_SESSION:
            self._cancel_s3()
        else:
            self._arm_s3()
        return bytes([0x50, session]) + P2_BYTES

    def _ecu_reset(self, req: bytes) -> bytes:
        if len(req) != 2:
            return _nrc(0x11, 0x13)
        return bytes([0x51, 0x01])

    def _reset(self) -> None:
        log.info("ECUReset: silent for %.3f s", self.behaviour.reset_silence)
        self.tcu.identity = dataclasses.replace(self.tcu.identity, station_id=self.station_id)
        self.tcu.ecu_reset(self.behaviour.reset_silence)

    def _clear_dtcs(self, req: bytes) -> bytes:
        if len(req) != 4:
            return _nrc(0x14, 0x13)
        if req[1:4] != b"\xff\xff\xff":
            return _nrc(0x14, 0x31)
        self.confirmed = dict.fromkeys(self.confirmed, False)
        return bytes([0x54])

    def _read_dtcs(self, req: bytes) -> bytes:
        if len(req) != 3 and (self.behaviour.dtc_read_exact_length or len(req) < 3):
            return _nrc(0x19, 0x13)
        mask = req[2]
        body = bytearray([0x59, 0x02, STATUS_AVAILABILITY])
        for dtc, status in self.dtc_status().items():
            if status & mask & STATUS_AVAILABILITY:
                body += dtc.to_bytes(3, "big") + bytes([status])
        return bytes(body)

    def _did_value(self, did: int) -> bytes | None:
        ident = self.tcu.identity
        if did == DID_VIN:
            return ident.vin.encode("ascii")
        if did == DID_SW_VERSION:
            return ident.sw_version.encode("ascii")
        if did == DID_SERIAL:
            return ident.serial.encode("ascii")
        if did == DID_STATION_ID:
            return self.station_id.to_bytes(4, "big")
        return None

    def _read_did(self, req: bytes) -> bytes:
        if (len(req) - 1) % 2:
            return _nrc(0x22, 0x13)
        body = bytearray([0x62])
        for k in range(1, len(req), 2):
            did = int.from_bytes(req[k : k + 2], "big")
            value = self._did_value(did)
            if value is not None:
                body += req[k : k + 2] + value
        if len(body) == 1:
            return _nrc(0x22, self.behaviour.unknown_did_nrc)
        return bytes(body)

    def _security_access(self, req: bytes) -> bytes:
        if req[1] & 0x7F == 0x01:
            if len(req) != 2:
                return _nrc(0x27, 0x13)
            if self.locked_out:
                return _nrc(0x27, 0x37)
            if self.unlocked:
                return bytes([0x67, 0x01, 0, 0, 0, 0])
            self.seed = bytes(self.tcu.rng.randint(1, 255) for _ in range(4))
            return bytes([0x67, 0x01]) + self.seed
        if len(req) != 6:
            return _nrc(0x27, 0x13)  # the seed stays pending
        if self.seed is None:
            return _nrc(0x27, 0x24)
        seed, self.seed = self.seed, None
        if req[2:] == cc_tcu_1_key(seed):
            self.unlocked = True
            self.attempts = 0
            return bytes([0x67, 0x02])
        self.attempts += 1
        if self.behaviour.lockout and self.attempts >= MAX_ATTEMPTS:
            self.locked_out = True
            self._lockout = self.loop.call_later(LOCKOUT, self._end_lockout)
            return _nrc(0x27, 0x36)
        return _nrc(0x27, 0x35)

    def _end_lockout(self) -> None:
        self._lockout = None
        self.locked_out = False
        self.attempts = 0

    def _write_did(self, req: bytes) -> bytes:
        did = int.from_bytes(req[1:3], "big")
        if did != DID_STATION_ID:
            return _nrc(0x2E, 0x31)  # unknown, or read-only (F190, F189, F18C)
        if len(req) != 7:
            return _nrc(0x2E, 0x13)
        if self.behaviour.write_needs_unlock and not self.unlocked:
            return _nrc(0x2E, 0x33)
        self.station_id = int.from_bytes(req[3:7], "big")
        return bytes([0x6E]) + req[1:3]

    def _tester_present(self, req: bytes) -> bytes:
        if len(req) != 2:
            return _nrc(0x3E, 0x13)
        return bytes([0x7E, 0x00])

    # -- session timing ----------------------------------------------------------------------
    def _relock(self) -> None:
        self.unlocked = False
        self.seed = None

    def _arm_s3(self) -> None:
        self._cancel_s3()
        if self.behaviour.s3_fallback:
            self._s3 = self.loop.call_later(S3, self._s3_expired)

    def _cancel_s3(self) -> None:
        if self._s3 is not None:
            self._s3.cancel()
            self._s3 = None

    def _s3_expired(self) -> None:
        self._s3 = None
        log.debug("S3 expired: back to the default session")
        self.session = DEFAULT_SESSION
        if self.behaviour.s3_relocks:
            self._relock()
        else:
            self._unlock_kept = self.unlocked
